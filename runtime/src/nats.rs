//! Relays on NATS: the `nats://host:port/subject` transport (feature `nats`).
//!
//! Every frame becomes one NATS message on the endpoint's subject, published through
//! the [`async_nats`] client. The sink keeps the semantics of the socket transports
//! (lazy, single-flight connect, bounded queue, `send_timeout`, backoff, status); what
//! NATS changes is what "sent" means.
//!
//! * **Payload.** With torq framing the whole torq frame (32-byte header, then the
//!   payload) is the message payload, so a NATS subscriber sees exactly what a Torq
//!   relay would read. With length-prefixed framing the payload is published alone: a
//!   NATS message carries its own length, and a 4-byte prefix inside it would only be
//!   noise to subscribers.
//! * **Sent means confirmed.** NATS core publishing has no acknowledgements, and a
//!   client's buffers die with its connection. So a frame counts as sent only once the
//!   server has processed it: after each batch the connection publishes a marker on a
//!   private inbox and waits for the server to echo it (messages of one connection
//!   are processed in order, so the echo proves every earlier frame was). A batch is
//!   finished, and `flush()` returns, only after that server round trip.
//! * **In doubt means lost, never sent twice.** When a connection dies, the frames it
//!   published after the last echo have an unknown fate (some may have reached
//!   subscribers). They are not published again; the connection reports them
//!   ([`NatsConnection::in_doubt`]) and the sink counts them lost. Frames it had not
//!   published yet go out on the next connection, in order.
//! * **The sink reconnects, not the client.** The client's own reconnect would replay
//!   part of its buffer and silently drop the rest, and its publish waits without
//!   bound while it reconnects. Each connection is therefore one client that never
//!   reconnects: the first attempt is let through, every later one is refused (see
//!   [`NatsConnection::connect`]), so a lost connection ends the client and the sink's
//!   own backoff, single flight and bounded queue take over.
//!
//! Subjects are checked like the front end checks them: no whitespace, no empty
//! tokens, no wildcards (`*`, `>`), at most [`MAX_SUBJECT_LEN`] bytes.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{Client, ConnectErrorKind, Subject};
use bytes::Bytes;
use tokio::sync::Notify;

use crate::error::{ErrorClass, TransportError};
use crate::framing::{Framing, LENGTH_PREFIX_LEN};
use crate::transport::WriteStop;

/// The longest subject a sink publishes on: a server rejects protocol lines longer
/// than 4096 bytes (`PUB <subject> <size>\r\n`) and drops the connection.
pub(crate) const MAX_SUBJECT_LEN: usize = 4000;

/// How often the client pings an idle server; two unanswered pings end the
/// connection, so a hung server is noticed within about three intervals.
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// Messages the client buffers between the connection task and the socket. The sink's
/// `queue` is the bound users configure; this only keeps the pipeline full.
const CLIENT_CAPACITY: usize = 4096;

/// The client's own limit on one connect attempt; the sink's `connect_timeout` bounds
/// the whole attempt from outside.
const CLIENT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Bytes of a batch copied at a time into shared bytes that frames are sliced from
/// (a frame larger than this gets a copy of its own size).
const CHUNK: usize = 16 * 1024;

/// A checked `nats://host:port/subject` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NatsAddress {
    /// Host name or address; an IPv6 address without its brackets.
    host: String,
    port: u16,
    subject: String,
}

impl NatsAddress {
    /// Parses and checks an endpoint as the front end does (it may come from an
    /// environment override, unchecked by the build).
    pub(crate) fn parse(text: &str) -> Result<NatsAddress, String> {
        let rest = text
            .strip_prefix("nats://")
            .ok_or_else(|| format!("endpoint `{text}` is not a nats:// endpoint"))?;
        let Some((authority, subject)) = rest.split_once('/') else {
            return Err(format!(
                "nats endpoint `{text}` has no subject: nats://host:port/subject"
            ));
        };
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let Some((host, port)) = bracketed.split_once("]:") else {
                return Err(format!(
                    "nats endpoint `{text}` needs a port: nats://[::1]:4222/subject"
                ));
            };
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!(
                    "nats endpoint `{text}`: `{host}` is not an IPv6 address"
                ));
            }
            (host, port)
        } else {
            let Some((host, port)) = authority.rsplit_once(':') else {
                return Err(format!(
                    "nats endpoint `{text}` needs a port: nats://host:port/subject"
                ));
            };
            let name_ok = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            if !name_ok {
                return Err(format!(
                    "nats endpoint `{text}` has no valid host (IPv6 hosts go in brackets: nats://[::1]:4222/subject)"
                ));
            }
            (host, port)
        };
        match port.parse::<u16>() {
            Ok(p) if p != 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(NatsAddress {
                host: host.to_owned(),
                port: p,
                subject: check_subject(text, subject)?.to_owned(),
            }),
            _ => Err(format!(
                "nats endpoint `{text}` needs a port between 1 and 65535"
            )),
        }
    }

    /// The server address in the form the client takes.
    fn server_url(&self) -> String {
        if self.host.contains(':') {
            format!("nats://[{}]:{}", self.host, self.port)
        } else {
            format!("nats://{}:{}", self.host, self.port)
        }
    }
}

/// A subject a sink can publish on: `.`-separated tokens, none empty, no whitespace,
/// no wildcards (a publisher names one subject).
fn check_subject<'a>(text: &str, subject: &'a str) -> Result<&'a str, String> {
    if subject.is_empty() {
        return Err(format!("nats endpoint `{text}` has no subject"));
    }
    if subject.len() > MAX_SUBJECT_LEN {
        return Err(format!(
            "nats subject is {} bytes, a server accepts at most {MAX_SUBJECT_LEN}",
            subject.len()
        ));
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("nats subject in `{text}` contains whitespace"));
    }
    if subject.contains(['*', '>']) {
        return Err(format!(
            "nats subject in `{text}` contains a wildcard (`*`, `>`); a sink publishes on one subject"
        ));
    }
    if subject.split('.').any(str::is_empty) {
        return Err(format!("nats subject in `{text}` has an empty token"));
    }
    Ok(subject)
}

fn lost_connection() -> TransportError {
    TransportError::new(
        ErrorClass::Retryable,
        io::ErrorKind::ConnectionReset,
        "connection to the NATS server lost",
    )
}

/// The subject as a `'static` string, leaked once per distinct subject for the life of
/// the process: a static subject is cloned per message without touching a reference
/// count that the client's task would decrement on another core.
fn intern(subject: &str) -> &'static str {
    static SUBJECTS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut known = SUBJECTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = known.iter().find(|s| **s == subject) {
        return s;
    }
    let leaked: &'static str = Box::leak(subject.to_owned().into_boxed_str());
    known.push(leaked);
    leaked
}

/// A spawned task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// What the client's event callback saw: an error that ends the connection.
#[derive(Default)]
struct Events {
    error: Mutex<Option<TransportError>>,
    dead: AtomicBool,
    wake: Notify,
}

impl Events {
    fn die(&self, error: TransportError) {
        let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(error);
        }
        drop(slot);
        self.dead.store(true, Ordering::Release);
        self.wake.notify_waiters();
    }

    fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    fn error(&self) -> TransportError {
        self.error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(lost_connection)
    }

    /// Resolves once the connection is known dead. Cancel safe.
    async fn died(&self) {
        loop {
            let wake = self.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            if self.is_dead() {
                return;
            }
            wake.await;
        }
    }
}

/// One connection to a NATS server, publishing on one subject; owned by the sink's
/// connection task.
///
/// Invariants: frames of the current batch are published in order, each once; the
/// marker of a batch is published after its last frame, so its echo (messages of one
/// connection are processed in order) proves the server processed the whole batch.
/// `*written` moves only at that echo, from 0 to the end of the batch. `ends` holds
/// the end offsets of the frames published so far, so after a failure the published
/// but unconfirmed bytes are known exactly.
pub(crate) struct NatsConnection {
    client: Client,
    subject: Subject,
    framing: Framing,
    inbox: Subject,
    markers: async_nats::Subscriber,
    events: Arc<Events>,
    /// A copy of part of the current batch, starting at `chunk_at` (about [`CHUNK`]
    /// bytes): frames become message payloads as slices of it, without a copy each.
    /// The batch is copied chunk by chunk rather than whole, so the reference count
    /// this task increments for each frame is rarely the one the client's task is
    /// decrementing (for frames it wrote earlier) on another core.
    chunk: Bytes,
    chunk_at: usize,
    ends: Vec<usize>,
    /// Number of the last marker published; its echo finishes the current batch.
    marker: u64,
    marker_pending: bool,
}

impl NatsConnection {
    /// One connection attempt (the caller bounds it with `connect_timeout`). `name`
    /// is shown by the server (`/connz`) to tell sinks apart.
    pub(crate) async fn connect(
        address: &NatsAddress,
        framing: Framing,
        name: &str,
    ) -> Result<NatsConnection, TransportError> {
        let events = Arc::new(Events::default());
        // The client would reconnect by itself, replaying part of what it buffered.
        // The one hook that runs on every attempt and can refuse it is the auth
        // callback: it lets the first attempt through and refuses every later one, so
        // a lost connection ends this client (`max_reconnects(1)` then stops it).
        let first = Arc::new(AtomicBool::new(true));
        let seen = Arc::downgrade(&events);
        let options = async_nats::ConnectOptions::with_auth_callback(move |_nonce| {
            let first = first.swap(false, Ordering::AcqRel);
            async move {
                if first {
                    Ok(async_nats::Auth::new())
                } else {
                    Err(async_nats::AuthError::new(
                        "a sink reconnects by itself, under its own backoff",
                    ))
                }
            }
        })
        .event_callback(move |event| {
            let seen = seen.clone();
            async move {
                let Some(events) = seen.upgrade() else {
                    return;
                };
                match event {
                    async_nats::Event::Disconnected | async_nats::Event::Closed => {
                        events.die(lost_connection());
                    }
                    async_nats::Event::ServerError(e) => events.die(server_error(&e)),
                    _ => {}
                }
            }
        })
        .name(name)
        .connection_timeout(CLIENT_CONNECT_TIMEOUT)
        .max_reconnects(1)
        .reconnect_delay_callback(|_| Duration::ZERO)
        .ignore_discovered_servers()
        .retain_servers_order()
        .skip_subject_validation(true)
        .ping_interval(PING_INTERVAL)
        .client_capacity(CLIENT_CAPACITY);

        // The client panics when a server asks for TLS and no crypto provider is
        // installed (none is built in: relays talk plaintext), so the attempt runs as
        // its own task and a panic becomes a fatal error. Dropping this future (the
        // connect timeout) aborts the attempt.
        let url = address.server_url();
        let target = url.clone();
        let attempt = AbortOnDrop(tokio::spawn(async move {
            options.connect(target.as_str()).await
        }));
        let client = match attempt.await {
            Ok(result) => result.map_err(|e| classify(&url, &e))?,
            Err(e) if e.is_panic() => {
                return Err(TransportError::new(
                    ErrorClass::Fatal,
                    io::ErrorKind::Unsupported,
                    format!(
                        "connect to {url}: the server requires TLS, which sinkgen's NATS relays do not speak"
                    ),
                ));
            }
            Err(e) => {
                return Err(TransportError::new(
                    ErrorClass::Retryable,
                    io::ErrorKind::Interrupted,
                    format!("connect to {url}: {e}"),
                ));
            }
        };
        let inbox = client.new_inbox();
        let markers = client.subscribe(inbox.clone()).await.map_err(|e| {
            TransportError::new(
                ErrorClass::Retryable,
                io::ErrorKind::ConnectionAborted,
                format!("subscribe to the confirmation inbox: {e}"),
            )
        })?;
        Ok(NatsConnection {
            client,
            subject: Subject::from_static(intern(&address.subject)),
            framing,
            inbox: Subject::from(inbox),
            markers,
            events,
            chunk: Bytes::new(),
            chunk_at: 0,
            ends: Vec::new(),
            marker: 0,
            marker_pending: false,
        })
    }

    /// Publishes the frames of `batch` (whole frames, as the sink queued them), then a
    /// marker, and waits for the server to echo the marker: only then is the batch
    /// written (`*written = batch.len()`), so `flush()` is a server round trip.
    ///
    /// Cancel safe, like the socket transports: what was published is remembered, and
    /// a new call with the same batch continues after it (a cancelled `publish`
    /// publishes nothing).
    pub(crate) async fn write_batch(
        &mut self,
        batch: &[u8],
        written: &mut usize,
        interrupt: impl Future<Output = ()>,
    ) -> Result<(), WriteStop> {
        if self.ends.is_empty() && !self.marker_pending {
            self.chunk = Bytes::new();
            self.chunk_at = 0;
        }
        tokio::pin!(interrupt);
        let result = tokio::select! {
            biased;
            r = self.publish_and_confirm(batch) => r.map_err(WriteStop::Failed),
            () = &mut interrupt => Err(WriteStop::Interrupted),
        };
        if result.is_ok() {
            *written = batch.len();
            self.ends.clear();
            self.chunk = Bytes::new();
            self.chunk_at = 0;
        }
        result
    }

    async fn publish_and_confirm(&mut self, batch: &[u8]) -> Result<(), TransportError> {
        use futures_core::Stream;
        let total = batch.len();
        let mut at = self.ends.last().copied().unwrap_or(0);
        while at < total {
            if self.events.is_dead() {
                return Err(self.events.error());
            }
            let len = self.framing.frame_len(&batch[at..]);
            if at < self.chunk_at || at + len > self.chunk_at + self.chunk.len() {
                let end = total.min(at + CHUNK.max(len));
                self.chunk = Bytes::copy_from_slice(&batch[at..end]);
                self.chunk_at = at;
            }
            let start = at - self.chunk_at;
            let payload = match self.framing {
                Framing::LengthPrefixed => self.chunk.slice(start + LENGTH_PREFIX_LEN..start + len),
                Framing::Torq { .. } => self.chunk.slice(start..start + len),
            };
            let size = payload.len();
            if let Err(e) = self.client.publish(self.subject.clone(), payload).await {
                return Err(self.publish_failed(&e, size));
            }
            at += len;
            self.ends.push(at);
        }
        if !self.marker_pending {
            let marker = self.marker + 1;
            let payload = Bytes::copy_from_slice(&marker.to_le_bytes());
            if let Err(e) = self.client.publish(self.inbox.clone(), payload).await {
                return Err(self.publish_failed(&e, 8));
            }
            self.marker = marker;
            self.marker_pending = true;
        }
        loop {
            let echo =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut self.markers).poll_next(cx));
            let message = tokio::select! {
                m = echo => m,
                () = self.events.died() => return Err(self.events.error()),
            };
            let Some(message) = message else {
                return Err(self.events.error());
            };
            if message.payload.as_ref() == self.marker.to_le_bytes() {
                self.marker_pending = false;
                return Ok(());
            }
        }
    }

    fn publish_failed(&self, e: &async_nats::client::PublishError, size: usize) -> TransportError {
        let error = match e.kind() {
            async_nats::client::PublishErrorKind::MaxPayloadExceeded => TransportError::new(
                ErrorClass::Fatal,
                io::ErrorKind::InvalidData,
                format!(
                    "a {size}-byte frame is larger than the NATS server's max_payload of {} bytes",
                    self.client.max_payload()
                ),
            ),
            _ => self.events.error(),
        };
        self.events.die(error.clone());
        error
    }

    /// Bytes of the current batch after `written` that were published but not
    /// confirmed: after a failure these frames may or may not have reached
    /// subscribers, and must neither be published again nor count as sent.
    pub(crate) fn in_doubt(&self, written: usize) -> usize {
        self.ends
            .last()
            .map_or(0, |&end| end.saturating_sub(written))
    }

    /// Resolves when the connection is lost. Cancel safe.
    pub(crate) async fn closed(&mut self) -> TransportError {
        use futures_core::Stream;
        loop {
            let next =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut self.markers).poll_next(cx));
            tokio::select! {
                m = next => if m.is_none() {
                    return self.events.error();
                },
                () = self.events.died() => return self.events.error(),
            }
        }
    }
}

/// An error the server reported on a live connection. A refused publish permission
/// is fatal: the server would drop every frame while still answering our markers, so
/// frames would count as sent without reaching anyone. Anything else ends the
/// connection and the sink reconnects.
fn server_error(e: &async_nats::ServerError) -> TransportError {
    let fatal = match e {
        async_nats::ServerError::AuthorizationViolation => true,
        async_nats::ServerError::Other(text) => {
            text.to_ascii_lowercase().contains("permissions violation")
        }
        async_nats::ServerError::SlowConsumer(_) => false,
    };
    let (class, kind) = if fatal {
        (ErrorClass::Fatal, io::ErrorKind::PermissionDenied)
    } else {
        (ErrorClass::Retryable, io::ErrorKind::Other)
    };
    TransportError::new(class, kind, format!("NATS server error: {e}"))
}

/// Connect failures: refused, timed out or cut off is retryable; a server that wants
/// credentials or TLS (which sinks do not speak) is fatal.
fn classify(url: &str, e: &async_nats::ConnectError) -> TransportError {
    let (class, kind) = match e.kind() {
        ConnectErrorKind::Io | ConnectErrorKind::MaxReconnects => {
            let kind = std::error::Error::source(e)
                .and_then(|s| s.downcast_ref::<io::Error>())
                .map_or(io::ErrorKind::ConnectionRefused, io::Error::kind);
            (ErrorClass::Retryable, kind)
        }
        ConnectErrorKind::TimedOut => (ErrorClass::Retryable, io::ErrorKind::TimedOut),
        ConnectErrorKind::Dns => (ErrorClass::Retryable, io::ErrorKind::NotFound),
        ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
            (ErrorClass::Fatal, io::ErrorKind::PermissionDenied)
        }
        ConnectErrorKind::Tls => (ErrorClass::Fatal, io::ErrorKind::Unsupported),
        ConnectErrorKind::ServerParse => (ErrorClass::Fatal, io::ErrorKind::InvalidInput),
    };
    TransportError::new(class, kind, format!("connect to {url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_good_endpoints() {
        let a = NatsAddress::parse("nats://127.0.0.1:4222/market.data").unwrap();
        assert_eq!(a.server_url(), "nats://127.0.0.1:4222");
        assert_eq!(a.subject, "market.data");
        let a = NatsAddress::parse("nats://[::1]:4222/a/b.c-d_e").unwrap();
        assert_eq!(a.server_url(), "nats://[::1]:4222");
        assert_eq!(a.subject, "a/b.c-d_e");
        let a = NatsAddress::parse("nats://localhost:1/x").unwrap();
        assert_eq!(a.server_url(), "nats://localhost:1");
    }

    #[test]
    fn rejects_bad_endpoints() {
        for bad in [
            "nats://127.0.0.1:4222",
            "nats://127.0.0.1:4222/",
            "nats://127.0.0.1/x",
            "nats://127.0.0.1:0/x",
            "nats://127.0.0.1:65536/x",
            "nats://127.0.0.1:+1/x",
            "nats://:4222/x",
            "nats://::1:4222/x",
            "nats://[nope]:4222/x",
            "nats://user:pw@h:4222/x",
            "nats://h:4222/a..b",
            "nats://h:4222/.a",
            "nats://h:4222/a.",
            "nats://h:4222/a.*",
            "nats://h:4222/a.>",
            "nats://h:4222/a b",
            "nats://h:4222/a\tb",
            "tcp://h:4222/x",
        ] {
            assert!(
                NatsAddress::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        let long = format!("nats://h:4222/{}", "a".repeat(MAX_SUBJECT_LEN + 1));
        assert!(NatsAddress::parse(&long).is_err());
        let longest = format!("nats://h:4222/{}", "a".repeat(MAX_SUBJECT_LEN));
        assert!(NatsAddress::parse(&longest).is_ok());
    }
}
