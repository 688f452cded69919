//! Raw config -> [`Topology`]: every check of the catalogue that needs more than the
//! file's shape. One function per rule, each saying why it exists; every problem is
//! pushed into one [`Ctx`] so that a single run reports all of them.
//!
//! Checks run in passes (names, relays, services, sinks, composites, warnings); a
//! value that failed an earlier check is left out of later ones, so one mistake is
//! reported once.

pub(crate) mod endpoints;
mod message;
pub(crate) mod names;
mod policy;
pub(crate) mod suggest;

use std::collections::HashMap;
use std::ops::Range;

use crate::diagnostic::Diagnostic;
use crate::model::{Endpoint, Framing, Policy, Relay, Service, Sink, SinkTarget, Topology};
use crate::parse::{
    CompositeKind, FramingKind, RawConfig, RawRelay, RawService, RawSink, RawTarget, Sp, list_of,
    printable,
};
use crate::source::Source;
use endpoints::{blamed, parse_endpoint};
use names::NameKind;
use policy::Owner;
use suggest::did_you_mean;

/// Where every check reports: the accumulated diagnostics of one file.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    diagnostics: Vec<Diagnostic>,
}

impl Ctx {
    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub(crate) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }
}

/// What a sink's target resolved to.
#[derive(Debug, Clone)]
enum Resolved {
    Relay(usize),
    Service(usize),
    Endpoint(Endpoint),
    Composite(CompositeKind, Vec<usize>),
    /// Already reported.
    Broken,
}

struct RelayInfo {
    name_ok: bool,
    endpoint: Option<Endpoint>,
    /// `None` when the framing is broken (already reported).
    framing: Option<Framing>,
    message: Option<String>,
}

struct ServiceInfo {
    name_ok: bool,
    source: Option<u8>,
    listen: Option<Endpoint>,
    sinks: Vec<SinkInfo>,
}

struct SinkInfo {
    name_ok: bool,
    target: Resolved,
    policy: Policy,
}

/// Turns the raw config into a topology, or reports why it cannot.
pub(crate) fn validate(ctx: &mut Ctx, raw: RawConfig, source: &Source) -> Option<Topology> {
    let v = Validator {
        ctx,
        raw: &raw,
        source,
        suggestions_left: std::cell::Cell::new(SUGGESTION_BUDGET),
    };
    let (relays, services, defaults) = v.run()?;
    Some(build(raw, relays, services, defaults, source))
}

/// What the checks found out about each relay and service, for [`build`].
type Checked = (Vec<RelayInfo>, Vec<ServiceInfo>, Policy);

struct Validator<'a, 'r> {
    ctx: &'a mut Ctx,
    raw: &'r RawConfig,
    source: &'a Source,
    /// How many more whole-file did-you-mean scans may run (see [`SUGGESTION_BUDGET`]).
    suggestions_left: std::cell::Cell<usize>,
}

/// A did-you-mean over every relay and service scans the whole file; past this many
/// unknown names, stop suggesting so that a file full of them is still checked in
/// linear time.
const SUGGESTION_BUDGET: usize = 32;

impl<'r> Validator<'_, 'r> {
    fn run(mut self) -> Option<Checked> {
        let raw = self.raw;
        let relay_names: Vec<&Sp<String>> = raw.relays.iter().map(|r| &r.name).collect();
        let relay_ok = names::check_scope(self.ctx, NameKind::Relay, &relay_names);
        let service_names: Vec<&Sp<String>> = raw.services.iter().map(|s| &s.name).collect();
        let service_ok = names::check_scope(self.ctx, NameKind::Service, &service_names);

        let relay_index: HashMap<&str, usize> = raw
            .relays
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.value.as_str(), i))
            .collect();
        let service_index: HashMap<&str, usize> = raw
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.value.as_str(), i))
            .collect();

        let defaults = policy::check_policy(
            self.ctx,
            &raw.defaults,
            Policy::default(),
            None,
            &Owner::Defaults,
        );

        let mut relays: Vec<RelayInfo> = raw
            .relays
            .iter()
            .zip(relay_ok)
            .map(|(r, name_ok)| self.check_relay(r, name_ok))
            .collect();
        self.duplicate_domains(&relays);
        self.relays_share_endpoint(&mut relays);

        let mut services: Vec<ServiceInfo> = raw
            .services
            .iter()
            .zip(service_ok)
            .map(|(s, name_ok)| ServiceInfo {
                name_ok,
                source: self.source_in_range(s),
                listen: self.check_listen(s),
                sinks: Vec::new(),
            })
            .collect();
        self.duplicate_sources(&services);
        self.listen_conflicts(&mut relays, &mut services);
        for s in &raw.services {
            self.check_subscribes(s, &relay_index, &service_index);
        }

        for (si, s) in raw.services.iter().enumerate() {
            let sink_names: Vec<&Sp<String>> = s.sinks.iter().map(|k| &k.name).collect();
            let sink_ok = names::check_scope(self.ctx, NameKind::Sink, &sink_names);
            let sink_index: HashMap<&str, usize> = s
                .sinks
                .iter()
                .enumerate()
                .rev()
                .map(|(i, k)| (k.name.value.as_str(), i))
                .collect();
            let mut infos = Vec::with_capacity(s.sinks.len());
            for (ki, (k, name_ok)) in s.sinks.iter().zip(sink_ok).enumerate() {
                let target = self.resolve_target(
                    si,
                    s,
                    ki,
                    k,
                    &relay_index,
                    &service_index,
                    &services,
                    &sink_index,
                );
                let owner = Owner::Sink {
                    service: &s.name.value,
                    sink: &k.name.value,
                };
                let policy = if matches!(target, Resolved::Composite(..)) {
                    self.policy_on_composite(s, k);
                    defaults
                } else {
                    policy::check_policy(self.ctx, &k.policy, defaults, Some(&raw.defaults), &owner)
                };
                infos.push(SinkInfo {
                    name_ok,
                    target,
                    policy,
                });
            }
            services[si].sinks = infos;
            self.torq_needs_source(s, &services[si], &relays);
            let order = self.composite_cycles(s, &services[si].sinks);
            self.composite_message_types(s, &services[si].sinks, &relays, &order);
        }

        // Warnings describe a valid topology; next to errors they would mostly be echoes
        // of them (a relay "nobody sends to" because the sink naming it is misspelled).
        if !self.ctx.has_errors() {
            self.unused_relays(&relays, &services);
            self.unreachable_services(&services);
        }

        if self.ctx.has_errors() {
            return None;
        }
        Some((relays, services, defaults))
    }

    /// The span inside a string literal for a byte range of its value, when the
    /// literal has no escapes; the whole literal otherwise.
    fn inner_span(&self, s: &Sp<String>, at: Option<Range<usize>>) -> Range<usize> {
        let Some(at) = at else {
            return s.span.clone();
        };
        let written = self.source.text().get(s.span.clone()).unwrap_or("");
        let plain = written.len() == s.value.len() + 2
            && (written.starts_with('"') || written.starts_with('\''))
            && written.get(1..written.len() - 1) == Some(s.value.as_str());
        if plain && at.end <= s.value.len() {
            let start = s.span.start + 1 + at.start;
            start..(s.span.start + 1 + at.end).max(start)
        } else {
            s.span.clone()
        }
    }

    fn check_relay(&mut self, r: &RawRelay, name_ok: bool) -> RelayInfo {
        let endpoint = match &r.endpoint {
            None => {
                if !r.endpoint_written {
                    self.relay_without_endpoint(r);
                }
                None
            }
            Some(e) => self.endpoint(e, "endpoint", || {
                format!("relay `{}`", printable(&r.name.value))
            }),
        };
        let framing = self.relay_framing(r);
        let message = r
            .message
            .as_ref()
            .and_then(|m| self.message_type_path(r, m));
        RelayInfo {
            name_ok,
            endpoint,
            framing,
            message,
        }
    }

    /// A relay is a place to send to; without an endpoint there is nowhere to connect.
    fn relay_without_endpoint(&mut self, r: &RawRelay) {
        let name = printable(&r.name.value);
        self.ctx.push(
            Diagnostic::error(format!("relay `{name}` has no `endpoint`"))
                .with_span(r.name.span.clone())
                .with_label("no `endpoint` in this relay")
                .with_help(format!(
                    "add `endpoint = \"unix:///tmp/{name}.sock\"` (or a `tcp://host:port`) to `[relays.{name}]`"
                )),
        );
    }

    /// Endpoints are parsed once here so a typo fails the build, not the first send.
    fn endpoint(
        &mut self,
        e: &Sp<String>,
        key: &str,
        owner: impl FnOnce() -> String,
    ) -> Option<Endpoint> {
        match parse_endpoint(&e.value) {
            Ok(endpoint) => Some(endpoint),
            Err(problem) => {
                let span = self.inner_span(e, blamed(&problem, &e.value));
                self.ctx.push(
                    Diagnostic::error(format!(
                        "invalid `{key}` of {}: {}",
                        owner(),
                        problem.message
                    ))
                    .with_span(span)
                    .with_label(problem.label)
                    .with_help(problem.help),
                );
                None
            }
        }
    }

    /// Torq frames carry a domain byte; without one the relay would drop every frame.
    fn relay_framing(&mut self, r: &RawRelay) -> Option<Framing> {
        let name = printable(&r.name.value);
        let torq = matches!(r.framing.as_ref().map(|f| f.value), Some(FramingKind::Torq));
        let domain = match &r.domain {
            None => None,
            Some(d) => match u8::try_from(d.value) {
                Ok(b) => Some(b),
                Err(_) => {
                    self.ctx.push(
                        Diagnostic::error(format!("`domain` of relay `{name}` is outside 0-255"))
                            .with_span(d.span.clone())
                            .with_label("not a byte")
                            .with_help(
                                "the torq relay domain is one byte: use a value from 0 to 255",
                            ),
                    );
                    return None;
                }
            },
        };
        match (torq, domain) {
            (true, Some(domain)) => Some(Framing::Torq { domain }),
            // A `domain` written but not a number: reported at the value already.
            (true, None) if r.domain_written => None,
            (true, None) => {
                let span = r
                    .framing
                    .as_ref()
                    .map_or(r.name.span.clone(), |f| f.span.clone());
                self.ctx.push(
                    Diagnostic::error(format!("relay `{name}` uses torq framing without a `domain`"))
                        .with_span(span)
                        .with_label("torq framing needs a `domain`")
                        .with_help(format!(
                            "add `domain = <0-255>` to `[relays.{name}]`: the relay domain byte of every frame header"
                        )),
                );
                None
            }
            (false, Some(_)) if !r.framing_written => {
                self.domain_without_torq(r);
                None
            }
            (false, Some(_)) => None,
            (false, None) => Some(Framing::LengthPrefixed),
        }
    }

    /// A `domain` on a length-prefixed relay is never sent: the user meant torq or nothing.
    fn domain_without_torq(&mut self, r: &RawRelay) {
        let name = printable(&r.name.value);
        let Some(d) = &r.domain else { return };
        self.ctx.push(
            Diagnostic::error(format!(
                "`domain` of relay `{name}` has no effect without torq framing"
            ))
            .with_span(d.span.clone())
            .with_label("only torq frames carry a domain")
            .with_help(format!(
                "add `framing = \"torq\"` to `[relays.{name}]`, or remove `domain`"
            )),
        );
    }

    /// `message` is emitted as a type path: anything else would not compile, or inject code.
    fn message_type_path(&mut self, r: &RawRelay, m: &Sp<String>) -> Option<String> {
        match message::check_type_path(&m.value) {
            Ok(()) => Some(m.value.clone()),
            Err(problem) => {
                let span = self.inner_span(m, Some(problem.at.clone()));
                self.ctx.push(
                    Diagnostic::error(format!(
                        "`message` of relay `{}` is not a Rust type path",
                        printable(&r.name.value)
                    ))
                    .with_span(span)
                    .with_label(problem.label)
                    .with_help(problem.help),
                );
                None
            }
        }
    }

    /// Two relays with one domain byte are indistinguishable to a torq consumer.
    fn duplicate_domains(&mut self, relays: &[RelayInfo]) {
        let mut seen: HashMap<u8, usize> = HashMap::new();
        for (i, info) in relays.iter().enumerate() {
            let Some(Framing::Torq { domain }) = info.framing else {
                continue;
            };
            if let Some(&first) = seen.get(&domain) {
                let (a, b) = (&self.raw.relays[first], &self.raw.relays[i]);
                let (Some(da), Some(db)) = (&a.domain, &b.domain) else {
                    continue;
                };
                self.ctx.push(
                    Diagnostic::error(format!(
                        "relays `{}` and `{}` have the same `domain` {domain}",
                        printable(&a.name.value),
                        printable(&b.name.value)
                    ))
                    .with_span(db.span.clone())
                    .with_label("domain used twice")
                    .with_related(
                        da.span.clone(),
                        format!("`{}` uses it here", printable(&a.name.value)),
                    )
                    .with_help("give every torq relay its own domain byte"),
                );
            } else {
                seen.insert(domain, i);
            }
        }
    }

    /// Two relays on one socket would be one process serving two domains by accident.
    #[allow(clippy::needless_range_loop)] // reads `self.raw` by the same index
    fn relays_share_endpoint(&mut self, relays: &mut [RelayInfo]) {
        let mut seen: HashMap<Endpoint, usize> = HashMap::new();
        for i in 0..relays.len() {
            let Some(endpoint) = relays[i].endpoint.clone() else {
                continue;
            };
            if let Some(&first) = seen.get(&endpoint) {
                let (a, b) = (&self.raw.relays[first], &self.raw.relays[i]);
                let (Some(ea), Some(eb)) = (&a.endpoint, &b.endpoint) else {
                    continue;
                };
                self.ctx.push(
                    Diagnostic::error(format!(
                        "relays `{}` and `{}` have the same endpoint `{endpoint}`",
                        printable(&a.name.value),
                        printable(&b.name.value)
                    ))
                    .with_span(eb.span.clone())
                    .with_label("endpoint used twice")
                    .with_related(
                        ea.span.clone(),
                        format!("`{}` uses it here", printable(&a.name.value)),
                    )
                    .with_help("every relay is its own process with its own endpoint"),
                );
                relays[i].endpoint = None;
            } else {
                seen.insert(endpoint, i);
            }
        }
    }

    /// The torq header holds the source in one byte.
    fn source_in_range(&mut self, s: &RawService) -> Option<u8> {
        let src = s.source.as_ref()?;
        match u8::try_from(src.value) {
            Ok(b) => Some(b),
            Err(_) => {
                self.ctx.push(
                    Diagnostic::error(format!(
                        "`source` of service `{}` is outside 0-255",
                        printable(&s.name.value)
                    ))
                    .with_span(src.span.clone())
                    .with_label("not a byte")
                    .with_help("the torq source id is one byte: use a value from 0 to 255 that no other service uses"),
                );
                None
            }
        }
    }

    /// Consumers tell producers apart by the source byte; two services with one source are one to them.
    fn duplicate_sources(&mut self, services: &[ServiceInfo]) {
        let mut seen: HashMap<u8, usize> = HashMap::new();
        let used: std::collections::HashSet<u8> =
            services.iter().filter_map(|s| s.source).collect();
        let free = (0..=255u8).find(|b| !used.contains(b));
        for (i, info) in services.iter().enumerate() {
            let Some(source) = info.source else { continue };
            if let Some(&first) = seen.get(&source) {
                let (a, b) = (&self.raw.services[first], &self.raw.services[i]);
                let (Some(sa), Some(sb)) = (&a.source, &b.source) else {
                    continue;
                };
                let help = match free {
                    Some(f) => format!("give every service its own `source`; `{f}` is free"),
                    None => "give every service its own `source`".to_owned(),
                };
                self.ctx.push(
                    Diagnostic::error(format!(
                        "services `{}` and `{}` have the same `source` {source}",
                        printable(&a.name.value),
                        printable(&b.name.value)
                    ))
                    .with_span(sb.span.clone())
                    .with_label("source used twice")
                    .with_related(
                        sa.span.clone(),
                        format!("`{}` uses it here", printable(&a.name.value)),
                    )
                    .with_help(help),
                );
            } else {
                seen.insert(source, i);
            }
        }
    }

    /// A service accepts direct connections on a socket: unix or tcp, never a NATS subject.
    fn check_listen(&mut self, s: &RawService) -> Option<Endpoint> {
        let l = s.listen.as_ref()?;
        let owner = || format!("service `{}`", printable(&s.name.value));
        let endpoint = self.endpoint(l, "listen", owner)?;
        if let Endpoint::Nats { .. } = endpoint {
            let owner = owner();
            self.ctx.push(
                Diagnostic::error(format!("`listen` of {owner} is a nats endpoint"))
                    .with_span(l.span.clone())
                    .with_label("services accept direct connections on sockets")
                    .with_help(
                        "listen on `unix:///...` or `tcp://host:port`; put NATS subjects on relays",
                    ),
            );
            return None;
        }
        Some(endpoint)
    }

    /// Two listeners on one endpoint: the second fails to bind, or steals the first one's traffic.
    #[allow(clippy::needless_range_loop)] // reads `self.raw` by the same index
    fn listen_conflicts(&mut self, relays: &mut [RelayInfo], services: &mut [ServiceInfo]) {
        let mut relay_at: HashMap<&Endpoint, usize> = HashMap::new();
        for (i, r) in relays.iter().enumerate() {
            if let Some(e) = &r.endpoint {
                relay_at.entry(e).or_insert(i);
            }
        }
        let mut service_at: HashMap<Endpoint, usize> = HashMap::new();
        for i in 0..services.len() {
            let Some(endpoint) = services[i].listen.clone() else {
                continue;
            };
            let s = &self.raw.services[i];
            let Some(l) = &s.listen else { continue };
            if let Some(&ri) = relay_at.get(&endpoint) {
                let r = &self.raw.relays[ri];
                let mut d = Diagnostic::error(format!(
                    "service `{}` listens on the endpoint of relay `{}`",
                    printable(&s.name.value),
                    printable(&r.name.value)
                ))
                .with_span(l.span.clone())
                .with_label(format!(
                    "`{endpoint}` belongs to relay `{}`",
                    printable(&r.name.value)
                ))
                .with_help(
                    "give the service its own endpoint; to read the relay, use `subscribes`",
                );
                if let Some(re) = &r.endpoint {
                    d = d.with_related(re.span.clone(), "the relay's endpoint");
                }
                self.ctx.push(d);
                services[i].listen = None;
            } else if let Some(&first) = service_at.get(&endpoint) {
                let a = &self.raw.services[first];
                let mut d = Diagnostic::error(format!(
                    "services `{}` and `{}` listen on the same endpoint `{endpoint}`",
                    printable(&a.name.value),
                    printable(&s.name.value)
                ))
                .with_span(l.span.clone())
                .with_label("endpoint used twice")
                .with_help("give every service its own `listen` endpoint");
                if let Some(la) = &a.listen {
                    d = d.with_related(
                        la.span.clone(),
                        format!("`{}` listens here", printable(&a.name.value)),
                    );
                }
                self.ctx.push(d);
                services[i].listen = None;
            } else {
                service_at.insert(endpoint, i);
            }
        }
    }

    /// `subscribes` feeds the topology graph and the warnings; a wrong name would hide a mistake.
    fn check_subscribes(
        &mut self,
        s: &RawService,
        relay_index: &HashMap<&str, usize>,
        service_index: &HashMap<&str, usize>,
    ) {
        let mut seen: HashMap<&str, &Sp<String>> = HashMap::new();
        for sub in &s.subscribes {
            if let Some(first) = seen.get(sub.value.as_str()) {
                self.ctx.push(
                    Diagnostic::error(format!(
                        "relay `{}` is listed twice in `subscribes` of service `{}`",
                        printable(&sub.value),
                        printable(&s.name.value)
                    ))
                    .with_span(sub.span.clone())
                    .with_label("listed again")
                    .with_related(first.span.clone(), "first listed here")
                    .with_help("remove the second entry"),
                );
                continue;
            }
            seen.insert(&sub.value, sub);
            if relay_index.contains_key(sub.value.as_str()) {
                continue;
            }
            let help = if service_index.contains_key(sub.value.as_str()) {
                format!(
                    "`{}` is a service; services are reached through sinks, `subscribes` lists relays",
                    printable(&sub.value)
                )
            } else {
                self.relay_help(&sub.value)
            };
            self.ctx.push(
                Diagnostic::error(format!(
                    "service `{}` subscribes to unknown relay `{}`",
                    printable(&s.name.value),
                    printable(&sub.value)
                ))
                .with_span(sub.span.clone())
                .with_label("no relay of this name")
                .with_help(help),
            );
        }
    }

    /// [`did_you_mean`] within the file-wide budget.
    fn suggest<'n>(
        &self,
        name: &str,
        candidates: impl IntoIterator<Item = &'n str>,
    ) -> Option<&'n str> {
        let left = self.suggestions_left.get();
        if left == 0 {
            return None;
        }
        self.suggestions_left.set(left - 1);
        did_you_mean(name, candidates)
    }

    fn relay_help(&self, name: &str) -> String {
        match self.suggest(name, self.raw.relays.iter().map(|r| r.name.value.as_str())) {
            Some(s) => format!("did you mean `{s}`?"),
            None => self.known(
                "relays",
                self.raw.relays.iter().map(|r| r.name.value.as_str()),
            ),
        }
    }

    fn service_help(&self, name: &str) -> String {
        match self.suggest(
            name,
            self.raw.services.iter().map(|s| s.name.value.as_str()),
        ) {
            Some(s) => format!("did you mean `{s}`?"),
            None => self.known(
                "services",
                self.raw.services.iter().map(|s| s.name.value.as_str()),
            ),
        }
    }

    fn known<'n>(&self, what: &str, names: impl Iterator<Item = &'n str>) -> String {
        let names: Vec<String> = names.take(11).map(printable).collect();
        match names.len() {
            0 => format!("the file declares no {what}"),
            1..=10 => format!("the {what} are {}", list_of(&names)),
            _ => format!("the {what} include {}, ...", list_of(&names[..10])),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve_target(
        &mut self,
        si: usize,
        s: &RawService,
        ki: usize,
        k: &RawSink,
        relay_index: &HashMap<&str, usize>,
        service_index: &HashMap<&str, usize>,
        services: &[ServiceInfo],
        sink_index: &HashMap<&str, usize>,
    ) -> Resolved {
        if !self.one_target(s, k) {
            return Resolved::Broken;
        }
        let Some((_, target)) = k.targets.first() else {
            return Resolved::Broken;
        };
        match target {
            RawTarget::Invalid => Resolved::Broken,
            RawTarget::Named(n) => {
                match (
                    relay_index.get(n.value.as_str()),
                    service_index.get(n.value.as_str()),
                ) {
                    (Some(_), Some(_)) => {
                        self.shorthand_ambiguous(n);
                        Resolved::Broken
                    }
                    (Some(&r), None) => Resolved::Relay(r),
                    (None, Some(&t)) => self.direct(si, s, n, t, services),
                    (None, None) => {
                        self.unknown_shorthand(s, n);
                        Resolved::Broken
                    }
                }
            }
            RawTarget::Relay(n) => match relay_index.get(n.value.as_str()) {
                Some(&r) => Resolved::Relay(r),
                None => {
                    self.unknown_relay(s, k, n, service_index);
                    Resolved::Broken
                }
            },
            RawTarget::Service(n) => match service_index.get(n.value.as_str()) {
                Some(&t) => self.direct(si, s, n, t, services),
                None => {
                    self.unknown_service(s, k, n, relay_index);
                    Resolved::Broken
                }
            },
            RawTarget::Endpoint(e) => {
                let owner = || {
                    format!(
                        "sink `{}` of service `{}`",
                        printable(&k.name.value),
                        printable(&s.name.value)
                    )
                };
                self.endpoint(e, "endpoint", owner)
                    .map_or(Resolved::Broken, Resolved::Endpoint)
            }
            RawTarget::Composite {
                kind,
                list,
                members,
            } => self.composite(s, ki, k, *kind, list, members, sink_index),
        }
    }

    /// A sink sends to exactly one place; zero or two targets leave the generated type undefined.
    fn one_target(&mut self, s: &RawService, k: &RawSink) -> bool {
        let sink = printable(&k.name.value);
        let service = printable(&s.name.value);
        match k.targets.as_slice() {
            [_] => true,
            [] => {
                self.ctx.push(
                    Diagnostic::error(format!("sink `{sink}` of service `{service}` has no target"))
                        .with_span(k.name.span.clone())
                        .with_label("no `relay`, `service`, `endpoint`, `broadcast`, `round_robin` or `failover`")
                        .with_help(format!(
                            "give it exactly one target, e.g. `{sink} = {{ relay = \"{sink}\" }}`"
                        )),
                );
                false
            }
            [(first_span, first), rest @ ..] => {
                let mut d = Diagnostic::error(format!(
                    "sink `{sink}` of service `{service}` has {} targets",
                    k.targets.len()
                ))
                .with_span(rest[0].0.clone())
                .with_label(format!("second target `{}`", rest[0].1.key()))
                .with_related(first_span.clone(), format!("first target `{}`", first.key()))
                .with_help(
                    "keep exactly one of `relay`, `service`, `endpoint`, `broadcast`, `round_robin` and `failover`; to send to several places, make separate sinks and a composite over them",
                );
                for (span, t) in &rest[1..] {
                    d = d.with_related(span.clone(), format!("another target `{}`", t.key()));
                }
                self.ctx.push(d);
                false
            }
        }
    }

    /// A shorthand name that is both a relay and a service cannot be guessed.
    fn shorthand_ambiguous(&mut self, n: &Sp<String>) {
        let name = printable(&n.value);
        self.ctx.push(
            Diagnostic::error(format!("`{name}` in `sinks` is both a relay and a service"))
                .with_span(n.span.clone())
                .with_label("ambiguous name")
                .with_help(format!(
                    "use the table form to say which: `{name} = {{ relay = \"{name}\" }}` or `{name} = {{ service = \"{name}\" }}`"
                )),
        );
    }

    /// A shorthand entry must name something that exists.
    fn unknown_shorthand(&mut self, s: &RawService, n: &Sp<String>) {
        let candidates = self
            .raw
            .relays
            .iter()
            .map(|r| r.name.value.as_str())
            .chain(self.raw.services.iter().map(|s| s.name.value.as_str()));
        let help = match self.suggest(&n.value, candidates) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!(
                "{}; {}",
                self.known(
                    "relays",
                    self.raw.relays.iter().map(|r| r.name.value.as_str())
                ),
                self.known(
                    "services",
                    self.raw.services.iter().map(|s| s.name.value.as_str())
                )
            ),
        };
        self.ctx.push(
            Diagnostic::error(format!(
                "sink `{}` of service `{}` names no relay or service",
                printable(&n.value),
                printable(&s.name.value)
            ))
            .with_span(n.span.clone())
            .with_label("not a relay or a service")
            .with_help(help),
        );
    }

    /// `relay = "..."` must name a declared relay.
    fn unknown_relay(
        &mut self,
        s: &RawService,
        k: &RawSink,
        n: &Sp<String>,
        service_index: &HashMap<&str, usize>,
    ) {
        let help = if service_index.contains_key(n.value.as_str()) {
            format!(
                "`{}` is a service; write `service = \"{}\"` to send to it directly",
                printable(&n.value),
                printable(&n.value)
            )
        } else {
            self.relay_help(&n.value)
        };
        self.ctx.push(
            Diagnostic::error(format!(
                "sink `{}` of service `{}` names unknown relay `{}`",
                printable(&k.name.value),
                printable(&s.name.value),
                printable(&n.value)
            ))
            .with_span(n.span.clone())
            .with_label("no relay of this name")
            .with_help(help),
        );
    }

    /// `service = "..."` must name a declared service.
    fn unknown_service(
        &mut self,
        s: &RawService,
        k: &RawSink,
        n: &Sp<String>,
        relay_index: &HashMap<&str, usize>,
    ) {
        let help = if relay_index.contains_key(n.value.as_str()) {
            format!(
                "`{}` is a relay; write `relay = \"{}\"`",
                printable(&n.value),
                printable(&n.value)
            )
        } else {
            self.service_help(&n.value)
        };
        self.ctx.push(
            Diagnostic::error(format!(
                "sink `{}` of service `{}` names unknown service `{}`",
                printable(&k.name.value),
                printable(&s.name.value),
                printable(&n.value)
            ))
            .with_span(n.span.clone())
            .with_label("no service of this name")
            .with_help(help),
        );
    }

    /// Direct sinks connect to the target's `listen`; a service cannot connect to itself
    /// through the network, and one that does not listen cannot be connected to.
    fn direct(
        &mut self,
        si: usize,
        s: &RawService,
        n: &Sp<String>,
        target: usize,
        services: &[ServiceInfo],
    ) -> Resolved {
        let t = &self.raw.services[target];
        if target == si {
            self.ctx.push(
                Diagnostic::error(format!(
                    "service `{}` sends directly to itself",
                    printable(&s.name.value)
                ))
                .with_span(n.span.clone())
                .with_label("the service's own name")
                .with_help("call the code directly instead of going through a socket, or name another service"),
            );
            return Resolved::Broken;
        }
        if t.listen.is_none() {
            let name = printable(&t.name.value);
            self.ctx.push(
                Diagnostic::error(format!(
                    "service `{name}` is the target of a direct sink but has no `listen`"
                ))
                .with_span(n.span.clone())
                .with_label(format!("`{name}` accepts no direct connections"))
                .with_related(t.name.span.clone(), format!("`{name}` is declared here"))
                .with_help(format!(
                    "add `listen = \"unix:///tmp/{name}.sock\"` (or `tcp://host:port`) to `[services.{name}]`"
                )),
            );
            return Resolved::Broken;
        }
        if services[target].listen.is_none() {
            // Its `listen` is broken and already reported.
            return Resolved::Broken;
        }
        Resolved::Service(target)
    }

    #[allow(clippy::too_many_arguments)]
    fn composite(
        &mut self,
        s: &RawService,
        ki: usize,
        k: &RawSink,
        kind: CompositeKind,
        list: &Range<usize>,
        members: &[Sp<String>],
        sink_index: &HashMap<&str, usize>,
    ) -> Resolved {
        let sink = printable(&k.name.value);
        let key = kind.key();
        if members.is_empty() {
            self.empty_composite(&sink, key, list);
            return Resolved::Broken;
        }
        let mut ok = true;
        let mut seen: HashMap<&str, &Sp<String>> = HashMap::new();
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            if let Some(first) = seen.get(m.value.as_str()) {
                self.duplicate_member(&sink, key, m, first);
                ok = false;
                continue;
            }
            seen.insert(&m.value, m);
            match sink_index.get(m.value.as_str()) {
                Some(&i) if i == ki => {
                    self.composite_contains_itself(&sink, key, m);
                    ok = false;
                }
                Some(&i) => out.push(i),
                None => {
                    self.unknown_member(s, &sink, key, m);
                    ok = false;
                }
            }
        }
        if ok {
            Resolved::Composite(kind, out)
        } else {
            Resolved::Broken
        }
    }

    /// An empty composite can deliver nothing (the old system panicked on it).
    fn empty_composite(&mut self, sink: &str, key: &str, list: &Range<usize>) {
        self.ctx.push(
            Diagnostic::error(format!("`{key}` of sink `{sink}` has no members"))
                .with_span(list.clone())
                .with_label("empty list")
                .with_help(format!(
                    "list the sibling sinks it sends to, e.g. `{key} = [\"primary\", \"backup\"]`"
                )),
        );
    }

    /// Listing a member twice would send the frame to it twice, or skew the rotation.
    fn duplicate_member(&mut self, sink: &str, key: &str, m: &Sp<String>, first: &Sp<String>) {
        self.ctx.push(
            Diagnostic::error(format!(
                "`{key}` of sink `{sink}` lists `{}` twice",
                printable(&m.value)
            ))
            .with_span(m.span.clone())
            .with_label("listed again")
            .with_related(first.span.clone(), "first listed here")
            .with_help("remove the second entry"),
        );
    }

    /// A composite that contains itself recurses forever on the first send.
    fn composite_contains_itself(&mut self, sink: &str, key: &str, m: &Sp<String>) {
        self.ctx.push(
            Diagnostic::error(format!("composite sink `{sink}` contains itself"))
                .with_span(m.span.clone())
                .with_label(format!("`{sink}` is this sink"))
                .with_help(format!(
                    "remove `{sink}` from `{key}`; members are other sinks of the same service"
                )),
        );
    }

    /// Composite members are sibling sinks of the same service.
    fn unknown_member(&mut self, s: &RawService, sink: &str, key: &str, m: &Sp<String>) {
        let siblings = s
            .sinks
            .iter()
            .map(|k| k.name.value.as_str())
            .filter(|n| *n != sink);
        let help = match self.suggest(&m.value, siblings.clone()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => {
                let sibs: Vec<&str> = siblings.take(11).collect();
                if sibs.is_empty() {
                    "members are other sinks of the same service; declare the sink first".to_owned()
                } else {
                    format!(
                        "members are other sinks of service `{}`: {}",
                        printable(&s.name.value),
                        self.known("sinks", sibs.into_iter())
                            .trim_start_matches("the sinks are ")
                    )
                }
            }
        };
        self.ctx.push(
            Diagnostic::error(format!(
                "`{key}` of sink `{sink}` names unknown sink `{}`",
                printable(&m.value)
            ))
            .with_span(m.span.clone())
            .with_label(format!(
                "no sink of this name in service `{}`",
                printable(&s.name.value)
            ))
            .with_help(help),
        );
    }

    /// Policy keys on a composite would be silently ignored: members have their own.
    fn policy_on_composite(&mut self, s: &RawService, k: &RawSink) {
        let Some(span) = k.policy.first_span() else {
            return;
        };
        self.ctx.push(
            Diagnostic::error(format!(
                "composite sink `{}` of service `{}` cannot have its own connection policy",
                printable(&k.name.value),
                printable(&s.name.value)
            ))
            .with_span(span)
            .with_label("ignored on a composite")
            .with_help(
                "set `connect_timeout`, `send_timeout`, `queue` and `backoff` on the member sinks",
            ),
        );
    }

    /// Torq frames carry the sender's source id; a service without one cannot fill the header.
    fn torq_needs_source(&mut self, s: &RawService, info: &ServiceInfo, relays: &[RelayInfo]) {
        // A `source` written but not a number was reported at the value already.
        if s.source.is_some() || s.source_written {
            return;
        }
        for (k, sink) in s.sinks.iter().zip(&info.sinks) {
            let Resolved::Relay(r) = sink.target else {
                continue;
            };
            if !matches!(relays[r].framing, Some(Framing::Torq { .. })) {
                continue;
            }
            let service = printable(&s.name.value);
            let relay = printable(&self.raw.relays[r].name.value);
            let span = match k.targets.first() {
                Some((_, RawTarget::Named(n) | RawTarget::Relay(n))) => n.span.clone(),
                _ => k.name.span.clone(),
            };
            self.ctx.push(
                Diagnostic::error(format!(
                    "service `{service}` sends to torq relay `{relay}` but has no `source`"
                ))
                .with_span(span)
                .with_label("torq frames need the sender's source id")
                .with_related(s.name.span.clone(), format!("add `source` to `{service}`"))
                .with_help(format!(
                    "add `source = <0-255>` to `[services.{service}]`, unique among services"
                )),
            );
            return;
        }
    }

    /// A composite member cycle recurses forever on the first send (the old system
    /// overflowed its stack). Returns the sinks in an order where members come first.
    fn composite_cycles(&mut self, s: &RawService, sinks: &[SinkInfo]) -> Vec<usize> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let members = |i: usize| -> &[usize] {
            match &sinks[i].target {
                Resolved::Composite(_, m) => m,
                _ => &[],
            }
        };
        let mut mark = vec![Mark::New; sinks.len()];
        // Where each open sink sits on the stack, to cut a cycle out of it at once.
        let mut depth = vec![0usize; sinks.len()];
        let mut order = Vec::with_capacity(sinks.len());
        for root in 0..sinks.len() {
            if mark[root] != Mark::New {
                continue;
            }
            // Iterative depth-first search: hostile files may nest composites deeply.
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            mark[root] = Mark::Open;
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                if let Some(&child) = members(node).get(*next) {
                    *next += 1;
                    match mark[child] {
                        Mark::New => {
                            mark[child] = Mark::Open;
                            depth[child] = stack.len();
                            stack.push((child, 0));
                        }
                        Mark::Open => self.report_cycle(s, &stack[depth[child]..]),
                        Mark::Done => {}
                    }
                } else {
                    mark[node] = Mark::Done;
                    order.push(node);
                    stack.pop();
                }
            }
        }
        order
    }

    /// `cycle` is the part of the search stack from the composite that reaches itself.
    /// A long cycle is shown by its first few sinks and its last, so that the error
    /// stays readable and cheap to render however long the cycle is.
    fn report_cycle(&mut self, s: &RawService, cycle: &[(usize, usize)]) {
        const SHOWN: usize = 8;
        let shown: Vec<usize> = if cycle.len() <= SHOWN {
            cycle.iter().map(|&(i, _)| i).collect()
        } else {
            let head = cycle[..SHOWN - 1].iter().map(|&(i, _)| i);
            head.chain(cycle.last().map(|&(i, _)| i)).collect()
        };
        let name = |i: usize| format!("`{}`", printable(&s.sinks[i].name.value));
        let mut path: Vec<String> = shown.iter().map(|&i| name(i)).collect();
        if cycle.len() > SHOWN {
            path.insert(SHOWN - 1, "...".to_owned());
        }
        path.push(name(shown[0]));
        let length = if cycle.len() > SHOWN {
            format!(" of {} sinks", cycle.len())
        } else {
            String::new()
        };
        let first = &s.sinks[shown[0]];
        let mut d = Diagnostic::error(format!(
            "composite sinks of service `{}` form a cycle{length}: {}",
            printable(&s.name.value),
            path.join(" -> ")
        ))
        .with_span(first.name.span.clone())
        .with_label("this composite reaches itself through its members")
        .with_help("remove one of the members so that no composite contains itself, directly or through others");
        for &i in &shown[1..] {
            d = d.with_related(s.sinks[i].name.span.clone(), "part of the cycle");
        }
        self.ctx.push(d);
    }

    /// A composite sends one message type; members that take different types cannot share a frame.
    fn composite_message_types(
        &mut self,
        s: &RawService,
        sinks: &[SinkInfo],
        relays: &[RelayInfo],
        order: &[usize],
    ) {
        // `Some(None)` is bytes; `None` is unknown (broken, cyclic or mixed, already reported).
        let mut types: Vec<Option<Option<String>>> = vec![None; sinks.len()];
        for &i in order {
            types[i] = match &sinks[i].target {
                Resolved::Relay(r) => Some(relays[*r].message.clone()),
                Resolved::Service(_) | Resolved::Endpoint(_) => Some(None),
                Resolved::Broken => None,
                Resolved::Composite(kind, members) => {
                    let mut common: Option<(usize, &Option<String>)> = None;
                    let mut result = Some(());
                    for &m in members {
                        let Some(t) = &types[m] else {
                            result = None;
                            continue;
                        };
                        match common {
                            None => common = Some((m, t)),
                            Some((first, ft)) if ft != t => {
                                self.mixed_message_types(s, i, *kind, first, ft, m, t);
                                result = None;
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                    result.and(common.map(|(_, t)| t.clone()))
                }
            };
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn mixed_message_types(
        &mut self,
        s: &RawService,
        composite: usize,
        kind: CompositeKind,
        first: usize,
        first_type: &Option<String>,
        other: usize,
        other_type: &Option<String>,
    ) {
        let show = |t: &Option<String>| match t {
            Some(t) => format!("`{t}`"),
            None => "bytes".to_owned(),
        };
        let k = &s.sinks[composite];
        let member_span = |name: &str| match k.targets.first() {
            Some((_, RawTarget::Composite { members, .. })) => members
                .iter()
                .find(|m| m.value == name)
                .map_or(k.name.span.clone(), |m| m.span.clone()),
            _ => k.name.span.clone(),
        };
        let (a, b) = (&s.sinks[first].name.value, &s.sinks[other].name.value);
        self.ctx.push(
            Diagnostic::error(format!(
                "members of composite sink `{}` carry different message types: `{}` takes {}, `{}` takes {}",
                printable(&k.name.value),
                printable(a),
                show(first_type),
                printable(b),
                show(other_type)
            ))
            .with_span(member_span(b))
            .with_label(format!("takes {}", show(other_type)))
            .with_related(member_span(a), format!("takes {}", show(first_type)))
            .with_help(format!(
                "a `{}` sends one message type to all its members; use members with the same `message`, or make two composites",
                kind.key()
            )),
        );
    }

    /// A relay nobody sends to, or nobody reads, is likely a leftover or a typo elsewhere.
    fn unused_relays(&mut self, relays: &[RelayInfo], services: &[ServiceInfo]) {
        let mut sent = vec![false; relays.len()];
        for info in services {
            for k in &info.sinks {
                if let Resolved::Relay(r) = k.target {
                    sent[r] = true;
                }
            }
        }
        let mut read = vec![false; relays.len()];
        let index: HashMap<&str, usize> = self
            .raw
            .relays
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.value.as_str(), i))
            .collect();
        for s in &self.raw.services {
            for sub in &s.subscribes {
                if let Some(&i) = index.get(sub.value.as_str()) {
                    read[i] = true;
                }
            }
        }
        for (i, r) in self.raw.relays.iter().enumerate() {
            let name = printable(&r.name.value);
            let d = match (sent[i], read[i]) {
                (true, true) => continue,
                (false, false) => Diagnostic::warning(format!("relay `{name}` is not used by any service"))
                    .with_label("no sink sends to it and no service subscribes to it")
                    .with_help(format!(
                        "add `sinks = [\"{name}\"]` to a producer and `subscribes = [\"{name}\"]` to a consumer, or remove the relay"
                    )),
                (false, true) => Diagnostic::warning(format!("relay `{name}` has no senders"))
                    .with_label("no sink sends to it")
                    .with_help(format!("add `sinks = [\"{name}\"]` to the service that produces its messages")),
                (true, false) => Diagnostic::warning(format!("relay `{name}` has no subscribers"))
                    .with_label("no service subscribes to it")
                    .with_help(format!("add `subscribes = [\"{name}\"]` to the services that read it")),
            };
            self.ctx.push(d.with_span(r.name.span.clone()));
        }
    }

    /// A service that listens but that no sink sends to waits for traffic that never comes.
    fn unreachable_services(&mut self, services: &[ServiceInfo]) {
        let mut reached = vec![false; services.len()];
        let mut endpoint_sinks: std::collections::HashSet<&Endpoint> =
            std::collections::HashSet::new();
        for info in services {
            for k in &info.sinks {
                match &k.target {
                    Resolved::Service(t) => reached[*t] = true,
                    Resolved::Endpoint(e) => {
                        endpoint_sinks.insert(e);
                    }
                    _ => {}
                }
            }
        }
        for (i, info) in services.iter().enumerate() {
            let Some(listen) = &info.listen else { continue };
            if reached[i] || endpoint_sinks.contains(listen) {
                continue;
            }
            let s = &self.raw.services[i];
            let name = printable(&s.name.value);
            let span = s
                .listen
                .as_ref()
                .map_or(s.name.span.clone(), |l| l.span.clone());
            self.ctx.push(
                Diagnostic::warning(format!("service `{name}` listens but nobody can reach it"))
                    .with_span(span)
                    .with_label("no sink sends here")
                    .with_help(format!(
                        "add `sinks = [\"{name}\"]` (or `{{ service = \"{name}\" }}`) to a service that talks to it, or remove `listen`"
                    )),
            );
        }
    }
}

/// The topology, moving the names out of the raw config instead of copying them.
fn build(
    raw: RawConfig,
    relays: Vec<RelayInfo>,
    services: Vec<ServiceInfo>,
    defaults: Policy,
    source: &Source,
) -> Topology {
    let line = |span: &Range<usize>| u32::try_from(source.line(span.start)).unwrap_or(u32::MAX);
    let model_relays: Vec<Relay> = raw
        .relays
        .into_iter()
        .zip(relays)
        .filter(|(_, info)| info.name_ok)
        .filter_map(|(r, info)| {
            Some(Relay {
                line: line(&r.name.span),
                name: r.name.value,
                endpoint: info.endpoint?,
                framing: info.framing?,
                message: info.message,
            })
        })
        .collect();
    let model_services = raw
        .services
        .into_iter()
        .zip(services)
        .filter(|(_, info)| info.name_ok)
        .map(|(s, info)| {
            let sinks = s
                .sinks
                .into_iter()
                .zip(info.sinks)
                .filter(|(_, k)| k.name_ok)
                .filter_map(|(k, sink)| {
                    let written = k.targets.into_iter().next().map(|(_, t)| t);
                    let target = match (sink.target, written) {
                        (Resolved::Relay(_), Some(RawTarget::Relay(n) | RawTarget::Named(n))) => {
                            SinkTarget::Relay(n.value)
                        }
                        (
                            Resolved::Service(_),
                            Some(RawTarget::Service(n) | RawTarget::Named(n)),
                        ) => SinkTarget::Service(n.value),
                        (Resolved::Endpoint(e), _) => SinkTarget::Endpoint(e),
                        (
                            Resolved::Composite(kind, _),
                            Some(RawTarget::Composite { members, .. }),
                        ) => {
                            let m = members.into_iter().map(|m| m.value).collect();
                            match kind {
                                CompositeKind::Broadcast => SinkTarget::Broadcast(m),
                                CompositeKind::RoundRobin => SinkTarget::RoundRobin(m),
                                CompositeKind::Failover => SinkTarget::Failover(m),
                            }
                        }
                        _ => return None,
                    };
                    Some(Sink {
                        line: line(&k.name.span),
                        name: k.name.value,
                        target,
                        policy: sink.policy,
                    })
                })
                .collect();
            Service {
                line: line(&s.name.span),
                name: s.name.value,
                source: info.source,
                listen: info.listen,
                subscribes: s.subscribes.into_iter().map(|x| x.value).collect(),
                sinks,
            }
        })
        .collect();
    Topology {
        path: source.path().to_path_buf(),
        defaults,
        relays: model_relays,
        services: model_services,
    }
}
