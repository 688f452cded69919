//! Whole frames out of a read buffer, without copying their bodies.

use bytes::{Buf, Bytes, BytesMut};

use crate::protocol::{self, Control, Kind, ProtocolError, RefuseCode};

/// The bytes a read buffer grows by when it has less room than this.
pub(crate) const READ_CHUNK: usize = 64 << 10;

/// What the front of a read buffer holds.
///
/// Kept small (the per-frame path moves it): a data frame is its session, sequence
/// and body; a control frame, rare, is boxed.
pub(crate) enum Next {
    /// A data frame, taken out of the buffer: its body shares the buffer's memory
    /// (no copy).
    Data {
        session: u64,
        sequence: u64,
        body: Bytes,
    },
    /// A control frame, taken out of the buffer and parsed.
    Control(Kind, Box<Control>),
    /// Part of a frame: the buffer must hold this many bytes before it is whole.
    Need(usize),
}

/// Takes the whole frame at the front of `buf`, if there is one.
#[inline]
pub(crate) fn next(buf: &mut BytesMut, max_body: usize) -> Result<Next, ProtocolError> {
    let Some((frame, used)) = protocol::decode(&buf[..], max_body)? else {
        let need = match buf.get(4..8) {
            Some(len) => {
                let len = u32::from_le_bytes(len.try_into().expect("4 bytes"));
                protocol::HEADER_LEN + len as usize
            }
            None => protocol::HEADER_LEN,
        };
        return Ok(Next::Need(need));
    };
    let header = frame.header;
    if header.kind == Kind::Data {
        // The frame is split off (one reference count, no copy), its header skipped.
        let mut body = buf.split_to(used).freeze();
        body.advance(protocol::HEADER_LEN);
        return Ok(Next::Data {
            session: header.session,
            sequence: header.sequence,
            body,
        });
    }
    let control = Control::parse(&frame);
    buf.advance(used);
    Ok(Next::Control(header.kind, Box::new(control?)))
}

/// Makes room for `need` bytes in all (and at least some spare room to read into).
pub(crate) fn reserve(buf: &mut BytesMut, need: usize) {
    let want = need.saturating_sub(buf.len()).max(READ_CHUNK / 4);
    if buf.capacity() - buf.len() < want {
        buf.reserve(want.max(READ_CHUNK));
    }
}

/// The refusal a receiver sends before closing a stream it cannot read further.
pub(crate) fn refusal_for(error: &ProtocolError) -> Control {
    let code = match error {
        ProtocolError::TooLarge { .. } => RefuseCode::TooLarge,
        _ => RefuseCode::Protocol,
    };
    Control::Refuse {
        code,
        reason: error.to_string(),
    }
}

/// Nanoseconds since the Unix epoch, for control frames' timestamps.
pub(crate) fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
