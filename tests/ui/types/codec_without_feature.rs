pub mod protocol {
    use sinkgen_runtime::bytes::BufMut;

    pub struct Quote(pub u64);

    impl sinkgen_runtime::Encode for Quote {
        fn encoded_len(&self) -> usize {
            8
        }
        fn encode<B: BufMut>(&self, buf: &mut B) {
            buf.put_u64_le(self.0);
        }
    }
}

// `quotes` says `codec = "postcard"`, and the runtime is built without its feature.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/types/codec.toml", service = "feed")]
pub struct Feed;

fn main() {
    let _ = Feed::quotes();
}
