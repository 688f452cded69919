//! Binding a `listen` endpoint and accepting senders.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::Shared;
use super::conn;
use crate::error::TransportError;
use crate::receive::Event;
use crate::receive::socket::Stream;
use crate::transport::Endpoint;

pub(super) enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
    /// A `tcp://` endpoint served over TLS (feature `tls`).
    #[cfg(feature = "tls")]
    Tls(TcpListener, Arc<rustls::ServerConfig>),
}

/// An accepted connection, ready or still to be secured: the TLS handshake runs in
/// the connection's task, never in the accept loop.
enum Incoming {
    Ready(Stream),
    #[cfg(feature = "tls")]
    Tls(tokio::net::TcpStream, Arc<rustls::ServerConfig>),
}

impl Incoming {
    /// The stream; an error when its TLS handshake failed or took longer than
    /// `timeout`.
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    async fn stream(self, timeout: Duration) -> Result<Stream, TransportError> {
        match self {
            Incoming::Ready(s) => Ok(s),
            #[cfg(feature = "tls")]
            Incoming::Tls(tcp, config) => {
                match tokio::time::timeout(
                    timeout,
                    crate::transport::TlsSocket::accept(tcp, config),
                )
                .await
                {
                    Ok(r) => r.map(|s| Stream::Tls(Box::new(s))),
                    Err(_) => Err(TransportError::new(
                        crate::error::ErrorClass::Retryable,
                        io::ErrorKind::TimedOut,
                        "TLS handshake of a sender timed out",
                    )),
                }
            }
        }
    }
}

/// A Unix socket file this inbox made; removed when the inbox goes.
pub(super) struct Bound(PathBuf);

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Binds `endpoint` (needs a tokio runtime). A Unix socket file nobody accepts on is
/// left by a dead process: it is replaced.
pub(super) fn bind(endpoint: &Endpoint) -> Result<(Listener, Option<Bound>), TransportError> {
    match endpoint {
        Endpoint::Unix(path) => {
            let context = || format!("bind unix://{}", path.display());
            let listener = match UnixListener::bind(path) {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && stale(path) => {
                    std::fs::remove_file(path)
                        .map_err(|e| TransportError::from_io(&context(), &e))?;
                    UnixListener::bind(path)
                }
                r => r,
            }
            .map_err(|e| TransportError::from_io(&context(), &e))?;
            Ok((Listener::Unix(listener), Some(Bound(path.clone()))))
        }
        Endpoint::Tcp(addr) => {
            let context = || format!("bind tcp://{addr}");
            let std = std::net::TcpListener::bind(addr.as_str())
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| TransportError::from_io(&context(), &e))?;
            let listener =
                TcpListener::from_std(std).map_err(|e| TransportError::from_io(&context(), &e))?;
            Ok((Listener::Tcp(listener), None))
        }
        #[cfg(feature = "tls")]
        Endpoint::TcpTls(addr, tls) => {
            // Read now: a key that cannot be read fails this bind, named, and the
            // inbox retries under its backoff.
            let config = tls
                .server_config()
                .map_err(crate::tls::TlsError::into_transport)?;
            let (Listener::Tcp(listener), bound) = bind(&Endpoint::Tcp(addr.clone()))? else {
                unreachable!("a tcp:// endpoint binds a TCP listener")
            };
            Ok((Listener::Tls(listener, Arc::new(config)), bound))
        }
        #[cfg(feature = "nats")]
        Endpoint::Nats(_) | Endpoint::Jet(..) => Err(crate::sink::bad_address(
            "an inbox listens on a unix:// or tcp:// endpoint, not NATS".to_owned(),
        )),
        #[cfg(feature = "ws")]
        Endpoint::Ws(_) => Err(crate::sink::bad_address(
            "an inbox listens on a unix:// or tcp:// endpoint, not WebSocket".to_owned(),
        )),
    }
}

/// Whether a Unix socket file has nobody accepting on it.
fn stale(path: &std::path::Path) -> bool {
    matches!(
        std::os::unix::net::UnixStream::connect(path),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused
    )
}

impl Listener {
    async fn accept(&self) -> io::Result<Incoming> {
        match self {
            Listener::Unix(l) => l
                .accept()
                .await
                .map(|(s, _)| Incoming::Ready(Stream::Unix(s))),
            Listener::Tcp(l) => {
                let (s, _) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok(Incoming::Ready(Stream::Tcp(s)))
            }
            #[cfg(feature = "tls")]
            Listener::Tls(l, config) => {
                let (s, _) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok(Incoming::Tls(s, Arc::clone(config)))
            }
        }
    }
}

/// Accepts senders until the inbox is dropped (its receiver closes, or this task is
/// aborted: the connection tasks go with the `JoinSet`).
pub(super) async fn accept_loop(listener: Listener, shared: Arc<Shared>, tx: mpsc::Sender<Event>) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(incoming) => {
                    let (shared, tx) = (Arc::clone(&shared), tx.clone());
                    tasks.spawn(async move {
                        match incoming.stream(shared.opts.connect_timeout).await {
                            Ok(stream) => {
                                shared.counters.connect();
                                conn::serve(stream, shared, tx).await;
                            }
                            Err(e) => {
                                tracing::warn!(inbox = %shared.opts.name, error = %e, "TLS handshake failed");
                                shared.counters.error(e);
                            }
                        }
                    });
                }
                Err(e) => {
                    // Out of descriptors and the like: wait a little, never spin.
                    tracing::warn!(inbox = %shared.opts.name, error = %e, "accept failed");
                    shared.counters.error(TransportError::from_io("accept", &e));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = tx.closed() => return,
        }
    }
}
