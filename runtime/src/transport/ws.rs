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
//! A `wss://` endpoint is parsed and checked like `ws://`; the stream the handshake
//! runs over comes from [`secure`], the one place TLS for WebSocket endpoints is set
//! up. This build has no TLS support, so `secure` refuses with a fatal error that says
//! so.

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
}

/// The stream a WebSocket handshake runs over.
type WsStream = TcpStream;

/// The stream a `wss://` endpoint's handshake runs over: TLS on `tcp`. This is the
/// one place TLS for WebSocket endpoints is configured; this build has no TLS
/// support, so it refuses with a fatal error (retrying cannot help).
fn secure(_tcp: TcpStream, address: &WsAddress) -> Result<WsStream, TransportError> {
    Err(TransportError::new(
        ErrorClass::Fatal,
        io::ErrorKind::Unsupported,
        format!(
            "{}: wss:// needs TLS, which this build of sinkgen-runtime does not support; \
             help: use a ws:// endpoint (behind a TLS-terminating proxy on the same host)",
            address.url
        ),
    ))
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
            secure(tcp, address)?
        } else {
            tcp
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
        tungstenite::Error::Io(io) => TransportError::from_io(context, &io),
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
