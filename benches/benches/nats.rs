//! Throughput of a NATS relay sink next to the async-nats client used directly, in one
//! process, one run, against one `nats-server` on loopback (target
//! at least 0.9x).
//!
//! `cargo bench -p sinkgen-benches --features nats --bench nats` runs it (needs
//! `nats-server` on PATH); `SINKGEN_BENCH_QUICK=1` uses fewer frames.
//!
//! Both designs publish the same payloads on their own subject of the same server
//! (nobody subscribes, so the server's work is the same) from one producer task, and
//! both end with a server round trip, so every frame counted was processed by the
//! server: the sink's `flush()`, and for the direct client a marker published on its
//! own inbox and awaited. The sink adds its bounded queue (default `queue` = 4096),
//! framing, and a confirmation round trip per batch.
//!
//! A second table does the same for a durable relay (JetStream, memory storage, on
//! a second server started with `-js`): the sink publishes every frame with its
//! message id and counts it sent on the server's publish acknowledgement; the direct
//! design is what one would write by hand with async-nats: `send_publish` with the
//! same message ids, the acknowledgement futures awaited in publish order by a task,
//! ending when the last one is in. Both streams are created by the bench, with the
//! same settings (at most 100,000 messages, so memory stays bounded). No target.

use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishAckFuture};
use sinkgen_benches::cpu::process_cpu_time;
use sinkgen_runtime::durable::{Durable, Storage, message_id};
use sinkgen_runtime::{Bytes, RelaySink, SinkBuilder};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Design {
    Sinkgen,
    Direct,
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A server on `port`; with `store`, JetStream enabled and kept there.
async fn start_server(port: u16, store: Option<&std::path::Path>) -> std::io::Result<Server> {
    let mut command = Command::new("nats-server");
    if let Some(store) = store {
        command.arg("-js").arg("-sd").arg(store);
    }
    let child = command
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let server = Server(child);
    for _ in 0..200 {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await {
            let mut info = [0u8; 4];
            if s.read_exact(&mut info).await.is_ok() && &info == b"INFO" {
                return Ok(server);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(std::io::Error::other("nats-server did not come up"))
}

/// One timed run: frames per second (wall clock) and CPU time of this process per
/// frame (all threads; the server's CPU is not included).
#[derive(Clone, Copy)]
struct Run {
    fps: f64,
    cpu_ns: f64,
}

impl Run {
    fn measure(frames: u64, wall: Instant, cpu: Duration) -> Run {
        let used = process_cpu_time().saturating_sub(cpu);
        Run {
            fps: frames as f64 / wall.elapsed().as_secs_f64(),
            cpu_ns: used.as_nanos() as f64 / frames as f64,
        }
    }
}

/// A RelaySink on `nats://`, ending with `flush()`.
async fn sinkgen(port: u16, payload: &Bytes, frames: u64) -> Result<Run, String> {
    let sink = SinkBuilder::new(format!("nats://127.0.0.1:{port}/bench.sinkgen"))
        .name("bench")
        .send_timeout(Duration::from_secs(60))
        .relay()
        .map_err(|e| e.to_string())?;
    timed(sink, payload, frames).await
}

/// Sends `frames` copies of `payload` through `sink`, warm (one frame sent and
/// flushed before the clock starts), ending with `flush()`; checks that every frame
/// was sent.
async fn timed(sink: RelaySink<Bytes>, payload: &Bytes, frames: u64) -> Result<Run, String> {
    sink.send(payload.clone())
        .await
        .map_err(|e| e.to_string())?;
    sink.flush().await.map_err(|e| e.to_string())?;
    let (start, cpu) = (Instant::now(), process_cpu_time());
    for _ in 0..frames {
        sink.send(payload.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    sink.flush().await.map_err(|e| e.to_string())?;
    let run = Run::measure(frames, start, cpu);
    let status = sink.status();
    if status.lost.total() != 0 || status.frames_sent != frames + 1 {
        return Err(format!("frames missing: {status:?}"));
    }
    sink.close().await;
    Ok(run)
}

/// async-nats `publish`, ending with a server round trip.
async fn direct(port: u16, payload: &Bytes, frames: u64) -> Result<Run, String> {
    use futures_core::Stream;
    let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
        .await
        .map_err(|e| e.to_string())?;
    let inbox = client.new_inbox();
    let mut echo = client
        .subscribe(inbox.clone())
        .await
        .map_err(|e| e.to_string())?;
    let mut round_trip = async || -> Result<(), String> {
        client
            .publish(inbox.clone(), Bytes::new())
            .await
            .map_err(|e| e.to_string())?;
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut echo).poll_next(cx))
            .await
            .map(|_| ())
            .ok_or_else(|| "connection lost".to_owned())
    };
    client
        .publish("bench.direct", payload.clone())
        .await
        .map_err(|e| e.to_string())?;
    round_trip().await?;
    let (start, cpu) = (Instant::now(), process_cpu_time());
    for _ in 0..frames {
        client
            .publish("bench.direct", payload.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    round_trip().await?;
    Ok(Run::measure(frames, start, cpu))
}

/// The durable streams' settings: memory storage, at most 100,000 messages.
async fn durable_stream(js: &jetstream::Context, name: &str, subject: &str) -> Result<(), String> {
    js.get_or_create_stream(jetstream::stream::Config {
        name: name.to_owned(),
        subjects: vec![subject.to_owned()],
        storage: jetstream::stream::StorageType::Memory,
        max_messages: 100_000,
        ..Default::default()
    })
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// A durable RelaySink (see the module docs), ending with `flush()`: every frame
/// acknowledged by the server.
async fn sinkgen_durable(port: u16, payload: &Bytes, frames: u64) -> Result<Run, String> {
    let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
        .await
        .map_err(|e| e.to_string())?;
    let durable = Durable::new("bench").storage(Storage::Memory);
    durable_stream(
        &jetstream::new(client),
        durable.stream(),
        "bench.durable.sinkgen",
    )
    .await?;
    let sink = SinkBuilder::new(format!("nats://127.0.0.1:{port}/bench.durable.sinkgen"))
        .name("bench")
        .send_timeout(Duration::from_secs(60))
        .durable(durable)
        .relay()
        .map_err(|e| e.to_string())?;
    timed(sink, payload, frames).await
}

/// async-nats JetStream by hand (see the module docs).
async fn direct_durable(port: u16, payload: &Bytes, frames: u64) -> Result<Run, String> {
    let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
        .await
        .map_err(|e| e.to_string())?;
    let js = jetstream::new(client);
    durable_stream(&js, "BENCH_direct", "bench.durable.direct").await?;
    let session = fastrand_session();
    let publish = |sequence: u64| {
        let message = jetstream::message::PublishMessage::build()
            .payload(payload.clone())
            .message_id(message_id(session, sequence));
        js.send_publish("bench.durable.direct", message)
    };
    publish(0)
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let (acks, mut pending) = tokio::sync::mpsc::unbounded_channel::<PublishAckFuture>();
    let (start, cpu) = (Instant::now(), process_cpu_time());
    let awaiter = tokio::spawn(async move {
        let mut n = 0u64;
        while let Some(ack) = pending.recv().await {
            ack.await.map_err(|e| e.to_string())?;
            n += 1;
        }
        Ok::<u64, String>(n)
    });
    for sequence in 1..=frames {
        let ack = publish(sequence).await.map_err(|e| e.to_string())?;
        let _ = acks.send(ack);
    }
    drop(acks);
    let acked = awaiter.await.map_err(|e| e.to_string())??;
    let run = Run::measure(frames, start, cpu);
    if acked != frames {
        return Err(format!("{acked} of {frames} acknowledged"));
    }
    Ok(run)
}

/// A session id for the direct design's message ids (any value differing per run).
fn fastrand_session() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
}

/// Runs both designs `reps` times, interleaved (the first one alternates), or only
/// `only`: the medians of frames per second and of CPU ns per frame, sinkgen's then
/// the direct design's.
async fn medians<A, B>(
    reps: usize,
    only: Option<Design>,
    sinkgen: impl Fn() -> A,
    direct: impl Fn() -> B,
) -> Result<[(f64, f64); 2], String>
where
    A: Future<Output = Result<Run, String>>,
    B: Future<Output = Result<Run, String>>,
{
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for rep in 0..reps {
        let order = if rep % 2 == 0 {
            [Design::Sinkgen, Design::Direct]
        } else {
            [Design::Direct, Design::Sinkgen]
        };
        for design in order.into_iter().filter(|d| only.is_none_or(|o| o == *d)) {
            match design {
                Design::Sinkgen => a.push(sinkgen().await?),
                Design::Direct => b.push(direct().await?),
            }
        }
    }
    let of = |v: &[Run]| {
        (
            median(&mut v.iter().map(|r| r.fps).collect::<Vec<_>>()),
            median(&mut v.iter().map(|r| r.cpu_ns).collect::<Vec<_>>()),
        )
    };
    Ok([of(&a), of(&b)])
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then run tiny.
    let bench = std::env::args().any(|a| a == "--bench");
    let quick = std::env::var_os("SINKGEN_BENCH_QUICK").is_some();
    // Durable frames per run: each one waits for a server acknowledgement.
    let (mode, frames, durable_frames, reps) = match (bench, quick) {
        (false, _) => ("smoke (cargo test)", 2_000u64, 500u64, 1usize),
        (true, true) => ("quick", 200_000, 20_000, 3),
        (true, false) => ("full", 1_000_000, 100_000, 7),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot build the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        match tokio::spawn(run(mode, frames, durable_frames, reps)).await {
            Ok(Ok(())) => ExitCode::SUCCESS,
            Ok(Err(e)) => {
                eprintln!("nats bench: {e}");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("nats bench: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn run(mode: &str, frames: u64, durable_frames: u64, reps: usize) -> Result<(), String> {
    if Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        println!("nats bench skipped: nats-server is not on PATH (apt-get install nats-server)");
        return Ok(());
    }
    let port = free_port().map_err(|e| e.to_string())?;
    let _server = start_server(port, None).await.map_err(|e| e.to_string())?;
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("## NATS relay throughput: sinkgen RelaySink vs async-nats publish");
    println!(
        "mode: {mode}; {frames} frames per run, median of {reps} runs, designs interleaved; \
         {cores} cores; tokio multi_thread, 2 workers; one nats-server on loopback, \
         no subscriber; load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    println!(
        "| case | sinkgen (M frames/s) | async-nats direct (M frames/s) | ratio (>= 0.9) | CPU ns/frame sinkgen | CPU ns/frame direct |"
    );
    println!("|------|---:|---:|---:|---:|---:|");
    // Profiling aid: `SINKGEN_BENCH_ONLY=sinkgen` (or `direct`) runs one design alone.
    let only = match std::env::var("SINKGEN_BENCH_ONLY").as_deref() {
        Ok("sinkgen") => Some(Design::Sinkgen),
        Ok("direct") => Some(Design::Direct),
        _ => None,
    };
    let mut pass = true;
    for size in [64usize, 256] {
        let payload = Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        let [(ma, ca), (mb, cb)] = medians(
            reps,
            only,
            || sinkgen(port, &payload, frames),
            || direct(port, &payload, frames),
        )
        .await?;
        let ratio = ma / mb;
        pass &= ratio >= 0.9;
        println!(
            "| {size} B | {:.2} | {:.2} | {ratio:.2} {} | {ca:.0} | {cb:.0} |",
            ma / 1e6,
            mb / 1e6,
            if ratio >= 0.9 { "pass" } else { "FAIL" },
        );
    }
    println!();
    println!(
        "target (sinkgen >= 0.9x async-nats direct): {}",
        if pass { "pass" } else { "FAIL" }
    );
    durable(durable_frames, reps, only).await
}

/// The durable table (see the module docs).
async fn durable(frames: u64, reps: usize, only: Option<Design>) -> Result<(), String> {
    let store = std::env::temp_dir().join(format!("sinkgen-bench-js-{}", std::process::id()));
    let port = free_port().map_err(|e| e.to_string())?;
    let server = start_server(port, Some(&store))
        .await
        .map_err(|e| e.to_string())?;
    println!();
    println!(
        "## Durable relay (JetStream, memory storage): sinkgen durable RelaySink vs async-nats JetStream publish"
    );
    println!(
        "{frames} frames per run, median of {reps} runs, designs interleaved; a second nats-server with -js; no target"
    );
    println!();
    println!(
        "| case | sinkgen (k frames/s) | async-nats JetStream (k frames/s) | ratio | CPU ns/frame sinkgen | CPU ns/frame direct |"
    );
    println!("|------|---:|---:|---:|---:|---:|");
    let payload = Bytes::from((0..64).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let [(ma, ca), (mb, cb)] = medians(
        reps,
        only,
        || sinkgen_durable(port, &payload, frames),
        || direct_durable(port, &payload, frames),
    )
    .await?;
    println!(
        "| 64 B | {:.1} | {:.1} | {:.2} | {ca:.0} | {cb:.0} |",
        ma / 1e3,
        mb / 1e3,
        ma / mb,
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&store);
    Ok(())
}
