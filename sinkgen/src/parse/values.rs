//! Check 2 for single values: unknown keys, wrong types, the typed readers `shape` uses.

use super::*;

/// Unknown keys are errors, not ignored: a typo must never silently fall back to a default.
/// Returns the known keys that the unknown ones look like typos of, so that checks for a
/// missing key do not report the same mistake a second time.
pub(super) fn reject_unknown_keys(
    ctx: &mut Ctx,
    t: &DeTable<'_>,
    allowed: &[&'static str],
    place: Place<'_>,
) -> Vec<&'static str> {
    let mut meant = Vec::new();
    for (key, _) in t.iter() {
        let k = key.get_ref().as_ref();
        if allowed.contains(&k) {
            continue;
        }
        let suggestion = did_you_mean(k, allowed.iter().copied());
        let help = match suggestion {
            Some(s) => {
                meant.push(s);
                format!("did you mean `{s}`?")
            }
            None => format!("the keys of {place} are {}", list_of(allowed)),
        };
        let message = match place {
            Place::Top => format!("unknown top-level key `{}`", printable(k)),
            _ => format!("unknown key `{}` in {place}", printable(k)),
        };
        ctx.push(
            Diagnostic::error(message)
                .with_span(key.span())
                .with_label("unknown key")
                .with_help(help),
        );
    }
    meant
}

pub(super) fn article(type_str: &str) -> String {
    match type_str {
        "integer" => "an integer".to_owned(),
        "array" => "a list".to_owned(),
        other => format!("a {other}"),
    }
}

/// Wrong value types: each key has one type, and a wrong one is a mistake to show, not coerce.
pub(super) fn wrong_type(
    ctx: &mut Ctx,
    key: &str,
    span: Span,
    found: &DeValue<'_>,
    expected: &str,
    place: Place<'_>,
) {
    ctx.push(
        Diagnostic::error(match place {
            Place::Top => format!("`{key}` must be {expected}"),
            _ => format!("`{key}` of {place} must be {expected}"),
        })
        .with_span(span)
        .with_label(format!("found {}", article(found.type_str())))
        .with_help(match key {
            "relays" | "services" => {
                format!("write each entry as a table, e.g. `[{key}.market_data]`")
            }
            _ => format!("write it as `{key} = {}`", example(key)),
        }),
    );
}

pub(super) fn expect_table<'a, 'i>(
    ctx: &mut Ctx,
    key: &str,
    v: &'a Spanned<DeValue<'i>>,
    place: Place<'_>,
) -> Option<&'a DeTable<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        other => {
            wrong_type(ctx, key, v.span(), other, "a table", place);
            None
        }
    }
}

/// Every relay and service is a table of keys; anything else cannot describe one.
pub(super) fn expect_entry_table<'a, 'i>(
    ctx: &mut Ctx,
    v: &'a Spanned<DeValue<'i>>,
    place: &Place<'_>,
) -> Option<&'a DeTable<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        other => {
            let (header, what) = match place {
                Place::Relay(n) => (format!("[relays.{}]", printable(n)), "endpoint = ..."),
                Place::Service(n) => (format!("[services.{}]", printable(n)), "listen = ..."),
                _ => (String::new(), ""),
            };
            ctx.push(
                Diagnostic::error(format!("{place} must be a table"))
                    .with_span(v.span())
                    .with_label(format!("found {}", article(other.type_str())))
                    .with_help(format!(
                        "write it as a table: `{header}` followed by `{what}`"
                    )),
            );
            None
        }
    }
}

pub(super) fn expect_str(
    ctx: &mut Ctx,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    place: Place<'_>,
) -> Option<Sp<String>> {
    match v.get_ref() {
        DeValue::String(s) => Some(Sp::new(s.to_string(), v.span())),
        other => {
            wrong_type(ctx, key, v.span(), other, "a string", place);
            None
        }
    }
}

pub(super) fn expect_bool(
    ctx: &mut Ctx,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    place: Place<'_>,
) -> Option<Sp<bool>> {
    match v.get_ref() {
        DeValue::Boolean(b) => Some(Sp::new(*b, v.span())),
        other => {
            wrong_type(ctx, key, v.span(), other, "a boolean", place);
            None
        }
    }
}

pub(super) fn expect_int(
    ctx: &mut Ctx,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    place: Place<'_>,
) -> Option<Sp<i128>> {
    match v.get_ref() {
        DeValue::Integer(i) => match i128::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Some(Sp::new(n, v.span())),
            Err(_) => {
                ctx.push(
                    Diagnostic::error(format!("`{key}` of {place} is too large"))
                        .with_span(v.span())
                        .with_label("integer out of range")
                        .with_help(format!("write it as `{key} = {}`", example(key))),
                );
                None
            }
        },
        other => {
            wrong_type(ctx, key, v.span(), other, "an integer", place);
            None
        }
    }
}

/// A list of strings; returns the span of the list and the spanned entries.
pub(super) fn expect_str_list(
    ctx: &mut Ctx,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    place: Place<'_>,
) -> Option<(Span, Vec<Sp<String>>)> {
    let DeValue::Array(items) = v.get_ref() else {
        wrong_type(ctx, key, v.span(), v.get_ref(), "a list of names", place);
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items.iter() {
        match item.get_ref() {
            DeValue::String(s) => out.push(Sp::new(s.to_string(), item.span())),
            other => {
                ok = false;
                ctx.push(
                    Diagnostic::error(format!("`{key}` of {place} must list names as strings"))
                        .with_span(item.span())
                        .with_label(format!("found {}", article(other.type_str())))
                        .with_help(format!("write it as `{key} = {}`", example(key))),
                );
            }
        }
    }
    ok.then_some((v.span(), out))
}
