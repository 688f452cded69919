//! [`SubscriptionBuilder`]: a subscription's endpoint, identity and policy, checked
//! before its first `recv`.

use super::*;
use crate::link::Link;

/// Builds a [`Subscription`] from a relay's endpoint and the subscriber's identity.
///
/// Defaults are those of sinks in `services.toml` (`sinkgen_config::policy`):
/// `connect_timeout` 500 ms, backoff 10 ms to 1 s; frames up to 16 MiB.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct SubscriptionBuilder {
    link: Link,
    name: Option<Arc<str>>,
    service: Arc<str>,
    relay: Arc<str>,
    durable: Option<crate::durable::Durable>,
}

impl SubscriptionBuilder {
    /// Starts a builder for the relay at `endpoint` (`unix:///path`, `tcp://host:port`,
    /// or with the `nats` feature `nats://host:port/subject`).
    pub fn new(endpoint: impl Into<String>) -> SubscriptionBuilder {
        SubscriptionBuilder {
            link: Link::new(endpoint.into()),
            name: None,
            service: Arc::from(""),
            relay: Arc::from(""),
            durable: None,
        }
    }

    /// Reads a durable relay (a `nats://` endpoint) through a JetStream durable
    /// consumer named after the subscribing service (see [`crate::durable`]): what
    /// the relay stores while the subscription is away waits for it.
    pub fn durable(mut self, durable: crate::durable::Durable) -> SubscriptionBuilder {
        self.durable = Some(durable);
        self
    }

    /// Who subscribes, for the handshake: the subscribing `service` and the `relay`'s
    /// name in `services.toml`. A relay refuses a service that does not list it in
    /// `subscribes`.
    pub fn identity(mut self, service: &str, relay: &str) -> SubscriptionBuilder {
        self.service = Arc::from(service);
        self.relay = Arc::from(relay);
        self
    }

    /// The name in [`ReceiveStatus`], `tracing` events and metric labels (default: the
    /// relay's name, or the endpoint).
    pub fn name(mut self, name: &str) -> SubscriptionBuilder {
        self.name = Some(Arc::from(name));
        self
    }

    /// Longest time one connect attempt, and then the relay's answer to the
    /// handshake, may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> SubscriptionBuilder {
        self.link.connect_timeout = timeout;
        self
    }

    /// Delay between connect attempts: exponential from `initial` to `max`, with full
    /// jitter, as for sinks.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> SubscriptionBuilder {
        self.link.backoff_initial = initial;
        self.link.backoff_max = max;
        self
    }

    /// The largest message body accepted (default 16 MiB). A larger frame breaks the
    /// connection: the subscription refuses it (code `TooLarge`) and reconnects.
    pub fn max_frame(mut self, bytes: usize) -> SubscriptionBuilder {
        self.link.max_frame = bytes;
        self
    }

    /// What the subscription presents to its NATS server (a `nats://` endpoint), read
    /// from the secret at every connect attempt (see [`crate::credentials`]); a
    /// failure is retried under backoff.
    pub fn nats_credentials(mut self, credentials: crate::NatsCredentials) -> SubscriptionBuilder {
        self.link.credentials = Some(credentials);
        self
    }

    /// Secures the connection with TLS (feature `tls`; a `tcp://` or `nats://`
    /// endpoint): see [`crate::tls`]. Secrets are read at each connection attempt.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::Tls) -> SubscriptionBuilder {
        self.link.tls = Some(tls);
        self
    }

    fn check(&self) -> Result<Endpoint, BuildError> {
        self.check_endpoint()?
            .with_credentials(self.link.credentials.clone())
            .map_err(BuildError::new)
    }

    fn check_endpoint(&self) -> Result<Endpoint, BuildError> {
        match (&self.durable, self.link.endpoint()?) {
            (None, endpoint) => Ok(endpoint),
            #[cfg(feature = "nats")]
            (Some(durable), Endpoint::Nats(address)) => Ok(Endpoint::Jet(address, durable.clone())),
            (Some(_), _) => Err(BuildError::new(format!(
                "`{}` is not a nats:// endpoint; only a NATS relay can be durable (JetStream); \
                 help: remove `durable`, or relay through `nats://host:port/subject`",
                sinkgen_config::printable(&self.link.endpoint)
            ))),
        }
    }

    pub(crate) fn options(self, endpoint: Result<Endpoint, TransportError>) -> Options {
        let name = self.link.name(self.name, &self.relay);
        let link = self.link;
        let endpoint = endpoint.and_then(|e| {
            e.with_credentials(link.credentials).map_err(|m| {
                crate::sink::bad_address(format!("bad address for subscription `{name}`: {m}"))
            })
        });
        Options {
            name,
            endpoint,
            service: self.service,
            relay: self.relay,
            connect_timeout: link.connect_timeout,
            backoff_initial: link.backoff_initial,
            backoff_max: link.backoff_max.max(link.backoff_initial),
            max_frame: link.max_frame,
        }
    }

    /// Builds the subscription. No I/O happens here: it connects on the first
    /// [`recv`](Subscription::recv).
    ///
    /// # Errors
    ///
    /// [`BuildError`] when the endpoint does not parse or an option is out of range.
    pub fn build<M: Decode>(self) -> Result<Subscription<M>, BuildError> {
        let endpoint = self.check()?;
        Ok(Subscription::from_options(self.options(Ok(endpoint))))
    }

    /// [`build`](Self::build) for a message type read by codec `C` (see
    /// [`codec`](crate::codec)), e.g. `.build_with::<Quote, Postcard>()`.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    pub fn build_with<M, C: Decoder<M>>(self) -> Result<Subscription<M, C>, BuildError> {
        let endpoint = self.check()?;
        Ok(Subscription::from_options(self.options(Ok(endpoint))))
    }
}

/// Everything a subscription is configured with.
pub(crate) struct Options {
    pub(crate) name: Arc<str>,
    pub(crate) endpoint: Result<Endpoint, TransportError>,
    pub(crate) service: Arc<str>,
    pub(crate) relay: Arc<str>,
    pub(crate) connect_timeout: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) max_frame: usize,
}
