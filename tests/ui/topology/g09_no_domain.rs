#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g09_no_domain.toml", service = "feed")]
pub struct Sinks;

fn main() {}
