//! Binding a relay's endpoint: Unix sockets (owner-only, stale files replaced, live
//! ones refused) and TCP.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};

use crate::config::{Listen, RelaySpec};

/// A bound endpoint; a TCP one with the TLS it serves, if the relay has a `tls` table.
pub(crate) enum Listener {
    Unix(UnixListener, std::path::PathBuf),
    Tcp(TcpListener, Option<tokio_rustls::TlsAcceptor>),
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.local())
    }
}

/// The longest a TLS handshake of an accepted connection may take.
const HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// An accepted connection, ready or still to be secured (the handshake runs in the
/// connection's own task, never in the accept loop).
pub(crate) enum Incoming {
    Ready(Box<dyn Stream>),
    Tls(tokio_rustls::TlsAcceptor, tokio::net::TcpStream),
}

impl Incoming {
    /// The connection's stream; `None` when its TLS handshake failed or timed out
    /// (logged: a client with a wrong certificate is the client's problem, not the
    /// relay's).
    pub(crate) async fn stream(self) -> Option<Box<dyn Stream>> {
        match self {
            Incoming::Ready(s) => Some(s),
            Incoming::Tls(acceptor, tcp) => {
                let peer = tcp.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                match tokio::time::timeout(HANDSHAKE, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => Some(Box::new(s)),
                    Ok(Err(e)) => {
                        tracing::warn!(%peer, error = %e, "TLS handshake refused");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(%peer, "TLS handshake timed out");
                        None
                    }
                }
            }
        }
    }
}

/// A connection: a byte stream, whichever kind.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// A relay's endpoint that could not be served.
#[derive(Debug)]
pub struct BindError {
    /// What went wrong, naming the endpoint and the file's line.
    pub message: String,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BindError {}

/// Binds `relay`'s endpoint; `place` says where the relay is written.
pub(crate) fn bind(relay: &RelaySpec, place: &str) -> Result<Listener, BindError> {
    let fail = |what: String| BindError {
        message: format!(
            "relay `{}` cannot listen on {}: {what} (declared at {place})",
            relay.name, relay.listen
        ),
    };
    match &relay.listen {
        Listen::Tcp(addr) => {
            // Secrets are read at the start: a missing key is an error now, naming the
            // key and line, not a refusal of every client later.
            let acceptor = match &relay.tls {
                Some(tls) => Some(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(
                    tls.server_config()
                        .map_err(|e| fail(format!("its TLS settings: {e}")))?,
                ))),
                None => None,
            };
            let std = std::net::TcpListener::bind(addr.as_str()).map_err(|e| fail(why(&e)))?;
            std.set_nonblocking(true).map_err(|e| fail(why(&e)))?;
            Ok(Listener::Tcp(
                TcpListener::from_std(std).map_err(|e| fail(why(&e)))?,
                acceptor,
            ))
        }
        Listen::Unix(_) if relay.tls.is_some() => Err(fail(
            "a unix:// relay cannot be served over TLS; remove its `tls` table".to_owned(),
        )),
        Listen::Unix(path) => {
            clear_stale(path).map_err(fail)?;
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .map_err(|e| fail(format!("cannot create `{}`: {}", dir.display(), why(&e))))?;
            }
            let std = std::os::unix::net::UnixListener::bind(path).map_err(|e| fail(why(&e)))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(relay.socket_mode))
                .map_err(|e| fail(format!("cannot set its permissions: {}", why(&e))))?;
            std.set_nonblocking(true).map_err(|e| fail(why(&e)))?;
            let listener = UnixListener::from_std(std).map_err(|e| fail(why(&e)))?;
            Ok(Listener::Unix(listener, path.clone()))
        }
    }
}

/// Removes a socket file left by a dead relay; a live one (it accepts a connection)
/// or a file that is not a socket is an error.
fn clear_stale(path: &Path) -> Result<(), String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(why(&e)),
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "`{}` exists and is not a socket; remove it or choose another endpoint",
            path.display()
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(format!(
            "another process is serving `{}` (a connection succeeded); stop it or choose another endpoint",
            path.display()
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "replacing a stale socket file");
            std::fs::remove_file(path)
                .map_err(|e| format!("cannot remove the stale socket file: {}", why(&e)))
        }
        Err(e) => Err(format!("cannot tell whether it is in use: {}", why(&e))),
    }
}

fn why(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => format!("{e}; check the directory's permissions"),
        io::ErrorKind::AddrInUse => format!("{e}; another process listens there"),
        _ => e.to_string(),
    }
}

impl Listener {
    /// The next connection.
    pub(crate) async fn accept(&self) -> io::Result<Incoming> {
        Ok(match self {
            Listener::Unix(l, _) => Incoming::Ready(Box::new(l.accept().await?.0)),
            Listener::Tcp(l, tls) => {
                let (s, _) = l.accept().await?;
                let _ = s.set_nodelay(true);
                match tls {
                    Some(acceptor) => Incoming::Tls(acceptor.clone(), s),
                    None => Incoming::Ready(Box::new(s)),
                }
            }
        })
    }

    /// The address actually bound (a TCP port 0 becomes the chosen port).
    pub(crate) fn local(&self) -> String {
        match self {
            Listener::Unix(_, p) => format!("unix://{}", p.display()),
            Listener::Tcp(l, _) => l
                .local_addr()
                .map_or_else(|_| "tcp://?".into(), |a| format!("tcp://{a}")),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}
