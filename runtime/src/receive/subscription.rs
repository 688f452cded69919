//! [`Subscription`]: frames from a relay, as typed items.

use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::time::Sleep;

use super::counters::{Counters, ReceiveStatus, Refusal};
use super::frames::{self, Next};
use super::sessions::{Sessions, Verdict};
use super::socket::{self, Stream};
use super::{Event, Received};
use crate::codec::{Decoder, Raw};
use crate::decode::Decode;
use crate::error::{BuildError, ErrorClass, TransportError};
use crate::protocol::{self, Control, Hello, Kind, ProtocolError, Role};
use crate::transport::Endpoint;

mod builder;

pub(crate) use builder::Options;
pub use builder::SubscriptionBuilder;

/// Typed messages from a relay: an owned handle that connects on the first
/// [`recv`](Self::recv), and yields [`Received`] items.
///
/// It is owned, not shared: the connection, the read buffer and the de-duplication
/// state belong to the handle, `recv` takes `&mut self`, and dropping the handle
/// closes the connection. There is no background task: all work happens inside
/// `recv` (or `poll_next`), so cancelling a receive or dropping the subscription needs
/// no coordination, and nothing is read that the application did not ask for (the
/// relay holds the rest in its backlog).
///
/// # Protocol
///
/// On the first `recv` it connects (Unix or TCP), sends HELLO (role subscriber, its
/// service, the relay's name) and waits for WELCOME. A REFUSE is shown in
/// [`status`](Self::status) (code and reason) and retried under backoff. Frames of
/// each producer session are de-duplicated by sequence (a relay resends what was not
/// acknowledged after a reconnect); a hole in a session's sequence, or a relay's GAP,
/// becomes a [`Received::Gap`] item. Once every frame of one read has been handed out,
/// the next `recv` acknowledges them (one cumulative ACK per session). Connection
/// failures reconnect under the sinks' backoff rules; de-duplication state survives.
///
/// # Cancel safety
///
/// [`recv`](Self::recv) is cancel safe: all progress (bytes read, a torn frame, a
/// half-written acknowledgement, a connect attempt or backoff wait) is kept in the
/// handle, so a `recv` dropped at any point loses nothing and the next one goes on.
///
/// # Memory
///
/// The read buffer grows only to hold the largest frame received (at most
/// [`max_frame`](SubscriptionBuilder::max_frame)) plus one read of 64 KiB, within a
/// factor of two of that (the buffer's growth policy); at most 256 judged frames wait
/// to be handed out; the de-duplication state holds at most 4,096 producer sessions
/// (the one unheard of longest is forgotten first). `Bytes` messages share the read
/// buffer: no copy, no allocation per frame. On a durable NATS relay, at most 8,192
/// frames stored behind a hole in their producer's sequence are held while the hole
/// waits to be filled (see [`Durable::reorder_wait`](crate::durable::Durable::reorder_wait)).
pub struct Subscription<M, C = Raw> {
    link: Option<Link>,
    st: Core,
    _message: PhantomData<fn() -> (M, C)>,
}

enum Link {
    Socket(Stream),
    #[cfg(feature = "nats")]
    Nats(super::nats::NatsLink),
    #[cfg(feature = "nats")]
    Jet(Box<super::jet::JetLink>),
}

/// Events judged ahead of `recv` at most (from one read buffer).
const READY_MAX: usize = 256;

type Connecting = Pin<Box<dyn Future<Output = Result<Link, TransportError>> + Send>>;

/// The state of a subscription apart from its connection (non-generic).
struct Core {
    opts: Arc<Options>,
    counters: Counters,
    session: u64,
    sessions: Sessions,
    welcomed: bool,
    up_since: Option<Instant>,
    connecting: Option<Connecting>,
    /// Disconnected: the backoff wait. Connected: the handshake's deadline.
    timer: Option<Pin<Box<Sleep>>>,
    failures: u32,
    rng: fastrand::Rng,
    buf: BytesMut,
    out: Vec<u8>,
    out_at: usize,
    /// Events judged from the frames read, not yet handed out (at most
    /// [`READY_MAX`]; they share the read buffer).
    ready: VecDeque<Event>,
    failed: bool,
}

/// Why a connection ended.
enum Broken {
    /// The stream is not the protocol: refuse it, then close.
    Protocol(ProtocolError),
    Closed(TransportError),
}

impl<M: Decode> Subscription<M> {
    /// A subscription to `endpoint` with default options and no identity (see
    /// [`SubscriptionBuilder`]).
    ///
    /// # Errors
    ///
    /// [`BuildError`] when the endpoint does not parse.
    pub fn new(endpoint: &str) -> Result<Subscription<M>, BuildError> {
        SubscriptionBuilder::new(endpoint).build()
    }
}

impl<M, C: Decoder<M>> Subscription<M, C> {
    pub(crate) fn from_options(opts: Options) -> Subscription<M, C> {
        Subscription {
            link: None,
            st: Core {
                counters: Counters::new(Arc::clone(&opts.name)),
                opts: Arc::new(opts),
                session: protocol::new_session(),
                sessions: Sessions::default(),
                welcomed: false,
                up_since: None,
                connecting: None,
                timer: None,
                failures: 0,
                rng: fastrand::Rng::new(),
                buf: BytesMut::new(),
                out: Vec::new(),
                out_at: 0,
                ready: VecDeque::with_capacity(READY_MAX),
                failed: false,
            },
            _message: PhantomData,
        }
    }

    /// The next item: a message, a gap, or a payload that did not decode. Connects on
    /// the first call and reconnects as needed; waits as long as it takes. `None` only
    /// when the subscription failed for good (a bad endpoint; see
    /// [`status`](Self::status)).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: see the type's docs.
    pub async fn recv(&mut self) -> Option<Received<M>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next item ([`recv`](Self::recv) as a poll function).
    #[inline]
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Received<M>>> {
        let event = ready!(self.poll_event(cx));
        Poll::Ready(event.map(|e| e.into_item::<M, C>(&self.st.counters)))
    }

    /// A snapshot of state and counters.
    #[must_use]
    pub fn status(&self) -> ReceiveStatus {
        self.st.counters.status()
    }

    /// The subscription's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.st.opts.name
    }

    #[inline]
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        loop {
            if let Some(event) = self.st.ready.pop_front() {
                return Poll::Ready(Some(event));
            }
            if self.st.failed {
                return Poll::Ready(None);
            }
            let Some(link) = &mut self.link else {
                self.link = ready!(self.st.poll_connect(cx));
                continue;
            };
            let r = match link {
                Link::Socket(s) => self.st.poll_socket(cx, s),
                #[cfg(feature = "nats")]
                Link::Nats(n) => n.poll_event(cx).map(|r| match r {
                    Ok(event) => {
                        self.st.ready.push_back(event);
                        Ok(())
                    }
                    Err(e) => Err(Broken::Closed(e)),
                }),
                #[cfg(feature = "nats")]
                Link::Jet(j) => j.poll_item(cx, &self.st.sessions).map(|r| match r {
                    Ok(super::jet::Item::Numbered {
                        session,
                        sequence,
                        body,
                    }) => self.st.on_data(session, sequence, body),
                    Ok(super::jet::Item::Plain(event)) => {
                        self.st.ready.push_back(event);
                        Ok(())
                    }
                    Err(e) => Err(Broken::Closed(e)),
                }),
            };
            match ready!(r) {
                Ok(()) => {}
                Err(broken) => {
                    let e = match broken {
                        Broken::Protocol(e) => {
                            if let Some(Link::Socket(s)) = &self.link {
                                let mut refuse = Vec::new();
                                frames::refusal_for(&e).append(&mut refuse, frames::now_nanos());
                                s.try_write_all(&refuse);
                            }
                            socket::protocol_error("relay broke the protocol", &e)
                        }
                        Broken::Closed(e) => e,
                    };
                    self.link = None;
                    self.st.disconnected(e);
                }
            }
        }
    }
}

impl<M, C: Decoder<M>> futures_core::Stream for Subscription<M, C> {
    type Item = Received<M>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Received<M>>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<M, C> std::fmt::Debug for Subscription<M, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("name", &&*self.st.opts.name)
            .field("connected", &self.st.welcomed)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// Connects (after the backoff wait, when the last attempt failed). `Some` once
    /// connected; `None` with `failed` set when the subscription cannot work.
    fn poll_connect(&mut self, cx: &mut Context<'_>) -> Poll<Option<Link>> {
        loop {
            if let Some(attempt) = &mut self.connecting {
                let result = ready!(attempt.as_mut().poll(cx));
                self.connecting = None;
                match result {
                    Ok(link) => return Poll::Ready(Some(self.connected(link))),
                    Err(e) if e.class() == ErrorClass::Fatal => {
                        self.counters.error(e);
                        self.failed = true;
                        return Poll::Ready(None);
                    }
                    Err(e) => {
                        self.failures += 1;
                        tracing::debug!(subscription = %self.opts.name, error = %e, "connect failed");
                        self.counters.error(e);
                    }
                }
                continue;
            }
            if let Some(timer) = &mut self.timer {
                ready!(timer.as_mut().poll(cx));
                self.timer = None;
            } else if self.failures > 0 {
                let delay = crate::connection::backoff::delay(
                    self.opts.backoff_initial,
                    self.opts.backoff_max,
                    self.failures,
                    &mut self.rng,
                );
                self.timer = Some(Box::pin(tokio::time::sleep(delay)));
                continue;
            }
            if let Err(e) = &self.opts.endpoint {
                self.counters.error(e.clone());
                self.failed = true;
                return Poll::Ready(None);
            }
            self.counters.start_metrics();
            self.counters.connect();
            let opts = Arc::clone(&self.opts);
            self.connecting = Some(Box::pin(async move {
                let endpoint = opts.endpoint.as_ref().map_err(Clone::clone)?;
                match tokio::time::timeout(opts.connect_timeout, connect(endpoint, &opts)).await {
                    Ok(r) => r,
                    Err(_) => Err(TransportError::new(
                        ErrorClass::Retryable,
                        std::io::ErrorKind::TimedOut,
                        format!("connect to relay `{}` timed out", opts.name),
                    )),
                }
            }));
        }
    }

    /// A new connection: queue the HELLO and arm the handshake's deadline.
    fn connected(&mut self, link: Link) -> Link {
        self.buf.clear();
        self.out.clear();
        self.out_at = 0;
        self.welcomed = false;
        match &link {
            Link::Socket(_) => {
                Control::Hello {
                    session: self.session,
                    next: 0,
                    hello: Hello {
                        min_version: protocol::MIN_VERSION,
                        max_version: protocol::VERSION,
                        role: Role::Subscriber,
                        service: self.opts.service.to_string(),
                        sink: String::new(),
                        target: self.opts.relay.to_string(),
                    },
                }
                .append(&mut self.out, frames::now_nanos());
                self.timer = Some(Box::pin(tokio::time::sleep(self.opts.connect_timeout)));
            }
            #[cfg(feature = "nats")]
            Link::Nats(_) | Link::Jet(_) => self.welcome(),
        }
        link
    }

    fn welcome(&mut self) {
        self.welcomed = true;
        self.timer = None;
        self.up_since = Some(Instant::now());
        self.counters.set_connected(true);
        tracing::info!(subscription = %self.opts.name, "subscribed");
    }

    fn disconnected(&mut self, e: TransportError) {
        let stable = crate::connection::STABLE_AFTER.max(self.opts.backoff_max);
        match self.up_since.take() {
            Some(up) if up.elapsed() >= stable => self.failures = 0,
            _ => self.failures += 1,
        }
        if self.welcomed {
            tracing::warn!(subscription = %self.opts.name, error = %e, "connection lost");
        }
        self.welcomed = false;
        self.timer = None;
        self.counters.set_connected(false);
        self.counters.error(e);
        self.buf.clear();
        self.out.clear();
        self.out_at = 0;
    }

    /// Reads, judges and acknowledges frames on a socket until there are events: all
    /// the whole frames of a read are judged at once (a tight loop), and `recv` hands
    /// them out one by one; they are acknowledged once all are handed out.
    fn poll_socket(&mut self, cx: &mut Context<'_>, s: &Stream) -> Poll<Result<(), Broken>> {
        loop {
            if self.out_at < self.out.len() {
                ready!(s.poll_write(cx, &self.out, &mut self.out_at))
                    .map_err(|e| Broken::Closed(TransportError::from_io("write to relay", &e)))?;
                self.out.clear();
                self.out_at = 0;
            }
            if !self.welcomed
                && let Some(timer) = &mut self.timer
                && timer.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Err(Broken::Closed(TransportError::new(
                    ErrorClass::Retryable,
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "relay `{}` did not answer the handshake in time",
                        self.opts.name
                    ),
                ))));
            }
            let need = loop {
                if self.ready.len() >= READY_MAX {
                    return Poll::Ready(Ok(()));
                }
                match frames::next(&mut self.buf, self.opts.max_frame).map_err(Broken::Protocol)? {
                    Next::Data {
                        session,
                        sequence,
                        body,
                    } => self.on_data(session, sequence, body)?,
                    Next::Control(kind, control) => self.on_control(kind, *control)?,
                    Next::Need(need) => break need,
                }
            };
            if !self.ready.is_empty() {
                return Poll::Ready(Ok(()));
            }
            if self.welcomed && self.sessions.unacked() {
                self.sessions.take_acks(&mut self.out, frames::now_nanos());
                continue;
            }
            frames::reserve(&mut self.buf, need);
            let n = ready!(s.poll_read(cx, &mut self.buf))
                .map_err(|e| Broken::Closed(TransportError::from_io("read from relay", &e)))?;
            if n == 0 {
                return Poll::Ready(Err(Broken::Closed(socket::peer_closed())));
            }
        }
    }

    #[inline]
    fn on_data(&mut self, session: u64, sequence: u64, body: Bytes) -> Result<(), Broken> {
        if !self.welcomed {
            return Err(Broken::Protocol(ProtocolError::Body {
                kind: Kind::Data,
                why: "data before WELCOME",
            }));
        }
        let (verdict, producer) = self.sessions.data(session, sequence);
        match verdict {
            Verdict::Duplicate => self.counters.duplicate(),
            Verdict::Late => self.ready.push_back(Event::Gap {
                producer,
                missed: 1,
            }),
            Verdict::Next => self.ready.push_back(Event::Data { producer, body }),
            Verdict::After(missed) => {
                let gap = Event::Gap {
                    producer: producer.clone(),
                    missed,
                };
                self.ready.push_back(gap);
                self.ready.push_back(Event::Data { producer, body });
            }
        }
        Ok(())
    }

    fn on_control(&mut self, kind: Kind, control: Control) -> Result<(), Broken> {
        let unexpected = || {
            Broken::Protocol(ProtocolError::Body {
                kind,
                why: "unexpected frame for a subscriber",
            })
        };
        match control {
            Control::Refuse { code, reason } => {
                let error = TransportError::new(
                    ErrorClass::Retryable,
                    std::io::ErrorKind::ConnectionRefused,
                    format!(
                        "relay `{}` refused the subscription: {code:?}: {reason}",
                        self.opts.name
                    ),
                );
                tracing::warn!(subscription = %self.opts.name, ?code, %reason, "refused");
                self.counters.refusal(Refusal { code, reason }, None);
                Err(Broken::Closed(error))
            }
            Control::Welcome { version, .. } if !self.welcomed => {
                if !(protocol::MIN_VERSION..=protocol::VERSION).contains(&version) {
                    return Err(Broken::Protocol(ProtocolError::Version { found: version }));
                }
                self.welcome();
                if self.sessions.unacked() {
                    self.sessions.take_acks(&mut self.out, frames::now_nanos());
                }
                Ok(())
            }
            Control::Producer {
                session,
                service,
                sink,
            } if self.welcomed => {
                self.sessions.name(session, &service, &sink);
                Ok(())
            }
            Control::Gap {
                session,
                first,
                count,
            } if self.welcomed => {
                let (producer, missed) = self.sessions.gap(session, first, count);
                if missed > 0 {
                    self.ready.push_back(Event::Gap { producer, missed });
                }
                Ok(())
            }
            _ => Err(unexpected()),
        }
    }
}

async fn connect(endpoint: &Endpoint, opts: &Options) -> Result<Link, TransportError> {
    #[cfg(feature = "nats")]
    if let Endpoint::Nats(address) = endpoint {
        return super::nats::NatsLink::connect(address, &opts.name)
            .await
            .map(Link::Nats);
    }
    #[cfg(feature = "nats")]
    if let Endpoint::Jet(address, durable) = endpoint {
        let service = if opts.service.is_empty() {
            &opts.name
        } else {
            &opts.service
        };
        return super::jet::JetLink::connect(address, durable, service, &opts.name)
            .await
            .map(|link| Link::Jet(Box::new(link)));
    }
    let _ = opts;
    Stream::connect(endpoint).await.map(Link::Socket)
}
