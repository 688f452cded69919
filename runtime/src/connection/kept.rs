//! The frames an acknowledged sink keeps for a resend (see `acked`), as the batches
//! the task wrote.

use std::collections::VecDeque;

/// Frames written whole on the current connection and not yet acknowledged, in
/// sequence order: the batches as written (a written batch moves here whole, no
/// copy), the first one from `start`, each with the sequence of its last frame (a
/// batch's sequences are contiguous, so an acknowledgement that covers a whole batch
/// frees it without reading its frames).
#[derive(Default)]
pub(super) struct Kept {
    batches: VecDeque<(Vec<u8>, u64)>,
    start: usize,
    pub(super) frames: usize,
    /// Emptied buffers, for the task's next batches (at most [`SPARE`]).
    spare: Vec<Vec<u8>>,
}

/// Emptied buffers a [`Kept`] holds for reuse.
const SPARE: usize = 2;

impl Kept {
    pub(super) fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < SPARE {
            buf.clear();
            self.spare.push(buf);
        }
    }

    pub(super) fn clear(&mut self) {
        while let Some((b, _)) = self.batches.pop_front() {
            self.recycle(b);
        }
        self.start = 0;
        self.frames = 0;
    }

    /// Drops the kept frames whose sequence is at most `upto`: their count and bytes.
    pub(super) fn trim(&mut self, upto: u64) -> (usize, usize) {
        let (mut frames, mut bytes) = (0, 0);
        while let Some((front, last)) = self.batches.front() {
            if upto >= *last {
                // The whole rest of the batch: counted from its sequences.
                let first = sequence(&front[self.start..]);
                frames += usize::try_from(last - first + 1).expect("frames held in memory");
                bytes += front.len() - self.start;
            } else {
                let (f, b) = prefix_upto(&front[self.start..], upto);
                frames += f;
                bytes += b;
                self.start += b;
                break;
            }
            let (done, _) = self.batches.pop_front().expect("a front batch");
            self.recycle(done);
            self.start = 0;
        }
        self.frames -= frames;
        (frames, bytes)
    }

    /// The kept frames as one buffer, followed by `rest`; empties it.
    pub(super) fn take_all(&mut self, rest: &[u8]) -> Vec<u8> {
        let len =
            self.batches.iter().map(|(b, _)| b.len()).sum::<usize>() - self.start + rest.len();
        let mut all = Vec::with_capacity(len);
        for (i, (b, _)) in self.batches.iter().enumerate() {
            all.extend_from_slice(if i == 0 { &b[self.start..] } else { b });
        }
        all.extend_from_slice(rest);
        self.clear();
        all
    }

    /// Keeps `batch[..bytes]`, `frames` whole frames: a whole batch moves here without
    /// a copy (`batch` becomes a spare buffer for the task's next one); a part is
    /// copied and drained from `batch`.
    pub(super) fn keep(&mut self, batch: &mut Vec<u8>, frames: usize, bytes: usize) {
        let last = sequence(batch) + frames as u64 - 1;
        debug_assert_eq!(prefix_upto(&batch[..bytes], last), (frames, bytes));
        if bytes == batch.len() {
            let fresh = self.spare.pop().unwrap_or_default();
            self.batches
                .push_back((std::mem::replace(batch, fresh), last));
        } else {
            self.batches.push_back((batch[..bytes].to_vec(), last));
            batch.drain(..bytes);
        }
        self.frames += frames;
    }

    /// Gives back idle allocations.
    pub(super) fn shrink(&mut self) {
        self.spare.clear();
    }
}

/// The sinkgen sequence of the frame at the start of `frame`.
pub(super) fn sequence(frame: &[u8]) -> u64 {
    u64::from_le_bytes(frame[16..24].try_into().expect("a whole header"))
}

/// Splits `bytes` (whole sinkgen frames) after the frames whose sequence is at most
/// `upto`: `(frames, bytes)` of that prefix.
pub(super) fn prefix_upto(bytes: &[u8], upto: u64) -> (usize, usize) {
    let (mut frames, mut at) = (0, 0);
    while at < bytes.len() && sequence(&bytes[at..]) <= upto {
        at += crate::framing::Framing::Sinkgen.frame_len(&bytes[at..]);
        frames += 1;
    }
    (frames, at)
}
