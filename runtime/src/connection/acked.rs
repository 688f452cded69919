//! Acknowledged delivery (sinkgen framing on a socket): the frames written and not
//! yet acknowledged, which the task keeps until an ACK covers them and writes again,
//! in order, on the next connection. Frames senders wrote directly join them when
//! the task collects them (`collect_kept`).
//!
//! Accounting: a frame written whole counts in `Pending::in_doubt` until it is
//! acknowledged (sent) or counted lost, so the `queue` bound counts queued and
//! unacknowledged frames. The batch being written counts in neither, as for every
//! framing: what the sink holds is at most `queue` frames plus one batch (of at most
//! `queue`). Kept frames written again after a reconnect go back into the batch (and
//! out of `in_doubt`) until they are written again.

use crate::protocol::{self, Hello};
use crate::transport::Greeting;

use super::counters::LostReason;
use super::kept::{prefix_upto, sequence};
use super::task::Driver;
use super::{Shared, lock};

/// Bytes of the first batch copied into the first HELLO's write (early data); the
/// rest follows in the task's own writes.
const EARLY_DATA: usize = 64 << 10;

impl Shared {
    /// What the sink says in its HELLO: its role, and its names (without an identity,
    /// the sink's name as its service and its endpoint as the target).
    pub(super) fn greeting(&self, next: u64, early: Option<Vec<u8>>) -> Greeting {
        let opts = &self.opts;
        let (service, target) = match &opts.identity {
            Some(id) => (id.service.to_string(), id.target.to_string()),
            None => (opts.name.to_string(), opts.endpoint_text.to_string()),
        };
        Greeting {
            session: opts.session,
            next,
            early,
            hello: Hello {
                min_version: protocol::MIN_VERSION,
                max_version: protocol::VERSION,
                role: opts.role,
                service,
                sink: opts.name.to_string(),
                target,
            },
        }
    }
}

impl Driver {
    /// The greeting for the next connection: the first frame it will send is the
    /// first of the batch (frames kept from the last connection come first), else the
    /// first queued one. The first connection of the session carries early data (no
    /// peer can have a frame of it yet), when the sink speaks one protocol version
    /// only: its data frames carry that version before the peer has chosen it. The
    /// head of the batch (at most [`EARLY_DATA`] bytes) goes out with HELLO.
    pub(super) fn greeting(&self) -> Greeting {
        let next = if self.batch.is_empty() {
            let p = lock(&self.shared.pending);
            if p.frames > 0 {
                p.sequence + 1 - p.frames as u64
            } else {
                0
            }
        } else {
            sequence(&self.batch)
        };
        let early = (self.greets && !self.opened && protocol::MIN_VERSION == protocol::VERSION)
            .then(|| {
                let head = &self.batch[self.written..];
                head[..head.len().min(EARLY_DATA)].to_vec()
            });
        self.shared.greeting(next, early)
    }

    /// The frames of `batch[..bytes]` were written whole: they are kept until
    /// acknowledged.
    pub(super) fn keep_written(&mut self, frames: usize, bytes: usize) {
        if frames == 0 {
            return;
        }
        self.kept
            .keep(&mut self.batch, frames, bytes, self.batch_stride);
        self.batch_frames -= frames;
        lock(&self.shared.pending).in_doubt += frames;
        let upto = self.acked;
        self.acknowledge(upto);
    }

    /// Moves the frames senders wrote directly into the kept frames (with the
    /// `pending` lock held). They follow the kept frames in sequence: a sender writes
    /// directly only while the task holds no batch and nothing is queued, and the
    /// task collects them before it takes the next batch.
    pub(super) fn collect_kept(&mut self, p: &mut super::Pending) {
        let frames = std::mem::take(&mut p.direct_kept_frames);
        if frames == 0 {
            return;
        }
        let last = self.kept.keep_copy(&p.direct_kept, frames);
        p.direct_kept.clear();
        self.taken_upto = self.taken_upto.max(last);
        self.show_in_flight();
    }

    /// Everything of the session up to `upto` is acknowledged: the kept frames it
    /// covers count as sent and free their room.
    pub(super) fn acknowledge(&mut self, upto: u64) {
        if upto > self.acked {
            // The ACK may cover frames senders wrote directly.
            let shared = std::sync::Arc::clone(&self.shared);
            self.collect_kept(&mut lock(&shared.pending));
        }
        // A peer cannot have what the task never took: a bogus ACK frees nothing more.
        self.acked = self.acked.max(upto.min(self.taken_upto));
        let (frames, bytes) = self.kept.trim(self.acked);
        if frames > 0 {
            self.settle_acked(frames, bytes);
        }
    }

    /// After WELCOME: the frames to be written again that the peer already has count
    /// as sent.
    pub(super) fn welcomed(&mut self, have: u64) {
        self.acked = self.acked.max(have.min(self.taken_upto));
        let (frames, bytes) = prefix_upto(&self.batch, self.acked);
        if frames == 0 {
            return;
        }
        self.batch.drain(..bytes);
        self.batch_frames -= frames;
        self.show_in_flight();
        self.count_sent(frames, bytes);
    }

    fn settle_acked(&mut self, frames: usize, bytes: usize) {
        self.show_in_flight();
        self.settle_in_doubt(frames);
        self.count_sent(frames, bytes);
    }

    /// After a failed connection: the kept frames go back in front of the batch, to
    /// be written again, in order, before anything else.
    pub(super) fn requeue_kept(&mut self) {
        if self.kept.frames == 0 {
            return;
        }
        self.batch_frames += self.kept.frames;
        self.settle_in_doubt(self.kept.frames);
        let all = self.kept.take_all(&self.batch);
        let old = std::mem::replace(&mut self.batch, all);
        self.batch_stride = None;
        self.kept.recycle(old);
        self.show_in_flight();
    }

    /// At a stop: the kept frames were written and never acknowledged; they count as
    /// lost (`unconfirmed`).
    pub(super) fn lose_kept(&mut self) {
        let n = self.kept.frames;
        self.kept.clear();
        self.show_in_flight();
        self.settle_in_doubt(n);
        self.shared.count_lost(LostReason::Unconfirmed, n);
    }

    /// The task took every queued frame into its batch (with the `pending` lock
    /// held): the batch ends with the last frame accepted.
    pub(super) fn took(&mut self, p: &super::Pending) {
        self.taken_upto = p.sequence;
    }
}
