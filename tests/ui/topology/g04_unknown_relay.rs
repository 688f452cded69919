#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g04_unknown_relay.toml", service = "feed")]
pub struct Sinks;

fn main() {}
