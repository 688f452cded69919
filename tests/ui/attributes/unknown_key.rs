#[derive(sinkgen_runtime::Sinks)]
#[sinks(confg = "ui/services.toml", service = "feed")]
pub struct Sinks;

fn main() {}
