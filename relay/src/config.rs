//! What the relay serves, read from a [`Topology`] or built by hand.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sinkgen::model::{Endpoint, Framing, Topology};

/// Everything one relay process serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The `services.toml` the relays come from (named in errors).
    pub file: PathBuf,
    /// The relays, in file order.
    pub relays: Vec<RelaySpec>,
}

/// One relay: where it listens, what it speaks, who may use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySpec {
    /// The relay's name in `services.toml`.
    pub name: String,
    /// Where it listens.
    pub listen: Listen,
    /// The protocol its producers and subscribers speak.
    pub protocol: Protocol,
    /// 1-based line of `[relays.<name>]` in the file (named in errors).
    pub line: u32,
    /// The declared producers: `(service, sink)` of every relay sink to this relay.
    pub producers: Vec<(String, String)>,
    /// The declared subscribers: every service listing this relay in `subscribes`.
    pub subscribers: Vec<String>,
    /// Frames held per subscriber (protocol `sinkgen`), or queued per connection
    /// (foreign protocols), before the oldest are dropped.
    pub backlog: usize,
    /// Permission bits of a Unix socket (owner-only, `0o600`, by default).
    pub socket_mode: u32,
    /// The relay's `tls` table: a tcp:// relay served over TLS with its `cert` and
    /// `key` (and, with `client_cert`, requiring client certificates signed by `ca`).
    pub tls: Option<sinkgen_runtime::tls::Tls>,
    /// How long after the start a declared subscriber that has not connected yet holds
    /// back acknowledgements to producers ([`GRACE`] by default): long enough for the
    /// subscribers of a relay that crashed to reconnect to its successor.
    pub grace: Duration,
}

/// The default [`RelaySpec::grace`]: twice the default longest backoff of sinks and
/// subscriptions, so subscribers that were connected reconnect within it.
pub const GRACE: Duration = Duration::from_secs(2);

/// Where a relay listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A Unix socket at this path.
    Unix(PathBuf),
    /// A TCP address, `host:port`.
    Tcp(String),
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Unix(p) => write!(f, "unix://{}", p.display()),
            Listen::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// How producers and subscribers talk to a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// sinkgen's own protocol (`docs/PROTOCOL.md`): handshake, acknowledgements,
    /// per-subscriber backlogs.
    Sinkgen,
    /// Torq frames of this domain: every connection sends and receives, each frame
    /// goes to every other connection. No acknowledgements.
    Torq {
        /// The relay's domain byte; frames of another domain are refused.
        domain: u8,
    },
    /// Length-prefixed frames, fanned out like torq frames.
    LengthPrefixed,
}

/// The protocol of a relay's framing in `services.toml`: the one place that maps the
/// file's framings to what the relay speaks.
#[must_use]
pub fn protocol_of(framing: Framing) -> Option<Protocol> {
    match framing {
        Framing::Torq { domain } => Some(Protocol::Torq { domain }),
        Framing::LengthPrefixed => Some(Protocol::LengthPrefixed),
        Framing::Sinkgen => Some(Protocol::Sinkgen),
        _ => None,
    }
}

impl Config {
    /// The relays of `topology` that have a `unix://` or `tcp://` endpoint (NATS relays
    /// are served by NATS), with their producers and subscribers.
    #[must_use]
    pub fn from_topology(topology: &Topology) -> Config {
        let file = topology.path.file_name().map_or_else(
            || "services.toml".to_owned(),
            |f| f.to_string_lossy().into_owned(),
        );
        let relays = topology
            .relays
            .iter()
            .filter_map(|relay| {
                let listen = match &relay.endpoint {
                    Endpoint::Unix(p) => Listen::Unix(p.clone()),
                    Endpoint::Tcp { host, port } if host.contains(':') => {
                        Listen::Tcp(format!("[{host}]:{port}"))
                    }
                    Endpoint::Tcp { host, port } => Listen::Tcp(format!("{host}:{port}")),
                    _ => return None,
                };
                let protocol = protocol_of(relay.framing)?;
                let producers = topology
                    .producers(&relay.name)
                    .into_iter()
                    .map(|p| (p.service.to_owned(), p.sink.to_owned()))
                    .collect();
                let subscribers = topology
                    .subscribers(&relay.name)
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                Some(RelaySpec {
                    name: relay.name.clone(),
                    listen,
                    protocol,
                    line: relay.line,
                    producers,
                    subscribers,
                    backlog: relay.backlog as usize,
                    socket_mode: relay.socket_mode,
                    tls: relay.tls.as_ref().map(|t| tls(t, &file)),
                    grace: GRACE,
                })
            })
            .collect();
        Config {
            file: topology.path.clone(),
            relays,
        }
    }

    /// Where `relay` is written: `services.toml:12 ([relays.ticks])`.
    pub(crate) fn place(&self, relay: &RelaySpec) -> String {
        place(&self.file, relay)
    }
}

fn place(file: &Path, relay: &RelaySpec) -> String {
    format!(
        "{}:{} ([relays.{}])",
        file.display(),
        relay.line,
        relay.name
    )
}

impl RelaySpec {
    /// Whether `service`'s sink `sink` is a declared producer of this relay.
    #[must_use]
    pub fn is_producer(&self, service: &str, sink: &str) -> bool {
        self.producers
            .iter()
            .any(|(s, k)| s == service && k == sink)
    }

    /// The index of `service` among the declared subscribers.
    #[must_use]
    pub fn subscriber(&self, service: &str) -> Option<usize> {
        self.subscribers.iter().position(|s| s == service)
    }
}

/// A relay's `tls` table as the runtime takes it: each secret named by its key and
/// line of `file`.
fn tls(t: &sinkgen::model::Tls, file: &str) -> sinkgen_runtime::tls::Tls {
    let secret = |s: &sinkgen::model::Secret| {
        sinkgen_runtime::Secret::new(s.source.clone(), s.key.clone(), file.to_owned(), s.line)
    };
    let mut tls = sinkgen_runtime::tls::Tls::new();
    if let Some(ca) = &t.ca {
        tls = tls.ca(secret(ca));
    }
    if let Some(name) = &t.server_name {
        tls = tls.server_name(name.clone());
    }
    if let (Some(cert), Some(key)) = (&t.cert, &t.key) {
        tls = tls.identity(secret(cert), secret(key));
    }
    if let (Some(cert), Some(key)) = (&t.client_cert, &t.client_key) {
        tls = tls.client_identity(secret(cert), secret(key));
    }
    tls
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{Config, Listen, Protocol};

    #[test]
    fn a_topology_gives_each_served_relay_its_producers_and_subscribers() {
        let text = r#"
[relays.ticks]
endpoint = "unix:///tmp/sg/ticks.sock"
framing = "torq"
domain = 2

[relays.orders]
endpoint = "tcp://[::1]:7001"

[relays.news]
endpoint = "nats://127.0.0.1:4222/news"

[services.feed]
source = 1
sinks = ["ticks", "news"]

[services.desk]
sinks = { primary = { relay = "orders" }, backup = { relay = "orders" } }
subscribes = ["ticks"]

[services.risk]
subscribes = ["ticks", "orders", "news"]
"#;
        let loaded = sinkgen::load_str(Path::new("services.toml"), text).unwrap();
        let config = Config::from_topology(&loaded.topology);
        let names: Vec<_> = config.relays.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ticks", "orders"], "NATS relays are served by NATS");
        let ticks = &config.relays[0];
        assert_eq!(ticks.listen, Listen::Unix("/tmp/sg/ticks.sock".into()));
        assert_eq!(ticks.protocol, Protocol::Torq { domain: 2 });
        assert_eq!(ticks.producers, [("feed".to_owned(), "ticks".to_owned())]);
        assert_eq!(ticks.subscribers, ["desk", "risk"]);
        assert_eq!(
            (ticks.line, ticks.backlog, ticks.socket_mode),
            (2, sinkgen_config::policy::BACKLOG as usize, 0o600)
        );
        let orders = &config.relays[1];
        assert_eq!(orders.listen, Listen::Tcp("[::1]:7001".into()));
        assert_eq!(orders.protocol, Protocol::Sinkgen, "the default framing");
        assert!(orders.is_producer("desk", "backup") && !orders.is_producer("desk", "ticks"));
        assert_eq!(orders.subscriber("risk"), Some(0));
        assert_eq!(config.place(orders), "services.toml:7 ([relays.orders])");
    }
}
