//! Unix and TCP sockets: the connection task's batch writes that watch the read half,
//! the reader of an idle connection, and what the sinkgen protocol (acknowledgements)
//! and the proof of reads (foreign framings) need from a socket.

use std::io;
use std::sync::Arc;

use crate::error::{ErrorClass, TransportError};

use super::acks::AckReader;
use super::io::{Socket, drain_now, drain_reads};
use super::{Connection, WriteStop};

/// A socket connection: the socket, and on an acknowledged connection (sinkgen
/// framing) the reader of the peer's acknowledgements.
pub(crate) struct Sock<S> {
    pub(super) s: Arc<S>,
    pub(super) acks: Option<AckReader>,
    /// Whether a batch write reads the socket's unread count each time the socket is
    /// full (see [`Connection::track_reads`]).
    track: bool,
    /// The last such reading: (position in the batch, unread bytes).
    probe: Option<(usize, u64)>,
}

impl<S> Sock<S> {
    pub(super) fn new(s: S) -> Sock<S> {
        Sock {
            s: Arc::new(s),
            acks: None,
            track: false,
            probe: None,
        }
    }
}

impl Connection {
    /// Acknowledged connections: reads the acknowledgements the socket holds now,
    /// without waiting (see [`Connection::acked`]); the error when the peer closed,
    /// refused or broke the protocol. Nothing to do on other connections.
    pub(crate) fn read_acks(&mut self) -> Result<(), TransportError> {
        #[cfg(feature = "nats")]
        if let Connection::Jet(c) = self {
            return c.read_acks();
        }
        self.read_socket_acks(false).map_or(Ok(()), Err)
    }

    /// Acknowledged connections, after the connection failed or ended: reads the
    /// acknowledgements the kernel holds, also those tokio has not seen arrive (see
    /// [`Connection::acked`]). Errors are the failure already met, and ignored.
    pub(crate) fn read_rest_acks(&mut self) {
        let _ = self.read_socket_acks(true);
    }

    /// An acknowledged socket's reader reads what the socket holds: through tokio's
    /// readiness, or (`now`) asking the kernel (see [`AckReader::read_rest`]).
    fn read_socket_acks(&mut self, now: bool) -> Option<TransportError> {
        fn read<S: Socket>(a: &mut AckReader, s: &S, now: bool) -> Option<TransportError> {
            if now { a.read_rest(s) } else { a.read(s) }
        }
        match self {
            Connection::Unix(Sock {
                s, acks: Some(a), ..
            }) => read(a, &**s, now),
            Connection::Tcp(Sock {
                s, acks: Some(a), ..
            }) => read(a, &**s, now),
            #[cfg(feature = "tls")]
            Connection::Tls(Sock {
                s, acks: Some(a), ..
            }) => read(a, &**s, now),
            _ => None,
        }
    }

    /// Acknowledged connections: the highest sequence of the sink's session the peer
    /// acknowledged since the last call (WELCOME's `have` counts), if it advanced.
    pub(crate) fn acked(&mut self) -> Option<u64> {
        match self {
            Connection::Unix(Sock { acks: Some(a), .. })
            | Connection::Tcp(Sock { acks: Some(a), .. }) => a.take(),
            #[cfg(feature = "tls")]
            Connection::Tls(Sock { acks: Some(a), .. }) => a.take(),
            #[cfg(feature = "nats")]
            Connection::Jet(c) => c.acked(),
            _ => None,
        }
    }

    /// Acknowledged connections: the highest sequence of the sink's session the peer
    /// had when it welcomed the sink (0: none, or not acknowledged).
    pub(crate) fn welcome_have(&self) -> u64 {
        match self {
            Connection::Unix(Sock { acks: Some(a), .. })
            | Connection::Tcp(Sock { acks: Some(a), .. }) => a.have,
            #[cfg(feature = "tls")]
            Connection::Tls(Sock { acks: Some(a), .. }) => a.have,
            _ => 0,
        }
    }

    /// Acknowledged connections with early data: whether the peer has not answered
    /// HELLO yet. The task bounds that wait with the connect timeout.
    pub(crate) fn awaiting_welcome(&self) -> bool {
        match self {
            Connection::Unix(Sock { acks: Some(a), .. })
            | Connection::Tcp(Sock { acks: Some(a), .. }) => a.awaiting_welcome(),
            #[cfg(feature = "tls")]
            Connection::Tls(Sock { acks: Some(a), .. }) => a.awaiting_welcome(),
            _ => false,
        }
    }

    /// Acknowledged connections with early data: the bytes of the greeting's early
    /// data the handshake wrote behind HELLO (0 after the first call).
    pub(crate) fn take_early_written(&mut self) -> usize {
        match self {
            Connection::Unix(Sock { acks: Some(a), .. })
            | Connection::Tcp(Sock { acks: Some(a), .. }) => std::mem::take(&mut a.early_written),
            #[cfg(feature = "tls")]
            Connection::Tls(Sock { acks: Some(a), .. }) => std::mem::take(&mut a.early_written),
            _ => 0,
        }
    }

    /// Bytes written that the peer has not consumed yet (see the `unread` module):
    /// on a Unix socket, not read by the peer process; on TCP, not acknowledged by
    /// the peer's TCP. `None` when unknown (other systems, NATS), and when the peer
    /// has shut the connection down (its queue is purged then, so the count would
    /// claim a read that did not happen). Reads and discards what the peer sent
    /// (only used on unacknowledged connections).
    pub(crate) fn unread(&self) -> Option<u64> {
        let mut scratch = [0u8; 256];
        match self {
            Connection::Unix(c) if c.acks.is_none() => {
                let n = c.s.unread()?;
                drain_now(&*c.s, &mut scratch).is_none().then_some(n)
            }
            Connection::Tcp(c) if c.acks.is_none() => {
                let n = c.s.unread()?;
                drain_now(&*c.s, &mut scratch).is_none().then_some(n)
            }
            #[cfg(feature = "tls")]
            Connection::Tls(c) if c.acks.is_none() => {
                let n = c.s.unread()?;
                drain_now(&*c.s, &mut scratch).is_none().then_some(n)
            }
            _ => None,
        }
    }

    /// Whether the kernel can tell what the peer consumed (Linux sockets without
    /// acknowledgements; see [`Connection::unread`]). Asks nothing of the kernel.
    pub(crate) fn can_prove_reads(&self) -> bool {
        cfg!(target_os = "linux")
            && matches!(
                self,
                Connection::Unix(Sock { acks: None, .. })
                    | Connection::Tcp(Sock { acks: None, .. })
            )
            || self.tls_proves_reads()
    }

    /// Whether this is a TLS connection without acknowledgements on Linux, whose
    /// socket maps the kernel's count of record bytes to plaintext.
    fn tls_proves_reads(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Connection::Tls(Sock { acks: None, .. }) = self {
            return cfg!(target_os = "linux");
        }
        false
    }

    /// Makes batch writes read the socket's unread count whenever the socket is full
    /// (foreign framings; see [`Connection::take_probe`]).
    pub(crate) fn track_reads(&mut self) {
        match self {
            Connection::Unix(c) => c.track = true,
            Connection::Tcp(c) => c.track = true,
            #[cfg(feature = "tls")]
            Connection::Tls(c) => c.track = true,
            #[cfg(feature = "nats")]
            Connection::Nats(_) | Connection::Jet(_) => {}
            #[cfg(feature = "ws")]
            Connection::Ws(_) => {}
        }
    }

    /// The last unread count a batch write read while the socket was full, with the
    /// batch position it was read at; cleared.
    pub(crate) fn take_probe(&mut self) -> Option<(usize, u64)> {
        match self {
            Connection::Unix(c) => c.probe.take(),
            Connection::Tcp(c) => c.probe.take(),
            #[cfg(feature = "tls")]
            Connection::Tls(c) => c.probe.take(),
            #[cfg(feature = "nats")]
            Connection::Nats(_) | Connection::Jet(_) => None,
            #[cfg(feature = "ws")]
            Connection::Ws(_) => None,
        }
    }

    /// After the connection failed: whether the peer reset it, which on a Unix socket
    /// means it closed with bytes it had not read (the kernel then discards them),
    /// and on TCP that it closed with unread bytes or refused bytes sent after its
    /// close. `error` is the failure the task met; a reset still pending on the
    /// socket counts too.
    pub(crate) fn was_reset(&self, error: &TransportError) -> bool {
        if error.io_kind() == io::ErrorKind::ConnectionReset {
            return true;
        }
        let pending = match self {
            Connection::Unix(c) => c.s.take_error(),
            Connection::Tcp(c) => c.s.take_error(),
            #[cfg(feature = "tls")]
            Connection::Tls(c) => c.s.tcp().take_error(),
            #[cfg(feature = "nats")]
            Connection::Nats(_) | Connection::Jet(_) => return false,
            #[cfg(feature = "ws")]
            Connection::Ws(_) => return false,
        };
        matches!(pending, Ok(Some(e)) if e.kind() == io::ErrorKind::ConnectionReset)
    }

    /// [`Connection::unread`] without the check that the peer is still there: right
    /// after a failure that was not a reset (see [`Connection::was_reset`]), when the
    /// peer's queue was not discarded.
    pub(crate) fn unread_after_close(&self) -> Option<u64> {
        match self {
            Connection::Unix(c) if c.acks.is_none() => c.s.unread(),
            Connection::Tcp(c) if c.acks.is_none() => c.s.unread(),
            #[cfg(feature = "tls")]
            Connection::Tls(c) if c.acks.is_none() => c.s.unread(),
            _ => None,
        }
    }
}

pub(super) async fn write_watching<S: Socket + std::os::fd::AsRawFd>(
    sock: &mut Sock<S>,
    batch: &[u8],
    written: &mut usize,
    interrupt: impl Future<Output = ()>,
) -> Result<(), WriteStop> {
    let (s, acks) = (&*sock.s, &mut sock.acks);
    let mut scratch = [0u8; 256];
    tokio::pin!(interrupt);
    while *written < batch.len() {
        match s.try_write(&batch[*written..]) {
            Ok(0) => {
                return Err(WriteStop::Failed(TransportError::new(
                    ErrorClass::Retryable,
                    io::ErrorKind::WriteZero,
                    "connection accepted no more bytes",
                )));
            }
            Ok(n) => {
                *written += n;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Full: what the peer consumed so far, while it is surely there.
                if sock.track
                    && let Some(n) = s.unread()
                {
                    if let Some(e) = drain_now(s, &mut scratch) {
                        return Err(WriteStop::Failed(e));
                    }
                    sock.probe = Some((*written, n));
                }
            }
            Err(e) => {
                // Acknowledgements the peer sent before it went away still count.
                if let Some(acks) = acks {
                    let _ = acks.read_rest(s);
                }
                return Err(WriteStop::Failed(TransportError::from_io("write", &e)));
            }
        }
        tokio::select! {
            biased;
            r = s.writable() => {
                if let Err(e) = r {
                    return Err(WriteStop::Failed(TransportError::from_io("write", &e)));
                }
            }
            r = s.readable() => {
                if let Err(e) = r {
                    return Err(WriteStop::Failed(TransportError::from_io("read", &e)));
                }
                let failed = match acks {
                    Some(acks) => acks.read(s),
                    None => drain_reads(s, &mut scratch),
                };
                if let Some(e) = failed {
                    return Err(WriteStop::Failed(e));
                }
                if acks.as_ref().is_some_and(AckReader::fresh) {
                    return Err(WriteStop::Acked);
                }
            }
            () = &mut interrupt => return Err(WriteStop::Interrupted),
        }
    }
    Ok(())
}

/// Reads until the peer closes or the connection fails (`Err`), or, on an
/// acknowledged connection, until acknowledgements arrived (`Ok`).
pub(super) async fn read_until<S: Socket>(
    s: &S,
    acks: &mut Option<AckReader>,
) -> Result<(), TransportError> {
    let mut scratch = [0u8; 256];
    loop {
        if acks.as_ref().is_some_and(AckReader::fresh) {
            return Ok(());
        }
        if let Err(e) = s.readable().await {
            return Err(TransportError::from_io("read", &e));
        }
        let failed = match acks {
            Some(acks) => acks.read(s),
            None => drain_reads(s, &mut scratch),
        };
        if let Some(e) = failed {
            return Err(e);
        }
    }
}
