//! `services.toml` text -> [`RawConfig`]: the file's shape, with the byte span of
//! every value the user wrote.
//!
//! This stage owns checks 1 and 2 of the catalogue: TOML syntax, unknown keys,
//! wrong value types and bad durations. Anything that does not fit the schema is
//! reported and left out of the raw config, so later checks only see well-typed
//! values and never report a second error for the same mistake.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use sinkgen_config::{DurationLiteral, policy};

use crate::diagnostic::{Ctx, Diagnostic};
use crate::text::{did_you_mean, list_of, printable};

/// A byte range in the file.
pub(crate) type Span = Range<usize>;

/// A value and the byte span of the text that wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sp<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Sp<T> {
    pub(crate) fn new(value: T, span: Span) -> Self {
        Sp { value, span }
    }
}

/// The whole file, shaped but not yet checked for meaning.
#[derive(Debug, Default)]
pub(crate) struct RawConfig {
    pub defaults: RawPolicy,
    pub relays: Vec<RawRelay>,
    pub services: Vec<RawService>,
}

/// Policy keys as written, in `[defaults]` or on one sink.
#[derive(Debug, Default, Clone)]
pub(crate) struct RawPolicy {
    pub connect_timeout: Option<Sp<Duration>>,
    pub send_timeout: Option<Sp<Duration>>,
    pub queue: Option<Sp<i128>>,
    pub backoff_initial: Option<Sp<Duration>>,
    pub backoff_max: Option<Sp<Duration>>,
    pub when_down: Option<Sp<WhenDown>>,
    pub max_frame: Option<Sp<i128>>,
}

impl RawPolicy {
    /// The span of the first policy key written, for "does not apply here" errors.
    pub(crate) fn first_span(&self) -> Option<Span> {
        [
            self.connect_timeout.as_ref().map(|s| s.span.clone()),
            self.send_timeout.as_ref().map(|s| s.span.clone()),
            self.queue.as_ref().map(|s| s.span.clone()),
            self.backoff_initial.as_ref().map(|s| s.span.clone()),
            self.backoff_max.as_ref().map(|s| s.span.clone()),
            self.when_down.as_ref().map(|s| s.span.clone()),
            self.max_frame.as_ref().map(|s| s.span.clone()),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|s| s.start)
    }
}

pub(crate) use credentials::{RawCredentials, RawCredentialsKind, RawSecret};
pub(crate) use sinkgen_config::policy::{CodecKind, FramingKind, WhenDown};

#[derive(Debug)]
pub(crate) struct RawRelay {
    /// The name, spanned at its key.
    pub name: Sp<String>,
    pub endpoint: Option<Sp<String>>,
    /// `endpoint` is written, even if with a wrong type or misspelled (already reported).
    pub endpoint_written: bool,
    /// `framing` is written, even if with a wrong value or misspelled (already reported).
    pub framing_written: bool,
    pub framing: Option<Sp<FramingKind>>,
    pub domain: Option<Sp<i128>>,
    /// `domain` is written, even if not as an integer or misspelled (already reported).
    pub domain_written: bool,
    pub message: Option<Sp<String>>,
    pub codec: Option<Sp<CodecKind>>,
    pub backlog: Option<Sp<i128>>,
    pub socket_mode: Option<Sp<i128>>,
    pub durable: Option<Sp<bool>>,
    pub duplicate_window: Option<Sp<Duration>>,
    pub storage: Option<Sp<String>>,
    /// `credentials`, well formed (malformed ones are reported and left out).
    pub credentials: Option<RawCredentials>,
    pub tls: Option<RawTls>,
}

#[derive(Debug)]
pub(crate) struct RawService {
    /// The name, spanned at its key.
    pub name: Sp<String>,
    pub source: Option<Sp<i128>>,
    /// `source` is written, even if not as an integer or misspelled (already reported).
    pub source_written: bool,
    pub listen: Option<Sp<String>>,
    /// The type the service accepts on `listen`.
    pub message: Option<Sp<String>>,
    /// How that type goes on the wire.
    pub codec: Option<Sp<CodecKind>>,
    /// What direct sinks to the service speak.
    pub framing: Option<Sp<FramingKind>>,
    /// `framing` is written, even if with a wrong value or misspelled (already reported).
    pub framing_written: bool,
    pub subscribes: Vec<Sp<String>>,
    pub sinks: Vec<RawSink>,
    /// How `listen` and the direct sinks to it are secured.
    pub tls: Option<RawTls>,
}

#[derive(Debug)]
pub(crate) struct RawSink {
    /// The name, spanned at its key (table form) or its list entry (shorthand).
    pub name: Sp<String>,
    /// The target keys written (`relay`, `service`, ...), each spanned at its key.
    pub targets: Vec<(Span, RawTarget)>,
    pub policy: RawPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompositeKind {
    Broadcast,
    RoundRobin,
    Failover,
}

impl CompositeKind {
    pub(crate) fn key(self) -> &'static str {
        match self {
            CompositeKind::Broadcast => "broadcast",
            CompositeKind::RoundRobin => "round_robin",
            CompositeKind::Failover => "failover",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum RawTarget {
    /// Shorthand list entry: a relay or a service.
    Named(Sp<String>),
    Relay(Sp<String>),
    Service(Sp<String>),
    Endpoint(Sp<String>),
    Composite {
        kind: CompositeKind,
        /// The span of the whole list.
        list: Span,
        members: Vec<Sp<String>>,
    },
    /// A target key whose value had the wrong type (already reported).
    Invalid,
}

impl RawTarget {
    pub(crate) fn key(&self) -> &'static str {
        match self {
            RawTarget::Named(_) => "sinks",
            RawTarget::Relay(_) => "relay",
            RawTarget::Service(_) => "service",
            RawTarget::Endpoint(_) => "endpoint",
            RawTarget::Composite { kind, .. } => kind.key(),
            RawTarget::Invalid => "target",
        }
    }
}

const TOP_KEYS: &[&str] = &["defaults", "relays", "services"];
const POLICY_KEYS: &[&str] = &[
    "connect_timeout",
    "send_timeout",
    "queue",
    "backoff",
    "when_down",
    "max_frame",
];
const BACKOFF_KEYS: &[&str] = &["initial", "max"];
pub(crate) const RELAY_KEYS: &[&str] = &[
    "endpoint",
    "framing",
    "domain",
    "message",
    "codec",
    "backlog",
    "socket_mode",
    "durable",
    "duplicate_window",
    "storage",
    "credentials",
    "tls",
];
pub(crate) const SERVICE_KEYS: &[&str] = &[
    "source",
    "listen",
    "message",
    "codec",
    "framing",
    "subscribes",
    "sinks",
    "tls",
];
pub(crate) const TARGET_KEYS: &[&str] = &[
    "relay",
    "service",
    "endpoint",
    "broadcast",
    "round_robin",
    "failover",
];

/// An example value for each key, used in `help:` lines about wrong types; for the
/// policy keys, their default.
fn example(key: &str) -> String {
    let literal = |d| format!("\"{}\"", DurationLiteral(d));
    match key {
        "connect_timeout" => return literal(policy::CONNECT_TIMEOUT),
        "send_timeout" => return literal(policy::SEND_TIMEOUT),
        "initial" => return literal(policy::BACKOFF_INITIAL),
        "max" => return literal(policy::BACKOFF_MAX),
        "queue" => return policy::QUEUE.to_string(),
        "when_down" => return format!("\"{}\"", policy::WHEN_DOWN.name()),
        "max_frame" => return policy::MAX_FRAME.to_string(),
        "backlog" => return policy::BACKLOG.to_string(),
        "socket_mode" => return format!("{:#o}", policy::SOCKET_MODE),
        "duplicate_window" => return literal(policy::DUPLICATE_WINDOW),
        "durable" => return "true".to_owned(),
        "storage" => return "\"file\"".to_owned(),
        "credentials" => return "{ token = { env = \"NATS_TOKEN\" } }".to_owned(),
        "framing" => return format!("\"{}\"", policy::RELAY_FRAMING.name()),
        "codec" => return format!("\"{}\"", policy::CODEC.name()),
        "backoff" => return backoff_example(),
        "defaults" => return format!("{{ queue = {} }}", policy::QUEUE),
        "tls" => return "{ ca = { file = \"ca.pem\" } }".to_owned(),
        "server_name" => return "\"relay.internal\"".to_owned(),
        _ => {}
    }
    match key {
        "endpoint" => "\"unix:///tmp/market_data.sock\"",
        "domain" => "1",
        "message" => "\"protocol::MarketEvent\"",
        "source" => "7",
        "listen" => "\"tcp://127.0.0.1:9100\"",
        "subscribes" | "sinks" => "[\"market_data\"]",
        "relay" => "\"market_data\"",
        "service" => "\"execution\"",
        "broadcast" | "round_robin" | "failover" => "[\"primary\", \"backup\"]",
        _ => "...",
    }
    .to_owned()
}

/// `{ initial = "10ms", max = "1s" }`: the default backoff as the file writes it.
pub(crate) fn backoff_example() -> String {
    format!(
        "{{ initial = \"{}\", max = \"{}\" }}",
        DurationLiteral(policy::BACKOFF_INITIAL),
        DurationLiteral(policy::BACKOFF_MAX)
    )
}

/// Where in the file a key lives, in the user's words ("relay `market_data`").
#[derive(Clone, Copy)]
enum Place<'a> {
    Top,
    Defaults,
    Relay(&'a str),
    Service(&'a str),
    Sink(&'a str, &'a str),
    /// A table inside another place: `backoff`, `tls`, `credentials`.
    Within(&'static str, &'a Place<'a>),
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Top => f.write_str("the top level"),
            Place::Defaults => f.write_str("`[defaults]`"),
            Place::Relay(r) => write!(f, "relay `{r}`"),
            Place::Service(s) => write!(f, "service `{s}`"),
            Place::Sink(service, sink) => write!(f, "sink `{sink}` of service `{service}`"),
            Place::Within(table, inner) => write!(f, "`{table}` of {inner}"),
        }
    }
}

mod credentials;
mod duration;
mod relay;
mod secret;
mod service;
mod syntax;
mod tls;
mod values;

pub(crate) use tls::RawTls;

use duration::expect_duration;
use relay::shape_relay;
use service::shape_service;
pub(crate) use syntax::parse_toml;
use values::{
    article, expect_entry_table, expect_int, expect_str, expect_str_list, expect_table,
    reject_unknown_keys, wrong_type,
};

/// Converts the parsed document into the raw config, reporting check 2 errors.
pub(crate) fn shape(ctx: &mut Ctx, doc: &DeTable<'_>) -> RawConfig {
    let mut raw = RawConfig::default();
    reject_unknown_keys(ctx, doc, TOP_KEYS, Place::Top);
    if let Some(table) = doc
        .get("defaults")
        .and_then(|v| expect_table(ctx, "defaults", v, Place::Top))
    {
        raw.defaults = shape_policy(ctx, table, Place::Defaults, POLICY_KEYS);
    }
    if let Some(table) = doc
        .get("relays")
        .and_then(|v| expect_table(ctx, "relays", v, Place::Top))
    {
        for (name, value) in table.iter() {
            let name = Sp::new(name.get_ref().to_string(), name.span());
            let place = Place::Relay(&name.value);
            if let Some(t) = expect_entry_table(ctx, value, &place) {
                let relay = shape_relay(ctx, t, name.clone());
                raw.relays.push(relay);
            }
        }
    }
    if let Some(table) = doc
        .get("services")
        .and_then(|v| expect_table(ctx, "services", v, Place::Top))
    {
        for (name, value) in table.iter() {
            let name = Sp::new(name.get_ref().to_string(), name.span());
            let place = Place::Service(&name.value);
            if let Some(t) = expect_entry_table(ctx, value, &place) {
                let service = shape_service(ctx, t, name.clone());
                raw.services.push(service);
            }
        }
    }
    raw
}

fn shape_sink(
    ctx: &mut Ctx,
    service: &str,
    name: Sp<String>,
    value: &Spanned<DeValue<'_>>,
) -> Option<RawSink> {
    let place = Place::Sink(service, &name.value);
    let Some(t) = value.get_ref().as_table() else {
        sink_not_a_table(ctx, &name, value, service);
        return None;
    };
    let mut allowed: Vec<&'static str> = TARGET_KEYS.to_vec();
    allowed.extend_from_slice(POLICY_KEYS);
    reject_unknown_keys(ctx, t, &allowed, place);
    let mut targets = Vec::new();
    for (key, v) in t.iter() {
        let k = key.get_ref().as_ref();
        let target = match k {
            "relay" => expect_str(ctx, k, v, place).map(RawTarget::Relay),
            "service" => expect_str(ctx, k, v, place).map(RawTarget::Service),
            "endpoint" => expect_str(ctx, k, v, place).map(RawTarget::Endpoint),
            "broadcast" | "round_robin" | "failover" => {
                let kind = match k {
                    "broadcast" => CompositeKind::Broadcast,
                    "round_robin" => CompositeKind::RoundRobin,
                    _ => CompositeKind::Failover,
                };
                expect_str_list(ctx, k, v, place).map(|(list, members)| RawTarget::Composite {
                    kind,
                    list,
                    members,
                })
            }
            _ => continue,
        };
        if let Some(target) = target {
            targets.push((key.span(), target));
        } else {
            // A target key with a wrong type still counts as "the target", so the
            // user is not also told the sink has no target.
            targets.push((key.span(), RawTarget::Invalid));
        }
    }
    // A misspelled target key (already reported) is the target the user meant.
    let misspelled_target = t.iter().find(|(k, _)| {
        !allowed.contains(&k.get_ref().as_ref())
            && did_you_mean(k.get_ref(), TARGET_KEYS.iter().copied()).is_some()
    });
    if let (true, Some((key, _))) = (targets.is_empty(), misspelled_target) {
        targets.push((key.span(), RawTarget::Invalid));
    }
    let policy = shape_policy(ctx, t, place, &allowed);
    Some(RawSink {
        name,
        targets,
        policy,
    })
}

/// A sink in table form is itself a table; a bare string is a common slip for the shorthand.
fn sink_not_a_table(ctx: &mut Ctx, name: &Sp<String>, value: &Spanned<DeValue<'_>>, service: &str) {
    let help = match value.get_ref().as_str() {
        Some(s) => format!(
            "write `{} = {{ relay = \"{}\" }}` (or `service = \"{}\"`)",
            printable(&name.value),
            printable(s),
            printable(s)
        ),
        None => format!(
            "write the sink as a table, e.g. `{} = {{ relay = \"market_data\" }}`",
            printable(&name.value)
        ),
    };
    ctx.push(
        Diagnostic::error(format!(
            "sink `{}` of service `{}` must be a table",
            printable(&name.value),
            printable(service)
        ))
        .with_span(value.span())
        .with_label(format!("found {}", article(value.get_ref().type_str())))
        .with_help(help),
    );
}

/// Reads the policy keys of `[defaults]` or of one sink; `known` are the keys already
/// accepted by the caller (only used to skip them).
fn shape_policy(
    ctx: &mut Ctx,
    t: &DeTable<'_>,
    place: Place<'_>,
    known: &[&'static str],
) -> RawPolicy {
    if matches!(place, Place::Defaults) {
        reject_unknown_keys(ctx, t, known, place);
    }

    let mut policy = RawPolicy {
        connect_timeout: t
            .get("connect_timeout")
            .and_then(|v| expect_duration(ctx, "connect_timeout", v, place)),
        send_timeout: t
            .get("send_timeout")
            .and_then(|v| expect_duration(ctx, "send_timeout", v, place)),
        queue: t
            .get("queue")
            .and_then(|v| expect_int(ctx, "queue", v, place)),
        when_down: t
            .get("when_down")
            .and_then(|v| expect_str(ctx, "when_down", v, place))
            .and_then(|s| shape_when_down(ctx, s)),
        max_frame: t
            .get("max_frame")
            .and_then(|v| expect_int(ctx, "max_frame", v, place)),
        ..RawPolicy::default()
    };
    if let Some(b) = t
        .get("backoff")
        .and_then(|v| expect_table(ctx, "backoff", v, place))
    {
        {
            let inner = Place::Within("backoff", &place);
            reject_unknown_keys(ctx, b, BACKOFF_KEYS, inner);
            policy.backoff_initial = b
                .get("initial")
                .and_then(|v| expect_duration(ctx, "initial", v, inner));
            policy.backoff_max = b
                .get("max")
                .and_then(|v| expect_duration(ctx, "max", v, inner));
        }
    }
    policy
}

/// `when_down` has two values; anything else would silently pick one.
fn shape_when_down(ctx: &mut Ctx, s: Sp<String>) -> Option<Sp<WhenDown>> {
    if let Some(w) = WhenDown::from_name(&s.value) {
        return Some(Sp::new(w, s.span));
    }
    let help = match did_you_mean(&s.value, WhenDown::ALL.iter().map(|w| w.name())) {
        Some(w) => format!("did you mean `\"{w}\"`?"),
        None => format!(
            "use `\"queue\"` (frames wait for the next connection; the default) or `\"fail\"` (a send fails at once while the peer is down); e.g. `when_down = \"{}\"`",
            WhenDown::Fail.name()
        ),
    };
    ctx.push(
        Diagnostic::error(format!("unknown `when_down` `{}`", printable(&s.value)))
            .with_span(s.span.clone())
            .with_label("not a `when_down` value")
            .with_help(help),
    );
    None
}
