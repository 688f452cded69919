//! The frames an acknowledged sink keeps for a resend (see `acked`), as the batches
//! the task wrote.

use std::collections::VecDeque;

/// Frames written whole on the current connection and not yet acknowledged, in
/// sequence order: the batches as written (a written batch moves here whole, no
/// copy), the first one from `start`.
#[derive(Default)]
pub(super) struct Kept {
    batches: VecDeque<Held>,
    start: usize,
    pub(super) frames: usize,
    /// Emptied buffers, for the task's next batches (with the kept batches, at most
    /// [`POOL`] buffers).
    spare: Vec<Vec<u8>>,
}

/// One kept buffer of frames with contiguous sequences.
///
/// An acknowledgement arrives long after its frames were written, when they have
/// left the CPU's caches: reading their headers to find where the acknowledged ones
/// end cost a cache miss a frame (3% of an acknowledged sink's CPU, with a peer that
/// acknowledges every 64 KiB). So the buffer also knows the sequence of its last
/// frame (an acknowledgement that covers it frees it whole) and, when every frame in
/// it has the same length (a stream of one message type, the usual case), that
/// length, measured when the frames were sealed: an acknowledgement that ends inside
/// it then frees its prefix by arithmetic.
struct Held {
    buf: Vec<u8>,
    last: u64,
    /// The length of each frame in `buf`, when they all have the same.
    stride: Option<usize>,
}

impl Held {
    /// The sequence of the first frame of `rest`, the buffer's frames from some
    /// frame boundary on (read from its header when the frames differ in length).
    fn first(&self, rest: &[u8]) -> u64 {
        match self.stride {
            Some(stride) => self.last + 1 - (rest.len() / stride) as u64,
            None => sequence(rest),
        }
    }
}

/// Buffers a [`Kept`] holds, kept batches and emptied spares together: a buffer a
/// trimmed batch frees is kept for reuse while the two hold fewer. So a sink keeps
/// as many buffers as its busiest moment needed (up to this many), and streaming on
/// allocates none, however the number of batches in flight goes up and down.
const POOL: usize = 8;

/// A whole batch moves into the kept frames without a copy when it fills at least
/// this fraction (1 / `MOVE_FILL`) of its buffer; a smaller one is copied.
const MOVE_FILL: usize = 4;

impl Kept {
    pub(super) fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() + self.batches.len() < POOL {
            buf.clear();
            self.spare.push(buf);
        }
    }

    pub(super) fn clear(&mut self) {
        while let Some(held) = self.batches.pop_front() {
            self.recycle(held.buf);
        }
        self.start = 0;
        self.frames = 0;
    }

    /// Drops the kept frames whose sequence is at most `upto`: their count and bytes.
    pub(super) fn trim(&mut self, upto: u64) -> (usize, usize) {
        let (mut frames, mut bytes) = (0, 0);
        while let Some(front) = self.batches.front() {
            let rest = &front.buf[self.start..];
            if upto >= front.last {
                // The whole rest of the batch: counted from its sequences.
                let first = front.first(rest);
                frames += usize::try_from(front.last - first + 1).expect("frames held in memory");
                bytes += rest.len();
            } else {
                let (f, b) = match front.stride {
                    Some(stride) => {
                        let f = usize::try_from((upto + 1).saturating_sub(front.first(rest)))
                            .expect("frames held in memory");
                        debug_assert_eq!(prefix_upto(rest, upto), (f, f * stride));
                        (f, f * stride)
                    }
                    None => prefix_upto(rest, upto),
                };
                frames += f;
                bytes += b;
                self.start += b;
                break;
            }
            let done = self.batches.pop_front().expect("a front batch");
            self.recycle(done.buf);
            self.start = 0;
        }
        self.frames -= frames;
        (frames, bytes)
    }

    /// The kept frames as one buffer, followed by `rest`; empties it.
    pub(super) fn take_all(&mut self, rest: &[u8]) -> Vec<u8> {
        let len = self.batches.iter().map(|h| h.buf.len()).sum::<usize>() - self.start + rest.len();
        let mut all = Vec::with_capacity(len);
        for (i, h) in self.batches.iter().enumerate() {
            all.extend_from_slice(if i == 0 { &h.buf[self.start..] } else { &h.buf });
        }
        all.extend_from_slice(rest);
        self.clear();
        all
    }

    /// Keeps `batch[..bytes]`, `frames` whole frames. A whole batch that fills a good
    /// part of its buffer moves here without a copy (`batch` becomes a spare buffer
    /// for the task's next one); a small one, or a part, is copied (see
    /// [`Kept::append`]) and drained from `batch`, which keeps its buffer: many
    /// small batches share kept buffers instead of holding one full-size buffer
    /// each.
    ///
    /// `stride` is the length of each frame in `batch` when the caller knows they all
    /// have the same (measured when they were sealed).
    pub(super) fn keep(
        &mut self,
        batch: &mut Vec<u8>,
        frames: usize,
        bytes: usize,
        stride: Option<usize>,
    ) {
        let first = sequence(batch);
        let last = first + frames as u64 - 1;
        debug_assert_eq!(prefix_upto(&batch[..bytes], last), (frames, bytes));
        debug_assert!(stride.is_none_or(|s| Some(s) == self::stride(&batch[..bytes])));
        let stride = stride.filter(|&s| s * frames == bytes);
        self.reserve_lists();
        if bytes == batch.len() && bytes >= batch.capacity() / MOVE_FILL {
            let fresh = self.spare.pop().unwrap_or_default();
            self.batches.push_back(Held {
                buf: std::mem::replace(batch, fresh),
                last,
                stride,
            });
        } else {
            self.append(&batch[..bytes], first, last, stride);
            batch.drain(..bytes);
        }
        self.frames += frames;
    }

    /// Keeps a copy of `bytes`, `frames` whole frames that follow the kept ones in
    /// sequence (written directly by senders); returns the sequence of the last.
    pub(super) fn keep_copy(&mut self, bytes: &[u8], frames: usize) -> u64 {
        let first = sequence(bytes);
        let last = first + frames as u64 - 1;
        debug_assert_eq!(prefix_upto(bytes, last), (frames, bytes.len()));
        // Frames senders wrote directly: few, and still in cache.
        self.append(bytes, first, last, stride(bytes));
        self.frames += frames;
        last
    }

    /// Copies frames `first..=last` to the end of the last kept batch when they
    /// follow it and it has the room, else into a spare buffer: no allocation once
    /// the buffers exist.
    fn append(&mut self, bytes: &[u8], first: u64, last: u64, stride: Option<usize>) {
        self.reserve_lists();
        match self.batches.back_mut() {
            Some(back)
                if back.last + 1 == first
                    && back.buf.capacity() - back.buf.len() >= bytes.len() =>
            {
                back.buf.extend_from_slice(bytes);
                back.last = last;
                if back.stride != stride {
                    back.stride = None;
                }
            }
            _ => {
                let mut buf = self.spare.pop().unwrap_or_default();
                buf.extend_from_slice(bytes);
                self.batches.push_back(Held { buf, last, stride });
            }
        }
    }

    /// Room for [`POOL`] buffers in both lists, made once (at the first frame kept), so
    /// they do not grow while frames stream.
    fn reserve_lists(&mut self) {
        if self.spare.capacity() < POOL {
            self.spare
                .reserve_exact(POOL.saturating_sub(self.spare.len()));
            self.batches
                .reserve_exact(POOL.saturating_sub(self.batches.len()));
        }
    }

    /// Gives back idle allocations.
    pub(super) fn shrink(&mut self) {
        self.spare.clear();
    }
}

/// The length every frame of `bytes` (whole sinkgen frames) has, if they all have
/// the same one.
fn stride(bytes: &[u8]) -> Option<usize> {
    if bytes.is_empty() {
        return None;
    }
    let len = |at: usize| crate::framing::Framing::Sinkgen.frame_len(&bytes[at..]);
    let stride = len(0);
    let mut at = stride;
    while at < bytes.len() {
        if len(at) != stride {
            return None;
        }
        at += stride;
    }
    Some(stride)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::Framing;
    use crate::protocol;

    /// Appends the sinkgen frame `sequence` (a 64-byte payload) to `buf`.
    fn frame(buf: &mut Vec<u8>, sequence: u64) {
        frame_of(buf, sequence, 64);
    }

    /// Appends the sinkgen frame `sequence` with a `size`-byte payload to `buf`.
    fn frame_of(buf: &mut Vec<u8>, sequence: u64, size: usize) {
        Framing::Sinkgen
            .append(buf, &vec![7; size][..], (1, sequence, 0), usize::MAX)
            .expect("a small frame");
    }

    fn held(kept: &Kept) -> usize {
        kept.batches.iter().map(|h| h.buf.capacity()).sum::<usize>()
            + kept.spare.iter().map(Vec::capacity).sum::<usize>()
    }

    /// Small batches taken in big buffers (a slow peer, a sink that had a burst) are
    /// copied: what the kept frames hold follows their bytes, not the buffers' sizes.
    #[test]
    fn small_batches_are_copied_so_memory_follows_the_kept_bytes() {
        let mut kept = Kept::default();
        let mut batch = Vec::with_capacity(1 << 20);
        let mut bytes = 0;
        for sequence in 1..=200 {
            frame(&mut batch, sequence);
            let len = batch.len();
            bytes += len;
            let known = stride(&batch);
            kept.keep(&mut batch, 1, len, known);
            assert!(batch.is_empty());
            assert_eq!(batch.capacity(), 1 << 20, "the task keeps its buffer");
        }
        assert_eq!(kept.frames, 200);
        assert!(
            held(&kept) <= 4 * bytes,
            "{} bytes held for {bytes} bytes kept",
            held(&kept)
        );
        assert_eq!(kept.trim(150), (150, bytes / 200 * 150));
        assert_eq!(kept.trim(200), (50, bytes / 200 * 50));
        assert_eq!(kept.frames, 0);
    }

    /// A batch that fills its buffer moves whole (no copy), and its buffer comes back
    /// as a spare once acknowledged; frames kept later follow it in the same buffer
    /// when they fit.
    #[test]
    fn full_batches_move_and_their_buffers_are_reused() {
        let mut kept = Kept::default();
        let mut batch = Vec::new();
        for sequence in 1..=100 {
            frame(&mut batch, sequence);
        }
        batch.shrink_to_fit();
        let (len, at) = (batch.len(), batch.as_ptr());
        kept.keep(&mut batch, 100, len, None);
        assert_eq!(kept.batches[0].buf.as_ptr(), at, "moved, not copied");
        assert!(batch.is_empty());
        // Room for the frame written directly next.
        kept.batches[0].buf.reserve(1024);
        let mut direct = Vec::new();
        frame(&mut direct, 101);
        assert_eq!(kept.keep_copy(&direct, 1), 101);
        assert_eq!(kept.batches.len(), 1, "appended to the batch it follows");
        assert_eq!(kept.trim(101), (101, len + direct.len()));
        assert_eq!(kept.spare.len(), 1, "the emptied buffer is kept for reuse");
    }

    /// Keeps `n` batches of 4 frames, each in a buffer of its own (moved, not
    /// copied), after `seq`; returns the last sequence.
    fn keep_batches(kept: &mut Kept, n: usize, mut seq: u64) -> u64 {
        for _ in 0..n {
            let mut batch = Vec::with_capacity(1000);
            for _ in 0..4 {
                seq += 1;
                frame(&mut batch, seq);
            }
            let len = batch.len();
            let known = stride(&batch);
            kept.keep(&mut batch, 4, len, known);
        }
        seq
    }

    /// The buffers a busy moment needed stay for the next one (so streaming on
    /// allocates none, however many batches are in flight), up to the pool's size.
    #[test]
    fn freed_buffers_are_kept_for_as_many_batches_as_were_in_flight() {
        let mut kept = Kept::default();
        let seq = keep_batches(&mut kept, 6, 0);
        assert_eq!(kept.batches.len(), 6, "each batch moved in with its buffer");
        assert_eq!(kept.trim(seq), (24, 24 * 100));
        assert_eq!(kept.spare.len(), 6, "every freed buffer is kept");
        let seq = keep_batches(&mut kept, POOL + 3, seq);
        assert_eq!(kept.trim(seq), ((POOL + 3) * 4, (POOL + 3) * 400));
        assert_eq!(kept.spare.len(), POOL, "no more than the pool");
    }

    /// Frames of one length are freed by arithmetic and frames of mixed lengths by
    /// reading them: either way an acknowledgement frees exactly the frames (and
    /// bytes) up to its sequence, whether the batches moved in whole, were copied,
    /// or were appended to a kept buffer of another stride.
    #[test]
    fn acknowledgements_inside_batches_free_exactly_the_frames_they_cover() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..200 {
            let mut kept = Kept::default();
            // The model: every kept frame's (sequence, length), in order.
            let mut model: VecDeque<(u64, usize)> = VecDeque::new();
            let (mut seq, mut acked) = (0u64, 0u64);
            for _ in 0..rng.usize(1..12) {
                let uniform = rng.bool();
                let size = rng.usize(0..80);
                let mut batch = Vec::with_capacity(if rng.bool() { 64 } else { 1 << 16 });
                let frames = rng.usize(1..40);
                for _ in 0..frames {
                    seq += 1;
                    let size = if uniform { size } else { rng.usize(0..80) };
                    frame_of(&mut batch, seq, size);
                    model.push_back((seq, protocol::HEADER_LEN + size));
                }
                if round % 3 == 0 {
                    kept.keep_copy(&batch, frames);
                } else {
                    // The task knows the stride of the batches it sealed, or not.
                    let (len, known) = (batch.len(), rng.bool().then(|| stride(&batch)));
                    kept.keep(&mut batch, frames, len, known.flatten());
                }
                if rng.bool() {
                    acked = rng.u64(acked..=seq);
                    let (mut frames, mut bytes) = (0, 0);
                    while model.front().is_some_and(|(s, _)| *s <= acked) {
                        let (_, len) = model.pop_front().expect("a frame");
                        frames += 1;
                        bytes += len;
                    }
                    assert_eq!(
                        kept.trim(acked),
                        (frames, bytes),
                        "round {round}, ack {acked}"
                    );
                    assert_eq!(kept.frames, model.len());
                }
            }
            let rest: usize = model.iter().map(|(_, len)| len).sum();
            assert_eq!(kept.trim(seq), (model.len(), rest), "round {round}");
        }
    }

    /// A buffer knows its frames' common length only while they have one.
    #[test]
    fn a_buffer_has_a_stride_only_while_its_frames_are_of_one_length() {
        let (mut same, mut mixed) = (Vec::new(), Vec::new());
        for sequence in 1..=3 {
            frame_of(&mut same, sequence, 10);
            frame_of(&mut mixed, sequence, sequence as usize);
        }
        assert_eq!(stride(&same), Some(protocol::HEADER_LEN + 10));
        assert_eq!(stride(&mixed), None);
        let mut kept = Kept::default();
        kept.keep_copy(&same, 3);
        assert_eq!(kept.batches[0].stride, Some(protocol::HEADER_LEN + 10));
        kept.batches[0].buf.reserve(1024);
        let mut next = Vec::new();
        frame_of(&mut next, 4, 11);
        kept.keep_copy(&next, 1);
        assert_eq!(kept.batches.len(), 1, "appended to the same buffer");
        assert_eq!(kept.batches[0].stride, None, "lengths now differ");
        assert_eq!(kept.trim(2), (2, 2 * (protocol::HEADER_LEN + 10)));
    }
}
