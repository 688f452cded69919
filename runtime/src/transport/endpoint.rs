//! Where a sink connects: an [`Endpoint`], parsed by the grammar the front end
//! applies to `services.toml`, and secured or given credentials as the file says.

use std::path::PathBuf;

#[cfg(feature = "nats")]
use super::nats;
#[cfg(feature = "ws")]
use super::ws;

/// Where a sink connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `unix:///absolute/path`
    Unix(PathBuf),
    /// `tcp://host:port`; kept as `host:port` in canonical form (IPv6 hosts in
    /// brackets, names lowercased).
    Tcp(String),
    /// A `tcp://` endpoint secured with TLS (feature `tls`): `host:port` as in
    /// [`Endpoint::Tcp`], and how it is secured.
    #[cfg(feature = "tls")]
    TcpTls(String, Box<crate::tls::Tls>),
    /// `nats://host:port/subject`: frames are published as NATS messages.
    #[cfg(feature = "nats")]
    Nats(nats::NatsAddress),
    /// A `nats://` endpoint of a durable relay: frames are published through
    /// JetStream (see [`crate::durable`]).
    #[cfg(feature = "nats")]
    Jet(nats::NatsAddress, crate::durable::Durable),
    /// `ws://host:port/path` (or `wss://`): one WebSocket binary message per frame.
    #[cfg(feature = "ws")]
    Ws(ws::WsAddress),
}

impl Endpoint {
    /// Parses an endpoint URL by the grammar the front end applies to `services.toml`
    /// (`sinkgen_config`), so an override is accepted exactly when the same text in the
    /// file would be; the error says what the front end would say, and how to fix it.
    pub(crate) fn parse(text: &str) -> Result<Endpoint, String> {
        let parsed = sinkgen_config::parse_endpoint(text).map_err(|e| {
            format!(
                "`{}`: {}; help: {}",
                sinkgen_config::printable(text),
                e.message,
                e.help
            )
        })?;
        match parsed {
            sinkgen_config::Endpoint::Unix(path) => Ok(Endpoint::Unix(path)),
            sinkgen_config::Endpoint::Tcp { .. } => {
                Ok(Endpoint::Tcp(parsed.authority().unwrap_or_default()))
            }
            #[cfg(feature = "nats")]
            sinkgen_config::Endpoint::Nats {
                host,
                port,
                subject,
            } => Ok(Endpoint::Nats(nats::NatsAddress::new(&host, port, subject))),
            #[cfg(not(feature = "nats"))]
            sinkgen_config::Endpoint::Nats { .. } => Err(format!(
                "endpoint `{}` is a NATS relay; enable the `nats` feature of sinkgen-runtime",
                sinkgen_config::printable(text)
            )),
            #[cfg(all(feature = "ws", not(feature = "tls")))]
            sinkgen_config::Endpoint::Ws { secure: true, .. } => Err(format!(
                "endpoint `{}` is a WebSocket server over TLS; enable the `tls` feature of \
                 sinkgen-runtime (with `ws`)",
                sinkgen_config::printable(text)
            )),
            #[cfg(feature = "ws")]
            sinkgen_config::Endpoint::Ws { secure, .. } => Ok(Endpoint::Ws(ws::WsAddress {
                secure,
                authority: parsed.authority().unwrap_or_default(),
                url: parsed.to_string(),
                #[cfg(feature = "tls")]
                tls: None,
            })),
            #[cfg(not(feature = "ws"))]
            sinkgen_config::Endpoint::Ws { .. } => Err(format!(
                "endpoint `{}` is a WebSocket server; enable the `ws` feature of sinkgen-runtime",
                sinkgen_config::printable(text)
            )),
        }
    }

    /// The endpoint with NATS `credentials` presented by its connections; an error
    /// for credentials on an endpoint that is not a NATS one (an environment override
    /// to a socket, a hand-built sink): only a NATS server takes them.
    pub(crate) fn with_credentials(
        self,
        credentials: Option<crate::NatsCredentials>,
    ) -> Result<Endpoint, String> {
        let Some(credentials) = credentials else {
            return Ok(self);
        };
        match self {
            #[cfg(feature = "nats")]
            Endpoint::Nats(address) => {
                Ok(Endpoint::Nats(address.with_credentials(Some(credentials))))
            }
            #[cfg(feature = "nats")]
            Endpoint::Jet(address, durable) => Ok(Endpoint::Jet(
                address.with_credentials(Some(credentials)),
                durable,
            )),
            _ => Err(format!(
                "NATS credentials (`{}`) are presented to a NATS server only, so the endpoint \
                 must be nats://host:port/subject; help: point it at the relay's NATS server",
                credentials.secret().key()
            )),
        }
    }
}

impl Endpoint {
    /// The endpoint secured with `tls`: `tcp://`, `nats://` and `wss://` only.
    #[cfg(feature = "tls")]
    pub(crate) fn secured(self, tls: &crate::tls::Tls) -> Result<Endpoint, String> {
        match self {
            Endpoint::Tcp(addr) | Endpoint::TcpTls(addr, _) => {
                Ok(Endpoint::TcpTls(addr, Box::new(tls.clone())))
            }
            #[cfg(feature = "nats")]
            Endpoint::Nats(address) => Ok(Endpoint::Nats(address.secured(tls))),
            #[cfg(feature = "nats")]
            Endpoint::Jet(address, durable) => Ok(Endpoint::Jet(address.secured(tls), durable)),
            Endpoint::Unix(path) => Err(format!(
                "`unix://{}` cannot be secured with TLS (a Unix socket never leaves the host); \
                 help: remove `tls`, or use a `tcp://` endpoint",
                path.display()
            )),
            #[cfg(feature = "ws")]
            Endpoint::Ws(mut address) if address.secure => {
                address.tls = Some(Box::new(tls.clone()));
                Ok(Endpoint::Ws(address))
            }
            #[cfg(feature = "ws")]
            Endpoint::Ws(address) => Err(format!(
                "`{}` cannot be secured with a TLS configuration: a ws:// endpoint is plain \
                 WebSocket; help: use `wss://{}`, or remove `tls`",
                address.url,
                address.url.strip_prefix("ws://").unwrap_or(&address.url)
            )),
        }
    }
}
