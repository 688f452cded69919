//! The validated topology: what `services.toml` means once every check of
//! [`crate::load`] has passed.
//!
//! Later stages (lowering to a code-generation plan, the CLI's graph) consume a
//! [`Topology`] without re-checking anything: every name is a valid Rust
//! identifier, every reference resolves, every composite is acyclic, and every
//! policy value has its default applied.

use std::path::PathBuf;
use std::time::Duration;

/// A whole, valid `services.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// The file this topology was read from.
    pub path: PathBuf,
    /// The `[defaults]` table with the built-in defaults applied.
    pub defaults: Policy,
    /// Relays in the order the file declares them.
    pub relays: Vec<Relay>,
    /// Services in the order the file declares them.
    pub services: Vec<Service>,
}

/// A relay: a broker process, one per message domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// The relay's name, a lowercase snake_case Rust identifier.
    pub name: String,
    /// Where the relay accepts producers.
    pub endpoint: Endpoint,
    /// How frames sent to the relay are framed.
    pub framing: Framing,
    /// The Rust type path of the relay's message (`protocol::MarketEvent`), if declared.
    pub message: Option<String>,
    /// How `message` goes on the wire; [`Codec::Raw`] when no `message` is declared.
    pub codec: Codec,
    /// Frames `sinkgen relay` holds per declared subscriber that is absent or slow,
    /// before it drops the oldest (counted, and told to the subscriber). Unused on a
    /// `nats://` relay, where it is always the default.
    pub backlog: u32,
    /// `socket_mode`: the permission bits `sinkgen relay` gives the socket file of a
    /// `unix://` relay (owner-only, `0o600`, unless the file says otherwise).
    pub socket_mode: u32,
    /// `durable = true` (a `nats://` relay only): the JetStream settings its sinks
    /// and subscriptions use; `None` for a relay that is not durable.
    pub durable: Option<Durability>,
    /// `credentials` (a `nats://` relay only): what its sinks and subscriptions
    /// present to the server; `None` for none.
    pub credentials: Option<Credentials>,
    /// The relay's `tls` table (a `tcp://` or `nats://` relay): `None` is plaintext.
    pub tls: Option<Tls>,
    /// 1-based line of the `[relays.<name>]` header in the file.
    pub line: u32,
}

/// A `tls` table: how an endpoint is secured. Each certificate and key is a secret,
/// named by the file and read at run time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// `ca`: the CAs clients trust (absent: the platform's roots).
    pub ca: Option<Secret>,
    /// `server_name`: the name clients check the certificate against (absent: the
    /// endpoint's host).
    pub server_name: Option<String>,
    /// `cert` and `key`: what the server of the endpoint presents.
    pub cert: Option<Secret>,
    /// See `cert`.
    pub key: Option<Secret>,
    /// `client_cert` and `client_key`: what clients present; the server then
    /// requires and verifies client certificates against `ca`.
    pub client_cert: Option<Secret>,
    /// See `client_cert`.
    pub client_key: Option<Secret>,
}

/// A secret the file names: where it lives, and the dotted key and line that named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// The variable or file.
    pub source: sinkgen_config::secret::SecretSource,
    /// The dotted key, e.g. `relays.quotes.tls.ca`.
    pub key: String,
    /// 1-based line of the key in the file.
    pub line: u32,
}

/// A durable relay's JetStream settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durability {
    /// `duplicate_window`: how long the server remembers message ids, so a resend
    /// after a reconnect is not stored twice.
    pub duplicate_window: std::time::Duration,
    /// `storage`: where the server keeps the stream.
    pub storage: Storage,
}

/// A NATS relay's `credentials`: exactly one kind, each secret named, never held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `token = <secret>`.
    Token(Secret),
    /// `user = "name"` and `password = <secret>`.
    UserPassword {
        /// The user's name (not a secret).
        user: String,
        /// The password.
        password: Secret,
    },
    /// `nkey = <secret>`: an nkey user seed.
    Nkey(Secret),
    /// `creds = <secret>`: a `.creds` file (user JWT and seed).
    Creds(Secret),
}

/// `storage` of a durable relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// `"file"` (the default): the stream survives a server restart.
    File,
    /// `"memory"`: lost with the server.
    Memory,
}

/// A service: a process that sends through sinks and may accept direct connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The service's name, a lowercase snake_case Rust identifier.
    pub name: String,
    /// The torq source id of this service, if it has one.
    pub source: Option<u8>,
    /// Where the service accepts direct connections, if it does.
    pub listen: Option<Endpoint>,
    /// The Rust type path of what the service accepts on `listen`, if declared: direct
    /// sinks to the service take this type. Only with `listen`.
    pub message: Option<String>,
    /// How `message` goes on the wire; [`Codec::Raw`] when no `message` is declared.
    pub codec: Codec,
    /// What direct sinks to the service speak: [`Framing::Sinkgen`] or
    /// [`Framing::LengthPrefixed`] (a `listen` served by hand-written code), never torq.
    pub framing: Framing,
    /// Names of the relays the service reads.
    pub subscribes: Vec<String>,
    /// The service's sinks, in file order.
    pub sinks: Vec<Sink>,
    /// The service's `tls` table: secures its `listen` endpoint and the direct sinks
    /// to it; `None` is plaintext.
    pub tls: Option<Tls>,
    /// 1-based line of the `[services.<name>]` header in the file.
    pub line: u32,
}

/// One named sink of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    /// The sink's name, a lowercase snake_case Rust identifier unique within the service.
    pub name: String,
    /// Where the sink sends.
    pub target: SinkTarget,
    /// Connection policy, per-sink overrides applied over `[defaults]`.
    pub policy: Policy,
    /// 1-based line where the sink is written (the shorthand list entry or the table entry).
    pub line: u32,
}

/// Where a sink sends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkTarget {
    /// To the named relay.
    Relay(String),
    /// Directly to the named service, at its `listen` endpoint.
    Service(String),
    /// To an endpoint outside the registry.
    Endpoint(Endpoint),
    /// To every member (names of sibling sinks).
    Broadcast(Vec<String>),
    /// To one ready member after another (names of sibling sinks).
    RoundRobin(Vec<String>),
    /// To the first healthy member, in order (names of sibling sinks).
    Failover(Vec<String>),
}

impl SinkTarget {
    /// The member names when this target is a composite.
    #[must_use]
    pub fn members(&self) -> Option<&[String]> {
        match self {
            SinkTarget::Broadcast(m) | SinkTarget::RoundRobin(m) | SinkTarget::Failover(m) => {
                Some(m)
            }
            SinkTarget::Relay(_) | SinkTarget::Service(_) | SinkTarget::Endpoint(_) => None,
        }
    }
}

/// Connection policy of a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Longest one connect attempt may take.
    pub connect_timeout: Duration,
    /// Longest a send waits for room or a connection.
    pub send_timeout: Duration,
    /// Frames held per sink while (re)connecting.
    pub queue: u32,
    /// Smallest delay between connect attempts.
    pub backoff_initial: Duration,
    /// Largest delay between connect attempts.
    pub backoff_max: Duration,
    /// What a send does while the peer is down (`when_down`).
    pub when_down: sinkgen_config::policy::WhenDown,
    /// The largest payload sent in one frame, in bytes (`max_frame`).
    pub max_frame: u32,
}

impl Default for Policy {
    /// The built-in defaults of [`sinkgen_config::policy`]: 500 ms connect, 1 s send,
    /// 4096 frames, backoff 10 ms to 1 s, `when_down = "queue"`, 16 MiB frames.
    fn default() -> Self {
        use sinkgen_config::policy;
        Policy {
            connect_timeout: policy::CONNECT_TIMEOUT,
            send_timeout: policy::SEND_TIMEOUT,
            queue: policy::QUEUE,
            backoff_initial: policy::BACKOFF_INITIAL,
            backoff_max: policy::BACKOFF_MAX,
            when_down: policy::WHEN_DOWN,
            max_frame: policy::MAX_FRAME,
        }
    }
}

/// How a `message` type becomes the payload of a frame (SPEC section 13): the one
/// codec list of `sinkgen-config`, which the runtime and the templates read too.
pub use sinkgen_config::policy::CodecKind as Codec;

/// How frames are laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Framing {
    /// sinkgen's own protocol (`docs/PROTOCOL.md`): a header with the producer's session,
    /// a per-session sequence, length, timestamp and checksum; acknowledged by the peer.
    Sinkgen,
    /// A u32 little-endian length, then the payload.
    LengthPrefixed,
    /// The 32-byte torq header, then the payload.
    Torq {
        /// The relay domain byte.
        domain: u8,
    },
}

/// A checked endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `unix://<absolute path>`.
    Unix(PathBuf),
    /// `tcp://<host>:<port>`; an IPv6 host is kept without its brackets.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port, 1 to 65535.
        port: u16,
    },
    /// `nats://<host>:<port>/<subject>`.
    Nats {
        /// Host name or address.
        host: String,
        /// Port, 1 to 65535.
        port: u16,
        /// The subject messages are published on.
        subject: String,
    },
    /// `ws://<host>:<port>/<path>`, or `wss://` with `secure`.
    Ws {
        /// `wss://`: WebSocket over TLS.
        secure: bool,
        /// Host name or address.
        host: String,
        /// Port, 1 to 65535.
        port: u16,
        /// The request path, starting with `/`.
        path: String,
    },
}

impl std::fmt::Display for Endpoint {
    /// The endpoint in the URL form `services.toml` uses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn host(h: &str) -> std::borrow::Cow<'_, str> {
            if h.contains(':') {
                format!("[{h}]").into()
            } else {
                h.into()
            }
        }
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { host: h, port } => write!(f, "tcp://{}:{port}", host(h)),
            Endpoint::Nats {
                host: h,
                port,
                subject,
            } => write!(f, "nats://{}:{port}/{subject}", host(h)),
            Endpoint::Ws {
                secure,
                host: h,
                port,
                path,
            } => {
                let scheme = if *secure { "wss" } else { "ws" };
                write!(f, "{scheme}://{}:{port}{path}", host(h))
            }
        }
    }
}

/// A sink that sends to a relay (or directly to a service): what `sinkgen relay` and a
/// service's inbox accept in a handshake, and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Producer<'t> {
    /// The sending service.
    pub service: &'t str,
    /// The sink of that service.
    pub sink: &'t str,
    /// The sending service's torq source id, if it has one.
    pub source: Option<u8>,
}

impl Topology {
    /// The sinks that send to `relay`, in file order: one per leaf sink whose target is
    /// the relay (a composite reaches a relay only through such a member sink, which is
    /// listed itself). Empty for a relay the file does not declare.
    ///
    /// # Examples
    ///
    /// ```
    /// let text = r#"
    /// [relays.ticks]
    /// endpoint = "unix:///tmp/ticks.sock"
    ///
    /// [services.feed]
    /// source = 3
    /// sinks = ["ticks"]
    ///
    /// [services.chart]
    /// subscribes = ["ticks"]
    /// "#;
    /// let loaded = sinkgen::load_str("services.toml".as_ref(), text).unwrap();
    /// let producers = loaded.topology.producers("ticks");
    /// assert_eq!(producers.len(), 1);
    /// assert_eq!((producers[0].service, producers[0].sink), ("feed", "ticks"));
    /// assert_eq!(producers[0].source, Some(3));
    /// assert_eq!(loaded.topology.subscribers("ticks"), ["chart"]);
    /// ```
    #[must_use]
    pub fn producers(&self, relay: &str) -> Vec<Producer<'_>> {
        self.senders_where(|t| matches!(t, SinkTarget::Relay(r) if r == relay))
    }

    /// The services that list `relay` in `subscribes`, in file order: the subscribers
    /// `sinkgen relay` accepts and keeps a backlog for. Empty for an unknown relay.
    #[must_use]
    pub fn subscribers(&self, relay: &str) -> Vec<&str> {
        let mut services: Vec<&Service> = self
            .services
            .iter()
            .filter(|s| s.subscribes.iter().any(|r| r == relay))
            .collect();
        services.sort_by_key(|s| s.line);
        services.into_iter().map(|s| s.name.as_str()).collect()
    }

    /// The direct sinks to `service`, in file order: the senders its inbox accepts.
    /// Empty for a service nobody sends to directly, or one the file does not declare.
    #[must_use]
    pub fn senders(&self, service: &str) -> Vec<Producer<'_>> {
        self.senders_where(|t| matches!(t, SinkTarget::Service(s) if s == service))
    }

    fn senders_where(&self, to: impl Fn(&SinkTarget) -> bool) -> Vec<Producer<'_>> {
        let mut found: Vec<(u32, Producer<'_>)> = Vec::new();
        for s in &self.services {
            for k in s.sinks.iter().filter(|k| to(&k.target)) {
                let producer = Producer {
                    service: &s.name,
                    sink: &k.name,
                    source: s.source,
                };
                found.push((k.line, producer));
            }
        }
        // File order: shorthand sinks of one service share a line, and keep their order.
        found.sort_by_key(|(line, _)| *line);
        found.into_iter().map(|(_, p)| p).collect()
    }

    /// The relay with this name.
    #[must_use]
    pub fn relay(&self, name: &str) -> Option<&Relay> {
        self.relays.iter().find(|r| r.name == name)
    }

    /// The service with this name.
    #[must_use]
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

impl Service {
    /// The sink of this service with this name.
    #[must_use]
    pub fn sink(&self, name: &str) -> Option<&Sink> {
        self.sinks.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[relays.ticks]
endpoint = "unix:///tmp/sinkgen-model-ticks.sock"

[relays.quiet]
endpoint = "unix:///tmp/sinkgen-model-quiet.sock"

[services.feed]
source = 3
sinks = ["ticks"]

[services.mirror]
listen = "unix:///tmp/sinkgen-model-mirror.sock"
subscribes = ["ticks"]

[services.mirror.sinks]
primary = { relay = "ticks" }
backup = { relay = "ticks" }
both = { broadcast = ["primary", "backup"] }
quiet = { relay = "quiet" }

[services.chart]
subscribes = ["ticks", "quiet"]
sinks = ["mirror"]
"#;

    fn topology() -> Topology {
        match crate::load_str("services.toml".as_ref(), FILE) {
            Ok(loaded) => loaded.topology,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn producers_are_the_leaf_sinks_to_a_relay_in_file_order() {
        let t = topology();
        let producers: Vec<(&str, &str, Option<u8>)> = t
            .producers("ticks")
            .iter()
            .map(|p| (p.service, p.sink, p.source))
            .collect();
        assert_eq!(
            producers,
            [
                ("feed", "ticks", Some(3)),
                ("mirror", "primary", None),
                ("mirror", "backup", None),
            ]
        );
        assert_eq!(t.producers("quiet").len(), 1);
        assert!(t.producers("nowhere").is_empty());
    }

    #[test]
    fn subscribers_are_the_services_that_list_the_relay() {
        let t = topology();
        assert_eq!(t.subscribers("ticks"), ["mirror", "chart"]);
        assert_eq!(t.subscribers("quiet"), ["chart"]);
        assert!(t.subscribers("nowhere").is_empty());
    }

    #[test]
    fn senders_are_the_direct_sinks_to_a_service() {
        let t = topology();
        let senders: Vec<(&str, &str)> = t
            .senders("mirror")
            .iter()
            .map(|p| (p.service, p.sink))
            .collect();
        assert_eq!(senders, [("chart", "mirror")]);
        assert!(t.senders("feed").is_empty());
    }
}
