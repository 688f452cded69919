//! Starts the system as separate processes, in the wrong order on purpose
//! (the producers before their relay and before the executor), prints what
//! happens as it happens and the counters every second, then stops everything
//! in order and checks that every frame sent was received or reported lost.
//!
//! The relay is `sinkgen relay` (the `sinkgen-relay` library in this binary,
//! [`crate::relay`]) serving a copy of services.toml whose endpoints are in a
//! fresh temporary directory; it starts late and is stopped (SIGTERM: it drains)
//! and started again halfway.
//!
//! With `--nats` the relay process is replaced by a `nats-server` on 127.0.0.1
//! (a free port), started just as late and restarted just the same; the relay
//! endpoints are overridden with `nats://127.0.0.1:<port>/<subject>` and the
//! generated subscriptions read the subjects. The direct sink and the inbox stay
//! on a Unix socket. NATS core keeps no message for a subscriber that is not there
//! yet (the relay process holds them), so in this mode the feed starts paused and
//! publishes only once every subscriber has confirmed its subscription, before
//! the first start and after the restart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use process::{Line, Process};

mod process;
mod summary;

/// The processes of the system, in the order they are started.
const ROLES: [&str; 4] = ["market_feed", "strategy", "relay", "executor"];

/// The NATS subjects of the two relays in `--nats` mode.
const MARKET_DATA_SUBJECT: &str = "sinkgen.example.market_data";
const SIGNALS_SUBJECT: &str = "sinkgen.example.signals";

/// Whether `nats-server` can be started.
fn nats_server_available() -> bool {
    std::process::Command::new("nats-server")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A loopback port nothing listens on right now.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The whole run. `seconds`: how long the market feed produces; `nats`: the
/// relays on a `nats-server` instead of the relay process (exit status 2 when
/// `nats-server` is not installed).
pub async fn run(seconds: u64, nats: bool) -> ExitCode {
    let started = Instant::now();
    let nats_port = if nats {
        if !nats_server_available() {
            eprintln!(
                "error: --nats needs the `nats-server` program on PATH, and it is not there.\n\
                 Install it from your distribution's packages (`apt-get install -y nats-server` on\n\
                 Debian and Ubuntu) or from https://github.com/nats-io/nats-server/releases, or run\n\
                 the example without --nats (relays in a process of its own)."
            );
            return ExitCode::from(2);
        }
        match free_port() {
            Ok(port) => Some(port),
            Err(e) => {
                eprintln!("error: no free loopback port for nats-server: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let dir = std::env::temp_dir().join(format!("sinkgen-example-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    let code = Orchestrator::new(dir.clone(), started, nats_port)
        .run(seconds)
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    code
}

struct Orchestrator {
    dir: PathBuf,
    started: Instant,
    processes: BTreeMap<&'static str, Process>,
    tx: mpsc::UnboundedSender<Line>,
    rx: mpsc::UnboundedReceiver<Line>,
    /// Counters of relay processes that have finished (the relay is restarted once).
    relay_before: BTreeMap<String, u64>,
    /// `--nats`: the port of the `nats-server` that stands in for the relay.
    nats_port: Option<u16>,
}

impl Orchestrator {
    fn new(dir: PathBuf, started: Instant, nats_port: Option<u16>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Orchestrator {
            dir,
            started,
            processes: BTreeMap::new(),
            tx,
            rx,
            relay_before: BTreeMap::new(),
            nats_port,
        }
    }

    fn say(&self, who: &str, text: &str) {
        println!(
            "[{:6.2}s] {who:<12} {text}",
            self.started.elapsed().as_secs_f64()
        );
    }

    /// `--nats`: waits until the strategy and the executor have each confirmed
    /// `n` subscriptions (one per server they connected to), then lets the feed publish.
    async fn resume_when_subscribed(&mut self, n: u64, tick: &mut tokio::time::Interval) -> bool {
        self.say(
            "orchestrator",
            "NATS keeps nothing for absent subscribers: the feed waits until the strategy and the executor are subscribed",
        );
        let subscribed = self
            .pump_while(Duration::from_secs(10), tick, |o| {
                o.stat("strategy", "subscribed") >= n && o.stat("executor", "subscribed") >= n
            })
            .await;
        if !subscribed {
            self.say(
                "orchestrator",
                "the subscribers did not subscribe within 10 s",
            );
            return false;
        }
        self.say("orchestrator", "every subscriber is in: resuming the feed");
        self.send("market_feed", "resume").await;
        true
    }

    /// Whether everything the feed sent so far has arrived everywhere.
    fn settled(&self) -> bool {
        self.stat("strategy", "quotes") >= self.stat("market_feed", "sent")
            && self.stat("executor", "signals") >= self.stat("strategy", "signals_sent")
            && self.stat("executor", "orders") >= self.stat("strategy", "orders_sent")
    }

    /// Pauses the feed, lets everything arrive, stops the relay, resumes the feed
    /// (its frames queue in the sink), and starts a new relay a second later: the
    /// sinks and subscriptions notice and reconnect, and nothing is lost.
    async fn restart_relay(&mut self, tick: &mut tokio::time::Interval) -> bool {
        self.say(
            "orchestrator",
            "restarting the relay: pausing the feed until everything sent has arrived",
        );
        self.send("market_feed", "pause").await;
        self.pump_until(Instant::now() + Duration::from_millis(300), tick)
            .await;
        if !self
            .pump_while(Duration::from_secs(10), tick, Self::settled)
            .await
        {
            self.say(
                "orchestrator",
                "the system did not settle; not restarting the relay",
            );
            self.send("market_feed", "resume").await;
            return true;
        }
        self.say("orchestrator", "stopping the relay");
        self.stop("relay").await;
        if !self
            .pump_while(Duration::from_secs(5), tick, |o| o.processes["relay"].done)
            .await
        {
            return false;
        }
        self.retire_relay().await;
        if self.nats_port.is_some() {
            // Subscribers must be back before anything is published again.
            self.pump_until(Instant::now() + Duration::from_millis(1500), tick)
                .await;
            self.say("orchestrator", "starting nats-server again");
            return self.spawn("relay") && self.resume_when_subscribed(2, tick).await;
        }
        self.say("orchestrator", "resuming the feed while the relay is down: its quotes wait in the sink's bounded queue");
        self.send("market_feed", "resume").await;
        self.pump_until(Instant::now() + Duration::from_millis(1500), tick)
            .await;
        self.say("orchestrator", "starting the relay again");
        self.spawn("relay")
    }

    async fn run(mut self, seconds: u64) -> ExitCode {
        let t0 = Instant::now();
        let mut tick =
            tokio::time::interval_at((t0 + Duration::from_secs(1)).into(), Duration::from_secs(1));
        if !self.start(t0, seconds, &mut tick).await {
            return ExitCode::FAILURE;
        }
        let exits_ok = self.finish(&mut tick).await;
        self.summary(exits_ok)
    }

    /// Starts everything late and in the wrong order, runs the first half, restarts
    /// the relay and runs the second half.
    async fn start(&mut self, t0: Instant, seconds: u64, tick: &mut tokio::time::Interval) -> bool {
        self.say(
            "orchestrator",
            &format!("sockets in {}", self.dir.display()),
        );
        if let Some(port) = self.nats_port {
            self.say(
                "orchestrator",
                &format!(
                    "--nats: the relays are subjects {MARKET_DATA_SUBJECT} and {SIGNALS_SUBJECT} on a nats-server on 127.0.0.1:{port}, started late as well"
                ),
            );
        }
        self.say(
            "orchestrator",
            "starting market_feed and strategy first: no relay and no executor exist yet",
        );
        if !(self.spawn("market_feed") && self.spawn("strategy")) {
            return false;
        }
        self.pump_until(t0 + Duration::from_secs(2), tick).await;
        self.say(
            "orchestrator",
            if self.nats_port.is_some() {
                "starting nats-server (the relay)"
            } else {
                "starting the relay: sinkgen relay on a copy of services.toml"
            },
        );
        if !self.spawn("relay") {
            return false;
        }
        self.pump_until(t0 + Duration::from_secs(3), tick).await;
        self.say("orchestrator", "starting the executor");
        if !self.spawn("executor") {
            return false;
        }
        if self.nats_port.is_some() && !self.resume_when_subscribed(1, tick).await {
            return false;
        }
        let half = Duration::from_millis(seconds * 500);
        self.pump_until(t0 + Duration::from_secs(3) + half, tick)
            .await;
        if !self.restart_relay(tick).await {
            return false;
        }
        self.pump_until(
            (t0 + Duration::from_secs(3 + seconds)).max(Instant::now() + Duration::from_secs(1)),
            tick,
        )
        .await;
        true
    }

    /// Stops the processes in order, each once what it sent has arrived (or the
    /// bound passed); returns whether every process finished cleanly.
    async fn finish(&mut self, tick: &mut tokio::time::Interval) -> bool {
        self.say(
            "orchestrator",
            "stopping the market feed (it flushes and reports what it could not deliver)",
        );
        self.stop("market_feed").await;
        let feed_done = self
            .pump_while(Duration::from_secs(5), tick, |o| {
                o.processes["market_feed"].done
            })
            .await;
        // Generous bounds: these end as soon as everything has arrived.
        self.pump_while(Duration::from_secs(10), tick, |o| {
            o.stat("strategy", "quotes") + o.stat("strategy", "quote_gaps")
                >= o.stat("market_feed", "sent")
                    .saturating_sub(o.stat("market_feed", "lost"))
        })
        .await;
        self.say("orchestrator", "stopping the strategy");
        self.stop("strategy").await;
        let strategy_done = self
            .pump_while(Duration::from_secs(5), tick, |o| {
                o.processes["strategy"].done
            })
            .await;
        self.pump_while(Duration::from_secs(10), tick, |o| {
            o.stat("executor", "orders")
                + o.stat("executor", "order_gaps")
                + o.stat("strategy", "orders_lost")
                >= o.stat("strategy", "orders_sent")
                && o.stat("executor", "signals")
                    + o.stat("executor", "signal_gaps")
                    + o.stat("strategy", "signals_lost")
                    >= o.stat("strategy", "signals_sent")
        })
        .await;
        self.say(
            "orchestrator",
            "stopping the executor and the relay (SIGTERM: it drains and prints its counters)",
        );
        self.stop("executor").await;
        self.stop("relay").await;
        let all_done = self
            .pump_while(Duration::from_secs(8), tick, |o| {
                ROLES.iter().all(|r| o.processes[r].done)
            })
            .await;
        let exits_ok = self.reap(&ROLES).await;
        feed_done && strategy_done && all_done && exits_ok
    }
}
