//! The embedded relay behind `sinkgen relay`: one process serving every relay of a
//! `services.toml` that has a `unix://` or `tcp://` endpoint.
//!
//! - Relays with `framing = "sinkgen"` speak sinkgen's protocol (`docs/PROTOCOL.md`
//!   in the repository): producers and subscribers say who they are, and the ones
//!   the file does not declare are refused with a reason naming the file's rule.
//!   Each frame goes to every declared subscriber through its own bounded
//!   backlog (oldest dropped past the bound, counted, and reported to the
//!   subscriber by a GAP), and is acknowledged to its producer once every
//!   subscriber acknowledged it, holds it while away, or dropped it.
//! - Torq and length-prefixed relays split the stream by each header's size, check
//!   magic, version, domain and CRC (torq), and send each frame to every other
//!   connection: every connection both sends and receives, as Torq's relays do.
//! - Unix sockets are created owner-only (`0600`); a stale socket file (nobody
//!   accepts on it) is replaced, a live one is an error naming the endpoint and the
//!   file's line.
//! - `tracing` events on connects, refusals and drops; `metrics` counters
//!   `sinkgen_relay_frames_{in,out,dropped,duplicate}`, `sinkgen_relay_bad_frames`,
//!   `sinkgen_relay_refused` (label `relay`),
//!   `sinkgen_relay_subscriber_frames_{out,dropped}` and the gauge
//!   `sinkgen_relay_backlog_depth` (labels `relay`, `subscriber`).
//!
//! # Examples
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let loaded = sinkgen::load("services.toml".as_ref()).map_err(|d| d.render())?;
//! let relay = sinkgen_relay::Relay::bind(sinkgen_relay::Config::from_topology(&loaded.topology))?;
//! let report = relay
//!     .serve(async { tokio::signal::ctrl_c().await.ok(); }, Duration::from_secs(5))
//!     .await;
//! print!("{report}");
//! # Ok(()) }
//! ```

mod config;
mod foreign;
mod hub;
mod listen;
mod serve;
mod sinkgen;
mod stats;

pub use config::{Config, GRACE, Listen, Protocol, RelaySpec, protocol_of};
pub use listen::BindError;
pub use serve::{Relay, Report, Undelivered};
pub use stats::{RelayStats, Snapshot, SubscriberStats};

/// Where the relay is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Accepting and forwarding.
    Running,
    /// No new frames; what is queued for subscribers is still written.
    Draining,
    /// Every connection closes.
    Stop,
}

/// Returns once the relay reached `at` (or its sender is gone).
pub(crate) async fn reached(phase: &mut tokio::sync::watch::Receiver<Phase>, at: Phase) {
    let _ = phase.wait_for(|p| *p >= at).await;
}

/// Nanoseconds since the Unix epoch.
pub(crate) fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
