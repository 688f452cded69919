//! `durable`, `duplicate_window` and `storage` of a relay: JetStream settings, for a
//! `nats://` relay only.

use super::Validator;
use crate::diagnostic::Diagnostic;
use crate::model::{Durability, Storage};
use crate::parse::RawRelay;
use crate::text::{did_you_mean, printable};
use sinkgen_config::policy;

impl Validator<'_, '_> {
    /// The durable settings of `r`; `nats` is whether its endpoint is a NATS one
    /// (`None`: the endpoint is broken, already reported).
    pub(super) fn relay_durable(&mut self, r: &RawRelay, nats: Option<bool>) -> Option<Durability> {
        let name = printable(&r.name.value);
        let durable = r.durable.as_ref().filter(|d| d.value);
        let Some(d) = durable else {
            // Settings that a relay without `durable = true` would silently ignore.
            for (key, span) in [
                (
                    "duplicate_window",
                    r.duplicate_window.as_ref().map(|w| w.span.clone()),
                ),
                ("storage", r.storage.as_ref().map(|s| s.span.clone())),
            ] {
                let Some(span) = span else { continue };
                self.ctx.push(
                    Diagnostic::error(format!(
                        "`{key}` of relay `{name}` has no effect without `durable = true`"
                    ))
                    .with_span(span)
                    .with_label("a JetStream setting of a relay that is not durable")
                    .with_help(format!(
                        "add `durable = true` to `[relays.{name}]` (a `nats://` relay), or remove `{key}`"
                    )),
                );
            }
            return None;
        };
        if nats == Some(false) {
            self.ctx.push(
                Diagnostic::error(format!("relay `{name}` is durable but not a nats relay"))
                    .with_span(d.span.clone())
                    .with_label("only a NATS relay can be durable (JetStream keeps its messages)")
                    .with_help(format!(
                        "use `endpoint = \"nats://127.0.0.1:4222/{name}\"` (a NATS server with JetStream, `nats-server -js`), or remove `durable`"
                    )),
            );
        }
        let duplicate_window = match &r.duplicate_window {
            None => policy::DUPLICATE_WINDOW,
            Some(w) if w.value.is_zero() => {
                self.ctx.push(
                    Diagnostic::error(format!("`duplicate_window` of relay `{name}` is zero"))
                        .with_span(w.span.clone())
                        .with_label("a resend after a reconnect would be stored twice")
                        .with_help(format!(
                            "set a window longer than a reconnect takes, e.g. `duplicate_window = \"{}\"` (the default)",
                            sinkgen_config::DurationLiteral(policy::DUPLICATE_WINDOW)
                        )),
                );
                policy::DUPLICATE_WINDOW
            }
            Some(w) => w.value,
        };
        let storage = match r.storage.as_ref().map(|s| (s, s.value.as_str())) {
            None | Some((_, "file")) => Storage::File,
            Some((_, "memory")) => Storage::Memory,
            Some((s, other)) => {
                let help = match did_you_mean(other, ["file", "memory"]) {
                    Some(m) => format!("did you mean `\"{m}\"`?"),
                    None => "use `\"file\"` (the default: the stream survives a server restart) or `\"memory\"`".to_owned(),
                };
                self.ctx.push(
                    Diagnostic::error(format!("unknown `storage` `{}`", printable(other)))
                        .with_span(s.span.clone())
                        .with_label("not a JetStream storage")
                        .with_help(help),
                );
                Storage::File
            }
        };
        Some(Durability {
            duplicate_window,
            storage,
        })
    }
}
