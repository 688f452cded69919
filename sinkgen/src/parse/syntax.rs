//! Check 1: TOML syntax errors, worded for people who do not write TOML daily.

use super::*;

/// Parses the text, reporting syntax errors (check 1). `None` when the text is not TOML.
pub(crate) fn parse_toml<'i>(ctx: &mut Ctx, text: &'i str) -> Option<Spanned<DeTable<'i>>> {
    let (table, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        return Some(table);
    }
    for e in errors {
        syntax_error(ctx, text, &e);
    }
    None
}

/// TOML syntax errors: the file must be TOML before anything else can be checked.
pub(super) fn syntax_error(ctx: &mut Ctx, text: &str, e: &toml::de::Error) {
    let span = e.span().map_or(text.len()..text.len(), |s| {
        s.start.min(text.len())..s.end.min(text.len())
    });
    let message = e.message().trim_end_matches('.').to_owned();
    let (description, expected) = match message.split_once(", expected ") {
        Some((d, exp)) => (d.to_owned(), Some(format!("expected {exp}"))),
        None => (message.clone(), None),
    };
    let (message, label, help) = if description.starts_with("duplicate key") {
        let key = text
            .get(span.clone())
            .unwrap_or("")
            .trim_matches(['"', '\'']);
        (
            format!("duplicate key `{}`", printable(key)),
            "defined again here".to_owned(),
            "a key may appear once per table; remove or rename one of the definitions".to_owned(),
        )
    } else {
        let help = syntax_help(&description);
        (
            format!("invalid TOML: {description}"),
            expected.unwrap_or_else(|| description.clone()),
            help.to_owned(),
        )
    };
    ctx.push(
        Diagnostic::error(lowercase_first(&message))
            .with_span(span)
            .with_label(label)
            .with_help(help),
    );
}

/// The fix for the TOML syntax errors users make most.
pub(super) fn syntax_help(description: &str) -> &'static str {
    match description {
        d if d.contains("string") && !d.contains("quoted") => {
            "close the string with `\"` on the same line, or use `\"\"\"` for a multi-line string"
        }
        "string values must be quoted" => {
            "put the value in double quotes, e.g. `framing = \"torq\"`"
        }
        "key with no value"
        | "missing assignment between key-value pairs"
        | "missing value for key"
        | "missing value" => "write `key = value`, e.g. `sinks = [\"market_data\"]`",
        d if d.starts_with("unclosed") => "add the closing bracket",
        d if d.contains("comma") => "separate entries with a single `,`",
        "invalid unquoted key" => "keys are letters, digits, `_` and `-`; quote anything else",
        _ => "see https://toml.io for the syntax",
    }
}

pub(super) fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
