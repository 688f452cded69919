//! Transports: parsing endpoints, connecting, and writing whole batches while watching
//! the read half for a peer that went away.
//!
//! This is the seam a new transport plugs into: add an [`Endpoint`] variant (parsed in
//! [`Endpoint::parse`]), a [`Connection`] variant (made in [`Connection::connect`]) and
//! the two operations the connection task needs, [`Connection::write_batch`] and
//! [`Connection::watch`], and return `None` from [`Connection::inline`] unless the
//! transport can take one whole frame from a sender without waiting. A transport whose
//! peer confirms frames later (NATS) says so with [`Connection::confirms`]; the task
//! then asks for confirmations ([`Connection::request_confirmation`]) instead of
//! counting frames sent when the transport takes them. The connection task knows
//! nothing else about sockets.
//!
//! Unix and TCP sockets are written here; NATS (feature `nats`) lives in the `nats`
//! child module, which takes [`Handed`] and [`WriteStop`] from this one, and
//! WebSocket (feature `ws`) in the `ws` child module.

use std::future::Future;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UnixStream};

use crate::error::TransportError;

mod acks;
mod endpoint;
mod io;
#[cfg(feature = "nats")]
mod nats;
mod socket;
#[cfg(feature = "tls")]
mod tls;
mod unread;
#[cfg(feature = "ws")]
mod ws;

pub(crate) use acks::Greeting;
pub(crate) use endpoint::Endpoint;
pub(crate) use io::peer_closed;
#[cfg(feature = "nats")]
pub(crate) use nats::{NatsAddress, auth_options as nats_options, retryable as nats_retryable};
pub(crate) use socket::Sock;
use socket::{read_until, write_watching};
#[cfg(feature = "tls")]
pub(crate) use tls::TlsSocket;

/// An open connection, owned by one connection task. Socket connections are shared
/// (behind an `Arc`) with the sink's senders for direct writes of sparse frames; see
/// [`Connection::inline`].
pub(crate) enum Connection {
    Unix(Sock<UnixStream>),
    Tcp(Sock<TcpStream>),
    /// TLS over TCP (feature `tls`).
    #[cfg(feature = "tls")]
    Tls(Sock<TlsSocket>),
    /// A NATS client publishing on one subject (no direct writes: see `inline`).
    #[cfg(feature = "nats")]
    Nats(Box<nats::NatsConnection>),
    /// A NATS client publishing a durable relay's frames through JetStream.
    #[cfg(feature = "nats")]
    Jet(Box<nats::JetConnection>),
    /// A WebSocket client (no direct writes: see `inline`; confirmed by pongs).
    #[cfg(feature = "ws")]
    Ws(Box<ws::WsConnection>),
}

/// A handle senders may hand a frame through directly while the connection task is
/// idle.
pub(crate) enum Inline {
    Unix(Arc<UnixStream>),
    Tcp(Arc<TcpStream>),
    #[cfg(feature = "tls")]
    Tls(Arc<TlsSocket>),
    #[cfg(feature = "nats")]
    Nats(Box<nats::NatsInline>),
}

/// What a direct hand-over did with a frame.
pub(crate) enum Handed {
    /// The kernel took the whole frame: it is sent.
    Written,
    /// The transport took the whole frame; the connection task confirms it later.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    Published,
    /// The kernel took this many bytes of the frame; the task writes the rest.
    Part(usize),
    /// Nothing was taken because the transport's buffer is full (NATS); its sender
    /// may wait for its [`Turn`].
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    Full,
    /// Nothing was taken; the frame stays queued for the task.
    Nothing,
}

impl Inline {
    /// Whether direct hand-overs should be spaced out so that bursts coalesce in the
    /// task's batches (one system call per hand-over: sockets); a message transport
    /// with a buffer of its own takes every frame.
    pub(crate) fn spaced(&self) -> bool {
        match self {
            Inline::Unix(_) | Inline::Tcp(_) => true,
            #[cfg(feature = "tls")]
            Inline::Tls(_) => true,
            #[cfg(feature = "nats")]
            Inline::Nats(_) => false,
        }
    }

    /// Hands one whole frame on without waiting: one non-blocking `write` on a socket
    /// (`WouldBlock` and errors take nothing; the task meets the error on its own
    /// write), one publish the client takes at once on NATS.
    pub(crate) fn hand(&mut self, frame: &[u8]) -> Handed {
        let written = match self {
            Inline::Unix(s) => s.try_write(frame),
            Inline::Tcp(s) => s.try_write(frame),
            #[cfg(feature = "tls")]
            Inline::Tls(s) => io::Socket::try_write(&**s, frame),
            #[cfg(feature = "nats")]
            Inline::Nats(n) => return n.try_publish(frame),
        };
        match written {
            Ok(n) if n == frame.len() => Handed::Written,
            Ok(n) if n > 0 => Handed::Part(n),
            _ => Handed::Nothing,
        }
    }
}

impl Inline {
    /// Hands on a length-prefixed frame without building it, where the transport
    /// takes payloads rather than frames (NATS): `encode` writes the payload straight
    /// into the transport's shared bytes. `None` for sockets (use [`Inline::hand`]);
    /// otherwise what happened (`Published`, `Full` or `Nothing`) and the payload
    /// size.
    #[cfg_attr(not(feature = "nats"), allow(unused_variables))]
    pub(crate) fn hand_encoded(
        &mut self,
        hint: usize,
        encode: &mut dyn FnMut(&mut bytes::BytesMut),
    ) -> Option<(Handed, usize)> {
        match self {
            Inline::Unix(_) | Inline::Tcp(_) => None,
            #[cfg(feature = "tls")]
            Inline::Tls(_) => None,
            #[cfg(feature = "nats")]
            Inline::Nats(n) => Some(n.try_publish_encoded(hint, encode)),
        }
    }

    /// Hands on a length-prefixed frame whose message gives up its own bytes (`take`,
    /// see [`Encode::take_bytes`](crate::Encode::take_bytes)), without a copy, where
    /// the transport keeps payloads by reference and surely has room (NATS). `None`
    /// when it cannot (sockets, no room for sure, or the message gave nothing).
    #[cfg_attr(not(feature = "nats"), allow(unused_variables))]
    pub(crate) fn hand_taken(
        &mut self,
        hint: usize,
        take: &mut dyn FnMut() -> Option<bytes::Bytes>,
    ) -> Option<(Handed, usize)> {
        match self {
            Inline::Unix(_) | Inline::Tcp(_) => None,
            #[cfg(feature = "tls")]
            Inline::Tls(_) => None,
            #[cfg(feature = "nats")]
            Inline::Nats(n) => n.try_publish_taken(hint, take),
        }
    }

    /// Forgets what the transport knew about room in its buffer (the task used it).
    pub(crate) fn reset_credit(&mut self) {
        match self {
            Inline::Unix(_) | Inline::Tcp(_) => {}
            #[cfg(feature = "tls")]
            Inline::Tls(_) => {}
            #[cfg(feature = "nats")]
            Inline::Nats(n) => n.reset_credit(),
        }
    }

    /// The turn of a sender whose frame found the transport's buffer full
    /// ([`Handed::Full`]): it waits with it for room, then hands its frame on with
    /// [`Inline::hand_reserved`]. Only one sender holds the turn at a time.
    pub(crate) fn take_turn(&mut self) -> Option<Turn> {
        match self {
            Inline::Unix(_) | Inline::Tcp(_) => None,
            #[cfg(feature = "tls")]
            Inline::Tls(_) => None,
            #[cfg(feature = "nats")]
            Inline::Nats(n) => Some(Turn(n.take_turn())),
        }
    }

    /// Hands one whole frame on with the room `turn` reserved; `false` when nothing
    /// was taken. The turn ends either way.
    #[cfg_attr(not(feature = "nats"), allow(unused_variables))]
    pub(crate) fn hand_reserved(&mut self, turn: Turn, frame: &[u8]) -> bool {
        match self {
            Inline::Unix(_) | Inline::Tcp(_) => false,
            #[cfg(feature = "tls")]
            Inline::Tls(_) => false,
            #[cfg(feature = "nats")]
            Inline::Nats(n) => n.publish_reserved(turn.0, frame),
        }
    }

    /// Ends a turn that handed nothing on (its reservation serves the next turn).
    #[cfg_attr(not(feature = "nats"), allow(unused_variables))]
    pub(crate) fn end_turn(&mut self, turn: Turn) {
        match self {
            Inline::Unix(_) | Inline::Tcp(_) => {}
            #[cfg(feature = "tls")]
            Inline::Tls(_) => {}
            #[cfg(feature = "nats")]
            Inline::Nats(n) => n.end_turn(turn.0),
        }
    }
}

/// A sender's turn to wait for room in a message transport's buffer (see
/// [`Inline::take_turn`]).
pub(crate) struct Turn(#[cfg(feature = "nats")] nats::NatsTurn);

impl Turn {
    /// Waits until the transport reserved room for one frame (`true`) or is gone
    /// (`false`). Cancel safe.
    pub(crate) async fn ready(&mut self) -> bool {
        #[cfg(feature = "nats")]
        return self.0.ready().await;
        #[cfg(not(feature = "nats"))]
        false
    }
}

/// Why a batch write stopped before the end of the batch.
pub(crate) enum WriteStop {
    /// The connection failed; the bytes before the write position may have reached the
    /// peer, the rest did not.
    Failed(TransportError),
    /// The caller's interrupt fired; the connection is intact.
    Interrupted,
    /// Acknowledgements arrived (see [`Connection::acked`]) while the socket was
    /// full; the connection is intact. Returned so that the caller frees what they
    /// cover before it writes on.
    Acked,
}

impl Connection {
    /// Opens a connection (one attempt; the caller bounds it with the connect timeout).
    /// `framing` and `name` matter to message transports (NATS) only.
    /// With a `greeting` (sinkgen framing on a socket), the connection is acknowledged:
    /// the handshake is part of the attempt.
    #[cfg_attr(not(feature = "nats"), allow(unused_variables))]
    pub(crate) async fn connect(
        endpoint: &Endpoint,
        framing: crate::framing::Framing,
        name: &str,
        greeting: Option<&Greeting>,
    ) -> Result<Connection, TransportError> {
        #[cfg(feature = "nats")]
        if let Endpoint::Jet(address, durable) = endpoint {
            let session = greeting.map_or(0, |g| g.session);
            return nats::JetConnection::connect(address, durable, name, session)
                .await
                .map(|c| Connection::Jet(Box::new(c)));
        }
        let mut conn = Connection::open(endpoint, framing, name).await?;
        if let Some(greeting) = greeting {
            match &mut conn {
                Connection::Unix(c) => c.acks = Some(acks::handshake(&*c.s, greeting).await?),
                Connection::Tcp(c) => c.acks = Some(acks::handshake(&*c.s, greeting).await?),
                #[cfg(feature = "tls")]
                Connection::Tls(c) => c.acks = Some(acks::handshake(&*c.s, greeting).await?),
                #[cfg(feature = "nats")]
                Connection::Nats(_) | Connection::Jet(_) => {}
                #[cfg(feature = "ws")]
                Connection::Ws(_) => {}
            }
        }
        Ok(conn)
    }

    #[cfg_attr(not(feature = "nats"), allow(unused_variables))]
    async fn open(
        endpoint: &Endpoint,
        framing: crate::framing::Framing,
        name: &str,
    ) -> Result<Connection, TransportError> {
        match endpoint {
            #[cfg(feature = "nats")]
            Endpoint::Nats(address) => nats::NatsConnection::connect(address, framing, name)
                .await
                .map(|c| Connection::Nats(Box::new(c))),
            #[cfg(feature = "nats")]
            Endpoint::Jet(..) => unreachable!("durable relays connect in `Connection::connect`"),
            #[cfg(feature = "ws")]
            Endpoint::Ws(address) => ws::WsConnection::connect(address, framing)
                .await
                .map(|c| Connection::Ws(Box::new(c))),
            Endpoint::Unix(path) => UnixStream::connect(path)
                .await
                .map(|s| Connection::Unix(Sock::new(s)))
                .map_err(|e| {
                    TransportError::from_io(&format!("connect to unix://{}", path.display()), &e)
                }),
            Endpoint::Tcp(addr) => Ok(Connection::Tcp(Sock::new(tcp_connect(addr).await?))),
            #[cfg(feature = "tls")]
            Endpoint::TcpTls(addr, tls) => {
                // Secrets are read per attempt: a variable or file fixed while the
                // sink backs off is picked up by the next one.
                let (config, name) = tls.connector(host_of(addr))?;
                let stream = tcp_connect(addr).await?;
                TlsSocket::connect(stream, config, name)
                    .await
                    .map(|s| Connection::Tls(Sock::new(s)))
            }
        }
    }
}

/// One TCP connect, with Nagle off (frames go out as they are written).
async fn tcp_connect(addr: &str) -> Result<TcpStream, TransportError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| TransportError::from_io(&format!("connect to tcp://{addr}"), &e))?;
    stream
        .set_nodelay(true)
        .map_err(|e| TransportError::from_io("set TCP_NODELAY", &e))?;
    Ok(stream)
}

/// The host of a canonical `host:port` (an IPv6 host keeps its brackets).
#[cfg(feature = "tls")]
pub(crate) fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(host, _)| host)
}

impl Connection {
    /// A handle for direct writes by senders, for transports that have one.
    pub(crate) fn inline(&self) -> Option<Inline> {
        match self {
            Connection::Unix(c) => Some(Inline::Unix(Arc::clone(&c.s))),
            Connection::Tcp(c) => Some(Inline::Tcp(Arc::clone(&c.s))),
            #[cfg(feature = "tls")]
            Connection::Tls(c) => Some(Inline::Tls(Arc::clone(&c.s))),
            #[cfg(feature = "nats")]
            Connection::Nats(c) => Some(Inline::Nats(Box::new(c.inline()))),
            // Frames are kept until acknowledged: the task publishes them all.
            #[cfg(feature = "nats")]
            Connection::Jet(_) => None,
            // The task owns the WebSocket: every frame goes through its batches.
            #[cfg(feature = "ws")]
            Connection::Ws(_) => None,
        }
    }

    /// Whether frames this connection takes are sent only once its peer confirms them
    /// (NATS), rather than when the kernel takes them (sockets).
    pub(crate) fn confirms(&self) -> bool {
        match self {
            Connection::Unix(_) | Connection::Tcp(_) => false,
            #[cfg(feature = "tls")]
            Connection::Tls(_) => false,
            #[cfg(feature = "nats")]
            Connection::Nats(_) => true,
            // Acknowledged, like a sinkgen socket: the task keeps what it publishes.
            #[cfg(feature = "nats")]
            Connection::Jet(_) => false,
            // Confirmed by the peer's pongs (see the `ws` module).
            #[cfg(feature = "ws")]
            Connection::Ws(_) => true,
        }
    }

    /// The largest payload the peer takes in one message (NATS: the server's
    /// `max_payload`); `None` when frames have no limit but the framing's.
    pub(crate) fn max_payload(&self) -> Option<usize> {
        match self {
            Connection::Unix(_) | Connection::Tcp(_) => None,
            #[cfg(feature = "tls")]
            Connection::Tls(_) => None,
            #[cfg(feature = "nats")]
            Connection::Nats(c) => Some(c.max_payload()),
            #[cfg(feature = "nats")]
            Connection::Jet(c) => Some(c.max_payload()),
            #[cfg(feature = "ws")]
            Connection::Ws(_) => None,
        }
    }

    /// Frames (and bytes) that `write_batch` skipped since the last call because they
    /// are over [`max_payload`](Self::max_payload) (accepted before the limit was
    /// known): taken from the batch, never handed on; the caller counts them lost.
    pub(crate) fn take_dropped(&mut self) -> (usize, usize) {
        match self {
            Connection::Unix(_) | Connection::Tcp(_) => (0, 0),
            #[cfg(feature = "tls")]
            Connection::Tls(_) => (0, 0),
            #[cfg(feature = "nats")]
            Connection::Nats(c) => c.take_dropped(),
            #[cfg(feature = "nats")]
            Connection::Jet(_) => (0, 0),
            #[cfg(feature = "ws")]
            Connection::Ws(_) => (0, 0),
        }
    }

    /// Confirming transports: asks the peer to confirm every frame taken so far; the
    /// answer is reported by [`watch`](Self::watch) or
    /// [`poll_confirmed`](Self::poll_confirmed). Cancel safe. Nothing to do for
    /// sockets.
    pub(crate) async fn request_confirmation(&mut self) -> Result<(), TransportError> {
        match self {
            Connection::Unix(_) | Connection::Tcp(_) => Ok(()),
            #[cfg(feature = "tls")]
            Connection::Tls(_) => Ok(()),
            #[cfg(feature = "nats")]
            Connection::Nats(c) => c.request_confirmation().await,
            #[cfg(feature = "nats")]
            Connection::Jet(_) => Ok(()),
            #[cfg(feature = "ws")]
            Connection::Ws(c) => c.request_confirmation().await,
        }
    }

    /// Whether the confirmation last requested has arrived; never waits.
    pub(crate) fn poll_confirmed(&mut self) -> bool {
        match self {
            Connection::Unix(_) | Connection::Tcp(_) => false,
            #[cfg(feature = "tls")]
            Connection::Tls(_) => false,
            #[cfg(feature = "nats")]
            Connection::Nats(c) => c.poll_confirmed(),
            #[cfg(feature = "nats")]
            Connection::Jet(_) => false,
            #[cfg(feature = "ws")]
            Connection::Ws(c) => c.poll_confirmed(),
        }
    }

    /// Writes `batch[*written..]`, advancing `*written` as bytes are accepted by the
    /// kernel, while watching the read side: a peer that closes or resets fails the
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
            Connection::Unix(c) => write_watching(c, batch, written, interrupt).await,
            Connection::Tcp(c) => write_watching(c, batch, written, interrupt).await,
            #[cfg(feature = "tls")]
            Connection::Tls(c) => write_watching(c, batch, written, interrupt).await,
            #[cfg(feature = "nats")]
            Connection::Nats(c) => c.write_batch(batch, written, interrupt).await,
            #[cfg(feature = "nats")]
            Connection::Jet(c) => c.write_batch(batch, written, interrupt).await,
            #[cfg(feature = "ws")]
            Connection::Ws(c) => c.write_batch(batch, written, interrupt).await,
        }
    }

    /// Watches an idle connection: `Ok` when the confirmation last requested arrives
    /// (confirming transports) or acknowledgements arrived (acknowledged connections,
    /// see [`Connection::acked`]), the error when the peer closes the connection,
    /// refuses it, or it fails. Data a socket peer sends on an unacknowledged
    /// connection is read and discarded. Cancel safe.
    pub(crate) async fn watch(&mut self) -> Result<(), TransportError> {
        match self {
            Connection::Unix(c) => read_until(&*c.s, &mut c.acks).await,
            Connection::Tcp(c) => read_until(&*c.s, &mut c.acks).await,
            #[cfg(feature = "tls")]
            Connection::Tls(c) => read_until(&*c.s, &mut c.acks).await,
            #[cfg(feature = "nats")]
            Connection::Nats(c) => c.watch().await,
            #[cfg(feature = "nats")]
            Connection::Jet(c) => c.watch().await,
            #[cfg(feature = "ws")]
            Connection::Ws(c) => c.watch().await,
        }
    }

    /// Half-closes the connection after a clean shutdown so the peer sees EOF at a frame
    /// boundary. Errors are irrelevant here: the connection is being dropped. The
    /// caller has taken back every [`Inline`] handle first.
    pub(crate) async fn shutdown(&mut self) {
        let _ = match self {
            Connection::Unix(c) => match Arc::get_mut(&mut c.s) {
                Some(s) => s.shutdown().await,
                None => Ok(()),
            },
            Connection::Tcp(c) => match Arc::get_mut(&mut c.s) {
                Some(s) => s.shutdown().await,
                None => Ok(()),
            },
            #[cfg(feature = "tls")]
            Connection::Tls(c) => {
                c.s.close();
                // close_notify may still sit in rustls if the socket was full.
                let _ = tokio::time::timeout(std::time::Duration::from_millis(100), async {
                    while c.s.tcp().writable().await.is_ok() {
                        if io::Socket::try_write(&*c.s, &[]).is_ok() {
                            break;
                        }
                    }
                })
                .await;
                match Arc::get_mut(&mut c.s) {
                    Some(s) => s.tcp_mut().shutdown().await,
                    None => Ok(()),
                }
            }
            #[cfg(feature = "nats")]
            Connection::Nats(_) | Connection::Jet(_) => Ok(()),
            #[cfg(feature = "ws")]
            Connection::Ws(_) => Ok(()),
        };
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
            "nats://x:1/y.*",
            "",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("unix:///{}", "a".repeat(107));
        assert!(Endpoint::parse(&long).is_err());
    }

    #[test]
    fn ws_endpoints_need_the_feature() {
        let parsed = Endpoint::parse("ws://LocalHost:80");
        #[cfg(feature = "ws")]
        assert_eq!(
            parsed,
            Ok(Endpoint::Ws(ws::WsAddress {
                secure: false,
                authority: "localhost:80".into(),
                url: "ws://localhost:80/".into(),
                #[cfg(feature = "tls")]
                tls: None,
            }))
        );
        #[cfg(not(feature = "ws"))]
        assert!(
            parsed
                .as_ref()
                .is_err_and(|e| e.contains("enable the `ws` feature")),
            "{parsed:?}"
        );
        assert!(Endpoint::parse("ws://h:80/?token=x").is_err());
        let secure = Endpoint::parse("wss://h:443/x");
        #[cfg(all(feature = "ws", feature = "tls"))]
        assert!(
            matches!(&secure, Ok(Endpoint::Ws(a)) if a.secure && a.url == "wss://h:443/x"),
            "{secure:?}"
        );
        #[cfg(not(all(feature = "ws", feature = "tls")))]
        assert!(
            secure.as_ref().is_err_and(|e| e.contains("feature")),
            "{secure:?}"
        );
    }

    /// A `tls` table secures `wss://` (and keeps it `wss://`), and is refused on
    /// `ws://` with the fix.
    #[cfg(all(feature = "ws", feature = "tls"))]
    #[test]
    fn tls_secures_wss_only() {
        let tls = crate::tls::Tls::new().server_name("feed.internal");
        let Ok(Endpoint::Ws(address)) = Endpoint::parse("wss://h:443/x").unwrap().secured(&tls)
        else {
            panic!("wss:// takes a tls table");
        };
        assert_eq!(address.tls.as_deref(), Some(&tls));
        let err = Endpoint::parse("ws://h:80/x")
            .unwrap()
            .secured(&tls)
            .unwrap_err();
        assert!(err.contains("help: use `wss://h:80/x`"), "{err}");
    }

    #[test]
    fn nats_endpoints_need_the_feature() {
        let parsed = Endpoint::parse("nats://x:1/y");
        assert_eq!(parsed.is_ok(), cfg!(feature = "nats"), "{parsed:?}");
    }
}
