//! Throughput of one sink with a draining peer: sinkgen vs baselines b and c.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use sinkgen_benches::baseline::{self, CoalescingWriter};
use sinkgen_benches::config::Sizes;
use sinkgen_benches::net::{ClientStream, Listener, Transport};
use sinkgen_benches::peer::{self, Drained};
use sinkgen_benches::{payload, stats};
use tokio::io::AsyncWrite;

use crate::report::{Table, Verdict, mfps, pass_fail};
use crate::sink;

#[derive(Clone, Copy, Debug)]
enum Design {
    Sinkgen,
    Coalescing,
    PerFrame,
}

const DESIGNS: [Design; 3] = [Design::Sinkgen, Design::Coalescing, Design::PerFrame];

pub async fn run(sizes: Sizes) -> Vec<Verdict> {
    println!("## Throughput: one sink, one producer task, draining peer");
    println!(
        "frames per run: {} (sinkgen, b), {} (c); median of {} runs, designs interleaved",
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
    let mut verdicts = Vec::new();
    for transport in [Transport::Uds, Transport::Tcp] {
        for size in [64usize, 256] {
            let case = format!("{} {size} B", transport.name());
            let mut fps: [Vec<f64>; 3] = Default::default();
            for _ in 0..sizes.reps {
                for (i, design) in DESIGNS.into_iter().enumerate() {
                    let frames = match design {
                        Design::PerFrame => sizes.frames_slow,
                        _ => sizes.frames_fast,
                    };
                    match once(design, transport, size, frames).await {
                        Ok(v) => fps[i].push(v),
                        Err(e) => eprintln!("throughput {case} {design:?}: {e}"),
                    }
                }
            }
            let med: Vec<Option<f64>> = fps
                .iter()
                .map(|v| (!v.is_empty()).then(|| stats::median(v)))
                .collect();
            let cell = |m: Option<f64>| m.map_or_else(|| "error".to_owned(), mfps);
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => Some(a / b),
                _ => None,
            };
            let ab = ratio(med[0], med[1]);
            let ac = ratio(med[0], med[2]);
            let abs_pass = med[0].is_some_and(|a| a >= 3e6);
            let ab_pass = ab.is_some_and(|r| r >= 0.8);
            let ac_pass = ac.is_some_and(|r| r >= 10.0);
            let rcell = |r: Option<f64>, pass: bool| {
                r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2} {}", pass_fail(pass)))
            };
            table.row(vec![
                case.clone(),
                cell(med[0]),
                cell(med[1]),
                cell(med[2]),
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
    verdicts
}

/// One run; returns frames per second (from the first send to the peer having read
/// the last byte).
async fn once(design: Design, transport: Transport, size: usize, frames: u64) -> io::Result<f64> {
    let listener = Arc::new(Listener::bind(transport)?);
    let payload = payload(size);
    let (start, drained) = match design {
        Design::Sinkgen => {
            let drain = peer::spawn_drain(Arc::clone(&listener), size, frames + 1);
            let sink = sink::Sink::new(listener.endpoint())?;
            let msg = sink::message(&payload);
            // The lazy connect is measured by the first-frame case, not here.
            sink.send(&msg).await?;
            sink.flush().await?;
            let start = Instant::now();
            for _ in 0..frames {
                sink.send(&msg).await?;
            }
            let drained = join_drain(drain).await?;
            let undelivered = sink.close().await?;
            if undelivered != 0 {
                return Err(io::Error::other(format!(
                    "sink reported {undelivered} undelivered frames"
                )));
            }
            (start, drained)
        }
        Design::Coalescing | Design::PerFrame => {
            let drain = peer::spawn_drain(Arc::clone(&listener), size, frames);
            let start = match listener.connect().await? {
                ClientStream::Uds(s) => baseline_run(design, s, &payload, frames).await?,
                ClientStream::Tcp(s) => baseline_run(design, s, &payload, frames).await?,
            };
            (start, join_drain(drain).await?)
        }
    };
    Ok(frames as f64 / (drained.done - start).as_secs_f64())
}

async fn baseline_run<W>(
    design: Design,
    mut stream: W,
    payload: &[u8],
    frames: u64,
) -> io::Result<Instant>
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    match design {
        Design::Coalescing => {
            let writer = CoalescingWriter::spawn(stream, baseline::DEFAULT_CAP);
            let start = Instant::now();
            for _ in 0..frames {
                writer.send(payload).await;
            }
            writer.close().await?;
            Ok(start)
        }
        Design::PerFrame => {
            let start = Instant::now();
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
