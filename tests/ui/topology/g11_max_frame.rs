#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/topology/g11_max_frame.toml", service = "feed")]
pub struct Sinks;

fn main() {}
