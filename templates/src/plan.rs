//! [`Plan`]: one service's sinks, resolved and ready to emit.
//!
//! Everything in a plan is already checked: identifiers are valid Rust identifiers,
//! message types are parsed paths, and every string is kept as data so that it reaches
//! the generated code only as a literal token.

use std::time::Duration;

use proc_macro2::Ident;

/// The resolved description of the code generated for one service.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The service's name as written in the file.
    pub service: String,
    /// 1-based line of the service's table in the file.
    pub service_line: u32,
    /// The file as named in generated docs (its file name, e.g. `services.toml`).
    pub file: String,
    /// The generated (or derived) type, `Sinks` by default.
    pub type_ident: Ident,
    /// Visibility of the generated items (`pub` on the build-script path).
    pub vis: syn::Visibility,
    /// The path generated code names the runtime crate by: `::sinkgen_runtime` unless
    /// `#[sinks(crate = "..")]` or `Builder::runtime_path` says otherwise (a crate that
    /// re-exports the runtime, or renames it in its `Cargo.toml`).
    pub runtime: syn::Path,
    /// Which items exist already and which the emitters write.
    pub layout: Layout,
    /// The service's sinks in file order.
    pub sinks: Vec<SinkPlan>,
    /// Inputs the compiler must track (derive path only).
    pub tracking: Option<Tracking>,
    /// The service's receivers (its `subscribes` and its `listen`); `None` when it has
    /// neither, and then nothing is generated for them.
    pub receivers: Option<Receivers>,
}

/// The receiving half of a service: one subscription per relay in its `subscribes`,
/// and its inbox when it has `listen`.
#[derive(Debug, Clone)]
pub struct Receivers {
    /// The generated receivers type (`Subscriptions` beside `Sinks`).
    pub type_ident: Ident,
    /// One per relay in `subscribes`, in the order written.
    pub subscriptions: Vec<SubscriptionPlan>,
    /// The inbox, when the service has `listen`.
    pub inbox: Option<InboxPlan>,
}

/// A subscription to one relay.
#[derive(Debug, Clone)]
pub struct SubscriptionPlan {
    /// The relay's name (also the accessor's name).
    pub relay: String,
    /// The accessor's identifier.
    pub ident: Ident,
    /// Identifier of the private constant holding the subscription's spec.
    pub spec_ident: Ident,
    /// 1-based line of the `[relays.<name>]` table.
    pub relay_line: u32,
    /// The relay's endpoint as written.
    pub endpoint: String,
    /// The run-time override variable, e.g. `SINKGEN_MARKET_DATA_SUBSCRIBE`.
    pub env: String,
    /// The relay's message type.
    pub message: Message,
    /// How the message type comes off the wire.
    pub codec: Codec,
    /// The relay is reached over NATS: the runtime needs its `nats` feature.
    pub nats: bool,
    /// Connect timeout and backoff (the file's `[defaults]`).
    pub policy: Policy,
    /// The relay is `durable` (JetStream): its settings.
    pub durable: Option<Durable>,
    /// The relay's NATS `credentials`.
    pub credentials: Option<Credentials>,
    /// The relay's `tls` table: the runtime needs its `tls` feature.
    pub tls: Option<Tls>,
}

/// The inbox of a service with `listen`.
#[derive(Debug, Clone)]
pub struct InboxPlan {
    /// The `listen` endpoint as written.
    pub endpoint: String,
    /// The run-time override variable, e.g. `SINKGEN_EXECUTION_LISTEN`.
    pub env: String,
    /// The service's `message` type.
    pub message: Message,
    /// How the message type comes off the wire.
    pub codec: Codec,
    /// The services with a direct sink to this one, in file order, each once.
    pub senders: Vec<String>,
    /// Messages held for the application (the file's `[defaults]` queue).
    pub queue: usize,
    /// The service's `tls` table: the runtime needs its `tls` feature.
    pub tls: Option<Tls>,
}

impl Receivers {
    /// The name of the generated endpoints struct (`<Type>Endpoints`).
    #[must_use]
    pub fn endpoints_ident(&self) -> Ident {
        quote::format_ident!("{}Endpoints", self.type_ident)
    }

    /// The name of the generated instance type (`<Type>Instance`).
    #[must_use]
    pub fn instance_ident(&self) -> Ident {
        quote::format_ident!("{}Instance", self.type_ident)
    }

    /// The receivers type that goes beside a sinks type: `Sinks` -> `Subscriptions`,
    /// `FeedSinks` -> `FeedSubscriptions`, any other `T` -> `TSubscriptions`.
    #[must_use]
    pub fn type_beside(sinks: &Ident) -> Ident {
        let name = sinks.to_string();
        let stem = name.strip_suffix("Sinks").unwrap_or(&name);
        quote::format_ident!("{stem}Subscriptions")
    }
}

/// How the sinks type comes to exist and what `with_endpoints` returns.
#[derive(Debug, Clone)]
pub enum Layout {
    /// The build-script path: the unit struct is generated too.
    Generated,
    /// `#[derive(Sinks)]` on a unit struct: the struct exists; an instance type is generated.
    UnitStruct,
    /// `#[derive(Sinks)]` on a struct with named fields: the fields are the typed sinks and
    /// `with_endpoints` returns the struct itself.
    NamedFields {
        /// The struct's fields, each naming a sink.
        fields: Vec<FieldPlan>,
        /// Some fields failed the derive's checks (their errors are emitted beside the
        /// code): `with_endpoints` cannot build the struct and only panics.
        partial: bool,
    },
}

/// One field of a derived struct and the sink it holds.
#[derive(Debug, Clone)]
pub struct FieldPlan {
    /// The field's name (with the user's span).
    pub ident: Ident,
    /// The field's type as the user wrote it.
    pub ty: syn::Type,
    /// Index of the sink in [`Plan::sinks`].
    pub sink: usize,
}

/// What the derive's expansion makes rustc track.
#[derive(Debug, Clone)]
pub struct Tracking {
    /// Absolute path of the configuration file (an `include_bytes!` of it is emitted),
    /// when it was found.
    pub file: Option<String>,
    /// Environment variables the expansion read (an `option_env!` of each is emitted).
    pub env: Vec<String>,
}

/// One sink of the service.
#[derive(Debug, Clone)]
pub struct SinkPlan {
    /// The sink's name as written in the file.
    pub name: String,
    /// The accessor's identifier (the name, checked).
    pub ident: Ident,
    /// Identifier of the private constant holding the sink's spec (`SPEC_<NAME>`).
    pub spec_ident: Ident,
    /// 1-based line where the sink is written.
    pub line: u32,
    /// The type of message the sink accepts.
    pub message: Message,
    /// What the sink is.
    pub kind: SinkKind,
}

/// The message type of a sink.
#[derive(Debug, Clone)]
pub enum Message {
    /// Raw bytes (`bytes::Bytes`): no `message` declared, or a sink to an endpoint.
    Bytes,
    /// A user type, resolved in the user's crate.
    Path {
        /// The path, parsed once.
        path: syn::Path,
        /// The path as written in the file, for docs.
        text: String,
    },
}

/// What a sink is.
#[derive(Debug, Clone)]
pub enum SinkKind {
    /// A sink to a relay.
    Relay {
        /// The relay's name.
        relay: String,
        /// Where and how it connects.
        leaf: Leaf,
    },
    /// A direct sink to another service.
    Service {
        /// The target service's name.
        service: String,
        /// Where and how it connects.
        leaf: Leaf,
    },
    /// A direct sink to an endpoint outside the registry.
    Endpoint {
        /// Where and how it connects.
        leaf: Leaf,
    },
    /// A composite over sibling sinks.
    Composite {
        /// How frames are spread over the members.
        op: CompositeOp,
        /// Indices of the members in [`Plan::sinks`], in file order.
        members: Vec<usize>,
    },
}

impl SinkKind {
    /// The connection details when the sink is a leaf.
    #[must_use]
    pub fn leaf(&self) -> Option<&Leaf> {
        match self {
            SinkKind::Relay { leaf, .. }
            | SinkKind::Service { leaf, .. }
            | SinkKind::Endpoint { leaf } => Some(leaf),
            SinkKind::Composite { .. } => None,
        }
    }
}

/// A composite's way of spreading frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompositeOp {
    /// Every member takes every frame.
    Broadcast,
    /// One ready member after another.
    RoundRobin,
    /// The first healthy member, in order.
    Failover,
}

/// Everything needed to connect a leaf sink.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The endpoint URL as in the file, e.g. `unix:///tmp/a.sock`.
    pub endpoint: String,
    /// The run-time override variable, e.g. `SINKGEN_MARKET_DATA_ENDPOINT`.
    pub env: String,
    /// How frames are laid out.
    pub framing: Framing,
    /// Connection policy.
    pub policy: Policy,
    /// The endpoint is a NATS relay: the runtime must be built with its `nats` feature.
    pub nats: bool,
    /// The endpoint is a WebSocket server (`ws://`, `wss://`): the runtime must be
    /// built with its `ws` feature.
    pub ws: bool,
    /// How the message type goes on the wire.
    pub codec: Codec,
    /// The relay is `durable` (JetStream): its settings.
    pub durable: Option<Durable>,
    /// The relay's NATS `credentials`.
    pub credentials: Option<Credentials>,
    /// The endpoint's `tls` table (the relay's, or the receiving service's): the
    /// runtime needs its `tls` feature.
    pub tls: Option<Tls>,
}

/// A secret the file names (a TLS key, a NATS password): where it lives, and the key
/// and line that named it, for the run-time error when it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    /// `{ env = "VAR" }` rather than `{ file = "path" }`.
    pub env: bool,
    /// The variable's name or the file's path.
    pub name: String,
    /// The dotted key that named it, e.g. `relays.quotes.tls.ca`.
    pub key: String,
    /// 1-based line of that key in the file.
    pub line: u32,
}

/// A NATS relay's `credentials`: what its sinks and subscriptions present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `token`.
    Token(Secret),
    /// `user` and `password`.
    UserPassword {
        /// The user's name.
        user: String,
        /// The password.
        password: Secret,
    },
    /// `nkey`: an nkey user seed.
    Nkey(Secret),
    /// `creds`: a `.creds` file.
    Creds(Secret),
}

/// A `tls` table: how an endpoint is secured (each certificate and key a secret).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// The CAs clients trust (`None`: the platform's roots).
    pub ca: Option<Secret>,
    /// The name clients check the certificate against (`None`: the endpoint's host).
    pub server_name: Option<String>,
    /// The certificate chain the server of the endpoint presents.
    pub cert: Option<Secret>,
    /// Its private key.
    pub key: Option<Secret>,
    /// The certificate clients present.
    pub client_cert: Option<Secret>,
    /// Its private key.
    pub client_key: Option<Secret>,
}

/// A durable relay's JetStream settings (`durable = true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durable {
    /// How long the server remembers message ids.
    pub duplicate_window: Duration,
    /// The stream is kept in memory rather than on disk.
    pub memory: bool,
}

/// How a leaf sink's message type becomes a payload: `sinkgen-config`'s codec list, the
/// one the front end checks the file against.
pub use sinkgen_config::policy::CodecKind as Codec;

/// Frame layout of a leaf sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// sinkgen's own acknowledged protocol.
    Sinkgen,
    /// A u32 little-endian length, then the payload.
    LengthPrefixed,
    /// The 32-byte torq header, then the payload.
    Torq {
        /// The relay domain byte.
        domain: u8,
        /// The sending service's source id.
        source: u8,
    },
}

/// Connection policy of a leaf sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Longest one connect attempt may take.
    pub connect_timeout: Duration,
    /// Longest a send waits for room or a connection.
    pub send_timeout: Duration,
    /// Frames held while (re)connecting.
    pub queue: usize,
    /// Smallest delay between connect attempts.
    pub backoff_initial: Duration,
    /// Largest delay between connect attempts.
    pub backoff_max: Duration,
    /// `when_down = "fail"`: a send fails at once while the peer is down (else it queues).
    pub fail_when_down: bool,
    /// The largest payload of one frame, in bytes.
    pub max_frame: u32,
}

impl Plan {
    /// The sinks in an order where every composite comes after its members.
    ///
    /// Composites are acyclic (the front end checks it); a cycle would only stop the
    /// walk, never loop. The walk is iterative: composites may nest thousands deep.
    #[must_use]
    pub fn build_order(&self) -> Vec<usize> {
        const NEW: u8 = 0;
        const OPEN: u8 = 1;
        const DONE: u8 = 2;
        let members = |i: usize| -> &[usize] {
            match &self.sinks[i].kind {
                SinkKind::Composite { members, .. } => members,
                _ => &[],
            }
        };
        let mut state = vec![NEW; self.sinks.len()];
        let mut out = Vec::with_capacity(self.sinks.len());
        // (sink, index of its next member to visit)
        let mut stack: Vec<(usize, usize)> = Vec::new();
        for root in 0..self.sinks.len() {
            if state[root] != NEW {
                continue;
            }
            state[root] = OPEN;
            stack.push((root, 0));
            while let Some((node, next)) = stack.last_mut() {
                let node = *node;
                if let Some(&member) = members(node).get(*next) {
                    *next += 1;
                    if state[member] == NEW {
                        state[member] = OPEN;
                        stack.push((member, 0));
                    }
                } else {
                    state[node] = DONE;
                    out.push(node);
                    stack.pop();
                }
            }
        }
        out
    }

    /// The sinks `roots` need, themselves included: the roots plus every member of a
    /// composite among them, transitively.
    #[must_use]
    pub fn closure(&self, roots: impl IntoIterator<Item = usize>) -> Vec<bool> {
        let mut needed = vec![false; self.sinks.len()];
        let mut stack: Vec<usize> = roots.into_iter().collect();
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut needed[i], true) {
                continue;
            }
            if let SinkKind::Composite { members, .. } = &self.sinks[i].kind {
                stack.extend(members.iter().copied());
            }
        }
        needed
    }

    /// The name of the generated endpoints struct (`<Type>Endpoints`).
    #[must_use]
    pub fn endpoints_ident(&self) -> Ident {
        quote::format_ident!("{}Endpoints", self.type_ident)
    }

    /// The name of the generated instance type (`<Type>Instance`), or `Self` for a
    /// struct with named fields.
    #[must_use]
    pub fn instance_ident(&self) -> Ident {
        quote::format_ident!("{}Instance", self.type_ident)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::format_ident;

    fn sink(name: &str, kind: SinkKind) -> SinkPlan {
        SinkPlan {
            name: name.to_owned(),
            ident: format_ident!("{}", name),
            spec_ident: format_ident!("SPEC_{}", name.to_uppercase()),
            line: 1,
            message: Message::Bytes,
            kind,
        }
    }

    fn leaf() -> SinkKind {
        SinkKind::Endpoint {
            leaf: Leaf {
                endpoint: "tcp://127.0.0.1:1".to_owned(),
                env: "SINKGEN_X_ENDPOINT".to_owned(),
                framing: Framing::LengthPrefixed,
                policy: Policy {
                    connect_timeout: Duration::from_millis(1),
                    send_timeout: Duration::from_millis(1),
                    queue: 1,
                    backoff_initial: Duration::from_millis(1),
                    backoff_max: Duration::from_millis(1),
                    fail_when_down: false,
                    max_frame: 1,
                },
                nats: false,
                ws: false,
                codec: Codec::Raw,
                durable: None,
                credentials: None,
                tls: None,
            },
        }
    }

    fn composite(members: Vec<usize>) -> SinkKind {
        SinkKind::Composite {
            op: CompositeOp::Broadcast,
            members,
        }
    }

    fn plan(sinks: Vec<SinkPlan>) -> Plan {
        Plan {
            service: "s".to_owned(),
            service_line: 1,
            file: "services.toml".to_owned(),
            type_ident: format_ident!("Sinks"),
            vis: syn::parse_quote!(pub),
            runtime: syn::parse_quote!(::sinkgen_runtime),
            layout: Layout::Generated,
            sinks,
            tracking: None,
            receivers: None,
        }
    }

    #[test]
    fn composites_are_built_after_their_members() {
        // outer -> inner -> (a, b); declared outer first.
        let p = plan(vec![
            sink("outer", composite(vec![1, 3])),
            sink("inner", composite(vec![2, 3])),
            sink("a", leaf()),
            sink("b", leaf()),
        ]);
        let order = p.build_order();
        let at = |i: usize| order.iter().position(|&x| x == i).unwrap();
        assert_eq!(order.len(), 4);
        assert!(at(2) < at(1) && at(3) < at(1) && at(1) < at(0));
        assert_eq!(p.closure([1]), vec![false, true, true, true]);
        assert_eq!(p.closure([2]), vec![false, false, true, false]);
    }

    #[test]
    fn a_cycle_stops_the_walk() {
        let p = plan(vec![
            sink("x", composite(vec![1])),
            sink("y", composite(vec![0])),
        ]);
        assert_eq!(p.build_order().len(), 2);
        assert_eq!(p.closure([0]), vec![true, true]);
    }
}

#[cfg(test)]
mod receivers_tests {
    use super::Receivers;
    use quote::format_ident;

    #[test]
    fn the_receivers_type_is_named_after_the_sinks_type() {
        let beside = |t: &str| Receivers::type_beside(&format_ident!("{}", t)).to_string();
        assert_eq!(beside("Sinks"), "Subscriptions");
        assert_eq!(beside("FeedSinks"), "FeedSubscriptions");
        assert_eq!(beside("Derived"), "DerivedSubscriptions");
    }
}
