//! Subscriptions to a durable relay (feature `nats`): a JetStream durable consumer on
//! the relay's stream, named after the subscribing service (see [`crate::durable`]).
//!
//! The consumer is a pull consumer: the subscription asks the server for messages
//! (a bounded batch at a time) rather than having them pushed at a subject, so the
//! server holds what the application has not asked for, as a relay's backlog does,
//! and no delivery subject or flow control has to be set up.
//!
//! Each message is acknowledged (`+ACK`) once it was handed out: on the next poll of
//! the link, before the next message is asked for. A connection that ends leaves
//! messages delivered and not handed out; the server would redeliver them only after
//! its ack wait, after newer ones, which would look like a gap and then duplicates.
//! So every connection starts the consumer again at its acknowledgement floor: the
//! consumer is recreated to deliver from the first message not acknowledged. What
//! was handed out and whose acknowledgement was lost comes again and is dropped by
//! (session, sequence), read from the message id.
//!
//! A producer's frames that the stream stored after a hole in its sequence (around a
//! leader change) are held until the hole is filled, unacknowledged, and handed out in
//! order (see [`super::hold`]).

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, message::Acker};
use futures_core::Stream as _;
use tokio::time::Sleep;

use super::Event;
use super::hold::{HOLD_MAX, Hold};
use super::sessions::Sessions;
use crate::durable::{Durable, consumer_name, parse_message_id};
use crate::error::TransportError;
use crate::transport::nats_retryable as retryable;

/// What the link yields: a message with the producer's session and sequence when
/// its id is a sinkgen one.
pub(crate) enum Item {
    Numbered {
        session: u64,
        sequence: u64,
        body: bytes::Bytes,
    },
    Plain(Event),
}

type Acking = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One connection's durable consumer.
pub(crate) struct JetLink {
    _client: async_nats::Client,
    messages: consumer::pull::Stream,
    /// The acknowledgement of the message handed out last, to be sent before the
    /// next one is read.
    handed: Option<Acker>,
    acking: Option<Acking>,
    /// Frames behind a hole in their producer's sequence, with their
    /// acknowledgements.
    hold: Hold<Acker>,
    /// Armed at the hold's deadline while it holds frames.
    wake: Option<Pin<Box<Sleep>>>,
}

impl JetLink {
    /// Connects to `url`, makes sure the relay's stream exists, and (re)creates the
    /// service's durable consumer at its acknowledgement floor. One attempt; the
    /// caller bounds it.
    pub(crate) async fn connect(
        address: &crate::transport::NatsAddress,
        durable: &Durable,
        service: &str,
        name: &str,
    ) -> Result<JetLink, TransportError> {
        let url = address.server_url();
        let credentials = address.resolve_credentials()?;
        let options = crate::transport::nats_options(credentials)
            .name(name)
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(1)
            .ignore_discovered_servers()
            .retain_servers_order();
        let options = address.prepare(options).await?;
        let client = options
            .connect(url.as_str())
            .await
            .map_err(|e| retryable(format!("subscribe at {url}: {e}")))?;
        let js = jetstream::new(client.clone());
        let stream = address.ensure_stream(&js, durable).await?;
        let durable_name = consumer_name(service);
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            retryable(format!(
                "JetStream consumer {durable_name} on {}: {what}: {e}",
                durable.stream()
            ))
        };
        // Start again at the first message not acknowledged (see the module docs).
        let floor = match stream.consumer_info(&durable_name).await {
            Ok(info) => {
                let floor = info.ack_floor.stream_sequence;
                stream
                    .delete_consumer(&durable_name)
                    .await
                    .map_err(|e| fail("delete", &e))?;
                Some(floor)
            }
            Err(_) => None,
        };
        let config = consumer::pull::Config {
            durable_name: Some(durable_name.clone()),
            ack_policy: consumer::AckPolicy::Explicit,
            // Held frames stay unacknowledged: the server must go on delivering past
            // them (the frame that fills their hole comes after them).
            max_ack_pending: (HOLD_MAX + 1024) as i64,
            deliver_policy: match floor {
                Some(floor) => consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: floor + 1,
                },
                None => consumer::DeliverPolicy::All,
            },
            ..Default::default()
        };
        let consumer = stream
            .create_consumer(config)
            .await
            .map_err(|e| fail("create", &e))?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(256)
            .heartbeat(Duration::from_secs(5))
            .messages()
            .await
            .map_err(|e| fail("pull", &e))?;
        Ok(JetLink {
            _client: client,
            messages,
            handed: None,
            acking: None,
            hold: Hold::new(durable.reorder_wait_time()),
            wake: None,
        })
    }

    /// The next item to hand out. `sessions` says what each producer session waits
    /// for next (what the subscription handed out so far).
    pub(crate) fn poll_item(
        &mut self,
        cx: &mut Context<'_>,
        sessions: &Sessions,
    ) -> Poll<Result<Item, TransportError>> {
        if let Some(acker) = self.handed.take() {
            self.acking = Some(Box::pin(async move {
                // A lost acknowledgement means a redelivery, dropped as a duplicate.
                let _ = acker.ack().await;
            }));
        }
        if let Some(acking) = &mut self.acking {
            ready!(acking.as_mut().poll(cx));
            self.acking = None;
        }
        loop {
            if !self.hold.is_empty()
                && let Some(r) = self.hold.release(|s| sessions.expects(s), Instant::now())
            {
                self.handed = Some(r.ticket);
                return Poll::Ready(Ok(Item::Numbered {
                    session: r.session,
                    sequence: r.sequence,
                    body: r.body,
                }));
            }
            let message = match Pin::new(&mut self.messages).poll_next(cx) {
                Poll::Ready(Some(Ok(m))) => m,
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(retryable(format!("JetStream pull: {e}"))));
                }
                Poll::Ready(None) => {
                    return Poll::Ready(Err(retryable("the NATS connection ended".to_owned())));
                }
                Poll::Pending if self.hold_due(cx) => continue,
                Poll::Pending => return Poll::Pending,
            };
            let (message, acker) = message.split();
            let id = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .and_then(|id| parse_message_id(id.as_str()));
            let Some((session, sequence)) = id else {
                self.handed = Some(acker);
                return Poll::Ready(Ok(Item::Plain(Event::Data {
                    producer: super::Producer::new("", "", 0),
                    body: message.payload,
                })));
            };
            let expects = sessions.expects(session);
            if let Some((body, acker)) = self.hold.offer(
                session,
                sequence,
                expects,
                message.payload,
                acker,
                Instant::now,
            ) {
                self.handed = Some(acker);
                return Poll::Ready(Ok(Item::Numbered {
                    session,
                    sequence,
                    body,
                }));
            }
        }
    }

    /// Nothing to read: whether the hold's deadline passed (the loop then gives the
    /// oldest hole up); if not, the task is woken at it.
    fn hold_due(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.hold.deadline() else {
            self.wake = None;
            return false;
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        let wake = self
            .wake
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if wake.deadline() != deadline {
            wake.as_mut().reset(deadline);
        }
        wake.as_mut().poll(cx).is_ready()
    }
}
