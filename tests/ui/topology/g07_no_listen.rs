#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g07_no_listen.toml", service = "feed")]
pub struct Sinks;

fn main() {}
