#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g08_no_port.toml", service = "feed")]
pub struct Sinks;

fn main() {}
