//! The hand-over to message transports that confirm frames later (NATS): direct
//! hand-overs by senders (and the turn), the task's [`Ledger`] of frames taken, and
//! confirmations.

use std::sync::{Arc, MutexGuard};
use std::time::Instant;

use crate::encode::Encode;
use crate::error::{SendErrorKind, TransportError};
use crate::framing::{Framing, LENGTH_PREFIX_LEN, encode_or_nothing};
use crate::transport::{Connection, Handed};

use super::counters::LostReason;
use super::send::Msg;
use super::task::{Driver, count, interrupt};
use super::wait::{TurnEnd, TurnTicket};
use super::{Pending, Reject, Shared, lock};

impl Shared {
    /// Ends the current turn (with the `pending` lock held) and lets waiting senders
    /// try again.
    pub(super) fn end_turn(&self, p: &mut Pending) {
        if p.turn {
            p.turn = false;
            if p.space_waiters > 0 {
                self.space.notify_waiters();
            }
        }
    }

    /// The sender's turn is over: `Ok(true)` when its frame was accepted (handed on
    /// with the room the transport reserved, or queued for the task), `Ok(false)`
    /// when it should offer it again from the start (the connection changed or the
    /// transport went away meanwhile).
    pub(super) fn finish_turn<E: Encode + ?Sized>(
        &self,
        msg: &E,
        ticket: TurnTicket,
        end: TurnEnd,
    ) -> Result<bool, Reject> {
        let mut guard = lock(&self.pending);
        let p = &mut *guard;
        self.end_turn(p);
        if p.closed {
            drop(guard);
            return Err(self.refused());
        }
        let same = p.generation == ticket.generation && p.writer_idle && p.frames == 0;
        let Some(inline) = p.inline.as_mut().filter(|_| same) else {
            return Ok(false);
        };
        match end {
            TurnEnd::Ready => {}
            TurnEnd::Gone => return Ok(false),
            TurnEnd::TimedOut => {
                // Keep the handle (and its reservation, once made) for the next turn.
                inline.end_turn(ticket.turn);
                drop(guard);
                let cause = lock(&self.info).last_error.as_ref().map(|(e, _)| e.clone());
                return Err(Reject {
                    kind: SendErrorKind::Timeout,
                    cause,
                });
            }
        }
        if let Err(e) = self.check_payload(msg) {
            inline.end_turn(ticket.turn);
            drop(guard);
            return Err(e);
        }
        let sequence = p.sequence + 1;
        let timestamp = self.timestamp(&mut p.stamp, false);
        self.seal_queued(&mut p.buf, &mut p.sealed);
        let Some(len) = self.opts.framing.append(
            &mut p.buf,
            msg,
            (self.opts.session, sequence, timestamp),
            self.opts.max_frame,
        ) else {
            inline.end_turn(ticket.turn);
            drop(guard);
            return Err(self.too_large());
        };
        p.sequence = sequence;
        p.accepted += 1;
        p.sealed = p.buf.len();
        if inline.hand_reserved(ticket.turn, &p.buf) {
            p.buf.clear();
            p.sealed = 0;
            self.handed(guard, len);
        } else {
            // Refused by the transport: queued, the task meets the error itself.
            p.frames = 1;
            drop(guard);
            self.wake_writer.notify_one();
        }
        Ok(true)
    }

    /// A frame was handed directly to a confirming transport (with the `pending` lock
    /// held, released here).
    pub(super) fn handed(&self, mut p: MutexGuard<'_, Pending>, len: usize) {
        p.handed_frames += 1;
        p.in_doubt += 1;
        p.handed_bytes += len as u64;
        let first = p.handed_frames == 1;
        drop(p);
        if first {
            // The task collects hand-overs and asks the transport to confirm them;
            // it is woken on the first one after a collection only.
            self.wake_writer.notify_one();
        }
    }

    /// [`Shared::push`] of a frame going straight to a message transport's client
    /// (NATS), with the `pending` lock held, the task idle and nothing queued. With
    /// length-prefixed framing the payload is encoded straight into the bytes the
    /// client keeps; a torq frame is built first. A frame the client has no room for
    /// gives its sender the turn (with `may_wait`) or is queued for the task.
    #[inline(never)]
    pub(super) fn push_to_client<E: Encode + ?Sized>(
        &self,
        mut guard: MutexGuard<'_, Pending>,
        mut msg: Msg<'_, E>,
        may_wait: bool,
    ) -> Result<Option<TurnTicket>, Reject> {
        let p = &mut *guard;
        if let Some(inline) = p.inline.as_mut() {
            let hint = msg.get().encoded_len();
            let length_prefixed =
                self.opts.framing == Framing::LengthPrefixed && hint <= u32::MAX as usize;
            if length_prefixed
                && let Some((handed, size)) = inline.hand_taken(hint, &mut || msg.take_bytes())
            {
                // The message gave up its bytes: the frame is accepted whatever happened.
                p.sequence += 1;
                p.accepted += 1;
                if matches!(handed, Handed::Published) {
                    self.handed(guard, LENGTH_PREFIX_LEN + size);
                } else {
                    // Taken by a client that went away meanwhile: counted, like the
                    // frames it held.
                    drop(guard);
                    self.count_lost(LostReason::Unconfirmed, 1);
                }
                return Ok(None);
            }
            let handed = if length_prefixed {
                inline
                    .hand_encoded(hint, &mut |buf| encode_or_nothing(msg.get(), buf))
                    .map(|(handed, size)| (handed, LENGTH_PREFIX_LEN + size))
            } else {
                None
            };
            let (handed, len) = match handed {
                Some(done) => done,
                None => {
                    // A frame is built and handed over whole (torq), so it can stay
                    // queued if the client does not take it.
                    let sequence = p.sequence + 1;
                    let timestamp = self.timestamp(&mut p.stamp, false);
                    self.seal_queued(&mut p.buf, &mut p.sealed);
                    let len = self.frame(&mut p.buf, msg.get(), sequence, timestamp)?;
                    let handed = inline.hand(&p.buf);
                    p.buf.clear();
                    p.sealed = 0;
                    (handed, len)
                }
            };
            match handed {
                Handed::Published => {
                    p.sequence += 1;
                    p.accepted += 1;
                    self.handed(guard, len);
                    return Ok(None);
                }
                Handed::Full if may_wait => {
                    if let Some(turn) = inline.take_turn() {
                        // Nothing accepted: its sender waits for its turn (see
                        // `Shared::offer`).
                        p.turn = true;
                        return Ok(Some(TurnTicket {
                            turn,
                            generation: p.generation,
                        }));
                    }
                }
                // Queued below: the task hands it over, or meets the error itself.
                _ => {}
            }
        }
        let sequence = p.sequence + 1;
        self.queue_frame(p, msg.get(), sequence)?;
        p.sequence = sequence;
        p.frames += 1;
        p.accepted += 1;
        drop(guard);
        self.wake_writer.notify_one();
        Ok(None)
    }
}

impl Driver {
    /// Confirming transports: asks for a confirmation of everything taken so far,
    /// unless one is already on its way. `Ok(true)`: a stop (or the drain deadline)
    /// interrupted the request, and the caller must look at the stop state again
    /// before it waits (the stop's wake-up was used up here).
    pub(super) async fn ask_confirmation(
        &mut self,
        conn: &mut Connection,
        drain: Option<Instant>,
    ) -> Result<bool, TransportError> {
        if !self.confirming || self.ledger.requested.is_some() || self.ledger.unconfirmed() == 0 {
            return Ok(false);
        }
        let shared = Arc::clone(&self.shared);
        tokio::select! {
            biased;
            () = interrupt(&shared.stop, drain) => Ok(true),
            r = conn.request_confirmation() => {
                r?;
                self.ledger.requested = Some(self.ledger.taken);
                Ok(false)
            }
        }
    }

    /// The requested confirmation arrived: what it covers counts as sent.
    pub(super) fn confirmed(&mut self) {
        let Some(upto) = self.ledger.requested.take() else {
            return;
        };
        let frames = upto.0 - self.ledger.confirmed.0;
        let bytes = upto.1 - self.ledger.confirmed.1;
        self.ledger.confirmed = upto;
        self.show_in_flight();
        self.settle_in_doubt(count(frames));
        self.count_sent(count(frames), count(bytes));
    }

    /// Frames taken by a confirming transport were confirmed or counted lost: they
    /// no longer take room in the queue.
    pub(super) fn settle_in_doubt(&self, frames: usize) {
        if frames == 0 {
            return;
        }
        let wake = {
            let mut p = lock(&self.shared.pending);
            p.in_doubt -= frames;
            p.space_waiters > 0
        };
        if wake {
            self.shared.space.notify_waiters();
        }
    }

    /// Moves senders' direct hand-overs into the ledger (with the `pending` lock held).
    pub(super) fn collect(&mut self, p: &mut Pending) {
        self.ledger.taken.0 += std::mem::take(&mut p.handed_frames);
        self.ledger.taken.1 += std::mem::take(&mut p.handed_bytes);
    }
}
