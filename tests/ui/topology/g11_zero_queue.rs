#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g11_zero_queue.toml", service = "feed")]
pub struct Sinks;

fn main() {}
