//! Counters and status: frames sent and lost (by [`LostReason`]), the connection
//! state, the last error, metrics.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use metrics::Counter;

use crate::error::TransportError;
use crate::status::{Health, Lost, State, Status};

use super::{Shared, base, base_pair, lock, stamp_now};

impl Shared {
    pub(super) fn count_sent(&self, frames: usize, bytes: usize) {
        self.frames_sent.fetch_add(frames as u64, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
        if frames > 0 {
            self.last_sent.store(stamp_now(), Ordering::Relaxed);
        }
        self.settled.fetch_add(frames as u64, Ordering::SeqCst);
        if let Some(m) = self.metrics.get() {
            m.frames.increment(frames as u64);
            m.bytes.increment(bytes as u64);
        }
        self.notify_progress();
    }

    // ----- waiting for progress -----

    pub(super) fn count_lost(&self, reason: LostReason, n: usize) {
        if n == 0 {
            return;
        }
        let counter = match reason {
            LostReason::Closed => &self.lost_closed,
            LostReason::Dropped => &self.lost_dropped,
            LostReason::Fatal => &self.lost_fatal,
            LostReason::Unconfirmed => &self.lost_unconfirmed,
            LostReason::TooLarge => &self.lost_too_large,
        };
        counter.fetch_add(n as u64, Ordering::SeqCst);
        self.last_lost.store(stamp_now(), Ordering::Relaxed);
        self.settled.fetch_add(n as u64, Ordering::SeqCst);
        metrics::counter!(
            "sinkgen_frames_lost_total",
            "sink" => self.opts.name.to_string(),
            "reason" => reason.as_str()
        )
        .increment(n as u64);
        tracing::warn!(
            sink = %self.opts.name,
            frames = n,
            reason = reason.as_str(),
            "frames not delivered"
        );
        self.notify_progress();
    }

    // ----- state -----

    pub(crate) fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    /// How long the current connection has been up, if connected.
    pub(crate) fn connected_for(&self) -> Option<Duration> {
        let at = self.connected_at.load(Ordering::Acquire);
        if at == 0 {
            return None;
        }
        let now = u64::try_from(base().elapsed().as_nanos()).unwrap_or(u64::MAX);
        Some(Duration::from_nanos(now.saturating_sub(at - 1)))
    }

    /// Whether a frame offered now would be written without waiting for a connection.
    pub(crate) fn ready(&self) -> bool {
        self.connected_at.load(Ordering::Acquire) != 0 && self.has_room(&lock(&self.pending))
    }

    pub(super) fn set_state(&self, state: State, next_retry: Option<Instant>) {
        let now = Instant::now();
        {
            let mut info = lock(&self.info);
            info.since = now;
            info.next_retry = next_retry;
            if state == State::Connected {
                let at =
                    u64::try_from(now.duration_since(base()).as_nanos()).unwrap_or(u64::MAX - 1);
                self.connected_at.store(at + 1, Ordering::Release);
            } else {
                self.connected_at.store(0, Ordering::Release);
            }
            self.state.store(state.as_u8(), Ordering::Release);
        }
        match state {
            State::Connecting | State::Backoff => {
                tracing::debug!(sink = %self.opts.name, endpoint = %self.opts.endpoint_text, %state, "sink state changed");
            }
            _ => {
                tracing::info!(sink = %self.opts.name, endpoint = %self.opts.endpoint_text, %state, "sink state changed");
            }
        }
        self.progress.notify_waiters();
    }

    pub(super) fn record_error(&self, error: &TransportError, first: bool) {
        lock(&self.info).last_error = Some((error.clone(), Instant::now()));
        if first {
            tracing::warn!(sink = %self.opts.name, endpoint = %self.opts.endpoint_text, %error, "sink connection failed");
        } else {
            tracing::debug!(sink = %self.opts.name, endpoint = %self.opts.endpoint_text, %error, "sink connection failed");
        }
    }

    pub(crate) fn status(&self) -> Status {
        let info = lock(&self.info);
        // Frames senders wrote directly on an acknowledged connection are
        // unacknowledged until the task collects them into its kept frames.
        let (waiting, direct_kept) = {
            let p = lock(&self.pending);
            let handed = usize::try_from(p.handed_frames).unwrap_or(usize::MAX);
            (p.frames + handed, p.direct_kept_frames)
        };
        let state = self.state();
        let (base_at, base_wall) = base_pair();
        let at = |stamp: &std::sync::atomic::AtomicU64| match stamp.load(Ordering::Relaxed) {
            0 => None,
            n => Some(base_at + Duration::from_nanos(n - 1)),
        };
        let last_lost = at(&self.last_lost);
        let last_sent = at(&self.last_sent).map(|t| base_wall + t.duration_since(base_at));
        let health = match state {
            State::Failed | State::Closed => Health::Down,
            _ if self.down.load(Ordering::Acquire) => Health::Degraded,
            _ if last_lost.is_some_and(|t| t.elapsed() < Health::WINDOW) => Health::Degraded,
            _ => Health::Healthy,
        };
        Status {
            sink: self.opts.name.to_string(),
            endpoint: self.opts.endpoint_text.to_string(),
            state,
            since: info.since,
            last_error: info.last_error.as_ref().map(|(e, _)| e.clone()),
            last_error_at: info.last_error.as_ref().map(|(_, at)| *at),
            connect_attempts: self.attempts.load(Ordering::Relaxed),
            next_retry: info.next_retry,
            queue_depth: (waiting + direct_kept)
                .saturating_add(self.in_flight.load(Ordering::Relaxed)),
            unacknowledged: self.unacked.load(Ordering::Relaxed) + direct_kept,
            frames_sent: self.frames_sent.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            lost: Lost {
                closed: self.lost_closed.load(Ordering::Relaxed),
                dropped: self.lost_dropped.load(Ordering::Relaxed),
                fatal: self.lost_fatal.load(Ordering::Relaxed),
                unconfirmed: self.lost_unconfirmed.load(Ordering::Relaxed),
                too_large: self.lost_too_large.load(Ordering::Relaxed),
            },
            health,
            last_sent,
            last_lost,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum LostReason {
    Closed,
    Dropped,
    Fatal,
    Unconfirmed,
    TooLarge,
}

impl LostReason {
    fn as_str(self) -> &'static str {
        match self {
            LostReason::Closed => "closed",
            LostReason::Dropped => "dropped",
            LostReason::Fatal => "fatal",
            LostReason::Unconfirmed => "unconfirmed",
            LostReason::TooLarge => "too_large",
        }
    }
}

pub(super) struct Metrics {
    pub(super) frames: Counter,
    pub(super) bytes: Counter,
    pub(super) attempts: Counter,
}
