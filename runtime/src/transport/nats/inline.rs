//! The sender side of a NATS connection: publishing a frame straight through the
//! client while the connection task is idle, the credit that says when that cannot
//! wait, and the turn a sender takes when the client's buffer is full.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_nats::{Client, Subject};
use bytes::{Bytes, BytesMut};
use futures_sink::Sink;

use super::{CHUNK, CLIENT_CAPACITY, payload_of, share};
use crate::framing::Framing;
use crate::transport::Handed;

/// What senders publish through while the connection task is idle: the client, the
/// subject, and a chunk to copy payloads into.
pub(crate) struct NatsInline {
    pub(super) client: Client,
    /// Room in the client's buffer known to be free: a publish within it cannot
    /// wait, so a message may give up its own bytes for it (see
    /// [`NatsInline::try_publish_taken`]).
    pub(super) credit: Credit,
    /// The handle a sender waits with for its turn (see [`NatsTurn`]), kept between
    /// turns; `None` while a sender holds it (or lost with a cancelled one).
    pub(super) turn: Option<Box<Client>>,
    pub(super) subject: Subject,
    pub(super) framing: Framing,
    pub(super) chunk: BytesMut,
}

/// How much of the client's buffer is surely free, from what this connection
/// published and what the client reports it has written (`out_messages` counts a
/// message once the client has taken it out of its buffer, so the estimate of what
/// the buffer holds is never too low).
pub(super) struct Credit {
    pub(super) stats: Arc<async_nats::Statistics>,
    /// Messages published through [`NatsInline`].
    pub(super) published: u64,
    /// Messages the connection task published (its batches).
    pub(super) task_published: Arc<AtomicU64>,
    pub(super) free: u64,
    /// Publishes to let pass before looking at the client's counter again, after it
    /// showed no room.
    pub(super) skip: u32,
}

/// Buffer slots kept out of the credit: a fence, a turn's reservation and a
/// reservation waiting in the client may hold a few at any time.
const CREDIT_MARGIN: u64 = 64;

impl Credit {
    fn available(&mut self) -> bool {
        if self.free > 0 {
            return true;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        let written = self.stats.out_messages.load(Ordering::Relaxed);
        let ours = self.published + self.task_published.load(Ordering::Relaxed);
        let held = ours.saturating_sub(written) + CREDIT_MARGIN;
        self.free = (CLIENT_CAPACITY as u64).saturating_sub(held);
        if self.free == 0 {
            self.skip = 64;
        }
        self.free > 0
    }

    fn used(&mut self) {
        self.published += 1;
        self.free = self.free.saturating_sub(1);
    }
}

/// The handle a sender waits with for room in the client's buffer, when a direct
/// publish found it full. Only one sender holds it at a time (the sink's turn), so
/// frames still reach the client in the order their senders were accepted.
pub(crate) struct NatsTurn(Box<Client>);

impl NatsTurn {
    /// Waits until the client reserved room for one message (`true`), or is gone
    /// (`false`). Cancel safe: the reservation stays with the handle.
    pub(in crate::transport) async fn ready(&mut self) -> bool {
        std::future::poll_fn(|cx| Pin::new(&mut *self.0).poll_ready(cx))
            .await
            .is_ok()
    }
}

impl NatsInline {
    /// Publishes one whole frame if the client takes it at once; never waits.
    ///
    /// Anything but `Published` means nothing was published: the caller keeps the
    /// frame (queued for the connection task, which meets any error itself), or,
    /// when the buffer is full (`Full`), its sender waits for its turn.
    pub(in crate::transport) fn try_publish(&mut self, frame: &[u8]) -> Handed {
        let payload = share(&mut self.chunk, payload_of(self.framing, frame));
        self.publish_now(payload)
    }

    /// [`try_publish`](Self::try_publish) for length-prefixed framing without a frame:
    /// `encode` writes the payload straight into the shared bytes it is published
    /// from (`hint`: its expected size). Returns what happened and the payload size.
    pub(in crate::transport) fn try_publish_encoded(
        &mut self,
        hint: usize,
        encode: &mut dyn FnMut(&mut BytesMut),
    ) -> (Handed, usize) {
        if self.chunk.capacity() < hint {
            self.chunk = BytesMut::with_capacity(CHUNK.max(hint));
        }
        encode(&mut self.chunk);
        let payload = self.chunk.split().freeze();
        let size = payload.len();
        (self.publish_now(payload), size)
    }

    fn publish_now(&mut self, payload: Bytes) -> Handed {
        // The client's channel only makes a sender wait when it is full; a publish
        // that is not done at its first poll is dropped, which publishes nothing
        // (`unconstrained`: tokio's cooperative budget must not make it look full).
        // The (large) publish future is pinned where it is made, and only a small
        // wrapper that polls it is moved.
        let mut publish = std::pin::pin!(self.client.publish(self.subject.clone(), payload));
        let once = std::pin::pin!(tokio::task::unconstrained(std::future::poll_fn(|cx| {
            publish.as_mut().poll(cx)
        })));
        match once.poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
            std::task::Poll::Ready(Ok(())) => {
                self.credit.used();
                Handed::Published
            }
            std::task::Poll::Ready(Err(_)) => Handed::Nothing,
            std::task::Poll::Pending => Handed::Full,
        }
    }

    /// Publishes a length-prefixed frame's payload that the message gives up
    /// (`take`, see [`Encode::take_bytes`]), without a copy, when the client surely
    /// has room for it: `None` (and `take` not called, or the message gave nothing)
    /// otherwise. `Some((handed, size))`: anything but `Published` means the
    /// message's bytes were lost with a client that went away.
    ///
    /// [`Encode::take_bytes`]: crate::Encode::take_bytes
    pub(in crate::transport) fn try_publish_taken(
        &mut self,
        hint: usize,
        take: &mut dyn FnMut() -> Option<Bytes>,
    ) -> Option<(Handed, usize)> {
        if hint > self.client.max_payload() || !self.credit.available() {
            return None;
        }
        let payload = take()?;
        let size = payload.len();
        Some((self.publish_now(payload), size))
    }

    /// Forgets the credit (the connection task published meanwhile).
    pub(in crate::transport) fn reset_credit(&mut self) {
        self.credit.free = 0;
        self.credit.skip = 0;
    }

    /// The handle for the sender whose turn it is.
    pub(in crate::transport) fn take_turn(&mut self) -> NatsTurn {
        NatsTurn(
            self.turn
                .take()
                .unwrap_or_else(|| Box::new(self.client.clone())),
        )
    }

    /// Publishes one whole frame with the room `turn` reserved, and keeps the handle
    /// for the next publish. `false`: nothing was published (the client refused it).
    pub(in crate::transport) fn publish_reserved(
        &mut self,
        mut turn: NatsTurn,
        frame: &[u8],
    ) -> bool {
        let payload = payload_of(self.framing, frame);
        if payload.len() > self.client.max_payload() {
            // Queued instead: the task drops it and counts it.
            self.turn = Some(turn.0);
            return false;
        }
        let payload = share(&mut self.chunk, payload);
        let message = async_nats::message::OutboundMessage {
            subject: self.subject.clone(),
            reply: None,
            payload,
            headers: None,
        };
        let sent = Pin::new(&mut *turn.0).start_send(message).is_ok();
        if sent {
            self.credit.used();
        }
        self.turn = Some(turn.0);
        sent
    }

    /// Keeps the handle of a turn that published nothing (its reservation, if any,
    /// serves the next publish).
    pub(in crate::transport) fn end_turn(&mut self, turn: NatsTurn) {
        self.turn = Some(turn.0);
    }
}
