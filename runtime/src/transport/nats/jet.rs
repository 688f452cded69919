//! Durable relays: publishing through JetStream (see [`crate::durable`]).
//!
//! A durable sink uses sinkgen framing (each frame carries its sequence), and its
//! connection task keeps every frame until acknowledged, as on an acknowledged socket:
//! the acknowledgement is the server's publish acknowledgement, which says the
//! stream stored the message (or already had it: the message id is the frame's
//! session and sequence, and the server drops a resend within the duplicate window).
//! The body alone is the message payload; the id carries session and sequence.
//!
//! The core NATS fence is not needed here: a publish acknowledgement is a stronger
//! confirmation than the fence's "processed without objecting". A task of the
//! connection watches every pending acknowledgement and reports the highest sequence
//! below which all came, so the acknowledgement is cumulative; the first failed one
//! (timeout, the stream gone or without a leader, the connection lost) ends the
//! connection, and the task publishes the kept frames again on the next one (see
//! [`await_acks`]).

use std::io;

use async_nats::jetstream::{self, context::PublishAckFuture, stream};
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio_util::task::AbortOnDropHandle;

use super::{NatsAddress, NatsConnection};
use crate::durable::{Durable, Storage, message_id};
use crate::error::{ErrorClass, TransportError};
use crate::framing::Framing;
use crate::protocol::HEADER_LEN;
use crate::transport::WriteStop;

/// What the acknowledgement task reports: the highest sequence acknowledged, or why
/// the connection ended.
type Acked = Result<u64, TransportError>;

/// One connection publishing a durable relay's frames through JetStream.
pub(crate) struct JetConnection {
    inner: NatsConnection,
    js: jetstream::Context,
    session: u64,
    pending: mpsc::UnboundedSender<(u64, PublishAckFuture)>,
    acked: watch::Receiver<Acked>,
    /// The last value [`JetConnection::acked`] returned.
    taken: u64,
    _acker: AbortOnDropHandle<()>,
}

impl JetConnection {
    /// Connects (as a core NATS sink does: one client that never reconnects by
    /// itself) and makes sure the relay's stream exists, with the file's settings if
    /// it creates it (an existing stream is used as it is).
    pub(crate) async fn connect(
        address: &NatsAddress,
        durable: &Durable,
        name: &str,
        session: u64,
    ) -> Result<JetConnection, TransportError> {
        let inner = NatsConnection::connect(address, Framing::Sinkgen, name).await?;
        let js = jetstream::new(inner.client.clone());
        address.ensure_stream(&js, durable).await?;
        let (pending, rx) = mpsc::unbounded_channel();
        let (tx, acked) = watch::channel(Ok(0));
        let acker = AbortOnDropHandle::new(tokio::spawn(await_acks(rx, tx)));
        Ok(JetConnection {
            inner,
            js,
            session,
            pending,
            acked,
            taken: 0,
            _acker: acker,
        })
    }

    /// The server's `max_payload`.
    pub(crate) fn max_payload(&self) -> usize {
        self.inner.max_payload()
    }

    /// Publishes the frames of `batch[*written..]` (whole sinkgen frames), advancing
    /// `*written` past each one the client took; waits only for the client. Cancel
    /// safe: a frame whose publish was cancelled is published again by the next call
    /// (with the same id, so the server keeps one copy).
    pub(crate) async fn write_batch(
        &mut self,
        batch: &[u8],
        written: &mut usize,
        interrupt: impl Future<Output = ()>,
    ) -> Result<(), WriteStop> {
        super::until_interrupted(self.publish_from(batch, written), interrupt).await
    }

    async fn publish_from(
        &mut self,
        batch: &[u8],
        written: &mut usize,
    ) -> Result<(), TransportError> {
        let subject = self.inner.subject.clone();
        while *written < batch.len() {
            if let Some(e) = self.failure() {
                return Err(e);
            }
            let at = *written;
            let len = Framing::Sinkgen.frame_len(&batch[at..]);
            let frame = &batch[at..at + len];
            let sequence = u64::from_le_bytes(frame[16..24].try_into().expect("a header"));
            let publish = jetstream::message::PublishMessage::build()
                .payload(Bytes::copy_from_slice(&frame[HEADER_LEN..]))
                .message_id(message_id(self.session, sequence));
            let ack = self
                .js
                .send_publish(subject.clone(), publish)
                .await
                .map_err(|e| self.publish_failed(&e, len - HEADER_LEN))?;
            // The acknowledgement task outlives every sender of this channel.
            let _ = self.pending.send((sequence, ack));
            *written += len;
        }
        Ok(())
    }

    fn publish_failed(&self, e: &jetstream::context::PublishError, size: usize) -> TransportError {
        let error = match e.kind() {
            jetstream::context::PublishErrorKind::MaxPayloadExceeded => TransportError::new(
                ErrorClass::Fatal,
                io::ErrorKind::InvalidData,
                format!(
                    "a {size}-byte message is larger than the NATS server's max_payload of {} bytes",
                    self.inner.max_payload()
                ),
            ),
            _ if self.inner.events.is_dead() => self.inner.events.error(),
            _ => retryable(format!("JetStream publish: {e}")),
        };
        self.inner.events.die(error.clone());
        error
    }

    /// Why the connection ended, if it did.
    fn failure(&self) -> Option<TransportError> {
        if let Err(e) = &*self.acked.borrow() {
            return Some(e.clone());
        }
        self.inner
            .events
            .is_dead()
            .then(|| self.inner.events.error())
    }

    /// The highest sequence newly acknowledged since the last call, if any.
    pub(crate) fn acked(&mut self) -> Option<u64> {
        let upto = *self.acked.borrow().as_ref().ok()?;
        (upto > self.taken).then(|| {
            self.taken = upto;
            upto
        })
    }

    /// The connection's error if it ended (acknowledgements are read by a task).
    pub(crate) fn read_acks(&self) -> Result<(), TransportError> {
        self.failure().map_or(Ok(()), Err)
    }

    /// Resolves when acknowledgements arrived that [`acked`](Self::acked) did not
    /// return yet (`Ok`), or with the error when the connection ends. Cancel safe.
    pub(crate) async fn watch(&mut self) -> Result<(), TransportError> {
        loop {
            if let Some(e) = self.failure() {
                return Err(e);
            }
            if matches!(&*self.acked.borrow_and_update(), Ok(upto) if *upto > self.taken) {
                return Ok(());
            }
            tokio::select! {
                r = self.acked.changed() => {
                    if r.is_err() {
                        return Err(super::lost_connection());
                    }
                }
                () = self.inner.events.died() => return Err(self.inner.events.error()),
            }
        }
    }
}

impl NatsAddress {
    /// The stream of a durable relay on this address: created if missing, with
    /// `durable`'s settings and the address's subject; an existing one is used as it
    /// is.
    pub(crate) async fn ensure_stream(
        &self,
        js: &jetstream::Context,
        durable: &Durable,
    ) -> Result<stream::Stream, TransportError> {
        let config = stream::Config {
            name: durable.stream().to_owned(),
            subjects: vec![self.subject().to_owned()],
            duplicate_window: durable.window(),
            storage: match durable.storage_kind() {
                Storage::File => stream::StorageType::File,
                Storage::Memory => stream::StorageType::Memory,
            },
            ..Default::default()
        };
        js.get_or_create_stream(config).await.map_err(|e| {
            retryable(format!(
                "JetStream stream {} at {}: {e}",
                durable.stream(),
                self.server_url()
            ))
        })
    }
}

/// Watches every pending publish acknowledgement at once and reports the highest
/// sequence below which all are acknowledged; ends (and so ends the connection) at the
/// first failed one, wherever it is in the queue.
///
/// Awaiting them in publish order would notice a failure only once every earlier
/// publish was answered or timed out (5 s): around a stream leader's death the
/// publishes after a lost one fail at once (no leader to answer them), but the sink
/// would go on publishing, and once a new leader is elected those later frames would
/// be stored ahead of the lost one's resend. Ending at the first failure stops
/// publishing while there is no leader, which keeps the stream in the sequence's
/// order in all but the narrowest timing (subscriptions put such frames back in order,
/// see `receive::hold`).
async fn await_acks(
    mut pending: mpsc::UnboundedReceiver<(u64, PublishAckFuture)>,
    report: watch::Sender<Acked>,
) {
    use futures_util::StreamExt as _;
    let mut order = AckOrder::default();
    let mut waiting = futures_util::stream::FuturesUnordered::new();
    let mut open = true;
    loop {
        tokio::select! {
            next = pending.recv(), if open => match next {
                Some((sequence, ack)) => {
                    let at = order.push(sequence);
                    waiting.push(async move { (at, ack.await) });
                }
                None => open = false,
            },
            Some((at, answer)) = waiting.next(), if !waiting.is_empty() => {
                match answer {
                    Ok(_) => {
                        if let Some(upto) = order.answered(at) {
                            let _ = report.send_replace(Ok(upto));
                        }
                    }
                    Err(e) => {
                        let _ = report.send_replace(Err(retryable(format!(
                            "JetStream did not acknowledge sequence {}: {e}",
                            order.sequence(at)
                        ))));
                        return;
                    }
                }
            }
            else => return,
        }
    }
}

/// The publishes of one connection in publish order, and which were answered.
#[derive(Default)]
struct AckOrder {
    /// Sequence and whether it was answered, from the oldest unanswered one on.
    queue: std::collections::VecDeque<(u64, bool)>,
    /// The position (in publish order) of the queue's front.
    front: u64,
    /// Positions handed out so far.
    next: u64,
}

impl AckOrder {
    /// Records a publish of `sequence`; returns its position.
    fn push(&mut self, sequence: u64) -> u64 {
        self.queue.push_back((sequence, false));
        self.next += 1;
        self.next - 1
    }

    /// The sequence published at position `at` (still waiting).
    fn sequence(&self, at: u64) -> u64 {
        self.queue[(at - self.front) as usize].0
    }

    /// Position `at` was acknowledged. Returns the new highest sequence with every
    /// one before it acknowledged, if it moved.
    fn answered(&mut self, at: u64) -> Option<u64> {
        let index = (at - self.front) as usize;
        self.queue[index].1 = true;
        let mut upto = None;
        while let Some(&(sequence, true)) = self.queue.front() {
            upto = Some(sequence);
            self.queue.pop_front();
            self.front += 1;
        }
        upto
    }
}

pub(crate) fn retryable(message: String) -> TransportError {
    TransportError::new(ErrorClass::Retryable, io::ErrorKind::Other, message)
}

#[cfg(test)]
mod tests {
    use super::AckOrder;

    #[test]
    fn the_cumulative_sequence_waits_for_the_oldest_answer() {
        let mut order = AckOrder::default();
        let at: Vec<u64> = (5..9).map(|s| order.push(s)).collect();
        assert_eq!(order.answered(at[0]), Some(5));
        // 7 and 8 answered before 6 (a duplicate is answered at once).
        assert_eq!(order.answered(at[3]), None);
        assert_eq!(order.answered(at[2]), None);
        assert_eq!(order.sequence(at[1]), 6);
        assert_eq!(order.answered(at[1]), Some(8));
        let next = order.push(9);
        assert_eq!(order.answered(next), Some(9));
    }
}
