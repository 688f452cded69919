//! How a composite routes a frame: the tree of members, the choice of member by mode,
//! and the helpers its waits and its close share.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use super::Mode;
use crate::connection::{Msg, Reject, Shared};
use crate::encode::Encode;
use crate::error::SendErrorKind;
use crate::sink::Handle;
use crate::status::State;

/// What one member did with an offered frame.
#[derive(Clone, Copy, Default)]
pub(super) struct Took {
    /// Leaves that took it.
    pub(super) leaves: usize,
    /// Of those, leaves that were connected.
    pub(super) connected: usize,
}

pub(super) enum Node {
    Leaf(Arc<Handle>),
    Composite(Arc<Inner>),
}

pub(super) struct Inner {
    pub(super) name: Arc<str>,
    pub(super) mode: Mode,
    pub(super) members: Vec<Node>,
    pub(super) cursor: AtomicUsize,
    pub(super) active: AtomicUsize,
    pub(super) failback_nanos: AtomicU64,
}

/// A payload already encoded once, framed again by each member.
pub(super) struct Encoded<'a>(pub(super) &'a [u8]);

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
    pub(super) static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Node {
    pub(super) fn start(&self) {
        match self {
            Node::Leaf(h) => {
                let _ = h.shared.ensure_started();
            }
            Node::Composite(c) => c.members.iter().for_each(Node::start),
        }
    }

    /// How long the member has been connected (the longest of a composite's members).
    pub(super) fn connected_for(&self) -> Option<Duration> {
        match self {
            Node::Leaf(h) => h.shared.connected_for(),
            Node::Composite(c) => c.members.iter().filter_map(Node::connected_for).max(),
        }
    }

    pub(super) fn connected(&self) -> bool {
        self.connected_for().is_some()
    }

    /// Whether the member may connect soon: connected, or its first connect attempt is
    /// still under way (none of its attempts failed yet).
    pub(super) fn hopeful(&self) -> bool {
        self.connected() || self.first_attempt_pending()
    }

    /// Whether the member's first connect attempts are still under way (nothing known
    /// yet about whether it will connect).
    pub(super) fn first_attempt_pending(&self) -> bool {
        match self {
            Node::Leaf(h) => {
                matches!(h.shared.state(), State::Idle | State::Connecting)
                    && h.shared.status().last_error.is_none()
            }
            Node::Composite(c) => c.members.iter().any(Node::first_attempt_pending),
        }
    }

    pub(super) fn ready(&self) -> bool {
        match self {
            Node::Leaf(h) => h.shared.ready(),
            Node::Composite(c) => c.members.iter().any(Node::ready),
        }
    }

    /// Offers the payload without waiting; says how many leaves took it, and how many
    /// of them were connected.
    pub(super) fn try_offer(&self, payload: &Encoded<'_>) -> Result<Took, Reject> {
        match self {
            Node::Leaf(h) => {
                let connected = h.shared.connected_for().is_some();
                h.shared.try_enqueue(Msg::Shared(payload))?;
                Ok(Took {
                    leaves: 1,
                    connected: usize::from(connected),
                })
            }
            Node::Composite(c) => c.try_offer(payload).map(|(took, _)| took),
        }
    }

    /// The leaf a waiting send should wait on.
    pub(super) fn wait_target(&self) -> Option<&Arc<Shared>> {
        match self {
            Node::Leaf(h) => Some(&h.shared),
            Node::Composite(c) => c.wait_target(),
        }
    }

    pub(super) fn leaves<'a>(&'a self, out: &mut Vec<&'a Arc<Shared>>) {
        match self {
            Node::Leaf(h) => out.push(&h.shared),
            Node::Composite(c) => c.members.iter().for_each(|m| m.leaves(out)),
        }
    }
}

impl Inner {
    pub(super) fn failback_after(&self) -> Duration {
        Duration::from_nanos(self.failback_nanos.load(Ordering::Relaxed))
    }

    /// Picks the failover member: fail back to an earlier member healthy long enough,
    /// else stay on the active one while connected, else the first connected member.
    pub(super) fn failover_pick(&self) -> usize {
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
        } else if !self.members[active].connected() {
            // A connected member, else (none connected) the first that may still
            // connect: frames must not wait on a member known to be down.
            if let Some(i) = (0..n).find(|&i| self.members[i].connected()) {
                pick = i;
            } else if !self.members[active].hopeful()
                && let Some(i) = (0..n).find(|&i| self.members[i].hopeful())
            {
                pick = i;
            }
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

    /// Offers the payload to the members by the mode, without waiting: what the
    /// members took ([`Took`] counts members here, not leaves) and the index of the
    /// member to report.
    pub(super) fn try_offer(&self, payload: &Encoded<'_>) -> Result<(Took, usize), Reject> {
        let n = self.members.len();
        let mut last = Reject {
            kind: SendErrorKind::Full,
            cause: None,
        };
        if n == 0 {
            return Err(last);
        }
        let one = |took: Took| Took {
            leaves: 1,
            connected: usize::from(took.connected > 0),
        };
        match self.mode {
            Mode::Broadcast => {
                let mut total = Took::default();
                let (mut first_connected, mut first) = (None, None);
                for (i, m) in self.members.iter().enumerate() {
                    match m.try_offer(payload) {
                        Ok(took) => {
                            let took = one(took);
                            total.leaves += took.leaves;
                            total.connected += took.connected;
                            first.get_or_insert(i);
                            if took.connected > 0 {
                                first_connected.get_or_insert(i);
                            }
                        }
                        Err(r) => last = r,
                    }
                }
                match first_connected.or(first) {
                    Some(i) => Ok((total, i)),
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
                        Ok(took) => {
                            self.cursor.store(i + 1, Ordering::Relaxed);
                            return Ok((one(took), i));
                        }
                        Err(r) => last = r,
                    }
                }
                Err(last)
            }
            Mode::Failover => {
                let i = self.failover_pick();
                self.members[i]
                    .try_offer(payload)
                    .map(|took| (one(took), i))
            }
        }
    }

    pub(super) fn wait_target(&self) -> Option<&Arc<Shared>> {
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

/// Waits until `done` holds (`true`) or the deadline passes (`false`), looking every
/// millisecond: member state changes come from several sinks' tasks.
pub(super) async fn wait_until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// One member sink's close, in progress.
pub(super) type Closing<'a> = Pin<Box<dyn Future<Output = u64> + Send + 'a>>;

/// Runs the closes concurrently (so their lingers overlap) and sums what they return.
pub(super) async fn join_sum(mut closes: Vec<Closing<'_>>) -> u64 {
    let mut sum = 0;
    std::future::poll_fn(|cx| {
        closes.retain_mut(|f| match f.as_mut().poll(cx) {
            Poll::Ready(n) => {
                sum += n;
                false
            }
            Poll::Pending => true,
        });
        if closes.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    sum
}
