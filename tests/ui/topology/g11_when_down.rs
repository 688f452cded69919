#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g11_when_down.toml", service = "feed")]
pub struct Sinks;

fn main() {}
