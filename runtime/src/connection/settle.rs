//! Settling what a connection leaves behind: after a failed connection, at the
//! task's end (a stop or a fatal error), and when the runtime drops the task.

use std::sync::atomic::Ordering;

use crate::status::State;

use super::counters::LostReason;
use super::ledger::Ledger;
use super::task::{Driver, Exit, count};
use super::{DROPPED, lock};

impl Driver {
    /// After a failed connection (or at a stop): the frames taken whole by the
    /// transport count as sent (sockets) or unconfirmed (NATS); the torn frame and
    /// everything after it stay in the batch, to be written from their first byte on
    /// the next connection. Frames a confirming transport took and never confirmed are
    /// counted lost (`unconfirmed`) and never handed on again.
    pub(super) fn connection_failed(&mut self) {
        let (frames, bytes) = self
            .shared
            .opts
            .framing
            .whole_frames(&self.batch, self.written);
        let dropped = self.settle_dropped();
        if self.keeps {
            self.keep_written(frames, bytes);
        } else if frames > 0 {
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

    pub(super) fn finish(&mut self, exit: Exit) {
        self.finished = true;
        self.detach_inline();
        // Frames the kernel took whole before the stop count as sent; a frame cut off
        // at the linger deadline counts as not delivered.
        self.connection_failed();
        // Written and never acknowledged: their fate is unknown.
        self.lose_kept();
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
        let shared = &self.shared;
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

impl Drop for Driver {
    fn drop(&mut self) {
        self.detach_inline();
        if !self.finished {
            // The runtime dropped this task mid-flight: frames taken whole are settled
            // as at a failed connection, and the unwritten frames go back in front of
            // the queue, so the next task (started by the next send) writes them first
            // (the queue may hold up to one batch more than `queue` until then).
            self.connection_failed();
            self.requeue_kept();
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
                    // The batch is sealed; the frames queued after it may not be.
                    p.sealed += restored.len();
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
