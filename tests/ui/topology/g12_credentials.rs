#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g12_credentials.toml", service = "feed")]
pub struct Sinks;

fn main() {}
