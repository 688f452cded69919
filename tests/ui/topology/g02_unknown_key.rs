#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g02_unknown_key.toml", service = "feed")]
pub struct Sinks;

fn main() {}
