//! `codec` on relays and services (SPEC section 13): how a `message` type goes on the
//! wire. A codec says how to encode a declared type; without one there is nothing to
//! encode but bytes.

use sinkgen_config::policy;

use super::Validator;
use crate::diagnostic::Diagnostic;
use crate::model::Codec;
use crate::parse::{CodecKind, Sp};
use crate::text::printable;

impl Validator<'_, '_> {
    /// The codec of a relay or service (`owner` is "relay" or "service", `table` its
    /// header): as written, or the default. A codec other than `raw` without `message`
    /// would encode bytes with a serde or protobuf encoder, which is not what was meant.
    pub(super) fn check_codec(
        &mut self,
        owner: &str,
        name: &str,
        table: &str,
        codec: Option<&Sp<CodecKind>>,
        message_written: bool,
    ) -> Codec {
        let Some(c) = codec else {
            return policy::CODEC;
        };
        if c.value != CodecKind::Raw && !message_written {
            let name = printable(name);
            self.ctx.push(
                Diagnostic::error(format!(
                    "`codec` of {owner} `{name}` needs a `message` type"
                ))
                .with_span(c.span.clone())
                .with_label(format!("the {} codec encodes a declared type", c.value.name()))
                .with_help(format!(
                    "add `message = \"protocol::MarketEvent\"` (your type) to `[{table}.{name}]`, or remove `codec`: without `message` the sinks send bytes as they are"
                )),
            );
            return Codec::Raw;
        }
        c.value
    }
}
