#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g06_cycle.toml", service = "feed")]
pub struct Sinks;

fn main() {}
