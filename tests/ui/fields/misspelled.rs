use sinkgen_runtime::{Bytes, CompositeSink, RelaySink};

#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "strategy")]
pub struct Strategy {
    signal: RelaySink<Bytes>,
    orders: CompositeSink<Bytes>,
    pnl: RelaySink<Bytes>,
}

fn main() {
    // Everything else is still generated: only the field errors are reported.
    let _ = Strategy::orders();
    let _ = Strategy::hedge();
    let _ = Strategy::with_endpoints(StrategyEndpoints::default()).signal;
}
