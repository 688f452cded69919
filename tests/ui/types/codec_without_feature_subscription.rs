pub mod protocol {
    use sinkgen_runtime::{Bytes, DecodeError};

    pub struct Quote(pub Bytes);

    impl sinkgen_runtime::Decode for Quote {
        fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
            Ok(Quote(bytes))
        }
    }
}

// `chart` subscribes to `quotes`, which says `codec = "postcard"`, and the runtime is
// built without its feature.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/types/codec.toml", service = "chart", receivers = "ChartSubscriptions")]
pub struct Chart;

fn main() {
    let _ = ChartSubscriptions::quotes();
}
