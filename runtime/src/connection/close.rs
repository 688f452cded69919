//! Closing (with a linger) and dropping a sink, and counting what was still queued
//! as lost.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::status::State;

use super::counters::LostReason;
use super::{CLOSING, DROPPED, RUNNING, Shared, deadline_after, lock};

impl Shared {
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
    pub(super) fn lose_pending(&self, reason: LostReason) -> usize {
        let n = {
            let mut p = lock(&self.pending);
            p.closed = true;
            let n = p.frames;
            // A closed queue takes no more frames: its memory goes too.
            p.buf = Vec::new();
            p.sealed = 0;
            p.frames = 0;
            n
        };
        self.space.notify_waiters();
        self.count_lost(reason, n);
        n
    }
}
