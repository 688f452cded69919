//! Why bytes are not a frame of the protocol.

use std::fmt;

use super::Kind;

/// The stream is not (or no longer) the sinkgen protocol: the connection cannot be
/// read further. The receiver refuses it (code [`Protocol`] or [`TooLarge`]) and
/// closes it.
///
/// [`Protocol`]: super::RefuseCode::Protocol
/// [`TooLarge`]: super::RefuseCode::TooLarge
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The first two bytes are not `SG`.
    Magic {
        /// The bytes found (fewer than two are zero-filled).
        found: [u8; 2],
    },
    /// A version this runtime does not speak.
    Version {
        /// The version byte found.
        found: u8,
    },
    /// A kind byte that names no frame.
    Kind {
        /// The kind byte found.
        found: u8,
    },
    /// A body longer than the receiver accepts.
    TooLarge {
        /// The body length in the header.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// The checksum in the header does not match the frame.
    Checksum {
        /// The checksum in the header.
        expected: u32,
        /// The checksum of the bytes received.
        computed: u32,
    },
    /// A control frame whose body does not hold what its kind needs.
    Body {
        /// The frame's kind.
        kind: Kind,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A data frame where a control frame was expected.
    NotControl,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Magic { found } => write!(
                f,
                "not a sinkgen frame: magic {:02x} {:02x}, expected 53 47 (\"SG\")",
                found[0], found[1]
            ),
            ProtocolError::Version { found } => write!(
                f,
                "protocol version {found} is not spoken here ({}..={})",
                super::MIN_VERSION,
                super::VERSION
            ),
            ProtocolError::Kind { found } => write!(f, "unknown frame kind {found:#04x}"),
            ProtocolError::TooLarge { length, max } => {
                write!(f, "frame body of {length} bytes is over the limit of {max}")
            }
            ProtocolError::Checksum { expected, computed } => write!(
                f,
                "checksum mismatch: header says {expected:#010x}, frame gives {computed:#010x}"
            ),
            ProtocolError::Body { kind, why } => write!(f, "malformed {kind:?} frame: {why}"),
            ProtocolError::NotControl => {
                f.write_str("a data frame where a control frame was expected")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}
