//! The relay process: `sinkgen relay FILE`, as the `sinkgen` command runs it
//! (the `sinkgen-relay` library: it loads the file, serves every `unix://`
//! relay with the file's framing, producers and subscribers, and drains on
//! SIGTERM), plus the example's report lines: each relay's counters as
//! `stats` lines for the orchestrator, and the final counters after the drain.
//!
//! It is the example's own binary re-executed with `relay FILE`, so that
//! `cargo run -p sinkgen-example` needs nothing else built or installed.

use std::path::Path;
use std::time::Duration;

use sinkgen_relay::{Config, Relay, Snapshot};

use crate::report;

/// How long the drain may take: what is queued for subscribers still connected.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves the relays of `file` until SIGTERM (or a `stop` line), then drains and
/// reports the final counters.
pub async fn run(file: &Path) -> std::io::Result<()> {
    let loaded = sinkgen::load(file).map_err(|d| std::io::Error::other(d.render()))?;
    let relay =
        Relay::bind(Config::from_topology(&loaded.topology)).map_err(std::io::Error::other)?;
    for (name, at) in relay.endpoints() {
        report::event(format!("relay `{name}` on {at}"));
    }
    let stats = relay.stats();
    let status = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let snapshots: Vec<_> = stats.iter().map(|s| s.snapshot()).collect();
            report::stats(&counters(&snapshots));
        }
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = term.recv() => report::event("SIGTERM: draining"),
            () = report::stop_requested() => report::event("stop: draining"),
        }
    };
    let end = relay.serve(stop, DRAIN).await;
    status.abort();
    for line in end.to_string().lines() {
        report::event(line);
    }
    report::final_stats(&counters(&end.relays));
    Ok(())
}

/// `<relay>_in`, `<relay>_out`, `<relay>_dropped` and `<relay>_held` (frames held
/// for subscribers now) of each relay.
fn counters(snapshots: &[Snapshot]) -> Vec<(String, u64)> {
    snapshots
        .iter()
        .flat_map(|s| {
            let held = s.subscribers.iter().map(|sub| sub.3).sum();
            [
                (format!("{}_in", s.relay), s.frames_in),
                (format!("{}_out", s.relay), s.frames_out),
                (format!("{}_dropped", s.relay), s.dropped),
                (format!("{}_held", s.relay), held),
            ]
        })
        .collect()
}
