//! Leaf sinks: [`RelaySink`] (to a relay) and [`DirectSink`] (to a service or a raw
//! endpoint), and the [`SinkBuilder`] that makes them.
//!
//! A sink is a cheap `Clone` handle; all clones share one queue and one connection.
//! Nothing happens at construction: the first `send` (or `try_send`, or
//! `wait_connected`) starts the sink's connection task on the current tokio runtime.
//! When the last handle is dropped, the task writes what is queued if it is connected
//! (for at most `send_timeout`) and stops; if it is not connected it stops at once and
//! counts the queued frames as lost (`Lost::dropped`).
//!
//! # Examples
//!
//! ```no_run
//! use sinkgen_runtime::{Bytes, RelaySink, SinkBuilder};
//! use std::time::Duration;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sink: RelaySink<Bytes> = SinkBuilder::new("unix:///tmp/torq/signals.sock")
//!     .name("signals")
//!     .queue(1024)
//!     .send_timeout(Duration::from_millis(200))
//!     .relay()?;
//! sink.send(Bytes::from_static(b"hello")).await?; // connects on this first send
//! let undelivered = sink.close().await;
//! assert_eq!(undelivered, 0);
//! # Ok(())
//! # }
//! ```

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sinkgen_config::policy;

use crate::codec::{Coded, Encoder, Raw};
use crate::connection::{Identity, Msg, Options, Reject, Shared, deadline_after};
use crate::encode::Encode;
use crate::error::{BuildError, ErrorClass, SendError, TransportError, WaitError};
use crate::framing::Framing;
use crate::link::Link;
use crate::status::Status;
use crate::transport::Endpoint;

/// Owns the sink's shared state on behalf of all clones; dropping the last one stops
/// the connection task.
pub(crate) struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.handle_dropped();
    }
}

/// Builds a [`RelaySink`] or [`DirectSink`] from an endpoint and options.
///
/// Defaults are those of `services.toml` (`sinkgen_config::policy`): `connect_timeout`
/// 500 ms, `send_timeout` 1 s, `queue` 4096 frames, backoff 10 ms to 1 s,
/// `when_down` queue, `max_frame` 16 MiB, length-prefixed framing.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until .relay() or .direct() is called"]
pub struct SinkBuilder {
    name: Arc<str>,
    link: Link,
    framing: Framing,
    send_timeout: Duration,
    queue: usize,
    identity: Option<Identity>,
    durable: Option<crate::durable::Durable>,
    when_down: WhenDown,
}

/// What a send does while the sink's peer is down (`when_down` in `services.toml`):
/// [`WhenDown::Queue`] (the default) or [`WhenDown::Fail`]. See
/// [`SinkBuilder::when_down`].
pub use sinkgen_config::policy::WhenDown;

impl SinkBuilder {
    /// Starts a builder for `endpoint` (`unix:///absolute/path` or `tcp://host:port`).
    pub fn new(endpoint: impl Into<String>) -> SinkBuilder {
        let endpoint = endpoint.into();
        SinkBuilder {
            name: Arc::from(endpoint.as_str()),
            link: Link::new(endpoint),
            framing: Framing::LengthPrefixed,
            send_timeout: policy::SEND_TIMEOUT,
            queue: usize::try_from(policy::QUEUE).unwrap_or(usize::MAX),
            identity: None,
            durable: None,
            when_down: policy::WHEN_DOWN,
        }
    }

    /// The sink's name in [`Status`], `tracing` events and metric labels (default: the
    /// endpoint).
    pub fn name(mut self, name: &str) -> SinkBuilder {
        self.name = Arc::from(name);
        self
    }

    /// Frame layout (default [`Framing::LengthPrefixed`]).
    pub fn framing(mut self, framing: Framing) -> SinkBuilder {
        self.framing = framing;
        self
    }

    /// Longest time one connect attempt may take; with [`Framing::Sinkgen`], the
    /// peer's answer to HELLO included (also on a first connection, whose first
    /// frames go out behind HELLO before the answer).
    pub fn connect_timeout(mut self, timeout: Duration) -> SinkBuilder {
        self.link.connect_timeout = timeout;
        self
    }

    /// Longest time `send` waits for room in the queue; also the linger of `close()`
    /// and the bound of `flush()`.
    pub fn send_timeout(mut self, timeout: Duration) -> SinkBuilder {
        self.send_timeout = timeout;
        self
    }

    /// Frames held while (re)connecting, at least 1. With [`Framing::Sinkgen`], the
    /// frames written and not yet acknowledged count too, so this bounds what the
    /// sink keeps for a resend (plus, as for every framing, one batch being
    /// written).
    pub fn queue(mut self, frames: usize) -> SinkBuilder {
        self.queue = frames;
        self
    }

    /// What a send does while the peer is down, that is while the sink is not
    /// connected after a failed connect attempt ([`State::Backoff`](crate::State),
    /// and the attempts that follow it, until one succeeds).
    ///
    /// [`WhenDown::Queue`] (the default): frames wait in the queue for the next
    /// connection. [`WhenDown::Fail`]: `send`, `try_send` and `send_all` fail at once
    /// with [`SendErrorKind::Down`](crate::SendErrorKind::Down) and the message handed
    /// back (the cause is the last connection error), so a caller can shed or reroute
    /// load instead of filling the queue: Torq's circuit breaker. Frames accepted
    /// before the peer went down stay queued and are written after the reconnect. The
    /// first send to a sink that never tried to connect is queued either way (it starts
    /// the first attempt).
    pub fn when_down(mut self, when_down: WhenDown) -> SinkBuilder {
        self.when_down = when_down;
        self
    }

    /// The largest payload (the encoded message, without the framing's header) the
    /// sink sends in one frame, in bytes: a larger message is refused by `send` with
    /// [`SendErrorKind::TooLarge`](crate::SendErrorKind::TooLarge) and handed back,
    /// taking no room in the queue. Default 16 MiB
    /// ([`protocol::DEFAULT_MAX_FRAME`](crate::protocol::DEFAULT_MAX_FRAME), what
    /// receivers and `sinkgen relay` accept), at least 1; values above `u32::MAX`
    /// (what a frame's length field describes) act as `u32::MAX`.
    pub fn max_frame(mut self, bytes: usize) -> SinkBuilder {
        self.link.max_frame = bytes;
        self
    }

    /// Delay between connect attempts: exponential from `initial` to `max`, with full
    /// jitter in `[initial, current cap]`.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> SinkBuilder {
        self.link.backoff_initial = initial;
        self.link.backoff_max = max;
        self
    }

    /// Who the sink is in `services.toml`, for the handshake of [`Framing::Sinkgen`]:
    /// the sending `service` and the `target` (the relay of a relay sink, the receiving
    /// service of a direct sink). The sink's own name is [`SinkBuilder::name`].
    /// Generated sinks set it; a peer refuses a sink the file does not declare.
    ///
    /// The HELLO names the sink's role (a producer for [`SinkBuilder::relay`], a direct
    /// sender for [`SinkBuilder::direct`]), `service`, the sink's name and `target`. A
    /// sink built without an identity names its own name as the service and its
    /// endpoint as the target.
    pub fn identity(mut self, service: &str, target: &str) -> SinkBuilder {
        self.identity = Some(Identity {
            service: Arc::from(service),
            target: Arc::from(target),
        });
        self
    }

    /// Makes the sink publish to a durable relay (a `nats://` endpoint) through
    /// JetStream, with `durable`'s settings (see [`crate::durable`]): frames are
    /// numbered (the framing becomes [`Framing::Sinkgen`], and the message payload is
    /// the body alone), kept until the server acknowledges them, and published again
    /// after a reconnect, under the same message id.
    pub fn durable(mut self, durable: crate::durable::Durable) -> SinkBuilder {
        self.durable = Some(durable);
        self
    }

    /// What the sink presents to its NATS server (a `nats://` endpoint), read from
    /// the secret at every connect attempt (see [`crate::credentials`]). A secret that
    /// cannot be read, or credentials the server refuses, fail the attempt: the sink
    /// backs off and tries again.
    pub fn nats_credentials(mut self, credentials: crate::NatsCredentials) -> SinkBuilder {
        self.link.credentials = Some(credentials);
        self
    }

    /// Secures the connection with TLS (feature `tls`; a `tcp://`, `nats://` or
    /// `wss://` endpoint): see [`crate::tls`]. A `wss://` endpoint without it trusts
    /// the platform's roots. The secrets are read at each connection
    /// attempt; one that cannot be read fails that attempt (named in `status()`'s
    /// last error) and the sink retries under its backoff.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::tls::Tls) -> SinkBuilder {
        self.link.tls = Some(tls);
        self
    }

    fn check(&self) -> Result<Endpoint, BuildError> {
        self.check_endpoint()?
            .with_credentials(self.link.credentials.clone())
            .map_err(BuildError::new)
    }

    fn check_endpoint(&self) -> Result<Endpoint, BuildError> {
        if self.queue == 0 {
            return Err(BuildError::new("queue must hold at least 1 frame"));
        }
        if self.send_timeout.is_zero() {
            return Err(BuildError::new("send_timeout must be greater than zero"));
        }
        match (&self.durable, self.link.endpoint()?) {
            (None, endpoint) => Ok(endpoint),
            #[cfg(feature = "nats")]
            (Some(durable), Endpoint::Nats(address)) => Ok(Endpoint::Jet(address, durable.clone())),
            (Some(_), _) => Err(BuildError::new(format!(
                "`{}` is not a nats:// endpoint; only a NATS relay can be durable (JetStream); \
                 help: remove `durable`, or relay through `nats://host:port/subject`",
                sinkgen_config::printable(&self.link.endpoint)
            ))),
        }
    }

    pub(crate) fn options(self, endpoint: Result<Endpoint, TransportError>) -> Options {
        let link = self.link;
        let endpoint = endpoint.and_then(|e| {
            e.with_credentials(link.credentials)
                .map_err(|m| bad_address(format!("bad address for sink `{}`: {m}", self.name)))
        });
        Options {
            name: self.name,
            endpoint_text: Arc::from(link.endpoint),
            endpoint,
            framing: if self.durable.is_some() {
                Framing::Sinkgen
            } else {
                self.framing
            },
            connect_timeout: link.connect_timeout,
            send_timeout: self.send_timeout,
            queue: self.queue,
            backoff_initial: link.backoff_initial,
            backoff_max: link.backoff_max,
            identity: self.identity,
            when_down: self.when_down,
            max_frame: link.max_frame.min(u32::MAX as usize),
            role: crate::protocol::Role::Producer,
            session: crate::protocol::new_session(),
        }
    }

    /// Builds a sink to a relay. No I/O happens here.
    ///
    /// # Errors
    ///
    /// [`BuildError`] when the endpoint does not parse or an option is out of range
    /// (queue 0, max_frame 0, zero timeout, backoff initial above max).
    pub fn relay<M: Encode>(self) -> Result<RelaySink<M>, BuildError> {
        let endpoint = self.check()?;
        Ok(RelaySink::from_options(self.options(Ok(endpoint))))
    }

    /// Builds a sink to a service or a raw endpoint. No I/O happens here.
    ///
    /// # Errors
    ///
    /// As [`SinkBuilder::relay`].
    pub fn direct<M: Encode>(self) -> Result<DirectSink<M>, BuildError> {
        let endpoint = self.check()?;
        Ok(DirectSink::from_options(self.options(Ok(endpoint))))
    }

    /// [`relay`](SinkBuilder::relay) for a message type written by codec `C`
    /// (see [`codec`](crate::codec)), e.g. `.relay_with::<Quote, Postcard>()`.
    ///
    /// # Errors
    ///
    /// As [`SinkBuilder::relay`].
    pub fn relay_with<M, C: Encoder<M>>(self) -> Result<RelaySink<M, C>, BuildError> {
        let endpoint = self.check()?;
        Ok(RelaySink::from_options(self.options(Ok(endpoint))))
    }

    /// [`direct`](SinkBuilder::direct) for a message type written by codec `C`.
    ///
    /// # Errors
    ///
    /// As [`SinkBuilder::relay`].
    pub fn direct_with<M, C: Encoder<M>>(self) -> Result<DirectSink<M, C>, BuildError> {
        let endpoint = self.check()?;
        Ok(DirectSink::from_options(self.options(Ok(endpoint))))
    }
}

/// The [`SendAllError`](crate::SendAllError) of a `send_all` that stopped: the held
/// message first, then the rest of the iterator.
fn unsent<M, C>(
    accepted: usize,
    Reject { kind, cause }: Reject,
    held: Option<Coded<M, C>>,
    rest: impl Iterator<Item = Coded<M, C>>,
) -> crate::SendAllError<M> {
    let rest = held.into_iter().chain(rest).map(|c| c.msg).collect();
    crate::SendAllError::new(accepted, kind, cause, rest)
}

/// Makes a [`TransportError`] for an endpoint that cannot work.
pub(crate) fn bad_address(message: String) -> TransportError {
    TransportError::new(ErrorClass::Fatal, std::io::ErrorKind::InvalidInput, message)
}

macro_rules! leaf_sink {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        ///
        /// Messages are written by the codec `C` (see [`codec`](crate::codec)): by
        /// default [`Raw`], the message's own [`Encode`].
        pub struct $name<M, C = Raw> {
            pub(crate) handle: Arc<Handle>,
            _message: PhantomData<fn(M, C)>,
        }

        impl<M, C> Clone for $name<M, C> {
            fn clone(&self) -> Self {
                $name { handle: Arc::clone(&self.handle), _message: PhantomData }
            }
        }

        impl<M, C> std::fmt::Debug for $name<M, C> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let s = &self.handle.shared;
                f.debug_struct(stringify!($name))
                    .field("sink", &&*s.opts.name)
                    .field("endpoint", &&*s.opts.endpoint_text)
                    .field("state", &s.state())
                    .finish()
            }
        }

        impl<M: Encode> $name<M> {
            /// A sink to `endpoint` with default options (see [`SinkBuilder`]).
            ///
            /// # Errors
            ///
            /// [`BuildError`] when the endpoint does not parse.
            pub fn new(endpoint: &str) -> Result<Self, BuildError> {
                Self::with_codec(endpoint)
            }
        }

        impl<M, C: Encoder<M>> $name<M, C> {
            /// A sink to `endpoint` with default options whose messages are written by
            /// codec `C` (see [`codec`](crate::codec)).
            ///
            /// # Errors
            ///
            /// [`BuildError`] when the endpoint does not parse.
            pub fn with_codec(endpoint: &str) -> Result<Self, BuildError> {
                let endpoint = endpoint.to_owned();
                let builder = SinkBuilder::new(endpoint);
                let parsed = builder.check()?;
                Ok(Self::from_options(builder.options(Ok(parsed))))
            }

            pub(crate) fn from_options(mut options: Options) -> Self {
                options.role = $role;
                $name {
                    handle: Arc::new(Handle { shared: Shared::new(options) }),
                    _message: PhantomData,
                }
            }

            /// Queues `msg` to be written as one frame, waiting up to `send_timeout`
            /// for room when the queue is full (on NATS, also when the client's buffer
            /// is full). The first send starts the connection.
            ///
            /// `Ok` means the frame is accepted and will be written whole, in order,
            /// unless the sink counts it lost ([`Status::lost`]). It does not wait for
            /// a connection: while (re)connecting, frames wait in the queue.
            ///
            /// # Errors
            ///
            /// The message comes back inside [`SendError`]: `Timeout` (queue stayed
            /// full), `Closed`, `Fatal` (bad address), `TooLarge`, `NoRuntime`.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: the only wait is for room, before the frame is accepted.
            /// A send dropped early has queued nothing (the message is dropped with
            /// the future); the stream is never affected.
            pub async fn send(&self, msg: M) -> Result<(), SendError<M>> {
                let mut msg = Coded::<M, C>::new(msg);
                let shared = &self.handle.shared;
                let mut deadline = None;
                let mut waited = None;
                loop {
                    let need = match shared.offer(Msg::Owned(&mut msg), waited.take()) {
                        Ok(None) => return Ok(()),
                        Ok(Some(need)) => need,
                        Err(Reject { kind, cause }) => return Err(SendError::new(kind, cause, msg.msg)),
                    };
                    let deadline = *deadline
                        .get_or_insert_with(|| deadline_after(Instant::now(), shared.opts.send_timeout));
                    match shared.wait(need, deadline).await {
                        Ok(w) => waited = w,
                        Err(Reject { kind, cause }) => return Err(SendError::new(kind, cause, msg.msg)),
                    }
                }
            }

            /// Queues many messages in one call, in order: one lock of the queue and
            /// one wake-up of the connection task per round, instead of one per
            /// message. Waits for room like [`send`](Self::send) when the queue is
            /// full, up to `send_timeout` in all; every accounting rule of `send`
            /// holds per message (the `queue` bound, unacknowledged frames of
            /// [`Framing::Sinkgen`] taking room, `max_frame`, `when_down`).
            ///
            /// Returns how many messages were accepted: all of them.
            ///
            /// # Errors
            ///
            /// [`SendAllError`](crate::SendAllError) when it stopped before the
            /// end: the number accepted (a prefix of the messages), why the next one
            /// was not (the kinds of [`send`](Self::send)), and the messages not
            /// accepted, in order, starting with that one. To hand them back the rest
            /// of `msgs` is drained into a `Vec`, so give it a finite iterator.
            ///
            /// The iterator is advanced, and each message encoded, with the queue
            /// locked: keep it cheap (a `Vec`, a slice's `iter().cloned()`, a `map`).
            ///
            /// # Cancel safety
            ///
            /// Not all-or-nothing: dropped while it waits for room, the messages
            /// accepted before stay accepted (and are written), the others are dropped
            /// with the future. The stream is never affected.
            pub async fn send_all<I>(&self, msgs: I) -> Result<usize, crate::SendAllError<M>>
            where
                I: IntoIterator<Item = M>,
            {
                let shared = &self.handle.shared;
                let mut rest = msgs.into_iter().map(Coded::<M, C>::new);
                let mut held = None;
                let mut accepted = 0;
                let mut deadline = None;
                loop {
                    let stop = match shared.ready_to_queue() {
                        Err(r) => r,
                        Ok(()) => {
                            let (n, stop) = shared.push_batch(&mut held, &mut rest);
                            accepted += n;
                            match stop {
                                None => return Ok(accepted),
                                Some(r) => r,
                            }
                        }
                    };
                    if stop.kind == crate::SendErrorKind::Full {
                        let deadline = *deadline.get_or_insert_with(|| {
                            deadline_after(Instant::now(), shared.opts.send_timeout)
                        });
                        if let Err(r) = shared.wait(crate::connection::Need::Room, deadline).await {
                            return Err(unsent(accepted, r, held, rest));
                        }
                        continue;
                    }
                    return Err(unsent(accepted, stop, held, rest));
                }
            }

            /// Queues `msg` if there is room now; never waits.
            ///
            /// # Errors
            ///
            /// As [`send`](Self::send), with `Full` instead of `Timeout`.
            pub fn try_send(&self, msg: M) -> Result<(), SendError<M>> {
                let mut msg = Coded::<M, C>::new(msg);
                match self.handle.shared.try_enqueue(Msg::Owned(&mut msg)) {
                    Ok(()) => Ok(()),
                    Err(Reject { kind, cause }) => Err(SendError::new(kind, cause, msg.msg)),
                }
            }

            /// Waits until every frame accepted before this call is written to the
            /// connection (or counted lost), for at most `send_timeout`. With
            /// [`Framing::Sinkgen`] it waits until the peer acknowledged them.
            ///
            /// # Errors
            ///
            /// [`WaitError::Timeout`] when frames are still queued at the deadline (for
            /// example while the peer is down); `Closed` / `Fatal` when the sink stopped.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: it only waits.
            pub async fn flush(&self) -> Result<(), WaitError> {
                self.handle.shared.flush().await
            }

            /// Starts connecting (if not yet) and waits until connected or `deadline`.
            /// Use it to warm a sink up before the first frame matters.
            ///
            /// # Errors
            ///
            /// [`WaitError::Timeout`] at the deadline; `Closed` / `Fatal` when the sink
            /// stopped; `NoRuntime` outside a tokio runtime.
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: it only waits; the connection attempt goes on.
            pub async fn wait_connected(&self, deadline: Instant) -> Result<(), WaitError> {
                self.handle.shared.wait_connected(deadline).await
            }

            /// Closes the sink for every handle: no new frames are accepted; queued
            /// frames are written for at most `send_timeout` (the linger). Returns how
            /// many frames were not delivered (also counted in [`Status::lost`]).
            /// With [`Framing::Sinkgen`] the linger also waits for acknowledgements,
            /// and frames written but never acknowledged count as not delivered
            /// ([`Lost::unconfirmed`](crate::Lost::unconfirmed)).
            /// A second call returns 0.
            ///
            /// # Cancel safety
            ///
            /// The sink is closed at the first poll; cancelling only stops waiting for
            /// the linger (the connection task still stops by the deadline).
            pub async fn close(&self) -> u64 {
                let linger = self.handle.shared.opts.send_timeout;
                self.handle.shared.close(linger).await
            }

            /// [`close`](Self::close) with an explicit linger.
            pub async fn close_with_linger(&self, linger: Duration) -> u64 {
                self.handle.shared.close(linger).await
            }

            /// A snapshot of state and counters.
            #[must_use]
            pub fn status(&self) -> Status {
                self.handle.shared.status()
            }

            /// The sink's name.
            #[must_use]
            pub fn name(&self) -> &str {
                &self.handle.shared.opts.name
            }

            /// The endpoint as written.
            #[must_use]
            pub fn endpoint(&self) -> &str {
                &self.handle.shared.opts.endpoint_text
            }
        }
    };
}

leaf_sink! {
    /// A lazily connecting sink to a relay, accepting only messages of type `M`.
    ///
    /// See the [module docs](self) for the lifecycle, and [`SinkBuilder`] to make one.
    RelaySink, crate::protocol::Role::Producer
}

leaf_sink! {
    /// A lazily connecting sink straight to a service's `listen` endpoint (or any
    /// endpoint), accepting only messages of type `M`. Same behaviour as
    /// [`RelaySink`].
    DirectSink, crate::protocol::Role::DirectSender
}
