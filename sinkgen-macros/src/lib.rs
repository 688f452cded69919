//! `#[derive(Sinks)]`: a thin shim over `sinkgen::expand_derive`.
