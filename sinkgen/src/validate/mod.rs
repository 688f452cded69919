//! Raw config -> [`Topology`]: every check of the catalogue that needs more than the
//! file's shape. One function per rule, each saying why it exists; every problem is
//! pushed into one [`Ctx`] so that a single run reports all of them.
//!
//! Checks run in passes (names, relays, services, sinks, composites, warnings); a
//! value that failed an earlier check is left out of later ones, so one mistake is
//! reported once. This file holds the passes' order; the rules live by family:
//! [`relays`], [`services`], [`targets`] (what a sink sends to), [`composites`],
//! [`warnings`], with [`names`], [`policy`], [`endpoints`] and [`message`] shared by
//! several families, and [`topology`] assembling the result once all checks passed.
//!
//! [`Ctx`]: crate::diagnostic::Ctx

mod codec;
mod composites;
mod durable;
pub(crate) mod endpoints;
mod message;
pub(crate) mod names;
mod policy;
mod relays;
mod services;
mod targets;
mod tls;
mod topology;
mod warnings;
mod ws;

use std::collections::HashMap;
use std::ops::Range;

use crate::diagnostic::Ctx;
use crate::model::{Codec, Endpoint, Framing, Policy, Topology};
use crate::parse::{CompositeKind, RawConfig, Sp};
use crate::source::Source;
use crate::text::{did_you_mean, list_of, printable};
use names::NameKind;
use policy::Owner;

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
    codec: Codec,
    backlog: u32,
    socket_mode: u32,
    durable: Option<crate::model::Durability>,
    /// The `tls` table is usable on the endpoint (false: reported).
    tls_ok: bool,
}

struct ServiceInfo {
    name_ok: bool,
    source: Option<u8>,
    listen: Option<Endpoint>,
    /// What the service accepts on `listen` (`None`: bytes, or broken and already reported).
    message: Option<String>,
    codec: Codec,
    /// `None` when the framing is broken (already reported).
    framing: Option<Framing>,
    sinks: Vec<SinkInfo>,
    /// The `tls` table is usable on `listen` (false: reported).
    tls_ok: bool,
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
    Some(topology::build(raw, relays, services, defaults, source))
}

/// What the checks found out about each relay and service, for [`topology::build`].
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
            .map(|(s, name_ok)| {
                let listen = self.check_listen(s);
                let tls_ok = self.service_tls(s, listen.as_ref());
                ServiceInfo {
                    name_ok,
                    source: self.source_in_range(s),
                    listen,
                    tls_ok,
                    message: self.service_message(s),
                    codec: self.check_codec(
                        "service",
                        &s.name.value,
                        "services",
                        s.codec.as_ref(),
                        s.message.is_some(),
                    ),
                    framing: self.service_framing(s),
                    sinks: Vec::new(),
                }
            })
            .collect();
        for (s, info) in raw.services.iter().zip(&services) {
            self.ws_listen_framing(s, info.listen.as_ref(), info.framing);
        }
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
            self.composite_message_types(s, si, &services, &relays, &order);
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
}
