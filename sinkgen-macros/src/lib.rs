//! `#[derive(Sinks)]`: a thin shim over `sinkgen::expand_derive`.
//!
//! Use it through `sinkgen_runtime::Sinks` (the runtime re-exports it behind its default
//! `derive` feature); the guide is in the `sinkgen` and `sinkgen-runtime` docs.

/// Generates typed, lazily connecting sinks for a service from `services.toml`.
///
/// ```ignore
/// #[derive(sinkgen_runtime::Sinks)]
/// #[sinks(config = "../services.toml", service = "flash_arbitrage")]
/// pub struct Sinks;
///
/// Sinks::signals().send(bytes)?;
/// ```
///
/// Both keys are optional: `config` is relative to the crate's directory (default:
/// `SINKGEN_CONFIG`, then the first `services.toml` walking up to the workspace root),
/// `service` defaults to the crate's name with `-` as `_`. On a unit struct the
/// expansion adds `Sinks::<sink>() -> &'static ..`, `SinksEndpoints` and
/// `Sinks::with_endpoints(..) -> SinksInstance`; on a struct with named fields, each
/// field names a sink and has its type, and `with_endpoints` returns the struct.
#[proc_macro_derive(Sinks, attributes(sinks))]
pub fn derive_sinks(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    sinkgen::expand_derive(input.into()).into()
}
