//! The readiness-based operations every socket offers (Unix, TCP, TLS over TCP),
//! shared by the connection task's writes, the reader of acknowledgements and the
//! proof of reads.

use std::io;

use tokio::net::{TcpStream, UnixStream};

use crate::error::{ErrorClass, TransportError};

use super::unread;

/// The error of a connection whose peer closed it (end of file).
pub(crate) fn peer_closed() -> TransportError {
    TransportError::new(
        ErrorClass::Retryable,
        io::ErrorKind::UnexpectedEof,
        "peer closed the connection",
    )
}

/// The readiness-based socket operations of Unix and TCP streams and of TLS over TCP
/// (plaintext); all take
/// `&self`, so senders can write through the same socket while the task waits.
pub(super) trait Socket {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    async fn readable(&self) -> io::Result<()>;
    async fn writable(&self) -> io::Result<()>;
    /// Bytes written that the peer has not consumed yet, in the bytes `try_write`
    /// counts (see [`super::Connection::unread`]); `None` when unknown.
    fn unread(&self) -> Option<u64>;
}

macro_rules! socket {
    ($t:ty) => {
        impl Socket for $t {
            fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
                <$t>::try_read(self, buf)
            }
            fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                <$t>::try_write(self, buf)
            }
            async fn readable(&self) -> io::Result<()> {
                <$t>::readable(self).await
            }
            async fn writable(&self) -> io::Result<()> {
                <$t>::writable(self).await
            }
            fn unread(&self) -> Option<u64> {
                unread::unread(self)
            }
        }
    };
}

socket!(UnixStream);
socket!(TcpStream);

/// Reads and discards; `Some(error)` when the peer closed or the read failed.
pub(super) fn drain_reads<S: Socket>(s: &S, scratch: &mut [u8]) -> Option<TransportError> {
    loop {
        match s.try_read(scratch) {
            Ok(0) => return Some(peer_closed()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) => return Some(TransportError::from_io("read", &e)),
        }
    }
}
