//! Relays: each relay's endpoint, framing and message type, and the rules between
//! relays (one domain, one endpoint each).

use std::collections::HashMap;

use super::endpoints::{blamed, parse_endpoint};
use super::{RelayInfo, Validator, message};
use crate::diagnostic::Diagnostic;
use crate::model::{Endpoint, Framing};
use crate::parse::{FramingKind, RawRelay, Sp};
use crate::text::printable;
use sinkgen_config::policy;

impl Validator<'_, '_> {
    pub(super) fn check_relay(&mut self, r: &RawRelay, name_ok: bool) -> RelayInfo {
        let endpoint = match &r.endpoint {
            None => {
                if !r.endpoint_written {
                    self.relay_without_endpoint(r);
                }
                None
            }
            Some(e) => self
                .endpoint(e, "endpoint", || {
                    format!("relay `{}`", printable(&r.name.value))
                })
                .and_then(|endpoint| self.relay_not_ws(r, e, endpoint)),
        };
        let nats = matches!(endpoint, Some(Endpoint::Nats { .. }));
        let framing = self.relay_framing(r, nats);
        let message = r.message.as_ref().and_then(|m| {
            self.message_type_path(&format!("relay `{}`", printable(&r.name.value)), m)
        });
        let backlog = self.relay_backlog(r, nats);
        let unix = matches!(endpoint, Some(Endpoint::Unix(_)));
        let socket_mode = self.relay_socket_mode(r, endpoint.is_some() && !unix);
        let durable = self.relay_durable(r, endpoint.as_ref().map(|_| nats));
        if let Some(c) = &r.credentials
            && endpoint.is_some()
            && !nats
        {
            let name = printable(&r.name.value);
            self.ctx.push(
                Diagnostic::error(format!("relay `{name}` has `credentials` but is not a nats relay"))
                    .with_span(c.span.clone())
                    .with_label("credentials are presented to a NATS server only")
                    .with_help(format!(
                        "remove `credentials` from `[relays.{name}]`, or relay through `endpoint = \"nats://127.0.0.1:4222/{name}\"`"
                    )),
            );
        }
        let tls_ok = self.tls_on_endpoint(
            r.tls.as_ref(),
            endpoint.as_ref(),
            &format!("relay `{}`", printable(&r.name.value)),
        );
        let codec = self.check_codec(
            "relay",
            &r.name.value,
            "relays",
            r.codec.as_ref(),
            r.message.is_some(),
        );
        RelayInfo {
            name_ok,
            endpoint,
            framing,
            message,
            codec,
            backlog,
            socket_mode,
            durable,
            tls_ok,
        }
    }

    /// `socket_mode` is who may connect to a `unix://` relay's socket file: permission
    /// bits with read and write for the relay's own user (it must reach its own socket),
    /// and nothing beyond `0o777`. Other endpoints have no socket file to set.
    fn relay_socket_mode(&mut self, r: &RawRelay, not_unix: bool) -> u32 {
        let Some(m) = &r.socket_mode else {
            return policy::SOCKET_MODE;
        };
        let name = printable(&r.name.value);
        if not_unix {
            self.ctx.push(
                Diagnostic::error(format!(
                    "`socket_mode` of relay `{name}` needs a unix:// endpoint"
                ))
                .with_span(m.span.clone())
                .with_label("only a Unix socket has a file and permission bits")
                .with_help(format!("remove `socket_mode` from `[relays.{name}]`")),
            );
            return policy::SOCKET_MODE;
        }
        match u32::try_from(m.value) {
            Ok(v) if v <= 0o777 && v & 0o600 == 0o600 => v,
            _ => {
                let label = if (0..=0o777).contains(&m.value) {
                    "the relay's own user needs read and write (0o600)".to_owned()
                } else {
                    "not permission bits (0o000 to 0o777)".to_owned()
                };
                self.ctx.push(
                    Diagnostic::error(format!(
                        "`socket_mode` of relay `{name}` is not a usable socket mode"
                    ))
                    .with_span(m.span.clone())
                    .with_label(label)
                    .with_help(format!(
                        "write the mode as an octal integer with owner read and write, e.g. `socket_mode = 0o660` for the relay's group too; the default is `socket_mode = {:#o}`",
                        policy::SOCKET_MODE
                    )),
                );
                policy::SOCKET_MODE
            }
        }
    }

    /// `backlog` bounds the memory `sinkgen relay` spends per subscriber: at least one
    /// frame, at most [`policy::BACKLOG_MAX`]. A NATS relay is the NATS server, which
    /// keeps (or does not keep) messages by its own settings: the key would do nothing.
    fn relay_backlog(&mut self, r: &RawRelay, nats: bool) -> u32 {
        let Some(b) = &r.backlog else {
            return policy::BACKLOG;
        };
        let name = printable(&r.name.value);
        if nats {
            self.ctx.push(
                Diagnostic::error(format!("`backlog` of relay `{name}` has no effect on a nats relay"))
                    .with_span(b.span.clone())
                    .with_label("the NATS server holds the messages, not `sinkgen relay`")
                    .with_help(format!(
                        "remove `backlog` from `[relays.{name}]`: how many messages a NATS subject keeps is the server's setting (a JetStream stream's limits)"
                    )),
            );
            return policy::BACKLOG;
        }
        match u32::try_from(b.value) {
            Ok(n) if (1..=policy::BACKLOG_MAX).contains(&n) => n,
            _ => {
                let label = match b.value {
                    0 => "a backlog of 0 holds no frame for an absent subscriber".to_owned(),
                    v if v < 0 => "negative backlog".to_owned(),
                    _ => format!("above {} frames", policy::BACKLOG_MAX),
                };
                self.ctx.push(
                    Diagnostic::error(format!(
                        "`backlog` of relay `{name}` is outside 1-{}",
                        policy::BACKLOG_MAX
                    ))
                    .with_span(b.span.clone())
                    .with_label(label)
                    .with_help(format!(
                        "set the frames held per absent or slow subscriber, from 1 to {}; the default is `backlog = {}`",
                        policy::BACKLOG_MAX,
                        policy::BACKLOG
                    )),
                );
                policy::BACKLOG
            }
        }
    }

    /// A relay is a place to send to; without an endpoint there is nowhere to connect.
    pub(super) fn relay_without_endpoint(&mut self, r: &RawRelay) {
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
    pub(super) fn endpoint(
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
    pub(super) fn relay_framing(&mut self, r: &RawRelay, nats: bool) -> Option<Framing> {
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
            // A `framing` written but not a framing: reported at the value already.
            (false, _) if r.framing_written && r.framing.is_none() => None,
            (false, Some(_)) => {
                self.domain_without_torq(r);
                None
            }
            (false, None) => self.non_torq_framing(r, nats),
        }
    }

    /// The framing of a relay that is not torq: as written, or the default. A NATS
    /// relay publishes whole messages, so it defaults to the payload alone whatever
    /// the default for socket relays is.
    fn non_torq_framing(&mut self, r: &RawRelay, nats: bool) -> Option<Framing> {
        let kind = match &r.framing {
            Some(f) => f.value,
            None if nats => FramingKind::LengthPrefixed,
            None => policy::RELAY_FRAMING,
        };
        match kind {
            FramingKind::LengthPrefixed => Some(Framing::LengthPrefixed),
            FramingKind::Sinkgen if nats => {
                self.sinkgen_framing_on_nats(r);
                None
            }
            FramingKind::Sinkgen => Some(Framing::Sinkgen),
            // Torq without a domain is handled by the caller.
            FramingKind::Torq => None,
        }
    }

    /// The sinkgen protocol is a stream protocol (sessions, sequences, acknowledgements
    /// on one connection); NATS delivers whole messages and has its own acknowledgements.
    fn sinkgen_framing_on_nats(&mut self, r: &RawRelay) {
        let name = printable(&r.name.value);
        let Some(f) = &r.framing else { return };
        self.ctx.push(
            Diagnostic::error(format!(
                "relay `{name}` is a nats relay and cannot use sinkgen framing"
            ))
            .with_span(f.span.clone())
            .with_label("a stream protocol, not for NATS")
            .with_help(format!(
                "remove `framing` from `[relays.{name}]`: NATS carries whole messages, so each payload is published as one message (write `framing = \"torq\"` to publish whole torq frames)"
            )),
        );
    }

    /// A `domain` on a relay that is not torq is never sent: the user meant torq or nothing.
    pub(super) fn domain_without_torq(&mut self, r: &RawRelay) {
        let name = printable(&r.name.value);
        let Some(d) = &r.domain else { return };
        let help = match &r.framing {
            Some(f) => format!(
                "write `framing = \"torq\"` instead of `\"{}\"` in `[relays.{name}]`, or remove `domain`",
                f.value.name()
            ),
            None => format!("add `framing = \"torq\"` to `[relays.{name}]`, or remove `domain`"),
        };
        self.ctx.push(
            Diagnostic::error(format!(
                "`domain` of relay `{name}` has no effect without torq framing"
            ))
            .with_span(d.span.clone())
            .with_label("only torq frames carry a domain")
            .with_help(help),
        );
    }

    /// `message` is emitted as a type path: anything else would not compile, or inject code.
    /// `owner` is "relay `x`" or "service `x`".
    pub(super) fn message_type_path(&mut self, owner: &str, m: &Sp<String>) -> Option<String> {
        match message::check_type_path(&m.value) {
            Ok(()) => Some(m.value.clone()),
            Err(problem) => {
                let span = self.inner_span(m, Some(problem.at.clone()));
                self.ctx.push(
                    Diagnostic::error(format!("`message` of {owner} is not a Rust type path"))
                        .with_span(span)
                        .with_label(problem.label)
                        .with_help(problem.help),
                );
                None
            }
        }
    }

    /// Two relays with one domain byte are indistinguishable to a torq consumer.
    pub(super) fn duplicate_domains(&mut self, relays: &[RelayInfo]) {
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
    pub(super) fn relays_share_endpoint(&mut self, relays: &mut [RelayInfo]) {
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
}
