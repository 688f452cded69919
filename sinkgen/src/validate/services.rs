//! Services: `source` ids, `listen` endpoints and `subscribes` lists, and the rules
//! between services and relays (unique sources, no shared listen endpoint).

use std::collections::HashMap;

use super::{RelayInfo, ServiceInfo, Validator};
use crate::diagnostic::Diagnostic;
use sinkgen_config::policy;

use crate::model::{Endpoint, Framing};
use crate::parse::{FramingKind, RawService, Sp};
use crate::text::printable;

impl Validator<'_, '_> {
    /// The torq header holds the source in one byte.
    pub(super) fn source_in_range(&mut self, s: &RawService) -> Option<u8> {
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
    pub(super) fn duplicate_sources(&mut self, services: &[ServiceInfo]) {
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

    /// `message` types what the service accepts on `listen`; without `listen` nothing
    /// is accepted, so the type would silently apply to nothing.
    pub(super) fn service_message(&mut self, s: &RawService) -> Option<String> {
        let m = s.message.as_ref()?;
        let name = printable(&s.name.value);
        let message = self.message_type_path(&format!("service `{name}`"), m)?;
        if s.listen.is_none() {
            self.key_without_listen(s, "message", m.span.clone());
            return None;
        }
        Some(message)
    }

    /// `framing` says what direct sinks to the service speak: sinkgen's protocol or plain
    /// length prefixes (a `listen` served by hand-written code). Torq needs a relay domain.
    pub(super) fn service_framing(&mut self, s: &RawService) -> Option<Framing> {
        let Some(f) = &s.framing else {
            // A `framing` written but not a framing: reported at the value already.
            if s.framing_written {
                return None;
            }
            return Some(match policy::SERVICE_FRAMING {
                FramingKind::Sinkgen => Framing::Sinkgen,
                FramingKind::LengthPrefixed | FramingKind::Torq => Framing::LengthPrefixed,
            });
        };
        let name = printable(&s.name.value);
        let framing = match f.value {
            FramingKind::Sinkgen => Framing::Sinkgen,
            FramingKind::LengthPrefixed => Framing::LengthPrefixed,
            FramingKind::Torq => {
                self.ctx.push(
                    Diagnostic::error(format!("service `{name}` cannot use torq framing"))
                        .with_span(f.span.clone())
                        .with_label("torq frames go to relays")
                        .with_help(
                            "write `framing = \"sinkgen\"` (sinkgen's acknowledged protocol) or `framing = \"length-prefixed\"` (a `listen` served by hand-written code); torq framing is for relays, with a `domain`",
                        ),
                );
                return None;
            }
        };
        if s.listen.is_none() {
            self.key_without_listen(s, "framing", f.span.clone());
            return None;
        }
        Some(framing)
    }

    /// `message` and `framing` describe the service's `listen`.
    fn key_without_listen(&mut self, s: &RawService, key: &str, span: std::ops::Range<usize>) {
        let name = printable(&s.name.value);
        self.ctx.push(
            Diagnostic::error(format!(
                "`{key}` of service `{name}` has no effect without `listen`"
            ))
            .with_span(span)
            .with_label(format!("`{name}` accepts no direct connections"))
            .with_help(format!(
                "add `listen = \"unix:///tmp/{name}.sock\"` (or `tcp://host:port`) to `[services.{name}]`, or remove `{key}`: it describes what the service accepts on `listen`"
            )),
        );
    }

    /// A service accepts direct connections on a socket (unix or tcp) or a WebSocket
    /// server of its own, never a NATS subject.
    pub(super) fn check_listen(&mut self, s: &RawService) -> Option<Endpoint> {
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
    pub(super) fn listen_conflicts(
        &mut self,
        relays: &mut [RelayInfo],
        services: &mut [ServiceInfo],
    ) {
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
            let bound = super::ws::bound(&endpoint);
            if let Some(&ri) = relay_at.get(&bound) {
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
            } else if let Some(&first) = service_at.get(&bound) {
                let a = &self.raw.services[first];
                let (what, label) = if services[first].listen.as_ref() == Some(&endpoint) {
                    (
                        format!("the same endpoint `{endpoint}`"),
                        "endpoint used twice",
                    )
                } else {
                    // WebSocket servers with different paths, or a WebSocket and a
                    // TCP server: still one port.
                    let port = bound.to_string();
                    let port = port.strip_prefix("tcp://").unwrap_or(&port).to_owned();
                    (format!("the same port `{port}`"), "port used twice")
                };
                let mut d = Diagnostic::error(format!(
                    "services `{}` and `{}` listen on {what}",
                    printable(&a.name.value),
                    printable(&s.name.value)
                ))
                .with_span(l.span.clone())
                .with_label(label)
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
                service_at.insert(bound, i);
            }
        }
    }

    /// `subscribes` feeds the topology graph and the warnings; a wrong name would hide a mistake.
    pub(super) fn check_subscribes(
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
}
