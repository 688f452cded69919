//! Transports: parsing endpoints, connecting, and writing whole batches while watching
//! the read half for a peer that went away.
//!
//! This is the seam a new transport plugs into: add an [`Endpoint`] variant (parsed in
//! [`Endpoint::parse`]), a [`Connection`] variant (made in [`Connection::connect`]) and
//! the two operations the connection task needs, [`Connection::write_batch`] and
//! [`Connection::closed`]. The connection task knows nothing else about sockets.

use std::future::Future;
use std::io;
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use crate::error::{ErrorClass, TransportError};

/// The longest path a Unix socket address holds.
const MAX_UNIX_PATH: usize = 107;

/// Where a sink connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `unix:///absolute/path`
    Unix(PathBuf),
    /// `tcp://host:port` (IPv6 hosts in brackets); kept as `host:port`.
    Tcp(String),
}

impl Endpoint {
    /// Parses an endpoint URL; the error says what is wrong and how to write it.
    pub(crate) fn parse(text: &str) -> Result<Endpoint, String> {
        if let Some(path) = text.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!(
                    "unix endpoint `{text}` needs an absolute path: unix:///path/to.sock"
                ));
            }
            if path.contains('\0') {
                return Err(format!("unix endpoint `{text}` contains a NUL byte"));
            }
            if path.len() > MAX_UNIX_PATH {
                return Err(format!(
                    "unix endpoint path is {} bytes, a socket address holds at most {MAX_UNIX_PATH}",
                    path.len()
                ));
            }
            return Ok(Endpoint::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = text.strip_prefix("tcp://") {
            let Some((host, port)) = addr.rsplit_once(':') else {
                return Err(format!(
                    "tcp endpoint `{text}` needs a port: tcp://host:port"
                ));
            };
            let host_ok = if let Some(inner) = host.strip_prefix('[') {
                inner.strip_suffix(']').is_some_and(|h| !h.is_empty())
            } else {
                !host.is_empty() && !host.contains(':') && !host.contains('/')
            };
            if !host_ok {
                return Err(format!(
                    "tcp endpoint `{text}` has no valid host (IPv6 hosts go in brackets: tcp://[::1]:9000)"
                ));
            }
            match port.parse::<u16>() {
                Ok(p) if p != 0 => {}
                _ => {
                    return Err(format!(
                        "tcp endpoint `{text}` needs a port between 1 and 65535"
                    ));
                }
            }
            return Ok(Endpoint::Tcp(addr.to_owned()));
        }
        Err(format!(
            "endpoint `{text}` has an unknown scheme; use unix:///path or tcp://host:port"
        ))
    }
}

/// An open connection, owned by one connection task.
pub(crate) enum Connection {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// Why a batch write stopped before the end of the batch.
pub(crate) enum WriteStop {
    /// The connection failed; the bytes before the write position may have reached the
    /// peer, the rest did not.
    Failed(TransportError),
    /// The caller's interrupt fired; the connection is intact.
    Interrupted,
}

impl Connection {
    /// Opens a connection (one attempt; the caller bounds it with the connect timeout).
    pub(crate) async fn connect(endpoint: &Endpoint) -> Result<Connection, TransportError> {
        match endpoint {
            Endpoint::Unix(path) => UnixStream::connect(path)
                .await
                .map(Connection::Unix)
                .map_err(|e| {
                    TransportError::from_io(&format!("connect to unix://{}", path.display()), &e)
                }),
            Endpoint::Tcp(addr) => {
                let stream = TcpStream::connect(addr.as_str()).await.map_err(|e| {
                    TransportError::from_io(&format!("connect to tcp://{addr}"), &e)
                })?;
                stream
                    .set_nodelay(true)
                    .map_err(|e| TransportError::from_io("set TCP_NODELAY", &e))?;
                Ok(Connection::Tcp(stream))
            }
        }
    }

    /// Writes `batch[*written..]`, advancing `*written` as bytes are accepted by the
    /// kernel, while watching the read half: a peer that closes or resets fails the
    /// write even when the write itself would block forever.
    ///
    /// Cancel safe: `*written` is always exact, so the caller may drop this future (or
    /// use `interrupt`) and call again to continue where it stopped.
    pub(crate) async fn write_batch(
        &mut self,
        batch: &[u8],
        written: &mut usize,
        interrupt: impl Future<Output = ()>,
    ) -> Result<(), WriteStop> {
        match self {
            Connection::Unix(s) => {
                let (mut r, mut w) = s.split();
                write_watching(&mut r, &mut w, batch, written, interrupt).await
            }
            Connection::Tcp(s) => {
                let (mut r, mut w) = s.split();
                write_watching(&mut r, &mut w, batch, written, interrupt).await
            }
        }
    }

    /// Resolves when the peer closes the connection or it fails. Data the peer sends is
    /// read and discarded. Cancel safe.
    pub(crate) async fn closed(&mut self) -> TransportError {
        match self {
            Connection::Unix(s) => read_until_closed(s).await,
            Connection::Tcp(s) => read_until_closed(s).await,
        }
    }

    /// Half-closes the connection after a clean shutdown so the peer sees EOF at a frame
    /// boundary. Errors are irrelevant here: the connection is being dropped.
    pub(crate) async fn shutdown(&mut self) {
        let _ = match self {
            Connection::Unix(s) => s.shutdown().await,
            Connection::Tcp(s) => s.shutdown().await,
        };
    }
}

fn peer_closed() -> TransportError {
    TransportError::new(
        ErrorClass::Retryable,
        io::ErrorKind::UnexpectedEof,
        "peer closed the connection",
    )
}

async fn write_watching<R, W>(
    r: &mut R,
    w: &mut W,
    batch: &[u8],
    written: &mut usize,
    interrupt: impl Future<Output = ()>,
) -> Result<(), WriteStop>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut scratch = [0u8; 256];
    tokio::pin!(interrupt);
    while *written < batch.len() {
        tokio::select! {
            biased;
            res = w.write(&batch[*written..]) => match res {
                Ok(0) => {
                    return Err(WriteStop::Failed(TransportError::new(
                        ErrorClass::Retryable,
                        io::ErrorKind::WriteZero,
                        "connection accepted no more bytes",
                    )))
                }
                Ok(n) => *written += n,
                Err(e) => return Err(WriteStop::Failed(TransportError::from_io("write", &e))),
            },
            res = r.read(&mut scratch) => match res {
                Ok(0) => return Err(WriteStop::Failed(peer_closed())),
                Ok(_) => {}
                Err(e) => return Err(WriteStop::Failed(TransportError::from_io("read", &e))),
            },
            () = &mut interrupt => return Err(WriteStop::Interrupted),
        }
    }
    Ok(())
}

async fn read_until_closed<S: AsyncRead + Unpin>(s: &mut S) -> TransportError {
    let mut scratch = [0u8; 256];
    loop {
        match s.read(&mut scratch).await {
            Ok(0) => return peer_closed(),
            Ok(_) => {}
            Err(e) => return TransportError::from_io("read", &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_good_endpoints() {
        assert_eq!(
            Endpoint::parse("unix:///tmp/a.sock"),
            Ok(Endpoint::Unix("/tmp/a.sock".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:9000"),
            Ok(Endpoint::Tcp("127.0.0.1:9000".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:9000"),
            Ok(Endpoint::Tcp("[::1]:9000".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://localhost:1"),
            Ok(Endpoint::Tcp("localhost:1".into()))
        );
    }

    #[test]
    fn rejects_bad_endpoints() {
        for bad in [
            "unix://relative.sock",
            "unix:///a\0b",
            "tcp://127.0.0.1",
            "tcp://127.0.0.1:0",
            "tcp://127.0.0.1:70000",
            "tcp://:80",
            "tcp://::1:80",
            "nats://x:1/y",
            "",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("unix:///{}", "a".repeat(107));
        assert!(Endpoint::parse(&long).is_err());
    }
}
