//! Framing: how a message becomes bytes on the stream.
//!
//! * [`Framing::LengthPrefixed`]: a `u32` little-endian payload length, then the payload.
//! * [`Framing::Sinkgen`]: sinkgen's own protocol, a 36-byte header with the sink's
//!   session, the frame's sequence, a timestamp and a checksum, then the payload (see
//!   [`protocol`] and `docs/PROTOCOL.md`).
//! * [`Framing::Torq`]: the 32-byte little-endian Torq header, then the payload with no
//!   length prefix:
//!
//! | bytes  | field                                                         |
//! |--------|---------------------------------------------------------------|
//! | 0..4   | magic `0xDEADBEEF` (u32)                                      |
//! | 4      | relay domain (u8)                                             |
//! | 5      | version, always 1 (u8)                                        |
//! | 6      | source (u8)                                                   |
//! | 7      | flags, 0 (u8)                                                 |
//! | 8..16  | sequence (u64), per sink, the first frame is 1                |
//! | 16..24 | timestamp (u64), nanoseconds since the Unix epoch             |
//! | 24..28 | payload size (u32)                                            |
//! | 28..32 | CRC32 (IEEE, crc32fast) over bytes 0..28 then the payload     |
//!
//! A sink's torq sequence counts the frames it accepted; frames written again after a
//! reconnect keep their sequence, so a relay sees each sequence number once.
//!
//! The timestamp is the wall clock when the frame was queued, with this precision:
//! the clock is read for every frame that finds the sink's queue empty (a sparse
//! frame, or the first of a burst), and for every frame while the sink is not
//! connected; frames queued behind it on a connected sink, while the connection task
//! writes the previous batch, share its reading, at most 64 frames per reading. So a
//! timestamp is at most one write of the previous batch early (microseconds; longer
//! only while the peer stalls the write), and timestamps never decrease along the
//! sequence.
//!
//! # Examples
//!
//! ```
//! use sinkgen_runtime::{Bytes, Framing, RelaySink, SinkBuilder};
//!
//! let sink: RelaySink<Bytes> = SinkBuilder::new("unix:///tmp/torq/market_data.sock")
//!     .framing(Framing::Torq { domain: 1, source: 7 })
//!     .relay()
//!     .unwrap();
//! assert_eq!(Framing::Torq { domain: 1, source: 7 }.header_len(), 32);
//! # drop(sink);
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use crate::crc::{crc_before_body, crc_hasher};
use crate::encode::Encode;
use crate::protocol;

/// The torq magic number, the first four bytes of every torq frame.
pub const TORQ_MAGIC: u32 = 0xDEAD_BEEF;
/// The torq header version this runtime writes.
pub const TORQ_VERSION: u8 = 1;
/// Size of the torq header in bytes.
pub const TORQ_HEADER_LEN: usize = 32;
/// Offset of the CRC field in the torq header.
const TORQ_CRC_AT: usize = 28;
/// Size of the length prefix in bytes.
pub const LENGTH_PREFIX_LEN: usize = 4;

/// How frames are laid out on the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Framing {
    /// `u32` little-endian payload length, then the payload.
    #[default]
    LengthPrefixed,
    /// The 32-byte torq header (see the [module docs](self)), then the payload.
    Torq {
        /// Relay domain byte.
        domain: u8,
        /// Source id of the sending service.
        source: u8,
    },
    /// sinkgen's own protocol ([`protocol`]): the 36-byte header with
    /// the sink's session and the frame's sequence, then the payload.
    Sinkgen,
}

impl Framing {
    /// The header size of one frame.
    #[must_use]
    pub const fn header_len(self) -> usize {
        match self {
            Framing::LengthPrefixed => LENGTH_PREFIX_LEN,
            Framing::Torq { .. } => TORQ_HEADER_LEN,
            Framing::Sinkgen => protocol::HEADER_LEN,
        }
    }

    /// Appends one frame (header and payload) to `buf`. `sequence` and `timestamp`
    /// (nanoseconds since the Unix epoch, see [`now_nanos`]) are used by torq and
    /// sinkgen, `session` by sinkgen only.
    ///
    /// Returns the frame's length, or `None` (with `buf` unchanged) when the payload is
    /// larger than `max` bytes (`encoded_len` says so, or `encode` wrote more) or than
    /// `u32::MAX` bytes.
    pub(crate) fn append<E: Encode + ?Sized>(
        self,
        buf: &mut Vec<u8>,
        msg: &E,
        fields: (u64, u64, u64),
        max: usize,
    ) -> Option<usize> {
        self.append_as(buf, msg, fields, max, true)
    }

    /// [`Framing::append`], but a torq or sinkgen frame is left *unsealed*: its
    /// checksummed header bytes sit right before the payload, over the header's last 4
    /// bytes, and [`Framing::seal_all`] completes it later (the connection task seals a
    /// whole batch at once, where consecutive checksums overlap in the CPU instead of
    /// each waiting on the last, and outside the queue's lock). Length-prefixed frames
    /// are complete either way.
    pub(crate) fn append_unsealed<E: Encode + ?Sized>(
        self,
        buf: &mut Vec<u8>,
        msg: &E,
        fields: (u64, u64, u64),
        max: usize,
    ) -> Option<usize> {
        self.append_as(buf, msg, fields, max, false)
    }

    fn append_as<E: Encode + ?Sized>(
        self,
        buf: &mut Vec<u8>,
        msg: &E,
        (session, sequence, timestamp): (u64, u64, u64),
        max: usize,
        seal: bool,
    ) -> Option<usize> {
        let max = max.min(u32::MAX as usize);
        let hint = msg.encoded_len();
        if hint > max {
            return None;
        }
        let start = buf.len();
        let before_payload = self.header_len();
        buf.reserve(before_payload + hint);
        buf.resize(start + before_payload, 0);
        // `encode` is user code: if it panics, the frame it was writing is taken back,
        // so the buffer holds only whole frames (nothing of it reaches the wire).
        let mut unwind = TruncateOnUnwind {
            buf,
            start,
            armed: true,
        };
        msg.encode(unwind.buf);
        unwind.armed = false;
        let buf = &mut *unwind.buf;
        let payload_len = buf.len() - start - before_payload;
        if payload_len > max {
            buf.truncate(start);
            return None;
        }
        let Ok(size) = u32::try_from(payload_len) else {
            buf.truncate(start);
            return None;
        };
        match self {
            Framing::LengthPrefixed => {
                buf[start..start + 4].copy_from_slice(&size.to_le_bytes());
            }
            Framing::Torq { domain, source } => {
                let mut h = [0u8; TORQ_CRC_AT];
                h[0..4].copy_from_slice(&TORQ_MAGIC.to_le_bytes());
                h[4] = domain;
                h[5] = TORQ_VERSION;
                h[6] = source;
                h[7] = 0;
                h[8..16].copy_from_slice(&sequence.to_le_bytes());
                h[16..24].copy_from_slice(&timestamp.to_le_bytes());
                h[24..28].copy_from_slice(&size.to_le_bytes());
                let frame = &mut buf[start..];
                if seal {
                    let sum = crc_before_body(frame, &h);
                    frame[..TORQ_CRC_AT].copy_from_slice(&h);
                    frame[TORQ_CRC_AT..TORQ_HEADER_LEN].copy_from_slice(&sum.to_le_bytes());
                } else {
                    frame[4..TORQ_HEADER_LEN].copy_from_slice(&h);
                }
            }
            Framing::Sinkgen if seal => protocol::seal(
                &mut buf[start..],
                protocol::Kind::Data,
                size,
                session,
                sequence,
                timestamp,
            ),
            Framing::Sinkgen => {
                let h = protocol::data_head(size, session, sequence, timestamp);
                buf[start + 4..start + protocol::HEADER_LEN].copy_from_slice(&h);
            }
        }
        Some(buf.len() - start)
    }

    /// Seals every frame of `bytes`: whole frames written by
    /// [`Framing::append_unsealed`], back to back. Each gets the checksum of its header
    /// bytes and payload (one pass over the run they form), then its header moves to
    /// its place and the checksum after it: the bytes [`Framing::append`] writes.
    ///
    /// Returns the length every frame of `bytes` has, when they all have the same one
    /// (read on the way, for the frames an acknowledged sink keeps).
    #[inline]
    pub(crate) fn seal_all(self, bytes: &mut [u8]) -> Option<usize> {
        if self != Framing::LengthPrefixed && !bytes.is_empty() {
            self.seal_frames(bytes)
        } else {
            None
        }
    }

    fn seal_frames(self, bytes: &mut [u8]) -> Option<usize> {
        let (head, size_at) = match self {
            Framing::LengthPrefixed => return None,
            Framing::Torq { .. } => (TORQ_CRC_AT, 24),
            Framing::Sinkgen => (protocol::HEADER_LEN - 4, 4),
        };
        let (mut at, mut stride) = (0, None);
        let mut uniform = true;
        while at < bytes.len() {
            let frame = &mut bytes[at..];
            let size = u32::from_le_bytes(
                frame[4 + size_at..8 + size_at]
                    .try_into()
                    .expect("a whole header"),
            );
            let len = head + 4 + size as usize;
            let mut crc = crc_hasher();
            crc.update(&frame[4..len]);
            let sum = crc.finalize();
            frame.copy_within(4..4 + head, 0);
            frame[head..head + 4].copy_from_slice(&sum.to_le_bytes());
            uniform &= *stride.get_or_insert(len) == len;
            at += len;
        }
        stride.filter(|_| uniform)
    }

    /// The length of the frame that starts at `bytes[0]`, read from its header.
    ///
    /// `bytes` must start at a frame boundary of a buffer written by [`Framing::append`].
    pub(crate) fn frame_len(self, bytes: &[u8]) -> usize {
        let at = match self {
            Framing::LengthPrefixed => 0,
            Framing::Torq { .. } => 24,
            Framing::Sinkgen => 4,
        };
        let size = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        self.header_len() + size as usize
    }

    /// Splits a batch at the last frame boundary at or before `written` bytes:
    /// returns `(whole frames, their bytes)`.
    pub(crate) fn whole_frames(self, batch: &[u8], written: usize) -> (usize, usize) {
        let (mut frames, mut offset) = (0, 0);
        while offset < batch.len() {
            let len = self.frame_len(&batch[offset..]);
            if offset + len > written {
                break;
            }
            offset += len;
            frames += 1;
        }
        (frames, offset)
    }
}

/// Cuts `buf` back to `start` when dropped armed: while a message encodes itself, a
/// panic unwinding through [`Framing::append`] (or [`encode_or_nothing`]) removes
/// the partial frame.
struct TruncateOnUnwind<'a, B: Truncate> {
    buf: &'a mut B,
    start: usize,
    /// Cleared once `encode` returned.
    armed: bool,
}

/// The buffers a message encodes itself into.
trait Truncate {
    fn truncate_to(&mut self, len: usize);
}

impl Truncate for Vec<u8> {
    fn truncate_to(&mut self, len: usize) {
        self.truncate(len);
    }
}

impl Truncate for bytes::BytesMut {
    fn truncate_to(&mut self, len: usize) {
        self.truncate(len);
    }
}

impl<B: Truncate> Drop for TruncateOnUnwind<'_, B> {
    fn drop(&mut self) {
        if self.armed {
            self.buf.truncate_to(self.start);
        }
    }
}

/// Lets `msg` encode itself at the end of `buf` (a transport's shared bytes); if
/// `encode` panics, `buf` is cut back to where it was, so nothing of the message is
/// left to prefix the next one.
pub(crate) fn encode_or_nothing<E: Encode + ?Sized>(msg: &E, buf: &mut bytes::BytesMut) {
    let start = buf.len();
    let mut unwind = TruncateOnUnwind {
        buf,
        start,
        armed: true,
    };
    msg.encode(unwind.buf);
    unwind.armed = false;
}

/// Nanoseconds since the Unix epoch (0 before it, `u64::MAX` past 2554).
pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefixed_layout() {
        let mut buf = Vec::new();
        assert_eq!(
            Framing::LengthPrefixed.append(&mut buf, b"abc", (0, 1, 0), usize::MAX),
            Some(7)
        );
        assert_eq!(buf, [3, 0, 0, 0, b'a', b'b', b'c']);
    }

    #[test]
    fn torq_layout_and_crc() {
        let mut buf = Vec::new();
        let f = Framing::Torq {
            domain: 4,
            source: 9,
        };
        assert_eq!(
            f.append(&mut buf, b"hello", (0, 5, 77), usize::MAX),
            Some(37)
        );
        assert_eq!(f.append(&mut buf, b"", (0, 6, 78), usize::MAX), Some(32));
        assert_eq!(&buf[0..4], &0xDEAD_BEEFu32.to_le_bytes());
        assert_eq!(buf[4..8], [4, 1, 9, 0]);
        assert_eq!(u64::from_le_bytes(buf[8..16].try_into().unwrap()), 5);
        assert_eq!(u64::from_le_bytes(buf[16..24].try_into().unwrap()), 77);
        assert_eq!(u32::from_le_bytes(buf[24..28].try_into().unwrap()), 5);
        assert_eq!(&buf[32..37], b"hello");
        let mut crc = crc32fast::Hasher::new();
        crc.update(&buf[..28]);
        crc.update(b"hello");
        assert_eq!(
            u32::from_le_bytes(buf[28..32].try_into().unwrap()),
            crc.finalize()
        );
        let empty = &buf[37..];
        assert_eq!(u64::from_le_bytes(empty[8..16].try_into().unwrap()), 6);
        assert_eq!(
            u32::from_le_bytes(empty[28..32].try_into().unwrap()),
            crc32fast::hash(&empty[..28])
        );
    }

    #[test]
    fn torq_crc_is_right_for_every_length() {
        // Payloads of 0..=80 bytes: hashed runs of 28..=108 bytes, every remainder
        // modulo 16 (whole blocks only, and a partial block of every length).
        let f = Framing::Torq {
            domain: 2,
            source: 3,
        };
        for len in 0..=80usize {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            let mut buf = vec![0xAA; 3];
            assert_eq!(
                f.append(&mut buf, &payload[..], (0, len as u64, 99), usize::MAX),
                Some(32 + len)
            );
            let frame = &buf[3..];
            let mut crc = crc32fast::Hasher::new();
            crc.update(&frame[..28]);
            crc.update(&payload);
            assert_eq!(frame[28..32], crc.finalize().to_le_bytes(), "payload {len}");
            assert_eq!(&frame[32..], &payload[..]);
            assert_eq!(buf[..3], [0xAA; 3]);
        }
    }

    #[test]
    fn sinkgen_checksum_is_right_for_every_length() {
        for len in 0..=80usize {
            let body: Vec<u8> = (0..len).map(|i| (i * 13 + len) as u8).collect();
            let mut buf = Vec::new();
            Framing::Sinkgen.append(&mut buf, &body[..], (5, len as u64, 7), usize::MAX);
            let (frame, used) = protocol::decode(&buf, 1 << 20).unwrap().unwrap();
            assert_eq!((used, frame.body), (36 + len, &body[..]));
        }
    }

    #[test]
    fn sinkgen_frames_are_protocol_data_frames() {
        let mut buf = Vec::new();
        let f = Framing::Sinkgen;
        assert_eq!(
            f.append(&mut buf, b"abc", (9, 1, 1_000), usize::MAX),
            Some(39)
        );
        assert_eq!(f.frame_len(&buf), 39);
        let (frame, used) = protocol::decode(&buf, 1 << 20).unwrap().unwrap();
        assert_eq!(used, 39);
        assert_eq!(frame.header.kind, protocol::Kind::Data);
        assert_eq!(
            (
                frame.header.session,
                frame.header.sequence,
                frame.header.timestamp
            ),
            (9, 1, 1_000)
        );
        assert_eq!(frame.body, b"abc");
    }

    #[test]
    fn frames_sealed_later_are_the_frames_append_writes() {
        let framings = [
            Framing::LengthPrefixed,
            Framing::Torq {
                domain: 3,
                source: 4,
            },
            Framing::Sinkgen,
        ];
        for f in framings {
            let (mut sealed, mut later) = (Vec::new(), Vec::new());
            for len in 0..=80usize {
                let payload: Vec<u8> = (0..len).map(|i| (i * 11 + len) as u8).collect();
                let fields = (7, len as u64 + 1, 1_000 + len as u64);
                let a = f.append(&mut sealed, &payload[..], fields, usize::MAX);
                let b = f.append_unsealed(&mut later, &payload[..], fields, usize::MAX);
                assert_eq!(a, b, "{f:?}, payload {len}");
            }
            // Sealed in two runs, as a batch after a frame a sender sealed itself.
            let cut = f.frame_len(&sealed) + f.frame_len(&sealed[f.frame_len(&sealed)..]);
            f.seal_all(&mut later[..cut]);
            f.seal_all(&mut later[cut..]);
            assert_eq!(later, sealed, "{f:?}");
        }
    }

    /// Sealing reports the frames' common length only when they all have it.
    #[test]
    fn sealing_measures_a_common_frame_length() {
        for f in [
            Framing::Torq {
                domain: 3,
                source: 4,
            },
            Framing::Sinkgen,
        ] {
            let (mut same, mut mixed) = (Vec::new(), Vec::new());
            for sequence in 1..=3u64 {
                let fields = (7, sequence, 1_000);
                f.append_unsealed(&mut same, &[1u8; 20][..], fields, usize::MAX);
                f.append_unsealed(
                    &mut mixed,
                    &vec![1u8; 19 + sequence as usize][..],
                    fields,
                    usize::MAX,
                );
            }
            assert_eq!(f.seal_all(&mut same), Some(f.header_len() + 20), "{f:?}");
            assert_eq!(f.seal_all(&mut mixed), None, "{f:?}");
        }
        assert_eq!(Framing::Sinkgen.seal_all(&mut []), None);
    }

    #[test]
    fn whole_frames_stops_at_a_torn_frame() {
        let mut buf = Vec::new();
        let f = Framing::LengthPrefixed;
        f.append(&mut buf, b"aa", (0, 0, 0), usize::MAX);
        f.append(&mut buf, b"bbbb", (0, 0, 0), usize::MAX);
        f.append(&mut buf, b"c", (0, 0, 0), usize::MAX);
        assert_eq!(f.whole_frames(&buf, 0), (0, 0));
        assert_eq!(f.whole_frames(&buf, 6), (1, 6));
        assert_eq!(f.whole_frames(&buf, 13), (1, 6));
        assert_eq!(f.whole_frames(&buf, 14), (2, 14));
        assert_eq!(f.whole_frames(&buf, buf.len()), (3, 19));
    }
}
