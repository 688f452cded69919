//! `sinkgen relay [FILE]`: serves every relay of the file with a `unix://` or
//! `tcp://` endpoint until SIGTERM or Ctrl-C, then drains.

use std::process::ExitCode;
use std::time::Duration;

use sinkgen_relay::{Config, Relay};

mod log;

/// The command's options.
pub(crate) struct Options {
    pub(crate) status_interval: u64,
    pub(crate) drain_timeout: u64,
    pub(crate) backlog: Option<usize>,
    pub(crate) grace: Duration,
}

/// Runs the relay for a loaded topology; returns the exit code.
pub(crate) fn run(topology: &sinkgen::model::Topology, options: &Options) -> ExitCode {
    log::install();
    let mut config = Config::from_topology(topology);
    if let Some(backlog) = options.backlog {
        config.relays.iter_mut().for_each(|r| r.backlog = backlog);
    }
    config
        .relays
        .iter_mut()
        .for_each(|r| r.grace = options.grace);
    if config.relays.is_empty() {
        eprintln!(
            "error: `{}` has no relay the relay serves: it serves relays with a unix:// or tcp:// endpoint",
            topology.path.display()
        );
        return ExitCode::from(super::ERRORS);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(super::TROUBLE);
        }
    };
    runtime.block_on(serve(config, options))
}

async fn serve(config: Config, options: &Options) -> ExitCode {
    let file = config.file.display().to_string();
    let protocols: Vec<_> = config.relays.iter().map(|r| r.protocol).collect();
    let relay = match Relay::bind(config) {
        Ok(relay) => relay,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(super::ERRORS);
        }
    };
    let stop = match signals() {
        Ok(stop) => stop,
        Err(e) => {
            eprintln!("error: cannot watch for SIGTERM and Ctrl-C: {e}");
            return ExitCode::from(super::TROUBLE);
        }
    };
    for ((name, at), protocol) in relay.endpoints().into_iter().zip(protocols) {
        say(&format!("relay `{name}` on {at} ({protocol:?})"));
    }
    say(&format!(
        "ready: serving {} from {file}",
        relay.endpoints().len()
    ));
    let stats = relay.stats();
    let interval = options.status_interval;
    let status = tokio::spawn(async move {
        if interval == 0 {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(interval));
        tick.tick().await;
        loop {
            tick.tick().await;
            for s in &stats {
                say(&format!("status {}", s.snapshot()));
            }
        }
    });
    let drain = Duration::from_secs(options.drain_timeout);
    let report = relay.serve(stop, drain).await;
    status.abort();
    say("stopped; final counters:");
    print!("{report}");
    ExitCode::SUCCESS
}

/// Watches for SIGTERM and Ctrl-C (SIGINT) from the moment it is made, so that a
/// signal right after "ready" drains instead of killing the process.
fn signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => say("SIGTERM: draining"),
            _ = int.recv() => say("interrupted: draining"),
        }
    })
}

fn say(line: &str) {
    super::print_out(&format!("sinkgen relay: {line}\n"));
}
