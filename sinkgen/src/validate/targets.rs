//! Sink targets: what each sink sends to (a relay, a service, an endpoint, or a
//! composite of sinks), resolved by name, with did-you-mean help for unknown names.

use std::collections::HashMap;

use super::{RelayInfo, Resolved, ServiceInfo, Validator};
use crate::diagnostic::Diagnostic;
use crate::model::Framing;
use crate::parse::{RawService, RawSink, RawTarget, Sp};
use crate::text::printable;

impl Validator<'_, '_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn resolve_target(
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
    pub(super) fn one_target(&mut self, s: &RawService, k: &RawSink) -> bool {
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
    pub(super) fn shorthand_ambiguous(&mut self, n: &Sp<String>) {
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
    pub(super) fn unknown_shorthand(&mut self, s: &RawService, n: &Sp<String>) {
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
    pub(super) fn unknown_relay(
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
    pub(super) fn unknown_service(
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
    pub(super) fn direct(
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

    /// Torq frames carry the sender's source id; a service without one cannot fill the header.
    pub(super) fn torq_needs_source(
        &mut self,
        s: &RawService,
        info: &ServiceInfo,
        relays: &[RelayInfo],
    ) {
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
}
