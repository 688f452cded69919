//! `send_all` against a loop of `send`, the same frames through the same kind of
//! connected sink with a draining peer, UDS, 64 B payloads (no SPEC figure; target of
//! this bench: `send_all` is not slower than the loop).
//!
//! Both designs are a `RelaySink` with default options; `send_all` sends batches of
//! [`BATCH`] messages. The runs alternate (order rotated each repetition) and the
//! ratio is the median of the per-repetition ratios of wall time per frame, from the
//! first timed send until the peer has read the last byte.

use std::io::{self, Read};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use sinkgen_benches::config::Sizes;
use sinkgen_benches::net::{Listener, Transport};
use sinkgen_benches::{payload, stats};
use sinkgen_runtime::{Framing, RelaySink, SinkBuilder};
use tokio::sync::Notify;

use crate::report::{Table, Verdict, pass_fail};
use crate::sink;

const SIZE: usize = 64;
const WARMUP: u64 = 128;
/// Messages per `send_all` call.
pub const BATCH: u64 = 64;

#[derive(Clone, Copy)]
enum Design {
    Loop,
    SendAll,
}

pub async fn run(sizes: Sizes) -> io::Result<Vec<Verdict>> {
    println!(
        "## send_all vs a loop of send, wall time per frame (uds {SIZE} B, batches of {BATCH})"
    );
    println!(
        "frames per run: {}; {} runs per design, interleaved; ratio: median of the per-repetition ratios",
        sizes.frames_fast, sizes.reps
    );
    println!();
    let designs = [Design::Loop, Design::SendAll];
    let mut ns: [Vec<f64>; 2] = Default::default();
    let mut ratios = Vec::new();
    // Whole batches only, so both designs send the same frames.
    let frames = (sizes.frames_fast / BATCH).max(1) * BATCH;
    for rep in 0..sizes.reps {
        let mut pair = [0.0f64; 2];
        for k in 0..2 {
            let i = (k + rep) % 2;
            pair[i] = once(designs[i], frames).await?;
            ns[i].push(pair[i]);
        }
        ratios.push(pair[0] / pair[1]);
    }
    let looped = stats::median(&ns[0]);
    let all = stats::median(&ns[1]);
    let ratio = stats::median(&ratios);
    let pass = ratio >= 1.0;
    let mut t = Table::new(&[
        "case",
        "loop of send",
        "send_all",
        "speed-up loop/send_all (>= 1)",
    ]);
    t.row(vec![
        format!("uds {SIZE} B, batches of {BATCH}"),
        format!("{looped:.1} ns/frame ({:.2} M/s)", 1e3 / looped),
        format!("{all:.1} ns/frame ({:.2} M/s)", 1e3 / all),
        format!("{ratio:.2}x {}", pass_fail(pass)),
    ]);
    t.print();
    Ok(vec![Verdict::new(
        "send_all: speed-up over a loop of send",
        format!("{ratio:.2}x"),
        ">= 1x",
        pass,
    )])
}

/// One run: wall time per frame, from the first timed send until the peer has read
/// the last byte.
async fn once(design: Design, frames: u64) -> io::Result<f64> {
    let listener = Arc::new(Listener::bind(Transport::Uds)?);
    let frame_len = (Framing::LengthPrefixed.header_len() + SIZE) as u64;
    let warmed = Arc::new(Notify::new());
    let drain = spawn_byte_drain(
        Arc::clone(&listener),
        frame_len * WARMUP,
        frame_len * (WARMUP + frames),
        Arc::clone(&warmed),
    );
    let sink: RelaySink<&'static [u8]> = SinkBuilder::new(listener.endpoint())
        .queue(4096)
        .relay()
        .map_err(io::Error::other)?;
    let msg: &'static [u8] = sink::message(&payload(SIZE));
    for _ in 0..WARMUP {
        sink.send(msg)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    warmed.notified().await;
    let start = Instant::now();
    match design {
        Design::Loop => {
            for _ in 0..frames {
                sink.send(msg)
                    .await
                    .map_err(|e| io::Error::other(e.to_string()))?;
            }
        }
        Design::SendAll => {
            for _ in 0..frames / BATCH {
                sink.send_all(std::iter::repeat_n(msg, BATCH as usize))
                    .await
                    .map_err(|e| io::Error::other(e.to_string()))?;
            }
        }
    }
    tokio::task::spawn_blocking(move || drain.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::other("peer thread panicked"))??;
    let elapsed = start.elapsed();
    let undelivered = sink.close().await;
    if undelivered != 0 {
        return Err(io::Error::other(format!(
            "sink reported {undelivered} undelivered frames"
        )));
    }
    Ok(elapsed.as_nanos() as f64 / frames as f64)
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
