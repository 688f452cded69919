//! `#[derive(Sinks)]`: a thin shim over `sinkgen::expand_derive`.
//!
//! Use it through `sinkgen_runtime::Sinks` (the runtime re-exports it behind its default
//! `derive` feature); the guide is in the `sinkgen` and `sinkgen-runtime` docs.

/// Generates typed, lazily connecting sinks for a service from `services.toml`.
///
/// ```text
/// #[derive(sinkgen_runtime::Sinks)]
/// #[sinks(config = "services.toml", service = "flash_arbitrage")]
/// pub struct Sinks;
///
/// async fn publish() -> Result<(), sinkgen_runtime::SendError<sinkgen_runtime::Bytes>> {
///     let frame = sinkgen_runtime::Bytes::from_static(b"buy 10");
///     Sinks::signals().send(frame).await?;
///     Ok(())
/// }
/// ```
///
/// (Shown as text, not run as a doctest: the runtime depends on this crate, so this
/// crate cannot depend on the runtime to compile it; the repository's tests compile
/// the derive on unit and named-field structs.)
///
/// `config` and `service` are optional: `config` is relative to the crate's directory (default:
/// `SINKGEN_CONFIG`, then the first `services.toml` walking up to the workspace root),
/// `service` defaults to the crate's name with `-` as `_`. On a unit struct the
/// expansion adds `Sinks::<sink>() -> &'static ..`, `SinksEndpoints` and
/// `Sinks::with_endpoints(..) -> SinksInstance`; on a struct with named fields, each
/// field names a sink and has its type, and `with_endpoints` returns the struct.
///
/// A field's type is written `RelaySink<M>`, `DirectSink<M>` or `CompositeSink<M>`
/// (any path ending in that name): the kind is checked by the derive, with a
/// did-you-mean for misspelled field names, and the message type `M` by rustc, with
/// the error at the field. Fields may name a subset of the service's sinks.
///
/// `receivers = "Subscriptions"` also generates the service's receiving half under
/// that name: `Subscriptions::<relay>() -> Subscription<M>` for each relay in its
/// `subscribes`, `Subscriptions::inbox() -> Inbox<M>` when it has `listen`, with
/// `SubscriptionsEndpoints` and `Subscriptions::with_endpoints(..)`. It is a key of this
/// derive rather than a second one so that one expansion reads the file once; it is
/// opt-in so that a derive written for sinks keeps compiling when the service
/// subscribes to relays whose message types the crate does not have or cannot decode.
///
/// Errors in `services.toml` are reported at the `config` string (or the derive) with
/// `file:LINE:COLUMN` and the offending line in the message, all of them at once. The
/// expansion includes the file with `include_bytes!`, so editing it rebuilds the crate.
#[proc_macro_derive(Sinks, attributes(sinks))]
pub fn derive_sinks(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    sinkgen::expand_derive(input.into()).into()
}
