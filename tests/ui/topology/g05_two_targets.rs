#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g05_two_targets.toml", service = "feed")]
pub struct Sinks;

fn main() {}
