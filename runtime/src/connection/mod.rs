//! The lazy connection behind every leaf sink: the shared pending queue that senders
//! append to, and the one connection task that owns the socket.
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
//!   never half-written into the buffer.
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
//!   `accepted` it saw. Frames lost are counted by reason in `lost_*`.
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

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use metrics::Counter;
use tokio::sync::Notify;
use tokio_util::sync::ReusableBoxFuture;

use crate::encode::Encode;
use crate::error::{ErrorClass, SendErrorKind, TransportError, WaitError};
use crate::framing::{Framing, LENGTH_PREFIX_LEN, TORQ_HEADER_LEN, encode_or_nothing, now_nanos};
use crate::status::{Lost, State, Status};
use crate::transport::{Connection, Endpoint, Handed, Inline, Turn, WriteStop};

const RUNNING: u8 = 0;
const CLOSING: u8 = 1;
const DROPPED: u8 = 2;

/// A connection that stayed up at least this long (or `backoff_max`, if longer) resets
/// the backoff: a peer that accepts and then closes at once must not cause a hot loop.
const STABLE_AFTER: Duration = Duration::from_secs(1);

/// A sender writes its frame directly only when the previous write is at least this
/// old: a sparse frame goes out without waking the task (no added latency), while a
/// sender faster than a system call queues and lets the task coalesce.
const INLINE_GAP: Duration = Duration::from_micros(2);

/// Buffer capacity an idle connected sink keeps (per buffer: the queue's and the
/// task's). A sink idle for [`IDLE_SHRINK_AFTER`] with buffers more than four times
/// this gives the rest back.
const SHRINK_FLOOR: usize = 4096;

/// How long a connected sink stays idle before it gives back buffer memory.
const IDLE_SHRINK_AFTER: Duration = Duration::from_secs(1);

/// At most this many torq frames queued back to back share one clock reading (see
/// [`Shared::timestamp`]).
const STAMP_REUSE: u32 = 64;

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
    /// The task holds no batch and waits for frames.
    writer_idle: bool,
    /// When the last write (direct, or the task going idle after one) happened.
    last_write: Instant,
    /// Bytes of the first frame in `buf` already written directly on the current
    /// connection.
    head_written: usize,
    /// Frames (and their bytes) senders handed directly to a confirming transport
    /// (NATS) since the task last collected them into its [`Ledger`].
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
    state: AtomicU8,
    /// Nanoseconds since [`base`] when the current connection came up, plus one; 0 when
    /// not connected. Read by composites without taking a lock.
    connected_at: AtomicU64,
    info: Mutex<Info>,
    fatal: OnceLock<TransportError>,
    attempts: AtomicU64,
    frames_sent: AtomicU64,
    bytes_sent: AtomicU64,
    settled: AtomicU64,
    in_flight: AtomicUsize,
    lost_closed: AtomicU64,
    lost_dropped: AtomicU64,
    lost_fatal: AtomicU64,
    lost_unconfirmed: AtomicU64,
    lost_too_large: AtomicU64,
    /// The largest payload the transport takes (NATS: the server's `max_payload`, as
    /// of the last connection); `usize::MAX` while unknown or unlimited.
    payload_limit: AtomicUsize,
    metrics: OnceLock<Metrics>,
    /// Boxes of finished waits, kept for the next wait ([`Wait`]).
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
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
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

/// Boxed waits kept per sink for reuse, at most this many.
const MAX_POOLED_WAITS: usize = 64;

/// A message offered to a sink: borrowed, or owned by its sender, whose bytes a
/// transport may then take instead of copying them (see [`Encode::take_bytes`]).
pub(crate) enum Msg<'a, E: ?Sized> {
    Shared(&'a E),
    Owned(&'a mut E),
}

impl<E: Encode + ?Sized> Msg<'_, E> {
    fn get(&self) -> &E {
        match self {
            Msg::Shared(m) => m,
            Msg::Owned(m) => m,
        }
    }

    fn take_bytes(&mut self) -> Option<bytes::Bytes> {
        match self {
            Msg::Shared(_) => None,
            Msg::Owned(m) => m.take_bytes(),
        }
    }
}

/// What a sender must wait for before offering its frame again.
pub(crate) enum Need {
    /// Room in the queue.
    Room,
    /// Room in the transport's buffer, with the sink's turn (see [`Shared::offer`]).
    Turn(TurnTicket),
}

/// The turn a sender holds while it waits for room in a message transport's buffer,
/// and the connection it belongs to.
pub(crate) struct TurnTicket {
    turn: Turn,
    generation: u64,
}

/// How a wait for the turn ended.
pub(crate) enum TurnEnd {
    Ready,
    Gone,
    TimedOut,
}

/// What a finished wait hands to the next [`Shared::offer`].
pub(crate) struct Waited(TurnTicket, TurnEnd);

/// A sender's wait, in an allocation borrowed from the sink's pool: the future a
/// `send` holds stays small (it is moved on every call), and waiting allocates
/// nothing once the pool holds one box per concurrent waiter. Dropped before it
/// finishes, it ends the sender's turn, if it held one.
pub(crate) struct Wait<'a> {
    shared: &'a Shared,
    wait: Option<PooledWait>,
    holds_turn: bool,
}

/// The box a [`Wait`] runs in.
type PooledWait = ReusableBoxFuture<'static, Result<Option<Waited>, Reject>>;

struct WaitJob {
    shared: Arc<Shared>,
    need: Need,
    deadline: Instant,
}

/// A wait as an owned future; `None` is the finished state a pooled box is left in
/// (same type, so the box is reused, and it keeps no sink alive).
async fn wait_owned(job: Option<WaitJob>) -> Result<Option<Waited>, Reject> {
    let Some(job) = job else {
        return Ok(None);
    };
    match job.need {
        Need::Room => job.shared.wait_room(job.deadline).await.map(|()| None),
        Need::Turn(mut ticket) => {
            let end = tokio::select! {
                biased;
                ready = ticket.turn.ready() => if ready { TurnEnd::Ready } else { TurnEnd::Gone },
                () = tokio::time::sleep_until(job.deadline.into()) => TurnEnd::TimedOut,
            };
            Ok(Some(Waited(ticket, end)))
        }
    }
}

impl Future for Wait<'_> {
    type Output = Result<Option<Waited>, Reject>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let polled = match self.wait.as_mut() {
            Some(wait) => wait.poll(cx),
            None => std::task::Poll::Ready(Ok(None)),
        };
        if polled.is_ready() {
            // The turn (if any) is in the output now.
            self.holds_turn = false;
        }
        polled
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(mut wait) = self.wait.take() {
            wait.set(wait_owned(None));
            let mut pool = lock(&self.shared.waits);
            if pool.len() < MAX_POOLED_WAITS {
                pool.push(wait);
            }
        }
        if self.holds_turn {
            self.shared.end_turn(&mut lock(&self.shared.pending));
        }
    }
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
                writer_idle: false,
                last_write: now,
                head_written: 0,
                handed_frames: 0,
                handed_bytes: 0,
                turn: false,
                generation: 0,
                in_doubt: 0,
                stamp: Stamp::default(),
            })),
            wake_writer: Padded(Notify::new()),
            stop: Notify::new(),
            progress: Notify::new(),
            watchers: AtomicUsize::new(0),
            stop_mode: AtomicU8::new(RUNNING),
            running: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            state: AtomicU8::new(state.as_u8()),
            connected_at: AtomicU64::new(0),
            info: Mutex::new(info),
            fatal,
            attempts: AtomicU64::new(0),
            frames_sent: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
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
        Ok(())
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

    fn has_room(&self, p: &Pending) -> bool {
        p.frames + p.in_doubt < self.queue && !p.turn
    }

    /// `TooLarge` for a message whose payload is over the transport's known limit
    /// (NATS: the server's `max_payload`); the message goes back to its sender.
    fn check_payload<E: Encode + ?Sized>(&self, msg: &E) -> Result<(), Reject> {
        let limit = self.payload_limit.load(Ordering::Relaxed);
        if limit == usize::MAX {
            return Ok(());
        }
        let size = match self.opts.framing {
            Framing::LengthPrefixed => msg.encoded_len(),
            Framing::Torq { .. } => msg.encoded_len().saturating_add(TORQ_HEADER_LEN),
        };
        if size <= limit {
            return Ok(());
        }
        Err(Reject {
            kind: SendErrorKind::TooLarge,
            cause: Some(TransportError::new(
                ErrorClass::Fatal,
                std::io::ErrorKind::InvalidInput,
                format!(
                    "a {size}-byte payload is over the NATS server's max_payload of {limit} bytes"
                ),
            )),
        })
    }

    /// Queues a frame if there is room now; never waits.
    pub(crate) fn try_enqueue<E: Encode + ?Sized>(
        self: &Arc<Self>,
        msg: Msg<'_, E>,
    ) -> Result<(), Reject> {
        self.check_open()?;
        self.ensure_started()?;
        self.push(msg, false).map(|_| ())
    }

    /// One attempt of a sender that may wait: `Ok(None)` means the frame is accepted;
    /// `Ok(Some(need))` means wait for `need` ([`Shared::wait`]) and offer again with
    /// what the wait returned.
    ///
    /// The turn: when a direct hand-over finds a message transport's buffer full
    /// (NATS, while the task is idle and nothing is queued), the sender takes the
    /// sink's turn instead of queueing: nothing of its frame is accepted yet, other
    /// senders wait as for a full queue, and once the transport has reserved room the
    /// frame is accepted and handed on under the `pending` lock. A fast sender thus
    /// waits for the transport itself, like a caller of the client would, instead of
    /// filling the queue for the task to pass on frame by frame.
    pub(crate) fn offer<E: Encode + ?Sized>(
        self: &Arc<Self>,
        msg: Msg<'_, E>,
        waited: Option<Waited>,
    ) -> Result<Option<Need>, Reject> {
        if let Some(Waited(ticket, end)) = waited
            && self.finish_turn(msg.get(), ticket, end)?
        {
            return Ok(None);
        }
        self.check_open()?;
        self.ensure_started()?;
        match self.push(msg, true) {
            Ok(None) => Ok(None),
            Ok(Some(ticket)) => Ok(Some(Need::Turn(ticket))),
            Err(Reject {
                kind: SendErrorKind::Full,
                ..
            }) => Ok(Some(Need::Room)),
            Err(e) => Err(e),
        }
    }

    /// Waits for `need`, for at most until `deadline` (see [`Wait`]).
    pub(crate) fn wait(self: &Arc<Self>, need: Need, deadline: Instant) -> Wait<'_> {
        let holds_turn = matches!(need, Need::Turn(_));
        let job = wait_owned(Some(WaitJob {
            shared: Arc::clone(self),
            need,
            deadline,
        }));
        let pooled = lock(&self.waits).pop();
        let wait = match pooled {
            Some(mut boxed) => {
                boxed.set(job);
                boxed
            }
            None => ReusableBoxFuture::new(job),
        };
        Wait {
            shared: self,
            wait: Some(wait),
            holds_turn,
        }
    }

    /// Ends the current turn (with the `pending` lock held) and lets waiting senders
    /// try again.
    fn end_turn(&self, p: &mut Pending) {
        if p.turn {
            p.turn = false;
            if p.space_waiters > 0 {
                self.space.notify_waiters();
            }
        }
    }

    /// The sender's turn is over: `Ok(true)` when its frame was accepted (handed on
    /// with the room the transport reserved, or queued for the task), `Ok(false)`
    /// when it should offer it again from the start (the connection changed or the
    /// transport went away meanwhile).
    fn finish_turn<E: Encode + ?Sized>(
        &self,
        msg: &E,
        ticket: TurnTicket,
        end: TurnEnd,
    ) -> Result<bool, Reject> {
        let mut guard = lock(&self.pending);
        let p = &mut *guard;
        self.end_turn(p);
        if p.closed {
            drop(guard);
            return Err(self.refused());
        }
        let same = p.generation == ticket.generation && p.writer_idle && p.frames == 0;
        let Some(inline) = p.inline.as_mut().filter(|_| same) else {
            return Ok(false);
        };
        match end {
            TurnEnd::Ready => {}
            TurnEnd::Gone => return Ok(false),
            TurnEnd::TimedOut => {
                // Keep the handle (and its reservation, once made) for the next turn.
                inline.end_turn(ticket.turn);
                drop(guard);
                let cause = lock(&self.info).last_error.as_ref().map(|(e, _)| e.clone());
                return Err(Reject {
                    kind: SendErrorKind::Timeout,
                    cause,
                });
            }
        }
        if let Err(e) = self.check_payload(msg) {
            inline.end_turn(ticket.turn);
            drop(guard);
            return Err(e);
        }
        let sequence = p.sequence + 1;
        let timestamp = self.timestamp(&mut p.stamp, false);
        let Some(len) = self
            .opts
            .framing
            .append(&mut p.buf, msg, sequence, timestamp)
        else {
            inline.end_turn(ticket.turn);
            drop(guard);
            return Err(Reject {
                kind: SendErrorKind::TooLarge,
                cause: None,
            });
        };
        p.sequence = sequence;
        p.accepted += 1;
        if inline.hand_reserved(ticket.turn, &p.buf) {
            p.buf.clear();
            self.handed(guard, len);
        } else {
            // Refused by the transport: queued, the task meets the error itself.
            p.frames = 1;
            drop(guard);
            self.wake_writer.notify_one();
        }
        Ok(true)
    }

    /// Appends one frame (`sequence` is its torq sequence) to `p.buf`; its length, or
    /// `TooLarge` for a payload a frame cannot describe.
    fn frame<E: Encode + ?Sized>(
        &self,
        buf: &mut Vec<u8>,
        msg: &E,
        sequence: u64,
        timestamp: u64,
    ) -> Result<usize, Reject> {
        self.opts
            .framing
            .append(buf, msg, sequence, timestamp)
            .ok_or(Reject {
                kind: SendErrorKind::TooLarge,
                cause: None,
            })
    }

    /// The torq timestamp of a frame queued now (0 for other framings), with the
    /// `pending` lock held. The clock is read for a frame that finds the queue empty;
    /// a frame queued `behind` others on a connected sink (while the task writes the
    /// previous batch) shares the timestamp of the first of them, for at most
    /// [`STAMP_REUSE`] frames. Timestamps never decrease along the sequence.
    fn timestamp(&self, stamp: &mut Stamp, behind: bool) -> u64 {
        if !matches!(self.opts.framing, Framing::Torq { .. }) {
            return 0;
        }
        if behind && stamp.uses < STAMP_REUSE {
            stamp.uses += 1;
            return stamp.at;
        }
        stamp.at = now_nanos().max(stamp.at);
        stamp.uses = 1;
        stamp.at
    }

    /// [`Shared::frame`] of a frame queued behind the others (see
    /// [`Shared::timestamp`]).
    fn queue_frame<E: Encode + ?Sized>(
        &self,
        p: &mut Pending,
        msg: &E,
        sequence: u64,
    ) -> Result<usize, Reject> {
        let behind = p.frames > 0 && p.inline.is_some();
        let timestamp = self.timestamp(&mut p.stamp, behind);
        self.frame(&mut p.buf, msg, sequence, timestamp)
    }

    /// A frame was handed directly to a confirming transport (with the `pending` lock
    /// held, released here).
    fn handed(&self, mut p: MutexGuard<'_, Pending>, len: usize) {
        p.handed_frames += 1;
        p.in_doubt += 1;
        p.handed_bytes += len as u64;
        let first = p.handed_frames == 1;
        drop(p);
        if first {
            // The task collects hand-overs and asks the transport to confirm them;
            // it is woken on the first one after a collection only.
            self.wake_writer.notify_one();
        }
    }

    /// Waits until the queue has room (or `deadline`). The caller then tries
    /// [`Shared::try_enqueue`] again; another sender may have taken the room first.
    ///
    /// Cancel safe: it only waits.
    pub(crate) async fn wait_room(&self, deadline: Instant) -> Result<(), Reject> {
        struct Waiting<'a>(&'a Shared);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                lock(&self.0.pending).space_waiters -= 1;
            }
        }
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let waiting = {
                let mut p = lock(&self.pending);
                if p.closed {
                    drop(p);
                    return Err(self.refused());
                }
                if self.has_room(&p) {
                    return Ok(());
                }
                p.space_waiters += 1;
                Waiting(self)
            };
            let timed_out = tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err();
            drop(waiting);
            if timed_out {
                let cause = lock(&self.info).last_error.as_ref().map(|(e, _)| e.clone());
                return Err(Reject {
                    kind: SendErrorKind::Timeout,
                    cause,
                });
            }
        }
    }

    /// Queues a frame, waiting up to `send_timeout` for room. Holds `msg` across the
    /// wait, so composites use it with owned, shareable payloads.
    pub(crate) async fn enqueue<E: Encode + Sync + ?Sized>(
        self: &Arc<Self>,
        msg: &E,
    ) -> Result<(), Reject> {
        let deadline = deadline_after(Instant::now(), self.opts.send_timeout);
        let mut waited = None;
        loop {
            match self.offer(Msg::Shared(msg), waited.take())? {
                None => return Ok(()),
                Some(need) => waited = self.wait(need, deadline).await?,
            }
        }
    }

    /// Appends one frame if there is room; may write it directly (see the module docs).
    ///
    /// With `may_wait`, a frame that finds a message transport's buffer full is not
    /// accepted; the sender gets the sink's turn instead (see [`Shared::offer`]).
    pub(crate) fn push<E: Encode + ?Sized>(
        &self,
        msg: Msg<'_, E>,
        may_wait: bool,
    ) -> Result<Option<TurnTicket>, Reject> {
        let mut guard = lock(&self.pending);
        let p = &mut *guard;
        if p.closed {
            drop(guard);
            return Err(self.refused());
        }
        if !self.has_room(p) {
            return Err(Reject {
                kind: SendErrorKind::Full,
                cause: None,
            });
        }
        self.check_payload(msg.get())?;
        let was_empty = p.frames == 0;
        if was_empty && p.writer_idle && p.inline.as_ref().is_some_and(|i| !i.spaced()) {
            return self.push_to_client(guard, msg, may_wait);
        }
        let sequence = p.sequence + 1;
        let len = self.queue_frame(p, msg.get(), sequence)?;
        p.sequence = sequence;
        p.frames += 1;
        p.accepted += 1;
        if was_empty
            && p.writer_idle
            && let Some(inline) = p.inline.as_mut()
        {
            let now = Instant::now();
            if now.duration_since(p.last_write) >= INLINE_GAP {
                p.last_write = now;
                match inline.hand(&p.buf) {
                    Handed::Written => {
                        p.buf.clear();
                        p.frames = 0;
                        drop(guard);
                        self.count_sent(1, len);
                        return Ok(None);
                    }
                    Handed::Part(n) => p.head_written = n,
                    // The task meets the error on its own write and reconnects.
                    _ => {}
                }
            }
        }
        drop(guard);
        if was_empty {
            // The task re-checks `pending` after every write, so waking it only on the
            // empty -> non-empty edge cannot lose a frame; Notify keeps one permit.
            self.wake_writer.notify_one();
        }
        Ok(None)
    }

    /// [`Shared::push`] of a frame going straight to a message transport's client
    /// (NATS), with the `pending` lock held, the task idle and nothing queued. With
    /// length-prefixed framing the payload is encoded straight into the bytes the
    /// client keeps; a torq frame is built first. A frame the client has no room for
    /// gives its sender the turn (with `may_wait`) or is queued for the task.
    #[inline(never)]
    fn push_to_client<E: Encode + ?Sized>(
        &self,
        mut guard: MutexGuard<'_, Pending>,
        mut msg: Msg<'_, E>,
        may_wait: bool,
    ) -> Result<Option<TurnTicket>, Reject> {
        let p = &mut *guard;
        if let Some(inline) = p.inline.as_mut() {
            let hint = msg.get().encoded_len();
            let length_prefixed =
                self.opts.framing == Framing::LengthPrefixed && hint <= u32::MAX as usize;
            if length_prefixed
                && let Some((handed, size)) = inline.hand_taken(hint, &mut || msg.take_bytes())
            {
                // The message gave up its bytes: the frame is accepted whatever happened.
                p.sequence += 1;
                p.accepted += 1;
                if matches!(handed, Handed::Published) {
                    self.handed(guard, LENGTH_PREFIX_LEN + size);
                } else {
                    // Taken by a client that went away meanwhile: counted, like the
                    // frames it held.
                    drop(guard);
                    self.count_lost(LostReason::Unconfirmed, 1);
                }
                return Ok(None);
            }
            let handed = if length_prefixed {
                inline
                    .hand_encoded(hint, &mut |buf| encode_or_nothing(msg.get(), buf))
                    .map(|(handed, size)| (handed, LENGTH_PREFIX_LEN + size))
            } else {
                None
            };
            let (handed, len) = match handed {
                Some(done) => done,
                None => {
                    // A frame is built and handed over whole (torq), so it can stay
                    // queued if the client does not take it.
                    let sequence = p.sequence + 1;
                    let timestamp = self.timestamp(&mut p.stamp, false);
                    let len = self.frame(&mut p.buf, msg.get(), sequence, timestamp)?;
                    let handed = inline.hand(&p.buf);
                    p.buf.clear();
                    (handed, len)
                }
            };
            match handed {
                Handed::Published => {
                    p.sequence += 1;
                    p.accepted += 1;
                    self.handed(guard, len);
                    return Ok(None);
                }
                Handed::Full if may_wait => {
                    if let Some(turn) = inline.take_turn() {
                        // Nothing accepted: its sender waits for its turn (see
                        // `Shared::offer`).
                        p.turn = true;
                        return Ok(Some(TurnTicket {
                            turn,
                            generation: p.generation,
                        }));
                    }
                }
                // Queued below: the task hands it over, or meets the error itself.
                _ => {}
            }
        }
        let sequence = p.sequence + 1;
        self.queue_frame(p, msg.get(), sequence)?;
        p.sequence = sequence;
        p.frames += 1;
        p.accepted += 1;
        drop(guard);
        self.wake_writer.notify_one();
        Ok(None)
    }

    fn count_sent(&self, frames: usize, bytes: usize) {
        self.frames_sent.fetch_add(frames as u64, Ordering::Relaxed);
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
        self.settled.fetch_add(frames as u64, Ordering::SeqCst);
        if let Some(m) = self.metrics.get() {
            m.frames.increment(frames as u64);
            m.bytes.increment(bytes as u64);
        }
        self.notify_progress();
    }

    // ----- waiting for progress -----

    /// Waits until `done()` holds or `deadline` passes; returns `done()`.
    async fn wait_for(&self, deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
        struct Watching<'a>(&'a AtomicUsize);
        impl Drop for Watching<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.watchers.fetch_add(1, Ordering::SeqCst);
        let _watching = Watching(&self.watchers);
        loop {
            let notified = self.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if done() {
                return true;
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return done();
            }
        }
    }

    fn notify_progress(&self) {
        if self.watchers.load(Ordering::SeqCst) > 0 {
            self.progress.notify_waiters();
        }
    }

    pub(crate) async fn flush(self: &Arc<Self>) -> Result<(), WaitError> {
        let target = lock(&self.pending).accepted;
        if self.settled.load(Ordering::SeqCst) < target {
            self.ensure_started().map_err(|_| WaitError::NoRuntime)?;
        }
        let deadline = deadline_after(Instant::now(), self.opts.send_timeout);
        let done = self
            .wait_for(deadline, || {
                self.settled.load(Ordering::SeqCst) >= target
                    || self.stop_mode.load(Ordering::SeqCst) != RUNNING
            })
            .await;
        if let Some(e) = self.fatal.get() {
            return Err(WaitError::Fatal(e.clone()));
        }
        if self.closed.load(Ordering::SeqCst) || self.stop_mode.load(Ordering::SeqCst) != RUNNING {
            return Err(WaitError::Closed);
        }
        if done {
            Ok(())
        } else {
            Err(WaitError::Timeout)
        }
    }

    pub(crate) async fn wait_connected(
        self: &Arc<Self>,
        deadline: Instant,
    ) -> Result<(), WaitError> {
        let check = || {
            if let Some(e) = self.fatal.get() {
                return Some(Err(WaitError::Fatal(e.clone())));
            }
            if self.closed.load(Ordering::SeqCst) {
                return Some(Err(WaitError::Closed));
            }
            (self.state() == State::Connected).then_some(Ok(()))
        };
        if let Some(r) = check() {
            return r;
        }
        self.ensure_started().map_err(|_| WaitError::NoRuntime)?;
        self.wait_for(deadline, || check().is_some()).await;
        check().unwrap_or(Err(WaitError::Timeout))
    }

    /// Closes the sink: no new frames; the task writes what is queued until `linger`
    /// passes, then stops. Returns the frames this close counted as not delivered.
    pub(crate) async fn close(self: &Arc<Self>, linger: Duration) -> u64 {
        let deadline = deadline_after(Instant::now(), linger);
        // Not delivered: still queued at the deadline, or (NATS) taken by the
        // transport and never confirmed, or over the server's max_payload.
        let undelivered = || {
            self.lost_closed.load(Ordering::SeqCst)
                + self.lost_unconfirmed.load(Ordering::SeqCst)
                + self.lost_too_large.load(Ordering::SeqCst)
        };
        let before = {
            let mut p = lock(&self.pending);
            if p.closed {
                return 0;
            }
            // Counted before the close is published: from then on the task (maybe
            // on another worker) may count the queued frames at any moment.
            let before = undelivered();
            p.closed = true;
            before
        };
        lock(&self.info).close_deadline = Some(deadline);
        self.closed.store(true, Ordering::SeqCst);
        let _ =
            self.stop_mode
                .compare_exchange(RUNNING, CLOSING, Ordering::SeqCst, Ordering::SeqCst);
        self.space.notify_waiters();
        self.stop.notify_one();
        // The task stops by the deadline on its own; the extra second only guards
        // against a runtime that no longer polls it.
        self.wait_for(deadline_after(deadline, Duration::from_secs(1)), || {
            !self.running.load(Ordering::SeqCst)
        })
        .await;
        // Frames still queued are not delivered: left by a task that ended (or never
        // started), or by one whose runtime is alive but does not poll it. Such a task
        // finds the queue empty if it runs again, and counts only the batch it holds.
        self.lose_pending(LostReason::Closed);
        self.set_state(State::Closed, None);
        undelivered() - before
    }

    /// Called when the last handle of the sink is dropped.
    pub(crate) fn handle_dropped(&self) {
        if self
            .stop_mode
            .compare_exchange(RUNNING, DROPPED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.closed.store(true, Ordering::SeqCst);
            self.stop.notify_one();
            if !self.running.load(Ordering::SeqCst) {
                self.lose_pending(LostReason::Dropped);
            }
        }
    }

    /// Counts every queued frame as lost and closes the queue.
    fn lose_pending(&self, reason: LostReason) -> usize {
        let n = {
            let mut p = lock(&self.pending);
            p.closed = true;
            let n = p.frames;
            // A closed queue takes no more frames: its memory goes too.
            p.buf = Vec::new();
            p.frames = 0;
            n
        };
        self.space.notify_waiters();
        self.count_lost(reason, n);
        n
    }

    fn count_lost(&self, reason: LostReason, n: usize) {
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

    fn set_state(&self, state: State, next_retry: Option<Instant>) {
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

    fn record_error(&self, error: &TransportError, first: bool) {
        lock(&self.info).last_error = Some((error.clone(), Instant::now()));
        if first {
            tracing::warn!(sink = %self.opts.name, endpoint = %self.opts.endpoint_text, %error, "sink connection failed");
        } else {
            tracing::debug!(sink = %self.opts.name, endpoint = %self.opts.endpoint_text, %error, "sink connection failed");
        }
    }

    pub(crate) fn status(&self) -> Status {
        let info = lock(&self.info);
        let waiting = {
            let p = lock(&self.pending);
            p.frames + usize::try_from(p.handed_frames).unwrap_or(usize::MAX)
        };
        Status {
            sink: self.opts.name.to_string(),
            endpoint: self.opts.endpoint_text.to_string(),
            state: self.state(),
            since: info.since,
            last_error: info.last_error.as_ref().map(|(e, _)| e.clone()),
            last_error_at: info.last_error.as_ref().map(|(_, at)| *at),
            connect_attempts: self.attempts.load(Ordering::Relaxed),
            next_retry: info.next_retry,
            queue_depth: waiting.saturating_add(self.in_flight.load(Ordering::Relaxed)),
            frames_sent: self.frames_sent.load(Ordering::Relaxed),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            lost: Lost {
                closed: self.lost_closed.load(Ordering::Relaxed),
                dropped: self.lost_dropped.load(Ordering::Relaxed),
                fatal: self.lost_fatal.load(Ordering::Relaxed),
                unconfirmed: self.lost_unconfirmed.load(Ordering::Relaxed),
                too_large: self.lost_too_large.load(Ordering::Relaxed),
            },
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum LostReason {
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

// ----- the connection task -----

enum Exit {
    Stopped(LostReason),
    Fatal(TransportError),
}

enum Check {
    Run,
    Drain(Instant),
    Exit(Exit),
}

struct Metrics {
    frames: Counter,
    bytes: Counter,
    attempts: Counter,
}

struct Driver {
    shared: Arc<Shared>,
    /// The batch being written: whole frames taken from `Pending::buf`.
    batch: Vec<u8>,
    batch_frames: usize,
    /// Bytes of `batch` the transport took on the current connection.
    written: usize,
    /// Frames (and bytes) of `batch[..written]` the transport skipped as over its
    /// payload limit: counted lost (`too_large`), not taken.
    batch_dropped: (usize, usize),
    /// Whether the current connection confirms frames later (NATS): frames it takes go
    /// to `ledger` instead of counting as sent.
    confirming: bool,
    ledger: Ledger,
    /// Consecutive failures since the last stable connection (0: connect at once).
    failures: u32,
    drop_deadline: Option<Instant>,
    rng: fastrand::Rng,
    finished: bool,
    /// The largest batch (bytes) since the give-back timer was armed (0: idle).
    peak: usize,
    /// Capacity of `Pending::buf` when the task last found the queue empty.
    queue_capacity: usize,
}

/// Frames a confirming transport (NATS) took on the current connection, as
/// cumulative (frames, bytes) pairs. They count as sent when the transport confirms
/// them, and as lost (`unconfirmed`) if the connection ends first: their fate is
/// unknown, and they are never handed on again.
#[derive(Default)]
struct Ledger {
    /// Taken by the transport: from the task's batches, and from senders' direct
    /// hand-overs once collected (`Pending::handed_frames`).
    taken: (u64, u64),
    /// Confirmed, so counted sent.
    confirmed: (u64, u64),
    /// What the confirmation requested and not yet answered will confirm (one at a
    /// time).
    requested: Option<(u64, u64)>,
}

impl Ledger {
    fn unconfirmed(&self) -> u64 {
        self.taken.0 - self.confirmed.0
    }
}

async fn run(shared: Arc<Shared>) {
    shared.metrics.get_or_init(|| {
        let name = shared.opts.name.to_string();
        Metrics {
            frames: metrics::counter!("sinkgen_frames_sent_total", "sink" => name.clone()),
            bytes: metrics::counter!("sinkgen_bytes_sent_total", "sink" => name.clone()),
            attempts: metrics::counter!("sinkgen_connect_attempts_total", "sink" => name),
        }
    });
    let mut driver = Driver {
        shared,
        batch: Vec::new(),
        batch_frames: 0,
        written: 0,
        batch_dropped: (0, 0),
        confirming: false,
        ledger: Ledger::default(),
        failures: 0,
        drop_deadline: None,
        rng: fastrand::Rng::new(),
        finished: false,
        peak: 0,
        queue_capacity: 0,
    };
    let exit = driver.connect_loop().await;
    driver.finish(exit);
}

/// Resolves when the task must look at its stop state again: at the drain deadline
/// while draining, else when a stop is requested.
async fn interrupt(stop: &Notify, drain: Option<Instant>) {
    match drain {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => stop.notified().await,
    }
}

impl Driver {
    /// Nothing queued, nothing being written, nothing waiting for confirmation.
    fn nothing_queued(&self) -> bool {
        if !self.batch.is_empty() || self.ledger.unconfirmed() > 0 {
            return false;
        }
        let p = lock(&self.shared.pending);
        p.frames == 0 && p.handed_frames == 0 && !p.turn
    }

    fn check(&mut self, connected: bool) -> Check {
        let deadline = match self.shared.stop_mode.load(Ordering::SeqCst) {
            RUNNING => return Check::Run,
            CLOSING => lock(&self.shared.info)
                .close_deadline
                .unwrap_or_else(Instant::now),
            _ => {
                if !connected {
                    return Check::Exit(Exit::Stopped(LostReason::Dropped));
                }
                *self.drop_deadline.get_or_insert_with(|| {
                    deadline_after(Instant::now(), self.shared.opts.send_timeout)
                })
            }
        };
        let reason = if self.shared.stop_mode.load(Ordering::SeqCst) == CLOSING {
            LostReason::Closed
        } else {
            LostReason::Dropped
        };
        if self.nothing_queued() || Instant::now() >= deadline {
            return Check::Exit(Exit::Stopped(reason));
        }
        Check::Drain(deadline)
    }

    fn backoff_delay(&mut self) -> Duration {
        let initial = self.shared.opts.backoff_initial;
        let max = self.shared.opts.backoff_max.max(initial);
        let shift = self.failures.saturating_sub(1).min(30);
        let cap = initial.saturating_mul(1u32 << shift).min(max);
        let lo = u64::try_from(initial.as_nanos()).unwrap_or(u64::MAX);
        let hi = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX).max(lo);
        Duration::from_nanos(self.rng.u64(lo..=hi))
    }

    async fn connect_loop(&mut self) -> Exit {
        let shared = Arc::clone(&self.shared);
        let endpoint = match &shared.opts.endpoint {
            Ok(e) => e.clone(),
            Err(e) => return Exit::Fatal(e.clone()),
        };
        loop {
            let mut drain = match self.check(false) {
                Check::Run => None,
                Check::Drain(d) => Some(d),
                Check::Exit(e) => return e,
            };
            if self.failures > 0 {
                let at = deadline_after(Instant::now(), self.backoff_delay());
                shared.set_state(State::Backoff, Some(at));
                let sleep = tokio::time::sleep_until(at.into());
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        () = &mut sleep => break,
                        () = interrupt(&shared.stop, drain) => match self.check(false) {
                            Check::Run => {}
                            Check::Drain(d) => drain = Some(d),
                            Check::Exit(e) => return e,
                        },
                    }
                }
            }
            shared.set_state(State::Connecting, None);
            shared.attempts.fetch_add(1, Ordering::Relaxed);
            if let Some(m) = shared.metrics.get() {
                m.attempts.increment(1);
            }
            let attempt = tokio::time::timeout(
                shared.opts.connect_timeout,
                Connection::connect(&endpoint, shared.opts.framing, &shared.opts.name),
            );
            tokio::pin!(attempt);
            // A stop request does not abandon an attempt that may be about to succeed
            // (close wants the queue delivered); only a stop that says "exit now" does.
            let result = loop {
                tokio::select! {
                    r = &mut attempt => break r,
                    () = interrupt(&shared.stop, drain) => match self.check(false) {
                        Check::Run => {}
                        Check::Drain(d) => drain = Some(d),
                        Check::Exit(e) => return e,
                    },
                }
            };
            let mut conn = match result {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) if e.class() == ErrorClass::Fatal => return Exit::Fatal(e),
                Ok(Err(e)) => {
                    self.failures += 1;
                    shared.record_error(&e, self.failures == 1);
                    continue;
                }
                Err(_) => {
                    let e = TransportError::new(
                        ErrorClass::Retryable,
                        std::io::ErrorKind::TimedOut,
                        format!("connect to {} timed out", shared.opts.endpoint_text),
                    );
                    self.failures += 1;
                    shared.record_error(&e, self.failures == 1);
                    continue;
                }
            };
            self.confirming = conn.confirms();
            self.ledger = Ledger::default();
            if let Some(limit) = conn.max_payload() {
                shared.payload_limit.store(limit, Ordering::Relaxed);
            }
            {
                let mut p = lock(&shared.pending);
                p.inline = conn.inline();
                p.generation += 1;
            }
            shared.set_state(State::Connected, None);
            let up = Instant::now();
            let served = self.serve(&mut conn).await;
            self.detach_inline();
            // A confirmation that arrived meanwhile still counts.
            if self.confirming && conn.poll_confirmed() {
                self.confirmed();
            }
            match served {
                Ok(exit) => {
                    if self.written == 0 && !self.confirming {
                        conn.shutdown().await;
                    }
                    return exit;
                }
                Err(e) => {
                    self.connection_failed();
                    let stable = STABLE_AFTER.max(shared.opts.backoff_max);
                    if up.elapsed() >= stable {
                        self.failures = 0;
                    } else {
                        self.failures += 1;
                    }
                    shared.record_error(&e, true);
                    if e.class() == ErrorClass::Fatal {
                        return Exit::Fatal(e);
                    }
                }
            }
        }
    }

    /// Writes frames while connected. `Ok` means stop; `Err` means the connection failed.
    async fn serve(&mut self, conn: &mut Connection) -> Result<Exit, TransportError> {
        let shared = Arc::clone(&self.shared);
        // Armed while idle with spare buffer capacity (see `give_back`), once per
        // period: it is polled once when armed (so it wakes the task when it fires),
        // and an idle wait only looks whether it has fired, so a busy sink pays one
        // load per idle wait for it.
        let give_back = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(give_back);
        let mut give_back_armed = false;
        loop {
            let drain = match self.check(true) {
                Check::Run => None,
                Check::Drain(d) => Some(d),
                Check::Exit(e) => return Ok(e),
            };
            if self.batch.is_empty() {
                self.take_pending();
            }
            if self.batch.is_empty() {
                if self.ask_confirmation(conn, drain).await? {
                    // Interrupted: look at the stop state before waiting.
                    continue;
                }
                if !give_back_armed && self.holds_spare() {
                    give_back_armed = true;
                    self.peak = 0;
                    let at = tokio::time::Instant::now() + IDLE_SHRINK_AFTER;
                    give_back.as_mut().reset(at);
                    std::future::poll_fn(|cx| {
                        let _ = give_back.as_mut().poll(cx);
                        std::task::Poll::Ready(())
                    })
                    .await;
                }
                tokio::select! {
                    biased;
                    () = interrupt(&shared.stop, drain) => {}
                    () = shared.wake_writer.notified() => {
                        // Woken by a burst (sparse frames are written by their senders)
                        // or by a sender's first hand-over to a confirming transport:
                        // let it grow for one scheduling round, so one write carries
                        // many frames.
                        tokio::task::yield_now().await;
                    }
                    r = conn.watch() => {
                        r?;
                        self.confirmed();
                    }
                    () = std::future::poll_fn(|_| {
                        if give_back_armed && give_back.is_elapsed() {
                            std::task::Poll::Ready(())
                        } else {
                            std::task::Poll::Pending
                        }
                    }) => {
                        give_back_armed = false;
                        self.give_back();
                    }
                }
                continue;
            }
            let wrote = conn
                .write_batch(
                    &self.batch,
                    &mut self.written,
                    interrupt(&shared.stop, drain),
                )
                .await;
            let (frames, bytes) = conn.take_dropped();
            self.batch_dropped.0 += frames;
            self.batch_dropped.1 += bytes;
            match wrote {
                Ok(()) => {
                    self.batch_written();
                    if self.confirming {
                        if conn.poll_confirmed() {
                            self.confirmed();
                        }
                        // Interrupted or not, the loop looks at the stop state next.
                        self.ask_confirmation(conn, drain).await?;
                    }
                    // One scheduling round between writes lets the next batch grow
                    // while a fast sender is still running.
                    tokio::task::yield_now().await;
                }
                Err(WriteStop::Interrupted) => {}
                Err(WriteStop::Failed(e)) => return Err(e),
            }
        }
    }

    /// Confirming transports: asks for a confirmation of everything taken so far,
    /// unless one is already on its way. `Ok(true)`: a stop (or the drain deadline)
    /// interrupted the request, and the caller must look at the stop state again
    /// before it waits (the stop's wake-up was used up here).
    async fn ask_confirmation(
        &mut self,
        conn: &mut Connection,
        drain: Option<Instant>,
    ) -> Result<bool, TransportError> {
        if !self.confirming || self.ledger.requested.is_some() || self.ledger.unconfirmed() == 0 {
            return Ok(false);
        }
        let shared = Arc::clone(&self.shared);
        tokio::select! {
            biased;
            () = interrupt(&shared.stop, drain) => Ok(true),
            r = conn.request_confirmation() => {
                r?;
                self.ledger.requested = Some(self.ledger.taken);
                Ok(false)
            }
        }
    }

    /// The requested confirmation arrived: what it covers counts as sent.
    fn confirmed(&mut self) {
        let Some(upto) = self.ledger.requested.take() else {
            return;
        };
        let frames = upto.0 - self.ledger.confirmed.0;
        let bytes = upto.1 - self.ledger.confirmed.1;
        self.ledger.confirmed = upto;
        self.show_in_flight();
        self.settle_in_doubt(count(frames));
        self.count_sent(count(frames), count(bytes));
    }

    /// Frames taken by a confirming transport were confirmed or counted lost: they
    /// no longer take room in the queue.
    fn settle_in_doubt(&self, frames: usize) {
        if frames == 0 {
            return;
        }
        let wake = {
            let mut p = lock(&self.shared.pending);
            p.in_doubt -= frames;
            p.space_waiters > 0
        };
        if wake {
            self.shared.space.notify_waiters();
        }
    }

    /// Moves senders' direct hand-overs into the ledger (with the `pending` lock held).
    fn collect(&mut self, p: &mut Pending) {
        self.ledger.taken.0 += std::mem::take(&mut p.handed_frames);
        self.ledger.taken.1 += std::mem::take(&mut p.handed_bytes);
    }

    fn take_pending(&mut self) {
        debug_assert!(self.batch.is_empty());
        let shared = Arc::clone(&self.shared);
        let (frames, wake) = {
            let mut p = lock(&shared.pending);
            // While a confirmation is on its way, hand-overs wait uncollected: the
            // sender's wake-up comes on the first hand-over after a collection, so
            // the task wakes about once per confirmation, not once per frame.
            if self.ledger.requested.is_none() || p.frames > 0 {
                self.collect(&mut p);
            }
            if p.frames == 0 {
                p.writer_idle = true;
                p.last_write = Instant::now();
                self.queue_capacity = p.buf.capacity();
                drop(p);
                self.show_in_flight();
                return;
            }
            p.writer_idle = false;
            if let Some(inline) = p.inline.as_mut() {
                inline.reset_credit();
            }
            std::mem::swap(&mut p.buf, &mut self.batch);
            self.written = std::mem::take(&mut p.head_written);
            (std::mem::take(&mut p.frames), p.space_waiters > 0)
        };
        self.batch_frames = frames;
        self.peak = self.peak.max(self.batch.len());
        self.show_in_flight();
        if wake {
            self.shared.space.notify_waiters();
        }
    }

    /// Whether the buffers hold far more capacity than an idle sink keeps.
    fn holds_spare(&self) -> bool {
        self.batch.capacity().max(self.queue_capacity) > 4 * SHRINK_FLOOR
    }

    /// The give-back timer fired: if the task took no batch since it was armed (the
    /// sink was idle the whole period), both buffers shrink to [`SHRINK_FLOOR`], so
    /// a burst's memory is not kept by an idle sink. A sink that streams keeps its
    /// buffers (no reallocation while frames flow).
    fn give_back(&mut self) {
        if self.peak > 0 {
            return;
        }
        if self.batch.capacity() > 4 * SHRINK_FLOOR.max(self.batch.len()) {
            self.batch.shrink_to(SHRINK_FLOOR);
        }
        let mut p = lock(&self.shared.pending);
        if p.buf.capacity() > 4 * SHRINK_FLOOR.max(p.buf.len()) {
            p.buf.shrink_to(SHRINK_FLOOR);
        }
        self.queue_capacity = p.buf.capacity();
    }

    /// Takes the connection away from senders before the task leaves it, and collects
    /// their last hand-overs.
    fn detach_inline(&mut self) {
        let shared = Arc::clone(&self.shared);
        let mut p = lock(&shared.pending);
        p.inline = None;
        p.writer_idle = false;
        p.head_written = 0;
        self.collect(&mut p);
    }

    /// Frames held by the task: the batch, and frames taken but not yet confirmed.
    fn show_in_flight(&self) {
        let held = self.batch_frames + count(self.ledger.unconfirmed());
        self.shared.in_flight.store(held, Ordering::Relaxed);
    }

    fn count_sent(&self, frames: usize, bytes: usize) {
        self.shared.count_sent(frames, bytes);
    }

    /// Frames the transport took: sent for sockets, awaiting confirmation otherwise.
    fn taken(&mut self, frames: usize, bytes: usize) {
        if self.confirming {
            self.ledger.taken.0 += frames as u64;
            self.ledger.taken.1 += bytes as u64;
            lock(&self.shared.pending).in_doubt += frames;
        } else {
            self.count_sent(frames, bytes);
        }
    }

    fn batch_written(&mut self) {
        let (frames, bytes) = (self.batch_frames, self.batch.len());
        self.batch.clear();
        self.batch_frames = 0;
        self.written = 0;
        let dropped = self.settle_dropped();
        self.taken(frames - dropped.0, bytes - dropped.1);
        self.show_in_flight();
    }

    /// Counts the frames the transport skipped as too large (lost, `too_large`) and
    /// returns them, to be left out of what it took.
    fn settle_dropped(&mut self) -> (usize, usize) {
        let dropped = std::mem::take(&mut self.batch_dropped);
        self.shared.count_lost(LostReason::TooLarge, dropped.0);
        dropped
    }

    /// After a failed connection (or at a stop): the frames taken whole by the
    /// transport count as sent (sockets) or unconfirmed (NATS); the torn frame and
    /// everything after it stay in the batch, to be written from their first byte on
    /// the next connection. Frames a confirming transport took and never confirmed are
    /// counted lost (`unconfirmed`) and never handed on again.
    fn connection_failed(&mut self) {
        let (frames, bytes) = self
            .shared
            .opts
            .framing
            .whole_frames(&self.batch, self.written);
        let dropped = self.settle_dropped();
        if frames > 0 {
            self.batch.drain(..bytes);
            self.batch_frames -= frames;
            self.taken(frames - dropped.0, bytes - dropped.1);
        }
        self.written = 0;
        let unconfirmed = count(self.ledger.unconfirmed());
        self.ledger = Ledger::default();
        self.confirming = false;
        self.show_in_flight();
        self.settle_in_doubt(unconfirmed);
        self.shared.count_lost(LostReason::Unconfirmed, unconfirmed);
    }

    fn finish(&mut self, exit: Exit) {
        self.finished = true;
        self.detach_inline();
        // Frames the kernel took whole before the stop count as sent; a frame cut off
        // at the linger deadline counts as not delivered.
        self.connection_failed();
        let shared = &self.shared;
        let reason = match exit {
            Exit::Stopped(reason) => reason,
            Exit::Fatal(e) => {
                let _ = shared.fatal.set(e.clone());
                shared.record_error(&e, true);
                LostReason::Fatal
            }
        };
        shared.closed.store(true, Ordering::SeqCst);
        let held = self.batch_frames;
        self.batch.clear();
        self.batch_frames = 0;
        shared.in_flight.store(0, Ordering::Relaxed);
        shared.count_lost(reason, held);
        shared.lose_pending(reason);
        let state = if matches!(reason, LostReason::Fatal) {
            State::Failed
        } else {
            State::Closed
        };
        shared.set_state(state, None);
    }
}

/// A frame or byte count as `usize` (counts of frames held in memory always fit).
fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.detach_inline();
        if !self.finished {
            // The runtime dropped this task mid-flight: frames taken whole are settled
            // as at a failed connection, and the unwritten frames go back in front of
            // the queue, so the next task (started by the next send) writes them first
            // (the queue may hold up to one batch more than `queue` until then).
            self.connection_failed();
            if !self.batch.is_empty() {
                let mut p = lock(&self.shared.pending);
                if p.closed {
                    // No next task will come (a close already settled the queue):
                    // the batch is lost.
                    drop(p);
                    let reason = match self.shared.stop_mode.load(Ordering::SeqCst) {
                        DROPPED => LostReason::Dropped,
                        _ => LostReason::Closed,
                    };
                    self.batch.clear();
                    self.shared
                        .count_lost(reason, std::mem::take(&mut self.batch_frames));
                } else {
                    let mut restored = std::mem::take(&mut self.batch);
                    restored.extend_from_slice(&p.buf);
                    p.buf = restored;
                    p.frames += std::mem::take(&mut self.batch_frames);
                }
            }
            self.shared.in_flight.store(0, Ordering::Relaxed);
        }
        if !self.finished {
            let state = if self.shared.closed.load(Ordering::SeqCst) {
                State::Closed
            } else {
                State::Idle
            };
            if self.shared.state() != state {
                self.shared.set_state(state, None);
            }
        }
        self.shared.running.store(false, Ordering::SeqCst);
        self.shared.notify_progress();
    }
}
