//! `tls` tables of relays and services: how a `tcp://`, `nats://` or `wss://` endpoint
//! is secured. Every certificate and key is a secret (`{ env = "VAR" }` or
//! `{ file = "path" }`); `server_name` is a plain name.

use toml::Spanned;
use toml::de::DeValue;

use sinkgen_config::secret::SecretSource;

use super::secret::expect_secret;
use super::values::{expect_str, expect_table, reject_unknown_keys};
use super::{Place, Sp, Span};
use crate::diagnostic::{Ctx, Diagnostic};

/// The keys of a `tls` table.
pub(super) const TLS_KEYS: &[&str] = &[
    "ca",
    "server_name",
    "cert",
    "key",
    "client_cert",
    "client_key",
];

/// A `tls` table as written. Secrets keep the span of their value (for the line the
/// run-time error names).
#[derive(Debug, Default)]
pub(crate) struct RawTls {
    /// The `tls` key.
    pub span: Span,
    pub ca: Option<Sp<SecretSource>>,
    pub server_name: Option<Sp<String>>,
    pub cert: Option<Sp<SecretSource>>,
    pub key: Option<Sp<SecretSource>>,
    pub client_cert: Option<Sp<SecretSource>>,
    pub client_key: Option<Sp<SecretSource>>,
}

/// The `tls` key of a relay or service table, if written and well formed.
pub(super) fn shape_tls(
    ctx: &mut Ctx,
    key: &Spanned<DeValue<'_>>,
    place: Place<'_>,
) -> Option<RawTls> {
    let t = expect_table(ctx, "tls", key, place)?;
    let inner = Place::Within("tls", &place);
    reject_unknown_keys(ctx, t, TLS_KEYS, inner);
    let secret = |ctx: &mut Ctx, k: &str| t.get(k).and_then(|v| expect_secret(ctx, k, v, inner));
    let tls = RawTls {
        span: key.span(),
        ca: secret(ctx, "ca"),
        server_name: t
            .get("server_name")
            .and_then(|v| expect_str(ctx, "server_name", v, inner)),
        cert: secret(ctx, "cert"),
        key: secret(ctx, "key"),
        client_cert: secret(ctx, "client_cert"),
        client_key: secret(ctx, "client_key"),
    };
    // Both pairs are checked, so both mistakes are reported in one build.
    let server_ok = both_or_neither(ctx, t, "cert", "key", inner);
    let client_ok = both_or_neither(ctx, t, "client_cert", "client_key", inner);
    let halves_ok = server_ok && client_ok;
    if let Some(name) = &tls.server_name
        && name.value.trim().is_empty()
    {
        ctx.push(
            Diagnostic::error(format!("`server_name` of {inner} is empty"))
                .with_span(name.span.clone())
                .with_label("no name to check the certificate against")
                .with_help("remove `server_name` (the endpoint's host is checked), or name the host the certificate is for"),
        );
    }
    halves_ok.then_some(tls)
}

/// A certificate without its key (or a key without its certificate) cannot be used:
/// one is written, the other is not. Checked on what is written, well formed or not,
/// so a mistake in one value is not reported twice.
fn both_or_neither(
    ctx: &mut Ctx,
    t: &toml::de::DeTable<'_>,
    cert: &str,
    key: &str,
    place: Place<'_>,
) -> bool {
    let (has_cert, has_key) = (t.get(cert), t.get(key));
    let (written, missing) = match (has_cert, has_key) {
        (Some(_), None) => ((cert, has_cert), key),
        (None, Some(_)) => ((key, has_key), cert),
        _ => return true,
    };
    let (name, value) = written;
    let span = value.map(Spanned::span).unwrap_or_default();
    let what = if cert == "cert" {
        "the certificate chain a server presents"
    } else {
        "the certificate sinks and subscriptions present"
    };
    ctx.push(
        Diagnostic::error(format!("`{name}` of {place} is written without `{missing}`"))
            .with_span(span)
            .with_label(format!("half of {what}"))
            .with_help(format!(
                "add `{missing} = {{ file = \"path/to/{}.pem\" }}` next to `{name}`, or remove `{name}`",
                missing
            )),
    );
    false
}
