//! Throughput of one sink with a draining peer: sinkgen vs baselines b and c.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sinkgen_benches::baseline::{self, CoalescingWriter};
use sinkgen_benches::config::Sizes;
use sinkgen_benches::net::{ClientStream, Listener, Transport};
use sinkgen_benches::peer::{self, Drained};
use sinkgen_benches::{cpu, payload, stats};
use tokio::io::AsyncWrite;
use tokio::sync::Notify;

use crate::report::{Table, Verdict, mfps, pass_fail};
use crate::sink;

#[derive(Clone, Copy, Debug)]
enum Design {
    Sinkgen,
    Coalescing,
    PerFrame,
}

const DESIGNS: [Design; 3] = [Design::Sinkgen, Design::Coalescing, Design::PerFrame];

/// Frames sent (and read by the peer) before the clock starts.
const WARMUP: u64 = 100;

pub async fn run(sizes: Sizes) -> Vec<Verdict> {
    println!("## Throughput: one sink, one producer task, draining peer");
    println!(
        "frames per run: {} (a, b), {} (c); median of {} runs (± half their range); designs interleaved, order rotated; ratios are medians of the per-repetition ratios",
        sizes.frames_fast, sizes.frames_slow, sizes.reps
    );
    println!();
    let mut table = Table::new(&[
        "case",
        "(a) sinkgen",
        "(b) coalescing",
        "(c) write/frame",
        "a/b (>= 0.8)",
        "a/c (>= 10)",
        "a >= 3 M/s",
    ]);
    let mut cpu_table = Table::new(&[
        "case",
        "(a) sinkgen",
        "(b) coalescing",
        "(c) write/frame",
        "a/b",
    ]);
    let mut verdicts = Vec::new();
    for transport in [Transport::Uds, Transport::Tcp] {
        for size in [64usize, 256] {
            let case = format!("{} {size} B", transport.name());
            let mut fps: [Vec<f64>; 3] = Default::default();
            let mut cpu_ns: [Vec<f64>; 3] = Default::default();
            // frames/s of each design in each repetition, for paired ratios.
            let mut per_rep: Vec<[Option<f64>; 3]> = vec![[None; 3]; sizes.reps];
            for (rep, paired) in per_rep.iter_mut().enumerate() {
                // Rotate the order each repetition so no design always runs first.
                for k in 0..DESIGNS.len() {
                    let i = (k + rep) % DESIGNS.len();
                    let design = DESIGNS[i];
                    let frames = match design {
                        Design::PerFrame => sizes.frames_slow,
                        _ => sizes.frames_fast,
                    };
                    match once(design, transport, size, frames, 1).await {
                        Ok(v) => {
                            fps[i].push(v.frames_per_sec);
                            paired[i] = Some(v.frames_per_sec);
                            cpu_ns[i].push(v.cpu_ns_per_frame);
                        }
                        Err(e) => {
                            eprintln!("throughput {case} {design:?}: {e}");
                            verdicts.push(Verdict::new(
                                format!("throughput {case} {design:?}"),
                                format!("error: {e}"),
                                "runs",
                                false,
                            ));
                        }
                    }
                }
            }
            let cpu_med: Vec<Option<f64>> = cpu_ns
                .iter()
                .map(|v| (!v.is_empty()).then(|| stats::median(v)))
                .collect();
            let ns = |m: Option<f64>| m.map_or_else(|| "-".to_owned(), |m| format!("{m:.0} ns"));
            cpu_table.row(vec![
                case.clone(),
                ns(cpu_med[0]),
                ns(cpu_med[1]),
                ns(cpu_med[2]),
                match (cpu_med[0], cpu_med[1]) {
                    (Some(a), Some(b)) => format!("{:.2}", a / b),
                    _ => "-".to_owned(),
                },
            ]);
            let med: Vec<Option<f64>> = fps
                .iter()
                .map(|v| (!v.is_empty()).then(|| stats::median(v)))
                .collect();
            let cell = |m: Option<f64>| m.map_or_else(|| "error".to_owned(), mfps);
            // Median with the spread of the runs (half the min-max range, relative).
            let spread_cell = |i: usize| match med[i] {
                Some(m) if fps[i].len() > 1 => {
                    let (lo, hi) = fps[i]
                        .iter()
                        .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                    format!("{} ±{:.0}%", mfps(m), (hi - lo) / 2.0 / m * 100.0)
                }
                m => cell(m),
            };
            // Median of the ratios within each repetition: the designs of one repetition
            // run back to back, under the same load, so pairing them cancels most of
            // the drift that other work on the machine causes.
            let ratio = |x: usize, y: usize| {
                let r: Vec<f64> = per_rep
                    .iter()
                    .filter_map(|rep| Some(rep[x]? / rep[y]?))
                    .collect();
                (!r.is_empty()).then(|| stats::median(&r))
            };
            let ab = ratio(0, 1);
            let ac = ratio(0, 2);
            let abs_pass = med[0].is_some_and(|a| a >= 3e6);
            let ab_pass = ab.is_some_and(|r| r >= 0.8);
            let ac_pass = ac.is_some_and(|r| r >= 10.0);
            let rcell = |r: Option<f64>, pass: bool| {
                r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2} {}", pass_fail(pass)))
            };
            table.row(vec![
                case.clone(),
                spread_cell(0),
                spread_cell(1),
                spread_cell(2),
                rcell(ab, ab_pass),
                rcell(ac, ac_pass),
                pass_fail(abs_pass).to_owned(),
            ]);
            verdicts.push(Verdict::new(
                format!("throughput {case}"),
                cell(med[0]) + " frames/s",
                ">= 3 M frames/s",
                abs_pass,
            ));
            verdicts.push(Verdict::new(
                format!("throughput {case} vs (b)"),
                ab.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x")),
                ">= 0.8x",
                ab_pass,
            ));
            verdicts.push(Verdict::new(
                format!("throughput {case} vs (c)"),
                ac.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}x")),
                ">= 10x",
                ac_pass,
            ));
        }
    }
    table.print();
    println!("CPU time per frame, whole process (sender, writer task, peer thread), median:");
    println!();
    cpu_table.print();
    many_producers(sizes).await;
    verdicts
}

/// Not a SPEC target: several tasks sending through one sink at once (the sink is
/// shared through `&self`), against baseline (b) shared the same way.
async fn many_producers(sizes: Sizes) {
    const PRODUCERS: usize = 4;
    println!("{PRODUCERS} producer tasks sharing one sink, uds 64 B (no target; for contention):");
    println!();
    let designs = [Design::Sinkgen, Design::Coalescing];
    let mut per_rep: Vec<[Option<Sample>; 2]> = (0..sizes.reps).map(|_| [None, None]).collect();
    for (rep, paired) in per_rep.iter_mut().enumerate() {
        for k in 0..designs.len() {
            let i = (k + rep) % designs.len();
            match once(designs[i], Transport::Uds, 64, sizes.frames_fast, PRODUCERS).await {
                Ok(v) => paired[i] = Some(v),
                Err(e) => eprintln!("throughput {PRODUCERS} producers {:?}: {e}", designs[i]),
            }
        }
    }
    let med = |i: usize, f: fn(&Sample) -> f64| {
        let v: Vec<f64> = per_rep
            .iter()
            .filter_map(|r| r[i].as_ref().map(f))
            .collect();
        (!v.is_empty()).then(|| stats::median(&v))
    };
    let ratios: Vec<f64> = per_rep
        .iter()
        .filter_map(|r| Some(r[0].as_ref()?.frames_per_sec / r[1].as_ref()?.frames_per_sec))
        .collect();
    let fps = |m: Option<f64>| m.map_or_else(|| "error".to_owned(), mfps);
    let ns = |m: Option<f64>| m.map_or_else(|| "-".to_owned(), |m| format!("{m:.0} ns"));
    let mut t = Table::new(&[
        "case",
        "(a) sinkgen",
        "(b) coalescing",
        "a/b",
        "CPU/frame a",
        "CPU/frame b",
    ]);
    t.row(vec![
        format!("uds 64 B x{PRODUCERS}"),
        fps(med(0, |s| s.frames_per_sec)),
        fps(med(1, |s| s.frames_per_sec)),
        if ratios.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.2}", stats::median(&ratios))
        },
        ns(med(0, |s| s.cpu_ns_per_frame)),
        ns(med(1, |s| s.cpu_ns_per_frame)),
    ]);
    t.print();
}

/// When a run's clock started: wall time and process CPU time.
#[derive(Clone, Copy)]
struct Start {
    wall: Instant,
    cpu: Duration,
}

impl Start {
    fn now() -> Start {
        Start {
            wall: Instant::now(),
            cpu: cpu::process_cpu_time(),
        }
    }
}

/// What one run measured.
struct Sample {
    frames_per_sec: f64,
    /// CPU time of the whole process (sender, writer, peer) per frame, in ns.
    cpu_ns_per_frame: f64,
}

/// Frames producer `p` of `producers` sends, so that they add up to `frames`.
fn share(frames: u64, producers: usize, p: usize) -> u64 {
    let producers = producers as u64;
    frames / producers + u64::from((p as u64) < frames % producers)
}

/// One run: frames per second from the first timed send to the peer having read the
/// last byte, and CPU time per frame. With more than one producer, each is a spawned
/// task sending its share of the frames through the same sink.
async fn once(
    design: Design,
    transport: Transport,
    size: usize,
    frames: u64,
    producers: usize,
) -> io::Result<Sample> {
    let listener = Arc::new(Listener::bind(transport)?);
    let payload: &'static [u8] = sink::message(&payload(size));
    // Every design first sends WARMUP frames and waits until the peer has read them,
    // so the clock starts with the connection up, the writer idle and the peer
    // waiting in `read`.
    let warmed = Arc::new(Notify::new());
    let drain = peer::spawn_drain(
        Arc::clone(&listener),
        size,
        WARMUP + frames,
        WARMUP,
        Arc::clone(&warmed),
    );
    let start = match design {
        Design::Sinkgen => {
            let sink = Arc::new(sink::Sink::new(listener.endpoint())?);
            let msg = payload;
            for _ in 0..WARMUP {
                sink.send(&msg).await?;
            }
            warmed.notified().await;
            let start = Start::now();
            if producers == 1 {
                for _ in 0..frames {
                    sink.send(&msg).await?;
                }
            } else {
                let tasks: Vec<_> = (0..producers)
                    .map(|p| {
                        let sink = Arc::clone(&sink);
                        let n = share(frames, producers, p);
                        tokio::spawn(async move {
                            for _ in 0..n {
                                sink.send(&msg).await?;
                            }
                            Ok::<_, io::Error>(())
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.map_err(io::Error::other)??;
                }
            }
            let sink = Arc::into_inner(sink).expect("producers are done with the sink");
            let undelivered = sink.close().await?;
            if undelivered != 0 {
                return Err(io::Error::other(format!(
                    "sink reported {undelivered} undelivered frames"
                )));
            }
            start
        }
        Design::Coalescing | Design::PerFrame => match listener.connect().await? {
            ClientStream::Uds(s) => {
                baseline_run(design, s, payload, frames, producers, &warmed).await?
            }
            ClientStream::Tcp(s) => {
                baseline_run(design, s, payload, frames, producers, &warmed).await?
            }
        },
    };
    let drained = join_drain(drain).await?;
    let cpu = cpu::process_cpu_time().saturating_sub(start.cpu);
    Ok(Sample {
        frames_per_sec: frames as f64 / (drained.done - start.wall).as_secs_f64(),
        cpu_ns_per_frame: cpu.as_nanos() as f64 / frames as f64,
    })
}

async fn baseline_run<W>(
    design: Design,
    mut stream: W,
    payload: &'static [u8],
    frames: u64,
    producers: usize,
    warmed: &Notify,
) -> io::Result<Start>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    match design {
        Design::Coalescing => {
            let writer = Arc::new(CoalescingWriter::spawn(stream, baseline::DEFAULT_CAP));
            for _ in 0..WARMUP {
                writer.send(payload).await;
            }
            warmed.notified().await;
            let start = Start::now();
            if producers == 1 {
                for _ in 0..frames {
                    writer.send(payload).await;
                }
            } else {
                let tasks: Vec<_> = (0..producers)
                    .map(|p| {
                        let writer = Arc::clone(&writer);
                        let n = share(frames, producers, p);
                        tokio::spawn(async move {
                            for _ in 0..n {
                                writer.send(payload).await;
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.map_err(io::Error::other)?;
                }
            }
            let writer = Arc::into_inner(writer).expect("producers are done with the writer");
            writer.close().await?;
            Ok(start)
        }
        Design::PerFrame => {
            assert_eq!(producers, 1, "baseline c has one producer");
            baseline::write_per_frame(&mut stream, payload, WARMUP).await?;
            warmed.notified().await;
            let start = Start::now();
            baseline::write_per_frame(&mut stream, payload, frames).await?;
            Ok(start)
        }
        Design::Sinkgen => unreachable!("sinkgen runs through crate::sink"),
    }
}

/// Waits for a peer thread without blocking a runtime worker.
pub async fn join_drain(
    handle: std::thread::JoinHandle<io::Result<Drained>>,
) -> io::Result<Drained> {
    tokio::task::spawn_blocking(move || handle.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::other("peer thread panicked"))?
}
