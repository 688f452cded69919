//! What the orchestrator prints: the counters every second, and the summary at
//! the end that decides the exit status.

use std::process::ExitCode;

use super::Orchestrator;

/// The relays of services.toml.
const RELAYS: [&str; 2] = ["market_data", "signals"];

/// One path a message takes, and the counters that account for it.
struct Path {
    sink: &'static str,
    route: String,
    sent: u64,
    received: u64,
    /// Given up by the sink (NATS unconfirmed included).
    lost: u64,
    /// Of `lost`: published on a NATS connection that died before the server
    /// confirmed them (each may have arrived).
    unconfirmed: u64,
    /// Frames the receiver was told will never come (a relay's backlog overflowed,
    /// or a hole in a producer's sequence).
    gaps: u64,
}

impl Path {
    /// Each frame sent is received, lost or in a gap, never two of them; an
    /// unconfirmed one may be either lost or received, so sent lies in a range.
    fn accounted(&self) -> bool {
        let certain = self.received + self.lost.saturating_sub(self.unconfirmed) + self.gaps;
        self.sent > 0 && certain <= self.sent && self.sent <= certain + self.unconfirmed
    }
}

impl Orchestrator {
    /// The line of counters printed every second.
    pub(super) fn print_counts(&self) {
        let s = |r, k| self.stat(r, k);
        let relay = if self.nats_port.is_some() {
            let up = self.processes.get("relay").is_some_and(|p| !p.done);
            format!("nats-server {}", if up { "up" } else { "down" })
        } else {
            RELAYS
                .iter()
                .map(|r| {
                    format!(
                        "relay {r} in {} out {} held {}",
                        self.relay_stat(r, "in"),
                        self.relay_stat(r, "out"),
                        self.relay_stat(r, "held"),
                    )
                })
                .collect::<Vec<_>>()
                .join(" | ")
        };
        self.say(
            "counts",
            &format!(
                "feed sent {} | {relay} | strategy quotes {} signals {} orders {} | executor signals {} orders {} | reconnects {}",
                s("market_feed", "sent"),
                s("strategy", "quotes"),
                s("strategy", "signals_sent"),
                s("strategy", "orders_sent"),
                s("executor", "signals"),
                s("executor", "orders"),
                self.reconnects(),
            ),
        );
    }

    /// A counter of relay `relay`, e.g. `in` for `market_data_in`.
    fn relay_stat(&self, relay: &str, what: &str) -> u64 {
        self.stat("relay", &format!("{relay}_{what}"))
    }

    fn reconnects(&self) -> u64 {
        self.stat("market_feed", "reconnects") + self.stat("strategy", "reconnects")
    }

    fn paths(&self) -> [Path; 3] {
        let s = |r, k| self.stat(r, k);
        let via = if self.nats_port.is_some() {
            "NATS"
        } else {
            "relay"
        };
        [
            Path {
                sink: "market_data",
                route: format!("market_feed -> {via} -> strategy"),
                sent: s("market_feed", "sent"),
                received: s("strategy", "quotes"),
                lost: s("market_feed", "lost"),
                unconfirmed: s("market_feed", "unconfirmed"),
                gaps: s("strategy", "quote_gaps"),
            },
            Path {
                sink: "signals",
                route: format!("strategy -> {via} -> executor"),
                sent: s("strategy", "signals_sent"),
                received: s("executor", "signals"),
                lost: s("strategy", "signals_lost"),
                unconfirmed: s("strategy", "signals_unconfirmed"),
                gaps: s("executor", "signal_gaps"),
            },
            Path {
                sink: "orders",
                route: "strategy -> executor (direct)".to_owned(),
                sent: s("strategy", "orders_sent"),
                received: s("executor", "orders"),
                lost: s("strategy", "orders_lost"),
                unconfirmed: s("strategy", "orders_unconfirmed"),
                gaps: s("executor", "order_gaps"),
            },
        ]
    }

    /// Prints the summary; success when every frame sent is accounted for and
    /// every process exited cleanly.
    pub(super) fn summary(&self, exits_ok: bool) -> ExitCode {
        let s = |r, k| self.stat(r, k);
        println!();
        println!(
            "summary after {:.1} s",
            self.started.elapsed().as_secs_f64()
        );
        println!(
            "  {:<12} {:<34} {:>9} {:>9} {:>6} {:>6}  ok",
            "sink", "path", "sent", "received", "lost", "gaps"
        );
        let mut accounted = true;
        let mut unconfirmed_total = 0;
        for p in self.paths() {
            let ok = p.accounted();
            accounted &= ok;
            unconfirmed_total += p.unconfirmed;
            println!(
                "  {:<12} {:<34} {:>9} {:>9} {:>6} {:>6}  {}",
                p.sink,
                p.route,
                p.sent,
                p.received,
                p.lost,
                p.gaps,
                if ok { "yes" } else { "NO" }
            );
        }
        if unconfirmed_total > 0 {
            println!(
                "  lost includes {unconfirmed_total} unconfirmed: published on a NATS connection that died before the server confirmed them (each may have arrived)"
            );
        }
        if self.nats_port.is_none() {
            for r in RELAYS {
                println!(
                    "  relay {r:<12} (sinkgen relay, both runs) frames in {} out {} dropped {}",
                    self.relay_stat(r, "in"),
                    self.relay_stat(r, "out"),
                    self.relay_stat(r, "dropped"),
                );
            }
        }
        println!(
            "  sends refused after send_timeout (returned to the caller, not sent): market_feed {}, strategy {}",
            s("market_feed", "failed"),
            s("strategy", "failed")
        );
        println!(
            "  connect attempts: market_feed {} | strategy {} | sink reconnects {} | subscriptions: strategy {} executor {} | undecodable {}",
            s("market_feed", "attempts"),
            s("strategy", "attempts"),
            self.reconnects(),
            s("strategy", "subscribed"),
            s("executor", "subscribed"),
            s("executor", "bad") + s("strategy", "bad"),
        );
        if accounted && exits_ok {
            println!("every frame sent was received or reported lost");
            ExitCode::SUCCESS
        } else {
            if !exits_ok {
                println!("a process did not finish cleanly");
            }
            if !accounted {
                println!("some frames are unaccounted for");
            }
            ExitCode::FAILURE
        }
    }
}
