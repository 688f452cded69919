#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g10_message.toml", service = "feed")]
pub struct Sinks;

fn main() {}
