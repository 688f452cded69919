//! Durations as services.toml writes them: an integer and a unit (`ns`, `us`, `ms`, `s`, `m`).

use super::*;

pub(super) fn expect_duration(
    ctx: &mut Ctx,
    key: &str,
    v: &Spanned<DeValue<'_>>,
    place: Place<'_>,
) -> Option<Sp<Duration>> {
    match v.get_ref() {
        DeValue::String(s) => match parse_duration(s) {
            Ok(d) => Some(Sp::new(d, v.span())),
            Err(problem) => {
                bad_duration(ctx, key, v.span(), s, problem, place);
                None
            }
        },
        DeValue::Integer(i) => {
            ctx.push(
                Diagnostic::error(format!("`{key}` of {place} needs a unit"))
                    .with_span(v.span())
                    .with_label("a number without a unit")
                    .with_help(format!(
                        "write the duration as a string with a unit (`ns`, `us`, `ms`, `s` or `m`), e.g. `{key} = \"{}ms\"`",
                        i.as_str()
                    )),
            );
            None
        }
        other => {
            wrong_type(ctx, key, v.span(), other, "a duration string", place);
            None
        }
    }
}

/// Why a duration string does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurationProblem {
    NoNumber,
    NoUnit,
    UnknownUnit,
    Fraction,
    TooLarge,
}

/// Parses `<integer><unit>`, unit one of `ns`, `us`, `ms`, `s`, `m`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, DurationProblem> {
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    if digits.is_empty() {
        return Err(DurationProblem::NoNumber);
    }
    if unit.starts_with('.') || unit.starts_with(',') {
        return Err(DurationProblem::Fraction);
    }
    let n: u64 = digits.parse().map_err(|_| DurationProblem::TooLarge)?;
    let duration = match unit {
        "" => return Err(DurationProblem::NoUnit),
        "ns" => Some(Duration::from_nanos(n)),
        "us" => n.checked_mul(1_000).map(Duration::from_nanos),
        "ms" => n.checked_mul(1_000_000).map(Duration::from_nanos),
        "s" => n.checked_mul(1_000_000_000).map(Duration::from_nanos),
        "m" => n
            .checked_mul(60)
            .and_then(|s| s.checked_mul(1_000_000_000))
            .map(Duration::from_nanos),
        _ => return Err(DurationProblem::UnknownUnit),
    };
    duration.ok_or(DurationProblem::TooLarge)
}

/// Bad durations: a wrong unit or a fraction would otherwise be a silent misconfiguration.
pub(super) fn bad_duration(
    ctx: &mut Ctx,
    key: &str,
    span: Span,
    text: &str,
    problem: DurationProblem,
    place: Place<'_>,
) {
    let shown = printable(text);
    let (label, help) = match problem {
        DurationProblem::NoNumber => (
            "expected a whole number and a unit".to_owned(),
            format!("write e.g. `{key} = {}`", example(key)),
        ),
        DurationProblem::NoUnit => (
            "missing unit".to_owned(),
            format!("add a unit (`ns`, `us`, `ms`, `s` or `m`), e.g. `{key} = \"{shown}ms\"`"),
        ),
        DurationProblem::UnknownUnit => {
            let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
            let unit = text[digits.len()..].trim();
            let suggestion = match unit {
                "µs" | "μs" | "micros" | "usec" => Some("us"),
                "sec" | "secs" | "second" | "seconds" => Some("s"),
                "min" | "mins" | "minute" | "minutes" => Some("m"),
                "msec" | "millis" | "milliseconds" => Some("ms"),
                "nanos" | "nsec" | "nanoseconds" => Some("ns"),
                "h" | "hour" | "hours" => None,
                _ => None,
            };
            let help = match (suggestion, unit) {
                (Some(u), _) => format!("write `{key} = \"{digits}{u}\"`"),
                (None, "h" | "hour" | "hours") => {
                    "hours are not a unit here; write minutes, e.g. `\"60m\"`".to_owned()
                }
                (None, _) if text.contains(' ') => format!(
                    "write the number and the unit without a space, e.g. `{key} = {}`",
                    example(key)
                ),
                (None, _) => "the units are `ns`, `us`, `ms`, `s` and `m`".to_owned(),
            };
            (format!("unknown unit `{}`", printable(unit)), help)
        }
        DurationProblem::Fraction => (
            "fractions are not supported".to_owned(),
            "use a smaller unit, e.g. `\"1500ms\"` instead of `\"1.5s\"`".to_owned(),
        ),
        DurationProblem::TooLarge => (
            "too large".to_owned(),
            "durations must fit in 2^64 nanoseconds (about 584 years)".to_owned(),
        ),
    };
    ctx.push(
        Diagnostic::error(format!("invalid duration `{shown}` for `{key}` of {place}"))
            .with_span(span)
            .with_label(label)
            .with_help(help),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("3us"), Ok(Duration::from_micros(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("10"), Err(DurationProblem::NoUnit));
        assert_eq!(parse_duration("ms"), Err(DurationProblem::NoNumber));
        assert_eq!(parse_duration("1.5s"), Err(DurationProblem::Fraction));
        assert_eq!(parse_duration("5h"), Err(DurationProblem::UnknownUnit));
        assert_eq!(parse_duration("5 s"), Err(DurationProblem::UnknownUnit));
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationProblem::TooLarge)
        );
        assert_eq!(
            parse_duration("18446744073709551615m"),
            Err(DurationProblem::TooLarge)
        );
        assert_eq!(parse_duration("-1s"), Err(DurationProblem::NoNumber));
    }
}
