//! CPU per frame of torq framing against length-prefixed framing (SPEC section 9: at
//! most 1.5x), through a connected sink with a draining peer, UDS, 64 B payloads.
//!
//! Both designs are the same `RelaySink` with only the framing changed; the runs
//! alternate (order rotated each repetition) and the ratio is the median of the
//! per-repetition ratios of process CPU time per frame (sender, writer task, peer).

use std::io::{self, Read};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use sinkgen_benches::config::Sizes;
use sinkgen_benches::net::{Listener, Transport};
use sinkgen_benches::{cpu, payload, stats};
use sinkgen_runtime::{Framing, RelaySink, SinkBuilder};
use tokio::sync::Notify;

use crate::report::{Table, Verdict, pass_fail};
use crate::sink;

const SIZE: usize = 64;
const WARMUP: u64 = 100;
const TORQ: Framing = Framing::Torq {
    domain: 1,
    source: 7,
};

pub async fn run(sizes: Sizes) -> io::Result<Vec<Verdict>> {
    println!("## Framing: torq vs length-prefixed, CPU per frame (uds {SIZE} B)");
    println!(
        "frames per run: {}; {} runs per framing, interleaved; ratio: median of the per-repetition ratios",
        sizes.frames_fast, sizes.reps
    );
    println!();
    let framings = [Framing::LengthPrefixed, TORQ];
    let mut cpu: [Vec<f64>; 2] = Default::default();
    let mut ratios = Vec::new();
    for rep in 0..sizes.reps {
        let mut pair = [0.0f64; 2];
        for k in 0..2 {
            let i = (k + rep) % 2;
            pair[i] = once(framings[i], sizes.frames_fast).await?;
            cpu[i].push(pair[i]);
        }
        ratios.push(pair[1] / pair[0]);
    }
    let lp = stats::median(&cpu[0]);
    let torq = stats::median(&cpu[1]);
    let ratio = stats::median(&ratios);
    let pass = ratio <= 1.5;
    let mut t = Table::new(&["case", "length-prefixed", "torq", "torq/lp (<= 1.5)"]);
    t.row(vec![
        format!("uds {SIZE} B"),
        format!("{lp:.0} ns"),
        format!("{torq:.0} ns"),
        format!("{ratio:.2} {}", pass_fail(pass)),
    ]);
    t.print();
    Ok(vec![Verdict::new(
        "framing: torq CPU per frame vs length-prefixed",
        format!("{ratio:.2}x"),
        "<= 1.5x",
        pass,
    )])
}

/// One run: process CPU time per frame, from the first timed send until the peer has
/// read the last byte.
async fn once(framing: Framing, frames: u64) -> io::Result<f64> {
    let listener = Arc::new(Listener::bind(Transport::Uds)?);
    let frame_len = (framing.header_len() + SIZE) as u64;
    let warmed = Arc::new(Notify::new());
    let drain = spawn_byte_drain(
        Arc::clone(&listener),
        frame_len * WARMUP,
        frame_len * (WARMUP + frames),
        Arc::clone(&warmed),
    );
    let sink: RelaySink<&'static [u8]> = SinkBuilder::new(listener.endpoint())
        .framing(framing)
        .queue(4096)
        .relay()
        .map_err(io::Error::other)?;
    let msg: &'static [u8] = sink::message(&payload(SIZE));
    let mut start = None;
    for i in 0..WARMUP + frames {
        if i == WARMUP {
            warmed.notified().await;
            start = Some(cpu::process_cpu_time());
        }
        sink.send(msg)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    let start = start.unwrap_or_default();
    let undelivered = sink.close().await;
    if undelivered != 0 {
        return Err(io::Error::other(format!(
            "sink reported {undelivered} undelivered frames"
        )));
    }
    tokio::task::spawn_blocking(move || drain.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::other("peer thread panicked"))??;
    let used = cpu::process_cpu_time().saturating_sub(start);
    Ok(used.as_nanos() as f64 / frames as f64)
}

/// Accepts one connection and reads until `total` bytes arrived (whole frames of one
/// size, so the byte count says the frames arrived); notifies `warmed` after `warmup`.
fn spawn_byte_drain(
    listener: Arc<Listener>,
    warmup: u64,
    total: u64,
    warmed: Arc<Notify>,
) -> JoinHandle<io::Result<()>> {
    thread::spawn(move || {
        let mut stream = listener.accept()?;
        let mut buf = vec![0u8; 256 * 1024];
        let (mut read, mut warm) = (0u64, false);
        while read < total {
            if !warm && read >= warmup {
                warm = true;
                warmed.notify_one();
            }
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("peer saw EOF after {read} of {total} bytes"),
                ));
            }
            read += n as u64;
        }
        Ok(())
    })
}
