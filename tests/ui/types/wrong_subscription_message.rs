use sinkgen_runtime::{Bytes, DecodeError, Subscription};

pub mod protocol {
    use sinkgen_runtime::{Bytes, DecodeError};

    pub struct Quote(pub Bytes);

    impl sinkgen_runtime::Decode for Quote {
        fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
            Ok(Quote(bytes))
        }
    }

    pub struct Trade(pub Bytes);

    impl sinkgen_runtime::Decode for Trade {
        fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
            Ok(Trade(bytes))
        }
    }
}

#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/types/receivers.toml", service = "chart", receivers = "ChartSubscriptions")]
pub struct Chart;

fn main() {
    // `quotes` carries `protocol::Quote`: a subscription to it yields nothing else.
    let _quotes: Subscription<protocol::Quote> = ChartSubscriptions::quotes();
    let _trades: Subscription<protocol::Trade> = ChartSubscriptions::quotes();
    let _raw: Subscription<Bytes> = ChartSubscriptions::quotes();
    let _ = DecodeError::new("unused");
}
