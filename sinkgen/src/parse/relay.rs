//! `[relays.<name>]` tables: endpoint, framing, domain, message type and backlog.

use toml::de::DeTable;

use super::values::{expect_bool, expect_int, expect_str, reject_unknown_keys};
use super::{CodecKind, FramingKind, Place, RELAY_KEYS, RawRelay, Sp};
use crate::diagnostic::{Ctx, Diagnostic};
use sinkgen_config::policy;

use crate::text::{did_you_mean, printable};

pub(super) fn shape_relay(ctx: &mut Ctx, t: &DeTable<'_>, name: Sp<String>) -> RawRelay {
    let place = Place::Relay(&name.value);
    let meant = reject_unknown_keys(ctx, t, RELAY_KEYS, place);
    let framing = t.get("framing").and_then(|v| {
        let s = expect_str(ctx, "framing", v, place)?;
        match FramingKind::from_name(&s.value) {
            Some(kind) => Some(Sp::new(kind, s.span)),
            None => {
                unknown_framing(ctx, &s, &FramingKind::ALL, policy::RELAY_FRAMING);
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
        codec: shape_codec(ctx, t, place),
        backlog: t
            .get("backlog")
            .and_then(|v| expect_int(ctx, "backlog", v, place)),
        socket_mode: t
            .get("socket_mode")
            .and_then(|v| expect_int(ctx, "socket_mode", v, place)),
        durable: t
            .get("durable")
            .and_then(|v| expect_bool(ctx, "durable", v, place)),
        duplicate_window: t
            .get("duplicate_window")
            .and_then(|v| super::duration::expect_duration(ctx, "duplicate_window", v, place)),
        storage: t
            .get("storage")
            .and_then(|v| expect_str(ctx, "storage", v, place)),
        credentials: super::credentials::shape_credentials(ctx, t, place),
        tls: t
            .get("tls")
            .and_then(|v| super::tls::shape_tls(ctx, v, place)),
        name,
    }
}

/// The `codec` key of a relay or service table: a codec name, or an error.
pub(super) fn shape_codec(
    ctx: &mut Ctx,
    t: &DeTable<'_>,
    place: Place<'_>,
) -> Option<Sp<CodecKind>> {
    let s = expect_str(ctx, "codec", t.get("codec")?, place)?;
    if let Some(kind) = CodecKind::from_name(&s.value) {
        return Some(Sp::new(kind, s.span));
    }
    // An unknown codec would pick no encoding at all.
    let help = match did_you_mean(&s.value, CodecKind::ALL.iter().map(|c| c.name())) {
        Some(c) => format!("did you mean `\"{c}\"`?"),
        None => format!(
            "use `\"raw\"` (the type implements `Encode` itself), `\"postcard\"` (serde types), `\"prost\"` (protobuf messages) or `\"zerocopy\"` (plain structs as their bytes); `\"{}\"` is the default",
            policy::CODEC.name()
        ),
    };
    ctx.push(
        Diagnostic::error(format!("unknown `codec` `{}`", printable(&s.value)))
            .with_span(s.span.clone())
            .with_label("not a codec")
            .with_help(help),
    );
    None
}

/// `framing` has a few values; anything else would silently pick a wire format.
/// `allowed` are the values this table takes; `default` is marked as such.
pub(super) fn unknown_framing(
    ctx: &mut Ctx,
    s: &Sp<String>,
    allowed: &[FramingKind],
    default: FramingKind,
) {
    let help = match did_you_mean(&s.value, allowed.iter().map(|f| f.name())) {
        Some(s) => format!("did you mean `\"{s}\"`?"),
        None => {
            let quoted: Vec<String> = allowed
                .iter()
                .map(|&f| {
                    let mark = if f == default { " (the default)" } else { "" };
                    format!("`\"{}\"`{mark}", f.name())
                })
                .collect();
            match quoted.split_last() {
                Some((last, init)) if !init.is_empty() => {
                    format!("use {} or {last}", init.join(", "))
                }
                _ => format!("use {}", quoted.concat()),
            }
        }
    };
    ctx.push(
        Diagnostic::error(format!("unknown `framing` `{}`", printable(&s.value)))
            .with_span(s.span.clone())
            .with_label("not a framing")
            .with_help(help),
    );
}
