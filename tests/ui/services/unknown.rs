#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "stratgy")]
pub struct Sinks;

fn main() {}
