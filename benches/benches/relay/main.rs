//! `sinkgen relay` throughput, one producer to one subscriber over a Unix socket,
//! 64 B payloads, acknowledgements on; with the `nats` feature, next to a
//! `nats-server` on loopback doing the same job with async-nats clients, in the
//! same run (issue 13: target at least 2x nats-server).
//!
//! `cargo bench -p sinkgen-benches --bench relay` (relay only) or
//! `cargo bench -p sinkgen-benches --features nats --bench relay` (both; needs
//! `nats-server` on PATH). `SINKGEN_BENCH_QUICK=1` uses fewer frames.
//!
//! The relay runs in this process on its own tokio runtime (2 workers). Producer and
//! subscriber are blocking threads speaking the protocol with
//! `sinkgen_runtime::protocol`: the producer writes batches of 256 frames and keeps
//! at most 4096 unacknowledged (a sink's default `queue`), its acknowledgements read
//! by a thread of their own; the subscriber acknowledges once per read. The clock
//! runs from the first write to the subscriber's last frame.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sinkgen_benches::cpu::process_cpu_time;
use sinkgen_relay::{Config, Listen, Protocol, Relay, RelaySpec};
use sinkgen_runtime::protocol::{self, Control, Hello, Kind, Role};

mod latency;

const WINDOW: u64 = 4096;
const BATCH: u64 = 256;

fn hello(
    stream: &mut UnixStream,
    session: u64,
    role: Role,
    service: &str,
    target: &str,
) -> Result<(), String> {
    let sink = if role == Role::Producer { "ticks" } else { "" };
    let mut out = Vec::new();
    let hello = Hello {
        min_version: 1,
        max_version: 1,
        role,
        service: service.into(),
        sink: sink.into(),
        target: target.into(),
    };
    Control::Hello {
        session,
        next: 1,
        hello,
    }
    .append(&mut out, 0);
    stream.write_all(&out).map_err(|e| e.to_string())?;
    let mut head = [0; protocol::HEADER_LEN + 1];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    match protocol::decode(&head, 1 << 16) {
        Ok(Some((f, _))) if f.header.kind == Kind::Welcome => Ok(()),
        other => Err(format!("no WELCOME: {other:?}")),
    }
}

/// Reads until `frames` data frames of `session` arrived, acknowledging once per read
/// (frames a previous run left unacknowledged come first: acknowledged, not counted).
fn subscribe(mut s: UnixStream, frames: u64, session: u64) -> Result<Instant, String> {
    let mut buf = vec![0; 1 << 20];
    let (mut filled, mut got) = (0, 0);
    let mut ack = Vec::new();
    while got < frames {
        let n = s.read(&mut buf[filled..]).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the relay closed the subscriber".into());
        }
        filled += n;
        let (mut at, mut last) = (0, None);
        while let Some((f, used)) =
            protocol::decode(&buf[at..filled], 1 << 20).map_err(|e| e.to_string())?
        {
            if f.header.kind == Kind::Data {
                got += u64::from(f.header.session == session);
                last = Some((f.header.session, f.header.sequence));
            }
            at += used;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
        if let Some((session, sequence)) = last {
            ack.clear();
            Control::Ack { session, sequence }.append(&mut ack, 0);
            s.write_all(&ack).map_err(|e| e.to_string())?;
        }
    }
    Ok(Instant::now())
}

/// The relay with `subs` declared subscribers (each case has its own, so no absent
/// subscriber holds frames).
fn relay_name(subs: usize) -> &'static str {
    if subs == 1 { "ticks" } else { "fanout" }
}

fn socket(dir: &Path, subs: usize) -> std::path::PathBuf {
    dir.join(format!("{}.sock", relay_name(subs)))
}

/// Reads a producer's acknowledgements on a thread of its own; the highest so far.
fn read_acks(producer: &UnixStream) -> Result<Arc<AtomicU64>, String> {
    let acked = Arc::new(AtomicU64::new(0));
    let mut acks = producer.try_clone().map_err(|e| e.to_string())?;
    let seen = acked.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0; 64 << 10];
        let mut filled = 0;
        while let Ok(n) = acks.read(&mut buf[filled..]) {
            if n == 0 {
                return;
            }
            filled += n;
            let mut at = 0;
            while let Ok(Some((f, used))) = protocol::decode(&buf[at..filled], 1 << 16) {
                if f.header.kind == Kind::Ack {
                    seen.fetch_max(f.header.sequence, Ordering::Release);
                }
                at += used;
            }
            buf.copy_within(at..filled, 0);
            filled -= at;
        }
    });
    Ok(acked)
}

/// Subscribers declared on the benchmark's fan-out relay.
const SUBSCRIBERS: [&str; 4] = ["risk", "audit", "ui", "ops"];

/// One run with `subs` subscribers: frames per second to each (until the last one
/// has them all) and CPU ns per frame.
fn relay_run(dir: &Path, payload: &[u8], frames: u64, subs: usize) -> Result<(f64, f64), String> {
    let sock = &socket(dir, subs);
    let mut readers = Vec::new();
    for name in &SUBSCRIBERS[..subs] {
        let mut sub = UnixStream::connect(sock).map_err(|e| e.to_string())?;
        hello(
            &mut sub,
            protocol::new_session(),
            Role::Subscriber,
            name,
            relay_name(subs),
        )?;
        readers.push(sub);
    }
    let session = protocol::new_session();
    let mut producer = UnixStream::connect(sock).map_err(|e| e.to_string())?;
    hello(
        &mut producer,
        session,
        Role::Producer,
        "feed",
        relay_name(subs),
    )?;
    let acked = read_acks(&producer)?;
    let readers: Vec<_> = readers
        .into_iter()
        .map(|sub| std::thread::spawn(move || subscribe(sub, frames, session)))
        .collect();
    let (start, cpu) = (Instant::now(), process_cpu_time());
    let mut out = Vec::with_capacity((BATCH as usize) * (payload.len() + protocol::HEADER_LEN));
    let mut sent = 0;
    while sent < frames {
        while sent - acked.load(Ordering::Acquire) + BATCH > WINDOW {
            std::thread::yield_now();
        }
        out.clear();
        for _ in 0..BATCH.min(frames - sent) {
            sent += 1;
            protocol::append_data(&mut out, session, sent, 0, payload);
        }
        producer.write_all(&out).map_err(|e| e.to_string())?;
    }
    let mut end = start;
    for reader in readers {
        end = end.max(reader.join().map_err(|_| "subscriber panicked")??);
    }
    let secs = end.duration_since(start).as_secs_f64();
    let cpu = process_cpu_time().saturating_sub(cpu);
    Ok((frames as f64 / secs, cpu.as_nanos() as f64 / frames as f64))
}

fn main() -> ExitCode {
    let bench = std::env::args().any(|a| a == "--bench");
    let quick = std::env::var_os("SINKGEN_BENCH_QUICK").is_some();
    let (mode, frames, reps) = match (bench, quick) {
        (false, _) => ("smoke (cargo test)", 5_000u64, 1usize),
        (true, true) => ("quick", 300_000, 3),
        (true, false) => ("full", 2_000_000, 5),
    };
    match run(mode, frames, reps) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relay bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(mode: &str, frames: u64, reps: usize) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("sinkgen-relay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let spec = |subs: usize| RelaySpec {
        name: relay_name(subs).into(),
        listen: Listen::Unix(socket(&dir, subs)),
        protocol: Protocol::Sinkgen,
        line: 1,
        producers: vec![("feed".into(), "ticks".into())],
        subscribers: SUBSCRIBERS[..subs]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        backlog: sinkgen_config::policy::BACKLOG as usize,
        socket_mode: 0o600,
        tls: None,
        grace: std::time::Duration::ZERO,
    };
    let relays = vec![spec(1), spec(SUBSCRIBERS.len())];
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let relay = rt
        .block_on(async {
            Relay::bind(Config {
                file: "services.toml".into(),
                relays,
            })
        })
        .map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = rt.spawn(relay.serve(
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(1),
    ));
    let payload = vec![7u8; 64];
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!("## sinkgen relay: one producer to one and to four subscribers, UDS, 64 B, acks on");
    println!(
        "mode: {mode}; {frames} frames per run, median of {reps}; {cores} cores; relay on tokio multi_thread, 2 workers"
    );
    println!();
    println!("| design | M frames/s | CPU ns/frame (whole process) |");
    println!("|---|---:|---:|");
    // Per case: frames per second to each subscriber.
    let mut rates = Vec::new();
    for subs in [1, SUBSCRIBERS.len()] {
        let (mut fps, mut cpu) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let (f, c) = relay_run(&dir, &payload, frames, subs)?;
            fps.push(f);
            cpu.push(c);
        }
        let f = median(&mut fps);
        rates.push(f);
        println!(
            "| sinkgen relay, 1 to {subs} (per subscriber) | {:.2} | {:.0} |",
            f / 1e6,
            median(&mut cpu)
        );
    }
    let samples = (frames / 100).clamp(1_000, 20_000);
    let (mut through, mut direct) = (latency::relay(&dir, samples)?, latency::direct(samples)?);
    let (relay_p50, relay_p99) = sinkgen_benches::stats::p50_p99_us(&mut through);
    let (direct_p50, direct_p99) = sinkgen_benches::stats::p50_p99_us(&mut direct);
    println!();
    println!(
        "latency, one frame in flight, {samples} frames: through the relay p50 {relay_p50:.1} us, p99 {relay_p99:.1} us; \
         straight through a socket pair p50 {direct_p50:.1} us, p99 {direct_p99:.1} us; added by the relay p50 {:.1} us (target <= 15)",
        relay_p50 - direct_p50
    );
    #[cfg(feature = "nats")]
    {
        let (nats_fps, nats_cpu) = nats::run(&rt, &payload, frames, reps)?;
        println!(
            "| nats-server + async-nats, 1 to 1 | {:.2} | {:.0} |",
            nats_fps / 1e6,
            nats_cpu
        );
        println!();
        println!(
            "ratio sinkgen relay / nats-server: {:.2} (target >= 2)",
            rates[0] / nats_fps
        );
    }
    let _ = stop.send(());
    let report = rt.block_on(serving).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    if report.relays.iter().any(|r| r.dropped != 0) {
        return Err(format!("the relay dropped frames: {report}"));
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The same job through a nats-server: one async-nats publisher, one subscriber.
#[cfg(feature = "nats")]
mod nats {
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use sinkgen_benches::cpu::process_cpu_time;
    use sinkgen_runtime::Bytes;

    struct Server(Child);

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    pub(super) fn run(
        rt: &tokio::runtime::Runtime,
        payload: &[u8],
        frames: u64,
        reps: usize,
    ) -> Result<(f64, f64), String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let _server = Server(
            Command::new("nats-server")
                .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("nats-server: {e}"))?,
        );
        let payload = Bytes::copy_from_slice(payload);
        rt.block_on(async move {
            let url = format!("nats://127.0.0.1:{port}");
            let mut tries = 0;
            let (publisher, subscriber) = loop {
                match (
                    async_nats::connect(&url).await,
                    async_nats::connect(&url).await,
                ) {
                    (Ok(p), Ok(s)) => break (p, s),
                    _ if tries < 100 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    (Err(e), _) | (_, Err(e)) => return Err(e.to_string()),
                }
            };
            let (mut fps, mut cpu) = (Vec::new(), Vec::new());
            for rep in 0..reps {
                let subject = format!("bench.ticks.{rep}");
                let mut sub = subscriber
                    .subscribe(subject.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                subscriber.flush().await.map_err(|e| e.to_string())?;
                // The same end-to-end window as the relay's producer (4096 frames not yet
                // received): core NATS has no acknowledgements, and a subscriber that falls
                // further behind loses messages (a slow consumer).
                let got = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
                let count = got.clone();
                let reader = tokio::spawn(async move {
                    use futures_core::Stream;
                    while count.load(Ordering::Relaxed) < frames {
                        let next =
                            std::future::poll_fn(|cx| std::pin::Pin::new(&mut sub).poll_next(cx));
                        match tokio::time::timeout(Duration::from_secs(10), next).await {
                            Ok(Some(_)) => count.fetch_add(1, Ordering::Release),
                            _ => {
                                return Err(format!(
                                    "nats: {} of {frames} frames arrived",
                                    count.load(Ordering::Relaxed)
                                ));
                            }
                        };
                    }
                    Ok(Instant::now())
                });
                let (start, used) = (Instant::now(), process_cpu_time());
                for sent in 0..frames {
                    if sent % super::BATCH == 0 {
                        while sent - got.load(Ordering::Acquire) + super::BATCH > super::WINDOW {
                            publisher.flush().await.map_err(|e| e.to_string())?;
                            tokio::task::yield_now().await;
                        }
                    }
                    publisher
                        .publish(subject.clone(), payload.clone())
                        .await
                        .map_err(|e| e.to_string())?;
                }
                publisher.flush().await.map_err(|e| e.to_string())?;
                let end = reader.await.map_err(|e| e.to_string())??;
                fps.push(frames as f64 / end.duration_since(start).as_secs_f64());
                cpu.push(process_cpu_time().saturating_sub(used).as_nanos() as f64 / frames as f64);
            }
            Ok((super::median(&mut fps), super::median(&mut cpu)))
        })
    }
}
