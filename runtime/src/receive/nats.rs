//! Subscriptions over NATS (feature `nats`): a core NATS subscription on the relay's
//! subject. Each NATS message is one message (sinkgen framing is not used over NATS):
//! there are no sequences, so no de-duplication, gaps or acknowledgements, and the
//! producer is unnamed. What the server drops while the subscription is disconnected
//! is lost, as for any core NATS subscriber.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream as _;

use super::{Event, Producer};
use crate::error::{ErrorClass, TransportError};

/// One connection's subscription. The client does not reconnect by itself: when its
/// connection ends, the subscription ends and the handle reconnects under its backoff.
pub(crate) struct NatsLink {
    _client: async_nats::Client,
    messages: async_nats::Subscriber,
    producer: Producer,
}

impl NatsLink {
    /// Connects to `url` and subscribes to `subject` (one attempt; the caller bounds
    /// it). The attempt runs as a task of its own, so that a panic in the client (a
    /// server that asks for TLS, which is not built in) is an error, not a crash.
    pub(crate) async fn connect(
        address: &crate::transport::NatsAddress,
        name: &str,
    ) -> Result<NatsLink, TransportError> {
        let (url, subject) = (address.server_url(), address.subject().to_owned());
        let credentials = address.resolve_credentials()?;
        let options = crate::transport::nats_options(credentials)
            .name(name)
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(1)
            .ignore_discovered_servers()
            .retain_servers_order();
        let options = address.prepare(options).await?;
        let target = url.clone();
        let attempt = tokio::spawn(async move {
            let client = options
                .connect(target.as_str())
                .await
                .map_err(|e| e.to_string())?;
            let messages = client.subscribe(subject).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((client, messages))
        });
        let abort = attempt.abort_handle();
        let _guard = AbortOnDrop(abort);
        let (client, messages) = match attempt.await {
            Ok(Ok(ok)) => ok,
            Ok(Err(e)) => return Err(retryable(format!("subscribe at {url}: {e}"))),
            Err(e) => return Err(retryable(format!("subscribe at {url}: {e}"))),
        };
        Ok(NatsLink {
            _client: client,
            messages,
            producer: Producer::new("", "", 0),
        })
    }

    pub(crate) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Event, TransportError>> {
        match ready!(Pin::new(&mut self.messages).poll_next(cx)) {
            Some(message) => Poll::Ready(Ok(Event::Data {
                producer: self.producer.clone(),
                body: message.payload,
            })),
            None => Poll::Ready(Err(retryable("the NATS connection ended".to_owned()))),
        }
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn retryable(message: String) -> TransportError {
    TransportError::new(
        ErrorClass::Retryable,
        std::io::ErrorKind::ConnectionAborted,
        message,
    )
}
