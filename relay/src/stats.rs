//! Counters of a running relay: kept as atomics for the status line and the final
//! report, and mirrored to the `metrics` facade (`sinkgen_relay_*`, labelled by
//! `relay` and, per subscriber, `subscriber`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The counters of one relay.
#[derive(Debug)]
pub struct RelayStats {
    /// The relay's name.
    pub name: String,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    dropped: AtomicU64,
    duplicates: AtomicU64,
    bad: AtomicU64,
    refused: AtomicU64,
    connections: AtomicU64,
    /// Per declared subscriber (protocol `sinkgen`), in file order.
    pub subscribers: Vec<SubscriberStats>,
}

/// The counters of one declared subscriber.
#[derive(Debug)]
pub struct SubscriberStats {
    /// The subscribing service.
    pub name: String,
    relay: String,
    out: AtomicU64,
    dropped: AtomicU64,
    depth: AtomicU64,
}

/// A copy of one relay's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The relay's name.
    pub relay: String,
    /// Frames received from producers (duplicates not counted).
    pub frames_in: u64,
    /// Frames written to subscribers (or, for foreign framings, to other connections).
    pub frames_out: u64,
    /// Frames dropped: backlog overflows, or a full connection queue.
    pub dropped: u64,
    /// Resent frames the relay already had, dropped.
    pub duplicates: u64,
    /// Connections closed for a broken frame.
    pub bad: u64,
    /// Connections refused in the handshake.
    pub refused: u64,
    /// Connections open now.
    pub connections: u64,
    /// Per declared subscriber: name, frames written, dropped, held now.
    pub subscribers: Vec<(String, u64, u64, u64)>,
}

impl RelayStats {
    pub(crate) fn new(name: &str, subscribers: &[String]) -> Arc<RelayStats> {
        Arc::new(RelayStats {
            name: name.to_owned(),
            frames_in: AtomicU64::new(0),
            frames_out: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            subscribers: subscribers
                .iter()
                .map(|s| SubscriberStats {
                    name: s.clone(),
                    relay: name.to_owned(),
                    out: AtomicU64::new(0),
                    dropped: AtomicU64::new(0),
                    depth: AtomicU64::new(0),
                })
                .collect(),
        })
    }

    fn count(&self, field: &AtomicU64, metric: &'static str, n: u64) {
        if n > 0 {
            field.fetch_add(n, Relaxed);
            metrics::counter!(metric, "relay" => self.name.clone()).increment(n);
        }
    }

    pub(crate) fn received(&self, n: u64) {
        self.count(&self.frames_in, "sinkgen_relay_frames_in", n);
    }

    pub(crate) fn sent(&self, n: u64) {
        self.count(&self.frames_out, "sinkgen_relay_frames_out", n);
    }

    pub(crate) fn dropped(&self, n: u64) {
        self.count(&self.dropped, "sinkgen_relay_frames_dropped", n);
    }

    pub(crate) fn duplicate(&self, n: u64) {
        self.count(&self.duplicates, "sinkgen_relay_frames_duplicate", n);
    }

    pub(crate) fn bad_frame(&self) {
        self.count(&self.bad, "sinkgen_relay_bad_frames", 1);
    }

    pub(crate) fn refused(&self) {
        self.count(&self.refused, "sinkgen_relay_refused", 1);
    }

    pub(crate) fn connected(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    pub(crate) fn disconnected(&self) {
        self.connections.fetch_sub(1, Relaxed);
    }

    /// The counters now.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            relay: self.name.clone(),
            frames_in: self.frames_in.load(Relaxed),
            frames_out: self.frames_out.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            bad: self.bad.load(Relaxed),
            refused: self.refused.load(Relaxed),
            connections: self.connections.load(Relaxed),
            subscribers: self
                .subscribers
                .iter()
                .map(|s| {
                    (
                        s.name.clone(),
                        s.out.load(Relaxed),
                        s.dropped.load(Relaxed),
                        s.depth.load(Relaxed),
                    )
                })
                .collect(),
        }
    }
}

impl SubscriberStats {
    pub(crate) fn sent(&self, n: u64) {
        if n > 0 {
            self.out.fetch_add(n, Relaxed);
            metrics::counter!("sinkgen_relay_subscriber_frames_out",
                "relay" => self.relay.clone(), "subscriber" => self.name.clone())
            .increment(n);
        }
    }

    pub(crate) fn dropped(&self, n: u64) {
        self.dropped.fetch_add(n, Relaxed);
        metrics::counter!("sinkgen_relay_subscriber_frames_dropped",
            "relay" => self.relay.clone(), "subscriber" => self.name.clone())
        .increment(n);
    }

    pub(crate) fn depth(&self, depth: usize) {
        let depth = depth as u64;
        if self.depth.swap(depth, Relaxed) != depth {
            metrics::gauge!("sinkgen_relay_backlog_depth",
                "relay" => self.relay.clone(), "subscriber" => self.name.clone())
            .set(depth as f64);
        }
    }
}

impl fmt::Display for Snapshot {
    /// One status line: `ticks: in 10 out 20 dropped 0 dup 0 bad 0 refused 0 conns 3 | risk out 10 dropped 0 held 0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: in {} out {} dropped {} dup {} bad {} refused {} conns {}",
            self.relay,
            self.frames_in,
            self.frames_out,
            self.dropped,
            self.duplicates,
            self.bad,
            self.refused,
            self.connections
        )?;
        for (name, out, dropped, held) in &self.subscribers {
            write!(f, " | {name} out {out} dropped {dropped} held {held}")?;
        }
        Ok(())
    }
}
