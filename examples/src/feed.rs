//! The market feed: publishes quotes to the `market_data` relay through the
//! sink that `build.rs` generated with `sinkgen::Builder`.

use std::time::Duration;

use crate::protocol::Quote;
use crate::report;
use crate::watch::Watch;

/// The sinks of service `market_feed`, generated into `$OUT_DIR/sinks.rs`.
mod generated {
    sinkgen_runtime::include_sinks!();
}

use generated::Sinks;

/// Publishes `rate` quotes per second until the orchestrator says stop, then
/// closes the sink and reports what it could not deliver. `paused`: wait for a
/// `resume` before the first quote.
pub async fn run(rate: u64, paused: bool) -> std::io::Result<()> {
    let sink = Sinks::market_data();
    let mut watch = Watch::new("market_data");
    let (mut sent, mut failed) = (0u64, 0u64);
    let mut prices = Prices::new(8);
    let per_tick = (rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    // After a pause, carry on at the same rate instead of catching up.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut report_tick = tokio::time::interval(Duration::from_millis(250));
    let mut status_tick = tokio::time::interval(Duration::from_millis(5));
    let mut commands = report::commands();
    let mut paused = paused;
    if paused {
        report::event("paused until the orchestrator says resume");
    }
    loop {
        tokio::select! {
            command = commands.recv() => match command.as_deref() {
                Some("pause") => {
                    paused = true;
                    report::event(format!("paused after {sent} quotes"));
                    report::stats(&[("sent", sent), ("failed", failed)]);
                }
                Some("resume") => {
                    paused = false;
                    report::event("publishing again");
                }
                Some("stop") | None => break,
                Some(_) => {}
            },
            _ = tick.tick(), if !paused => {
                for _ in 0..per_tick {
                    match sink.send(prices.next()).await {
                        Ok(()) => sent += 1,
                        Err(e) => {
                            failed += 1;
                            if failed == 1 {
                                report::event(format!("a quote was not sent and came back: {e}"));
                            }
                        }
                    }
                }
            }
            _ = status_tick.tick() => watch.observe(&sink.status()),
            _ = report_tick.tick() => {
                let s = watch.snapshot(&sink.status());
                report::stats(&[("sent", sent), ("failed", failed), ("lost", s.lost), ("unconfirmed", s.unconfirmed), ("attempts", s.attempts), ("reconnects", s.reconnects)]);
            }
        }
    }
    let undelivered = sink.close().await;
    let s = watch.snapshot(&sink.status());
    report::event(format!(
        "closed sink market_data: {undelivered} frame(s) not delivered"
    ));
    report::final_stats(&[
        ("sent", sent),
        ("failed", failed),
        ("lost", s.lost.max(undelivered)),
        ("unconfirmed", s.unconfirmed),
        ("attempts", s.attempts),
        ("reconnects", s.reconnects),
    ]);
    Ok(())
}

/// A random walk of top-of-book quotes over a few instruments.
struct Prices {
    mid: Vec<i64>,
    state: u64,
    next_instrument: usize,
}

impl Prices {
    fn new(instruments: usize) -> Self {
        Prices {
            mid: vec![100_0000; instruments],
            state: 0x9E37_79B9_7F4A_7C15,
            next_instrument: 0,
        }
    }

    fn next(&mut self) -> Quote {
        // xorshift64: deterministic, good enough for a demo.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let i = self.next_instrument;
        self.next_instrument = (i + 1) % self.mid.len();
        let step = (self.state % 21) as i64 - 10;
        self.mid[i] = (self.mid[i] + step).max(1_0000);
        let half_spread = 1 + (self.state >> 8) as i64 % 5;
        Quote {
            instrument: i as u32,
            bid: self.mid[i] - half_spread,
            ask: self.mid[i] + half_spread,
            bid_size: 100 + (self.state >> 16) as u32 % 900,
            ask_size: 100 + (self.state >> 32) as u32 % 900,
        }
    }
}
