//! The derive on a struct with named fields: the fields are the typed sinks.
#![deny(warnings, missing_docs)]

use sinkgen_runtime::{Bytes, CompositeSink, DirectSink, RelaySink};

/// The strategy's sinks, as fields.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "strategy")]
pub struct Strategy {
    signals: RelaySink<Bytes>,
    orders: sinkgen_runtime::CompositeSink<sinkgen_runtime::Bytes>,
}

fn main() {
    let strategy: Strategy = Strategy::with_endpoints(StrategyEndpoints::default());
    let _: &RelaySink<Bytes> = &strategy.signals;
    let _: &CompositeSink<Bytes> = &strategy.orders;
    // The process-wide accessors exist for every sink, fields or not.
    let _: &'static DirectSink<Bytes> = Strategy::hedge();
}
