#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g03_keyword.toml", service = "feed")]
pub struct Sinks;

fn main() {}
