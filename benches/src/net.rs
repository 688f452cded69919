//! Loopback TCP and Unix sockets (in the system temp directory) for the cases.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Which socket family a case runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Unix domain socket in the temp directory.
    Uds,
    /// TCP on 127.0.0.1 with `TCP_NODELAY`.
    Tcp,
}

impl Transport {
    /// Short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Uds => "uds",
            Transport::Tcp => "tcp",
        }
    }
}

/// A listening socket the peer threads accept on; removes its socket file on drop.
pub struct Listener {
    kind: ListenerKind,
    endpoint: String,
}

enum ListenerKind {
    Uds(UnixListener, PathBuf),
    Tcp(TcpListener),
}

static NEXT_SOCKET: AtomicUsize = AtomicUsize::new(0);

impl Listener {
    /// Binds a fresh listener: a new socket file for UDS, an ephemeral port for TCP.
    ///
    /// # Errors
    ///
    /// Any error from binding.
    pub fn bind(transport: Transport) -> io::Result<Listener> {
        match transport {
            Transport::Uds => {
                let n = NEXT_SOCKET.fetch_add(1, Ordering::Relaxed);
                let path = std::env::temp_dir()
                    .join(format!("sinkgen-bench-{}-{n}.sock", std::process::id()));
                let _ = std::fs::remove_file(&path);
                let listener = UnixListener::bind(&path)?;
                let endpoint = format!("unix://{}", path.display());
                Ok(Listener {
                    kind: ListenerKind::Uds(listener, path),
                    endpoint,
                })
            }
            Transport::Tcp => {
                let listener = TcpListener::bind("127.0.0.1:0")?;
                let endpoint = format!("tcp://{}", listener.local_addr()?);
                Ok(Listener {
                    kind: ListenerKind::Tcp(listener),
                    endpoint,
                })
            }
        }
    }

    /// The endpoint URL a sink is given: `unix:///...` or `tcp://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Accepts one connection (blocking; used from peer threads).
    ///
    /// # Errors
    ///
    /// Any error from accepting.
    pub fn accept(&self) -> io::Result<PeerStream> {
        match &self.kind {
            ListenerKind::Uds(l, _) => Ok(PeerStream::Uds(l.accept()?.0)),
            ListenerKind::Tcp(l) => {
                let s = l.accept()?.0;
                s.set_nodelay(true)?;
                Ok(PeerStream::Tcp(s))
            }
        }
    }

    /// Connects a tokio client to this listener (the raw baselines' connect).
    ///
    /// # Errors
    ///
    /// Any error from connecting.
    pub async fn connect(&self) -> io::Result<ClientStream> {
        match &self.kind {
            ListenerKind::Uds(_, path) => Ok(ClientStream::Uds(
                tokio::net::UnixStream::connect(path).await?,
            )),
            ListenerKind::Tcp(l) => {
                let s = tokio::net::TcpStream::connect(l.local_addr()?).await?;
                s.set_nodelay(true)?;
                Ok(ClientStream::Tcp(s))
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let ListenerKind::Uds(_, path) = &self.kind {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The peer's end of a connection (blocking std socket).
pub enum PeerStream {
    /// Unix domain socket.
    Uds(UnixStream),
    /// TCP socket.
    Tcp(TcpStream),
}

impl Read for PeerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            PeerStream::Uds(s) => s.read(buf),
            PeerStream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for PeerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            PeerStream::Uds(s) => s.write(buf),
            PeerStream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A client's end of a connection (tokio socket); the baselines are generic over the
/// concrete stream, so callers match on this and pass the inner stream.
pub enum ClientStream {
    /// Unix domain socket.
    Uds(tokio::net::UnixStream),
    /// TCP socket with `TCP_NODELAY`.
    Tcp(tokio::net::TcpStream),
}
