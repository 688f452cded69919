// `browser` sends to a ws:// endpoint, and the runtime is built without its `ws`
// feature.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/types/ws.toml", service = "feed")]
pub struct Feed;

fn main() {
    let _ = Feed::browser();
}
