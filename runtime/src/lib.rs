//! The runtime behind sinkgen's generated code.

/// `#[derive(Sinks)]`: typed sinks for a service of `services.toml` (see the `sinkgen` crate).
#[cfg(feature = "derive")]
pub use sinkgen_macros::Sinks;
