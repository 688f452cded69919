#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g01_syntax.toml", service = "feed")]
pub struct Sinks;

fn main() {}
