//! [`MessageSink`]: one dyn-compatible trait every sink implements, for code that
//! holds sinks generically (`Box<dyn MessageSink<M>>`, `&dyn MessageSink<M>`,
//! `Vec<Arc<dyn MessageSink<M>>>`) and for test doubles.
//!
//! Generated accessors keep returning their concrete types ([`RelaySink`],
//! [`DirectSink`], [`CompositeSink`]), whose inherent methods are what a call like
//! `sink.send(msg)` picks; the trait is for when the type must not matter. Its async
//! methods return boxed futures ([`BoxFuture`]), so calling them through the trait
//! costs one allocation per call that the inherent methods do not.
//!
//! # Examples
//!
//! A service that takes any sink, and a test double standing in for one:
//!
//! ```
//! use std::sync::Mutex;
//! use sinkgen_runtime::message_sink::{BoxFuture, MessageSink, SinkStatus};
//! use sinkgen_runtime::{Bytes, RelaySink, SendAllError, SendError, WaitError};
//!
//! async fn publish(sink: &dyn MessageSink<Bytes>, prices: &[u64]) -> usize {
//!     let msgs = prices.iter().map(|p| Bytes::from(p.to_le_bytes().to_vec())).collect();
//!     match sink.send_all(msgs).await {
//!         Ok(n) => n,
//!         Err(e) => e.accepted(),
//!     }
//! }
//!
//! /// Keeps what it is given.
//! #[derive(Default)]
//! struct Recorder(Mutex<Vec<Bytes>>);
//!
//! impl MessageSink<Bytes> for Recorder {
//!     fn send(&self, msg: Bytes) -> BoxFuture<'_, Result<(), SendError<Bytes>>> {
//!         Box::pin(async move { self.try_send(msg) })
//!     }
//!     fn try_send(&self, msg: Bytes) -> Result<(), SendError<Bytes>> {
//!         self.0.lock().unwrap().push(msg);
//!         Ok(())
//!     }
//!     fn send_all(&self, msgs: Vec<Bytes>) -> BoxFuture<'_, Result<usize, SendAllError<Bytes>>> {
//!         let n = msgs.len();
//!         self.0.lock().unwrap().extend(msgs);
//!         Box::pin(async move { Ok(n) })
//!     }
//!     fn flush(&self) -> BoxFuture<'_, Result<(), WaitError>> {
//!         Box::pin(async { Ok(()) })
//!     }
//!     fn close(&self) -> BoxFuture<'_, u64> {
//!         Box::pin(async { 0 })
//!     }
//!     fn status(&self) -> SinkStatus {
//!         SinkStatus::Other
//!     }
//!     fn name(&self) -> &str {
//!         "recorder"
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let recorder = Recorder::default();
//! assert_eq!(publish(&recorder, &[1, 2, 3]).await, 3);
//! assert_eq!(recorder.0.lock().unwrap().len(), 3);
//!
//! // A real sink goes behind the same trait.
//! let real: Box<dyn MessageSink<Bytes>> =
//!     Box::new(RelaySink::<Bytes>::new("unix:///tmp/sinkgen-doc-absent.sock").unwrap());
//! assert_eq!(real.name(), "unix:///tmp/sinkgen-doc-absent.sock");
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use crate::codec::Encoder;
use crate::composite::CompositeSink;
use crate::error::{SendAllError, SendError, WaitError};
use crate::sink::{DirectSink, RelaySink};
use crate::status::{CompositeStatus, Health, Status};

/// The future a [`MessageSink`] method returns: boxed, `Send`, borrowing the sink.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`MessageSink::status`] returns: the snapshot of a leaf sink or of a
/// composite, or nothing for a sink that keeps none (a test double).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SinkStatus {
    /// A [`RelaySink`] or [`DirectSink`].
    Leaf(Status),
    /// A [`CompositeSink`].
    Composite(CompositeStatus),
    /// A sink without a status of its own.
    Other,
}

impl SinkStatus {
    /// The health grade ([`Health`]); [`Health::Healthy`] for [`SinkStatus::Other`].
    #[must_use]
    pub fn health(&self) -> Health {
        match self {
            SinkStatus::Leaf(s) => s.health,
            SinkStatus::Composite(c) => c.health,
            SinkStatus::Other => Health::Healthy,
        }
    }

    /// When a frame last counted as sent ([`Status::last_sent`]).
    #[must_use]
    pub fn last_sent(&self) -> Option<SystemTime> {
        match self {
            SinkStatus::Leaf(s) => s.last_sent,
            SinkStatus::Composite(c) => c.last_sent,
            SinkStatus::Other => None,
        }
    }
}

/// The surface every sink offers, dyn-compatible: send one message (waiting for room,
/// or not), send many, flush, close, and a status snapshot.
///
/// Each method means what the inherent method of the same name means on
/// [`RelaySink`] (see there for errors and cancel safety); for a [`CompositeSink`],
/// `send` and `try_send` drop the [`Delivery`](crate::Delivery) report and keep the
/// error.
pub trait MessageSink<M>: Send + Sync {
    /// Queues `msg`, waiting up to `send_timeout` for room.
    fn send(&self, msg: M) -> BoxFuture<'_, Result<(), SendError<M>>>;

    /// Queues `msg` if there is room now; never waits.
    ///
    /// # Errors
    ///
    /// The message comes back inside [`SendError`].
    fn try_send(&self, msg: M) -> Result<(), SendError<M>>;

    /// Queues many messages in order; how many were accepted, or what was not.
    fn send_all(&self, msgs: Vec<M>) -> BoxFuture<'_, Result<usize, SendAllError<M>>>;

    /// Waits until what was accepted before is written (acknowledged, with sinkgen
    /// framing) or counted lost.
    fn flush(&self) -> BoxFuture<'_, Result<(), WaitError>>;

    /// Closes the sink; resolves to how many frames were not delivered.
    fn close(&self) -> BoxFuture<'_, u64>;

    /// A snapshot of state and counters.
    fn status(&self) -> SinkStatus;

    /// The sink's name.
    fn name(&self) -> &str;
}

macro_rules! leaf_message_sink {
    ($sink:ident) => {
        impl<M, C> MessageSink<M> for $sink<M, C>
        where
            M: Send + 'static,
            C: Encoder<M> + 'static,
        {
            fn send(&self, msg: M) -> BoxFuture<'_, Result<(), SendError<M>>> {
                Box::pin($sink::send(self, msg))
            }

            fn try_send(&self, msg: M) -> Result<(), SendError<M>> {
                $sink::try_send(self, msg)
            }

            fn send_all(&self, msgs: Vec<M>) -> BoxFuture<'_, Result<usize, SendAllError<M>>> {
                Box::pin($sink::send_all(self, msgs))
            }

            fn flush(&self) -> BoxFuture<'_, Result<(), WaitError>> {
                Box::pin($sink::flush(self))
            }

            fn close(&self) -> BoxFuture<'_, u64> {
                Box::pin($sink::close(self))
            }

            fn status(&self) -> SinkStatus {
                SinkStatus::Leaf($sink::status(self))
            }

            fn name(&self) -> &str {
                $sink::name(self)
            }
        }
    };
}

leaf_message_sink!(RelaySink);
leaf_message_sink!(DirectSink);

impl<M, C> MessageSink<M> for CompositeSink<M, C>
where
    M: Send + 'static,
    C: Encoder<M> + 'static,
{
    fn send(&self, msg: M) -> BoxFuture<'_, Result<(), SendError<M>>> {
        Box::pin(async move { CompositeSink::send(self, msg).await.map(|_| ()) })
    }

    fn try_send(&self, msg: M) -> Result<(), SendError<M>> {
        CompositeSink::try_send(self, msg).map(|_| ())
    }

    fn send_all(&self, msgs: Vec<M>) -> BoxFuture<'_, Result<usize, SendAllError<M>>> {
        Box::pin(CompositeSink::send_all(self, msgs))
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), WaitError>> {
        Box::pin(CompositeSink::flush(self))
    }

    fn close(&self) -> BoxFuture<'_, u64> {
        Box::pin(CompositeSink::close(self))
    }

    fn status(&self) -> SinkStatus {
        SinkStatus::Composite(CompositeSink::status(self))
    }

    fn name(&self) -> &str {
        CompositeSink::name(self)
    }
}
