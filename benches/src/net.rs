//! Loopback TCP and Unix sockets (in the system temp directory) for the cases.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::peer::PeerWait;

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

    /// Accepts one connection, waiting as `wait` says; a polling accept gives up at
    /// `deadline` (a sleeping one waits as long as it takes). A polled connection is
    /// non-blocking (see [`PeerStream::read_some`]).
    ///
    /// # Errors
    ///
    /// Any error from accepting, or `TimedOut` at the deadline.
    pub fn accept_waiting(&self, wait: PeerWait, deadline: Instant) -> io::Result<PeerStream> {
        if wait == PeerWait::Blocking {
            return self.accept();
        }
        match &self.kind {
            ListenerKind::Uds(l, _) => l.set_nonblocking(true)?,
            ListenerKind::Tcp(l) => l.set_nonblocking(true)?,
        }
        loop {
            let accepted = match &self.kind {
                ListenerKind::Uds(l, _) => l.accept().map(|(s, _)| PeerStream::Uds(s)),
                ListenerKind::Tcp(l) => l.accept().and_then(|(s, _)| {
                    s.set_nodelay(true)?;
                    Ok(PeerStream::Tcp(s))
                }),
            };
            match accepted {
                Ok(stream) => {
                    stream.set_nonblocking(true)?;
                    return Ok(stream);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => spin_until(deadline)?,
                Err(e) => return Err(e),
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

impl PeerStream {
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            PeerStream::Uds(s) => s.set_nonblocking(on),
            PeerStream::Tcp(s) => s.set_nonblocking(on),
        }
    }

    /// Reads what is there, at least one byte, waiting as `wait` says (a stream that
    /// [`Listener::accept_waiting`] polled is non-blocking); a polling read gives up
    /// at `deadline`.
    ///
    /// # Errors
    ///
    /// Any read error, `UnexpectedEof` if the client closed, or `TimedOut`.
    pub fn read_some(
        &mut self,
        buf: &mut [u8],
        wait: PeerWait,
        deadline: Instant,
    ) -> io::Result<usize> {
        loop {
            match self.read(buf) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && wait == PeerWait::Polling => {
                    spin_until(deadline)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Fills `buf` with [`PeerStream::read_some`].
    ///
    /// # Errors
    ///
    /// As [`PeerStream::read_some`].
    pub fn fill(&mut self, buf: &mut [u8], wait: PeerWait, deadline: Instant) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            filled += self.read_some(&mut buf[filled..], wait, deadline)?;
        }
        Ok(())
    }
}

/// One turn of a polling loop: a CPU pause hint, or `TimedOut` once `deadline` passed.
fn spin_until(deadline: Instant) -> io::Result<()> {
    if Instant::now() >= deadline {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no client before the polling peer's deadline",
        ));
    }
    std::hint::spin_loop();
    Ok(())
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_polling_peer_gives_up_at_its_deadline() {
        let listener = Listener::bind(Transport::Uds).unwrap();
        let deadline = Instant::now() + Duration::from_millis(20);
        let err = listener
            .accept_waiting(PeerWait::Polling, deadline)
            .err()
            .expect("nobody connects");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(Instant::now() >= deadline);
    }

    #[test]
    fn a_polling_peer_reads_what_a_client_wrote() {
        let listener = Listener::bind(Transport::Uds).unwrap();
        let ListenerKind::Uds(_, path) = &listener.kind else {
            unreachable!("bound as UDS")
        };
        let mut client = UnixStream::connect(path).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut peer = listener
            .accept_waiting(PeerWait::Polling, deadline)
            .unwrap();
        let writer = std::thread::spawn(move || {
            client.write_all(b"abc").unwrap();
            std::thread::sleep(Duration::from_millis(5));
            client.write_all(b"def").unwrap();
        });
        let mut buf = [0u8; 6];
        peer.fill(&mut buf, PeerWait::Polling, deadline).unwrap();
        assert_eq!(&buf, b"abcdef");
        writer.join().unwrap();
    }
}
