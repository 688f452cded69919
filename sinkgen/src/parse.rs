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
        ]
        .into_iter()
        .flatten()
        .min_by_key(|s| s.start)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FramingKind {
    LengthPrefixed,
    Torq,
}

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
}

#[derive(Debug)]
pub(crate) struct RawService {
    /// The name, spanned at its key.
    pub name: Sp<String>,
    pub source: Option<Sp<i128>>,
    /// `source` is written, even if not as an integer or misspelled (already reported).
    pub source_written: bool,
    pub listen: Option<Sp<String>>,
    pub subscribes: Vec<Sp<String>>,
    pub sinks: Vec<RawSink>,
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
const POLICY_KEYS: &[&str] = &["connect_timeout", "send_timeout", "queue", "backoff"];
const BACKOFF_KEYS: &[&str] = &["initial", "max"];
const RELAY_KEYS: &[&str] = &["endpoint", "framing", "domain", "message"];
const SERVICE_KEYS: &[&str] = &["source", "listen", "subscribes", "sinks"];
pub(crate) const TARGET_KEYS: &[&str] = &[
    "relay",
    "service",
    "endpoint",
    "broadcast",
    "round_robin",
    "failover",
];
const FRAMINGS: &[&str] = &["length-prefixed", "torq"];

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
        "backoff" => return backoff_example(),
        "defaults" => return format!("{{ queue = {} }}", policy::QUEUE),
        _ => {}
    }
    match key {
        "endpoint" => "\"unix:///tmp/market_data.sock\"",
        "framing" => "\"torq\"",
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
    Backoff(&'a Place<'a>),
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Top => f.write_str("the top level"),
            Place::Defaults => f.write_str("`[defaults]`"),
            Place::Relay(r) => write!(f, "relay `{r}`"),
            Place::Service(s) => write!(f, "service `{s}`"),
            Place::Sink(service, sink) => write!(f, "sink `{sink}` of service `{service}`"),
            Place::Backoff(inner) => write!(f, "`backoff` of {inner}"),
        }
    }
}

/// Parses the text, reporting syntax errors (check 1). `None` when the text is not TOML.
pub(crate) fn parse_toml<'i>(ctx: &mut Ctx, text: &'i str) -> Option<Spanned<DeTable<'i>>> {
    let (table, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        return Some(table);
    }
    for e in errors {
        syntax_error(ctx, text, &e);
    }
    None
}

/// TOML syntax errors: the file must be TOML before anything else can be checked.
fn syntax_error(ctx: &mut Ctx, text: &str, e: &toml::de::Error) {
    let span = e.span().map_or(text.len()..text.len(), |s| {
        s.start.min(text.len())..s.end.min(text.len())
    });
    let message = e.message().trim_end_matches('.').to_owned();
    let (description, expected) = match message.split_once(", expected ") {
        Some((d, exp)) => (d.to_owned(), Some(format!("expected {exp}"))),
        None => (message.clone(), None),
    };
    let (message, label, help) = if description.starts_with("duplicate key") {
        let key = text
            .get(span.clone())
            .unwrap_or("")
            .trim_matches(['"', '\'']);
        (
            format!("duplicate key `{}`", printable(key)),
            "defined again here".to_owned(),
            "a key may appear once per table; remove or rename one of the definitions".to_owned(),
        )
    } else {
        let help = syntax_help(&description);
        (
            format!("invalid TOML: {description}"),
            expected.unwrap_or_else(|| description.clone()),
            help.to_owned(),
        )
    };
    ctx.push(
        Diagnostic::error(lowercase_first(&message))
            .with_span(span)
            .with_label(label)
            .with_help(help),
    );
}

/// The fix for the TOML syntax errors users make most.
fn syntax_help(description: &str) -> &'static str {
    match description {
        d if d.contains("string") && !d.contains("quoted") => {
            "close the string with `\"` on the same line, or use `\"\"\"` for a multi-line string"
        }
        "string values must be quoted" => {
            "put the value in double quotes, e.g. `framing = \"torq\"`"
        }
        "key with no value"
        | "missing assignment between key-value pairs"
        | "missing value for key"
        | "missing value" => "write `key = value`, e.g. `sinks = [\"market_data\"]`",
        d if d.starts_with("unclosed") => "add the closing bracket",
        d if d.contains("comma") => "separate entries with a single `,`",
        "invalid unquoted key" => "keys are letters, digits, `_` and `-`; quote anything else",
        _ => "see https://toml.io for the syntax",
    }
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

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

fn shape_relay(ctx: &mut Ctx, t: &DeTable<'_>, name: Sp<String>) -> RawRelay {
    let place = Place::Relay(&name.value);
    let meant = reject_unknown_keys(ctx, t, RELAY_KEYS, place);
    let framing = t.get("framing").and_then(|v| {
        let s = expect_str(ctx, "framing", v, place)?;
        match s.value.as_str() {
            "length-prefixed" => Some(Sp::new(FramingKind::LengthPrefixed, s.span)),
            "torq" => Some(Sp::new(FramingKind::Torq, s.span)),
            other => {
                unknown_framing(ctx, &s, other);
                None
            }
        }
    });
    RawRelay {
        endpoint: t
            .get("endpoint")
            .and_then(|v| expect_str(ctx, "endpoint", v, place)),
        endpoint_written: t.contains_key("endpoint") || meant.contains(&"endpoint"),
        framing_written: t.contains_key("framing") || meant.contains(&"framing"),
        framing,
        domain: t
            .get("domain")
            .and_then(|v| expect_int(ctx, "domain", v, place)),
        domain_written: t.contains_key("domain") || meant.contains(&"domain"),
        message: t
            .get("message")
            .and_then(|v| expect_str(ctx, "message", v, place)),
        name,
    }
}

/// `framing` has two values; anything else would silently pick a wire format.
fn unknown_framing(ctx: &mut Ctx, s: &Sp<String>, other: &str) {
    let help = match did_you_mean(other, FRAMINGS.iter().copied()) {
        Some(s) => format!("did you mean `\"{s}\"`?"),
        None => "use `\"length-prefixed\"` (the default) or `\"torq\"`".to_owned(),
    };
    ctx.push(
        Diagnostic::error(format!("unknown `framing` `{}`", printable(other)))
            .with_span(s.span.clone())
            .with_label("not a framing")
            .with_help(help),
    );
}

fn shape_service(ctx: &mut Ctx, t: &DeTable<'_>, name: Sp<String>) -> RawService {
    let place = Place::Service(&name.value);
    let meant = reject_unknown_keys(ctx, t, SERVICE_KEYS, place);
    let subscribes = t
        .get("subscribes")
        .and_then(|v| expect_str_list(ctx, "subscribes", v, place))
        .map(|(_, list)| list)
        .unwrap_or_default();
    let mut sinks = Vec::new();
    if let Some(value) = t.get("sinks") {
        match value.get_ref() {
            DeValue::Array(_) => {
                if let Some((_, list)) = expect_str_list(ctx, "sinks", value, place) {
                    for entry in list {
                        sinks.push(RawSink {
                            name: entry.clone(),
                            targets: vec![(entry.span.clone(), RawTarget::Named(entry))],
                            policy: RawPolicy::default(),
                        });
                    }
                }
            }
            DeValue::Table(table) => {
                for (sink_name, sink_value) in table.iter() {
                    let sink_name = Sp::new(sink_name.get_ref().to_string(), sink_name.span());
                    if let Some(sink) = shape_sink(ctx, &name.value, sink_name, sink_value) {
                        sinks.push(sink);
                    }
                }
            }
            other => wrong_type(
                ctx,
                "sinks",
                value.span(),
                other,
                "a list or a table",
                place,
            ),
        }
    }
    RawService {
        source: t
            .get("source")
            .and_then(|v| expect_int(ctx, "source", v, place)),
        source_written: t.contains_key("source") || meant.contains(&"source"),
        listen: t
            .get("listen")
            .and_then(|v| expect_str(ctx, "listen", v, place)),
        subscribes,
        sinks,
        name,
    }
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
        ..RawPolicy::default()
    };
    if let Some(b) = t
        .get("backoff")
        .and_then(|v| expect_table(ctx, "backoff", v, place))
    {
        {
            let inner = Place::Backoff(&place);
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

/// Unknown keys are errors, not ignored: a typo must never silently fall back to a default.
/// Returns the known keys that the unknown ones look like typos of, so that checks for a
/// missing key do not report the same mistake a second time.
fn reject_unknown_keys(
    ctx: &mut Ctx,
    t: &DeTable<'_>,
    allowed: &[&'static str],
    place: Place<'_>,
) -> Vec<&'static str> {
    let mut meant = Vec::new();
    for (key, _) in t.iter() {
        let k = key.get_ref().as_ref();
        if allowed.contains(&k) {
            continue;
        }
        let suggestion = did_you_mean(k, allowed.iter().copied());
        let help = match suggestion {
            Some(s) => {
                meant.push(s);
                format!("did you mean `{s}`?")
            }
            None => format!("the keys of {place} are {}", list_of(allowed)),
        };
        let message = match place {
            Place::Top => format!("unknown top-level key `{}`", printable(k)),
            _ => format!("unknown key `{}` in {place}", printable(k)),
        };
        ctx.push(
            Diagnostic::error(message)
                .with_span(key.span())
                .with_label("unknown key")
                .with_help(help),
        );
    }
    meant
}

fn article(type_str: &str) -> String {
    match type_str {
        "integer" => "an integer".to_owned(),
        "array" => "a list".to_owned(),
        other => format!("a {other}"),
    }
}

/// Wrong value types: each key has one type, and a wrong one is a mistake to show, not coerce.
fn wrong_type(
    ctx: &mut Ctx,
    key: &str,
    span: Span,
    found: &DeValue<'_>,
    expected: &str,
    place: Place<'_>,
) {
    ctx.push(
        Diagnostic::error(match place {
            Place::Top => format!("`{key}` must be {expected}"),
            _ => format!("`{key}` of {place} must be {expected}"),
        })
        .with_span(span)
        .with_label(format!("found {}", article(found.type_str())))
        .with_help(match key {
            "relays" | "services" => {
                format!("write each entry as a table, e.g. `[{key}.market_data]`")
            }
            _ => format!("write it as `{key} = {}`", example(key)),
        }),
    );
}

fn expect_table<'a, 'i>(
    ctx: &mut Ctx,
    key: &str,
    v: &'a Spanned<DeValue<'i>>,
    place: Place<'_>,
) -> Option<&'a DeTable<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        other => {
            wrong_type(ctx, key, v.span(), other, "a table", place);
            None
        }
    }
}

/// Every relay and service is a table of keys; anything else cannot describe one.
fn expect_entry_table<'a, 'i>(
    ctx: &mut Ctx,
    v: &'a Spanned<DeValue<'i>>,
    place: &Place<'_>,
) -> Option<&'a DeTable<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        other => {
            let (header, what) = match place {
                Place::Relay(n) => (format!("[relays.{}]", printable(n)), "endpoint = ..."),
                Place::Service(n) => (format!("[services.{}]", printable(n)), "listen = ..."),
                _ => (String::new(), ""),
            };
            ctx.push(
                Diagnostic::error(format!("{place} must be a table"))
                    .with_span(v.span())
                    .with_label(format!("found {}", article(other.type_str())))
                    .with_help(format!(
                        "write it as a table: `{header}` followed by `{what}`"
                    )),
            );
            None
        }
    }
}

fn expect_str(
    ctx: &mut Ctx,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    place: Place<'_>,
) -> Option<Sp<String>> {
    match v.get_ref() {
        DeValue::String(s) => Some(Sp::new(s.to_string(), v.span())),
        other => {
            wrong_type(ctx, key, v.span(), other, "a string", place);
            None
        }
    }
}

fn expect_int(
    ctx: &mut Ctx,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    place: Place<'_>,
) -> Option<Sp<i128>> {
    match v.get_ref() {
        DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Some(Sp::new(n, v.span())),
            Err(_) => {
                ctx.push(
                    Diagnostic::error(format!("`{key}` of {place} is too large"))
                        .with_span(v.span())
                        .with_label("integer out of range")
                        .with_help(format!("write it as `{key} = {}`", example(key))),
                );
                None
            }
        },
        other => {
            wrong_type(ctx, key, v.span(), other, "an integer", place);
            None
        }
    }
}

/// A list of strings; returns the span of the list and the spanned entries.
fn expect_str_list(
    ctx: &mut Ctx,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    place: Place<'_>,
) -> Option<(Span, Vec<Sp<String>>)> {
    let DeValue::Array(items) = v.get_ref() else {
        wrong_type(ctx, key, v.span(), v.get_ref(), "a list of names", place);
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items.iter() {
        match item.get_ref() {
            DeValue::String(s) => out.push(Sp::new(s.to_string(), item.span())),
            other => {
                ok = false;
                ctx.push(
                    Diagnostic::error(format!("`{key}` of {place} must list names as strings"))
                        .with_span(item.span())
                        .with_label(format!("found {}", article(other.type_str())))
                        .with_help(format!("write it as `{key} = {}`", example(key))),
                );
            }
        }
    }
    ok.then_some((v.span(), out))
}

fn expect_duration(
    ctx: &mut Ctx,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    place: Place<'_>,
) -> Option<Sp<Duration>> {
    match v.get_ref() {
        DeValue::String(s) => match parse_duration(s) {
            Ok(d) => Some(Sp::new(d, v.span())),
            Err(problem) => {
                bad_duration(ctx, key, v.span(), s, problem, place);
                None
            }
        },
        DeValue::Integer(i) => {
            ctx.push(
                Diagnostic::error(format!("`{key}` of {place} needs a unit"))
                    .with_span(v.span())
                    .with_label("a number without a unit")
                    .with_help(format!(
                        "write the duration as a string with a unit (`ns`, `us`, `ms`, `s` or `m`), e.g. `{key} = \"{}ms\"`",
                        i.as_str()
                    )),
            );
            None
        }
        other => {
            wrong_type(ctx, key, v.span(), other, "a duration string", place);
            None
        }
    }
}

/// Why a duration string does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurationProblem {
    NoNumber,
    NoUnit,
    UnknownUnit,
    Fraction,
    TooLarge,
}

/// Parses `<integer><unit>`, unit one of `ns`, `us`, `ms`, `s`, `m`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, DurationProblem> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    if digits.is_empty() {
        return Err(DurationProblem::NoNumber);
    }
    if unit.starts_with('.') || unit.starts_with(',') {
        return Err(DurationProblem::Fraction);
    }
    let n: u64 = digits.parse().map_err(|_| DurationProblem::TooLarge)?;
    let duration = match unit {
        "" => return Err(DurationProblem::NoUnit),
        "ns" => Some(Duration::from_nanos(n)),
        "us" => n.checked_mul(1_000).map(Duration::from_nanos),
        "ms" => n.checked_mul(1_000_000).map(Duration::from_nanos),
        "s" => n.checked_mul(1_000_000_000).map(Duration::from_nanos),
        "m" => n
            .checked_mul(60)
            .and_then(|s| s.checked_mul(1_000_000_000))
            .map(Duration::from_nanos),
        _ => return Err(DurationProblem::UnknownUnit),
    };
    duration.ok_or(DurationProblem::TooLarge)
}

/// Bad durations: a wrong unit or a fraction would otherwise be a silent misconfiguration.
fn bad_duration(
    ctx: &mut Ctx,
    key: &str,
    span: Span,
    text: &str,
    problem: DurationProblem,
    place: Place<'_>,
) {
    let shown = printable(text);
    let (label, help) = match problem {
        DurationProblem::NoNumber => (
            "expected a whole number and a unit".to_owned(),
            format!("write e.g. `{key} = {}`", example(key)),
        ),
        DurationProblem::NoUnit => (
            "missing unit".to_owned(),
            format!("add a unit (`ns`, `us`, `ms`, `s` or `m`), e.g. `{key} = \"{shown}ms\"`"),
        ),
        DurationProblem::UnknownUnit => {
            let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
            let unit = text[digits.len()..].trim();
            let suggestion = match unit {
                "µs" | "μs" | "micros" | "usec" => Some("us"),
                "sec" | "secs" | "second" | "seconds" => Some("s"),
                "min" | "mins" | "minute" | "minutes" => Some("m"),
                "msec" | "millis" | "milliseconds" => Some("ms"),
                "nanos" | "nsec" | "nanoseconds" => Some("ns"),
                "h" | "hour" | "hours" => None,
                _ => None,
            };
            let help = match (suggestion, unit) {
                (Some(u), _) => format!("write `{key} = \"{digits}{u}\"`"),
                (None, "h" | "hour" | "hours") => {
                    "hours are not a unit here; write minutes, e.g. `\"60m\"`".to_owned()
                }
                (None, _) if text.contains(' ') => format!(
                    "write the number and the unit without a space, e.g. `{key} = {}`",
                    example(key)
                ),
                (None, _) => "the units are `ns`, `us`, `ms`, `s` and `m`".to_owned(),
            };
            (format!("unknown unit `{}`", printable(unit)), help)
        }
        DurationProblem::Fraction => (
            "fractions are not supported".to_owned(),
            "use a smaller unit, e.g. `\"1500ms\"` instead of `\"1.5s\"`".to_owned(),
        ),
        DurationProblem::TooLarge => (
            "too large".to_owned(),
            "durations must fit in 2^64 nanoseconds (about 584 years)".to_owned(),
        ),
    };
    ctx.push(
        Diagnostic::error(format!("invalid duration `{shown}` for `{key}` of {place}"))
            .with_span(span)
            .with_label(label)
            .with_help(help),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("3us"), Ok(Duration::from_micros(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("10"), Err(DurationProblem::NoUnit));
        assert_eq!(parse_duration("ms"), Err(DurationProblem::NoNumber));
        assert_eq!(parse_duration("1.5s"), Err(DurationProblem::Fraction));
        assert_eq!(parse_duration("5h"), Err(DurationProblem::UnknownUnit));
        assert_eq!(parse_duration("5 s"), Err(DurationProblem::UnknownUnit));
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationProblem::TooLarge)
        );
        assert_eq!(
            parse_duration("18446744073709551615m"),
            Err(DurationProblem::TooLarge)
        );
        assert_eq!(parse_duration("-1s"), Err(DurationProblem::NoNumber));
    }
}
