//! The default codec: the message's own [`Encode`](crate::Encode) and
//! [`Decode`](crate::Decode).

/// The message type implements [`Encode`](crate::Encode) (to send) and
/// [`Decode`](crate::Decode) (to receive) itself: byte types, or a hand-written
/// layout. The default codec of every sink and receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Raw;
