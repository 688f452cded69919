//! The derive on unit structs: process-wide accessors, endpoints, an independent instance.
#![deny(warnings, missing_docs)]

use sinkgen_runtime::{Bytes, CompositeSink, DirectSink, Encode, RelaySink};

/// The messages of the market data relay.
pub mod protocol {
    use sinkgen_runtime::bytes::BufMut;

    /// A market event.
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

/// The strategy's sinks.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "strategy")]
pub struct Sinks;

/// The feed's sinks.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "ui/services.toml", service = "feed")]
pub struct Feed;

fn main() {
    let _: &'static RelaySink<Bytes> = Sinks::signals();
    let _: &'static DirectSink<Bytes> = Sinks::executor();
    let _: &'static CompositeSink<Bytes> = Sinks::orders();
    let _: &'static RelaySink<protocol::MarketEvent> = Feed::market_data();
    assert!(std::ptr::eq(Sinks::signals(), Sinks::signals()));

    let endpoints = SinksEndpoints {
        hedge: "tcp://127.0.0.1:7001".into(),
        ..SinksEndpoints::default()
    };
    assert_eq!(endpoints.signals, "unix:///tmp/sinkgen-ui/signals.sock");
    let instance: SinksInstance = Sinks::with_endpoints(endpoints);
    let _: &DirectSink<Bytes> = instance.hedge();
    let _: &CompositeSink<Bytes> = instance.orders();
    let _ = FeedEndpoints::default().market_data;
    assert_eq!(protocol::MarketEvent(1).encoded_len(), 8);
}
