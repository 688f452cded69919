use sinkgen_runtime::{Bytes, DirectSink, RelaySink};

pub mod protocol {
    use sinkgen_runtime::bytes::BufMut;

    pub struct MarketEvent;

    impl sinkgen_runtime::Encode for MarketEvent {
        fn encoded_len(&self) -> usize {
            0
        }
        fn encode<B: BufMut>(&self, _: &mut B) {}
    }
}

// The wrong kind of sink: found by the derive.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "strategy")]
pub struct Strategy {
    signals: DirectSink<Bytes>,
    hedge: RelaySink<Bytes>,
    orders: Vec<u8>,
}

// The wrong message type: found by rustc, at the field.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "feed")]
pub struct Feed {
    market_data: RelaySink<Bytes>,
}

fn main() {}
