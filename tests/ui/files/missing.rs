#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/files/nowhere.toml", service = "feed")]
pub struct Sinks;

fn main() {
    // The stub keeps uses of the type compiling: only the error above is reported.
    let _ = Sinks::with_endpoints(SinksEndpoints::default());
}
