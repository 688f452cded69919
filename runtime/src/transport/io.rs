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
    /// Reads what the kernel holds, if tokio has seen the socket readable (else
    /// `WouldBlock` without asking the kernel): the read of a task that waits with
    /// [`Socket::readable`], whose readiness a `WouldBlock` clears.
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Reads what the kernel holds now, whatever tokio has seen: the last reads of a
    /// connection that failed (the peer's final acknowledgements may have arrived
    /// after tokio last looked), and the check that the peer is still there.
    fn read_now(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    /// Writes from `bufs`, in order, what the socket takes now, in one system call
    /// where the socket can (Unix and TCP); else from the first non-empty one only.
    fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        self.try_write(first)
    }
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
            fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
                use std::io::Read;
                // The socket is non-blocking: `WouldBlock` when it holds nothing.
                (&*socket2::SockRef::from(self)).read(buf)
            }
            fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
                <$t>::try_write(self, buf)
            }
            fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
                <$t>::try_write_vectored(self, bufs)
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

/// Reads and discards (through tokio's readiness, see [`Socket::try_read`]);
/// `Some(error)` when the peer closed or the read failed.
pub(super) fn drain_reads<S: Socket>(s: &S, scratch: &mut [u8]) -> Option<TransportError> {
    drain_with(|b| s.try_read(b), scratch)
}

/// [`drain_reads`] asking the kernel whatever tokio has seen ([`Socket::read_now`]).
pub(super) fn drain_now<S: Socket>(s: &S, scratch: &mut [u8]) -> Option<TransportError> {
    drain_with(|b| s.read_now(b), scratch)
}

fn drain_with(
    mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    scratch: &mut [u8],
) -> Option<TransportError> {
    loop {
        match read(scratch) {
            Ok(0) => return Some(peer_closed()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) => return Some(TransportError::from_io("read", &e)),
        }
    }
}
