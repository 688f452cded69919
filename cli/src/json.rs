//! `sinkgen check --message-format json`: diagnostics as JSON lines, for editors and
//! CI annotations.
//!
//! One object per line, in the spirit of `cargo --message-format=json`: each
//! diagnostic is `{"reason": "diagnostic", ...}`, and a last line
//! `{"reason": "check-finished", ...}` says whether the file loads. Positions are
//! 1-based lines and columns (columns in characters), spans are byte offsets into the
//! file; a diagnostic without a place (a missing file) has `null` there.
//!
//! ```json
//! {"reason":"diagnostic","level":"error","message":"sink `market_dta` of service `feed` names no relay or service","file":"services.toml","line":7,"column":10,"end_line":7,"end_column":22,"span":{"start":102,"end":114},"label":"not a relay or a service","help":"did you mean `market_data`?","notes":[],"related":[],"rendered":"error: ..."}
//! {"reason":"check-finished","success":false,"file":"services.toml","errors":1,"warnings":0}
//! ```
//!
//! # Examples
//!
//! ```
//! use std::path::Path;
//!
//! let text = "[services.feed]\nsinks = [\"market_dta\"]\n";
//! let err = sinkgen::load_str(Path::new("services.toml"), text).unwrap_err();
//! let lines = sinkgen_cli::json::lines(&err, false);
//! let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
//! assert_eq!(first["level"], "error");
//! assert_eq!((first["line"].as_u64(), first["column"].as_u64()), (Some(2), Some(10)));
//! ```

use std::ops::Range;

use serde::Serialize;
use sinkgen::{Diagnostic, Diagnostics, Severity};

/// A byte range of the file, end exclusive.
#[derive(Debug, Serialize)]
struct Span {
    start: usize,
    end: usize,
}

impl From<&Range<usize>> for Span {
    fn from(r: &Range<usize>) -> Self {
        Span {
            start: r.start,
            end: r.end,
        }
    }
}

/// A secondary place (the first definition of a duplicate, a cycle member).
#[derive(Debug, Serialize)]
struct Related<'a> {
    line: usize,
    column: usize,
    span: Span,
    label: &'a str,
}

/// One diagnostic line.
#[derive(Debug, Serialize)]
struct Message<'a> {
    reason: &'static str,
    level: &'static str,
    message: &'a str,
    /// `null` when no file was found.
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
    span: Option<Span>,
    /// The text under the caret; `null` when empty.
    label: Option<&'a str>,
    help: Option<&'a str>,
    notes: &'a [String],
    related: Vec<Related<'a>>,
    /// The diagnostic as the human format prints it (no colour).
    rendered: String,
}

/// The last line.
#[derive(Debug, Serialize)]
struct Finished {
    reason: &'static str,
    success: bool,
    file: Option<String>,
    errors: usize,
    warnings: usize,
}

fn file(diagnostics: &Diagnostics) -> Option<String> {
    let path = diagnostics.path();
    (!path.as_os_str().is_empty()).then(|| path.display().to_string())
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        // A severity added later reads as a note until it is named here.
        _ => "note",
    }
}

fn message<'a>(all: &'a Diagnostics, d: &'a Diagnostic) -> Message<'a> {
    let start = all.location(d);
    let end = d.span.as_ref().map(|s| all.line_column(s.end));
    Message {
        reason: "diagnostic",
        level: level(d.severity),
        message: &d.message,
        file: file(all),
        line: start.map(|(l, _)| l),
        column: start.map(|(_, c)| c),
        end_line: end.map(|(l, _)| l),
        end_column: end.map(|(_, c)| c),
        span: d.span.as_ref().map(Span::from),
        label: Some(d.label.as_str()).filter(|l| !l.is_empty()),
        help: d.help.as_deref(),
        notes: &d.notes,
        related: d
            .related
            .iter()
            .map(|(span, label)| {
                let (line, column) = all.line_column(span.start);
                Related {
                    line,
                    column,
                    span: span.into(),
                    label,
                }
            })
            .collect(),
        rendered: all.render_one(d),
    }
}

/// Every diagnostic as one JSON object per line, then the `check-finished` line;
/// `success` says whether the file loaded (warnings allowed).
#[must_use]
pub fn lines(diagnostics: &Diagnostics, success: bool) -> String {
    let mut out = String::new();
    for d in diagnostics {
        push(&mut out, &message(diagnostics, d));
    }
    push(
        &mut out,
        &Finished {
            reason: "check-finished",
            success,
            file: file(diagnostics),
            errors: diagnostics.error_count(),
            warnings: diagnostics.warning_count(),
        },
    );
    out
}

fn push(out: &mut String, value: &impl Serialize) {
    // Serializing these plain structs cannot fail (string keys, no maps, no floats).
    out.push_str(&serde_json::to_string(value).unwrap_or_default());
    out.push('\n');
}
