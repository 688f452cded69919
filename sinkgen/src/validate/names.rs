//! Check 3: names of relays, services and sinks become Rust identifiers, so they must
//! be lowercase snake_case, not keywords, and must not collide once converted.
//!
//! This is also where hostile names stop: quotes, braces, `::`, look-alike letters and
//! keywords never reach code generation.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::diagnostic::Ctx;
use crate::diagnostic::Diagnostic;
use crate::parse::Sp;
use crate::text::printable;

pub(crate) use sinkgen_config::is_keyword;

/// What a name names, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    Relay,
    Service,
    Sink,
}

impl NameKind {
    fn noun(self) -> &'static str {
        match self {
            NameKind::Relay => "relay",
            NameKind::Service => "service",
            NameKind::Sink => "sink",
        }
    }
}

/// Whether `s` is a name sinkgen accepts: `[a-z][a-z0-9_]*`, not a keyword.
pub(crate) fn is_valid_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
        && !is_keyword(s)
}

/// Checks every name of one scope (all relays, all services, or the sinks of one
/// service) and returns the set of names that are valid.
pub(crate) fn check_scope(ctx: &mut Ctx, kind: NameKind, names: &[&Sp<String>]) -> Vec<bool> {
    let mut reported = vec![false; names.len()];
    names_collide(ctx, kind, names, &mut reported);
    let mut valid = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let ok = is_valid_name(&name.value);
        if !ok && !reported[i] {
            bad_name(ctx, kind, name);
        }
        let reserved = ok && kind == NameKind::Sink && reserved_sink_name(ctx, name);
        valid.push(ok && !reserved);
    }
    valid
}

/// A sink named like a generated item would give the sinks type two items of one name.
fn reserved_sink_name(ctx: &mut Ctx, name: &Sp<String>) -> bool {
    if !sinkgen_config::RESERVED_SINK_NAMES.contains(&name.value.as_str()) {
        return false;
    }
    ctx.push(
        Diagnostic::error(format!("sink name `{}` is reserved", name.value))
            .with_span(name.span.clone())
            .with_label("the generated sinks type already has an item of this name")
            .with_help(format!("rename the sink, e.g. `{}_sink`", name.value)),
    );
    true
}

/// Two names that become the same identifier would generate two items with one name.
fn names_collide(ctx: &mut Ctx, kind: NameKind, names: &[&Sp<String>], reported: &mut [bool]) {
    let mut by_ident: HashMap<Cow<'_, str>, usize> = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        // A valid name is its own identifier; only the others need converting.
        let ident = if is_valid_name(&name.value) {
            Cow::Borrowed(name.value.as_str())
        } else {
            match snake_case(&name.value) {
                Some(ident) => Cow::Owned(ident),
                None => continue,
            }
        };
        match by_ident.get(&ident) {
            None => {
                by_ident.insert(ident, i);
            }
            Some(&first) => {
                let noun = kind.noun();
                let (a, b) = (printable(&names[first].value), printable(&name.value));
                let d = if names[first].value == name.value {
                    Diagnostic::error(format!("{noun} `{b}` is declared twice"))
                        .with_span(name.span.clone())
                        .with_label("declared again")
                        .with_related(names[first].span.clone(), "first declared here")
                        .with_help("remove one of them")
                } else {
                    Diagnostic::error(format!(
                        "{noun} names `{a}` and `{b}` collide: both become the identifier `{ident}`"
                    ))
                    .with_span(name.span.clone())
                    .with_label(format!("becomes `{ident}`"))
                    .with_related(names[first].span.clone(), format!("`{a}` is written here"))
                    .with_help(format!(
                        "rename one of them; {noun} names are lowercase snake_case identifiers and must differ"
                    ))
                };
                ctx.push(d);
                reported[first] = true;
                reported[i] = true;
            }
        }
    }
}

/// A name that is not a lowercase snake_case identifier cannot become an accessor.
fn bad_name(ctx: &mut Ctx, kind: NameKind, name: &Sp<String>) {
    let noun = kind.noun();
    let shown = printable(&name.value);
    let s = name.value.as_str();
    let (message, label, help) = if s.is_empty() {
        (
            format!("{noun} name is empty"),
            "empty name".to_owned(),
            format!("give the {noun} a lowercase snake_case name like `market_data`"),
        )
    } else if is_keyword(s) {
        (
            format!("{noun} name `{shown}` is a Rust keyword"),
            "keyword".to_owned(),
            format!("rename it, e.g. `{}_`", s.to_lowercase()),
        )
    } else if let Some(c) = s.chars().find(|c| !c.is_ascii()) {
        let help = match lookalike_fix(s) {
            Some(fixed) if is_valid_name(&fixed) => format!(
                "names are plain ASCII; did you mean `{fixed}`? (`{c}` only looks like `{}`)",
                lookalike(c).unwrap_or(c)
            ),
            _ => "names are plain ASCII lowercase snake_case, like `market_data`".to_owned(),
        };
        (
            format!(
                "{noun} name `{shown}` contains the non-ASCII character `{}` (U+{:04X})",
                c.escape_default(),
                u32::from(c)
            ),
            "not an ASCII identifier".to_owned(),
            help,
        )
    } else if let Some(fixed) = snake_case(s).filter(|f| is_valid_name(f)) {
        (
            format!("{noun} name `{shown}` is not lowercase snake_case"),
            "not snake_case".to_owned(),
            format!("rename it to `{fixed}`"),
        )
    } else if s.as_bytes()[0].is_ascii_digit() {
        (
            format!("{noun} name `{shown}` starts with a digit"),
            "not an identifier".to_owned(),
            format!("start the name with a lowercase letter, e.g. `{noun}_{shown}`"),
        )
    } else if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ' | '.')))
    {
        (
            format!("{noun} name `{shown}` contains `{c}`"),
            "not an identifier".to_owned(),
            "names are lowercase snake_case identifiers: letters `a`-`z`, digits and `_`"
                .to_owned(),
        )
    } else {
        (
            format!("{noun} name `{shown}` is not a lowercase snake_case identifier"),
            "not an identifier".to_owned(),
            "names start with a letter `a`-`z`, followed by letters, digits and `_`".to_owned(),
        )
    };
    ctx.push(
        Diagnostic::error(message)
            .with_span(name.span.clone())
            .with_label(label)
            .with_help(help),
    );
}

/// The lowercase snake_case form of a name made of ASCII letters, digits and the
/// separators `_`, `-`, space and `.`; `None` for anything else.
pub(crate) fn snake_case(s: &str) -> Option<String> {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ' | '.'))
    {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 4);
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if matches!(c, '-' | ' ' | '.' | '_') {
            out.push('_');
        } else if c.is_ascii_uppercase() {
            if prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit()) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
        prev = Some(c);
    }
    Some(out)
}

/// The ASCII letter a look-alike character imitates.
fn lookalike(c: char) -> Option<char> {
    let ascii = match c {
        'а' | 'α' | 'ɑ' => 'a',
        'Ь' | 'ь' => 'b',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ε' => 'e',
        'ɡ' => 'g',
        'һ' => 'h',
        'і' | 'ι' | 'ı' => 'i',
        'ј' => 'j',
        'κ' | 'к' => 'k',
        'ⅼ' | 'ӏ' => 'l',
        'ո' => 'n',
        'о' | 'ο' | 'σ' => 'o',
        'р' | 'ρ' => 'p',
        'ԛ' => 'q',
        'ѕ' => 's',
        'τ' | 'т' => 't',
        'υ' | 'μ' | 'µ' => 'u',
        'ν' | 'ѵ' => 'v',
        'ԝ' | 'ω' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' => 'y',
        'ᴢ' => 'z',
        '＿' => '_',
        '\u{FF41}'..='\u{FF5A}' => char::from_u32(u32::from(c) - 0xFF41 + u32::from('a'))?,
        '\u{FF10}'..='\u{FF19}' => char::from_u32(u32::from(c) - 0xFF10 + u32::from('0'))?,
        _ => return None,
    };
    Some(ascii)
}

/// The name with every look-alike replaced by the ASCII letter it imitates.
fn lookalike_fix(s: &str) -> Option<String> {
    s.chars()
        .map(|c| if c.is_ascii() { Some(c) } else { lookalike(c) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for ok in ["a", "market_data", "type_", "x1", "a__b"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in [
            "", "_", "_a", "1a", "Market", "a-b", "type", "self", "a::b", "a\"b", "a{b}", "mаrket",
            "a b", "Self",
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn snake_case_conversion() {
        assert_eq!(snake_case("MarketData").as_deref(), Some("market_data"));
        assert_eq!(snake_case("market-data").as_deref(), Some("market_data"));
        assert_eq!(snake_case("HTTPServer").as_deref(), Some("httpserver"));
        assert_eq!(snake_case("a::b"), None);
        assert_eq!(lookalike_fix("mаrket").as_deref(), Some("market"));
    }
}
