//! `[services.<name>]` tables: source, listen, message type, framing, subscriptions
//! and sinks.

use sinkgen_config::policy;
use toml::de::{DeTable, DeValue};

use super::relay::{shape_codec, unknown_framing};
use super::values::{expect_int, expect_str, expect_str_list, reject_unknown_keys, wrong_type};
use super::{
    FramingKind, Place, RawPolicy, RawService, RawSink, RawTarget, SERVICE_KEYS, Sp, shape_sink,
};
use crate::diagnostic::Ctx;

pub(super) fn shape_service(ctx: &mut Ctx, t: &DeTable<'_>, name: Sp<String>) -> RawService {
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
        message: t
            .get("message")
            .and_then(|v| expect_str(ctx, "message", v, place)),
        codec: shape_codec(ctx, t, place),
        framing: t.get("framing").and_then(|v| {
            let s = expect_str(ctx, "framing", v, place)?;
            match FramingKind::from_name(&s.value) {
                Some(kind) => Some(Sp::new(kind, s.span)),
                None => {
                    unknown_framing(ctx, &s, &FramingKind::SERVICE, policy::SERVICE_FRAMING);
                    None
                }
            }
        }),
        framing_written: t.contains_key("framing") || meant.contains(&"framing"),
        subscribes,
        sinks,
        tls: t
            .get("tls")
            .and_then(|v| super::tls::shape_tls(ctx, v, place)),
        name,
    }
}
