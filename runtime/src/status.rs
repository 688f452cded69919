//! Observability: the [`Status`] snapshot of a sink.
//!
//! [`RelaySink::status`](crate::RelaySink::status) copies the sink's counters and
//! connection state into a [`Status`]; taking one never blocks the writer for longer
//! than a counter read. Counters are also exported through the `metrics` facade with a
//! `sink` label:
//!
//! | metric                              | kind    | meaning                              |
//! |-------------------------------------|---------|--------------------------------------|
//! | `sinkgen_frames_sent_total`         | counter | frames written whole to a connection |
//! | `sinkgen_bytes_sent_total`          | counter | bytes of those frames                |
//! | `sinkgen_connect_attempts_total`    | counter | connect attempts                     |
//! | `sinkgen_frames_lost_total`         | counter | frames given up, label `reason`      |
//!
//! `tracing` events are emitted on state changes only (target `sinkgen_runtime`),
//! never per frame.
//!
//! With the `serde` feature, [`Status`] implements `serde::Serialize` (for a health
//! endpoint): the state as its lowercase name, the instants as seconds relative to the
//! moment of serialization (`state_secs`, `last_error_secs`, `next_retry_in_secs`,
//! `last_lost_secs`), the health grade as its lowercase name, the time of the last
//! frame sent as seconds since the Unix epoch (`last_sent_unix_secs`), the last error
//! as `{class, kind, message}` and `lost` with its `total`.
//!
//! # Examples
//!
//! ```
//! use sinkgen_runtime::{Bytes, Health, RelaySink, State};
//!
//! let sink: RelaySink<Bytes> = RelaySink::new("unix:///tmp/torq/signals.sock").unwrap();
//! let status = sink.status();
//! assert_eq!(status.state, State::Idle); // lazy: nothing happened yet
//! assert_eq!(status.connect_attempts, 0);
//! assert_eq!(status.queue_depth, 0);
//! assert_eq!(status.lost.total(), 0);
//! assert_eq!(status.health, Health::Healthy); // nothing went wrong yet
//! assert_eq!(status.last_sent, None);
//! ```

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use crate::error::TransportError;

/// How a composite spreads frames over its members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Every member gets every frame.
    Broadcast,
    /// Members take frames in turn, ready members only.
    RoundRobin,
    /// The first healthy member in order, sticky, with fail-back.
    Failover,
}

#[cfg(feature = "serde")]
mod serialize;

/// The connection state of a leaf sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Nothing sent yet: no connection task, no I/O.
    Idle,
    /// A connect attempt is in progress.
    Connecting,
    /// Waiting before the next connect attempt ([`Status::next_retry`]).
    Backoff,
    /// Connected; frames are written as they arrive.
    Connected,
    /// Closed by [`close`](crate::RelaySink::close) or by dropping the last handle.
    Closed,
    /// Failed for good (fatal error, see [`Status::last_error`]).
    Failed,
}

impl State {
    pub(crate) fn from_u8(v: u8) -> State {
        match v {
            0 => State::Idle,
            1 => State::Connecting,
            2 => State::Backoff,
            3 => State::Connected,
            4 => State::Closed,
            _ => State::Failed,
        }
    }

    pub(crate) fn as_u8(self) -> u8 {
        match self {
            State::Idle => 0,
            State::Connecting => 1,
            State::Backoff => 2,
            State::Connected => 3,
            State::Closed => 4,
            State::Failed => 5,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Idle => "idle",
            State::Connecting => "connecting",
            State::Backoff => "backoff",
            State::Connected => "connected",
            State::Closed => "closed",
            State::Failed => "failed",
        })
    }
}

/// A sink's health grade, for a health endpoint or a dashboard: one word out of
/// [`Status`].
///
/// The rule ([`Status::health`], and for a composite [`CompositeStatus::health`]):
///
/// * [`Down`](Health::Down): the sink failed for good ([`State::Failed`]) or is
///   closed ([`State::Closed`]): it accepts nothing more.
/// * [`Degraded`](Health::Degraded): the peer is down (the sink is not connected
///   after a failed connect attempt: [`State::Backoff`] and the attempts after it),
///   or the sink counted a frame lost ([`Lost`]) in the last [`Health::WINDOW`].
/// * [`Healthy`](Health::Healthy): otherwise: connected, or not yet connected
///   without having failed (a lazy sink before its first send, or its first
///   attempt), and nothing lost in the last [`Health::WINDOW`].
///
/// A composite is `Healthy` when all the sinks under it are, `Down` when all are,
/// and `Degraded` otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Health {
    /// Connected (or not yet tried) and nothing lost recently.
    Healthy,
    /// The peer is down (backing off), or frames were lost recently.
    Degraded,
    /// Failed for good, or closed.
    Down,
}

impl Health {
    /// How long a lost frame keeps a sink [`Degraded`](Health::Degraded): one minute.
    pub const WINDOW: Duration = Duration::from_secs(60);
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Down => "down",
        })
    }
}

/// Frames the sink accepted and then gave up, by reason. Nothing is dropped without
/// being counted here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Lost {
    /// Still queued when [`close`](crate::RelaySink::close)'s linger ran out.
    pub closed: u64,
    /// Still queued when the last handle was dropped (immediately if not connected,
    /// else after a linger of `send_timeout`).
    pub dropped: u64,
    /// Queued when the sink failed for good.
    pub fatal: u64,
    /// Written and never confirmed: on NATS, handed to a connection that ended
    /// before the server confirmed them (each may or may not have reached
    /// subscribers; none is published twice); with
    /// [`Framing::Sinkgen`](crate::Framing::Sinkgen), written to a peer that had not
    /// acknowledged them when the sink closed, was dropped or failed for good (the
    /// peer may have received them); with torq and length-prefixed framing on a
    /// socket (Linux), written to a connection that then died, and not proven read
    /// by the peer (see [`Status::frames_sent`]).
    pub unconfirmed: u64,
    /// NATS only: accepted before the server's `max_payload` was known (or under a
    /// higher one) and over it, so dropped alone; the frames around it go on.
    pub too_large: u64,
}

impl Lost {
    /// All lost frames.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.closed + self.dropped + self.fatal + self.unconfirmed + self.too_large
    }
}

/// A snapshot of a leaf sink's state and counters.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Status {
    /// The sink's name (the `services.toml` name for generated sinks).
    pub sink: String,
    /// The endpoint as written.
    pub endpoint: String,
    /// Current state.
    pub state: State,
    /// When the sink entered `state`.
    pub since: Instant,
    /// The most recent connect or write error.
    pub last_error: Option<TransportError>,
    /// When `last_error` happened.
    pub last_error_at: Option<Instant>,
    /// Connect attempts so far (successful or not).
    pub connect_attempts: u64,
    /// When the next connect attempt is due, in [`State::Backoff`].
    pub next_retry: Option<Instant>,
    /// Frames accepted and not yet sent: waiting, plus the batch being written; on
    /// NATS also frames handed to the client and not yet confirmed by the server; with
    /// [`Framing::Sinkgen`](crate::Framing::Sinkgen) also the frames written and not
    /// yet acknowledged ([`Status::unacknowledged`]). The sink's `queue` bound counts
    /// all but the batch being written.
    pub queue_depth: usize,
    /// [`Framing::Sinkgen`](crate::Framing::Sinkgen) on a socket: frames written to the
    /// peer and not yet acknowledged by it (part of `queue_depth`). They are written
    /// again after a reconnect; at a close or a fatal error they count as
    /// [`Lost::unconfirmed`]. Always 0 for other framings.
    pub unacknowledged: usize,
    /// Frames written whole to a connection. With
    /// [`Framing::Sinkgen`](crate::Framing::Sinkgen): acknowledged by the peer. With
    /// torq and length-prefixed framing on a socket (Linux): when the connection
    /// dies, the frames the kernel did not prove the peer consumed (`SIOCOUTQ`: read
    /// by the peer process on a Unix socket, acknowledged by the peer's TCP on TCP)
    /// move from here to [`Lost::unconfirmed`], so this count can go down.
    pub frames_sent: u64,
    /// Bytes of those frames, headers included.
    pub bytes_sent: u64,
    /// Frames given up, by reason.
    pub lost: Lost,
    /// The health grade (see [`Health`] for the rule).
    pub health: Health,
    /// When a frame last counted as sent ([`Status::frames_sent`] went up): written
    /// whole to the connection with torq and length-prefixed framing; acknowledged by
    /// the peer with [`Framing::Sinkgen`](crate::Framing::Sinkgen); confirmed by the
    /// server on NATS. `None` before the first.
    pub last_sent: Option<SystemTime>,
    /// When a frame was last counted lost (`None` if never).
    pub last_lost: Option<Instant>,
}

/// A snapshot of a composite sink: its members' connections and the counters of the
/// sinks under it. A sink that is a member more than once (directly or through nested
/// composites) is counted once.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CompositeStatus {
    /// The composite's name.
    pub sink: String,
    /// How it spreads frames.
    pub mode: Mode,
    /// Its direct members.
    pub members: usize,
    /// Per direct member, in order: whether it is connected (a nested composite is
    /// connected when any of its sinks is).
    pub connected: Vec<bool>,
    /// Failover only: the index of the member frames go to.
    pub active: Option<usize>,
    /// Frames accepted and not yet written, over the sinks under it.
    pub queue_depth: usize,
    /// Frames written whole, over the sinks under it.
    pub frames_sent: u64,
    /// Frames given up, by reason, over the sinks under it.
    pub lost: Lost,
    /// `Healthy` when every sink under it is, `Down` when every one is, `Degraded`
    /// otherwise (see [`Health`]).
    pub health: Health,
    /// The latest [`Status::last_sent`] of the sinks under it.
    pub last_sent: Option<SystemTime>,
    /// The status of each distinct sink under it, in member order.
    pub leaves: Vec<Status>,
}

impl CompositeStatus {
    /// The grade of a composite over the grades of its sinks.
    pub(crate) fn grade(leaves: &[Status]) -> Health {
        if leaves.iter().all(|l| l.health == Health::Healthy) {
            Health::Healthy
        } else if !leaves.is_empty() && leaves.iter().all(|l| l.health == Health::Down) {
            Health::Down
        } else {
            Health::Degraded
        }
    }
}
