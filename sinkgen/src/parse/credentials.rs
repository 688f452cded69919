//! The `credentials` table of a relay: what a `nats://` relay's sinks and
//! subscriptions present to the server. Exactly one kind: `token`, `user` with
//! `password`, `nkey` or `creds`; every secret is named (`{ env = "VAR" }` or
//! `{ file = "path" }`), never written inline.

use toml::de::{DeTable, DeValue};

use sinkgen_config::secret::SecretSource;

use super::secret::expect_secret;
use super::values::{expect_str, expect_table, reject_unknown_keys};
use super::{Place, Sp, Span};
use crate::diagnostic::{Ctx, Diagnostic};

/// The keys of a `credentials` table.
pub(crate) const CREDENTIALS_KEYS: &[&str] = &["token", "user", "password", "nkey", "creds"];

/// The kinds, as the help lines name them.
const KINDS: &str =
    "`token`, `user` with `password`, `nkey` (an nkey seed) or `creds` (a `.creds` file)";

/// A secret as the file names it: where it lives, spanned at its value.
pub(crate) type RawSecret = Sp<SecretSource>;

/// A relay's `credentials`, well formed (one kind, every secret named).
#[derive(Debug)]
pub(crate) struct RawCredentials {
    /// The `credentials` table, for errors about the relay as a whole.
    pub span: Span,
    pub kind: RawCredentialsKind,
}

#[derive(Debug)]
pub(crate) enum RawCredentialsKind {
    Token(RawSecret),
    UserPassword { user: String, password: RawSecret },
    Nkey(RawSecret),
    Creds(RawSecret),
}

/// The `credentials` key of a relay table, if written: `None` when absent or wrong
/// (every mistake is reported here).
pub(super) fn shape_credentials(
    ctx: &mut Ctx,
    t: &DeTable<'_>,
    place: Place<'_>,
) -> Option<RawCredentials> {
    let v = t.get("credentials")?;
    let table = expect_table(ctx, "credentials", v, place)?;
    let inner = Place::Within("credentials", &place);
    reject_unknown_keys(ctx, table, CREDENTIALS_KEYS, inner);
    let mut ok = table
        .iter()
        .all(|(k, _)| CREDENTIALS_KEYS.contains(&k.get_ref().as_ref()));
    // The kinds written, by their first key, in the file's order.
    let mut kinds: Vec<(&str, Span)> = Vec::new();
    for (k, _) in table.iter() {
        let key = k.get_ref().as_ref();
        let kind = match key {
            "token" => "token",
            "user" | "password" => "user",
            "nkey" => "nkey",
            "creds" => "creds",
            _ => continue,
        };
        if kinds.iter().any(|(written, _)| *written == kind) {
            continue;
        }
        if let Some((first, first_span)) = kinds.first() {
            ok = false;
            ctx.push(
                Diagnostic::error(format!(
                    "{inner} names two kinds of credentials: `{}` and `{key}`",
                    shown(first)
                ))
                .with_span(k.span())
                .with_label("second kind")
                .with_related(first_span.clone(), "first kind")
                .with_help(format!("keep one of {KINDS}")),
            );
        }
        kinds.push((kind, k.span()));
    }
    let secret = |ctx: &mut Ctx, key: &str| {
        table
            .get(key)
            .and_then(|v| expect_secret(ctx, key, v, inner))
    };
    let kind = match kinds.first().map(|(k, _)| *k) {
        None => {
            if ok {
                ctx.push(
                    Diagnostic::error(format!("{inner} names no credentials"))
                        .with_span(v.span())
                        .with_label("empty table")
                        .with_help(format!(
                            "write one of {KINDS}, e.g. `token = {{ env = \"NATS_TOKEN\" }}`; or remove `credentials`"
                        )),
                );
            }
            return None;
        }
        Some("token") => secret(ctx, "token").map(RawCredentialsKind::Token),
        Some("nkey") => secret(ctx, "nkey").map(RawCredentialsKind::Nkey),
        Some("creds") => secret(ctx, "creds").map(RawCredentialsKind::Creds),
        Some(_) => user_password(ctx, table, inner),
    };
    let kind = kind?;
    ok.then_some(RawCredentials {
        span: v.span(),
        kind,
    })
}

/// How an error names a kind.
fn shown(kind: &str) -> &str {
    if kind == "user" {
        "user`/`password"
    } else {
        kind
    }
}

/// `user = "name"` and `password = <secret>`: both, or an error for the one missing.
fn user_password(
    ctx: &mut Ctx,
    table: &DeTable<'_>,
    inner: Place<'_>,
) -> Option<RawCredentialsKind> {
    let user_value = table.get("user");
    let password_value = table.get("password");
    let user = user_value.and_then(|v| {
        if let DeValue::Table(_) = v.get_ref() {
            ctx.push(
                Diagnostic::error(format!("`user` of {inner} must be the user's name"))
                    .with_span(v.span())
                    .with_label("a user name is not a secret")
                    .with_help(
                        "write the name itself, e.g. `user = \"feed\"`; the password is the secret",
                    ),
            );
            return None;
        }
        let s = expect_str(ctx, "user", v, inner)?;
        if s.value.trim().is_empty() {
            ctx.push(
                Diagnostic::error(format!("`user` of {inner} is empty"))
                    .with_span(s.span)
                    .with_label("no user name")
                    .with_help("write the name the server knows, e.g. `user = \"feed\"`"),
            );
            return None;
        }
        Some(s.value)
    });
    let password = password_value.and_then(|v| expect_secret(ctx, "password", v, inner));
    match (user_value, password_value) {
        (Some(u), None) => {
            ctx.push(
                Diagnostic::error(format!("`user` of {inner} has no `password`"))
                    .with_span(u.span())
                    .with_label("a user without a password")
                    .with_help(
                        "add `password = { env = \"NATS_PASSWORD\" }` (or `{ file = \"path\" }`) next to `user`",
                    ),
            );
            None
        }
        (None, Some(p)) => {
            ctx.push(
                Diagnostic::error(format!("`password` of {inner} has no `user`"))
                    .with_span(p.span())
                    .with_label("a password without a user")
                    .with_help("add the user's name next to it, e.g. `user = \"feed\"`"),
            );
            None
        }
        _ => Some(RawCredentialsKind::UserPassword {
            user: user?,
            password: password?,
        }),
    }
}
