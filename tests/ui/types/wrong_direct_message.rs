use sinkgen_runtime::Bytes;

pub mod protocol {
    use sinkgen_runtime::bytes::BufMut;

    pub struct Order(pub u64);

    impl sinkgen_runtime::Encode for Order {
        fn encoded_len(&self) -> usize {
            8
        }
        fn encode<B: BufMut>(&self, buf: &mut B) {
            buf.put_u64_le(self.0);
        }
    }
}

#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/types/direct_message.toml", service = "strategy")]
pub struct Strategy;

async fn order() {
    // `execution` is declared with `message = "protocol::Order"`: its direct sink takes it.
    let _ = Strategy::execution().send(protocol::Order(1)).await;
    let _ = Strategy::execution().send(Bytes::from_static(b"raw bytes")).await;
}

fn main() {
    let _ = order;
}
