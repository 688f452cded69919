//! The lazy connection behind every leaf sink: the shared pending queue that senders
//! append to, and the one connection task that owns the socket.
//!
//! This module holds the shared state ([`Shared`], [`Options`]); the rest is one file
//! per concern: `send` (checking and queueing frames, direct writes), `wait` (room,
//! the turn, `flush`, waiting for a connection), `close` (close with linger, drop),
//! `counters` (sent and lost counts, state, status, metrics), `task` (the connection
//! task: connect, back off, write batches), `handover` (message transports that
//! confirm frames later: direct hand-overs, the turn, the ledger of confirmations),
//! `acked` (sinkgen framing: frames kept until acknowledged, resent after a
//! reconnect) and `proof` (foreign framings: frames a dead peer may not have read).
//!
//! # Invariants
//!
//! * **One writer.** At most one connection task runs per sink (`running` is set by
//!   the single winner of a compare-exchange in [`Shared::ensure_started`] and cleared
//!   only when that task ends). It alone connects, so concurrent first senders share
//!   one connect attempt, and it alone touches the socket, so frames are written whole
//!   and in order.
//! * **Frames enter whole.** A sender appends a complete frame (header + payload) to
//!   `Pending::buf` under the `pending` lock, after checking there is room. The only
//!   `.await` in a send is a wait ([`Wait`]: for room, or for its turn), before its
//!   frame is accepted: a cancelled send has queued nothing, and a queued frame is
//!   never half-written into the buffer. Torq and sinkgen frames enter whole but
//!   unsealed (their checksum not yet computed, see `Framing::append_unsealed`):
//!   the task seals the frames of a batch after it takes it, outside the lock
//!   (`Pending::sealed` marks the sealed prefix of the queue), and a sender that
//!   writes or hands over the queue itself seals it first, so only sealed frames
//!   ever reach a transport.
//! * **Bound.** `Pending::frames <= queue` for frames that senders add (the task may
//!   put an unwritten batch back in front, see `Drop for Driver`). The task swaps the
//!   whole buffer out (double buffering, no copy) and wakes senders waiting for room
//!   (`space`, only when `Pending::space_waiters` says someone waits). Memory held is
//!   therefore at most `queue` waiting frames plus one batch of at most `queue` frames
//!   being written.
//! * **No torn frame on a new connection.** The task tracks how many bytes of its batch
//!   the kernel accepted (`written`). When a connection fails, the frames before the
//!   last frame boundary at or before `written` count as sent; the rest (starting with
//!   the torn frame) are kept and written from their first byte on the next
//!   connection. Nothing is duplicated (a whole frame is never resent) and nothing is
//!   dropped without being counted.
//! * **Accounting.** `Pending::accepted` counts frames ever accepted; `settled` counts
//!   frames written whole (or confirmed) or counted lost. `flush` waits for `settled` to reach the
//!   `accepted` it saw. Frames lost are counted by reason in `lost_*`. Foreign
//!   framings on a socket: frames counted sent on a connection that then died, and
//!   not proven read by the peer (`proof`), move from sent to `lost_unconfirmed`
//!   (still settled).
//! * **Acknowledged delivery (sinkgen framing on a socket).** Each connection starts
//!   with the handshake (in `Connection::connect`, within `connect_timeout`). The
//!   task keeps every frame it wrote (`acked::Kept`) until an ACK covers it; only
//!   then it counts as sent (settled). Every frame written counts in
//!   `Pending::in_doubt` until acknowledged or lost, so the bound counts queued and
//!   unacknowledged frames (plus, as for every framing, one batch being written).
//!   After a failed connection the
//!   kept frames go back in front of the batch; WELCOME's `have` settles those the
//!   peer has, the rest are written again, in order, before any new frame. Senders
//!   write sparse frames directly, as with the other framings (below); a frame so
//!   written goes to `Pending::direct_kept` under the same lock hold and counts in
//!   `in_doubt`, and the task moves those frames into its kept ones (`collect_kept`)
//!   before it takes a batch, before it applies an ACK and when it leaves a
//!   connection. Direct writes happen only while the task holds no batch and nothing
//!   is queued, so the kept frames stay in sequence order.
//!   ACKs are read while the task writes (a batch write returns `WriteStop::Acked`
//!   when they arrive while the socket is full, so their room is freed at once) and
//!   while it idles (`Connection::watch`).
//! * **Direct writes of sparse frames.** While the task is idle (`Pending::writer_idle`,
//!   set and cleared by the task under the `pending` lock, only while it holds no
//!   batch) and nothing is queued, a sender that comes at least [`INLINE_GAP`] after
//!   the last write writes its frame itself, under the `pending` lock, with one
//!   non-blocking `write` on the task's socket (`Pending::inline`). The lock makes
//!   these writes exclusive with each other, and `writer_idle` with the task's. A
//!   partial write leaves the frame queued with `Pending::head_written` bytes already
//!   on the current connection, and wakes the task to finish it; the task takes
//!   `inline` away (and resets `head_written`, so a torn head frame is written whole
//!   on the next connection) under the lock before it leaves a connection. Frames that
//!   follow within `INLINE_GAP` queue as usual, so bursts still coalesce.
//! * **Message transports (NATS) and the turn.** There every frame goes straight to
//!   the client under the same conditions (the client coalesces writes itself). A
//!   frame that finds the client's buffer full is not accepted: its sender takes the
//!   sink's turn (`Pending::turn`; no other frame is accepted meanwhile), waits for
//!   room outside the lock ([`Wait`]), and hands its frame over under the lock
//!   ([`Shared::offer`]). Such a transport confirms frames later: hand-overs are
//!   counted in `Pending::handed_frames` until the task collects them into its
//!   [`Ledger`] and asks the transport for a confirmation; confirmed frames count as
//!   sent, and frames still unconfirmed when a connection ends count as lost
//!   (`unconfirmed`), never resent. Frames handed on and not yet confirmed
//!   (`Pending::in_doubt`) take room in the queue like queued frames do, so what a
//!   frozen server holds back, and what a lost connection leaves in doubt, stays
//!   within `queue` plus one batch.
//! * **Coalescing without a timer.** The task yields one scheduling round after a
//!   write and after being woken, before it takes the next batch: a sender that is
//!   still running fills the buffer meanwhile, so one system call carries many frames.
//!   Sparse frames never wait for this (they are written by their senders).
//! * **Stop.** `stop_mode` goes from `RUNNING` to `CLOSING` (`close`) or `DROPPED` (last
//!   handle dropped) once. Every wait of the task also waits on `stop` (or on the drain
//!   deadline), so the task notices a stop at once, even mid-connect or mid-backoff.
//!
//! [`Wait`]: wait::Wait
//! [`Ledger`]: handover::Ledger

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::error::{SendErrorKind, TransportError};
use crate::framing::Framing;
use crate::status::State;
use crate::transport::{Endpoint, Inline};
use sinkgen_config::policy::WhenDown;

mod acked;
pub(crate) mod backoff;
mod close;
mod counters;
mod handover;
mod kept;
mod ledger;
mod proof;
mod send;
mod settle;
mod task;
mod unconfirmed;
mod wait;

use counters::Metrics;
pub(crate) use send::Msg;
use task::run;
pub(crate) use wait::Need;
use wait::PooledWait;

const RUNNING: u8 = 0;
const CLOSING: u8 = 1;
const DROPPED: u8 = 2;

/// A connection that stayed up at least this long (or `backoff_max`, if longer) resets
/// the backoff: a peer that accepts and then closes at once must not cause a hot loop.
pub(crate) const STABLE_AFTER: Duration = Duration::from_secs(1);

/// A sender writes its frame directly only when the previous write ended at least
/// this long ago: a sparse frame goes out without waking the task (no added latency),
/// while a sender faster than a system call queues and lets the task coalesce. The
/// gap counts from the end of a write, so a burst whose system calls each take longer
/// than the gap (a loaded machine) is still coalesced, not written frame by frame.
const INLINE_GAP: Duration = Duration::from_micros(2);

/// Buffer capacity an idle connected sink keeps (per buffer: the queue's and the
/// task's). A sink idle for [`IDLE_SHRINK_AFTER`] with buffers more than four times
/// this gives the rest back.
const SHRINK_FLOOR: usize = 4096;

/// What the list of frames senders wrote directly on an acknowledged connection
/// (`Pending::direct_kept`) grows to at once the first time, at most (never beyond
/// the queue buffer's capacity): the frames written between two collections by the
/// task, one ACK apart, without reallocations. It doubles beyond.
const DIRECT_KEPT_FIRST: usize = 64 << 10;

/// How long a connected sink stays idle before it gives back buffer memory.
const IDLE_SHRINK_AFTER: Duration = Duration::from_secs(1);

/// At most this many torq frames queued back to back share one clock reading (see
/// [`Shared::timestamp`]).
const STAMP_REUSE: u32 = 64;

/// Who a sink is in `services.toml`: what it names in the handshake of
/// [`Framing::Sinkgen`](crate::Framing::Sinkgen) (see [`protocol`](crate::protocol)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The sending service.
    pub(crate) service: Arc<str>,
    /// The relay, or the receiving service of a direct sink.
    pub(crate) target: Arc<str>,
}

/// Everything a leaf sink is configured with.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) name: Arc<str>,
    pub(crate) endpoint_text: Arc<str>,
    pub(crate) endpoint: Result<Endpoint, TransportError>,
    pub(crate) framing: Framing,
    pub(crate) connect_timeout: Duration,
    pub(crate) send_timeout: Duration,
    pub(crate) queue: usize,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    /// Who the sink is, for the handshake of the sinkgen protocol.
    pub(crate) identity: Option<Identity>,
    /// What a send does while the peer is down.
    pub(crate) when_down: WhenDown,
    /// The largest payload of one frame (at most `u32::MAX`).
    pub(crate) max_frame: usize,
    /// What the sink is in the handshake: a producer (relay sink) or a direct sender.
    pub(crate) role: crate::protocol::Role,
    /// The sink's producer session (sinkgen protocol): drawn once, kept across
    /// reconnects.
    pub(crate) session: u64,
}

/// Why a frame was refused (the typed layer puts the message back around it).
#[derive(Debug)]
pub(crate) struct Reject {
    pub(crate) kind: SendErrorKind,
    pub(crate) cause: Option<TransportError>,
}

struct Pending {
    /// Whole frames, back to back, in sequence order.
    buf: Vec<u8>,
    frames: usize,
    /// Senders waiting for room.
    space_waiters: usize,
    /// Torq sequence of the last frame queued.
    sequence: u64,
    accepted: u64,
    closed: bool,
    /// The current connection, for direct writes of sparse frames.
    inline: Option<Inline>,
    /// The task is connected (set and cleared with `inline`, which stays `None` on
    /// an acknowledged connection).
    connected: bool,
    /// The task holds no batch and waits for frames.
    writer_idle: bool,
    /// When the last write ended (direct, or the task going idle after one).
    last_write: Instant,
    /// Bytes of the first frame in `buf` already written directly on the current
    /// connection.
    head_written: usize,
    /// Bytes at the front of `buf` whose frames are sealed (complete); the frames
    /// after them were queued unsealed ([`Framing::append_unsealed`]) and the task
    /// seals them when it takes the batch ([`Framing::seal_all`]).
    sealed: usize,
    /// Frames (and their bytes) senders handed directly to a confirming transport
    /// (NATS) since the task last collected them into its [`Ledger`](handover::Ledger).
    handed_frames: u64,
    handed_bytes: u64,
    /// A sender holds the turn (see [`Shared::offer`]): no other frame is accepted.
    turn: bool,
    /// Counts connections, so a turn taken on one is not used on the next.
    generation: u64,
    /// Frames a confirming transport took and did not confirm yet (the ones in
    /// `handed_frames` and the task's `Ledger::unconfirmed`): they count against
    /// `queue` with the queued ones.
    in_doubt: usize,
    /// Torq timestamp of the frames queued back to back (see [`Shared::timestamp`]).
    stamp: Stamp,
    /// Frames (and bytes) senders wrote directly since the task last collected them
    /// (for the proof of what the peer read, see `proof`).
    direct_sent: (u64, u64),
    /// Acknowledged delivery: the frames senders wrote directly since the task last
    /// collected them into its kept frames (whole frames, in sequence order), and
    /// their count. They count in `in_doubt` from their write on.
    direct_kept: Vec<u8>,
    direct_kept_frames: usize,
    /// The current connection keeps frames until acknowledged (set with `inline`).
    keeping: bool,
}

/// A clock reading shared by torq frames queued back to back, and how many used it.
#[derive(Default)]
struct Stamp {
    at: u64,
    uses: u32,
}

struct Info {
    since: Instant,
    last_error: Option<(TransportError, Instant)>,
    next_retry: Option<Instant>,
    close_deadline: Option<Instant>,
}

pub(crate) struct Shared {
    pub(crate) opts: Options,
    queue: usize,
    space: Notify,
    pending: Padded<Mutex<Pending>>,
    wake_writer: Padded<Notify>,
    stop: Notify,
    progress: Notify,
    watchers: AtomicUsize,
    stop_mode: AtomicU8,
    running: AtomicBool,
    closed: AtomicBool,
    /// Not connected after a failed connect attempt: set when the task backs off,
    /// cleared when it connects (read by `when_down = "fail"`).
    down: AtomicBool,
    state: AtomicU8,
    /// Nanoseconds since [`base`] when the current connection came up, plus one; 0 when
    /// not connected. Read by composites without taking a lock.
    connected_at: AtomicU64,
    info: Mutex<Info>,
    fatal: OnceLock<TransportError>,
    attempts: AtomicU64,
    frames_sent: AtomicU64,
    bytes_sent: AtomicU64,
    /// Nanoseconds since [`base`] when a frame last counted as sent, plus one; 0: never.
    last_sent: AtomicU64,
    /// The same for a frame counted lost.
    last_lost: AtomicU64,
    settled: AtomicU64,
    in_flight: AtomicUsize,
    /// Frames written and not yet acknowledged (sinkgen framing).
    unacked: AtomicUsize,
    lost_closed: AtomicU64,
    lost_dropped: AtomicU64,
    lost_fatal: AtomicU64,
    lost_unconfirmed: AtomicU64,
    lost_too_large: AtomicU64,
    /// The largest payload the transport takes (NATS: the server's `max_payload`, as
    /// of the last connection); `usize::MAX` while unknown or unlimited.
    payload_limit: AtomicUsize,
    metrics: OnceLock<Metrics>,
    /// Boxes of finished waits, kept for the next wait ([`Wait`](wait::Wait)).
    waits: Mutex<Vec<PooledWait>>,
}

/// Keeps a hot field on cache lines of its own: the pending lock is taken by every
/// send, and must not share a line with fields the task writes.
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn base() -> Instant {
    base_pair().0
}

/// A moment read on both clocks at once, to turn an [`Instant`] into a
/// [`SystemTime`](std::time::SystemTime) for [`Status::last_sent`](crate::Status).
fn base_pair() -> (Instant, std::time::SystemTime) {
    static BASE: OnceLock<(Instant, std::time::SystemTime)> = OnceLock::new();
    *BASE.get_or_init(|| (Instant::now(), std::time::SystemTime::now()))
}

/// Now, as nanoseconds since [`base`] plus one (0 means "never").
fn stamp_now() -> u64 {
    u64::try_from(base().elapsed().as_nanos())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// `from + d`, saturated: a duration too long for an `Instant` (such as
/// `Duration::MAX`, "no limit") gives a deadline decades away, never an overflow panic.
pub(crate) fn deadline_after(from: Instant, d: Duration) -> Instant {
    /// About 30 years: as good as never, and far from any `Instant`'s limit.
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    from.checked_add(d.min(FAR)).unwrap_or(from)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent (every critical
    // section is a few plain stores), so poisoning is ignored.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(opts: Options) -> Arc<Shared> {
        let queue = opts.queue.max(1);
        let now = Instant::now();
        let fatal = OnceLock::new();
        let mut info = Info {
            since: now,
            last_error: None,
            next_retry: None,
            close_deadline: None,
        };
        let mut state = State::Idle;
        if let Err(e) = &opts.endpoint {
            let _ = fatal.set(e.clone());
            info.last_error = Some((e.clone(), now));
            state = State::Failed;
        }
        Arc::new(Shared {
            queue,
            space: Notify::new(),
            pending: Padded(Mutex::new(Pending {
                buf: Vec::new(),
                frames: 0,
                space_waiters: 0,
                sequence: 0,
                accepted: 0,
                closed: false,
                inline: None,
                connected: false,
                writer_idle: false,
                last_write: now,
                head_written: 0,
                sealed: 0,
                handed_frames: 0,
                handed_bytes: 0,
                turn: false,
                generation: 0,
                in_doubt: 0,
                stamp: Stamp::default(),
                direct_sent: (0, 0),
                direct_kept: Vec::new(),
                direct_kept_frames: 0,
                keeping: false,
            })),
            wake_writer: Padded(Notify::new()),
            stop: Notify::new(),
            progress: Notify::new(),
            watchers: AtomicUsize::new(0),
            stop_mode: AtomicU8::new(RUNNING),
            running: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            down: AtomicBool::new(false),
            state: AtomicU8::new(state.as_u8()),
            connected_at: AtomicU64::new(0),
            info: Mutex::new(info),
            fatal,
            attempts: AtomicU64::new(0),
            frames_sent: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            last_sent: AtomicU64::new(0),
            last_lost: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            unacked: AtomicUsize::new(0),
            lost_closed: AtomicU64::new(0),
            lost_dropped: AtomicU64::new(0),
            lost_fatal: AtomicU64::new(0),
            lost_unconfirmed: AtomicU64::new(0),
            lost_too_large: AtomicU64::new(0),
            payload_limit: AtomicUsize::new(usize::MAX),
            metrics: OnceLock::new(),
            waits: Mutex::new(Vec::new()),
            opts,
        })
    }

    // ----- senders -----

    fn refused(&self) -> Reject {
        if let Some(e) = self.fatal.get() {
            return Reject {
                kind: SendErrorKind::Fatal,
                cause: Some(e.clone()),
            };
        }
        Reject {
            kind: SendErrorKind::Closed,
            cause: None,
        }
    }

    fn check_open(&self) -> Result<(), Reject> {
        if self.closed.load(Ordering::Acquire) || self.fatal.get().is_some() {
            return Err(self.refused());
        }
        if self.opts.when_down == WhenDown::Fail && self.down.load(Ordering::Acquire) {
            return Err(self.down_reject());
        }
        Ok(())
    }

    /// `Down`, with the last connection error as the cause.
    #[cold]
    fn down_reject(&self) -> Reject {
        let cause = lock(&self.info).last_error.as_ref().map(|(e, _)| e.clone());
        Reject {
            kind: SendErrorKind::Down,
            cause,
        }
    }

    /// Starts the connection task unless it runs. Cheap when it does (one load).
    pub(crate) fn ensure_started(self: &Arc<Self>) -> Result<(), Reject> {
        if self.running.load(Ordering::Acquire) {
            return Ok(());
        }
        self.start()
    }

    #[cold]
    fn start(self: &Arc<Self>) -> Result<(), Reject> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(Reject {
                kind: SendErrorKind::NoRuntime,
                cause: None,
            });
        };
        if self
            .running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            runtime.spawn(run(Arc::clone(self)));
        }
        Ok(())
    }
}
