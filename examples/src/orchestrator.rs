//! Starts the system as separate processes, in the wrong order on purpose
//! (the producers before their relay and before the executor), prints what
//! happens as it happens and the counters every second, then stops everything
//! in order and checks that every frame sent was received or reported lost.
//!
//! With `--nats` the relay process is replaced by a `nats-server` on 127.0.0.1
//! (a free port), started just as late and restarted just the same; the relay
//! endpoints are overridden with `nats://127.0.0.1:<port>/<subject>` and the
//! subscribers read the subjects through async-nats. The direct sink stays on a
//! Unix socket. NATS core keeps no message for a subscriber that is not there
//! yet (the relay process holds them), so in this mode the feed starts paused and
//! publishes only once every subscriber has confirmed its subscription, before
//! the first start and after the restart.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::{MARKET_DATA_DOMAIN, SIGNALS_DOMAIN};

/// The relay's counter of frames of `domain` it had to drop.
fn dropped(domain: u8) -> String {
    format!("dropped_d{domain}")
}

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

struct Process {
    child: Child,
    stats: BTreeMap<String, u64>,
    done: bool,
}

struct Line {
    role: &'static str,
    text: Option<String>,
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

    /// The NATS endpoint of a relay's subject (`--nats` only).
    fn nats(&self, subject: &str) -> Option<String> {
        self.nats_port
            .map(|port| format!("nats://127.0.0.1:{port}/{subject}"))
    }

    /// Where a relay is, for its producers and subscribers: a Unix socket, or a
    /// subject on the NATS server.
    fn relay_endpoint(&self, name: &str, subject: &str) -> String {
        self.nats(subject)
            .unwrap_or_else(|| format!("unix://{}", self.socket(name).display()))
    }

    fn socket(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.sock"))
    }

    fn say(&self, who: &str, text: &str) {
        println!(
            "[{:6.2}s] {who:<12} {text}",
            self.started.elapsed().as_secs_f64()
        );
    }

    fn spawn(&mut self, role: &'static str) -> bool {
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => {
                self.say(
                    "orchestrator",
                    &format!("cannot find my own executable: {e}"),
                );
                return false;
            }
        };
        let mut cmd = Command::new(exe);
        cmd.arg(role.replace('_', "-"));
        let unix = |p: &Path| format!("unix://{}", p.display());
        let nats = self.nats_port.is_some();
        match role {
            "relay" if nats => return self.spawn_nats_server(),
            "relay" => {
                cmd.arg("--socket")
                    .arg(self.socket("market_data"))
                    .arg("--socket")
                    .arg(self.socket("signals"));
            }
            "executor" => {
                cmd.arg("--listen").arg(self.socket("executor"));
                match self.nats(SIGNALS_SUBJECT) {
                    Some(endpoint) => cmd.arg("--signals-nats").arg(endpoint),
                    None => cmd.arg("--signals-relay").arg(self.socket("signals")),
                };
            }
            "strategy" => {
                match self.nats(MARKET_DATA_SUBJECT) {
                    Some(endpoint) => cmd.arg("--market-data-nats").arg(endpoint),
                    None => cmd
                        .arg("--market-data-relay")
                        .arg(self.socket("market_data")),
                };
            }
            // Without a relay to hold them, quotes published before every
            // subscriber is in would reach nobody: see the module docs.
            "market_feed" if nats => {
                cmd.arg("--paused");
            }
            _ => {}
        }
        // Point the compiled-in endpoints of every sink at this run's directory,
        // through the run-time override variables the generated code documents.
        // With --nats the relays' endpoints are subjects on the NATS server.
        cmd.env(
            "SINKGEN_MARKET_DATA_ENDPOINT",
            self.relay_endpoint("market_data", MARKET_DATA_SUBJECT),
        )
        .env(
            "SINKGEN_SIGNALS_ENDPOINT",
            self.relay_endpoint("signals", SIGNALS_SUBJECT),
        )
        .env("SINKGEN_ORDERS_ENDPOINT", unix(&self.socket("executor")))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                self.say("orchestrator", &format!("cannot start {role}: {e}"));
                return false;
            }
        };
        self.watch(role, child);
        true
    }

    /// `--nats`: starts `nats-server` on 127.0.0.1 as the `relay` role. It gets no
    /// commands; [`Self::stop`] sends it SIGINT, and it closes its clients' connections
    /// and exits.
    fn spawn_nats_server(&mut self) -> bool {
        let port = self.nats_port.expect("--nats").to_string();
        let mut cmd = Command::new("nats-server");
        cmd.args(["-a", "127.0.0.1", "-p", &port])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        match cmd.spawn() {
            Ok(child) => {
                self.say("relay", &format!("nats-server started on 127.0.0.1:{port}"));
                self.watch("relay", child);
                true
            }
            Err(e) => {
                self.say("orchestrator", &format!("cannot start nats-server: {e}"));
                false
            }
        }
    }

    /// Reads the child's standard output (the reports) and registers it under `role`.
    fn watch(&mut self, role: &'static str, mut child: Child) {
        let stdout = child.stdout.take().expect("piped");
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(text)) = lines.next_line().await {
                let _ = tx.send(Line {
                    role,
                    text: Some(text),
                });
            }
            let _ = tx.send(Line { role, text: None });
        });
        self.processes.insert(
            role,
            Process {
                child,
                stats: BTreeMap::new(),
                done: false,
            },
        );
    }

    async fn stop(&mut self, role: &str) {
        if role == "relay" && self.nats_port.is_some() {
            // nats-server stops on SIGINT (Ctrl-C; exit status 0), closing every
            // client connection.
            if let Some(pid) = self.processes.get(role).and_then(|p| p.child.id()) {
                let _ = Command::new("kill")
                    .args(["-INT", &pid.to_string()])
                    .stdin(Stdio::null())
                    .status()
                    .await;
            }
            return;
        }
        self.send(role, "stop").await;
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

    fn stat(&self, role: &str, key: &str) -> u64 {
        let now = self
            .processes
            .get(role)
            .and_then(|p| p.stats.get(key))
            .copied()
            .unwrap_or(0);
        // Counters of the relay processes that have finished add up; gauges do not.
        let before = match (role, key) {
            ("relay", "held" | "producers" | "subscribers") => 0,
            ("relay", _) => self.relay_before.get(key).copied().unwrap_or(0),
            _ => 0,
        };
        now + before
    }

    async fn send(&mut self, role: &str, command: &str) {
        if let Some(p) = self.processes.get_mut(role)
            && let Some(stdin) = p.child.stdin.as_mut()
        {
            let _ = stdin.write_all(format!("{command}\n").as_bytes()).await;
            let _ = stdin.flush().await;
        }
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
        let old = self.processes.remove("relay").expect("started");
        for (k, v) in old.stats {
            *self.relay_before.entry(k).or_default() += v;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), old.child.wait_with_output()).await;
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

    fn handle(&mut self, line: Line) {
        let Some(p) = self.processes.get_mut(line.role) else {
            return;
        };
        let Some(text) = line.text else {
            p.done = true;
            return;
        };
        if let Some(event) = text.strip_prefix("event ") {
            self.say(line.role, event);
        } else if let Some(rest) = text
            .strip_prefix("stats ")
            .or_else(|| text.strip_prefix("final "))
        {
            for pair in rest.split_whitespace() {
                if let Some((k, v)) = pair.split_once('=')
                    && let Ok(v) = v.parse()
                {
                    p.stats.insert(k.to_owned(), v);
                }
            }
        } else if let Some(rest) = text.strip_prefix("status ") {
            // `status <sink> <state>`: the children report transitions only.
            let (sink, state) = rest.split_once(' ').unwrap_or((rest, ""));
            self.say(line.role, &format!("sink {sink}: {state}"));
        } else {
            self.say(line.role, &text);
        }
    }

    /// Handles child output until `deadline`.
    async fn pump_until(&mut self, deadline: Instant, tick: &mut tokio::time::Interval) {
        loop {
            tokio::select! {
                line = self.rx.recv() => match line {
                    Some(line) => self.handle(line),
                    None => return,
                },
                _ = tick.tick() => self.print_counts(),
                _ = tokio::time::sleep_until(deadline.into()) => return,
            }
        }
    }

    /// Handles child output until `done` holds or `limit` has passed; returns whether `done` held.
    async fn pump_while(
        &mut self,
        limit: Duration,
        tick: &mut tokio::time::Interval,
        done: impl Fn(&Self) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        while !done(self) {
            if Instant::now() >= deadline {
                return false;
            }
            self.pump_until(
                (Instant::now() + Duration::from_millis(50)).min(deadline),
                tick,
            )
            .await;
        }
        true
    }

    fn print_counts(&self) {
        let s = |r, k| self.stat(r, k);
        let relay = if self.nats_port.is_some() {
            let up = self.processes.get("relay").is_some_and(|p| !p.done);
            format!("nats-server {}", if up { "up" } else { "down" })
        } else {
            format!(
                "relay in {} out {} held {}",
                s("relay", "received"),
                s("relay", "forwarded"),
                s("relay", "held")
            )
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

    fn reconnects(&self) -> u64 {
        self.stat("market_feed", "reconnects")
            + self.stat("strategy", "reconnects")
            + self.stat("strategy", "sub_reconnects")
            + self.stat("executor", "sub_reconnects")
    }

    async fn run(mut self, seconds: u64) -> ExitCode {
        let t0 = Instant::now();
        let mut tick =
            tokio::time::interval_at((t0 + Duration::from_secs(1)).into(), Duration::from_secs(1));
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
        for role in ["market_feed", "strategy"] {
            if !self.spawn(role) {
                return ExitCode::FAILURE;
            }
        }
        self.pump_until(t0 + Duration::from_secs(2), &mut tick)
            .await;
        self.say(
            "orchestrator",
            if self.nats_port.is_some() {
                "starting nats-server (the relay)"
            } else {
                "starting the relay"
            },
        );
        if !self.spawn("relay") {
            return ExitCode::FAILURE;
        }
        self.pump_until(t0 + Duration::from_secs(3), &mut tick)
            .await;
        self.say("orchestrator", "starting the executor");
        if !self.spawn("executor") {
            return ExitCode::FAILURE;
        }
        if self.nats_port.is_some() && !self.resume_when_subscribed(1, &mut tick).await {
            return ExitCode::FAILURE;
        }
        let half = Duration::from_millis(seconds * 500);
        self.pump_until(t0 + Duration::from_secs(3) + half, &mut tick)
            .await;
        if !self.restart_relay(&mut tick).await {
            return ExitCode::FAILURE;
        }
        self.pump_until(
            (t0 + Duration::from_secs(3 + seconds)).max(Instant::now() + Duration::from_secs(1)),
            &mut tick,
        )
        .await;

        self.say(
            "orchestrator",
            "stopping the market feed (it flushes and reports what it could not deliver)",
        );
        self.stop("market_feed").await;
        let feed_done = self
            .pump_while(Duration::from_secs(5), &mut tick, |o| {
                o.processes["market_feed"].done
            })
            .await;
        let expected_quotes = |o: &Self| {
            o.stat("market_feed", "sent").saturating_sub(
                o.stat("market_feed", "lost") + o.stat("relay", &dropped(MARKET_DATA_DOMAIN)),
            )
        };
        // Generous bounds: these end as soon as everything has arrived.
        self.pump_while(Duration::from_secs(10), &mut tick, |o| {
            o.stat("strategy", "quotes") >= expected_quotes(o)
        })
        .await;

        self.say("orchestrator", "stopping the strategy");
        self.stop("strategy").await;
        let strategy_done = self
            .pump_while(Duration::from_secs(5), &mut tick, |o| {
                o.processes["strategy"].done
            })
            .await;
        self.pump_while(Duration::from_secs(10), &mut tick, |o| {
            o.stat("executor", "orders") + o.stat("strategy", "orders_lost")
                >= o.stat("strategy", "orders_sent")
                && o.stat("executor", "signals")
                    + o.stat("strategy", "signals_lost")
                    + o.stat("relay", &dropped(SIGNALS_DOMAIN))
                    >= o.stat("strategy", "signals_sent")
        })
        .await;

        self.say("orchestrator", "stopping the executor and the relay");
        self.stop("executor").await;
        self.stop("relay").await;
        let all_done = self
            .pump_while(Duration::from_secs(5), &mut tick, |o| {
                ROLES.iter().all(|r| o.processes[r].done)
            })
            .await;
        let mut exits_ok = feed_done && strategy_done && all_done;
        for role in ROLES {
            let p = self.processes.get_mut(role).expect("started");
            match tokio::time::timeout(Duration::from_secs(2), p.child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => {
                    exits_ok = false;
                    println!("{role} exited with {status}");
                }
                _ => {
                    exits_ok = false;
                    let _ = p.child.kill().await;
                    println!("{role} did not exit; killed");
                }
            }
        }
        self.summary(exits_ok)
    }

    fn summary(&self, exits_ok: bool) -> ExitCode {
        let s = |r, k| self.stat(r, k);
        let relay_dropped = s("relay", "dropped");
        let nats = self.nats_port.is_some();
        let rows = [
            (
                "market_data",
                if nats {
                    "market_feed -> NATS -> strategy"
                } else {
                    "market_feed -> relay -> strategy"
                },
                s("market_feed", "sent"),
                s("strategy", "quotes"),
                s("market_feed", "lost"),
                s("market_feed", "unconfirmed"),
            ),
            (
                "signals",
                if nats {
                    "strategy -> NATS -> executor"
                } else {
                    "strategy -> relay -> executor"
                },
                s("strategy", "signals_sent"),
                s("executor", "signals"),
                s("strategy", "signals_lost"),
                s("strategy", "signals_unconfirmed"),
            ),
            (
                "orders",
                "strategy -> executor (direct)",
                s("strategy", "orders_sent"),
                s("executor", "orders"),
                s("strategy", "orders_lost"),
                s("strategy", "orders_unconfirmed"),
            ),
        ];
        println!();
        println!(
            "summary after {:.1} s",
            self.started.elapsed().as_secs_f64()
        );
        println!(
            "  {:<12} {:<34} {:>9} {:>9} {:>6}  ok",
            "sink", "path", "sent", "received", "lost"
        );
        let mut accounted = true;
        let mut unconfirmed_total = 0;
        for (i, (sink, path, sent, received, lost, unconfirmed)) in rows.iter().enumerate() {
            // Relay drops (a domain whose backlog overflowed) are reported by the relay.
            let relay_lost = match i {
                0 => self.stat("relay", &dropped(MARKET_DATA_DOMAIN)),
                1 => self.stat("relay", &dropped(SIGNALS_DOMAIN)),
                _ => 0,
            };
            // Unconfirmed frames (NATS: published on a connection that died before
            // the server confirmed them) are counted lost but may have arrived:
            // each is received or lost, never both, so sent lies in a range.
            let certain = received + lost.saturating_sub(*unconfirmed) + relay_lost;
            let ok = certain <= *sent && *sent <= certain + unconfirmed && (*sent > 0);
            unconfirmed_total += unconfirmed;
            accounted &= ok;
            println!(
                "  {sink:<12} {path:<34} {sent:>9} {received:>9} {lost:>6}  {}",
                if ok { "yes" } else { "NO" }
            );
        }
        if unconfirmed_total > 0 {
            println!(
                "  lost includes {unconfirmed_total} unconfirmed: published on a NATS connection that died before the server confirmed them (each may have arrived)"
            );
        }
        println!(
            "  sends refused after send_timeout (returned to the caller, not sent): market_feed {}, strategy {}",
            s("market_feed", "failed"),
            s("strategy", "failed")
        );
        println!(
            "  connect attempts: market_feed {} | strategy {} | reconnects {} | relay dropped {} bad {}",
            s("market_feed", "attempts"),
            s("strategy", "attempts"),
            self.reconnects(),
            relay_dropped,
            s("relay", "bad") + s("executor", "bad") + s("strategy", "bad"),
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
