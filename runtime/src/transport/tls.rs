//! TLS over a TCP socket (feature `tls`), driven by the socket's readiness like the
//! plain sockets: [`TlsSocket`] implements the same [`Socket`] operations on
//! plaintext, so batch writes that watch the read half, the sinkgen handshake,
//! acknowledgements and direct writes by senders work unchanged on top of it.
//!
//! Invariants: one lock guards the rustls state; every operation takes it for one
//! non-blocking step and never holds it across an await. A write takes plaintext only
//! once the records of earlier writes are with the kernel (so the bytes a write
//! reports taken are in the socket or about to be, never piling up in memory), and
//! reads drain both the socket and rustls' plaintext until the socket would block, so
//! waiting for readability never misses data rustls already holds. Records still
//! pending when a write returns are sent by the next operation or while waiting.
//!
//! # What the peer consumed
//!
//! Foreign framings prove reads through TLS as on plain TCP (SPEC G3, see
//! `connection::proof`): the kernel's count of bytes the peer's TCP has not
//! acknowledged is a count of record bytes, so the socket keeps a map from plaintext
//! to records. Whenever every record of the plaintext taken so far is with the kernel,
//! it notes a boundary (plaintext taken, record bytes sent); a boundary is consumed
//! once the record bytes the peer acknowledged reach it. `Socket::unread` is the
//! plaintext past the last consumed boundary: what the peer may not have had, in the
//! plaintext bytes the connection task counts. Records of our own (alerts, key
//! updates, close_notify) only move boundaries later, so the count errs towards loss.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Mutex, MutexGuard};

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

use super::io::Socket;
use crate::error::{ErrorClass, TransportError};

/// Plaintext a write hands rustls at most, so a write's records fit the socket's
/// buffer in few system calls.
const MAX_WRITE: usize = 64 * 1024;

/// At most this many plaintext-to-record boundaries are kept (allocated once per
/// connection); when full, the newest is moved later, which only makes the count of
/// unread plaintext more cautious.
const MAX_MARKS: usize = 64;

/// A TLS connection over a TCP socket, client or server side.
pub(crate) struct TlsSocket {
    tcp: TcpStream,
    tls: Mutex<State>,
}

/// The rustls state and the map from plaintext to record bytes (see the module docs).
struct State {
    conn: rustls::Connection,
    /// Record bytes handed to the kernel on this connection (handshake included).
    sent: u64,
    /// Plaintext bytes writes took.
    taken: u64,
    /// Boundaries (plaintext taken, record bytes sent) not yet consumed, oldest first.
    marks: VecDeque<(u64, u64)>,
    /// Plaintext bytes the peer is proven to have been handed.
    consumed: u64,
}

impl State {
    fn new(conn: rustls::Connection) -> State {
        State {
            conn,
            sent: 0,
            taken: 0,
            marks: VecDeque::with_capacity(MAX_MARKS),
            consumed: 0,
        }
    }

    /// Every record of the plaintext taken so far is with the kernel: a boundary.
    fn mark(&mut self) {
        let last = self.marks.back().map_or(self.consumed, |m| m.0);
        if self.taken == last {
            return;
        }
        let mark = (self.taken, self.sent);
        if self.marks.len() == MAX_MARKS {
            if let Some(newest) = self.marks.back_mut() {
                *newest = mark;
            }
        } else {
            self.marks.push_back(mark);
        }
    }
}

/// `Write` on a TCP socket through its non-blocking operations, counting the bytes
/// the kernel took.
struct Counted<'a> {
    tcp: &'a TcpStream,
    sent: &'a mut u64,
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tcp.try_write(buf)?;
        *self.sent += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `Read` on a TCP socket through its non-blocking operations: through tokio's
/// readiness, or (`now`) asking the kernel whatever tokio has seen (see
/// [`Socket::read_now`]).
struct Raw<'a> {
    tcp: &'a TcpStream,
    now: bool,
}

impl Read for Raw<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.now {
            Socket::read_now(self.tcp, buf)
        } else {
            self.tcp.try_read(buf)
        }
    }
}

impl TlsSocket {
    /// Secures a connected TCP socket as a client: the handshake runs here (the
    /// caller bounds it with the connect timeout). A certificate that does not verify
    /// is a retryable error naming the cause.
    pub(crate) async fn connect(
        tcp: TcpStream,
        config: std::sync::Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<TlsSocket, TransportError> {
        let conn = rustls::ClientConnection::new(config, name).map_err(|e| {
            TransportError::new(
                ErrorClass::Fatal,
                io::ErrorKind::InvalidInput,
                format!("TLS: {e}"),
            )
        })?;
        let sock = TlsSocket {
            tcp,
            tls: Mutex::new(State::new(conn.into())),
        };
        sock.handshake().await?;
        Ok(sock)
    }

    /// Secures an accepted TCP socket as a server (the caller bounds the handshake).
    pub(crate) async fn accept(
        tcp: TcpStream,
        config: std::sync::Arc<rustls::ServerConfig>,
    ) -> Result<TlsSocket, TransportError> {
        let conn = rustls::ServerConnection::new(config).map_err(|e| {
            TransportError::new(
                ErrorClass::Fatal,
                io::ErrorKind::InvalidInput,
                e.to_string(),
            )
        })?;
        let sock = TlsSocket {
            tcp,
            tls: Mutex::new(State::new(conn.into())),
        };
        sock.handshake().await?;
        Ok(sock)
    }

    /// The TCP socket under the TLS.
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding it cannot leave rustls' state half-written in a way
        // that matters more than the connection's failure, which follows.
        self.tls.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn handshake(&self) -> Result<(), TransportError> {
        loop {
            let (handshaking, pending) = {
                let mut tls = self.lock();
                flush(&mut tls, &self.tcp).map_err(|e| handshake_error(&e))?;
                (tls.conn.is_handshaking(), tls.conn.wants_write())
            };
            if !handshaking && !pending {
                return Ok(());
            }
            if pending {
                self.tcp.writable().await.map_err(|e| handshake_error(&e))?;
                continue;
            }
            self.tcp.readable().await.map_err(|e| handshake_error(&e))?;
            let mut tls = self.lock();
            match tls.conn.read_tls(&mut Raw {
                tcp: &self.tcp,
                now: false,
            }) {
                Ok(0) => {
                    return Err(TransportError::new(
                        ErrorClass::Retryable,
                        io::ErrorKind::UnexpectedEof,
                        "TLS handshake: the peer closed the connection",
                    ));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(handshake_error(&e)),
            }
            if let Err(e) = tls.conn.process_new_packets() {
                // Tell the peer why (the alert), as far as the socket takes it now.
                let _ = flush(&mut tls, &self.tcp);
                return Err(TransportError::new(
                    ErrorClass::Retryable,
                    io::ErrorKind::InvalidData,
                    format!("TLS handshake: {e}"),
                ));
            }
        }
    }

    /// Sends close_notify, as far as the socket takes it now.
    pub(crate) fn close(&self) {
        let mut tls = self.lock();
        tls.conn.send_close_notify();
        let _ = flush(&mut tls, &self.tcp);
    }

    /// Plaintext taken by writes that the peer's TCP may not have acknowledged yet
    /// (see the module docs); `None` where the kernel cannot tell (other systems).
    fn plaintext_unread(&self) -> Option<u64> {
        // Under the lock, so no write moves `sent` between the reading and its use.
        let mut tls = self.lock();
        let acked = tls.sent.saturating_sub(super::unread::unread(&self.tcp)?);
        while let Some(&(plain, records)) = tls.marks.front() {
            if records > acked {
                break;
            }
            tls.consumed = plain;
            tls.marks.pop_front();
        }
        Some(tls.taken - tls.consumed)
    }

    fn pending(&self) -> bool {
        self.lock().conn.wants_write()
    }

    /// [`Socket::try_write`] for the receivers' streams.
    pub(crate) fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
        Socket::try_write(self, buf)
    }

    /// Poll-based read for the receivers' streams: plaintext into `buf`'s spare
    /// capacity (`Ok(0)`: the peer closed), sending pending records meanwhile.
    pub(crate) fn poll_read(
        &self,
        cx: &mut std::task::Context<'_>,
        buf: &mut bytes::BytesMut,
    ) -> std::task::Poll<io::Result<usize>> {
        use std::task::Poll;
        let mut scratch = [0u8; 16 * 1024];
        let room = (buf.capacity() - buf.len()).clamp(1, scratch.len());
        loop {
            if self.pending()
                && let Poll::Ready(r) = self.tcp.poll_write_ready(cx)
            {
                r?;
                // As in `readable`: a failed send is the next read's error, after the
                // data that arrived before it.
                if flush(&mut self.lock(), &self.tcp).is_ok() {
                    continue;
                }
            }
            match Socket::try_read(self, &mut scratch[..room]) {
                Ok(n) => {
                    buf.extend_from_slice(&scratch[..n]);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            std::task::ready!(self.tcp.poll_read_ready(cx))?;
        }
    }
}

fn handshake_error(e: &io::Error) -> TransportError {
    TransportError::from_io("TLS handshake", e)
}

/// Hands the kernel the records rustls holds, until it takes no more; `Ok` also when
/// the socket is full (the records stay pending).
fn flush(tls: &mut State, tcp: &TcpStream) -> io::Result<()> {
    while tls.conn.wants_write() {
        let mut out = Counted {
            tcp,
            sent: &mut tls.sent,
        };
        match tls.conn.write_tls(&mut out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    tls.mark();
    Ok(())
}

impl TlsSocket {
    /// Plaintext the records bring: decrypted already, or read from the socket (see
    /// [`Raw`] for `now`).
    fn read_plain(&self, buf: &mut [u8], now: bool) -> io::Result<usize> {
        let mut tls = self.lock();
        loop {
            match tls.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                // The peer closed without close_notify: closed all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match tls.conn.read_tls(&mut Raw {
                tcp: &self.tcp,
                now,
            }) {
                Ok(0) => return Ok(0),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            if let Err(e) = tls.conn.process_new_packets() {
                let _ = flush(&mut tls, &self.tcp);
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("TLS: {e}"),
                ));
            }
            // Whatever rustls must answer (alerts, key updates) goes out now. A
            // failure to send is not this read's error: plaintext the records just
            // brought (a peer's last acknowledgements before it died) is handed on
            // first, and the broken socket fails the next read or write.
            let _ = flush(&mut tls, &self.tcp);
        }
    }
}

impl Socket for TlsSocket {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_plain(buf, false)
    }

    fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_plain(buf, true)
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut tls = self.lock();
        flush(&mut tls, &self.tcp)?;
        if tls.conn.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = tls.conn.writer().write(&buf[..buf.len().min(MAX_WRITE)])?;
        tls.taken += n as u64;
        flush(&mut tls, &self.tcp)?;
        Ok(n)
    }

    async fn readable(&self) -> io::Result<()> {
        // Records left pending by a write go out while waiting, or the peer would
        // never see them (and never answer).
        while self.pending() {
            tokio::select! {
                r = self.tcp.writable() => {
                    r?;
                    // A socket that takes nothing more (the peer is gone) fails the
                    // next read, after what the peer sent before it went (its last
                    // acknowledgements) was read: readable, not an error, here.
                    if flush(&mut self.lock(), &self.tcp).is_err() {
                        break;
                    }
                }
                r = self.tcp.readable() => return r,
            }
        }
        self.tcp.readable().await
    }

    async fn writable(&self) -> io::Result<()> {
        self.tcp.writable().await
    }

    fn unread(&self) -> Option<u64> {
        self.plaintext_unread()
    }
}

impl AsRawFd for TlsSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.tcp.as_raw_fd()
    }
}
