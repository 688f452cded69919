//! The text of generated doc comments: each names the target, the endpoint and the line
//! of the configuration file.
//!
//! Every string that comes from the user (names, endpoints, message types, the file's
//! name) reaches a doc comment only through [`code`], which shows it as an inert code
//! span: control and bidirectional-text characters are written as escapes (a bare CR
//! does not compile in a doc comment, and rustc denies text-direction codepoints), and
//! backticks cannot close the span, so markdown and HTML in the string stay text.

use crate::{CompositeOp, Framing, Leaf, Message, Plan, SinkKind, SinkPlan};

/// `text` as a markdown code span that shows it literally, on one line.
///
/// Characters that would break the comment or hide text are escaped the way Rust
/// writes them in strings (`\r`, `\n`, `\u{202e}`); everything else is kept, inside
/// a span whose backtick fence is longer than any run of backticks in the text.
pub(crate) fn code(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || is_bidi_or_separator(c) {
            escaped.extend(c.escape_debug());
        } else {
            escaped.push(c);
        }
    }
    let mut longest = 0;
    let mut run = 0;
    for c in escaped.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    // A span that starts or ends with a backtick needs a space to tell it from the
    // fence; CommonMark strips one space on each side.
    if escaped.starts_with('`') || escaped.ends_with('`') {
        format!("{fence} {escaped} {fence}")
    } else {
        format!("{fence}{escaped}{fence}")
    }
}

/// Characters that reorder or break displayed text (rustc's `text_direction_codepoint`
/// lints), and the Unicode line and paragraph separators.
fn is_bidi_or_separator(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}'
    )
}

/// One sentence saying where a sink sends, e.g. "relay `signals` at `unix:///..`".
pub(crate) fn target(plan: &Plan, sink: &SinkPlan) -> String {
    match &sink.kind {
        SinkKind::Relay { relay, leaf } => {
            format!(
                "relay {} at {}{}",
                code(relay),
                code(&leaf.endpoint),
                framing(leaf)
            )
        }
        SinkKind::Service { service, leaf } => {
            format!(
                "service {} at {}{}",
                code(service),
                code(&leaf.endpoint),
                framing(leaf)
            )
        }
        SinkKind::Endpoint { leaf } => {
            format!("endpoint {}{}", code(&leaf.endpoint), framing(leaf))
        }
        SinkKind::Composite { op, members } => {
            let op = match op {
                CompositeOp::Broadcast => "broadcast to",
                CompositeOp::RoundRobin => "round robin over",
                CompositeOp::Failover => "failover over",
            };
            let names: Vec<String> = members.iter().map(|&m| code(&plan.sinks[m].name)).collect();
            format!("{op} {}", names.join(", "))
        }
    }
}

fn framing(leaf: &Leaf) -> String {
    match leaf.framing {
        Framing::LengthPrefixed => String::new(),
        Framing::Sinkgen => ", sinkgen framing".to_owned(),
        Framing::Torq { domain, source } => {
            format!(", torq framing (domain {domain}, source {source})")
        }
    }
}

/// "`protocol::MarketEvent`" or "raw bytes, `bytes::Bytes`".
/// A composite's codec is its members'.
pub(crate) fn message(plan: &Plan, sink: &SinkPlan) -> String {
    match &sink.message {
        Message::Bytes => "raw bytes, `bytes::Bytes`".to_owned(),
        Message::Path { text, .. } => match crate::sink_codec(plan, sink).feature() {
            Some(codec) => format!("{}, encoded by the {codec} codec", code(text)),
            None => code(text),
        },
    }
}

/// "`services.toml` line 12".
pub(crate) fn origin(plan: &Plan, line: u32) -> String {
    format!("{} line {line}", code(&plan.file))
}

/// The doc comment of the process-wide accessor of a sink: one line (what the sink
/// is and how it is built is said once, on the type).
pub(crate) fn accessor(plan: &Plan, sink: &SinkPlan) -> String {
    let mut doc = format!(
        "Sink {}: {}; {}. Accepts {}.",
        code(&sink.name),
        target(plan, sink),
        origin(plan, sink.line),
        message(plan, sink),
    );
    if let Some(leaf) = sink.kind.leaf() {
        doc.push_str(&format!(" Endpoint override: {}.", code(&leaf.env)));
    }
    doc
}

/// The doc comment of an instance accessor of a sink.
pub(crate) fn instance_accessor(plan: &Plan, sink: &SinkPlan) -> String {
    format!(
        "Sink {} of this instance: {}; {}.",
        code(&sink.name),
        target(plan, sink),
        origin(plan, sink.line),
    )
}

#[cfg(test)]
mod tests {
    use super::code;

    #[test]
    fn user_strings_become_inert_code_spans() {
        assert_eq!(code("unix:///tmp/a.sock"), "`unix:///tmp/a.sock`");
        // Line breaks and direction controls are written as escapes.
        assert_eq!(
            code("a\rb\nc\u{202e}d\u{2069}"),
            "`a\\rb\\nc\\u{202e}d\\u{2069}`"
        );
        // Markdown and HTML stay inside the span; backticks cannot close it.
        assert_eq!(code("[x](y)<b>"), "`[x](y)<b>`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("``a`"), "``` ``a` ```");
        // Backslashes and quotes are shown as written.
        assert_eq!(code("a\\b\"c"), "`a\\b\"c`");
    }
}
