//! Names a `services.toml` cannot use: Rust keywords (every relay, service and sink
//! name becomes an identifier) and the names the generated code keeps for itself.

/// Rust keywords (strict, reserved and edition-dependent), all lowercase.
pub const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "union", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Associated functions of a generated sinks type that a sink name must not shadow.
pub const RESERVED_SINK_NAMES: &[&str] = &["with_endpoints"];

/// Whether `s` is a Rust keyword (strict or reserved, in any edition), `Self` or `_`.
///
/// ```
/// assert!(sinkgen_config::is_keyword("async"));
/// assert!(sinkgen_config::is_keyword("_"));
/// assert!(!sinkgen_config::is_keyword("market_data"));
/// ```
#[must_use]
pub fn is_keyword(s: &str) -> bool {
    s == "_" || s == "Self" || RUST_KEYWORDS.contains(&s)
}
