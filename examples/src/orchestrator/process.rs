//! The child processes: starting each role with its endpoints, reading their
//! report lines, sending them commands and signals, and waiting for them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::{MARKET_DATA_SUBJECT, Orchestrator, SIGNALS_SUBJECT};

/// One running child and the counters it reported last.
pub(super) struct Process {
    pub(super) child: Child,
    pub(super) stats: BTreeMap<String, u64>,
    pub(super) done: bool,
}

/// One line of a child's standard output (`None`: it closed its output).
pub(super) struct Line {
    pub(super) role: &'static str,
    pub(super) text: Option<String>,
}

/// The services.toml in the repository; the relay serves a copy of it with the
/// endpoints moved into the run's directory.
const SERVICES_TOML: &str = include_str!("../../services.toml");
const FILE_ENDPOINTS: &str = "unix:///tmp/sinkgen-example/";

impl Orchestrator {
    /// The NATS endpoint of a relay's subject (`--nats` only).
    fn nats(&self, subject: &str) -> Option<String> {
        self.nats_port
            .map(|port| format!("nats://127.0.0.1:{port}/{subject}"))
    }

    /// Where a relay is, for its producers and subscribers: a Unix socket, or a
    /// subject on the NATS server.
    fn relay_endpoint(&self, name: &str, subject: &str) -> String {
        self.nats(subject).unwrap_or_else(|| self.unix(name))
    }

    fn unix(&self, name: &str) -> String {
        format!("unix://{}", self.dir.join(format!("{name}.sock")).display())
    }

    /// Writes the run's services.toml for the relay: the repository's, with every
    /// endpoint in the run's directory.
    fn relay_file(&self) -> std::io::Result<PathBuf> {
        let path = self.dir.join("services.toml");
        let dir = format!("unix://{}/", self.dir.display());
        std::fs::write(&path, SERVICES_TOML.replace(FILE_ENDPOINTS, &dir))?;
        Ok(path)
    }

    /// Starts `role`: this executable again, with the role as subcommand (or
    /// `nats-server` for the relay with `--nats`).
    pub(super) fn spawn(&mut self, role: &'static str) -> bool {
        if role == "relay" && self.nats_port.is_some() {
            return self.spawn_nats_server();
        }
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
        match role {
            "relay" => match self.relay_file() {
                Ok(file) => {
                    cmd.arg(file);
                }
                Err(e) => {
                    self.say(
                        "orchestrator",
                        &format!("cannot write the relay's file: {e}"),
                    );
                    return false;
                }
            },
            // Without a relay to hold them, quotes published before every
            // subscriber is in would reach nobody: see the module docs.
            "market_feed" if self.nats_port.is_some() => {
                cmd.arg("--paused");
            }
            _ => {}
        }
        // Point the compiled-in endpoints of every sink and receiver at this run's
        // directory (or, with --nats, the relays at subjects on the NATS server),
        // through the run-time override variables the generated code documents.
        let market_data = self.relay_endpoint("market_data", MARKET_DATA_SUBJECT);
        let signals = self.relay_endpoint("signals", SIGNALS_SUBJECT);
        cmd.env("SINKGEN_MARKET_DATA_ENDPOINT", &market_data)
            .env("SINKGEN_MARKET_DATA_SUBSCRIBE", &market_data)
            .env("SINKGEN_SIGNALS_ENDPOINT", &signals)
            .env("SINKGEN_SIGNALS_SUBSCRIBE", &signals)
            .env("SINKGEN_ORDERS_ENDPOINT", self.unix("executor"))
            .env("SINKGEN_EXECUTOR_LISTEN", self.unix("executor"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        match cmd.spawn() {
            Ok(child) => {
                self.watch(role, child);
                true
            }
            Err(e) => {
                self.say("orchestrator", &format!("cannot start {role}: {e}"));
                false
            }
        }
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

    /// Asks `role` to finish: `stop` on standard input; the relay gets SIGTERM (it
    /// drains, as `sinkgen relay` does) and `nats-server` SIGINT.
    pub(super) async fn stop(&mut self, role: &str) {
        if role == "relay" {
            let signal = if self.nats_port.is_some() {
                "-INT"
            } else {
                "-TERM"
            };
            if let Some(pid) = self.processes.get(role).and_then(|p| p.child.id()) {
                let _ = Command::new("kill")
                    .args([signal, &pid.to_string()])
                    .stdin(Stdio::null())
                    .status()
                    .await;
            }
            return;
        }
        self.send(role, "stop").await;
    }

    pub(super) async fn send(&mut self, role: &str, command: &str) {
        if let Some(p) = self.processes.get_mut(role)
            && let Some(stdin) = p.child.stdin.as_mut()
        {
            let _ = stdin.write_all(format!("{command}\n").as_bytes()).await;
            let _ = stdin.flush().await;
        }
    }

    /// A counter of `role`; the relay's add up over its restarts (gauges do not).
    pub(super) fn stat(&self, role: &str, key: &str) -> u64 {
        let now = self
            .processes
            .get(role)
            .and_then(|p| p.stats.get(key))
            .copied()
            .unwrap_or(0);
        let before = if role == "relay" && !key.ends_with("_held") {
            self.relay_before.get(key).copied().unwrap_or(0)
        } else {
            0
        };
        now + before
    }

    /// Forgets the relay process that has finished, keeping its counters.
    pub(super) async fn retire_relay(&mut self) {
        let Some(old) = self.processes.remove("relay") else {
            return;
        };
        for (k, v) in old.stats {
            *self.relay_before.entry(k).or_default() += v;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), old.child.wait_with_output()).await;
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
    pub(super) async fn pump_until(&mut self, deadline: Instant, tick: &mut tokio::time::Interval) {
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
    pub(super) async fn pump_while(
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

    /// Waits for every child to exit; returns whether all exited with success.
    pub(super) async fn reap(&mut self, roles: &[&'static str]) -> bool {
        let mut ok = true;
        for role in roles {
            let Some(p) = self.processes.get_mut(role) else {
                continue;
            };
            match tokio::time::timeout(Duration::from_secs(2), p.child.wait()).await {
                Ok(Ok(status)) if status.success() => {}
                Ok(Ok(status)) => {
                    ok = false;
                    println!("{role} exited with {status}");
                }
                _ => {
                    ok = false;
                    let _ = p.child.kill().await;
                    println!("{role} did not exit; killed");
                }
            }
        }
        ok
    }
}
