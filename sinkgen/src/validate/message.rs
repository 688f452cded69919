//! Check 10: a relay's `message` is emitted as a Rust type path, so it must be one,
//! and nothing else can ride along into the generated code.

use crate::validate::names::is_keyword;

/// Why a `message` is not a type path, with the byte range inside the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathError {
    pub label: String,
    pub help: String,
    pub at: std::ops::Range<usize>,
}

/// Accepts `Name`, `a::b::Name`, `::a::Name`, `crate::a::Name`, `self::Name`,
/// `super::Name`: segments are ASCII identifiers; no generics, no raw identifiers.
pub(crate) fn check_type_path(s: &str) -> Result<(), PathError> {
    let example = "write a path like `protocol::MarketEvent`";
    if s.is_empty() {
        return Err(PathError {
            label: "empty type path".into(),
            help: example.into(),
            at: 0..0,
        });
    }
    if let Some(i) = s.find(['<', '>']) {
        return Err(PathError {
            label: "generic arguments are not supported".into(),
            help: "declare a type alias in your crate (`pub type Events = Batch<Event>;`) and name it here".into(),
            at: i..s.len(),
        });
    }
    let body = s.strip_prefix("::").unwrap_or(s);
    let base = s.len() - body.len();
    let segments: Vec<&str> = body.split("::").collect();
    let mut pos = base;
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        let at = pos..pos + seg.len();
        pos += seg.len() + 2;
        if seg.is_empty() {
            return Err(PathError {
                label: "empty path segment".into(),
                help: example.into(),
                at: at.start.saturating_sub(2)..at.end.min(s.len()),
            });
        }
        if !is_ident(seg) {
            let label = match seg
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
            {
                Some(c) => format!("`{}` is not allowed in a type path", c.escape_default()),
                None => "not an identifier".to_owned(),
            };
            return Err(PathError {
                label,
                help: example.into(),
                at,
            });
        }
        let path_keyword = matches!(*seg, "crate" | "self" | "super" | "Self");
        let allowed_here = match *seg {
            "crate" => i == 0 && base == 0 && i != last,
            "self" => i == 0 && base == 0 && i != last,
            "super" => i != last && segments[..i].iter().all(|s| matches!(*s, "self" | "super")),
            "Self" => false,
            _ => true,
        };
        if (path_keyword && !allowed_here) || (!path_keyword && is_keyword(seg)) {
            return Err(PathError {
                label: format!("`{seg}` is a keyword"),
                help: example.into(),
                at,
            });
        }
    }
    Ok(())
}

fn is_ident(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && s != "_"
}

#[cfg(test)]
mod tests {
    use super::check_type_path;

    #[test]
    fn type_paths() {
        for ok in [
            "MarketEvent",
            "protocol::MarketEvent",
            "::protocol::MarketEvent",
            "crate::msg::Tick",
            "self::Tick",
            "super::super::Tick",
            "u8",
            "_Private",
        ] {
            assert_eq!(check_type_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Vec<u8>",
            "a::",
            "::",
            "a:::b",
            "a::b c",
            "a-b",
            "a::type",
            "crate",
            "a::crate::B",
            "r#type",
            "1x",
            "x\"); panic!(\"",
            "{ a }",
            "Markеt",
            "_",
            "Self",
        ] {
            assert!(check_type_path(bad).is_err(), "{bad}");
        }
    }
}
