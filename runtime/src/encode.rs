//! Typed messages: the [`Encode`] trait.
//!
//! A sink carries one message type `M`. The runtime never copies a message into an
//! intermediate buffer: it asks the message for its size, reserves room for the frame
//! header and payload in the sink's pending buffer, and lets the message write itself
//! there. Byte types (`Bytes`, `Vec<u8>`, `&'static [u8]`, `[u8; N]`, `String`,
//! `&'static str`) work out of the box.
//!
//! # Examples
//!
//! ```
//! use sinkgen_runtime::Encode;
//! use sinkgen_runtime::bytes::BufMut;
//!
//! /// A price update: instrument id and price in ticks, 16 bytes little-endian.
//! struct Tick {
//!     instrument: u64,
//!     price: i64,
//! }
//!
//! impl Encode for Tick {
//!     fn encoded_len(&self) -> usize {
//!         16
//!     }
//!     fn encode<B: BufMut>(&self, buf: &mut B) {
//!         buf.put_u64_le(self.instrument);
//!         buf.put_i64_le(self.price);
//!     }
//! }
//!
//! let mut out = Vec::new();
//! Tick { instrument: 7, price: -3 }.encode(&mut out);
//! assert_eq!(out.len(), 16);
//! ```

use std::sync::Arc;

use bytes::{BufMut, Bytes};

/// A message that can be written into a frame's payload.
///
/// `encoded_len` is used to reserve room before `encode` runs and to reject payloads
/// larger than a frame can describe (`u32::MAX` bytes). The frame header always records
/// the number of bytes `encode` actually wrote, so a wrong `encoded_len` costs at most a
/// reallocation, never a corrupt frame.
pub trait Encode {
    /// The number of bytes [`encode`](Encode::encode) writes.
    fn encoded_len(&self) -> usize;

    /// Writes the payload into `buf`.
    ///
    /// This is called with the sink's internal lock held: it should only copy bytes.
    /// If it panics, the frame it was writing is discarded whole (nothing of it is
    /// written, it takes no sequence number and is not counted), the panic goes on in
    /// the sending task, and the sink keeps working.
    fn encode<B: BufMut>(&self, buf: &mut B);

    /// Moves the payload out as shared bytes, when the message is exactly them
    /// (`Bytes` is), leaving the message empty. A sink calls it only on a message it
    /// owns, at the moment a transport that keeps payloads by reference (NATS, with
    /// length-prefixed framing) is certain to take it, which then publishes the bytes
    /// without a copy. The default, `None`, is always correct; a `Some` must hold
    /// exactly the bytes `encode` writes.
    fn take_bytes(&mut self) -> Option<Bytes> {
        None
    }
}

impl Encode for [u8] {
    fn encoded_len(&self) -> usize {
        self.len()
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(self);
    }
}

impl Encode for str {
    fn encoded_len(&self) -> usize {
        self.len()
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(self.as_bytes());
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encoded_len(&self) -> usize {
        N
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(self);
    }
}

impl Encode for Vec<u8> {
    fn encoded_len(&self) -> usize {
        self.len()
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(self);
    }
}

impl Encode for String {
    fn encoded_len(&self) -> usize {
        self.len()
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(self.as_bytes());
    }
}

impl Encode for Bytes {
    fn encoded_len(&self) -> usize {
        self.len()
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(self);
    }
    fn take_bytes(&mut self) -> Option<Bytes> {
        Some(std::mem::take(self))
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        (**self).encode(buf);
    }
}

impl<T: Encode + ?Sized> Encode for Box<T> {
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        (**self).encode(buf);
    }
    fn take_bytes(&mut self) -> Option<Bytes> {
        (**self).take_bytes()
    }
}

impl<T: Encode + ?Sized> Encode for Arc<T> {
    fn encoded_len(&self) -> usize {
        (**self).encoded_len()
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        (**self).encode(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `take_bytes` gives must be exactly what `encode` writes.
    fn taken_matches_encoded<E: Encode>(mut msg: E) -> bool {
        let mut encoded = Vec::new();
        msg.encode(&mut encoded);
        match msg.take_bytes() {
            Some(bytes) => bytes[..] == encoded[..],
            None => false,
        }
    }

    #[test]
    fn bytes_give_up_their_payload_and_others_keep_it() {
        assert!(taken_matches_encoded(Bytes::from_static(b"tick")));
        assert!(taken_matches_encoded(Box::new(Bytes::from(vec![
            1u8, 2, 3
        ]))));
        let mut msg = Bytes::from_static(b"tick");
        assert!(msg.take_bytes().is_some());
        assert!(msg.is_empty(), "the message is left empty");
        assert_eq!(vec![1u8, 2].take_bytes(), None);
        assert_eq!("str".to_owned().take_bytes(), None);
        assert_eq!(Arc::new(Bytes::from_static(b"x")).take_bytes(), None);
    }
}
