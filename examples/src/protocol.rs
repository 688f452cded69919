//! The example's messages and their fixed little-endian wire layout, and the
//! [`Encode`] and [`Decode`] impls that let the generated sinks send them and the
//! generated subscriptions and inbox hand them back typed.

use bytes::{Buf, BufMut, Bytes};
use sinkgen_runtime::{Decode, DecodeError, Encode};

/// A top-of-book quote, sent by the market feed to the `market_data` relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// Instrument id.
    pub instrument: u32,
    /// Best bid, in 1e-4 price units.
    pub bid: i64,
    /// Best ask, in 1e-4 price units.
    pub ask: i64,
    /// Size at the bid.
    pub bid_size: u32,
    /// Size at the ask.
    pub ask_size: u32,
}

/// A trading signal, sent by the strategy to the `signals` relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    /// Instrument id.
    pub instrument: u32,
    /// +1 buy, -1 sell, 0 flat.
    pub side: i8,
    /// Expected edge in basis points.
    pub edge_bps: i32,
}

/// An order, sent by the strategy directly to the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// Client order id.
    pub id: u64,
    /// Instrument id.
    pub instrument: u32,
    /// +1 buy, -1 sell.
    pub side: i8,
    /// Quantity.
    pub quantity: u32,
    /// Limit price, in 1e-4 price units.
    pub limit: i64,
}

impl Quote {
    /// Wire size.
    pub const LEN: usize = 28;

    /// Appends the wire form.
    pub fn write(&self, out: &mut impl BufMut) {
        out.put_u32_le(self.instrument);
        out.put_i64_le(self.bid);
        out.put_i64_le(self.ask);
        out.put_u32_le(self.bid_size);
        out.put_u32_le(self.ask_size);
    }

    /// Reads the wire form.
    pub fn read(mut b: &[u8]) -> Option<Quote> {
        (b.len() == Self::LEN).then(|| Quote {
            instrument: b.get_u32_le(),
            bid: b.get_i64_le(),
            ask: b.get_i64_le(),
            bid_size: b.get_u32_le(),
            ask_size: b.get_u32_le(),
        })
    }
}

impl Signal {
    /// Wire size.
    pub const LEN: usize = 9;

    /// Appends the wire form.
    pub fn write(&self, out: &mut impl BufMut) {
        out.put_u32_le(self.instrument);
        out.put_i8(self.side);
        out.put_i32_le(self.edge_bps);
    }

    /// Reads the wire form.
    pub fn read(mut b: &[u8]) -> Option<Signal> {
        (b.len() == Self::LEN).then(|| Signal {
            instrument: b.get_u32_le(),
            side: b.get_i8(),
            edge_bps: b.get_i32_le(),
        })
    }
}

impl Order {
    /// Wire size.
    pub const LEN: usize = 25;

    /// Appends the wire form.
    pub fn write(&self, out: &mut impl BufMut) {
        out.put_u64_le(self.id);
        out.put_u32_le(self.instrument);
        out.put_i8(self.side);
        out.put_u32_le(self.quantity);
        out.put_i64_le(self.limit);
    }

    /// Reads the wire form.
    pub fn read(mut b: &[u8]) -> Option<Order> {
        (b.len() == Self::LEN).then(|| Order {
            id: b.get_u64_le(),
            instrument: b.get_u32_le(),
            side: b.get_i8(),
            quantity: b.get_u32_le(),
            limit: b.get_i64_le(),
        })
    }
}

// What lets the sinks accept these types (`message = "crate::protocol::Quote"`
// in services.toml): the sink asks for the size, then lets the message write
// itself straight into its send buffer. `Decode` is the mirror the receivers use:
// a payload of the wrong size is handed to the application as
// `Received::Undecodable`, never skipped.
macro_rules! wire {
    ($($t:ident),*) => {$(
        impl Encode for $t {
            fn encoded_len(&self) -> usize {
                Self::LEN
            }
            fn encode<B: BufMut>(&self, buf: &mut B) {
                self.write(buf);
            }
        }

        impl Decode for $t {
            fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
                $t::read(&bytes).ok_or_else(|| {
                    DecodeError::new(format_args!(
                        "a {} is {} bytes, not {}",
                        stringify!($t),
                        Self::LEN,
                        bytes.len()
                    ))
                })
            }
        }
    )*};
}

wire!(Quote, Signal, Order);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let q = Quote {
            instrument: 3,
            bid: -5,
            ask: 7,
            bid_size: 100,
            ask_size: 200,
        };
        let mut b = Vec::new();
        q.write(&mut b);
        assert_eq!(b.len(), Quote::LEN);
        assert_eq!(Quote::read(&b), Some(q));
        let s = Signal {
            instrument: 1,
            side: -1,
            edge_bps: 42,
        };
        let mut b = Vec::new();
        s.write(&mut b);
        assert_eq!(Signal::read(&b), Some(s));
        let o = Order {
            id: 9,
            instrument: 2,
            side: 1,
            quantity: 100,
            limit: 12345,
        };
        let mut b = Vec::new();
        o.write(&mut b);
        assert_eq!(b.len(), Order::LEN);
        assert_eq!(Order::read(&b), Some(o));
        assert_eq!(Order::read(&b[1..]), None);
    }

    #[test]
    fn a_payload_of_the_wrong_size_does_not_decode() {
        let e = Signal::decode(Bytes::from_static(&[0; 3])).unwrap_err();
        assert_eq!(e.message(), "a Signal is 9 bytes, not 3");
        let q = Quote {
            instrument: 1,
            bid: 2,
            ask: 3,
            bid_size: 4,
            ask_size: 5,
        };
        let mut b = bytes::BytesMut::new();
        q.encode(&mut b);
        assert_eq!(Quote::decode(b.freeze()), Ok(q));
    }
}
