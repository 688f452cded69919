//! Foreign framings (torq, length-prefixed) on a socket: which frames written on the
//! current connection the kernel proves the peer consumed (SIOCOUTQ, see
//! `transport::unread`). When the connection dies, the frames not proven consumed
//! move from sent to lost (`unconfirmed`): the peer may never have read them.
//!
//! The task marks a boundary (bytes and whole frames written so far) whenever it
//! counts frames sent: after each batch, for senders' direct writes when it next
//! takes the `pending` lock, and for the whole frames of a batch cut short. It reads
//! the socket's unread count after each batch, when it goes idle (while a frame is
//! unproven, again every [`RESAMPLE`]) and whenever a batch write finds the socket
//! full; the bytes consumed are the bytes written minus that count. A boundary is
//! proven once the bytes consumed reach it. When the connection dies, frames past
//! the last proven boundary count as unproven, so the count errs towards loss, never
//! the other way (a frame consumed after the last reading is counted lost).

use std::collections::VecDeque;
use std::time::Duration;

/// How often an idle task looks again at a connection with unproven frames.
pub(super) const RESAMPLE: Duration = Duration::from_millis(20);

/// At most this many boundaries are kept, allocated once per connection (no
/// allocation while frames flow); the oldest go first, which only makes the count
/// more cautious (a later boundary still proves everything before it).
const MAX_MARKS: usize = 64;

#[derive(Default)]
pub(super) struct Proof {
    /// Whether the connection can prove reads (Linux sockets, foreign framings).
    pub(super) on: bool,
    /// Whole frames and their bytes written on this connection and counted sent.
    written: (u64, u64),
    /// Boundaries (frames, bytes) not yet proven consumed, oldest first.
    marks: VecDeque<(u64, u64)>,
    /// Frames and bytes proven consumed.
    proven: (u64, u64),
    /// Bytes of the connection the peer is proven to have consumed.
    consumed: u64,
}

impl Proof {
    pub(super) fn new(on: bool) -> Proof {
        Proof {
            on,
            marks: VecDeque::with_capacity(if on { MAX_MARKS } else { 0 }),
            ..Proof::default()
        }
    }

    /// Whole frames were written (after the ones counted so far): a boundary.
    pub(super) fn wrote(&mut self, frames: u64, bytes: u64) {
        if !self.on || frames == 0 {
            return;
        }
        self.written.0 += frames;
        self.written.1 += bytes;
        if self.marks.len() == MAX_MARKS {
            self.marks.pop_front();
        }
        self.marks.push_back(self.written);
        self.settle();
    }

    /// Whether some written frame is not proven consumed.
    pub(super) fn pending(&self) -> bool {
        self.on && self.proven.0 < self.written.0
    }

    /// Bytes written up to `partial` bytes past the whole frames counted so far
    /// (the position in a batch being written), of which the kernel says `unread`
    /// are not consumed.
    pub(super) fn sample(&mut self, partial: u64, unread: u64) {
        let consumed = (self.written.1 + partial).saturating_sub(unread);
        self.consumed = self.consumed.max(consumed);
        self.settle();
    }

    fn settle(&mut self) {
        while let Some(&(frames, bytes)) = self.marks.front() {
            if bytes > self.consumed {
                break;
            }
            self.proven = (frames, bytes);
            self.marks.pop_front();
        }
    }

    /// The frames (and bytes) not proven consumed; the proof starts over.
    pub(super) fn unproven(&mut self) -> (u64, u64) {
        let left = (
            self.written.0 - self.proven.0,
            self.written.1 - self.proven.1,
        );
        self.written = (0, 0);
        self.proven = (0, 0);
        self.consumed = 0;
        self.marks.clear();
        left
    }
}
