//! Diagnostics: what went wrong in a `services.toml`, where, and how to fix it.
//!
//! Every problem the front end finds becomes a [`Diagnostic`]: a severity, a
//! message in one voice (lowercase, no trailing period, the key named literally),
//! the byte span of the offending value, a short label shown under the caret, and a
//! `help:` line that states the fix. A [`Diagnostics`] collects all of them together
//! with the file they point into, and renders them the way rustc does:
//!
//! ```text
//! error: unknown key `endpont` in relay `market_data`
//!  --> services.toml:2:1
//!   |
//! 2 | endpont = "unix:///tmp/torq/market_data.sock"
//!   | ^^^^^^^ unknown key
//!   |
//!   = help: did you mean `endpoint`?
//! ```

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use annotate_snippets::{AnnotationKind, Group, Level, Origin, Renderer, Snippet};

use crate::source::Source;

/// Where every check reports: the accumulated diagnostics of one file.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    diagnostics: Vec<Diagnostic>,
}

impl Ctx {
    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    pub(crate) fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub(crate) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }
}

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// The file cannot be used: loading fails.
    Error,
    /// Worth a look, but the file loads.
    Warning,
}

/// One problem found in a `services.toml`.
///
/// Build one with [`Diagnostic::error`] or [`Diagnostic::warning`] and the `with_*`
/// methods; render it through the [`Diagnostics`] that holds the file text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one lowercase line without a trailing period.
    pub message: String,
    /// Byte range of the offending text in the file, when there is one.
    pub span: Option<Range<usize>>,
    /// Short text shown under the caret.
    pub label: String,
    /// How to fix it.
    pub help: Option<String>,
    /// Other places in the file that explain the problem (the first definition of a
    /// duplicate, the other members of a cycle), each with its label.
    pub related: Vec<(Range<usize>, String)>,
    /// Extra facts shown as `= note:` lines (for example every place a file was looked for).
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// A new error with this message and no span yet.
    ///
    /// # Examples
    ///
    /// ```
    /// use sinkgen::{Diagnostic, Severity};
    ///
    /// let d = Diagnostic::error("unknown relay `signal`")
    ///     .with_span(10..18)
    ///     .with_label("no relay of this name")
    ///     .with_help("did you mean `signals`?");
    /// assert_eq!(d.severity, Severity::Error);
    /// assert_eq!(d.span, Some(10..18));
    /// ```
    #[must_use]
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: None,
            label: String::new(),
            help: None,
            related: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A new warning with this message and no span yet.
    #[must_use]
    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    /// Points the diagnostic at this byte range of the file.
    #[must_use]
    pub fn with_span(mut self, span: Range<usize>) -> Self {
        self.span = Some(span);
        self
    }

    /// Sets the text shown under the caret.
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the `help:` line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the `help:` line when there is one.
    #[must_use]
    pub fn with_help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// Adds a secondary place in the file, with its label.
    #[must_use]
    pub fn with_related(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    /// Adds a `note:` line.
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Whether this is an error (and not a warning).
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Every diagnostic of one file, with the file's path and text to render them.
///
/// [`Display`](fmt::Display) renders the same as [`Diagnostics::render`].
///
/// # Examples
///
/// ```
/// use std::path::Path;
///
/// let err = sinkgen::load_str(Path::new("services.toml"), "[relays.md]\n").unwrap_err();
/// assert!(err.has_errors());
/// let first = err.iter().next().unwrap();
/// assert_eq!(err.location(first), Some((1, 9)));
/// assert!(err.render().starts_with("error: relay `md` has no `endpoint`"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Diagnostics {
    source: Arc<Source>,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty collection for the file at `path` (used only in messages) with this text.
    #[must_use]
    pub fn new(path: &Path, text: &str) -> Self {
        Diagnostics {
            source: Arc::new(Source::new(path, text)),
            items: Vec::new(),
        }
    }

    pub(crate) fn from_source(source: Arc<Source>) -> Self {
        Diagnostics {
            source,
            items: Vec::new(),
        }
    }

    pub(crate) fn source(&self) -> &Arc<Source> {
        &self.source
    }

    /// Adds a diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// The path of the file the diagnostics point into.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.source.path()
    }

    /// The text of the file the diagnostics point into.
    #[must_use]
    pub fn text(&self) -> &str {
        self.source.text()
    }

    /// The diagnostics, in the order they were found.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// How many diagnostics there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no diagnostics at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether at least one diagnostic is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// How many errors there are.
    #[must_use]
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// How many warnings there are.
    #[must_use]
    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }

    /// 1-based line and column (in characters) of the start of a diagnostic's span.
    ///
    /// `None` when the diagnostic has no span (a missing file, a missing service).
    #[must_use]
    pub fn location(&self, diagnostic: &Diagnostic) -> Option<(usize, usize)> {
        diagnostic
            .span
            .as_ref()
            .map(|span| self.source.line_col(span.start))
    }

    /// 1-based line and column (in characters) of a byte offset into the file (an
    /// offset inside a character counts as that character; past the end, the end).
    #[must_use]
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        self.source.line_col(offset)
    }

    /// All diagnostics rendered rustc-style without colour, followed by a summary line.
    #[must_use]
    pub fn render(&self) -> String {
        self.render_with(&Renderer::plain())
    }

    /// All diagnostics rendered rustc-style with ANSI colours, for a terminal.
    #[must_use]
    pub fn render_styled(&self) -> String {
        self.render_with(&Renderer::styled())
    }

    /// One diagnostic rendered rustc-style without colour (no summary line).
    #[must_use]
    pub fn render_one(&self, diagnostic: &Diagnostic) -> String {
        render_diagnostic(&Renderer::plain(), &self.source, diagnostic)
    }

    fn render_with(&self, renderer: &Renderer) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&render_diagnostic(renderer, &self.source, d));
            out.push_str("\n\n");
        }
        if let Some(summary) = self.summary() {
            let (level, text) = summary;
            out.push_str(&renderer.render(&[Group::with_title(level.primary_title(text))]));
            out.push('\n');
        }
        out
    }

    fn summary(&self) -> Option<(Level<'static>, String)> {
        let path = match self.path().as_os_str().is_empty() {
            true => "services.toml".into(),
            false => self.path().display().to_string(),
        };
        let errors = self.error_count();
        let warnings = self.warning_count();
        let plural = |n: usize, what: &str| {
            if n == 1 {
                format!("{n} {what}")
            } else {
                format!("{n} {what}s")
            }
        };
        if errors > 0 {
            let mut text = format!(
                "could not load `{path}` due to {}",
                plural(errors, "previous error")
            );
            if warnings > 0 {
                text.push_str(&format!("; {} emitted", plural(warnings, "warning")));
            }
            Some((Level::ERROR, text))
        } else if warnings > 0 {
            Some((
                Level::WARNING,
                format!("`{path}` generated {}", plural(warnings, "warning")),
            ))
        } else {
            None
        }
    }
}

fn render_diagnostic(renderer: &Renderer, source: &Source, d: &Diagnostic) -> String {
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let path = source.path().display().to_string();
    let title = level.primary_title(d.message.as_str());
    let mut fixups = Vec::new();
    let mut group = match &d.span {
        Some(span) => title.elements(snippets(source, &path, span, d, &mut fixups)),
        None if path.is_empty() => Group::with_title(title),
        None => title.element(Origin::path(path.clone())),
    };
    for note in &d.notes {
        group = group.element(Level::NOTE.message(note.as_str()));
    }
    if let Some(help) = &d.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    let mut rendered = renderer.render(&[group]);
    for fixup in fixups {
        let shown = format!("{path}:{}:{}", fixup.line, fixup.shown_column);
        let actual = format!("{path}:{}:{}", fixup.line, fixup.column);
        rendered = rendered.replacen(&shown, &actual, 1);
    }
    rendered
}

/// Lines longer than this are cut around the annotations before rendering.
const LONG_LINE: usize = 512;
/// Annotations further apart than this many lines get their own snippet.
const GAP_LINES: usize = 16;

/// A location header whose column the renderer computes from a cut line.
struct Fixup {
    line: usize,
    shown_column: usize,
    column: usize,
}

struct Mark<'a> {
    range: Range<usize>,
    label: Option<&'a str>,
    primary: bool,
    first_line: usize,
    last_line: usize,
}

/// Snippets showing only the lines the diagnostic's spans touch, one per cluster of
/// nearby lines (the primary one first), with very long lines cut around the spans:
/// rendering stays cheap on big files and on hostile ones.
fn snippets<'a>(
    source: &'a Source,
    path: &str,
    span: &Range<usize>,
    d: &'a Diagnostic,
    fixups: &mut Vec<Fixup>,
) -> Vec<Snippet<'a, annotate_snippets::Annotation<'a>>> {
    let mark = |r: &Range<usize>, label: &'a str, primary: bool| {
        let start = source.floor_char_boundary(r.start);
        let end = source.ceil_char_boundary(r.end.max(start));
        Mark {
            range: start..end,
            label: non_empty(label),
            primary,
            first_line: source.line_index(start),
            last_line: source.line_index(end),
        }
    };
    let mut marks: Vec<Mark<'a>> = vec![mark(span, &d.label, true)];
    marks.extend(d.related.iter().map(|(r, label)| mark(r, label, false)));
    marks.sort_by_key(|m| (m.first_line, m.range.start));

    // Each cluster with the last line any of its marks reaches.
    let mut clusters: Vec<(Vec<Mark<'a>>, usize)> = Vec::new();
    for m in marks {
        match clusters.last_mut() {
            Some((c, last)) if m.first_line <= *last + GAP_LINES => {
                *last = (*last).max(m.last_line);
                c.push(m);
            }
            _ => {
                let last = m.last_line;
                clusters.push((vec![m], last));
            }
        }
    }
    let mut clusters: Vec<Vec<Mark<'a>>> = clusters.into_iter().map(|(c, _)| c).collect();
    if let Some(i) = clusters.iter().position(|c| c.iter().any(|m| m.primary)) {
        let primary = clusters.remove(i);
        clusters.insert(0, primary);
    }

    clusters
        .into_iter()
        .map(|cluster| {
            let first_line = cluster.iter().map(|m| m.first_line).min().unwrap_or(0);
            let last_line = cluster.iter().map(|m| m.last_line).max().unwrap_or(0);
            let mut window = source.lines_range(first_line, last_line);
            let head = cluster
                .iter()
                .find(|m| m.primary)
                .or(cluster.first())
                .map_or(window.start, |m| m.range.start);
            if first_line == last_line && window.len() > LONG_LINE {
                let lo = cluster
                    .iter()
                    .map(|m| m.range.start)
                    .min()
                    .unwrap_or(window.start);
                let hi = cluster
                    .iter()
                    .map(|m| m.range.end)
                    .max()
                    .unwrap_or(window.end);
                let lo = source.floor_char_boundary(lo.saturating_sub(128).max(window.start));
                let hi = source.ceil_char_boundary((hi + 128).min(window.end).min(lo + 4096));
                let (line, column) = source.line_col(head);
                let shown_column = source.text()[lo..head.clamp(lo, hi)].chars().count() + 1;
                if shown_column != column {
                    fixups.push(Fixup {
                        line,
                        shown_column,
                        column,
                    });
                }
                window = lo..hi.max(lo);
            }
            let local = |r: &Range<usize>| {
                let start = r.start.clamp(window.start, window.end) - window.start;
                let end = r.end.clamp(window.start, window.end) - window.start;
                start..end.max(start)
            };
            let mut snippet = Snippet::source(&source.text()[window.clone()])
                .line_start(first_line + 1)
                .path(path.to_owned());
            for m in &cluster {
                let kind = if m.primary {
                    AnnotationKind::Primary
                } else {
                    AnnotationKind::Context
                };
                snippet = snippet.annotation(kind.span(local(&m.range)).label(m.label));
            }
            snippet
        })
        .collect()
}

fn non_empty(label: &str) -> Option<&str> {
    (!label.is_empty()).then_some(label)
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diagnostics")
            .field("path", &self.path())
            .field("items", &self.items)
            .finish()
    }
}

impl std::error::Error for Diagnostics {}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<T: IntoIterator<Item = Diagnostic>>(&mut self, iter: T) {
        self.items.extend(iter);
    }
}
