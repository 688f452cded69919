//! The connection task's side of the proof of reads (see `proof`): readings of the
//! socket's unread count, and the frames not proven read moved from sent to lost
//! (`unconfirmed`) when the connection dies.

use crate::error::TransportError;
use crate::transport::Connection;

use super::task::Driver;
use super::{Pending, Shared};

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
