//! The torq wire format, read side: the 32-byte little-endian header, then the
//! payload. The sinks write it (`sinkgen-runtime`); the relay and the
//! subscribers in this example read and check it.

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Every header starts with this.
pub const MAGIC: u32 = 0xDEAD_BEEF;
/// The only header version.
pub const VERSION: u8 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 32;
/// Flag of the control frame a subscriber sends to subscribe to a domain
/// (this example's relay protocol; data frames never set it).
pub const FLAG_SUBSCRIBE: u8 = 0x80;
/// Largest payload the readers accept.
pub const MAX_PAYLOAD: u32 = 1 << 20;

/// A decoded torq header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Relay domain.
    pub domain: u8,
    /// Source id of the sending service.
    pub source: u8,
    /// Flags.
    pub flags: u8,
    /// Per-sink sequence number, from 1.
    pub sequence: u64,
    /// Nanoseconds since the Unix epoch at send time.
    pub timestamp: u64,
    /// Payload length.
    pub payload_size: u32,
}

/// One whole frame: its header and the raw bytes (header and payload).
#[derive(Debug, Clone)]
pub struct Frame {
    /// The decoded header.
    pub header: Header,
    /// The frame exactly as received, header included.
    pub raw: Bytes,
}

impl Frame {
    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.raw[HEADER_LEN..]
    }
}

/// Why a frame was rejected.
#[derive(Debug)]
pub enum FrameError {
    /// The stream ended (cleanly, between frames).
    Closed,
    /// The stream ended or failed inside a frame.
    Io(std::io::Error),
    /// The bytes are not a valid torq frame.
    Invalid(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Closed => f.write_str("connection closed"),
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::Invalid(why) => write!(f, "invalid frame: {why}"),
        }
    }
}

/// Builds a frame (used for the subscription control frame and by tests).
pub fn encode(domain: u8, source: u8, flags: u8, sequence: u64, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(HEADER_LEN + payload.len());
    buf.put_u32_le(MAGIC);
    buf.put_u8(domain);
    buf.put_u8(VERSION);
    buf.put_u8(source);
    buf.put_u8(flags);
    buf.put_u64_le(sequence);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    buf.put_u64_le(now);
    buf.put_u32_le(payload.len() as u32);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&buf[..28]);
    crc.update(payload);
    buf.put_u32_le(crc.finalize());
    buf.put_slice(payload);
    buf.freeze()
}

/// Parses and checks a header (everything but the CRC, which needs the payload).
pub fn parse_header(b: &[u8; HEADER_LEN]) -> Result<Header, FrameError> {
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let magic = u32_at(0);
    if magic != MAGIC {
        return Err(FrameError::Invalid(format!(
            "magic {magic:#010x}, expected {MAGIC:#010x}"
        )));
    }
    if b[5] != VERSION {
        return Err(FrameError::Invalid(format!(
            "version {}, expected {VERSION}",
            b[5]
        )));
    }
    let payload_size = u32_at(24);
    if payload_size > MAX_PAYLOAD {
        return Err(FrameError::Invalid(format!(
            "payload of {payload_size} bytes"
        )));
    }
    Ok(Header {
        domain: b[4],
        source: b[6],
        flags: b[7],
        sequence: u64_at(8),
        timestamp: u64_at(16),
        payload_size,
    })
}

/// Reads the next whole frame: the header, then exactly `payload_size` bytes,
/// then checks the CRC32 over header bytes 0..28 and the payload.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Frame, FrameError> {
    let mut head = [0u8; HEADER_LEN];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            // Distinguish a clean close from one inside a header.
            return Err(FrameError::Closed);
        }
        Err(e) => return Err(FrameError::Io(e)),
    }
    let header = parse_header(&head)?;
    let mut raw = BytesMut::with_capacity(HEADER_LEN + header.payload_size as usize);
    raw.extend_from_slice(&head);
    raw.resize(HEADER_LEN + header.payload_size as usize, 0);
    r.read_exact(&mut raw[HEADER_LEN..])
        .await
        .map_err(FrameError::Io)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&raw[..28]);
    crc.update(&raw[HEADER_LEN..]);
    let want = u32::from_le_bytes([head[28], head[29], head[30], head[31]]);
    let got = crc.finalize();
    if got != want {
        return Err(FrameError::Invalid(format!(
            "crc {got:#010x}, header says {want:#010x}"
        )));
    }
    Ok(Frame {
        header,
        raw: raw.freeze(),
    })
}

/// Reads one length-prefixed frame (u32 little-endian length, then the payload),
/// the framing of direct sinks.
pub async fn read_length_prefixed<R: AsyncRead + Unpin>(r: &mut R) -> Result<Bytes, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_PAYLOAD {
        return Err(FrameError::Invalid(format!("length prefix of {len} bytes")));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf).await.map_err(FrameError::Io)?;
    Ok(buf.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_frame_round_trips_and_a_flipped_bit_is_caught() {
        let frame = encode(3, 9, 0, 42, b"hello");
        let mut r = &frame[..];
        let got = read_frame(&mut r).await.unwrap();
        assert_eq!(got.header.domain, 3);
        assert_eq!(got.header.source, 9);
        assert_eq!(got.header.sequence, 42);
        assert_eq!(got.payload(), b"hello");

        let mut bad = frame.to_vec();
        bad[HEADER_LEN] ^= 1;
        let mut r = &bad[..];
        assert!(matches!(
            read_frame(&mut r).await,
            Err(FrameError::Invalid(_))
        ));

        let mut r = &b""[..];
        assert!(matches!(read_frame(&mut r).await, Err(FrameError::Closed)));
    }
}
