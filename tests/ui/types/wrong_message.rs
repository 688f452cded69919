use sinkgen_runtime::Bytes;

pub mod protocol {
    use sinkgen_runtime::bytes::BufMut;

    pub struct MarketEvent(pub u64);

    impl sinkgen_runtime::Encode for MarketEvent {
        fn encoded_len(&self) -> usize {
            8
        }
        fn encode<B: BufMut>(&self, buf: &mut B) {
            buf.put_u64_le(self.0);
        }
    }
}

#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "feed")]
pub struct Feed;

async fn publish() {
    // `market_data` is declared with `message = "protocol::MarketEvent"`.
    let _ = Feed::market_data().send(protocol::MarketEvent(1)).await;
    let _ = Feed::market_data().send(Bytes::from_static(b"raw bytes")).await;
}

fn main() {
    let _ = publish;
}
