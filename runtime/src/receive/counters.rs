//! What a receiver counts: [`ReceiveStatus`] snapshots, and the same counters exported
//! through the `metrics` facade with a `receiver` label:
//!
//! | metric                                  | kind    | meaning                                  |
//! |-----------------------------------------|---------|------------------------------------------|
//! | `sinkgen_received_total`                | counter | messages handed to the application       |
//! | `sinkgen_received_duplicates_total`     | counter | duplicate frames dropped                 |
//! | `sinkgen_received_gaps_total`           | counter | gap items                                |
//! | `sinkgen_received_missed_total`         | counter | frames those gaps say are missing        |
//! | `sinkgen_received_undecodable_total`    | counter | frames whose payload did not decode      |
//! | `sinkgen_receiver_connects_total`       | counter | connect attempts (subscription), accepted connections (inbox) |
//! | `sinkgen_receiver_refusals_total`       | counter | refusals received (subscription) or sent (inbox) |

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::Counter;

use crate::error::TransportError;
use crate::protocol::RefuseCode;

/// A refusal: the code and the reason of a REFUSE frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Why, as a code.
    pub code: RefuseCode,
    /// Why, for people.
    pub reason: String,
}

/// A snapshot of a receiver's state and counters.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReceiveStatus {
    /// The receiver's name (metrics label, `tracing` events).
    pub name: Arc<str>,
    /// Subscription: connected and welcomed by the relay. Inbox: listening.
    pub connected: bool,
    /// Subscription: connect attempts. Inbox: connections accepted.
    pub connects: u64,
    /// Inbox: direct senders connected now (welcomed). Subscription: 0.
    pub senders: u64,
    /// Messages handed to the application.
    pub received: u64,
    /// Duplicate frames dropped (resends after a reconnect).
    pub duplicates: u64,
    /// Gap items handed to the application.
    pub gaps: u64,
    /// Frames those gaps say are missing.
    pub missed: u64,
    /// Frames whose payload did not decode (handed on as
    /// [`Received::Undecodable`](crate::Received::Undecodable)).
    pub undecodable: u64,
    /// Subscription: refusals received from the relay. Inbox: senders refused.
    pub refusals: u64,
    /// The last refusal (subscription: received; inbox: sent).
    pub last_refusal: Option<Refusal>,
    /// The last connection failure (a refusal included, with its code and reason).
    pub last_error: Option<TransportError>,
}

struct Handles {
    received: Counter,
    duplicates: Counter,
    gaps: Counter,
    missed: Counter,
    undecodable: Counter,
    connects: Counter,
    refusals: Counter,
}

/// Shared counters of one receiver (atomics: an inbox's connection tasks count too).
pub(crate) struct Counters {
    name: Arc<str>,
    connected: AtomicBool,
    connects: AtomicU64,
    senders: AtomicU64,
    received: AtomicU64,
    duplicates: AtomicU64,
    gaps: AtomicU64,
    missed: AtomicU64,
    undecodable: AtomicU64,
    refusals: AtomicU64,
    last: Mutex<(Option<Refusal>, Option<TransportError>)>,
    metrics: OnceLock<Handles>,
}

impl Counters {
    pub(crate) fn new(name: Arc<str>) -> Counters {
        Counters {
            name,
            connected: AtomicBool::new(false),
            connects: AtomicU64::new(0),
            senders: AtomicU64::new(0),
            received: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            undecodable: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
            last: Mutex::new((None, None)),
            metrics: OnceLock::new(),
        }
    }

    /// Registers the metric handles (at the first receive, when a recorder is likely
    /// installed).
    pub(crate) fn start_metrics(&self) {
        self.metrics.get_or_init(|| {
            let l = ("receiver", self.name.to_string());
            Handles {
                received: metrics::counter!("sinkgen_received_total", l.0 => l.1.clone()),
                duplicates: metrics::counter!("sinkgen_received_duplicates_total", l.0 => l.1.clone()),
                gaps: metrics::counter!("sinkgen_received_gaps_total", l.0 => l.1.clone()),
                missed: metrics::counter!("sinkgen_received_missed_total", l.0 => l.1.clone()),
                undecodable: metrics::counter!("sinkgen_received_undecodable_total", l.0 => l.1.clone()),
                connects: metrics::counter!("sinkgen_receiver_connects_total", l.0 => l.1.clone()),
                refusals: metrics::counter!("sinkgen_receiver_refusals_total", l.0 => l.1),
            }
        });
    }

    fn bump(&self, atomic: &AtomicU64, n: u64, handle: impl FnOnce(&Handles) -> &Counter) {
        atomic.fetch_add(n, Ordering::Relaxed);
        if let Some(h) = self.metrics.get() {
            handle(h).increment(n);
        }
    }

    /// Counts on behalf of the one consumer (`recv` takes `&mut self`): a plain
    /// load and store, not a locked read-modify-write, on the per-frame path.
    fn bump_single(&self, atomic: &AtomicU64, n: u64, handle: impl FnOnce(&Handles) -> &Counter) {
        atomic.store(atomic.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        if let Some(h) = self.metrics.get() {
            handle(h).increment(n);
        }
    }

    /// Only the consumer (`recv`) calls this, and the next two.
    #[inline]
    pub(crate) fn received(&self) {
        self.bump_single(&self.received, 1, |h| &h.received);
    }
    pub(crate) fn duplicate(&self) {
        self.bump(&self.duplicates, 1, |h| &h.duplicates);
    }
    pub(crate) fn gap(&self, missed: u64) {
        self.bump_single(&self.gaps, 1, |h| &h.gaps);
        self.bump_single(&self.missed, missed, |h| &h.missed);
    }
    pub(crate) fn undecodable(&self) {
        self.bump_single(&self.undecodable, 1, |h| &h.undecodable);
    }
    pub(crate) fn connect(&self) {
        self.bump(&self.connects, 1, |h| &h.connects);
    }
    pub(crate) fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
    }
    pub(crate) fn sender(&self, joined: bool) {
        if joined {
            self.senders.fetch_add(1, Ordering::Relaxed);
        } else {
            self.senders.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Records a refusal (received or sent); `error` says it as a connection failure.
    pub(crate) fn refusal(&self, refusal: Refusal, error: Option<TransportError>) {
        self.bump(&self.refusals, 1, |h| &h.refusals);
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        last.0 = Some(refusal);
        if error.is_some() {
            last.1 = error;
        }
    }

    pub(crate) fn error(&self, error: TransportError) {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1 = Some(error);
    }

    pub(crate) fn status(&self) -> ReceiveStatus {
        let last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ReceiveStatus {
            name: Arc::clone(&self.name),
            connected: self.connected.load(Ordering::Relaxed),
            connects: get(&self.connects),
            senders: get(&self.senders),
            received: get(&self.received),
            duplicates: get(&self.duplicates),
            gaps: get(&self.gaps),
            missed: get(&self.missed),
            undecodable: get(&self.undecodable),
            refusals: get(&self.refusals),
            last_refusal: last.0,
            last_error: last.1,
        }
    }
}
