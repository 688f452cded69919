//! WebSocket endpoints (feature `ws`): `ws://host:port/path`, one binary message per
//! frame (header and payload together, as the sink's framing wrote them).
//!
//! The connection task owns the WebSocket; senders never write to it directly (no
//! [`Inline`](super::Inline) handle), so the task's batches carry every frame and
//! coalesce: one batch is many messages in the client's write buffer, and one flush.
//!
//! # What counts as sent
//!
//! A WebSocket peer sends no acknowledgements of ours, and TCP under a WebSocket gives
//! no kernel proof of what the peer read (SPEC G3). The connection confirms frames
//! instead with WebSocket pings, one at a time: the task sends a ping numbered after
//! the frames taken so far, and the peer's pong with that number proves that the peer
//! read every message before the ping (RFC 6455: a peer answers each ping with a pong
//! carrying its data, and reads messages in order). Frames count as sent when their
//! pong arrives; frames still unconfirmed when the connection dies count as lost
//! (`unconfirmed`), never silently and never resent. A peer that never answers pings
//! breaks RFC 6455; its frames stay in doubt and hold room in the queue.
//!
//! # `wss://`
//!
//! A `wss://` endpoint (features `ws` and `tls`) runs the same WebSocket over TLS:
//! [`secure`] makes the TLS connection with tokio-rustls, from the client config
//! [`Tls::connector`](crate::tls::Tls::connector) builds for `tcp://` sinks (the ring
//! provider named explicitly; the platform's roots, or the `ca` of the endpoint's
//! `tls` table; its client certificate and `server_name`, if any). Secrets are read
//! per connection attempt, and a certificate that does not verify is a retryable
//! error: the sink backs off and tries again. Frames are confirmed by pings and
//! pongs exactly as over plain TCP; TLS records carry no proof of what the peer read.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::error::{ErrorClass, TransportError};
use crate::framing::Framing;

use super::WriteStop;

/// Copied from a batch at a time, at least: frames become messages as slices of one
/// copy, not one allocation each.
const CHUNK: usize = 64 * 1024;

/// Where a `ws://` or `wss://` sink connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct WsAddress {
    /// `wss://`: TLS under the WebSocket.
    pub(crate) secure: bool,
    /// `host:port`, IPv6 hosts in brackets.
    pub(crate) authority: String,
    /// The endpoint in canonical form (the handshake's request URL).
    pub(crate) url: String,
    /// `wss://`: how TLS is set up (the `tls` table); `None` trusts the platform's
    /// roots and checks the endpoint's host.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Box<crate::tls::Tls>>,
}

/// The stream a WebSocket handshake runs over: TCP, or TLS on TCP (`wss://`).
enum WsStream {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// The stream a `wss://` endpoint's handshake runs over: TLS on `tcp`, set up from
/// the endpoint's `tls` table (the platform's roots without one). This is the one
/// place TLS for WebSocket endpoints is configured.
#[cfg(feature = "tls")]
async fn secure(tcp: TcpStream, address: &WsAddress) -> Result<WsStream, TransportError> {
    let tls = address.tls.as_deref().cloned().unwrap_or_default();
    // Secrets are read per attempt: a variable or file fixed while the sink backs
    // off is picked up by the next one.
    let (config, name) = tls.connector(super::host_of(&address.authority))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map(|s| WsStream::Tls(Box::new(s)))
        .map_err(|e| tls_failed(&format!("TLS handshake with {}", address.url), &e))
}

/// Without the `tls` feature a `wss://` endpoint does not parse
/// ([`Endpoint::parse`](super::Endpoint::parse) names the feature); a connection
/// asked for one anyway fails for good.
#[cfg(not(feature = "tls"))]
async fn secure(_tcp: TcpStream, address: &WsAddress) -> Result<WsStream, TransportError> {
    Err(TransportError::new(
        ErrorClass::Fatal,
        io::ErrorKind::Unsupported,
        format!(
            "{}: wss:// needs the `tls` feature of sinkgen-runtime",
            address.url
        ),
    ))
}

/// An I/O error of the TLS layer: a certificate that does not verify, an alert, a
/// record that does not decrypt (`InvalidData`) may be fixed on the other side (a
/// certificate renewed, a CA bundle updated), so it is retried under backoff like a
/// refused connection; other I/O errors by their kind.
fn tls_failed(context: &str, e: &io::Error) -> TransportError {
    if e.kind() == io::ErrorKind::InvalidData {
        TransportError::new(
            ErrorClass::Retryable,
            io::ErrorKind::InvalidData,
            format!("{context}: {e}"),
        )
    } else {
        TransportError::from_io(context, e)
    }
}

#[cfg(test)]
thread_local! {
    /// Writes and flushes of [`WsStream`]s on this thread that made progress.
    static WRITES: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// A write's result, counted (in tests) when it made progress.
#[inline]
fn counted(r: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
    #[cfg(test)]
    if let Poll::Ready(Ok(n)) = r
        && n > 0
    {
        WRITES.with(|w| w.set((w.get().0 + 1, w.get().1)));
    }
    r
}

impl tokio::io::AsyncRead for WsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WsStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            WsStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for WsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        counted(match self.get_mut() {
            WsStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            WsStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        })
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        counted(match self.get_mut() {
            WsStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            WsStream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        })
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            WsStream::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            WsStream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = match self.get_mut() {
            WsStream::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            WsStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        };
        #[cfg(test)]
        if r.is_ready() {
            WRITES.with(|w| w.set((w.get().0, w.get().1 + 1)));
        }
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WsStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            WsStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An open WebSocket connection, owned by the connection task.
pub(crate) struct WsConnection {
    ws: WebSocketStream<WsStream>,
    framing: Framing,
    url: String,
    /// A copy of part of the current batch from `chunk_at` (see [`CHUNK`]).
    chunk: Bytes,
    chunk_at: usize,
    /// Binary messages the client took on this connection.
    messages: u64,
    /// Number of the last ping sent, and `messages` when it was sent.
    ping: u64,
    ping_after: u64,
    /// Whether the last ping's pong is still awaited.
    awaiting: bool,
    /// The last ping's pong arrived and was not reported yet.
    confirmed: bool,
}

impl WsConnection {
    /// One connection attempt: TCP (with `TCP_NODELAY`), then the handshake (the
    /// caller bounds both with the connect timeout).
    pub(super) async fn connect(
        address: &WsAddress,
        framing: Framing,
    ) -> Result<WsConnection, TransportError> {
        if framing == Framing::Sinkgen {
            // The front end refuses this; a builder or an override can still ask.
            return Err(TransportError::new(
                ErrorClass::Fatal,
                io::ErrorKind::InvalidInput,
                format!(
                    "{}: sinkgen framing needs sinkgen acknowledgements, which a WebSocket peer \
                     does not send; help: use length-prefixed or torq framing",
                    address.url
                ),
            ));
        }
        let tcp = TcpStream::connect(address.authority.as_str())
            .await
            .map_err(|e| TransportError::from_io(&format!("connect to {}", address.url), &e))?;
        tcp.set_nodelay(true)
            .map_err(|e| TransportError::from_io("set TCP_NODELAY", &e))?;
        let stream = if address.secure {
            secure(tcp, address).await?
        } else {
            WsStream::Plain(tcp)
        };
        let request = address.url.as_str().into_client_request().map_err(|e| {
            TransportError::new(
                ErrorClass::Fatal,
                io::ErrorKind::InvalidInput,
                format!("{}: {e}", address.url),
            )
        })?;
        let (ws, _response) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config()))
                .await
                .map_err(|e| failed(&format!("WebSocket handshake with {}", address.url), e))?;
        Ok(WsConnection {
            ws,
            framing,
            url: address.url.clone(),
            chunk: Bytes::new(),
            chunk_at: 0,
            messages: 0,
            ping: 0,
            ping_after: 0,
            awaiting: false,
            confirmed: false,
        })
    }

    /// Feeds `batch[*written..]` to the client, one binary message per frame, and
    /// flushes it, while reading what the peer sends (its pongs, its close). Cancel
    /// safe: `*written` counts the frames the client took, which it sends on the next
    /// flush whatever happens to this future.
    pub(super) async fn write_batch(
        &mut self,
        batch: &[u8],
        written: &mut usize,
        interrupt: impl Future<Output = ()>,
    ) -> Result<(), WriteStop> {
        if *written == 0 {
            self.chunk = Bytes::new();
            self.chunk_at = 0;
        }
        tokio::pin!(interrupt);
        let feed = std::future::poll_fn(|cx| self.poll_feed(cx, batch, written));
        tokio::select! {
            biased;
            r = feed => r.map_err(WriteStop::Failed),
            () = &mut interrupt => Err(WriteStop::Interrupted),
        }
    }

    fn poll_feed(
        &mut self,
        cx: &mut Context<'_>,
        batch: &[u8],
        written: &mut usize,
    ) -> Poll<Result<(), TransportError>> {
        // A closed or failed peer fails the write even when the write would block.
        loop {
            match self.poll_read(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        while *written < batch.len() {
            ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(|e| self.failed(e))?;
            let at = *written;
            let len = self.framing.frame_len(&batch[at..]);
            if at < self.chunk_at || at + len > self.chunk_at + self.chunk.len() {
                let end = batch.len().min(at + CHUNK.max(len));
                self.chunk = Bytes::copy_from_slice(&batch[at..end]);
                self.chunk_at = at;
            }
            let start = at - self.chunk_at;
            let frame = self.chunk.slice(start..start + len);
            Pin::new(&mut self.ws)
                .start_send(Message::Binary(frame))
                .map_err(|e| self.failed(e))?;
            self.messages += 1;
            *written += len;
        }
        ready!(Pin::new(&mut self.ws).poll_flush(cx)).map_err(|e| self.failed(e))?;
        Poll::Ready(Ok(()))
    }

    /// Reads what the peer sent until nothing more is there: `Ready(Ok)` when the
    /// pong awaited arrived, `Ready(Err)` when the peer closed or the connection
    /// failed, `Pending` otherwise (woken when more arrives). Messages from the peer
    /// are read and discarded.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        loop {
            match Pin::new(&mut self.ws).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) | Poll::Ready(Some(Ok(Message::Close(_)))) => {
                    return Poll::Ready(Err(TransportError::new(
                        ErrorClass::Retryable,
                        io::ErrorKind::UnexpectedEof,
                        format!("{}: peer closed the WebSocket connection", self.url),
                    )));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(self.failed(e))),
                Poll::Ready(Some(Ok(Message::Pong(data)))) => {
                    if self.awaiting && data.as_ref() == self.ping.to_le_bytes() {
                        self.awaiting = false;
                        self.confirmed = true;
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Some(Ok(_))) => {}
            }
        }
    }

    /// Sends a ping after every frame taken so far; its pong is reported by
    /// [`watch`](Self::watch) or [`poll_confirmed`](Self::poll_confirmed). Cancel
    /// safe: a ping the client took goes out with the next flush, and serves the next
    /// request if no frame was taken since; otherwise that request sends a new ping
    /// (the old one's pong is no longer awaited).
    pub(super) async fn request_confirmation(&mut self) -> Result<(), TransportError> {
        std::future::poll_fn(|cx| {
            if !self.awaiting || self.ping_after != self.messages {
                ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(|e| self.failed(e))?;
                self.ping += 1;
                let data = Bytes::copy_from_slice(&self.ping.to_le_bytes());
                Pin::new(&mut self.ws)
                    .start_send(Message::Ping(data))
                    .map_err(|e| self.failed(e))?;
                self.ping_after = self.messages;
                self.awaiting = true;
                self.confirmed = false;
            }
            Pin::new(&mut self.ws)
                .poll_flush(cx)
                .map_err(|e| self.failed(e))
        })
        .await
    }

    /// Whether the pong of the last ping arrived (reported once); never waits.
    pub(super) fn poll_confirmed(&mut self) -> bool {
        if !self.confirmed {
            let waker = std::task::Waker::noop();
            let mut cx = Context::from_waker(waker);
            // An error shows up again in the next write or watch.
            let _ = self.poll_read(&mut cx);
        }
        std::mem::take(&mut self.confirmed)
    }

    /// Waits for the pong awaited (`Ok`) or a closed or failed connection (`Err`),
    /// while flushing what the client holds. Cancel safe.
    pub(super) async fn watch(&mut self) -> Result<(), TransportError> {
        std::future::poll_fn(|cx| {
            if std::mem::take(&mut self.confirmed) {
                return Poll::Ready(Ok(()));
            }
            if let Poll::Ready(Err(e)) = Pin::new(&mut self.ws).poll_flush(cx) {
                return Poll::Ready(Err(self.failed(e)));
            }
            let read = self.poll_read(cx);
            if read.is_ready() {
                self.confirmed = false;
            }
            read
        })
        .await
    }

    fn failed(&self, e: tungstenite::Error) -> TransportError {
        failed(&self.url, e)
    }
}

impl Drop for WsConnection {
    /// Says goodbye with a close frame if the socket takes it at once (never waits):
    /// the peer sees a closed WebSocket rather than a dropped TCP connection.
    fn drop(&mut self) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut ws = Pin::new(&mut self.ws);
        if let Poll::Ready(Ok(())) = ws.as_mut().poll_ready(&mut cx)
            && ws.as_mut().start_send(Message::Close(None)).is_ok()
        {
            let _ = ws.as_mut().poll_flush(&mut cx);
        }
    }
}

/// The client's settings: messages as the framing made them (no size limit of its
/// own on what it sends); what the peer sends is read and discarded, so it is kept
/// small.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(64 << 10))
        .max_frame_size(Some(64 << 10))
}

/// A tungstenite error as a transport error: I/O errors by their kind (as for
/// sockets), a peer that went away or answered the handshake with an HTTP error
/// retryable (it may come back, or finish starting), anything else a protocol error
/// (fatal: the peer is not a WebSocket server we can talk to).
fn failed(context: &str, e: tungstenite::Error) -> TransportError {
    use tungstenite::error::ProtocolError;
    match e {
        tungstenite::Error::Io(io) => tls_failed(context, &io),
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(
            ProtocolError::ResetWithoutClosingHandshake | ProtocolError::HandshakeIncomplete,
        ) => TransportError::new(
            ErrorClass::Retryable,
            io::ErrorKind::ConnectionReset,
            format!("{context}: {e}"),
        ),
        tungstenite::Error::Http(response) => TransportError::new(
            ErrorClass::Retryable,
            io::ErrorKind::ConnectionRefused,
            format!(
                "{context}: the server refused the WebSocket upgrade ({})",
                response.status()
            ),
        ),
        other => TransportError::new(
            ErrorClass::Fatal,
            io::ErrorKind::InvalidData,
            format!("{context}: {other}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    //! The write path coalesces over TLS as over TCP: one batch of many frames is
    //! many messages in the client's buffer, a few large writes and one flush, not a
    //! write (or a TLS record) per message.

    use futures_util::StreamExt;
    use tokio::net::TcpListener;

    use super::*;

    const FRAMES: usize = 2000;
    const SIZE: usize = 100;

    /// Writes one batch of [`FRAMES`] length-prefixed frames to a server on
    /// loopback; returns the stream's writes and flushes during the batch, once the
    /// server has read every message.
    async fn one_batch(secure: bool) -> (u64, u64) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        #[cfg(feature = "tls")]
        let (tls, acceptor, _dir) = if secure {
            let (tls, acceptor, dir) = self_signed();
            (Some(Box::new(tls)), Some(acceptor), Some(dir))
        } else {
            (None, None, None)
        };
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut n = 0;
            macro_rules! read_all {
                ($ws:expr) => {{
                    let mut ws = $ws;
                    while n < FRAMES {
                        match ws.next().await {
                            Some(Ok(Message::Binary(m))) => {
                                assert_eq!(m.len(), 4 + SIZE, "one message, one frame");
                                assert_eq!(m[4], n as u8, "in order");
                                n += 1;
                            }
                            Some(Ok(_)) => {}
                            other => panic!("{other:?} after {n} messages"),
                        }
                    }
                    n
                }};
            }
            #[cfg(feature = "tls")]
            if let Some(acceptor) = acceptor {
                let tls = acceptor.accept(tcp).await.unwrap();
                return read_all!(tokio_tungstenite::accept_async(tls).await.unwrap());
            }
            read_all!(tokio_tungstenite::accept_async(tcp).await.unwrap())
        });
        let address = WsAddress {
            secure,
            url: format!("{}://{authority}/", if secure { "wss" } else { "ws" }),
            authority,
            #[cfg(feature = "tls")]
            tls,
        };
        let mut conn = WsConnection::connect(&address, Framing::LengthPrefixed)
            .await
            .unwrap();
        let mut batch = Vec::with_capacity(FRAMES * (4 + SIZE));
        for i in 0..FRAMES {
            batch.extend_from_slice(&(SIZE as u32).to_le_bytes());
            batch.extend(std::iter::repeat_n(i as u8, SIZE));
        }
        let before = WRITES.with(std::cell::Cell::get);
        let mut written = 0;
        if conn
            .write_batch(&batch, &mut written, std::future::pending())
            .await
            .is_err()
        {
            panic!("the batch failed");
        }
        let after = WRITES.with(std::cell::Cell::get);
        assert_eq!(written, batch.len());
        let read = tokio::time::timeout(std::time::Duration::from_secs(20), server)
            .await
            .expect("the server read everything")
            .unwrap();
        assert_eq!(read, FRAMES);
        (after.0 - before.0, after.1 - before.1)
    }

    fn check((writes, flushes): (u64, u64)) {
        // 2000 messages, about 210 KB: the client's buffer goes out in a few large
        // writes (a write per message would be 2000), and the batch is flushed once.
        assert!(writes <= 10, "{writes} writes for {FRAMES} messages");
        assert_eq!(flushes, 1, "one flush per batch");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_is_a_few_writes_and_one_flush() {
        check(one_batch(false).await);
    }

    #[cfg(feature = "tls")]
    #[tokio::test(flavor = "current_thread")]
    async fn a_batch_over_tls_is_a_few_writes_and_one_flush() {
        check(one_batch(true).await);
    }

    /// A self-signed certificate for `localhost` in a temporary directory (removed on
    /// drop): the client's `tls` table trusts it, the acceptor presents it.
    #[cfg(feature = "tls")]
    fn self_signed() -> (crate::tls::Tls, tokio_rustls::TlsAcceptor, TempDir) {
        use crate::Secret;
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = TempDir(std::env::temp_dir().join(format!(
            "sinkgen-ws-unit-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        )));
        std::fs::create_dir_all(&dir.0).unwrap();
        let cert = dir.0.join("cert.pem").display().to_string();
        let key = dir.0.join("key.pem").display().to_string();
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        let file = |path: &str, key: &'static str| Secret::file(path.to_owned(), key, "t", 1);
        let server = crate::tls::Tls::new().identity(file(&cert, "cert"), file(&key, "key"));
        let acceptor =
            tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server.server_config().unwrap()));
        let client = crate::tls::Tls::new()
            .ca(file(&cert, "ca"))
            .server_name("localhost");
        (client, acceptor, dir)
    }

    #[cfg(feature = "tls")]
    struct TempDir(std::path::PathBuf);

    #[cfg(feature = "tls")]
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
