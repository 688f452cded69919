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

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_nats::jetstream::context::{PublishAckFuture, PublishError};
use async_nats::jetstream::{self, publish::PublishAck, stream};
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

/// How long the oldest publish may wait for its acknowledgement before the ones
/// behind it are looked at for a failure (see [`await_acks`]).
const SWEEP: Duration = Duration::from_millis(20);

type AckFuture = Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>;

/// A publish waiting in [`await_acks`].
enum Ack {
    Waiting(AckFuture),
    /// A look found it acknowledged.
    Stored,
}

/// Awaits the publish acknowledgements in publish order and reports the highest
/// sequence acknowledged; the first failure ends it (and so the connection).
///
/// While the oldest publish goes unanswered for a whole [`SWEEP`], the ones behind
/// it are looked at too, and a failure among them ends the connection at once.
/// Around a stream leader's death, the publish sent to the dying leader is answered
/// only by its timeout (5 s), while those after it fail at once (no leader to
/// answer): without the look, the sink would go on publishing until the timeout,
/// and once a new leader is elected those later frames would be stored ahead of
/// the lost one's resend. Stopping at the first failure keeps the stream in the
/// sequence's order in all but the narrowest timing (subscriptions put such frames
/// back in order, see `receive::hold`). Only the oldest publish is awaited
/// otherwise: watching every one would arm a timer per publish.
async fn await_acks(
    mut pending: mpsc::UnboundedReceiver<(u64, PublishAckFuture)>,
    report: watch::Sender<Acked>,
) {
    let fail = |sequence: u64, e: &PublishError| {
        let _ = report.send_replace(Err(retryable(format!(
            "JetStream did not acknowledge sequence {sequence}: {e}"
        ))));
    };
    // Publish order: each sequence, and its acknowledgement.
    let mut queue: VecDeque<(u64, Ack)> = VecDeque::new();
    let mut tick = tokio::time::interval(SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The oldest publish at the last tick.
    let mut oldest = None;
    let mut open = true;
    loop {
        // Answers a look already found, oldest first.
        let mut upto = None;
        while let Some((sequence, Ack::Stored)) = queue.front() {
            upto = Some(*sequence);
            queue.pop_front();
        }
        if let Some(upto) = upto {
            let _ = report.send_replace(Ok(upto));
        }
        let Some((sequence, Ack::Waiting(head))) = queue.front_mut() else {
            match pending.recv().await {
                Some((sequence, ack)) => {
                    queue.push_back((sequence, Ack::Waiting(ack.into_future())))
                }
                None => return,
            }
            continue;
        };
        let sequence = *sequence;
        tokio::select! {
            biased;
            answer = head.as_mut() => {
                if let Err(e) = answer {
                    fail(sequence, &e);
                    return;
                }
                queue.pop_front();
                let _ = report.send_replace(Ok(sequence));
            }
            next = pending.recv(), if open => match next {
                Some(first) => {
                    // Everything published so far, then back to the oldest.
                    let mut next = Some(first);
                    while let Some((sequence, ack)) = next {
                        queue.push_back((sequence, Ack::Waiting(ack.into_future())));
                        next = pending.try_recv().ok();
                    }
                }
                None => open = false,
            },
            _ = tick.tick() => {
                if oldest == Some(sequence)
                    && let Err((sequence, e)) = look(&mut queue)
                {
                    fail(sequence, &e);
                    return;
                }
                oldest = Some(sequence);
            }
        }
    }
}

/// Polls once every publish behind the oldest: marks those acknowledged, returns the
/// first failure.
fn look(queue: &mut VecDeque<(u64, Ack)>) -> Result<(), (u64, PublishError)> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    for (sequence, ack) in queue.iter_mut().skip(1) {
        if let Ack::Waiting(future) = ack {
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(Ok(_)) => *ack = Ack::Stored,
                Poll::Ready(Err(e)) => return Err((*sequence, e)),
                Poll::Pending => {}
            }
        }
    }
    Ok(())
}

pub(crate) fn retryable(message: String) -> TransportError {
    TransportError::new(ErrorClass::Retryable, io::ErrorKind::Other, message)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use async_nats::jetstream::context::{PublishError, PublishErrorKind};
    use async_nats::jetstream::publish::PublishAck;

    use super::{Ack, look};

    fn answered(ok: bool) -> Ack {
        Ack::Waiting(Box::pin(std::future::ready(if ok {
            Ok(PublishAck::default())
        } else {
            Err(PublishError::new(PublishErrorKind::StreamNotFound))
        })))
    }

    fn waiting() -> Ack {
        Ack::Waiting(Box::pin(std::future::pending()))
    }

    #[test]
    fn a_look_marks_what_was_stored_and_leaves_the_oldest_alone() {
        let mut queue = VecDeque::from([(1, answered(false)), (2, answered(true)), (3, waiting())]);
        assert!(
            look(&mut queue).is_ok(),
            "the oldest is awaited, not looked at"
        );
        assert!(matches!(queue[1].1, Ack::Stored));
        assert!(matches!(queue[2].1, Ack::Waiting(_)));
    }

    #[test]
    fn a_look_finds_a_failure_behind_the_oldest() {
        let mut queue = VecDeque::from([
            (1, waiting()),
            (2, answered(true)),
            (3, answered(false)),
            (4, answered(false)),
        ]);
        let (sequence, e) = look(&mut queue).expect_err("3 failed");
        assert_eq!(sequence, 3);
        assert_eq!(e.kind(), PublishErrorKind::StreamNotFound);
    }
}
