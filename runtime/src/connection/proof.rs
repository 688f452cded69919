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

use crate::error::TransportError;
use crate::transport::Connection;

use super::task::Driver;
use super::{Pending, Shared};

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
    fn sample(&mut self, partial: u64, unread: u64) {
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
    fn unproven(&mut self) -> (u64, u64) {
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

impl Driver {
    /// Collects the senders' direct writes (with the `pending` lock held).
    pub(super) fn collect_direct(&mut self, p: &mut Pending) {
        let (frames, bytes) = std::mem::take(&mut p.direct_sent);
        self.proof.wrote(frames, bytes);
    }

    /// Reads the connection's unread count when every byte written so far belongs
    /// to a whole frame (after a batch, when idle).
    pub(super) fn sample(&mut self, conn: &Connection) {
        if !self.proof.pending() {
            return;
        }
        if let Some(unread) = conn.unread() {
            self.proof.sample(0, unread);
        }
    }

    /// Takes the reading a batch write made while the socket was full (before the
    /// batch's whole frames are counted).
    pub(super) fn take_probe(&mut self, conn: &mut Connection) {
        if let Some((at, unread)) = conn.take_probe() {
            self.proof.sample(at as u64, unread);
        }
    }

    /// The connection failed with `error`: frames not proven consumed move from sent
    /// to lost. A peer that closed without a reset had an empty receive queue when
    /// it closed (Linux resets a connection closed with unread bytes, on Unix sockets
    /// and TCP alike), so its queue was not discarded and the unread count is read
    /// once more; after a reset, the last reading taken while the peer lived stands.
    pub(super) fn unproven_lost(&mut self, conn: &Connection, error: &TransportError) {
        if self.proof.pending()
            && !conn.was_reset(error)
            && let Some(unread) = conn.unread_after_close()
        {
            self.proof.sample(0, unread);
        }
        let (frames, bytes) = self.proof.unproven();
        self.shared.unsend(frames, bytes);
    }
}

impl Shared {
    /// Frames counted sent that turned out not proven read: counted lost
    /// (`unconfirmed`) instead. They stay settled (a `flush` saw them go).
    fn unsend(&self, frames: u64, bytes: u64) {
        use std::sync::atomic::Ordering;
        if frames == 0 {
            return;
        }
        self.frames_sent.fetch_sub(frames, Ordering::Relaxed);
        self.bytes_sent.fetch_sub(bytes, Ordering::Relaxed);
        self.lost_unconfirmed.fetch_add(frames, Ordering::SeqCst);
        self.last_lost.store(super::stamp_now(), Ordering::Relaxed);
        metrics::counter!(
            "sinkgen_frames_lost_total",
            "sink" => self.opts.name.to_string(),
            "reason" => "unconfirmed"
        )
        .increment(frames);
        tracing::warn!(
            sink = %self.opts.name,
            frames,
            reason = "unconfirmed",
            "frames written to a connection that died, not proven read by the peer"
        );
        self.notify_progress();
    }
}
