//! Waiting: for room in the queue, for the sink's turn on a message transport, for
//! frames to settle (`flush`) and for a connection; waits are pooled ([`Wait`]).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio_util::sync::ReusableBoxFuture;

use crate::error::{SendErrorKind, WaitError};
use crate::status::State;
use crate::transport::Turn;

use super::{RUNNING, Reject, Shared, deadline_after, lock};

/// Boxed waits kept per sink for reuse, at most this many.
const MAX_POOLED_WAITS: usize = 64;

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
    pub(super) turn: Turn,
    pub(super) generation: u64,
}

/// How a wait for the turn ended.
pub(crate) enum TurnEnd {
    Ready,
    Gone,
    TimedOut,
}

/// What a finished wait hands to the next [`Shared::offer`].
pub(crate) struct Waited(pub(super) TurnTicket, pub(super) TurnEnd);

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
pub(super) type PooledWait = ReusableBoxFuture<'static, Result<Option<Waited>, Reject>>;

struct WaitJob {
    pub(super) shared: Arc<Shared>,
    pub(super) need: Need,
    pub(super) deadline: Instant,
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

    /// Waits until `done()` holds or `deadline` passes; returns `done()`.
    pub(super) async fn wait_for(&self, deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
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

    pub(super) fn notify_progress(&self) {
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
}
