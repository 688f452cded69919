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
//!   noise to subscribers. With sinkgen framing (a sink built for a sinkgen relay
//!   whose endpoint is overridden with a `nats://` one) the payload is published
//!   without the sinkgen header, as a NATS subscription expects it.
//! * **Straight from the sender.** While the connection task is idle and nothing is
//!   queued, a sender publishes its own frame through the client
//!   ([`NatsInline::try_publish`]; with length-prefixed framing the message encodes
//!   itself straight into the bytes the client keeps). When the client's buffer is
//!   full, the sender takes the sink's *turn*: nothing of its frame is accepted yet,
//!   it waits ([`NatsTurn::ready`]) for the client to reserve room, then its frame is
//!   accepted and handed over; other senders wait meanwhile, as for a full queue. So
//!   a fast sender is held back by the client like a caller of the client is, and
//!   frames pass through the sink's queue (and the connection task) only while
//!   disconnected or when a `try_send` finds the client full.
//! * **Sent means confirmed.** NATS core publishing has no acknowledgements, and a
//!   client's buffers die with its connection. So a frame counts as sent only once the
//!   server has processed it without objecting: after what was handed to the client,
//!   the connection task sends a *fence*, a subscription to [`FENCE_SUBJECT`], which
//!   no server accepts (`>` must be the last token). The server processes one
//!   connection's operations in order and answers the fence with `-ERR 'Invalid
//!   Subject'` after any `-ERR` it sent for the frames before it (a denied subject, a
//!   message over `max_payload`); the client hands server errors to the event callback
//!   one at a time, in the order they arrived. So when the fence's answer reaches the
//!   callback, every objection to an earlier frame already did, and a frame the server
//!   refused is never counted as sent. The fence needs no permission at all (the sink
//!   publishes on its subject only, and subscribes to nothing), and it reaches no
//!   subscriber. One fence is in flight at a time; `flush()` returns after the
//!   confirmation that covers the frames it waits for.
//! * **Bounded in doubt.** Frames handed to the client and not yet confirmed count
//!   against the sink's `queue` (with the frames queued), so at most `queue` frames
//!   plus the batch being published are accepted and unconfirmed at any time: that is
//!   what a frozen server can hold in memory, and what a crash can leave in doubt.
//! * **In doubt means lost, never sent twice.** When a connection dies, the frames
//!   handed to its client after the last confirmation have an unknown fate (some may
//!   have reached subscribers). They are not published again; the sink counts them
//!   lost (`Lost::unconfirmed`). Frames still queued go out on the next connection, in
//!   order.
//! * **The sink reconnects, not the client.** The client's own reconnect would replay
//!   part of its buffer and silently drop the rest, and its publish waits without
//!   bound while it reconnects. Each connection is therefore one client that never
//!   reconnects: the first attempt is let through, every later one is refused (see
//!   [`NatsConnection::connect`]), so a lost connection ends the client and the sink's
//!   own backoff, single flight and bounded queue take over.
//!
//! * **Over `max_payload`.** Once connected, the sink knows the server's
//!   `max_payload` (from its INFO) and `send` refuses a larger message with the
//!   message back (`TooLarge`). A frame accepted before that was known (before the
//!   first connection, or under a lower limit after a reconnect) is dropped alone and
//!   counted (`Lost::too_large`); the stream goes on.
//! * **No TLS.** A server that requires TLS is refused with a fatal error before the
//!   client is started (see [`probe()`]): the client would need a crypto provider,
//!   which sinks do not build in.
//!
//! Endpoints are checked by the grammar the front end applies (`sinkgen_config`):
//! subjects have no whitespace, no empty tokens, no wildcards (`*`, `>`), and at most
//! [`sinkgen_config::MAX_NATS_SUBJECT`] bytes.
//!
//! A *durable* relay (`durable = true`, see [`crate::durable`]) publishes through
//! JetStream instead (`jet`): there the server's publish acknowledgement confirms
//! each frame, frames in doubt are kept and published again after a reconnect, and
//! the fence is not used.
//!
//! The sender side (direct publishes, credit, the turn) is in `inline`; the client's
//! events in `events`; the TLS probe in `probe`.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{Client, ConnectErrorKind, Subject};
use bytes::{Bytes, BytesMut};
use tokio_util::task::AbortOnDropHandle;

use super::WriteStop;
use crate::error::{ErrorClass, TransportError};
use crate::framing::{Framing, LENGTH_PREFIX_LEN};
use crate::protocol::HEADER_LEN as SINKGEN_HEADER_LEN;

mod auth;
pub(crate) use auth::options as auth_options;
mod events;
mod inline;
mod jet;
mod probe;

use events::{Events, is_fence_answer, lost_connection, server_error};
use inline::Credit;
pub(crate) use inline::{NatsInline, NatsTurn};
pub(crate) use jet::{JetConnection, retryable};
use probe::{probe, tls_required};

/// How often the client pings an idle server; two unanswered pings end the
/// connection, so a hung server is noticed within about three intervals.
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// Messages the client buffers between the connection task and the socket. The sink's
/// `queue` is the bound users configure; this only keeps the pipeline full.
const CLIENT_CAPACITY: usize = 4096;

/// The client's own limit on one connect attempt; the sink's `connect_timeout` bounds
/// the whole attempt from outside.
const CLIENT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3600);

/// What the connection task subscribes to as a fence (see the module docs): a server
/// refuses it (`>` is only valid as the last token) with a non-fatal `-ERR`, after
/// processing everything sent before it. The client's own check lets it through.
const FENCE_SUBJECT: &str = "_SINKGEN.>.FENCE";

/// Bytes of payload copied into one allocation that frames are split off from (a
/// frame larger than this gets an allocation of its own size).
const CHUNK: usize = 64 * 1024;

/// A checked `nats://host:port/subject` endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NatsAddress {
    /// Host name or address; an IPv6 address without its brackets.
    host: String,
    port: u16,
    subject: String,
    /// What a connection presents to the server (the relay's `credentials`).
    credentials: Option<crate::NatsCredentials>,
    /// How the connection is secured (feature `tls`); `None`: plaintext.
    #[cfg(feature = "tls")]
    tls: Option<Box<crate::tls::Tls>>,
}

impl NatsAddress {
    /// The address of a `nats://` endpoint that the shared grammar accepted (see
    /// [`Endpoint::parse`](crate::transport::Endpoint::parse)).
    pub(super) fn new(host: &sinkgen_config::Host, port: u16, subject: String) -> NatsAddress {
        NatsAddress {
            host: host.to_string(),
            port,
            subject,
            credentials: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The address with `credentials` presented by each connection.
    pub(crate) fn with_credentials(
        mut self,
        credentials: Option<crate::NatsCredentials>,
    ) -> NatsAddress {
        self.credentials = credentials;
        self
    }

    /// The credentials read now, for one connect attempt (`None`: none configured).
    pub(crate) fn resolve_credentials(&self) -> Result<Option<auth::Resolved>, TransportError> {
        self.credentials.as_ref().map(auth::resolve).transpose()
    }

    /// The address, connected to over TLS.
    #[cfg(feature = "tls")]
    pub(crate) fn secured(mut self, tls: &crate::tls::Tls) -> NatsAddress {
        self.tls = Some(Box::new(tls.clone()));
        self
    }

    /// Readies a client's options for one connection attempt. With a `tls` table
    /// (feature `tls`): the config built now (secrets read per attempt, the ring
    /// provider named explicitly), TLS required. Without one: plaintext, and a server
    /// that requires TLS is refused with an error before the client meets it (see
    /// [`probe`]), so the client never reaches for a crypto provider it lacks.
    pub(crate) async fn prepare(
        &self,
        options: async_nats::ConnectOptions,
    ) -> Result<async_nats::ConnectOptions, TransportError> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let config = tls
                .client_config_named()
                .map_err(crate::tls::TlsError::into_transport)?;
            return Ok(options.tls_client_config(config).require_tls(true));
        }
        probe(self, &self.server_url()).await?;
        Ok(options)
    }

    /// The subject (subscriptions read it).
    pub(crate) fn subject(&self) -> &str {
        &self.subject
    }

    /// The server address in the form the client takes.
    pub(crate) fn server_url(&self) -> String {
        if self.host.contains(':') {
            format!("nats://[{}]:{}", self.host, self.port)
        } else {
            format!("nats://{}:{}", self.host, self.port)
        }
    }
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

/// One connection to a NATS server, publishing on one subject; owned by the sink's
/// connection task.
///
/// Frames reach the client two ways, never at the same time (the sink's pending lock
/// and its idle flag keep them apart): the task publishes whole batches
/// ([`NatsConnection::write_batch`]), and while the task is idle a sender publishes its
/// own frame ([`NatsInline::try_publish`]). Neither waits for the server. The task
/// confirms what was handed on with fences ([`NatsConnection::request_confirmation`]),
/// one at a time: the answer to a fence proves that the server processed every frame
/// published on this connection before it, and refused none (see the module docs).
pub(crate) struct NatsConnection {
    client: Client,
    subject: Subject,
    framing: Framing,
    events: Arc<Events>,
    /// A copy of part of the current batch, starting at `batch_chunk_at` (about
    /// [`CHUNK`] bytes): frames become message payloads as slices of it, without a
    /// copy each. Copied chunk by chunk rather than whole, so the reference count
    /// this task increments for each frame is rarely the one the client's task is
    /// decrementing (for frames it wrote earlier) on another core.
    batch_chunk: Bytes,
    batch_chunk_at: usize,
    /// Messages this task published (see `Credit`; fences are not messages).
    published: Arc<AtomicU64>,
    /// Number of the last fence sent.
    fence: u64,
    /// Whether the last fence's answer is still awaited.
    awaiting: bool,
    /// Frames (and their bytes) of the task's batches dropped because their payload
    /// is over the server's `max_payload`, not yet reported ([`Self::take_dropped`]).
    dropped: (usize, usize),
}

/// The payload a frame is published with: with torq framing the whole frame; with
/// length-prefixed framing the frame without its prefix (a NATS message carries its
/// own length); with sinkgen framing the frame without its header (NATS carries
/// whole messages, and a NATS subscription decodes the message alone: a sink built
/// for a sinkgen relay whose endpoint is overridden with a `nats://` one).
fn payload_of(framing: Framing, frame: &[u8]) -> &[u8] {
    &frame[published_from(framing)..]
}

/// Where in a frame the published payload starts.
fn published_from(framing: Framing) -> usize {
    match framing {
        Framing::LengthPrefixed => LENGTH_PREFIX_LEN,
        Framing::Sinkgen => SINKGEN_HEADER_LEN,
        Framing::Torq { .. } => 0,
    }
}

/// Copies `bytes` into `chunk` and splits them off as shared bytes.
fn share(chunk: &mut BytesMut, bytes: &[u8]) -> Bytes {
    if chunk.capacity() < bytes.len() {
        *chunk = BytesMut::with_capacity(CHUNK.max(bytes.len()));
    }
    chunk.extend_from_slice(bytes);
    chunk.split().freeze()
}

impl NatsConnection {
    /// One connection attempt (the caller bounds it with `connect_timeout`). `name`
    /// is shown by the server (`/connz`) to tell sinks apart.
    pub(super) async fn connect(
        address: &NatsAddress,
        framing: Framing,
        name: &str,
    ) -> Result<NatsConnection, TransportError> {
        // Read the secret first: one that cannot be read is a failed attempt (the sink
        // backs off), before any socket is opened.
        let credentials = address.resolve_credentials()?;
        let events = Arc::new(Events::default());
        // The client would reconnect by itself, replaying part of what it buffered.
        // The one hook that runs on every attempt and can refuse it is the auth
        // callback: it lets the first attempt through and refuses every later one, so
        // a lost connection ends this client (`max_reconnects(1)` then stops it).
        let first = Arc::new(AtomicBool::new(true));
        let seen = Arc::downgrade(&events);
        // The same callback presents the credentials (signing the server's nonce for an
        // nkey or a `.creds` file).
        let options = async_nats::ConnectOptions::with_auth_callback(move |nonce| {
            let first = first.swap(false, Ordering::AcqRel);
            let credentials = credentials.clone();
            async move {
                if first {
                    auth::auth(credentials.as_ref(), &nonce)
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
                    async_nats::Event::ServerError(e) if is_fence_answer(&e) => {
                        events.fence_answered();
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
        // installed (none is built in: relays talk plaintext), so a server that
        // requires it is refused before the client sees it.
        let url = address.server_url();
        let options = address.prepare(options).await?;
        // Should the server change between the probe and the connect, the panic is
        // still contained where the process unwinds on panics: the attempt runs as its
        // own task. Dropping this future (the connect timeout) aborts the attempt.
        let target = url.clone();
        let attempt = AbortOnDropHandle::new(tokio::spawn(async move {
            options.connect(target.as_str()).await
        }));
        let authenticated = address.credentials.is_some();
        let client = match attempt.await {
            Ok(result) => result.map_err(|e| classify(&url, &e, authenticated))?,
            Err(e) if e.is_panic() => return Err(tls_required(&url)),
            Err(e) => {
                return Err(TransportError::new(
                    ErrorClass::Retryable,
                    io::ErrorKind::Interrupted,
                    format!("connect to {url}: {e}"),
                ));
            }
        };
        Ok(NatsConnection {
            client,
            subject: Subject::from_static(intern(&address.subject)),
            framing,
            events,
            batch_chunk: Bytes::new(),
            batch_chunk_at: 0,
            published: Arc::new(AtomicU64::new(0)),
            fence: 0,
            awaiting: false,
            dropped: (0, 0),
        })
    }

    /// The server's `max_payload`, from its INFO.
    pub(super) fn max_payload(&self) -> usize {
        self.client.max_payload()
    }

    /// Frames (and bytes) of batches dropped since the last call, each because its
    /// payload is over the server's `max_payload`.
    pub(super) fn take_dropped(&mut self) -> (usize, usize) {
        std::mem::take(&mut self.dropped)
    }

    /// The handle senders publish through while the task is idle.
    pub(super) fn inline(&self) -> NatsInline {
        NatsInline {
            credit: Credit {
                stats: self.client.statistics(),
                published: 0,
                task_published: Arc::clone(&self.published),
                free: 0,
                skip: 0,
            },
            client: self.client.clone(),
            turn: None,
            subject: self.subject.clone(),
            framing: self.framing,
            chunk: BytesMut::new(),
        }
    }

    /// Publishes the frames of `batch[*written..]` (whole frames, as the sink queued
    /// them), advancing `*written` past each frame the client took. It waits only for
    /// room in the client's buffer, never for the server: what was published is
    /// confirmed later, by [`request_confirmation`](Self::request_confirmation).
    ///
    /// Cancel safe, like the socket transports: `*written` is exact (a cancelled
    /// `publish` publishes nothing), so a new call continues where this one stopped.
    pub(super) async fn write_batch(
        &mut self,
        batch: &[u8],
        written: &mut usize,
        interrupt: impl Future<Output = ()>,
    ) -> Result<(), WriteStop> {
        until_interrupted(self.publish_from(batch, written), interrupt).await
    }

    async fn publish_from(
        &mut self,
        batch: &[u8],
        written: &mut usize,
    ) -> Result<(), TransportError> {
        if *written == 0 {
            // A new batch (a resumed one continues at `*written > 0`).
            self.batch_chunk = Bytes::new();
            self.batch_chunk_at = 0;
        }
        while *written < batch.len() {
            if self.events.is_dead() {
                return Err(self.events.error());
            }
            let at = *written;
            let len = self.framing.frame_len(&batch[at..]);
            if at < self.batch_chunk_at || at + len > self.batch_chunk_at + self.batch_chunk.len() {
                let end = batch.len().min(at + CHUNK.max(len));
                self.batch_chunk = Bytes::copy_from_slice(&batch[at..end]);
                self.batch_chunk_at = at;
            }
            let start = at - self.batch_chunk_at;
            let payload = self
                .batch_chunk
                .slice(start + published_from(self.framing)..start + len);
            let size = payload.len();
            if size > self.client.max_payload() {
                // Accepted before the server's limit was known (or under a higher
                // one): this frame alone is dropped, and counted by the caller.
                self.dropped.0 += 1;
                self.dropped.1 += len;
                *written += len;
                continue;
            }
            if let Err(e) = self.client.publish(self.subject.clone(), payload).await {
                return Err(self.publish_failed(&e, size));
            }
            self.published.fetch_add(1, Ordering::Relaxed);
            *written += len;
        }
        Ok(())
    }

    /// Sends a fence after everything handed on so far; its answer is reported by
    /// [`watch`](Self::watch) or [`poll_confirmed`](Self::poll_confirmed). Waits only
    /// for room in the client's buffer. Cancel safe (a cancelled request sends
    /// nothing, and no answer is awaited).
    pub(super) async fn request_confirmation(&mut self) -> Result<(), TransportError> {
        let subscribe = self.client.subscribe(FENCE_SUBJECT);
        let fence = tokio::select! {
            r = subscribe => r.map_err(|_| self.events.error())?,
            () = self.events.died() => return Err(self.events.error()),
        };
        // Nothing is ever delivered to it; dropping it sends the matching UNSUB.
        drop(fence);
        self.fence += 1;
        self.awaiting = true;
        Ok(())
    }

    /// Whether the awaited fence was answered on a live connection; never waits.
    pub(super) fn poll_confirmed(&mut self) -> bool {
        if self.awaiting && self.events.fence_state(self.fence) == Some(true) {
            self.awaiting = false;
            return true;
        }
        false
    }

    /// Resolves when the awaited fence is answered (`Ok`), or with the error when the
    /// connection is lost or the server refused a frame. Cancel safe.
    pub(super) async fn watch(&mut self) -> Result<(), TransportError> {
        loop {
            let wake = self.events.changed();
            tokio::pin!(wake);
            wake.as_mut().enable();
            match self.events.fence_state(self.fence) {
                None => return Err(self.events.error()),
                Some(true) if self.awaiting => {
                    self.awaiting = false;
                    return Ok(());
                }
                Some(_) => wake.await,
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
}

/// Connect failures: refused, timed out or cut off is retryable; a server that wants
/// TLS (which sinks do not speak) is fatal. A server that refuses the connection's
/// credentials is retryable when the relay has `credentials` (they are read again at
/// every attempt, and rotating them is the fix: see [`crate::NatsCredentials`]), and
/// fatal when it has none (the file must say what to present).
fn classify(url: &str, e: &async_nats::ConnectError, authenticated: bool) -> TransportError {
    let (class, kind) = match e.kind() {
        ConnectErrorKind::Io | ConnectErrorKind::MaxReconnects => {
            let kind = std::error::Error::source(e)
                .and_then(|s| s.downcast_ref::<io::Error>())
                .map_or(io::ErrorKind::ConnectionRefused, io::Error::kind);
            (ErrorClass::Retryable, kind)
        }
        ConnectErrorKind::TimedOut => (ErrorClass::Retryable, io::ErrorKind::TimedOut),
        ConnectErrorKind::Dns => (ErrorClass::Retryable, io::ErrorKind::NotFound),
        ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation
            if authenticated =>
        {
            (ErrorClass::Retryable, io::ErrorKind::PermissionDenied)
        }
        ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
            (ErrorClass::Fatal, io::ErrorKind::PermissionDenied)
        }
        ConnectErrorKind::Tls => (ErrorClass::Fatal, io::ErrorKind::Unsupported),
        ConnectErrorKind::ServerParse => (ErrorClass::Fatal, io::ErrorKind::InvalidInput),
    };
    let help = match e.kind() {
        ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation
            if authenticated =>
        {
            "; help: the server refused the relay's `credentials`: check the secret they name"
        }
        ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => {
            "; help: give the relay a `credentials` table in services.toml"
        }
        _ => "",
    };
    TransportError::new(class, kind, format!("connect to {url}: {e}{help}"))
}

/// Runs a batch's `publish` until it ends, or until `interrupt` fires first (the
/// sink's task has something more urgent); `publish` keeps its progress in the
/// caller's `written`, so an interrupted batch resumes where it stopped.
async fn until_interrupted(
    publish: impl Future<Output = Result<(), TransportError>>,
    interrupt: impl Future<Output = ()>,
) -> Result<(), WriteStop> {
    tokio::pin!(interrupt);
    tokio::select! {
        biased;
        r = publish => r.map_err(WriteStop::Failed),
        () = &mut interrupt => Err(WriteStop::Interrupted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NatsAddress, String> {
        match crate::transport::Endpoint::parse(text)? {
            crate::transport::Endpoint::Nats(a) => Ok(a),
            other => panic!("{text} is not a nats endpoint: {other:?}"),
        }
    }

    #[test]
    fn parses_good_endpoints() {
        let a = parse("nats://127.0.0.1:4222/market.data").unwrap();
        assert_eq!(a.server_url(), "nats://127.0.0.1:4222");
        assert_eq!(a.subject, "market.data");
        let a = parse("nats://[0:0::1]:4222/a/b.c-d_e").unwrap();
        assert_eq!(a.server_url(), "nats://[::1]:4222");
        assert_eq!(a.subject, "a/b.c-d_e");
        let a = parse("nats://LocalHost:1/x").unwrap();
        assert_eq!(a.server_url(), "nats://localhost:1");
    }

    #[test]
    fn rejects_bad_endpoints() {
        for bad in [
            "nats://127.0.0.1:4222",
            "nats://127.0.0.1:+1/x",
            "nats://[nope]:4222/x",
            "nats://user:pw@h:4222/x",
            "nats://h:4222/a..b",
            "nats://h:4222/a.*",
            "nats://h:4222/a b",
            "nats://1.2.3:4222/x",
        ] {
            let e = parse(bad).expect_err(bad);
            let expected = sinkgen_config::parse_endpoint(bad).unwrap_err();
            assert!(e.contains(&expected.message), "{bad:?}: {e}");
        }
        let long = format!(
            "nats://h:4222/{}",
            "a".repeat(sinkgen_config::MAX_NATS_SUBJECT + 1)
        );
        assert!(parse(&long).is_err());
    }
}
