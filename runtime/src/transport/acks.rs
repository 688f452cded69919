//! The sink's side of the sinkgen protocol on a socket: the handshake (HELLO, then
//! WELCOME or REFUSE) and the reader of acknowledgements that runs while the
//! connection task writes and while it idles (see `docs/PROTOCOL.md`).

use std::io;

use crate::error::{ErrorClass, TransportError};
use crate::framing::now_nanos;
use crate::protocol::{self, Control, Hello, MAX_CONTROL_BODY};

use super::io::{Socket, peer_closed};

/// What a sink says in its HELLO.
#[derive(Clone, Debug)]
pub(crate) struct Greeting {
    /// The sink's producer session.
    pub(crate) session: u64,
    /// The sequence of the first frame the sink will send on this connection (the
    /// oldest frame it keeps or has queued), 0 when it holds none.
    pub(crate) next: u64,
    pub(crate) hello: Hello,
    /// Early data (`Some`): the session has never written a frame, so no peer has
    /// any of it (WELCOME's `have` is surely 0), and the sink writes its frames right
    /// behind HELLO instead of waiting a round trip for the answer. The bytes are
    /// the head of its first batch (whole or cut frames), written in the same
    /// system call as HELLO as far as the socket takes them (see
    /// `Connection::take_early_written`). The connection is returned before
    /// WELCOME; the reader takes it (or REFUSE) first, and the task bounds the wait
    /// (see `docs/PROTOCOL.md`, "Handshake").
    pub(crate) early: Option<Vec<u8>>,
}

/// Bytes [`AckReader`] asks the socket for at a time.
const READ_CHUNK: usize = 4096;

/// What [`AckReader::buf`] holds at most while ACKs stream: one read after the torn
/// ACK (a header, no body) a previous read ended in. Only a REFUSE, the last frame
/// of a connection, can need more.
const BUF_CAPACITY: usize = READ_CHUNK + protocol::HEADER_LEN;

/// Reads what the peer sends on an acknowledged connection: its answer to HELLO
/// (WELCOME or REFUSE), then ACKs of the sink's session (cumulative), or a REFUSE
/// (the peer closes after it).
#[derive(Debug)]
pub(crate) struct AckReader {
    session: u64,
    /// Whether WELCOME came (before it, only WELCOME or REFUSE may come).
    welcomed: bool,
    /// Whether the connection carries early data: WELCOME comes while the task
    /// writes, and its `have` counts as an acknowledgement. Without, the task counts
    /// it when the connection opens (`Connection::welcome_have`), for the frames it
    /// is about to write again.
    early: bool,
    /// Bytes read and not yet parsed (at most one torn frame between reads).
    buf: Vec<u8>,
    /// The highest sequence acknowledged on this connection (WELCOME's `have` first).
    acked: u64,
    /// Whether `acked` advanced since [`AckReader::take`].
    fresh: bool,
    /// The highest sequence of the session the acceptor had when it welcomed the sink.
    pub(crate) have: u64,
    /// Bytes of the greeting's early data written with HELLO (taken by the task).
    pub(crate) early_written: usize,
}

impl AckReader {
    fn new(session: u64, early: bool) -> AckReader {
        AckReader {
            session,
            welcomed: false,
            early,
            // Sized once: the reader never grows it while ACKs stream.
            buf: Vec::with_capacity(BUF_CAPACITY),
            acked: 0,
            fresh: false,
            have: 0,
            early_written: 0,
        }
    }

    /// Whether the peer has not answered HELLO yet (a connection with early data).
    pub(crate) fn awaiting_welcome(&self) -> bool {
        !self.welcomed
    }

    /// The highest sequence newly acknowledged since the last call, if any.
    pub(crate) fn take(&mut self) -> Option<u64> {
        std::mem::take(&mut self.fresh).then_some(self.acked)
    }

    /// Whether acknowledgements arrived that [`AckReader::take`] has not returned.
    pub(crate) fn fresh(&self) -> bool {
        self.fresh
    }

    /// Reads everything the socket holds (as far as tokio has seen, see
    /// [`Socket::try_read`]) and parses it; `Some(error)` when the peer closed,
    /// refused, broke the protocol, or the read failed.
    pub(super) fn read<S: Socket>(&mut self, s: &S) -> Option<TransportError> {
        self.read_with(|b| s.try_read(b))
    }

    /// [`AckReader::read`] asking the kernel whatever tokio has seen: after the
    /// connection failed, so that acknowledgements the peer sent before it went are
    /// counted even when tokio had not yet seen them arrive.
    pub(super) fn read_rest<S: Socket>(&mut self, s: &S) -> Option<TransportError> {
        self.read_with(|b| s.read_now(b))
    }

    fn read_with(
        &mut self,
        mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    ) -> Option<TransportError> {
        let mut scratch = [0u8; READ_CHUNK];
        loop {
            match read(&mut scratch) {
                Ok(0) if !self.welcomed => {
                    return Some(TransportError::new(
                        ErrorClass::Retryable,
                        io::ErrorKind::UnexpectedEof,
                        "peer closed the connection before answering HELLO",
                    ));
                }
                Ok(0) => return Some(peer_closed()),
                Ok(n) => {
                    self.buf.extend_from_slice(&scratch[..n]);
                    if let Err(e) = self.parse() {
                        return Some(e);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) => return Some(TransportError::from_io("read", &e)),
            }
        }
    }

    /// Takes every whole frame out of `buf`.
    fn parse(&mut self) -> Result<(), TransportError> {
        let mut at = 0;
        let result = loop {
            let (control, used) = match protocol::decode(&self.buf[at..], MAX_CONTROL_BODY) {
                Ok(Some((frame, used))) => (Control::parse(&frame), used),
                Ok(None) => break Ok(()),
                Err(e) => break Err(broken(&e.to_string())),
            };
            at += used;
            if !self.welcomed {
                if let Err(e) = self.answer(control) {
                    break Err(e);
                }
                continue;
            }
            match control {
                Ok(Control::Ack { session, sequence }) if session == self.session => {
                    if sequence > self.acked {
                        self.acked = sequence;
                        self.fresh = true;
                    }
                }
                // Another session's acknowledgement is not ours to count.
                Ok(Control::Ack { .. }) => {}
                Ok(Control::Refuse { code, reason }) => break Err(refused(code, &reason)),
                Ok(other) => break Err(broken(&format!("unexpected {other:?} from the peer"))),
                Err(e) => break Err(broken(&e.to_string())),
            }
        };
        self.buf.drain(..at);
        result
    }

    /// The peer's answer to HELLO: WELCOME (its `have` counts as acknowledged), or
    /// REFUSE; anything else first breaks the protocol.
    fn answer(
        &mut self,
        control: Result<Control, protocol::ProtocolError>,
    ) -> Result<(), TransportError> {
        match control {
            Ok(Control::Welcome { have, version, .. })
                if (protocol::MIN_VERSION..=protocol::VERSION).contains(&version) =>
            {
                self.welcomed = true;
                self.have = have;
                if have > self.acked {
                    self.acked = have;
                    self.fresh = self.early;
                }
                Ok(())
            }
            Ok(Control::Welcome { version, .. }) => Err(broken(&format!(
                "the peer chose version {version}, outside {}..={}",
                protocol::MIN_VERSION,
                protocol::VERSION
            ))),
            Ok(Control::Refuse { code, reason }) => Err(refused(code, &reason)),
            Ok(other) => Err(broken(&format!(
                "expected WELCOME or REFUSE, got {other:?}"
            ))),
            Err(e) => Err(broken(&e.to_string())),
        }
    }
}

fn broken(what: &str) -> TransportError {
    TransportError::new(
        ErrorClass::Retryable,
        io::ErrorKind::InvalidData,
        format!("sinkgen protocol error: {what}"),
    )
}

/// The error a REFUSE becomes: `status()` shows it as the last error, with the code
/// and the peer's reason; the sink retries under its backoff.
fn refused(code: protocol::RefuseCode, reason: &str) -> TransportError {
    TransportError::new(
        ErrorClass::Retryable,
        io::ErrorKind::ConnectionRefused,
        format!(
            "refused by the peer: code {} ({code:?}): {reason}",
            code.code()
        ),
    )
}

/// Sends HELLO and waits for WELCOME (or REFUSE); with early data, returns once
/// HELLO is written, and the reader takes the answer later. The caller bounds it
/// with the connect timeout. Bytes the peer sent after WELCOME stay in the returned
/// reader.
pub(super) async fn handshake<S: Socket>(
    s: &S,
    greeting: &Greeting,
) -> Result<AckReader, TransportError> {
    let mut hello = Vec::new();
    let body_len =
        greeting.hello.service.len() + greeting.hello.sink.len() + greeting.hello.target.len() + 10;
    if body_len > MAX_CONTROL_BODY {
        return Err(TransportError::new(
            ErrorClass::Fatal,
            io::ErrorKind::InvalidInput,
            "the sink's names are too long for a sinkgen HELLO (64 KiB at most)",
        ));
    }
    Control::Hello {
        session: greeting.session,
        next: greeting.next,
        hello: greeting.hello.clone(),
    }
    .append(&mut hello, now_nanos());
    let mut written = 0;
    let mut early_written = 0;
    if let Some(early) = &greeting.early {
        // HELLO and the first frames in one write: a peer woken by HELLO finds them
        // there. One try only: data is written here only if the connection is
        // returned to the task (no await follows).
        match s.try_write_vectored(&[io::IoSlice::new(&hello), io::IoSlice::new(early)]) {
            Ok(n) => {
                written = n.min(hello.len());
                early_written = n - written;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(TransportError::from_io("write HELLO", &e)),
        }
    }
    while written < hello.len() {
        match s.try_write(&hello[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => s
                .writable()
                .await
                .map_err(|e| TransportError::from_io("write", &e))?,
            Err(e) => return Err(TransportError::from_io("write HELLO", &e)),
        }
    }
    let mut reader = AckReader::new(greeting.session, greeting.early.is_some());
    if greeting.early.is_some() {
        reader.early_written = early_written;
        return Ok(reader);
    }
    while !reader.welcomed {
        s.readable()
            .await
            .map_err(|e| TransportError::from_io("read", &e))?;
        if let Some(e) = reader.read(s) {
            return Err(e);
        }
    }
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A peer that acknowledges and dies while the sink's task is busy writing: the
    /// reactor may not have reported the socket readable when the task's write fails,
    /// and tokio's `try_read` then answers `WouldBlock` without asking the kernel. The
    /// reads after the failure ask the kernel, so the peer's last acknowledgement still
    /// counts (before, the sink wrote those frames again to the next receiver).
    #[test]
    fn acknowledgements_the_reactor_has_not_reported_count_after_a_failure() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        rt.block_on(async {
            let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            ours.set_nonblocking(true).unwrap();
            let ours = tokio::net::UnixStream::from_std(ours).unwrap();
            let mut ack = Vec::new();
            Control::Ack {
                session: 7,
                sequence: 42,
            }
            .append(&mut ack, 0);
            theirs.write_all(&ack).unwrap();
            drop(theirs);
            // Nothing here yields to the reactor: it has not looked at the socket.
            let mut reader = AckReader::new(7, false);
            reader.welcomed = true;
            let failed = reader.read_rest(&ours).expect("the peer closed");
            assert_eq!(failed.io_kind(), io::ErrorKind::UnexpectedEof);
            assert_eq!(reader.take(), Some(42));
        });
    }

    /// Before WELCOME, a connection with early data takes only the answer to HELLO:
    /// an ACK first breaks the protocol. WELCOME and the ACKs behind it in the same
    /// read all count.
    #[test]
    fn early_data_takes_the_answer_first() {
        let parse = |frames: &[Control]| {
            let mut reader = AckReader::new(7, true);
            for c in frames {
                c.append(&mut reader.buf, 0);
            }
            (reader.parse(), reader)
        };
        let ack = Control::Ack {
            session: 7,
            sequence: 3,
        };
        let welcome = Control::Welcome {
            session: 1,
            have: 0,
            version: protocol::VERSION,
        };
        let (early_ack, reader) = parse(std::slice::from_ref(&ack));
        let e = early_ack.expect_err("an ACK before WELCOME");
        assert!(e.to_string().contains("expected WELCOME or REFUSE"), "{e}");
        assert!(reader.awaiting_welcome());
        let (ok, mut reader) = parse(&[welcome, ack]);
        ok.unwrap();
        assert!(!reader.awaiting_welcome());
        assert_eq!(reader.take(), Some(3));
        let refuse = Control::Refuse {
            code: protocol::RefuseCode::UnknownName,
            reason: "not declared".into(),
        };
        let (refused, _) = parse(&[refuse]);
        let e = refused.expect_err("a REFUSE");
        assert_eq!(e.io_kind(), io::ErrorKind::ConnectionRefused);
        assert!(e.to_string().contains("not declared"), "{e}");
    }
}
