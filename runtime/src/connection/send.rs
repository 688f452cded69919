//! The send path: checking a frame, appending it to the queue under the `pending`
//! lock, or writing it directly while the task is idle (see the invariants in the
//! parent module).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::encode::Encode;
use crate::error::{ErrorClass, SendErrorKind, TransportError};
use crate::framing::{Framing, now_nanos};
use crate::transport::Handed;

use super::wait::{Need, TurnTicket, Waited};
use super::{
    DIRECT_KEPT_FIRST, INLINE_GAP, Pending, Reject, STAMP_REUSE, Shared, Stamp, deadline_after,
    lock,
};

/// A message offered to a sink: borrowed, or owned by its sender, whose bytes a
/// transport may then take instead of copying them (see [`Encode::take_bytes`]).
pub(crate) enum Msg<'a, E: ?Sized> {
    Shared(&'a E),
    Owned(&'a mut E),
}

impl<E: Encode + ?Sized> Msg<'_, E> {
    pub(super) fn get(&self) -> &E {
        match self {
            Msg::Shared(m) => m,
            Msg::Owned(m) => m,
        }
    }

    pub(super) fn take_bytes(&mut self) -> Option<bytes::Bytes> {
        match self {
            Msg::Shared(_) => None,
            Msg::Owned(m) => m.take_bytes(),
        }
    }
}

impl Shared {
    pub(super) fn has_room(&self, p: &Pending) -> bool {
        p.frames + p.in_doubt < self.queue && !p.turn
    }

    /// `TooLarge` for a message whose payload is over the transport's known limit
    /// (NATS: the server's `max_payload`); the message goes back to its sender.
    pub(super) fn check_payload<E: Encode + ?Sized>(&self, msg: &E) -> Result<(), Reject> {
        let limit = self.payload_limit.load(Ordering::Relaxed);
        if limit == usize::MAX {
            return Ok(());
        }
        let size = match self.opts.framing {
            Framing::LengthPrefixed => msg.encoded_len(),
            Framing::Torq { .. } | Framing::Sinkgen => msg
                .encoded_len()
                .saturating_add(self.opts.framing.header_len()),
        };
        if size <= limit {
            return Ok(());
        }
        Err(Reject {
            kind: SendErrorKind::TooLarge,
            cause: Some(TransportError::new(
                ErrorClass::Fatal,
                std::io::ErrorKind::InvalidInput,
                format!(
                    "a {size}-byte payload is over the NATS server's max_payload of {limit} bytes"
                ),
            )),
        })
    }

    /// Queues a frame if there is room now; never waits.
    pub(crate) fn try_enqueue<E: Encode + ?Sized>(
        self: &Arc<Self>,
        msg: Msg<'_, E>,
    ) -> Result<(), Reject> {
        self.check_open()?;
        self.ensure_started()?;
        self.push(msg, false).map(|_| ())
    }

    /// One attempt of a sender that may wait: `Ok(None)` means the frame is accepted;
    /// `Ok(Some(need))` means wait for `need` ([`Shared::wait`]) and offer again with
    /// what the wait returned.
    ///
    /// The turn: when a direct hand-over finds a message transport's buffer full
    /// (NATS, while the task is idle and nothing is queued), the sender takes the
    /// sink's turn instead of queueing: nothing of its frame is accepted yet, other
    /// senders wait as for a full queue, and once the transport has reserved room the
    /// frame is accepted and handed on under the `pending` lock. A fast sender thus
    /// waits for the transport itself, like a caller of the client would, instead of
    /// filling the queue for the task to pass on frame by frame.
    pub(crate) fn offer<E: Encode + ?Sized>(
        self: &Arc<Self>,
        msg: Msg<'_, E>,
        waited: Option<Waited>,
    ) -> Result<Option<Need>, Reject> {
        if let Some(Waited(ticket, end)) = waited
            && self.finish_turn(msg.get(), ticket, end)?
        {
            return Ok(None);
        }
        self.check_open()?;
        self.ensure_started()?;
        match self.push(msg, true) {
            Ok(None) => Ok(None),
            Ok(Some(ticket)) => Ok(Some(Need::Turn(ticket))),
            Err(Reject {
                kind: SendErrorKind::Full,
                ..
            }) => Ok(Some(Need::Room)),
            Err(e) => Err(e),
        }
    }

    /// Appends one frame (`sequence` is its torq sequence) to `p.buf`; its length, or
    /// `TooLarge` for a payload a frame cannot describe.
    pub(super) fn frame<E: Encode + ?Sized>(
        &self,
        buf: &mut Vec<u8>,
        msg: &E,
        sequence: u64,
        timestamp: u64,
    ) -> Result<usize, Reject> {
        self.opts
            .framing
            .append(
                buf,
                msg,
                (self.opts.session, sequence, timestamp),
                self.opts.max_frame,
            )
            .ok_or_else(|| self.too_large())
    }

    /// `TooLarge` for a payload over `max_frame` (or `u32::MAX` bytes).
    #[cold]
    pub(super) fn too_large(&self) -> Reject {
        let max = self.opts.max_frame;
        let cause = (max < u32::MAX as usize).then(|| {
            TransportError::new(
                ErrorClass::Fatal,
                std::io::ErrorKind::InvalidInput,
                format!("the payload is over the sink's max_frame of {max} bytes"),
            )
        });
        Reject {
            kind: SendErrorKind::TooLarge,
            cause,
        }
    }

    /// The torq timestamp of a frame queued now (0 for other framings), with the
    /// `pending` lock held. The clock is read for a frame that finds the queue empty;
    /// a frame queued `behind` others on a connected sink (while the task writes the
    /// previous batch) shares the timestamp of the first of them, for at most
    /// [`STAMP_REUSE`] frames. Timestamps never decrease along the sequence.
    pub(super) fn timestamp(&self, stamp: &mut Stamp, behind: bool) -> u64 {
        if self.opts.framing == Framing::LengthPrefixed {
            return 0;
        }
        if behind && stamp.uses < STAMP_REUSE {
            stamp.uses += 1;
            return stamp.at;
        }
        stamp.at = now_nanos().max(stamp.at);
        stamp.uses = 1;
        stamp.at
    }

    /// [`Shared::frame`] of a frame queued behind the others (see
    /// [`Shared::timestamp`]).
    pub(super) fn queue_frame<E: Encode + ?Sized>(
        &self,
        p: &mut Pending,
        msg: &E,
        sequence: u64,
    ) -> Result<usize, Reject> {
        let behind = p.frames > 0 && p.connected;
        let timestamp = self.timestamp(&mut p.stamp, behind);
        self.opts
            .framing
            .append_unsealed(
                &mut p.buf,
                msg,
                (self.opts.session, sequence, timestamp),
                self.opts.max_frame,
            )
            .ok_or_else(|| self.too_large())
    }

    /// Seals the frames queued unsealed, before `p.buf` is handed to a transport by
    /// a sender.
    pub(super) fn seal_queued(&self, buf: &mut [u8], sealed: &mut usize) {
        self.opts.framing.seal_all(&mut buf[*sealed..]);
        *sealed = buf.len();
    }

    /// Queues a frame, waiting up to `send_timeout` for room. Holds `msg` across the
    /// wait, so composites use it with owned, shareable payloads.
    pub(crate) async fn enqueue<E: Encode + Sync + ?Sized>(
        self: &Arc<Self>,
        msg: &E,
    ) -> Result<(), Reject> {
        let deadline = deadline_after(Instant::now(), self.opts.send_timeout);
        let mut waited = None;
        loop {
            match self.offer(Msg::Shared(msg), waited.take())? {
                None => return Ok(()),
                Some(need) => waited = self.wait(need, deadline).await?,
            }
        }
    }

    /// Appends one frame if there is room; may write it directly (see the module docs).
    ///
    /// With `may_wait`, a frame that finds a message transport's buffer full is not
    /// accepted; the sender gets the sink's turn instead (see [`Shared::offer`]).
    pub(crate) fn push<E: Encode + ?Sized>(
        &self,
        msg: Msg<'_, E>,
        may_wait: bool,
    ) -> Result<Option<TurnTicket>, Reject> {
        let mut guard = lock(&self.pending);
        let p = &mut *guard;
        if p.closed {
            drop(guard);
            return Err(self.refused());
        }
        if !self.has_room(p) {
            return Err(Reject {
                kind: SendErrorKind::Full,
                cause: None,
            });
        }
        self.check_payload(msg.get())?;
        let was_empty = p.frames == 0;
        if was_empty && p.writer_idle && p.inline.as_ref().is_some_and(|i| !i.spaced()) {
            return self.push_to_client(guard, msg, may_wait);
        }
        let sequence = p.sequence + 1;
        let len = self.queue_frame(p, msg.get(), sequence)?;
        p.sequence = sequence;
        p.frames += 1;
        p.accepted += 1;
        if was_empty
            && p.writer_idle
            && let Some(inline) = p.inline.as_mut()
        {
            let now = Instant::now();
            if now.duration_since(p.last_write) >= INLINE_GAP {
                self.seal_queued(&mut p.buf, &mut p.sealed);
                let handed = inline.hand(&p.buf);
                // The gap counts from the end of the write (see `INLINE_GAP`).
                p.last_write = Instant::now();
                match handed {
                    Handed::Written if p.keeping => {
                        // Kept until acknowledged: the task collects it into its
                        // kept frames (see `acked`); it takes room until then.
                        // Its first growth goes straight to its working size, not
                        // by doubling from one frame while frames stream.
                        let first = DIRECT_KEPT_FIRST.min(p.buf.capacity());
                        if p.direct_kept.capacity() < first {
                            p.direct_kept.reserve_exact(first - p.direct_kept.len());
                        }
                        p.direct_kept.extend_from_slice(&p.buf);
                        p.direct_kept_frames += 1;
                        p.in_doubt += 1;
                        p.buf.clear();
                        p.sealed = 0;
                        p.frames = 0;
                        return Ok(None);
                    }
                    Handed::Written => {
                        p.buf.clear();
                        p.sealed = 0;
                        p.frames = 0;
                        p.direct_sent.0 += 1;
                        p.direct_sent.1 += len as u64;
                        drop(guard);
                        self.count_sent(1, len);
                        return Ok(None);
                    }
                    Handed::Part(n) => p.head_written = n,
                    // The task meets the error on its own write and reconnects.
                    _ => {}
                }
            }
        }
        drop(guard);
        if was_empty {
            // The task re-checks `pending` after every write, so waking it only on the
            // empty -> non-empty edge cannot lose a frame; Notify keeps one permit.
            self.wake_writer.notify_one();
        }
        Ok(None)
    }

    /// The checks a sender makes before it queues ([`Shared::offer`]'s): open, not down
    /// (with `when_down = "fail"`), the task started.
    pub(crate) fn ready_to_queue(self: &Arc<Self>) -> Result<(), Reject> {
        self.check_open()?;
        self.ensure_started()
    }

    /// Queues frames from `held` (first) and then `rest`, in order, under one lock of
    /// `pending`, and wakes the task once: `send_all`. Returns how many were
    /// accepted and, when it stopped early, why; the message it stopped at is left in
    /// `held` (`Full` when the queue has no room left for it).
    ///
    /// Frames go to the queue, never directly to the connection: the task writes
    /// (or hands on) the batch in one go.
    pub(crate) fn push_batch<E: Encode>(
        &self,
        held: &mut Option<E>,
        rest: &mut impl Iterator<Item = E>,
    ) -> (usize, Option<Reject>) {
        let mut guard = lock(&self.pending);
        let p = &mut *guard;
        if p.closed {
            drop(guard);
            return (0, Some(self.refused()));
        }
        let was_empty = p.frames == 0;
        let mut accepted = 0;
        let stop = loop {
            let Some(msg) = held.take().or_else(|| rest.next()) else {
                break None;
            };
            if !self.has_room(p) {
                *held = Some(msg);
                break Some(Reject {
                    kind: SendErrorKind::Full,
                    cause: None,
                });
            }
            let sequence = p.sequence + 1;
            if let Err(e) = self
                .check_payload(&msg)
                .and_then(|()| self.queue_frame(p, &msg, sequence))
            {
                *held = Some(msg);
                break Some(e);
            }
            p.sequence = sequence;
            p.frames += 1;
            p.accepted += 1;
            accepted += 1;
        };
        drop(guard);
        if was_empty && accepted > 0 {
            self.wake_writer.notify_one();
        }
        (accepted, stop)
    }
}
