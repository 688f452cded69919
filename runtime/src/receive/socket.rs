//! Unix and TCP streams as a receiver uses them: poll-based reads into a `BytesMut`
//! and writes from a position, so that every operation can be dropped and resumed
//! (cancel safety lives in the callers' state, never in a future).

use std::io;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use tokio::net::{TcpStream, UnixStream};

use crate::error::{ErrorClass, TransportError};
use crate::transport::Endpoint;

/// One connected stream.
pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    /// TLS over TCP (feature `tls`).
    #[cfg(feature = "tls")]
    Tls(Box<crate::transport::TlsSocket>),
}

macro_rules! both {
    ($self:expr, $s:ident => $e:expr, $tls:ident => $t:expr) => {
        match $self {
            Stream::Unix($s) => $e,
            Stream::Tcp($s) => $e,
            #[cfg(feature = "tls")]
            Stream::Tls($tls) => $t,
        }
    };
}

impl Stream {
    /// Connects to a Unix or TCP endpoint (one attempt; the caller bounds it).
    pub(crate) async fn connect(endpoint: &Endpoint) -> Result<Stream, TransportError> {
        match endpoint {
            Endpoint::Unix(path) => {
                UnixStream::connect(path)
                    .await
                    .map(Stream::Unix)
                    .map_err(|e| {
                        TransportError::from_io(
                            &format!("connect to unix://{}", path.display()),
                            &e,
                        )
                    })
            }
            Endpoint::Tcp(addr) => Ok(Stream::Tcp(tcp_connect(addr).await?)),
            #[cfg(feature = "tls")]
            Endpoint::TcpTls(addr, tls) => {
                let (config, name) = tls.connector(crate::transport::host_of(addr))?;
                let s = tcp_connect(addr).await?;
                crate::transport::TlsSocket::connect(s, config, name)
                    .await
                    .map(|s| Stream::Tls(Box::new(s)))
            }
            #[cfg(feature = "nats")]
            Endpoint::Nats(_) | Endpoint::Jet(..) => Err(TransportError::new(
                ErrorClass::Fatal,
                io::ErrorKind::InvalidInput,
                "a NATS endpoint is not a socket",
            )),
            #[cfg(feature = "ws")]
            Endpoint::Ws(_) => Err(TransportError::new(
                ErrorClass::Fatal,
                io::ErrorKind::InvalidInput,
                "a subscription reads a relay on a unix:// or tcp:// endpoint, not a WebSocket server",
            )),
        }
    }

    /// Reads what is there into `buf`'s spare capacity; `Ok(0)` is end of stream.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        #[cfg(feature = "tls")]
        if let Stream::Tls(s) = self {
            return s.poll_read(cx, buf);
        }
        loop {
            ready!(both!(self, s => s.poll_read_ready(cx), s => s.tcp().poll_read_ready(cx)))?;
            match both!(self, s => s.try_read_buf(buf), _s => unreachable!("read above")) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return Poll::Ready(r),
            }
        }
    }

    /// Writes `out[*at..]`, advancing `*at`; ready when all is written.
    pub(crate) fn poll_write(
        &self,
        cx: &mut Context<'_>,
        out: &[u8],
        at: &mut usize,
    ) -> Poll<io::Result<()>> {
        while *at < out.len() {
            ready!(both!(self, s => s.poll_write_ready(cx), s => s.tcp().poll_write_ready(cx)))?;
            match both!(self, s => s.try_write(&out[*at..]), s => s.write_now(&out[*at..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => *at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Writes what the kernel takes now, without waiting (a last REFUSE before closing).
    pub(crate) fn try_write_all(&self, out: &[u8]) {
        let _ = both!(self, s => s.try_write(out), s => s.write_now(out));
    }

    /// After a last frame (REFUSE): ends this side, then reads and drops what the
    /// peer still sends until it closes, for at most `bound`. A socket closed with
    /// unread bytes (a sender's early data) resets the connection, and on some
    /// systems the reset destroys the REFUSE before the peer reads it.
    pub(crate) async fn linger(mut self, bound: std::time::Duration) {
        use tokio::io::AsyncWriteExt;
        let _ = match &mut self {
            Stream::Unix(s) => s.shutdown().await,
            Stream::Tcp(s) => s.shutdown().await,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                s.close();
                s.tcp_mut().shutdown().await
            }
        };
        let mut buf = BytesMut::with_capacity(16 << 10);
        let drain = async {
            loop {
                buf.clear();
                if !matches!(self.read(&mut buf).await, Ok(n) if n > 0) {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(bound, drain).await;
    }

    /// Async wrappers for connection tasks (the inbox).
    pub(crate) async fn read(&self, buf: &mut BytesMut) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    pub(crate) async fn write_all(&self, out: &[u8]) -> io::Result<()> {
        let mut at = 0;
        std::future::poll_fn(|cx| self.poll_write(cx, out, &mut at)).await
    }
}

/// One TCP connect, with Nagle off.
async fn tcp_connect(addr: &str) -> Result<TcpStream, TransportError> {
    let s = TcpStream::connect(addr)
        .await
        .map_err(|e| TransportError::from_io(&format!("connect to tcp://{addr}"), &e))?;
    s.set_nodelay(true)
        .map_err(|e| TransportError::from_io("set TCP_NODELAY", &e))?;
    Ok(s)
}

pub(crate) use crate::transport::peer_closed;

pub(crate) fn protocol_error(context: &str, e: &dyn std::fmt::Display) -> TransportError {
    TransportError::new(
        ErrorClass::Retryable,
        io::ErrorKind::InvalidData,
        format!("{context}: {e}"),
    )
}
