// `feed` neither subscribes nor listens: it has no receivers to name.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "feed", receivers = "FeedSubscriptions")]
pub struct Feed;

// The receivers type must be a Rust identifier.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "execution", receivers = "my-receivers")]
pub struct Execution;

// The receivers type is a second type: not the derived one.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "strategy", receivers = "Strategy")]
pub struct Strategy;

fn main() {
    // Beside the errors, a stand-in of the named type: no cascade at its uses.
    let _ = FeedSubscriptions::with_endpoints;
    let _ = Feed::market_data();
    let _ = Execution::with_endpoints;
}
