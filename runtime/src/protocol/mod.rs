//! The sinkgen wire protocol (framing `"sinkgen"`): frames with their producer's
//! session and sequence, the handshake, acknowledgements, refusals and gap notices.
//!
//! `docs/PROTOCOL.md` in the repository is this module's prose twin: the byte layout
//! is specified there, precisely enough to write an independent decoder. Sinks,
//! receivers and `sinkgen relay` all read and write frames through this module.
//!
//! Every frame is a [`HEADER_LEN`]-byte header and a body:
//!
//! | bytes  | field                                                     |
//! |--------|-----------------------------------------------------------|
//! | 0..2   | magic `SG`                                                |
//! | 2      | version (1)                                               |
//! | 3      | kind ([`Kind`])                                           |
//! | 4..8   | body length (u32)                                         |
//! | 8..16  | session (u64)                                             |
//! | 16..24 | sequence (u64)                                            |
//! | 24..32 | timestamp (u64), nanoseconds since the Unix epoch         |
//! | 32..36 | CRC-32 (IEEE) of bytes 0..32, then of the body            |
//!
//! # Examples
//!
//! ```
//! use sinkgen_runtime::protocol::{self, Control, Kind};
//!
//! let mut wire = Vec::new();
//! protocol::append_data(&mut wire, 7, 1, 1_000, b"abc");
//! Control::Ack { session: 7, sequence: 1 }.append(&mut wire, 1_001);
//!
//! let (frame, used) = protocol::decode(&wire, protocol::DEFAULT_MAX_FRAME)?.unwrap();
//! assert_eq!((frame.header.kind, frame.header.sequence, frame.body), (Kind::Data, 1, &b"abc"[..]));
//! let (ack, _) = protocol::decode(&wire[used..], protocol::DEFAULT_MAX_FRAME)?.unwrap();
//! assert_eq!(Control::parse(&ack)?, Control::Ack { session: 7, sequence: 1 });
//! # Ok::<(), protocol::ProtocolError>(())
//! ```

mod control;
mod error;

#[cfg(test)]
mod tests;

pub use control::{Control, Hello, RefuseCode, Role};
pub use error::ProtocolError;

/// The first two bytes of every frame.
pub const MAGIC: [u8; 2] = *b"SG";
/// The newest protocol version this runtime speaks.
pub const VERSION: u8 = 1;
/// The oldest protocol version this runtime speaks.
pub const MIN_VERSION: u8 = 1;
/// Size of a frame's header in bytes.
pub const HEADER_LEN: usize = 36;
/// The largest body a receiver accepts unless configured otherwise (16 MiB).
pub const DEFAULT_MAX_FRAME: usize = 16 << 20;
/// The largest body of a control frame (64 KiB).
pub const MAX_CONTROL_BODY: usize = 64 << 10;
/// How long an acceptor that sent REFUSE still reads (and drops) what the opener
/// sends, until the opener closes, before it closes itself: a TCP socket closed with
/// unread bytes (early data behind HELLO) resets the connection, and the reset can
/// destroy the REFUSE before the opener reads it (see `docs/PROTOCOL.md`).
pub const REFUSE_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// Offset of the checksum in the header.
const CHECKSUM_AT: usize = 32;

/// What a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// A message, with its producer's session and sequence.
    Data,
    /// The opener's first frame: version range, role and names.
    Hello,
    /// The acceptor's answer to [`Kind::Hello`].
    Welcome,
    /// Cumulative acknowledgement of one producer session.
    Ack,
    /// A refusal with a code and a reason; the sender closes after it.
    Refuse,
    /// Frames of a producer session that will never come.
    Gap,
    /// Names the producer of a session (relay to subscriber).
    Producer,
}

impl Kind {
    /// The kind's byte on the wire.
    #[must_use]
    pub const fn byte(self) -> u8 {
        match self {
            Kind::Data => 1,
            Kind::Hello => 2,
            Kind::Welcome => 3,
            Kind::Ack => 4,
            Kind::Refuse => 5,
            Kind::Gap => 6,
            Kind::Producer => 7,
        }
    }

    /// The kind of a byte on the wire, if it is one.
    #[must_use]
    pub const fn from_byte(byte: u8) -> Option<Kind> {
        Some(match byte {
            1 => Kind::Data,
            2 => Kind::Hello,
            3 => Kind::Welcome,
            4 => Kind::Ack,
            5 => Kind::Refuse,
            6 => Kind::Gap,
            7 => Kind::Producer,
            _ => return None,
        })
    }
}

/// A frame's header, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The protocol version the frame is written in.
    pub version: u8,
    /// What the frame is.
    pub kind: Kind,
    /// Bytes of body after the header.
    pub length: u32,
    /// The producer session (data, ack, gap, producer) or the sender's session.
    pub session: u64,
    /// The frame's sequence, or the kind's sequence field.
    pub sequence: u64,
    /// Nanoseconds since the Unix epoch when the frame was made.
    pub timestamp: u64,
    /// CRC-32 of header bytes 0..32, then of the body.
    pub checksum: u32,
}

/// One whole frame, borrowed from the bytes it was decoded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The header.
    pub header: Header,
    /// The body: the message of a data frame, the body of a control frame.
    pub body: &'a [u8],
}

/// Reads the frame at the start of `bytes`.
///
/// Returns the frame and how many bytes it took, or `None` while `bytes` holds only
/// part of it (a torn frame: read more and call again).
///
/// # Errors
///
/// A broken stream: wrong magic, an unknown version or kind, a body longer than
/// `max_body` (or than [`MAX_CONTROL_BODY`] for a control frame), or a checksum that
/// does not match. The connection cannot be read further.
#[inline]
pub fn decode(bytes: &[u8], max_body: usize) -> Result<Option<(Frame<'_>, usize)>, ProtocolError> {
    let Some(head) = bytes.first_chunk::<HEADER_LEN>() else {
        // Check what is there already, so garbage is refused without waiting for more.
        return check_prefix(bytes).map(|()| None);
    };
    let header = parse_header(head)?;
    let limit = if header.kind == Kind::Data {
        max_body
    } else {
        MAX_CONTROL_BODY
    };
    let length = header.length as usize;
    if length > limit {
        return Err(ProtocolError::TooLarge { length, max: limit });
    }
    let Some(body) = bytes.get(HEADER_LEN..HEADER_LEN + length) else {
        return Ok(None);
    };
    let computed = checksum(&head[..CHECKSUM_AT], body);
    if computed != header.checksum {
        return Err(ProtocolError::Checksum {
            expected: header.checksum,
            computed,
        });
    }
    Ok(Some((Frame { header, body }, HEADER_LEN + length)))
}

/// The checks that need fewer than [`HEADER_LEN`] bytes.
fn check_prefix(bytes: &[u8]) -> Result<(), ProtocolError> {
    for (i, &b) in bytes.iter().take(2).enumerate() {
        if b != MAGIC[i] {
            let mut found = [0; 2];
            found[..bytes.len().min(2)].copy_from_slice(&bytes[..bytes.len().min(2)]);
            return Err(ProtocolError::Magic { found });
        }
    }
    if let Some(&v) = bytes.get(2)
        && !(MIN_VERSION..=VERSION).contains(&v)
    {
        return Err(ProtocolError::Version { found: v });
    }
    if let Some(&k) = bytes.get(3)
        && Kind::from_byte(k).is_none()
    {
        return Err(ProtocolError::Kind { found: k });
    }
    Ok(())
}

#[inline]
fn parse_header(h: &[u8; HEADER_LEN]) -> Result<Header, ProtocolError> {
    let kind = match Kind::from_byte(h[3]) {
        Some(kind) if h[..2] == MAGIC && (MIN_VERSION..=VERSION).contains(&h[2]) => kind,
        // Which check failed, in the order they are made on a prefix.
        _ => {
            check_prefix(&h[..4])?;
            unreachable!("check_prefix refuses what the match above refused")
        }
    };
    let u64_at = |at: usize| u64::from_le_bytes(h[at..at + 8].try_into().expect("8 bytes"));
    let u32_at = |at: usize| u32::from_le_bytes(h[at..at + 4].try_into().expect("4 bytes"));
    Ok(Header {
        version: h[2],
        kind,
        length: u32_at(4),
        session: u64_at(8),
        sequence: u64_at(16),
        timestamp: u64_at(24),
        checksum: u32_at(CHECKSUM_AT),
    })
}

/// Appends one data frame: `body` as the message of `session` at `sequence`.
///
/// # Panics
///
/// If `body` is longer than `u32::MAX` bytes.
pub fn append_data(buf: &mut Vec<u8>, session: u64, sequence: u64, timestamp: u64, body: &[u8]) {
    append_frame(buf, Kind::Data, session, sequence, timestamp, body);
}

/// Appends one frame of any kind with the current [`VERSION`].
fn append_frame(
    buf: &mut Vec<u8>,
    kind: Kind,
    session: u64,
    sequence: u64,
    timestamp: u64,
    body: &[u8],
) {
    let start = buf.len();
    buf.reserve(HEADER_LEN + body.len());
    buf.resize(start + HEADER_LEN, 0);
    buf.extend_from_slice(body);
    let length = u32::try_from(body.len()).expect("a frame body fits in u32");
    seal(
        &mut buf[start..],
        kind,
        length,
        session,
        sequence,
        timestamp,
    );
}

/// Writes the header of a frame whose body already follows it in `frame`, and its
/// checksum. `frame` is the whole frame: header bytes (any content) then the body.
pub(crate) fn seal(
    frame: &mut [u8],
    kind: Kind,
    length: u32,
    session: u64,
    sequence: u64,
    timestamp: u64,
) {
    let h = head(kind, length, session, sequence, timestamp);
    // Bytes 0..32 then the body in one pass (see `crc_before_body`), then the header.
    let sum = crate::crc::crc_before_body(frame, &h);
    frame[..CHECKSUM_AT].copy_from_slice(&h);
    frame[CHECKSUM_AT..HEADER_LEN].copy_from_slice(&sum.to_le_bytes());
}

/// The checksummed header bytes (0..32) of a data frame with a `length`-byte body.
#[inline]
pub(crate) fn data_head(length: u32, session: u64, sequence: u64, timestamp: u64) -> [u8; 32] {
    head(Kind::Data, length, session, sequence, timestamp)
}

/// The header bytes 0..32 (all but the checksum).
#[inline]
fn head(kind: Kind, length: u32, session: u64, sequence: u64, timestamp: u64) -> [u8; 32] {
    let mut h = [0u8; CHECKSUM_AT];
    h[0..2].copy_from_slice(&MAGIC);
    h[2] = VERSION;
    h[3] = kind.byte();
    h[4..8].copy_from_slice(&length.to_le_bytes());
    h[8..16].copy_from_slice(&session.to_le_bytes());
    h[16..24].copy_from_slice(&sequence.to_le_bytes());
    h[24..32].copy_from_slice(&timestamp.to_le_bytes());
    h
}

#[inline]
fn checksum(head: &[u8], body: &[u8]) -> u32 {
    let mut crc = crate::crc::crc_hasher();
    // A small frame's header and body are hashed as one run, copied side by side:
    // one `update` instead of two, each with its own set-up and partial block, costs
    // less than the copy (see `crate::crc`). Two sizes of run, so that a small
    // frame's copy does not zero a larger one first.
    if head.len() == CHECKSUM_AT && body.len() <= 96 {
        hash_side_by_side::<{ CHECKSUM_AT + 96 }>(&mut crc, head, body);
    } else if head.len() == CHECKSUM_AT && body.len() <= 224 {
        hash_side_by_side::<{ CHECKSUM_AT + 224 }>(&mut crc, head, body);
    } else {
        crc.update(head);
        crc.update(body);
    }
    crc.finalize()
}

/// Hashes `head` then `body` as one run, copied into `N` bytes on the stack
/// (`head.len() + body.len() <= N`).
#[inline(always)]
fn hash_side_by_side<const N: usize>(crc: &mut crc32fast::Hasher, head: &[u8], body: &[u8]) {
    let mut run = [0u8; N];
    let len = head.len() + body.len();
    run[..head.len()].copy_from_slice(head);
    run[head.len()..len].copy_from_slice(body);
    crc.update(&run[..len]);
}

/// The version two ranges share, the highest one, if any.
#[must_use]
pub fn choose_version(min: u8, max: u8) -> Option<u8> {
    let high = max.min(VERSION);
    (high >= min.max(MIN_VERSION)).then_some(high)
}

/// A random non-zero session id (a new one in every process, for every sink).
#[must_use]
pub fn new_session() -> u64 {
    loop {
        let s = fastrand::u64(..);
        if s != 0 {
            return s;
        }
    }
}
