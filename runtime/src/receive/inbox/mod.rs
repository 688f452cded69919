//! [`Inbox`]: typed messages from direct senders to a service's `listen` endpoint.

use std::future::Future as _;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use sinkgen_config::policy;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Sleep;

use super::counters::{Counters, ReceiveStatus};
use super::sessions::Sessions;
use super::{Event, Received};
use crate::codec::{Decoder, Raw};
use crate::decode::Decode;
use crate::error::{BuildError, ErrorClass, TransportError};
use crate::link::Link;
use crate::protocol;
use crate::transport::Endpoint;

mod conn;
mod listen;

/// Builds an [`Inbox`] from a service's `listen` endpoint and its declared senders.
///
/// Defaults: `queue` 4096 messages, `connect_timeout` 500 ms (a sender's handshake),
/// backoff 10 ms to 1 s (binding again after a failure), frames up to 16 MiB, any
/// sender accepted until [`senders`](Self::senders) declares them.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until .build() is called"]
pub struct InboxBuilder {
    link: Link,
    name: Option<Arc<str>>,
    service: Arc<str>,
    senders: Option<Vec<Arc<str>>>,
    queue: usize,
}

impl InboxBuilder {
    /// Starts a builder for the `listen` endpoint (`unix:///path` or `tcp://host:port`).
    pub fn new(endpoint: impl Into<String>) -> InboxBuilder {
        InboxBuilder {
            link: Link::new(endpoint.into()),
            name: None,
            service: Arc::from(""),
            senders: None,
            queue: usize::try_from(policy::QUEUE).unwrap_or(usize::MAX),
        }
    }

    /// Serves a `tcp://` endpoint over TLS (feature `tls`) with the settings'
    /// `cert` and `key` (see [`crate::tls`]), requiring client certificates signed
    /// by `ca` when they name a client certificate. The secrets are read when the
    /// inbox binds; one that cannot be read fails that attempt (named in the status)
    /// and the inbox retries under its backoff.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::Tls) -> InboxBuilder {
        self.link.tls = Some(tls);
        self
    }

    /// The receiving service's name: a sender's HELLO must name it as its target.
    pub fn service(mut self, service: &str) -> InboxBuilder {
        self.service = Arc::from(service);
        self
    }

    /// The services declared to send here (those with a direct sink to this service in
    /// `services.toml`); any other is refused (code `UnknownName`, with a reason).
    pub fn senders<I, S>(mut self, senders: I) -> InboxBuilder
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.senders = Some(senders.into_iter().map(|s| Arc::from(s.as_ref())).collect());
        self
    }

    /// The name in [`ReceiveStatus`], `tracing` events and metric labels (default: the
    /// service, or the endpoint).
    pub fn name(mut self, name: &str) -> InboxBuilder {
        self.name = Some(Arc::from(name));
        self
    }

    /// Messages waiting for the application, at least 1. When it is full, connection
    /// tasks stop reading (and acknowledging): senders slow down, memory does not grow.
    pub fn queue(mut self, messages: usize) -> InboxBuilder {
        self.queue = messages;
        self
    }

    /// Longest time a sender may take to send its HELLO after connecting.
    pub fn connect_timeout(mut self, timeout: Duration) -> InboxBuilder {
        self.link.connect_timeout = timeout;
        self
    }

    /// Delay between attempts to bind the endpoint (exponential with full jitter).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> InboxBuilder {
        self.link.backoff_initial = initial;
        self.link.backoff_max = max;
        self
    }

    /// The largest message body accepted (default 16 MiB); a larger frame is refused
    /// (code `TooLarge`) and its connection closed.
    pub fn max_frame(mut self, bytes: usize) -> InboxBuilder {
        self.link.max_frame = bytes;
        self
    }

    fn check(&self) -> Result<Endpoint, BuildError> {
        if self.queue == 0 {
            return Err(BuildError::new("queue must hold at least 1 message"));
        }
        match self.link.endpoint()? {
            e @ (Endpoint::Unix(_) | Endpoint::Tcp(_)) => Ok(e),
            #[cfg(feature = "tls")]
            e @ Endpoint::TcpTls(..) => Ok(e),
            #[cfg(feature = "nats")]
            Endpoint::Nats(_) | Endpoint::Jet(..) => Err(BuildError::new(
                "an inbox listens on a unix:// or tcp:// endpoint, not NATS",
            )),
            #[cfg(feature = "ws")]
            Endpoint::Ws(_) => Err(BuildError::new(
                "an inbox listens on a unix:// or tcp:// endpoint, not WebSocket",
            )),
        }
    }

    pub(crate) fn options(self, endpoint: Result<Endpoint, TransportError>) -> Options {
        let name = self.link.name(self.name, &self.service);
        let link = self.link;
        Options {
            name,
            endpoint,
            service: self.service,
            senders: self.senders,
            queue: self.queue.max(1),
            connect_timeout: link.connect_timeout,
            backoff_initial: link.backoff_initial,
            backoff_max: link.backoff_max.max(link.backoff_initial),
            max_frame: link.max_frame,
        }
    }

    /// Builds the inbox. No I/O happens here: it binds its endpoint on the first
    /// [`recv`](Inbox::recv).
    ///
    /// # Errors
    ///
    /// [`BuildError`] when the endpoint does not parse (or is NATS), or an option is out
    /// of range.
    pub fn build<M: Decode>(self) -> Result<Inbox<M>, BuildError> {
        let endpoint = self.check()?;
        Ok(Inbox::from_options(self.options(Ok(endpoint))))
    }

    /// [`build`](Self::build) for a message type read by codec `C` (see
    /// [`codec`](crate::codec)), e.g. `.build_with::<Quote, Postcard>()`.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    pub fn build_with<M, C: Decoder<M>>(self) -> Result<Inbox<M, C>, BuildError> {
        let endpoint = self.check()?;
        Ok(Inbox::from_options(self.options(Ok(endpoint))))
    }
}

/// Everything an inbox is configured with.
pub(crate) struct Options {
    pub(crate) name: Arc<str>,
    pub(crate) endpoint: Result<Endpoint, TransportError>,
    pub(crate) service: Arc<str>,
    pub(crate) senders: Option<Vec<Arc<str>>>,
    pub(crate) queue: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) max_frame: usize,
}

/// What the inbox's tasks share.
pub(crate) struct Shared {
    pub(crate) opts: Options,
    pub(crate) counters: Counters,
    /// De-duplication per sender session, across that sender's connections.
    pub(crate) sessions: Mutex<Sessions>,
    /// The inbox's own session (in WELCOME).
    pub(crate) session: u64,
}

/// Typed messages from the direct senders of a service: binds the service's `listen`
/// endpoint on the first [`recv`](Self::recv), accepts the senders it declares and
/// refuses the others (REFUSE `UnknownName`, with a reason naming the declared ones).
///
/// Each item names the sending service ([`Producer::service`](super::Producer::service)).
/// Frames are de-duplicated per sender session (a sender resends what was not
/// acknowledged after a reconnect), holes in a sender's sequence are gap items, and a
/// frame is acknowledged once it is in the inbox's queue. The queue is bounded
/// ([`InboxBuilder::queue`]): while the application does not keep up, the inbox stops
/// reading from senders, whose own queues then fill; memory does not grow.
///
/// # Binding
///
/// The endpoint is bound at the first `recv`, like a sink connects at its first send:
/// building an inbox does no I/O and needs no runtime. A bind failure (address in use,
/// missing directory) is shown in [`status`](Self::status) and retried under backoff.
/// A Unix socket file left by a dead process (nobody accepts on it) is replaced; the
/// file is removed when the inbox is dropped. Dropping the inbox closes the listener
/// and every sender's connection.
///
/// # Cancel safety
///
/// `recv` is cancel safe: a message is taken from the queue only when `recv` returns it.
pub struct Inbox<M, C = Raw> {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Event>,
    tx: Option<mpsc::Sender<Event>>,
    accept: Option<JoinHandle<()>>,
    bound: Option<listen::Bound>,
    timer: Option<Pin<Box<Sleep>>>,
    failures: u32,
    rng: fastrand::Rng,
    _message: PhantomData<fn() -> (M, C)>,
}

impl<M, C: Decoder<M>> Inbox<M, C> {
    pub(crate) fn from_options(opts: Options) -> Inbox<M, C> {
        let (tx, rx) = mpsc::channel(opts.queue);
        Inbox {
            shared: Arc::new(Shared {
                counters: Counters::new(Arc::clone(&opts.name)),
                opts,
                sessions: Mutex::new(Sessions::default()),
                session: protocol::new_session(),
            }),
            rx,
            tx: Some(tx),
            accept: None,
            bound: None,
            timer: None,
            failures: 0,
            rng: fastrand::Rng::new(),
            _message: PhantomData,
        }
    }

    /// The next item from any sender. Binds the endpoint on the first call. `None` only
    /// when the inbox cannot work (a bad endpoint; see [`status`](Self::status)).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn recv(&mut self) -> Option<Received<M>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next item ([`recv`](Self::recv) as a poll function).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Received<M>>> {
        if self.tx.is_some() {
            ready!(self.poll_bind(cx));
            if self.tx.is_some() {
                return Poll::Ready(None);
            }
        }
        let event = ready!(self.rx.poll_recv(cx));
        Poll::Ready(event.map(|e| e.into_item::<M, C>(&self.shared.counters)))
    }

    /// Binds (after the backoff wait when the last attempt failed) and starts the
    /// accepting task. Ready once bound (`tx` taken) or failed for good (`tx` kept).
    fn poll_bind(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let counters = &self.shared.counters;
        counters.start_metrics();
        loop {
            if let Some(timer) = &mut self.timer {
                ready!(timer.as_mut().poll(cx));
                self.timer = None;
            } else if self.failures > 0 {
                let opts = &self.shared.opts;
                let delay = crate::connection::backoff::delay(
                    opts.backoff_initial,
                    opts.backoff_max,
                    self.failures,
                    &mut self.rng,
                );
                self.timer = Some(Box::pin(tokio::time::sleep(delay)));
                continue;
            }
            let endpoint = match &self.shared.opts.endpoint {
                Ok(e) => e,
                Err(e) => {
                    counters.error(e.clone());
                    return Poll::Ready(());
                }
            };
            match listen::bind(endpoint) {
                Ok((listener, bound)) => {
                    let tx = self.tx.take().expect("not yet bound");
                    self.bound = bound;
                    counters.set_connected(true);
                    tracing::info!(inbox = %self.shared.opts.name, "listening");
                    let shared = Arc::clone(&self.shared);
                    self.accept = Some(tokio::spawn(listen::accept_loop(listener, shared, tx)));
                    return Poll::Ready(());
                }
                Err(e) if e.class() == ErrorClass::Fatal => {
                    counters.error(e);
                    return Poll::Ready(());
                }
                Err(e) => {
                    tracing::warn!(inbox = %self.shared.opts.name, error = %e, "bind failed");
                    counters.error(e);
                    self.failures += 1;
                }
            }
        }
    }

    /// A snapshot of state and counters.
    #[must_use]
    pub fn status(&self) -> ReceiveStatus {
        self.shared.counters.status()
    }

    /// The inbox's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.shared.opts.name
    }
}

impl<M, C> Drop for Inbox<M, C> {
    fn drop(&mut self) {
        if let Some(task) = self.accept.take() {
            task.abort();
        }
        self.shared.counters.set_connected(false);
        // `bound` removes its socket file when dropped.
    }
}

impl<M, C: Decoder<M>> futures_core::Stream for Inbox<M, C> {
    type Item = Received<M>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Received<M>>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<M, C> std::fmt::Debug for Inbox<M, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("name", &&*self.shared.opts.name)
            .field("listening", &self.accept.is_some())
            .finish_non_exhaustive()
    }
}
