//! The only items generated code names, always as `::sinkgen_runtime::__private::...`
//! (or under the runtime path the file sets). The feature-requirement macros are in
//! `require`.
//! Not a public API: it changes with the code generator.

#[cfg(feature = "postcard")]
pub use crate::codec::Postcard;
#[cfg(feature = "prost")]
pub use crate::codec::Prost;
#[cfg(feature = "zerocopy")]
pub use crate::codec::Zerocopy;
pub use crate::codec::{Decoder, Encoder, Raw};
pub use crate::composite::Member;
pub use crate::framing::Framing;
pub use crate::sink::WhenDown;
pub use crate::{CompositeSink, DirectSink, Encode, Mode, RelaySink, Secret};
pub use bytes::Bytes;
pub use std::option::Option;
pub use std::string::String;
pub use std::sync::OnceLock;
pub use std::time::Duration;

mod require;
pub use require::*;

use crate::sink::{SinkBuilder, bad_address};
use crate::transport::Endpoint;

/// Everything `services.toml` says about one leaf sink, as literals.
#[derive(Debug)]
pub struct SinkSpec {
    /// The sending service, named in the handshake of the sinkgen protocol.
    pub service: &'static str,
    /// Sink name (status, tracing and metrics label).
    pub sink: &'static str,
    /// What the sink sends to, named in the handshake: the relay of a relay sink, the
    /// receiving service of a direct sink; empty for an endpoint outside the registry.
    pub target: &'static str,
    /// Endpoint URL as written.
    pub endpoint: &'static str,
    /// Run-time override variable, e.g. `SINKGEN_MARKET_DATA_ENDPOINT`.
    pub env: &'static str,
    /// Frame layout.
    pub framing: Framing,
    /// One connect attempt.
    pub connect_timeout: Duration,
    /// Longest wait of a send for room.
    pub send_timeout: Duration,
    /// Frames held while (re)connecting.
    pub queue: usize,
    /// First backoff delay.
    pub backoff_initial: Duration,
    /// Largest backoff delay.
    pub backoff_max: Duration,
    /// `when_down`: what a send does while the peer is down.
    pub when_down: WhenDown,
    /// `max_frame`: the largest payload of one frame, in bytes.
    pub max_frame: u32,
    /// The JetStream settings of a `durable` NATS relay (`None`: not durable).
    pub durable: Option<DurableSpec>,
    /// The `credentials` of a NATS relay (`None`: none), built when the sink is.
    pub credentials: Option<fn() -> NatsCredentials>,
    /// The endpoint's `tls` table (`None`: plaintext); a function because secrets are
    /// not constants.
    pub tls: Option<fn() -> TlsSpec>,
}

/// What a `tls` table of `services.toml` says (see `crate::tls` with the `tls`
/// feature): each certificate and key a secret, read when a connection is made.
#[derive(Debug, Clone)]
pub struct TlsSpec {
    /// `ca`.
    pub ca: Option<crate::Secret>,
    /// `server_name`.
    pub server_name: Option<&'static str>,
    /// `cert`.
    pub cert: Option<crate::Secret>,
    /// `key`.
    pub key: Option<crate::Secret>,
    /// `client_cert`.
    pub client_cert: Option<crate::Secret>,
    /// `client_key`.
    pub client_key: Option<crate::Secret>,
}

#[cfg(feature = "tls")]
impl TlsSpec {
    /// The settings as the runtime takes them.
    pub fn tls(self) -> crate::tls::Tls {
        let mut tls = crate::tls::Tls::new();
        if let Some(ca) = self.ca {
            tls = tls.ca(ca);
        }
        if let Some(name) = self.server_name {
            tls = tls.server_name(name);
        }
        if let (Some(cert), Some(key)) = (self.cert, self.key) {
            tls = tls.identity(cert, key);
        }
        if let (Some(cert), Some(key)) = (self.client_cert, self.client_key) {
            tls = tls.client_identity(cert, key);
        }
        tls
    }
}

/// An endpoint secured by the spec's `tls` table, if it has one. Without the `tls`
/// feature generated code with a `tls` table does not compile (`require_tls!`).
#[cfg_attr(not(feature = "tls"), allow(unused_variables))]
pub(crate) fn tls_endpoint(
    parsed: Result<Endpoint, crate::error::TransportError>,
    tls: Option<fn() -> TlsSpec>,
) -> Result<Endpoint, crate::error::TransportError> {
    #[cfg(feature = "tls")]
    if let Some(tls) = tls {
        return parsed?.secured(&tls().tls()).map_err(bad_address);
    }
    parsed
}

/// What `services.toml` says about a durable relay, as literals (see
/// [`crate::durable`]); the stream is named after the relay.
#[derive(Debug, Clone, Copy)]
pub struct DurableSpec {
    /// `duplicate_window`.
    pub duplicate_window: Duration,
    /// `storage`.
    pub storage: Storage,
}

pub use crate::NatsCredentials;
pub use crate::durable::Storage;

impl DurableSpec {
    /// The settings of relay `relay`.
    pub fn durable(&self, relay: &str) -> crate::durable::Durable {
        crate::durable::Durable::new(relay)
            .duplicate_window(self.duplicate_window)
            .storage(self.storage)
    }
}

/// A parsed endpoint of a durable relay: JetStream on a `nats://` endpoint; any other
/// (an environment override to a socket) is a bad address.
pub(crate) fn durable_endpoint(
    parsed: Result<Endpoint, crate::error::TransportError>,
    durable: Option<crate::durable::Durable>,
    who: &str,
) -> Result<Endpoint, crate::error::TransportError> {
    let Some(durable) = durable else {
        return parsed;
    };
    match parsed? {
        #[cfg(feature = "nats")]
        Endpoint::Nats(address) => Ok(Endpoint::Jet(address, durable)),
        _ => Err(bad_address(format!(
            "bad address for {who}: relay `{}` is durable (JetStream), so its endpoint must be \
             nats://host:port/subject; help: point the override at the relay's NATS server",
            durable.stream()
        ))),
    }
}

fn builder(spec: &SinkSpec, endpoint: &str) -> SinkBuilder {
    SinkBuilder::new(endpoint)
        .name(spec.sink)
        .identity(spec.service, spec.target)
        .framing(spec.framing)
        .connect_timeout(spec.connect_timeout)
        .send_timeout(spec.send_timeout)
        .queue(spec.queue)
        .backoff(spec.backoff_initial, spec.backoff_max)
        .when_down(spec.when_down)
        .max_frame(usize::try_from(spec.max_frame).unwrap_or(usize::MAX))
}

/// The endpoint to use and, when it came from the environment, the variable's name.
/// A value that is not UTF-8 is kept lossily; it then fails to parse as an endpoint.
fn chosen(spec: &SinkSpec) -> (std::string::String, Option<&'static str>) {
    match std::env::var_os(spec.env) {
        Some(v) if !v.is_empty() => match v.into_string() {
            Ok(s) => (s, Some(spec.env)),
            Err(v) => (
                format!("(not UTF-8) {}", v.to_string_lossy()),
                Some(spec.env),
            ),
        },
        _ => (spec.endpoint.to_owned(), None),
    }
}

fn options(
    spec: &SinkSpec,
    endpoint: &str,
    from: Option<&'static str>,
) -> crate::connection::Options {
    let parsed = Endpoint::parse(endpoint).map_err(|message| match from {
        Some(var) => bad_address(format!(
            "bad address in environment variable {var}: {message}"
        )),
        None => bad_address(format!("bad address for sink `{}`: {message}", spec.sink)),
    });
    let durable = spec.durable.map(|d| d.durable(spec.target));
    let parsed = durable_endpoint(parsed, durable.clone(), &format!("sink `{}`", spec.sink));
    let parsed = tls_endpoint(parsed, spec.tls);
    // Policy values come from a validated file; clamp rather than panic if not.
    let mut b = builder(spec, endpoint);
    if let Some(durable) = durable {
        b = b.durable(durable);
    }
    if let Some(credentials) = spec.credentials {
        b = b.nats_credentials(credentials());
    }
    if spec.queue == 0 {
        b = b.queue(1);
    }
    b.options(parsed)
}

/// A relay sink from the spec, honouring the environment override. No I/O; an invalid
/// endpoint gives a sink whose every send fails with a fatal "bad address" error.
pub fn relay<M, C: Encoder<M>>(spec: &'static SinkSpec) -> RelaySink<M, C> {
    let (endpoint, from) = chosen(spec);
    RelaySink::from_options(options(spec, &endpoint, from))
}

/// A direct sink from the spec, honouring the environment override (see [`relay`]).
pub fn direct<M, C: Encoder<M>>(spec: &'static SinkSpec) -> DirectSink<M, C> {
    let (endpoint, from) = chosen(spec);
    DirectSink::from_options(options(spec, &endpoint, from))
}

/// A relay sink at an explicit endpoint, without looking at the environment.
pub fn relay_at<M, C: Encoder<M>>(spec: &'static SinkSpec, endpoint: &str) -> RelaySink<M, C> {
    RelaySink::from_options(options(spec, endpoint, None))
}

/// A direct sink at an explicit endpoint, without looking at the environment.
pub fn direct_at<M, C: Encoder<M>>(spec: &'static SinkSpec, endpoint: &str) -> DirectSink<M, C> {
    DirectSink::from_options(options(spec, endpoint, None))
}

/// The process-wide relay sink in `cell`, built from `spec` on the first call.
///
/// Generated code keeps one array of cells per kind and message type, so this (and
/// its siblings) is instantiated once per message type, not once per sink.
pub fn relay_once<M, C: Encoder<M>>(
    cell: &'static OnceLock<RelaySink<M, C>>,
    spec: &'static SinkSpec,
) -> &'static RelaySink<M, C> {
    cell.get_or_init(|| relay(spec))
}

/// The process-wide direct sink in `cell`, built from `spec` on the first call.
pub fn direct_once<M, C: Encoder<M>>(
    cell: &'static OnceLock<DirectSink<M, C>>,
    spec: &'static SinkSpec,
) -> &'static DirectSink<M, C> {
    cell.get_or_init(|| direct(spec))
}

/// The relay sinks of one table of specs at explicit endpoints (see [`relay_at`]):
/// the sink of `specs[i]` at `endpoints[at[i]]`.
///
/// # Panics
///
/// When an index of `at` is outside `endpoints`, which generated tables never do.
pub fn relays_at<M, C: Encoder<M>, const N: usize>(
    specs: &'static [SinkSpec; N],
    endpoints: &[String],
    at: &[usize; N],
) -> [RelaySink<M, C>; N] {
    std::array::from_fn(|i| relay_at(&specs[i], &endpoints[at[i]]))
}

/// The direct sinks of one table of specs at explicit endpoints (see [`relays_at`]).
///
/// # Panics
///
/// When an index of `at` is outside `endpoints`, which generated tables never do.
pub fn directs_at<M, C: Encoder<M>, const N: usize>(
    specs: &'static [SinkSpec; N],
    endpoints: &[String],
    at: &[usize; N],
) -> [DirectSink<M, C>; N] {
    std::array::from_fn(|i| direct_at(&specs[i], &endpoints[at[i]]))
}

/// A member of a generated composite: a sibling sink of the same message type, by its
/// kind and its index in the table of that kind.
#[derive(Debug, Clone, Copy)]
pub enum MemberRef {
    /// A relay sink.
    Relay(usize),
    /// A direct sink.
    Direct(usize),
    /// A composite, earlier in its table.
    Composite(usize),
}

/// What `services.toml` says about a composite, as literals.
#[derive(Debug)]
pub struct CompositeSpec {
    /// The composite's name.
    pub name: &'static str,
    /// How it spreads frames.
    pub mode: crate::Mode,
    /// Its members, in the order written.
    pub members: &'static [MemberRef],
}

/// The process-wide composite in `cell`, built on the first call from `spec`, its
/// members taken from the process-wide sinks through the three getters (each returns
/// the sink of one kind at an index; [`absent`] for a kind the message type lacks).
pub fn composite_once<M, C: Encoder<M>>(
    cell: &'static OnceLock<CompositeSink<M, C>>,
    spec: &'static CompositeSpec,
    relays: fn(usize) -> &'static RelaySink<M, C>,
    directs: fn(usize) -> &'static DirectSink<M, C>,
    composites: fn(usize) -> &'static CompositeSink<M, C>,
) -> &'static CompositeSink<M, C> {
    cell.get_or_init(|| {
        let members = spec
            .members
            .iter()
            .map(|m| match *m {
                MemberRef::Relay(i) => Member::from(relays(i)),
                MemberRef::Direct(i) => Member::from(directs(i)),
                MemberRef::Composite(i) => Member::from(composites(i)),
            })
            .collect();
        CompositeSink::new(spec.name, spec.mode, members)
    })
}

/// The getter of a kind of sink a message type has none of: never called, since no
/// generated composite names such a member.
///
/// # Panics
///
/// Always.
pub fn absent<T>(index: usize) -> &'static T {
    unreachable!("sinkgen: a composite names sink {index} of a kind it has none of")
}

/// The composites of one table at explicit endpoints: members are taken from the
/// given leaf sinks and from composites earlier in the table (the table lists
/// members before the composites that name them).
///
/// # Panics
///
/// When a member names a sink outside the given slices or a later composite, which
/// generated tables never do.
pub fn composites_at<M, C: Encoder<M>, const K: usize>(
    specs: &'static [CompositeSpec; K],
    relays: &[RelaySink<M, C>],
    directs: &[DirectSink<M, C>],
) -> [CompositeSink<M, C>; K] {
    let mut built: Vec<CompositeSink<M, C>> = Vec::with_capacity(K);
    for spec in specs {
        let members = spec
            .members
            .iter()
            .map(|m| match *m {
                MemberRef::Relay(i) => Member::from(&relays[i]),
                MemberRef::Direct(i) => Member::from(&directs[i]),
                MemberRef::Composite(i) => Member::from(&built[i]),
            })
            .collect();
        built.push(CompositeSink::new(spec.name, spec.mode, members));
    }
    match built.try_into() {
        Ok(all) => all,
        Err(_) => unreachable!("one composite per spec"),
    }
}

pub use crate::receive::private::{InboxSpec, SubscriptionSpec, inbox, subscription};
pub use crate::{Decode, Inbox, Subscription};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Identity;

    const SPEC: SinkSpec = SinkSpec {
        service: "feed",
        sink: "quotes",
        target: "market_data",
        endpoint: "unix:///tmp/sinkgen-private-test.sock",
        env: "SINKGEN_PRIVATE_TEST_QUOTES_ENDPOINT",
        framing: Framing::Sinkgen,
        connect_timeout: Duration::from_millis(500),
        send_timeout: Duration::from_secs(1),
        queue: 16,
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_secs(1),
        when_down: WhenDown::Queue,
        max_frame: 16 << 20,
        durable: None,
        credentials: None,
        tls: None,
    };

    static PAIR: [SinkSpec; 2] = [
        SinkSpec {
            sink: "first",
            ..SPEC
        },
        SinkSpec {
            sink: "second",
            ..SPEC
        },
    ];

    static COMPOSITES: [CompositeSpec; 2] = [
        CompositeSpec {
            name: "both",
            mode: crate::Mode::Broadcast,
            members: &[MemberRef::Relay(1), MemberRef::Direct(0)],
        },
        CompositeSpec {
            name: "outer",
            mode: crate::Mode::Failover,
            members: &[MemberRef::Composite(0), MemberRef::Relay(0)],
        },
    ];

    /// A table of specs builds one sink per row, each at the endpoint its index names.
    #[test]
    fn a_table_builds_each_sink_at_its_endpoint() {
        let endpoints = [
            "unix:///tmp/a.sock".to_owned(),
            "unix:///tmp/b.sock".to_owned(),
        ];
        let relays: [RelaySink<Bytes>; 2] = relays_at(&PAIR, &endpoints, &[1, 0]);
        assert_eq!(
            relays.each_ref().map(|s| (s.name(), s.endpoint())),
            [
                ("first", "unix:///tmp/b.sock"),
                ("second", "unix:///tmp/a.sock")
            ]
        );
        let directs: [DirectSink<Bytes>; 1] = directs_at(&[SPEC], &endpoints, &[0]);
        assert_eq!(directs[0].endpoint(), "unix:///tmp/a.sock");

        // Composites take their members from the leaves and from earlier composites.
        let [both, outer] = composites_at(&COMPOSITES, &relays, &directs);
        assert_eq!((both.name(), both.mode()), ("both", crate::Mode::Broadcast));
        assert_eq!(
            (outer.name(), outer.mode()),
            ("outer", crate::Mode::Failover)
        );
        assert!(format!("{both:?}").contains("members: 2"), "{both:?}");
        assert!(format!("{outer:?}").contains("members: 2"), "{outer:?}");
    }

    /// A process-wide cell is built once, on its first call.
    #[test]
    fn a_cell_builds_its_sink_once() {
        static CELLS: [OnceLock<RelaySink<Bytes>>; 2] = [const { OnceLock::new() }; 2];
        fn relays(i: usize) -> &'static RelaySink<Bytes> {
            relay_once(&CELLS[i], &PAIR[i])
        }
        static COMPOSITE: OnceLock<CompositeSink<Bytes>> = OnceLock::new();
        assert!(CELLS[1].get().is_none());
        let second = relays(1);
        assert_eq!(second.name(), "second");
        assert!(std::ptr::eq(second, relays(1)));
        assert!(CELLS[0].get().is_none(), "only the sink called is built");
        // A composite takes its members from the process-wide cells, building them.
        static RELAYS: CompositeSpec = CompositeSpec {
            name: "relays",
            mode: crate::Mode::RoundRobin,
            members: &[MemberRef::Relay(0), MemberRef::Relay(1)],
        };
        let composite = composite_once(&COMPOSITE, &RELAYS, relays, absent, absent);
        assert_eq!(composite.name(), "relays");
        assert!(
            format!("{composite:?}").contains("members: 2"),
            "{composite:?}"
        );
        assert_eq!(CELLS[0].get().map(RelaySink::name), Some("first"));
        assert!(std::ptr::eq(
            composite,
            composite_once(&COMPOSITE, &RELAYS, relays, absent, absent)
        ));
    }

    /// Generated sinks name their service and target in the handshake.
    #[test]
    fn generated_sinks_carry_their_identity() {
        let options = options(&SPEC, SPEC.endpoint, None);
        assert_eq!(
            options.identity,
            Some(Identity {
                service: "feed".into(),
                target: "market_data".into(),
            })
        );
    }
}
