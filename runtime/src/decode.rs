//! Typed messages on the receiving side: the [`Decode`] trait, the mirror of
//! [`Encode`](crate::Encode).
//!
//! A receiver ([`Subscription`](crate::Subscription), [`Inbox`](crate::Inbox)) reads
//! whole frames into one buffer and hands each message's bytes to `M::decode` as a
//! [`Bytes`] that shares that buffer: `Bytes` messages are a slice of the read buffer,
//! never a copy. A message that does not decode is an error value
//! ([`DecodeError`]), surfaced to the application as an item of its own
//! ([`Received::Undecodable`](crate::Received::Undecodable)), never a panic and never
//! skipped.
//!
//! # Examples
//!
//! ```
//! use sinkgen_runtime::{Bytes, Decode, DecodeError};
//!
//! /// A price update: instrument id and price in ticks, 16 bytes little-endian.
//! #[derive(Debug, PartialEq)]
//! struct Tick {
//!     instrument: u64,
//!     price: i64,
//! }
//!
//! impl Decode for Tick {
//!     fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
//!         let b: &[u8; 16] = bytes[..]
//!             .try_into()
//!             .map_err(|_| DecodeError::new(format!("a tick is 16 bytes, not {}", bytes.len())))?;
//!         Ok(Tick {
//!             instrument: u64::from_le_bytes(b[..8].try_into().unwrap()),
//!             price: i64::from_le_bytes(b[8..].try_into().unwrap()),
//!         })
//!     }
//! }
//!
//! let mut wire = 7u64.to_le_bytes().to_vec();
//! wire.extend_from_slice(&(-3i64).to_le_bytes());
//! assert_eq!(Tick::decode(Bytes::from(wire)), Ok(Tick { instrument: 7, price: -3 }));
//! assert!(Tick::decode(Bytes::from_static(b"short")).is_err());
//! ```

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// A message that can be read from a frame's payload.
pub trait Decode: Sized {
    /// Reads a message from the payload of one frame. `bytes` shares the receiver's
    /// read buffer: keeping it (or a slice of it) costs no copy.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] when the bytes are not a message of this type. The receiver
    /// counts it and hands it to the application as an item; it never panics on it.
    fn decode(bytes: Bytes) -> Result<Self, DecodeError>;
}

/// Why a payload is not a message of the expected type.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodeError {
    message: Arc<str>,
}

impl DecodeError {
    /// An error saying what is wrong with the payload.
    pub fn new(message: impl fmt::Display) -> DecodeError {
        DecodeError {
            message: Arc::from(message.to_string()),
        }
    }

    /// What is wrong with the payload.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "undecodable message: {}", self.message)
    }
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DecodeError").field(&self.message).finish()
    }
}

impl std::error::Error for DecodeError {}

impl Decode for Bytes {
    /// The payload itself: a slice of the read buffer, no copy, never fails.
    fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
        Ok(bytes)
    }
}

impl Decode for Vec<u8> {
    /// A copy of the payload; never fails.
    fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
        Ok(Vec::from(bytes))
    }
}

impl Decode for String {
    /// The payload as text; fails when it is not UTF-8 (naming the first bad byte).
    fn decode(bytes: Bytes) -> Result<Self, DecodeError> {
        String::from_utf8(Vec::from(bytes)).map_err(|e| {
            DecodeError::new(format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_decode_without_copying() {
        let buffer = Bytes::from(vec![1u8, 2, 3, 4, 5]);
        let part = buffer.slice(1..4);
        let decoded = Bytes::decode(part).unwrap();
        assert_eq!(&decoded[..], &[2, 3, 4]);
        assert_eq!(
            decoded.as_ptr(),
            buffer[1..].as_ptr(),
            "same memory, no copy"
        );
    }

    #[test]
    fn vec_and_string_decode_and_bad_text_is_an_error() {
        assert_eq!(
            Vec::<u8>::decode(Bytes::from_static(b"ab")),
            Ok(b"ab".to_vec())
        );
        assert_eq!(
            String::decode(Bytes::from_static(b"ab")),
            Ok("ab".to_owned())
        );
        let err = String::decode(Bytes::from_static(b"a\xffb")).unwrap_err();
        assert!(err.message().contains("offset 1"), "{err}");
    }
}
