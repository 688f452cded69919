#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = 7)]
pub struct NotAString;

#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "feed", service = "strategy")]
pub struct Twice;

#[derive(sinkgen_runtime::Sinks)]
#[sinks]
pub struct NoArguments;

#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "strategy", crate = "not a path")]
pub struct NotAPath;

fn main() {}
