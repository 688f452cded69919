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

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, message::Acker};
use futures_core::Stream as _;

use super::Event;
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
        })
    }

    pub(crate) fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Result<Item, TransportError>> {
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
        let message = match ready!(Pin::new(&mut self.messages).poll_next(cx)) {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Poll::Ready(Err(retryable(format!("JetStream pull: {e}")))),
            None => return Poll::Ready(Err(retryable("the NATS connection ended".to_owned()))),
        };
        let (message, acker) = message.split();
        self.handed = Some(acker);
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .and_then(|id| parse_message_id(id.as_str()));
        Poll::Ready(Ok(match id {
            Some((session, sequence)) => Item::Numbered {
                session,
                sequence,
                body: message.payload,
            },
            None => Item::Plain(Event::Data {
                producer: super::Producer::new("", "", 0),
                body: message.payload,
            }),
        }))
    }
}
