//! Composite sinks: one message to several sibling sinks.
//!
//! * **broadcast**: every member is offered the frame without waiting; a slow or dead
//!   member (full queue) stalls no other member. The [`Delivery`] says how many took it.
//! * **round_robin**: members take frames in turn, skipping members that are not
//!   *ready* (connected with room in the queue). When no member is ready (for example
//!   before any has connected), the frame waits in the next member's queue in turn,
//!   as it would in a single sink.
//! * **failover**: ordered. Frames go to the *active* member while it is connected
//!   (sticky); when it is not, the first connected member in order becomes active.
//!   The sink fails back to an earlier member once that member has stayed connected
//!   for [`failback_after`](CompositeSink::set_failback_after) (1 s by default).
//!   When no member is connected, frames wait in the active member's queue.
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

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::connection::{Msg, Reject, Shared};
use crate::encode::Encode;
use crate::error::{SendError, SendErrorKind, WaitError};
use crate::sink::{DirectSink, Handle, RelaySink};
use crate::status::Status;

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

/// One member of a composite: a handle to a sibling sink (it shares that sink's queue
/// and connection).
pub enum Member<M> {
    /// A relay sink.
    Relay(RelaySink<M>),
    /// A direct sink.
    Direct(DirectSink<M>),
    /// A nested composite.
    Composite(CompositeSink<M>),
}

impl<M> From<RelaySink<M>> for Member<M> {
    fn from(s: RelaySink<M>) -> Self {
        Member::Relay(s)
    }
}
impl<M> From<&RelaySink<M>> for Member<M> {
    fn from(s: &RelaySink<M>) -> Self {
        Member::Relay(s.clone())
    }
}
impl<M> From<DirectSink<M>> for Member<M> {
    fn from(s: DirectSink<M>) -> Self {
        Member::Direct(s)
    }
}
impl<M> From<&DirectSink<M>> for Member<M> {
    fn from(s: &DirectSink<M>) -> Self {
        Member::Direct(s.clone())
    }
}
impl<M> From<CompositeSink<M>> for Member<M> {
    fn from(s: CompositeSink<M>) -> Self {
        Member::Composite(s)
    }
}
impl<M> From<&CompositeSink<M>> for Member<M> {
    fn from(s: &CompositeSink<M>) -> Self {
        Member::Composite(s.clone())
    }
}

/// What happened to one frame sent through a composite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Members that took the frame (1 for round robin and failover).
    pub accepted: usize,
    /// Members of the composite.
    pub members: usize,
    /// Index of the first member that took the frame.
    pub member: usize,
}

enum Node {
    Leaf(Arc<Handle>),
    Composite(Arc<Inner>),
}

struct Inner {
    name: Arc<str>,
    mode: Mode,
    members: Vec<Node>,
    cursor: AtomicUsize,
    active: AtomicUsize,
    failback_nanos: AtomicU64,
}

/// A payload already encoded once, framed again by each member.
struct Encoded<'a>(&'a [u8]);

impl Encode for Encoded<'_> {
    fn encoded_len(&self) -> usize {
        self.0.len()
    }
    fn encode<B: bytes::BufMut>(&self, buf: &mut B) {
        buf.put_slice(self.0);
    }
}

thread_local! {
    /// Reused encode buffer, so sending through a composite allocates nothing per frame.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Node {
    fn start(&self) {
        match self {
            Node::Leaf(h) => {
                let _ = h.shared.ensure_started();
            }
            Node::Composite(c) => c.members.iter().for_each(Node::start),
        }
    }

    /// How long the member has been connected (the longest of a composite's members).
    fn connected_for(&self) -> Option<Duration> {
        match self {
            Node::Leaf(h) => h.shared.connected_for(),
            Node::Composite(c) => c.members.iter().filter_map(Node::connected_for).max(),
        }
    }

    fn ready(&self) -> bool {
        match self {
            Node::Leaf(h) => h.shared.ready(),
            Node::Composite(c) => c.members.iter().any(Node::ready),
        }
    }

    /// Offers the payload without waiting; returns how many leaves took it.
    fn try_offer(&self, payload: &Encoded<'_>) -> Result<usize, Reject> {
        match self {
            Node::Leaf(h) => h.shared.try_enqueue(Msg::Shared(payload)).map(|()| 1),
            Node::Composite(c) => c.try_offer(payload).map(|(n, _)| n),
        }
    }

    /// The leaf a waiting send should wait on.
    fn wait_target(&self) -> Option<&Arc<Shared>> {
        match self {
            Node::Leaf(h) => Some(&h.shared),
            Node::Composite(c) => c.wait_target(),
        }
    }

    fn leaves<'a>(&'a self, out: &mut Vec<&'a Arc<Shared>>) {
        match self {
            Node::Leaf(h) => out.push(&h.shared),
            Node::Composite(c) => c.members.iter().for_each(|m| m.leaves(out)),
        }
    }
}

impl Inner {
    fn failback_after(&self) -> Duration {
        Duration::from_nanos(self.failback_nanos.load(Ordering::Relaxed))
    }

    /// Picks the failover member: fail back to an earlier member healthy long enough,
    /// else stay on the active one while connected, else the first connected member.
    fn failover_pick(&self) -> usize {
        let n = self.members.len();
        let active = self.active.load(Ordering::Acquire).min(n.saturating_sub(1));
        let failback = self.failback_after();
        let mut pick = active;
        if let Some(i) = (0..active).find(|&i| {
            self.members[i]
                .connected_for()
                .is_some_and(|d| d >= failback)
        }) {
            pick = i;
        } else if self.members[active].connected_for().is_none()
            && let Some(i) = (0..n).find(|&i| self.members[i].connected_for().is_some())
        {
            pick = i;
        }
        if pick != active
            && self
                .active
                .compare_exchange(active, pick, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            tracing::info!(sink = %self.name, from = active, to = pick, "failover switched member");
        }
        pick
    }

    fn try_offer(&self, payload: &Encoded<'_>) -> Result<(usize, usize), Reject> {
        let n = self.members.len();
        if n == 0 {
            return Err(Reject {
                kind: SendErrorKind::Full,
                cause: None,
            });
        }
        let mut last = Reject {
            kind: SendErrorKind::Full,
            cause: None,
        };
        match self.mode {
            Mode::Broadcast => {
                let (mut accepted, mut first) = (0, None);
                for (i, m) in self.members.iter().enumerate() {
                    match m.try_offer(payload) {
                        Ok(k) => {
                            accepted += k.min(1);
                            first.get_or_insert(i);
                        }
                        Err(r) => last = r,
                    }
                }
                match first {
                    Some(i) => Ok((accepted, i)),
                    None => Err(last),
                }
            }
            Mode::RoundRobin => {
                // The cursor moves past the member that took the frame, so members
                // that are skipped (not ready) do not shift the turn of the others.
                let start = self.cursor.load(Ordering::Relaxed) % n;
                let order = (0..n).map(|k| (start + k) % n);
                let any_ready = self.members.iter().any(Node::ready);
                for i in order {
                    if any_ready && !self.members[i].ready() {
                        continue;
                    }
                    match self.members[i].try_offer(payload) {
                        Ok(_) => {
                            self.cursor.store(i + 1, Ordering::Relaxed);
                            return Ok((1, i));
                        }
                        Err(r) => last = r,
                    }
                }
                Err(last)
            }
            Mode::Failover => {
                let i = self.failover_pick();
                self.members[i].try_offer(payload).map(|_| (1, i))
            }
        }
    }

    fn wait_target(&self) -> Option<&Arc<Shared>> {
        let n = self.members.len();
        if n == 0 {
            return None;
        }
        match self.mode {
            Mode::Broadcast => None,
            Mode::RoundRobin => {
                let i = self.cursor.load(Ordering::Relaxed) % n;
                self.members[i].wait_target()
            }
            Mode::Failover => self.members[self.failover_pick()].wait_target(),
        }
    }
}

/// A sink that spreads each message over sibling sinks (broadcast, round robin or
/// failover). A cheap `Clone` handle; see the [module docs](self).
pub struct CompositeSink<M> {
    inner: Arc<Inner>,
    _message: PhantomData<fn(M)>,
}

impl<M> Clone for CompositeSink<M> {
    fn clone(&self) -> Self {
        CompositeSink {
            inner: Arc::clone(&self.inner),
            _message: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for CompositeSink<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompositeSink")
            .field("sink", &&*self.inner.name)
            .field("mode", &self.inner.mode)
            .field("members", &self.inner.members.len())
            .finish()
    }
}

impl<M: Encode> CompositeSink<M> {
    /// A composite over `members` spreading frames by `mode`. No I/O happens here.
    pub fn new(name: &str, mode: Mode, members: Vec<Member<M>>) -> Self {
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
    pub fn broadcast(name: &str, members: Vec<Member<M>>) -> Self {
        Self::new(name, Mode::Broadcast, members)
    }

    /// A round-robin composite.
    pub fn round_robin(name: &str, members: Vec<Member<M>>) -> Self {
        Self::new(name, Mode::RoundRobin, members)
    }

    /// A failover composite (members in order of preference).
    pub fn failover(name: &str, members: Vec<Member<M>>) -> Self {
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
            msg.encode(&mut *buf);
            self.inner.try_offer(&Encoded(&buf))
        });
        match r {
            Ok((accepted, member)) => Ok(Delivery {
                accepted,
                members,
                member,
            }),
            Err(Reject { kind, cause }) => Err(SendError::new(kind, cause, msg)),
        }
    }

    /// Sends `msg` through the composite.
    ///
    /// Broadcast never waits: it reports how many members took the frame. Round robin
    /// and failover take the fast path when a member has room; otherwise they wait, up
    /// to that member's `send_timeout`, for room in the member chosen (the next in turn,
    /// or the active one).
    ///
    /// # Errors
    ///
    /// The message comes back inside [`SendError`] when no member took it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, like [`RelaySink::send`]: a cancelled send has queued nothing.
    pub async fn send(&self, msg: M) -> Result<Delivery, SendError<M>> {
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
        let mut payload = Vec::with_capacity(msg.encoded_len());
        msg.encode(&mut payload);
        let payload = Bytes::from(payload);
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
        loop {
            if self
                .inner
                .members
                .iter()
                .any(|m| m.connected_for().is_some())
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(WaitError::Timeout);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
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
