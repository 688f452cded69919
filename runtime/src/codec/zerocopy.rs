//! Plain structs as their bytes (feature `zerocopy`).

use bytes::{BufMut, Bytes};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{Decoder, Encoder};
use crate::decode::DecodeError;

/// Plain structs (`#[repr(C)]`, no padding) as their in-memory bytes, the way fixed
/// binary protocols lay messages out: [`zerocopy`](https://docs.rs/zerocopy)'s
/// `IntoBytes + Immutable` to send, `FromBytes + KnownLayout + Immutable` to receive
/// (derive them with zerocopy's `derive` feature). Byte order is the machine's: both
/// ends must agree, or the struct must use zerocopy's byte-order types. A payload
/// whose length is not the type's size is a [`DecodeError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Zerocopy;

impl<M: IntoBytes + Immutable + ?Sized> Encoder<M> for Zerocopy {
    fn encoded_len(msg: &M) -> usize {
        msg.as_bytes().len()
    }

    fn encode<B: BufMut>(msg: &M, buf: &mut B) {
        buf.put_slice(msg.as_bytes());
    }
}

impl<M: FromBytes + KnownLayout + Immutable> Decoder<M> for Zerocopy {
    /// A copy of the payload read as an `M` (the read buffer need not be aligned).
    fn decode(bytes: Bytes) -> Result<M, DecodeError> {
        M::read_from_bytes(&bytes).map_err(|_| {
            DecodeError::new(format!(
                "zerocopy: a {} is {} bytes, the payload {}",
                std::any::type_name::<M>(),
                std::mem::size_of::<M>(),
                bytes.len()
            ))
        })
    }
}
