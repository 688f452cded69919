//! Keys whose value is a secret (`tls` keys and certificates, NATS credentials): the
//! file names where the secret lives, `{ env = "VAR" }` or `{ file = "path" }`, and
//! never holds it.

use toml::Spanned;
use toml::de::DeValue;

use sinkgen_config::secret::{SecretSource, check_env_name};

use super::values::article;
use super::{Place, Sp};
use crate::diagnostic::{Ctx, Diagnostic};
use crate::text::printable;

/// The help line shared by every mistake in a secret's value.
fn how(key: &str) -> String {
    format!(
        "name where the secret lives: `{key} = {{ env = \"VARIABLE\" }}` (its value is the secret) or `{key} = {{ file = \"path/to/file\" }}` (read at run time)"
    )
}

/// The value of a secret key: an inline table with exactly one of `env` and `file`.
///
/// A plain string is refused with its own message: the file is checked into version
/// control, and a secret written there is a secret leaked.
pub(crate) fn expect_secret(
    ctx: &mut Ctx,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    place: Place<'_>,
) -> Option<Sp<SecretSource>> {
    let table = match v.get_ref() {
        DeValue::Table(t) => t,
        DeValue::String(_) => {
            ctx.push(
                Diagnostic::error(format!(
                    "`{key}` of {place} is written inline; secrets are never written in services.toml"
                ))
                .with_span(v.span())
                .with_label("a secret, or a path, written as a plain string")
                .with_help(how(key)),
            );
            return None;
        }
        other => {
            ctx.push(
                Diagnostic::error(format!(
                    "`{key}` of {place} must be a table naming a variable or a file"
                ))
                .with_span(v.span())
                .with_label(format!("found {}", article(other.type_str())))
                .with_help(how(key)),
            );
            return None;
        }
    };
    let mut found: Option<Sp<SecretSource>> = None;
    let mut first_key = None;
    let mut ok = true;
    for (k, value) in table.iter() {
        let name = k.get_ref().as_ref();
        let kind = match name {
            "env" => SecretSource::Env,
            "file" => SecretSource::File,
            other => {
                ok = false;
                ctx.push(
                    Diagnostic::error(format!(
                        "unknown key `{}` in `{key}` of {place}",
                        printable(other)
                    ))
                    .with_span(k.span())
                    .with_label("not `env` or `file`")
                    .with_help(how(key)),
                );
                continue;
            }
        };
        let DeValue::String(s) = value.get_ref() else {
            ok = false;
            ctx.push(
                Diagnostic::error(format!("`{name}` in `{key}` of {place} must be a string"))
                    .with_span(value.span())
                    .with_label(format!("found {}", article(value.get_ref().type_str())))
                    .with_help(how(key)),
            );
            continue;
        };
        let problem = match name {
            "env" => check_env_name(s).err(),
            _ if s.trim().is_empty() => Some("the path is empty"),
            _ => None,
        };
        if let Some(problem) = problem {
            ok = false;
            ctx.push(
                Diagnostic::error(format!("`{name}` in `{key}` of {place} is not usable"))
                    .with_span(value.span())
                    .with_label(problem)
                    .with_help(how(key)),
            );
            continue;
        }
        if let Some(first) = &first_key {
            ok = false;
            ctx.push(
                Diagnostic::error(format!(
                    "`{key}` of {place} names both a variable and a file"
                ))
                .with_span(k.span())
                .with_label("second source")
                .with_related(Clone::clone(first), "first source")
                .with_help("keep one of `env` and `file`"),
            );
            continue;
        }
        first_key = Some(k.span());
        found = Some(Sp::new(kind(s.to_string().into()), v.span()));
    }
    if found.is_none() && ok {
        ctx.push(
            Diagnostic::error(format!("`{key}` of {place} names no variable and no file"))
                .with_span(v.span())
                .with_label("empty table")
                .with_help(how(key)),
        );
    }
    found.filter(|_| ok)
}
