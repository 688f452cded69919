//! Constructors generated code calls (through `__private`): receivers from literals of
//! `services.toml`, honouring the same environment overrides as sinks.

use std::time::Duration;

use super::inbox::{Inbox, InboxBuilder};
use super::subscription::{Subscription, SubscriptionBuilder};
use crate::codec::Decoder;
use crate::sink::bad_address;
use crate::transport::Endpoint;

/// Everything `services.toml` says about one subscription, as literals.
#[derive(Debug)]
pub struct SubscriptionSpec {
    /// The subscribing service.
    pub service: &'static str,
    /// The relay subscribed to (also the subscription's name).
    pub relay: &'static str,
    /// The relay's endpoint URL as written.
    pub endpoint: &'static str,
    /// Run-time override variable, e.g. `SINKGEN_MARKET_DATA_ENDPOINT`.
    pub env: &'static str,
    /// One connect attempt (and the handshake).
    pub connect_timeout: Duration,
    /// First backoff delay.
    pub backoff_initial: Duration,
    /// Largest backoff delay.
    pub backoff_max: Duration,
    /// The JetStream settings of a `durable` NATS relay (`None`: not durable).
    pub durable: Option<crate::__private::DurableSpec>,
    /// The `credentials` of a NATS relay (`None`: none), built when the subscription
    /// is.
    pub credentials: Option<fn() -> crate::NatsCredentials>,
    /// The relay's `tls` table (`None`: plaintext).
    pub tls: Option<fn() -> crate::__private::TlsSpec>,
}

/// Everything `services.toml` says about a service's inbox, as literals.
#[derive(Debug)]
pub struct InboxSpec {
    /// The receiving service.
    pub service: &'static str,
    /// Its `listen` endpoint as written.
    pub endpoint: &'static str,
    /// Run-time override variable.
    pub env: &'static str,
    /// The services with a direct sink to this one.
    pub senders: &'static [&'static str],
    /// Messages waiting for the application.
    pub queue: usize,
    /// The service's `tls` table (`None`: plaintext).
    pub tls: Option<fn() -> crate::__private::TlsSpec>,
}

/// The endpoint to use and, when it came from the environment, the variable's name.
fn chosen(default: &str, env: &'static str) -> (String, Option<&'static str>) {
    match std::env::var_os(env) {
        Some(v) if !v.is_empty() => (v.to_string_lossy().into_owned(), Some(env)),
        _ => (default.to_owned(), None),
    }
}

fn parsed(
    who: &str,
    endpoint: &str,
    from: Option<&'static str>,
) -> Result<Endpoint, crate::error::TransportError> {
    Endpoint::parse(endpoint).map_err(|message| match from {
        Some(var) => bad_address(format!(
            "bad address in environment variable {var}: {message}"
        )),
        None => bad_address(format!("bad address for {who}: {message}")),
    })
}

/// A subscription from the spec at `endpoint` (`None`: the environment override or the
/// file's endpoint). No I/O; an invalid endpoint gives a subscription whose `recv`
/// returns `None` with the error in its status.
pub fn subscription<M, C: Decoder<M>>(
    spec: &'static SubscriptionSpec,
    endpoint: Option<&str>,
) -> Subscription<M, C> {
    let (endpoint, from) = match endpoint {
        Some(e) => (e.to_owned(), None),
        None => chosen(spec.endpoint, spec.env),
    };
    let who = format!("subscription `{}`", spec.relay);
    let durable = spec.durable.map(|d| d.durable(spec.relay));
    let endpoint_parsed =
        crate::__private::durable_endpoint(parsed(&who, &endpoint, from), durable.clone(), &who);
    let endpoint_parsed = crate::__private::tls_endpoint(endpoint_parsed, spec.tls);
    let mut builder = SubscriptionBuilder::new(endpoint)
        .identity(spec.service, spec.relay)
        .connect_timeout(spec.connect_timeout.max(Duration::from_millis(1)))
        .backoff(
            spec.backoff_initial.max(Duration::from_millis(1)),
            spec.backoff_max,
        );
    if let Some(durable) = durable {
        builder = builder.durable(durable);
    }
    if let Some(credentials) = spec.credentials {
        builder = builder.nats_credentials(credentials());
    }
    Subscription::from_options(builder.options(endpoint_parsed))
}

/// The inbox of a service from the spec at `endpoint` (`None`: the environment override
/// or the file's `listen`). No I/O.
pub fn inbox<M, C: Decoder<M>>(spec: &'static InboxSpec, endpoint: Option<&str>) -> Inbox<M, C> {
    let (endpoint, from) = match endpoint {
        Some(e) => (e.to_owned(), None),
        None => chosen(spec.endpoint, spec.env),
    };
    let who = format!("the inbox of `{}`", spec.service);
    let endpoint_parsed = crate::__private::tls_endpoint(parsed(&who, &endpoint, from), spec.tls);
    let builder = InboxBuilder::new(endpoint)
        .service(spec.service)
        .senders(spec.senders)
        .queue(spec.queue.max(1));
    Inbox::from_options(builder.options(endpoint_parsed))
}
