//! Codecs: how a message type that does not implement [`Encode`]/[`Decode`] itself
//! goes on the wire (services.toml `codec`).
//!
//! A codec is a type used only as a type parameter of sinks and receivers
//! (`RelaySink<M, C>`, `DirectSink<M, C>`, `CompositeSink<M, C>`, `Subscription<M, C>`,
//! `Inbox<M, C>`); [`Raw`], the default, is the message's own [`Encode`]/[`Decode`].
//! A codec writes a message straight into the sink's frame buffer ([`Encoder`]) and
//! reads it back from the received bytes ([`Decoder`]):
//!
//! - [`Raw`]: `M: Encode` / `M: Decode` (always there).
//! - `Postcard` (feature `postcard`): serde types (`Serialize` /
//!   `DeserializeOwned`) in postcard's compact format.
//! - `Prost` (feature `prost`): protobuf messages (`prost::Message`).
//! - `Zerocopy` (feature `zerocopy`): plain structs as their bytes (zerocopy's
//!   `IntoBytes + Immutable` / `FromBytes + KnownLayout + Immutable`).
//!
//! Encoding happens under the sink's lock, as for [`Encode`]: if it panics, nothing of
//! the frame reaches the wire and the sink keeps working. A payload that does not
//! decode is a [`DecodeError`], handed to the application as an item
//! ([`Received::Undecodable`](crate::Received::Undecodable)).
//!
//! # Examples
//!
//! ```
//! use sinkgen_runtime::codec::{Decoder, Encoder, Raw};
//! use sinkgen_runtime::Bytes;
//!
//! let mut wire = Vec::new();
//! <Raw as Encoder<String>>::encode(&"tick".to_owned(), &mut wire);
//! let back = <Raw as Decoder<String>>::decode(Bytes::from(wire));
//! assert_eq!(back.as_deref(), Ok("tick"));
//! ```

use std::marker::PhantomData;

use bytes::{BufMut, Bytes};

use crate::decode::{Decode, DecodeError};
use crate::encode::Encode;

#[cfg(feature = "postcard")]
mod postcard;
#[cfg(feature = "prost")]
mod prost;
mod raw;
#[cfg(feature = "zerocopy")]
mod zerocopy;

#[cfg(feature = "postcard")]
pub use self::postcard::Postcard;
#[cfg(feature = "prost")]
pub use self::prost::Prost;
pub use self::raw::Raw;
#[cfg(feature = "zerocopy")]
pub use self::zerocopy::Zerocopy;

/// The sending half of a codec: writes an `M` as a frame's payload.
///
/// The contract is [`Encode`]'s: `encoded_len` reserves room and is checked against a
/// transport's payload limit, the frame records what `encode` actually wrote.
pub trait Encoder<M: ?Sized> {
    /// The number of bytes [`encode`](Encoder::encode) writes (a close estimate is
    /// harmless, see [`Encode::encoded_len`]).
    fn encoded_len(msg: &M) -> usize;

    /// Writes `msg` into `buf`. Called with the sink's lock held; a panic discards the
    /// frame whole (see [`Encode::encode`]).
    fn encode<B: BufMut>(msg: &M, buf: &mut B);

    /// The payload as shared bytes, when the message is exactly them (see
    /// [`Encode::take_bytes`]). The default, `None`, is always correct.
    fn take_bytes(msg: &mut M) -> Option<Bytes> {
        let _ = msg;
        None
    }
}

/// The receiving half of a codec: reads an `M` from a frame's payload.
pub trait Decoder<M> {
    /// Reads a message from the payload of one frame (a slice of the receiver's read
    /// buffer).
    ///
    /// # Errors
    ///
    /// [`DecodeError`] when the bytes are not a message of this type; the receiver
    /// hands it to the application as an item.
    fn decode(bytes: Bytes) -> Result<M, DecodeError>;
}

/// A message with its codec: the [`Encode`] the connection's send path works with.
pub(crate) struct Coded<M, C> {
    pub(crate) msg: M,
    _codec: PhantomData<fn() -> C>,
}

impl<M, C> Coded<M, C> {
    pub(crate) fn new(msg: M) -> Self {
        Coded {
            msg,
            _codec: PhantomData,
        }
    }
}

impl<M, C: Encoder<M>> Encode for Coded<M, C> {
    fn encoded_len(&self) -> usize {
        C::encoded_len(&self.msg)
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        C::encode(&self.msg, buf);
    }
    fn take_bytes(&mut self) -> Option<Bytes> {
        C::take_bytes(&mut self.msg)
    }
}

/// Decodes with `C`: what a receiver calls on every data frame.
#[inline]
pub(crate) fn decode<M, C: Decoder<M>>(bytes: Bytes) -> Result<M, DecodeError> {
    C::decode(bytes)
}

// `Raw` forwards to the message's own traits.
impl<M: Encode + ?Sized> Encoder<M> for Raw {
    #[inline]
    fn encoded_len(msg: &M) -> usize {
        msg.encoded_len()
    }
    #[inline]
    fn encode<B: BufMut>(msg: &M, buf: &mut B) {
        msg.encode(buf);
    }
    #[inline]
    fn take_bytes(msg: &mut M) -> Option<Bytes> {
        msg.take_bytes()
    }
}

impl<M: Decode> Decoder<M> for Raw {
    #[inline]
    fn decode(bytes: Bytes) -> Result<M, DecodeError> {
        M::decode(bytes)
    }
}
