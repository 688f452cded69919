#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "feed")]
pub enum Enum {
    A,
}

#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "feed")]
pub struct Tuple(u8);

#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "feed")]
pub struct Generic<T> {
    market_data: T,
}

fn main() {}
