//! The receiving half: [`Subscription`] (frames from a relay) and [`Inbox`] (frames
//! from direct senders to a service's `listen` endpoint), yielding [`Received`] items.
//!
//! Both speak the sinkgen protocol ([`protocol`](crate::protocol), `docs/PROTOCOL.md`):
//! they name every frame's producer, drop duplicates by (session, sequence), turn a
//! hole in a producer's sequence (or a relay's GAP) into a [`Received::Gap`] item, and
//! acknowledge what they handed on. A payload that does not [`Decode`](crate::Decode) is handed on as
//! [`Received::Undecodable`]: counted, never skipped.
//!
//! # Delivery
//!
//! Within one receiving process every frame reaches the application exactly once, in
//! each producer's order, or its loss is a gap item naming the producer and the count.
//! De-duplication state survives reconnects (it lives in the handle), not a restart of
//! the process: across a restart delivery is at least once (see `docs/PROTOCOL.md`,
//! "Guarantees"). The first frame of a producer session a receiver sees sets where that
//! session starts for it: frames before it were either handed to a predecessor or sent
//! before it existed, and the relay reports its own drops with GAP frames.
//!
//! # Examples
//!
//! ```no_run
//! use sinkgen_runtime::{Bytes, Received, SubscriptionBuilder};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let mut quotes = SubscriptionBuilder::new("unix:///run/torq/market_data.sock")
//!     .identity("strategy", "market_data")
//!     .build::<Bytes>()?;
//! while let Some(item) = quotes.recv().await {
//!     match item {
//!         Received::Message { producer, message } => println!("{producer}: {message:?}"),
//!         Received::Gap { producer, missed } => eprintln!("{producer}: {missed} lost"),
//!         Received::Undecodable { producer, error } => eprintln!("{producer}: {error}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use crate::decode::DecodeError;

mod counters;
mod frames;
#[cfg(feature = "nats")]
mod hold;
mod inbox;
#[cfg(feature = "nats")]
mod jet;
#[cfg(feature = "nats")]
mod nats;
pub(crate) mod private;
mod sessions;
mod socket;
mod subscription;

pub use counters::{ReceiveStatus, Refusal};
pub use inbox::{Inbox, InboxBuilder};
pub use subscription::{Subscription, SubscriptionBuilder};

/// One item a receiver hands to the application.
///
/// Deliberately exhaustive: a `match` must say what it does with gaps and undecodable
/// payloads, which are never to be ignored by accident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received<M> {
    /// A message, in its producer's order, never twice.
    Message {
        /// Who sent it.
        producer: Producer,
        /// The message.
        message: M,
    },
    /// Frames of `producer` that will never come (lost upstream: a hole in its
    /// sequence, or dropped from a relay's backlog).
    Gap {
        /// Whose frames are missing.
        producer: Producer,
        /// How many.
        missed: u64,
    },
    /// A frame whose payload did not decode as `M` (counted in
    /// [`ReceiveStatus::undecodable`]).
    Undecodable {
        /// Who sent it.
        producer: Producer,
        /// Why it did not decode.
        error: DecodeError,
    },
}

impl<M> Received<M> {
    /// The producer the item is about.
    #[must_use]
    pub fn producer(&self) -> &Producer {
        match self {
            Received::Message { producer, .. }
            | Received::Gap { producer, .. }
            | Received::Undecodable { producer, .. } => producer,
        }
    }
}

/// Who produced a frame: a service's sink, and the session of that sink's process.
///
/// Cloning is cheap (one reference count). The names are empty for a session a relay
/// has not named (it sends PRODUCER before a session's first frame, so only a
/// misbehaving relay leaves them empty) and for NATS, which carries no names.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Producer(Arc<ProducerName>);

#[derive(PartialEq, Eq, Hash)]
struct ProducerName {
    service: Box<str>,
    sink: Box<str>,
    session: u64,
}

impl Producer {
    pub(crate) fn new(service: &str, sink: &str, session: u64) -> Producer {
        Producer(Arc::new(ProducerName {
            service: service.into(),
            sink: sink.into(),
            session,
        }))
    }

    /// The producing (or sending) service in `services.toml`.
    #[must_use]
    pub fn service(&self) -> &str {
        &self.0.service
    }

    /// The producing sink's name.
    #[must_use]
    pub fn sink(&self) -> &str {
        &self.0.sink
    }

    /// The producer's session: new in every process of the producer.
    #[must_use]
    pub fn session(&self) -> u64 {
        self.0.session
    }
}

impl fmt::Display for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.service.is_empty() {
            write!(f, "unnamed producer (session {:#018x})", self.0.session)
        } else {
            write!(
                f,
                "{}.{} (session {:#018x})",
                self.0.service, self.0.sink, self.0.session
            )
        }
    }
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("service", &self.service())
            .field("sink", &self.sink())
            .field("session", &format_args!("{:#018x}", self.session()))
            .finish()
    }
}

/// A frame's worth of news from a connection, before decoding (non-generic).
pub(crate) enum Event {
    Data {
        producer: Producer,
        body: bytes::Bytes,
    },
    Gap {
        producer: Producer,
        missed: u64,
    },
}

impl Event {
    /// Decodes the payload of a data event; counts what it hands on.
    #[inline]
    pub(crate) fn into_item<M, C: crate::codec::Decoder<M>>(
        self,
        counters: &counters::Counters,
    ) -> Received<M> {
        match self {
            Event::Data { producer, body } => match crate::codec::decode::<M, C>(body) {
                Ok(message) => {
                    counters.received();
                    Received::Message { producer, message }
                }
                Err(error) => {
                    counters.undecodable();
                    Received::Undecodable { producer, error }
                }
            },
            Event::Gap { producer, missed } => {
                counters.gap(missed);
                Received::Gap { producer, missed }
            }
        }
    }
}
