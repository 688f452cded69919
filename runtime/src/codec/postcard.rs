//! serde types in postcard's compact format (feature `postcard`).

use bytes::{BufMut, Bytes};
use postcard::ser_flavors::Flavor;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Decoder, Encoder};
use crate::decode::DecodeError;

/// serde types (`Serialize` to send, `DeserializeOwned` to receive) in
/// [postcard](https://docs.rs/postcard)'s format: compact, varint integers, no field
/// names, so both ends must agree on the type.
///
/// A `Serialize` implementation that fails (postcard refuses, for example, a sequence
/// of unknown length) cannot make a frame: `send` then panics like a panicking
/// [`Encode::encode`](crate::Encode::encode), leaving nothing of the frame on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Postcard;

/// Writes postcard's output straight into the sink's buffer.
struct Into<'a, B>(&'a mut B);

impl<B: BufMut> Flavor for Into<'_, B> {
    type Output = ();

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.put_u8(data);
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.put_slice(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

impl<M: Serialize + ?Sized> Encoder<M> for Postcard {
    /// The exact size (postcard's size-only pass); 0 for a value that does not
    /// serialize (its `encode` then panics).
    fn encoded_len(msg: &M) -> usize {
        postcard::experimental::serialized_size(msg).unwrap_or(0)
    }

    fn encode<B: BufMut>(msg: &M, buf: &mut B) {
        if let Err(e) = postcard::serialize_with_flavor::<M, _, ()>(msg, Into(buf)) {
            panic!("the postcard codec cannot serialize this message: {e}");
        }
    }
}

impl<M: DeserializeOwned> Decoder<M> for Postcard {
    /// The whole payload must be one message: trailing bytes are an error.
    fn decode(bytes: Bytes) -> Result<M, DecodeError> {
        match postcard::take_from_bytes(&bytes) {
            Ok((msg, [])) => Ok(msg),
            Ok((_, rest)) => Err(DecodeError::new(format!(
                "postcard: {} bytes left after the message",
                rest.len()
            ))),
            Err(e) => Err(DecodeError::new(format!("postcard: {e}"))),
        }
    }
}
