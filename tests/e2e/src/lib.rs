//! End-to-end fixture: a service crate that uses both front ends of sinkgen.
//!
//! - The build script (`sinkgen::build()`) generates [`Sinks`], [`SinksEndpoints`] and
//!   [`SinksInstance`] for the service `sinkgen_e2e` of `services.toml`.
//! - [`Wired`] derives the same service's sinks as fields, with `#[derive(Sinks)]`.
//! - [`Desk`] derives the receivers of the service `desk` ([`DeskReceivers`]): a
//!   subscription to the `quotes` relay and the inbox of its `listen`.
#![deny(warnings, missing_docs)]

use sinkgen_runtime::{Bytes, CompositeSink, RelaySink};

/// The messages of the `market_data` relay.
pub mod protocol {
    use sinkgen_runtime::bytes::BufMut;

    /// A market event: 16 bytes on the wire, little-endian.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MarketEvent {
        /// The instrument's sequence number.
        pub seq: u64,
        /// The price in ticks.
        pub price: i64,
    }

    impl MarketEvent {
        /// Reads an event back from its 16 payload bytes.
        #[must_use]
        pub fn decode(payload: &[u8]) -> Option<MarketEvent> {
            let seq = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
            let price = i64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
            (payload.len() == 16).then_some(MarketEvent { seq, price })
        }
    }

    impl sinkgen_runtime::Decode for MarketEvent {
        fn decode(bytes: sinkgen_runtime::Bytes) -> Result<Self, sinkgen_runtime::DecodeError> {
            MarketEvent::decode(&bytes).ok_or_else(|| {
                sinkgen_runtime::DecodeError::new(format!(
                    "a market event is 16 bytes, not {}",
                    bytes.len()
                ))
            })
        }
    }

    impl sinkgen_runtime::Encode for MarketEvent {
        fn encoded_len(&self) -> usize {
            16
        }

        fn encode<B: BufMut>(&self, buf: &mut B) {
            buf.put_u64_le(self.seq);
            buf.put_i64_le(self.price);
        }
    }
}

sinkgen_runtime::include_sinks!();

/// The sinks of service `sinkgen_e2e` that this crate's hot path uses, as fields.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(service = "sinkgen_e2e")]
pub struct Wired {
    /// Market events to the `market_data` relay.
    pub market_data: RelaySink<protocol::MarketEvent>,
    /// Raw bytes to the `signals` relay and the `execution` service at once.
    pub fanout: CompositeSink<Bytes>,
}

/// The service `desk`, which only receives: its (empty) sinks, and its receivers as
/// [`DeskReceivers`].
#[derive(sinkgen_runtime::Sinks)]
#[sinks(service = "desk", receivers = "DeskReceivers")]
pub struct Desk;
