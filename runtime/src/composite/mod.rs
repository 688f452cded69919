//! Composite sinks: one message to several sibling sinks.
//!
//! * **broadcast**: every member is offered the frame without waiting; a slow or dead
//!   member (full queue) stalls no other member. The [`Delivery`] says how many took
//!   it, and how many of those only queued it because they were not connected.
//! * **round_robin**: members take frames in turn, skipping members that are not
//!   *ready* (connected with room in the queue). When no member is ready (for example
//!   before any has connected), the frame waits in the next member's queue in turn,
//!   as it would in a single sink.
//! * **failover**: ordered. Frames go to the *active* member while it is connected
//!   (sticky); when it is not, the first connected member in order becomes active.
//!   The sink fails back to an earlier member once that member has stayed connected
//!   for [`failback_after`](CompositeSink::set_failback_after) (1 s by default).
//!   When no member is connected, `send` first waits (up to `send_timeout`) while a
//!   member's first connect attempt is under way, and frames then wait in the queue
//!   of the first member not known to be down (the active one if all are): a
//!   member whose peer is absent from the start does not keep the first frames while
//!   a healthy backup connects. Frames a member queued before it went down stay with
//!   it (they keep its framing and sequence numbers); they go out if it reconnects
//!   before it is closed and count as lost otherwise. `try_send` cannot wait: before
//!   any member has connected it queues at the preferred member.
//!
//! [`CompositeSink::close`] closes every sink under the composite at once and returns
//! the frames they did not deliver, each sink counted once;
//! [`CompositeSink::status`] sums their counters and says which members are
//! connected.
//!
//! The message is encoded once; members frame the encoded payload with their own
//! framing. A composite starts all its members' connections on its first use, so
//! round robin and failover know which members are up.
//!
//! # Examples
//!
//! ```no_run
//! use sinkgen_runtime::{Bytes, CompositeSink, Member, RelaySink};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let a: RelaySink<Bytes> = RelaySink::new("unix:///tmp/torq/a.sock")?;
//! let b: RelaySink<Bytes> = RelaySink::new("tcp://127.0.0.1:7000")?;
//! let audit = CompositeSink::broadcast("audit", vec![Member::from(&a), Member::from(&b)]);
//! let delivery = audit.send(Bytes::from_static(b"fill")).await?;
//! println!("{} of {} members took the frame", delivery.accepted, delivery.members);
//! # Ok(())
//! # }
//! ```

mod route;

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use route::{Closing, Encoded, Inner, Node, SCRATCH, join_sum, wait_until};

use bytes::Bytes;

use crate::codec::{Encoder, Raw};
use crate::connection::{Reject, Shared};
use crate::error::{SendAllError, SendError, SendErrorKind, WaitError};
use crate::sink::{DirectSink, RelaySink};
use crate::status::{CompositeStatus, Lost, Status};

/// How a composite spreads frames over its members (defined with the status that
/// shows it).
pub use crate::status::Mode;

/// One member of a composite: a handle to a sibling sink (it shares that sink's queue
/// and connection).
pub enum Member<M, C = Raw> {
    /// A relay sink.
    Relay(RelaySink<M, C>),
    /// A direct sink.
    Direct(DirectSink<M, C>),
    /// A nested composite.
    Composite(CompositeSink<M, C>),
}

/// Shows the member's kind and its sink (no bound on `M`: members hold no message).
///
/// ```
/// use sinkgen_runtime::{Bytes, Member, RelaySink, SinkBuilder};
///
/// let sink: RelaySink<Bytes> = SinkBuilder::new("unix:///tmp/q.sock").name("quotes").relay()?;
/// let shown = format!("{:?}", Member::from(&sink));
/// assert!(shown.starts_with("Relay(RelaySink { sink: \"quotes\""), "{shown}");
/// # Ok::<(), sinkgen_runtime::BuildError>(())
/// ```
impl<M, C> std::fmt::Debug for Member<M, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Member::Relay(s) => f.debug_tuple("Relay").field(s).finish(),
            Member::Direct(s) => f.debug_tuple("Direct").field(s).finish(),
            Member::Composite(s) => f.debug_tuple("Composite").field(s).finish(),
        }
    }
}

impl<M, C> From<RelaySink<M, C>> for Member<M, C> {
    fn from(s: RelaySink<M, C>) -> Self {
        Member::Relay(s)
    }
}
impl<M, C> From<&RelaySink<M, C>> for Member<M, C> {
    fn from(s: &RelaySink<M, C>) -> Self {
        Member::Relay(s.clone())
    }
}
impl<M, C> From<DirectSink<M, C>> for Member<M, C> {
    fn from(s: DirectSink<M, C>) -> Self {
        Member::Direct(s)
    }
}
impl<M, C> From<&DirectSink<M, C>> for Member<M, C> {
    fn from(s: &DirectSink<M, C>) -> Self {
        Member::Direct(s.clone())
    }
}
impl<M, C> From<CompositeSink<M, C>> for Member<M, C> {
    fn from(s: CompositeSink<M, C>) -> Self {
        Member::Composite(s)
    }
}
impl<M, C> From<&CompositeSink<M, C>> for Member<M, C> {
    fn from(s: &CompositeSink<M, C>) -> Self {
        Member::Composite(s.clone())
    }
}

/// What happened to one frame sent through a composite.
///
/// A member that takes a frame while connected has it on its way; a member that takes
/// it while not connected keeps it in its queue until it connects, and counts it lost
/// if it never does before it is closed. `queued` tells the two apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Members that took the frame (1 for round robin and failover), connected or not.
    pub accepted: usize,
    /// Of those, members that were not connected: the frame waits in their queue for
    /// a connection.
    pub queued: usize,
    /// Members of the composite.
    pub members: usize,
    /// Index of the first member that took the frame while connected, else of the
    /// first member that queued it.
    pub member: usize,
}

impl Delivery {
    /// Members that took the frame while connected (`accepted - queued`).
    #[must_use]
    pub fn connected(&self) -> usize {
        self.accepted - self.queued
    }
}

/// A sink that spreads each message over sibling sinks (broadcast, round robin or
/// failover). A cheap `Clone` handle; see the [module docs](self).
pub struct CompositeSink<M, C = Raw> {
    inner: Arc<Inner>,
    _message: PhantomData<fn(M, C)>,
}

impl<M, C> Clone for CompositeSink<M, C> {
    fn clone(&self) -> Self {
        CompositeSink {
            inner: Arc::clone(&self.inner),
            _message: PhantomData,
        }
    }
}

impl<M, C> std::fmt::Debug for CompositeSink<M, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompositeSink")
            .field("sink", &&*self.inner.name)
            .field("mode", &self.inner.mode)
            .field("members", &self.inner.members.len())
            .finish()
    }
}

impl<M, C: Encoder<M>> CompositeSink<M, C> {
    /// A composite over `members` spreading frames by `mode`. No I/O happens here.
    pub fn new(name: &str, mode: Mode, members: Vec<Member<M, C>>) -> Self {
        let members = members
            .into_iter()
            .map(|m| match m {
                Member::Relay(s) => Node::Leaf(Arc::clone(&s.handle)),
                Member::Direct(s) => Node::Leaf(Arc::clone(&s.handle)),
                Member::Composite(s) => Node::Composite(Arc::clone(&s.inner)),
            })
            .collect();
        CompositeSink {
            inner: Arc::new(Inner {
                name: Arc::from(name),
                mode,
                members,
                cursor: AtomicUsize::new(0),
                active: AtomicUsize::new(0),
                failback_nanos: AtomicU64::new(1_000_000_000),
            }),
            _message: PhantomData,
        }
    }

    /// A broadcast composite.
    pub fn broadcast(name: &str, members: Vec<Member<M, C>>) -> Self {
        Self::new(name, Mode::Broadcast, members)
    }

    /// A round-robin composite.
    pub fn round_robin(name: &str, members: Vec<Member<M, C>>) -> Self {
        Self::new(name, Mode::RoundRobin, members)
    }

    /// A failover composite (members in order of preference).
    pub fn failover(name: &str, members: Vec<Member<M, C>>) -> Self {
        Self::new(name, Mode::Failover, members)
    }

    /// How long an earlier failover member must stay connected before frames fail back
    /// to it (default 1 s). Applies to every handle of this composite.
    pub fn set_failback_after(&self, after: Duration) {
        let nanos = u64::try_from(after.as_nanos()).unwrap_or(u64::MAX);
        self.inner.failback_nanos.store(nanos, Ordering::Relaxed);
    }

    /// Offers `msg` to the members without waiting.
    ///
    /// # Errors
    ///
    /// The message comes back inside [`SendError`] when no member took it (`Full`,
    /// or the last member's reason).
    pub fn try_send(&self, msg: M) -> Result<Delivery, SendError<M>> {
        self.start();
        let members = self.inner.members.len();
        let r = SCRATCH.with(|cell| {
            let mut buf = cell.borrow_mut();
            buf.clear();
            C::encode(&msg, &mut *buf);
            self.inner.try_offer(&Encoded(&buf))
        });
        match r {
            Ok((took, member)) => Ok(Delivery {
                accepted: took.leaves,
                queued: took.leaves - took.connected,
                members,
                member,
            }),
            Err(Reject { kind, cause }) => Err(SendError::new(kind, cause, msg)),
        }
    }

    /// Sends many messages through the composite, in order, each as
    /// [`send`](Self::send) would (a composite picks members per message, so each
    /// message locks the queues of the members it goes to), stopping at the first
    /// message no member took. Returns how many were sent: all of them.
    ///
    /// # Errors
    ///
    /// [`SendAllError`] with the number sent, why the next message was not, and the
    /// messages not sent, in order, starting with that one (the rest of `msgs` is
    /// drained into a `Vec`: give it a finite iterator).
    ///
    /// # Cancel safety
    ///
    /// As `send`, per message: the messages sent before stay sent.
    pub async fn send_all<I>(&self, msgs: I) -> Result<usize, SendAllError<M>>
    where
        I: IntoIterator<Item = M>,
    {
        let mut msgs = msgs.into_iter();
        let mut sent = 0;
        while let Some(msg) = msgs.next() {
            if let Err(e) = self.send(msg).await {
                let (kind, cause) = (e.kind(), e.cause().cloned());
                let rest = std::iter::once(e.into_message()).chain(msgs).collect();
                return Err(SendAllError::new(sent, kind, cause, rest));
            }
            sent += 1;
        }
        Ok(sent)
    }

    /// Sends `msg` through the composite.
    ///
    /// Broadcast never waits: it reports how many members took the frame, and how many
    /// of them only queued it (not connected). Round robin and failover take the fast
    /// path when a member has room; otherwise they wait, up to that member's
    /// `send_timeout`, for room in the member chosen (the next in turn, or the active
    /// one). Failover first waits, within the same bound, while no member is connected
    /// and some member's first connect attempt is under way, so that the first frames
    /// go to a member that connects rather than wait in the queue of one that does not.
    ///
    /// # Errors
    ///
    /// The message comes back inside [`SendError`] when no member took it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`RelaySink::send`]: a cancelled send has queued nothing.
    pub async fn send(&self, msg: M) -> Result<Delivery, SendError<M>> {
        if self.inner.mode == Mode::Failover {
            self.wait_for_first_attempts().await;
        }
        let msg = match self.try_send(msg) {
            Ok(d) => return Ok(d),
            Err(e) if self.inner.mode == Mode::Broadcast || e.kind() != SendErrorKind::Full => {
                return Err(e);
            }
            Err(e) => e.into_message(),
        };
        let Some(target) = self.inner.wait_target().cloned() else {
            return Err(SendError::new(SendErrorKind::Full, None, msg));
        };
        let mut payload = Vec::with_capacity(C::encoded_len(&msg));
        C::encode(&msg, &mut payload);
        let payload = Bytes::from(payload);
        let connected = target.connected_for().is_some();
        match target.enqueue(&payload).await {
            Ok(()) => {
                let members = self.inner.members.len();
                let member = self
                    .inner
                    .members
                    .iter()
                    .position(|m| {
                        let mut v = Vec::new();
                        m.leaves(&mut v);
                        v.iter().any(|s| Arc::ptr_eq(s, &target))
                    })
                    .unwrap_or(0);
                Ok(Delivery {
                    accepted: 1,
                    queued: usize::from(!connected),
                    members,
                    member,
                })
            }
            Err(Reject { kind, cause }) => Err(SendError::new(kind, cause, msg)),
        }
    }

    /// Starts every member's connection (done by the first send as well).
    pub fn start(&self) {
        self.inner.members.iter().for_each(Node::start);
    }

    /// Starts every member and waits until at least one is connected.
    ///
    /// # Errors
    ///
    /// [`WaitError::Timeout`] at the deadline.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only waits.
    pub async fn wait_connected(&self, deadline: Instant) -> Result<(), WaitError> {
        self.start();
        let any = || self.inner.members.iter().any(Node::connected);
        if wait_until(deadline, any).await {
            Ok(())
        } else {
            Err(WaitError::Timeout)
        }
    }

    /// While no member is connected and some member's first connect attempt is still
    /// under way, waits (up to the active member's `send_timeout`) for the outcome.
    async fn wait_for_first_attempts(&self) {
        let members = &self.inner.members;
        if members.iter().any(Node::connected) {
            return;
        }
        self.start();
        let Some(timeout) = self.inner.wait_target().map(|t| t.opts.send_timeout) else {
            return;
        };
        let now = Instant::now();
        let deadline = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365));
        wait_until(deadline, || {
            members.iter().any(Node::connected) || !members.iter().any(Node::first_attempt_pending)
        })
        .await;
    }

    /// Flushes every member (see [`RelaySink::flush`]).
    ///
    /// # Errors
    ///
    /// The first member error.
    pub async fn flush(&self) -> Result<(), WaitError> {
        let mut leaves = Vec::new();
        self.inner
            .members
            .iter()
            .for_each(|m| m.leaves(&mut leaves));
        let mut result = Ok(());
        for leaf in leaves {
            if let Err(e) = leaf.flush().await {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// Status of every leaf sink under this composite, in member order.
    #[must_use]
    pub fn member_status(&self) -> Vec<Status> {
        let mut leaves = Vec::new();
        self.inner
            .members
            .iter()
            .for_each(|m| m.leaves(&mut leaves));
        leaves.iter().map(|s| s.status()).collect()
    }

    /// The distinct leaf sinks under this composite, in member order (a sink that is a
    /// member twice, directly or through nested composites, is listed once).
    fn distinct_leaves(&self) -> Vec<&Arc<Shared>> {
        let mut leaves = Vec::new();
        self.inner
            .members
            .iter()
            .for_each(|m| m.leaves(&mut leaves));
        let mut distinct: Vec<&Arc<Shared>> = Vec::with_capacity(leaves.len());
        for leaf in leaves {
            if !distinct.iter().any(|d| Arc::ptr_eq(d, leaf)) {
                distinct.push(leaf);
            }
        }
        distinct
    }

    /// Closes every sink under this composite (see [`RelaySink::close`]), all at once,
    /// each with its own `send_timeout` as the linger. Returns the frames they did not
    /// deliver, each sink counted once however often it is a member; a sink closed
    /// before (through another composite or its own handle) adds nothing.
    ///
    /// # Cancel safety
    ///
    /// The sinks are closed at the first poll; cancelling only stops waiting.
    pub async fn close(&self) -> u64 {
        self.close_leaves(None).await
    }

    /// [`close`](Self::close) with one explicit linger for every sink.
    pub async fn close_with_linger(&self, linger: Duration) -> u64 {
        self.close_leaves(Some(linger)).await
    }

    async fn close_leaves(&self, linger: Option<Duration>) -> u64 {
        let closes: Vec<Closing<'_>> = self
            .distinct_leaves()
            .into_iter()
            .map(|leaf| {
                let linger = linger.unwrap_or(leaf.opts.send_timeout);
                Box::pin(leaf.close(linger)) as Closing<'_>
            })
            .collect();
        join_sum(closes).await
    }

    /// A snapshot of the composite: which members are connected, which one failover
    /// uses, and the counters of its distinct sinks summed.
    #[must_use]
    pub fn status(&self) -> CompositeStatus {
        let inner = &self.inner;
        let leaves: Vec<Status> = self.distinct_leaves().iter().map(|s| s.status()).collect();
        let mut lost = Lost::default();
        for l in &leaves {
            lost.closed += l.lost.closed;
            lost.dropped += l.lost.dropped;
            lost.fatal += l.lost.fatal;
            lost.unconfirmed += l.lost.unconfirmed;
            lost.too_large += l.lost.too_large;
        }
        let n = inner.members.len();
        CompositeStatus {
            sink: inner.name.to_string(),
            mode: inner.mode,
            members: n,
            connected: inner.members.iter().map(Node::connected).collect(),
            active: (inner.mode == Mode::Failover && n > 0)
                .then(|| inner.active.load(Ordering::Acquire).min(n - 1)),
            queue_depth: leaves.iter().map(|l| l.queue_depth).sum(),
            frames_sent: leaves.iter().map(|l| l.frames_sent).sum(),
            lost,
            health: CompositeStatus::grade(&leaves),
            last_sent: leaves.iter().filter_map(|l| l.last_sent).max(),
            leaves,
        }
    }

    /// The composite's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// How it spreads frames.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }
}
