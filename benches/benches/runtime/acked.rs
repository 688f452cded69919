//! What acknowledgements cost (SPEC section 9: at most 10% of throughput against
//! the same path without them), UDS, 64 B payloads.
//!
//! * **sinkgen, acknowledged**: a `RelaySink` with `Framing::Sinkgen`; its peer
//!   answers the handshake, decodes every frame (checksum included) and sends one
//!   cumulative ACK per read. The sink keeps every frame until acknowledged, and the
//!   run ends when the peer has read the last frame.
//! * **torq, no acknowledgements** (the same path without them): the same sink with
//!   `Framing::Torq`, the framing closest to sinkgen's (a 32-byte header with a
//!   sequence, a timestamp and a CRC-32 against sinkgen's 36 bytes); its peer decodes
//!   every frame and checks its CRC the same way, and acknowledges nothing; the sink
//!   counts a frame sent when the kernel takes it.
//! * **length-prefixed**: the default framing, for reference; the peer walks the
//!   length prefixes.
//!
//! The three alternate (order rotated each repetition), each run on a tokio runtime
//! of its own, built as the bench's; throughput is frames per second of wall time
//! from the first timed send (after a warm-up of 50,000 frames) until the peer read
//! the last frame; the ratios are medians of per-repetition ratios.
//!
//! Then the latency of sparse frames: a ping-pong through a sinkgen sink against the
//! same sink with length-prefixed framing, in ABBA order, one peer thread serving
//! both. Both write sparse frames from their senders; the sinkgen sink also keeps
//! each one until the peer's ACK comes, which its task reads. The peer answers before
//! it acknowledges, as the runtime's receivers queue a read's frames for the
//! application before they acknowledge it.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sinkgen_benches::config::Sizes;
use sinkgen_benches::host::{self, CpuTicks};
use sinkgen_benches::net::{Listener, PeerStream, Transport};
use sinkgen_benches::{cpu, payload, stats};
use sinkgen_runtime::protocol::{self, Control, Kind};
use sinkgen_runtime::{Framing, RelaySink, SinkBuilder};
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;

use crate::report::{Table, Verdict, pass_fail, us};
use crate::sink;

const SIZE: usize = 64;
/// Frames sent before a throughput run's clock starts: enough batches that every
/// buffer the sink cycles through (an acknowledged sink keeps batches until their
/// ACK, so it uses more of them) was allocated and touched once, so the run measures
/// the steady state and not a new sink's first page faults.
const THROUGHPUT_WARMUP: u64 = 50_000;
/// What the throughput peer asks the socket for at a time, for every design, unless
/// `SINKGEN_BENCH_PEER_READ` gives another size in KiB: 256 KiB takes what a Unix
/// socket holds in one read. (The runtime's inbox reads at most 64 KiB at a time;
/// BENCHMARKS.md has the figures with `SINKGEN_BENCH_PEER_READ=64` too.)
const PEER_READ: usize = 256 << 10;
/// The sink's `queue` in the throughput runs, for every design, unless
/// `SINKGEN_BENCH_QUEUE` gives another: the default of `services.toml`. An
/// acknowledged sink's bound counts its unacknowledged frames too (the ones in the
/// socket and in the peer's hands), so a larger queue shows what that costs.
const QUEUE: usize = 4096;
/// Percent of CPU time taken by the host (steal) under which a repetition counts as
/// quiet, for the line that shows those repetitions' ratio next to the verdict.
const QUIET_STEAL: f64 = 5.0;
/// Pings before the latency samples count.
const WARMUP: u64 = 1_000;
const TORQ: Framing = Framing::Torq {
    domain: 1,
    source: 7,
};
const DESIGNS: [(&str, Framing); 3] = [
    ("sinkgen, acknowledged", Framing::Sinkgen),
    ("torq, no acks", TORQ),
    ("length-prefixed", Framing::LengthPrefixed),
];

pub async fn run(sizes: Sizes) -> io::Result<Vec<Verdict>> {
    println!("## Acknowledgements: throughput and sparse-frame latency (uds {SIZE} B)");
    println!(
        "frames per run: {}; {} runs per design, interleaved, {}; queue {}; ratios: median of the per-repetition ratios",
        sizes.frames_fast,
        sizes.reps,
        if one_runtime() {
            "one after the other on one runtime"
        } else {
            "each on a runtime of its own"
        },
        queue()
    );
    println!();
    let mut rates: [Vec<f64>; 3] = Default::default();
    let mut cpus: [Vec<f64>; 3] = Default::default();
    let mut per_read: [Vec<f64>; 3] = Default::default();
    let (mut vs_torq, mut vs_lp) = (Vec::new(), Vec::new());
    // Profiling aid: `SINKGEN_BENCH_ONLY=sinkgen` (or `torq`, `lp`) runs one design
    // alone, and no ratio; `SINKGEN_BENCH_ONLY=pings` only the sparse ping-pong.
    let only = std::env::var("SINKGEN_BENCH_ONLY").unwrap_or_default();
    // sinkgen / torq of the repetitions in which the host took little CPU time.
    let mut quiet = Vec::new();
    for rep in 0..sizes.reps {
        let before = CpuTicks::now();
        let mut r = [1.0f64; 3];
        for k in 0..3 {
            let i = (k + rep) % 3;
            if !only.is_empty() && only != ["sinkgen", "torq", "lp"][i] {
                continue;
            }
            let (rate, cpu, frames_per_read) = if one_runtime() {
                once(DESIGNS[i].1, sizes.frames_fast).await?
            } else {
                once_alone(DESIGNS[i].1, sizes.frames_fast).await?
            };
            per_read[i].push(frames_per_read);
            r[i] = rate;
            rates[i].push(rate);
            cpus[i].push(cpu);
        }
        vs_torq.push(r[0] / r[1]);
        vs_lp.push(r[0] / r[2]);
        if host::stolen_percent_since(before).is_some_and(|p| p < QUIET_STEAL) {
            quiet.push(r[0] / r[1]);
        }
    }
    if !only.is_empty() {
        for (i, (name, _)) in DESIGNS.iter().enumerate() {
            if !rates[i].is_empty() {
                println!(
                    "{name} alone: {:.0} frames/s, {:.0} ns CPU/frame, {:.0} frames per peer read",
                    stats::median(&rates[i]),
                    stats::median(&cpus[i]),
                    stats::median(&per_read[i])
                );
            }
        }
        if only == "pings" {
            pings(sizes).await?;
        }
        return Ok(Vec::new());
    }
    let ratio = stats::median(&vs_torq);
    let ratio_lp = stats::median(&vs_lp);
    let pass = ratio >= 0.9;
    let mut t = Table::new(&[
        "design",
        "frames/s (median)",
        "CPU ns/frame (median)",
        "frames per peer read (sinkgen: per ACK)",
        "sinkgen / this",
    ]);
    for (i, (name, _)) in DESIGNS.iter().enumerate() {
        let vs = match i {
            0 => "1.00".to_string(),
            1 => format!("{ratio:.2} {} (>= 0.90)", pass_fail(pass)),
            _ => format!("{ratio_lp:.2}"),
        };
        t.row(vec![
            (*name).into(),
            format!("{:.0}", stats::median(&rates[i])),
            format!("{:.0}", stats::median(&cpus[i])),
            format!("{:.0}", stats::median(&per_read[i])),
            vs,
        ]);
    }
    t.print();
    // The verdict takes every repetition; this line shows the ones the host left alone.
    println!(
        "repetitions in which the host took under {QUIET_STEAL}% of the CPU time: {} of {}{}",
        quiet.len(),
        sizes.reps,
        if quiet.is_empty() {
            String::new()
        } else {
            format!(
                "; their median sinkgen / torq: {:.2}",
                stats::median(&quiet)
            )
        }
    );
    println!();
    pings(sizes).await?;
    Ok(vec![Verdict::new(
        "acks: sinkgen throughput vs the same path without acks (torq)",
        format!("{ratio:.2}x (vs length-prefixed {ratio_lp:.2}x)"),
        ">= 0.90x",
        pass,
    )])
}

/// Runs the sparse ping-pong ([`latency`]) and prints its table.
async fn pings(sizes: Sizes) -> io::Result<()> {
    let (lp, acked) = latency(sizes.pings).await?;
    let mut t = Table::new(&["sparse frames, ping-pong", "p50 RTT", "p99 RTT"]);
    t.row(vec!["length-prefixed".into(), us(lp.0), us(lp.1)]);
    t.row(vec![
        "sinkgen (kept until acknowledged)".into(),
        us(acked.0),
        us(acked.1),
    ]);
    t.row(vec![
        "added by acknowledged delivery".into(),
        us(acked.0 - lp.0),
        us(acked.1 - lp.1),
    ]);
    t.print();
    println!();
    Ok(())
}

/// [`once`] on a tokio runtime of its own, built as the bench's (see
/// `crate::runtime`), and shut down after it.
///
/// Runs that share one runtime are not independent: each starts from the scheduler
/// state the runs before it left, which depends on the designs that ran. On a shared
/// runtime, torq ran about 8% faster next to one build of the acknowledged sink than
/// next to another, with its own code unchanged (BENCHMARKS.md, "ninth look"). A
/// runtime per run takes that out.
async fn once_alone(framing: Framing, frames: u64) -> io::Result<(f64, f64, f64)> {
    tokio::task::spawn_blocking(move || {
        let (rt, _) = crate::runtime()?;
        rt.block_on(async move {
            tokio::spawn(once(framing, frames))
                .await
                .map_err(io::Error::other)?
        })
    })
    .await
    .map_err(io::Error::other)?
}

/// One run: frames per second from the first timed send until the peer has read the
/// last frame, and the process CPU time per frame over the same span (sender, the
/// sink's task, the peer), after a warm-up of at most [`THROUGHPUT_WARMUP`] frames.
async fn once(framing: Framing, frames: u64) -> io::Result<(f64, f64, f64)> {
    let warmup = THROUGHPUT_WARMUP.min(frames);
    let listener = Arc::new(Listener::bind(Transport::Uds)?);
    let warmed = Arc::new(Notify::new());
    let reader = spawn_reader(
        Arc::clone(&listener),
        framing,
        warmup,
        warmup + frames,
        Arc::clone(&warmed),
    );
    let sink: RelaySink<&'static [u8]> = SinkBuilder::new(listener.endpoint())
        .framing(framing)
        .queue(queue())
        .relay()
        .map_err(io::Error::other)?;
    let msg: &'static [u8] = sink::message(&payload(SIZE));
    let mut start = None;
    for i in 0..warmup + frames {
        if i == warmup {
            warmed.notified().await;
            start = Some((Instant::now(), cpu::process_cpu_time()));
        }
        sink.send(msg)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    let (done, reads) = tokio::task::spawn_blocking(move || reader.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::other("reader thread panicked"))??;
    let undelivered = sink.close().await;
    if undelivered != 0 {
        return Err(io::Error::other(format!(
            "sink reported {undelivered} undelivered frames"
        )));
    }
    let used = cpu::process_cpu_time();
    let (t0, c0) = start.unwrap_or((done, used));
    let elapsed = done.duration_since(t0);
    let cpu = used.saturating_sub(c0).as_nanos() as f64 / frames as f64;
    let per_read = (warmup + frames) as f64 / reads.max(1) as f64;
    Ok((
        frames as f64 / elapsed.as_secs_f64().max(1e-9),
        cpu,
        per_read,
    ))
}

/// Reads frames of `framing` until `total` arrived, checking each (sinkgen and torq:
/// the checksum); sinkgen: answers the handshake and acknowledges each read.
/// Notifies `warmed` after `warmup` frames; returns when the last frame was read.
fn spawn_reader(
    listener: Arc<Listener>,
    framing: Framing,
    warmup: u64,
    total: u64,
    warmed: Arc<Notify>,
) -> JoinHandle<io::Result<(Instant, u64)>> {
    thread::spawn(move || {
        let mut stream = listener.accept()?;
        let read = peer_read();
        let ack_every = env_usize("SINKGEN_BENCH_ACK_EVERY").unwrap_or(1) as u64;
        let mut buf = Vec::with_capacity(2 * read);
        let mut chunk = vec![0u8; read];
        let (mut count, mut warm, mut reads) = (0u64, false, 0u64);
        let mut out = Vec::new();
        while count < total {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("EOF after {count} of {total} frames"),
                ));
            }
            buf.extend_from_slice(&chunk[..n]);
            out.clear();
            reads += 1;
            let used = match framing {
                // `SINKGEN_BENCH_ACK_EVERY=n`: only every n-th read (and the last)
                // is acknowledged; the next ACK covers the frames of the others.
                Framing::Sinkgen => sinkgen_frames(&buf, &mut count, &mut out, |count| {
                    reads % ack_every == 0 || count >= total
                })?,
                Framing::LengthPrefixed => lp_frames(&buf, &mut count),
                _ => torq_frames(&buf, &mut count)?,
            };
            buf.drain(..used);
            if !out.is_empty() {
                stream.write_all(&out)?;
            }
            if !warm && count >= warmup {
                warm = true;
                warmed.notify_one();
            }
        }
        Ok((Instant::now(), reads))
    })
}

/// Analysis aid: `SINKGEN_BENCH_ONE_RUNTIME=1` runs every throughput run on the
/// bench's own runtime, one after the other, as before 2026-12-04 (see
/// [`once_alone`]).
fn one_runtime() -> bool {
    std::env::var_os("SINKGEN_BENCH_ONE_RUNTIME").is_some()
}

/// [`QUEUE`], or `SINKGEN_BENCH_QUEUE` frames.
fn queue() -> usize {
    env_usize("SINKGEN_BENCH_QUEUE").unwrap_or(QUEUE)
}

/// [`PEER_READ`], or `SINKGEN_BENCH_PEER_READ` KiB.
fn peer_read() -> usize {
    env_usize("SINKGEN_BENCH_PEER_READ").map_or(PEER_READ, |kib| kib << 10)
}

/// A positive number from the environment variable `name`, if it holds one.
fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&v| v > 0)
}

/// Decodes sinkgen frames: HELLO gets WELCOME, data frames are counted and
/// acknowledged once per call (one read) if `ack` says so, given the count after the
/// call. Returns the bytes used.
fn sinkgen_frames(
    buf: &[u8],
    count: &mut u64,
    out: &mut Vec<u8>,
    ack: impl FnOnce(u64) -> bool,
) -> io::Result<usize> {
    let mut at = 0;
    let mut last = None;
    while let Some((frame, used)) =
        protocol::decode(&buf[at..], protocol::DEFAULT_MAX_FRAME).map_err(io::Error::other)?
    {
        at += used;
        match frame.header.kind {
            Kind::Hello => Control::Welcome {
                session: 1,
                have: 0,
                version: protocol::VERSION,
            }
            .append(out, 0),
            _ => {
                *count += 1;
                last = Some((frame.header.session, frame.header.sequence));
            }
        }
    }
    if let Some((session, sequence)) = last
        && ack(*count)
    {
        Control::Ack { session, sequence }.append(out, 0);
    }
    Ok(at)
}

fn lp_frames(buf: &[u8], count: &mut u64) -> usize {
    let mut at = 0;
    while buf.len() - at >= 4 {
        let len = u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize;
        if buf.len() - at - 4 < len {
            break;
        }
        at += 4 + len;
        *count += 1;
    }
    at
}

fn torq_frames(buf: &[u8], count: &mut u64) -> io::Result<usize> {
    let mut at = 0;
    while buf.len() - at >= 32 {
        let h = &buf[at..at + 32];
        let size = u32::from_le_bytes(h[24..28].try_into().expect("4 bytes")) as usize;
        if buf.len() - at - 32 < size {
            break;
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&h[..28]);
        crc.update(&buf[at + 32..at + 32 + size]);
        if crc.finalize().to_le_bytes() != h[28..32] {
            return Err(io::Error::other("torq CRC mismatch"));
        }
        at += 32 + size;
        *count += 1;
    }
    Ok(at)
}

/// Sparse frames: ping-pong through a length-prefixed sink and a sinkgen sink, in
/// ABBA order (length-prefixed first in even rounds); one peer thread answers 8
/// bytes on a return socket per frame, for both (and acknowledges the sinkgen
/// sink's). Returns (p50, p99) in microseconds of each.
async fn latency(pings: usize) -> io::Result<((f64, f64), (f64, f64))> {
    let total = WARMUP as usize + pings;
    let mut samples: [Vec<Duration>; 2] = Default::default();
    let mut legs = Vec::new();
    let mut clients = Vec::new();
    for framing in [Framing::LengthPrefixed, Framing::Sinkgen] {
        let listener = Arc::new(Listener::bind(Transport::Uds)?);
        let (peer_back, client_back) = StdUnixStream::pair()?;
        client_back.set_nonblocking(true)?;
        let sink = sink::Sink::with_framing(listener.endpoint(), framing)?;
        legs.push(EchoLeg {
            listener,
            framing,
            back: peer_back,
        });
        clients.push((sink, tokio::net::UnixStream::from_std(client_back)?));
    }
    let echo = spawn_echo(legs, total as u64);
    let msg: &'static [u8] = sink::message(&payload(SIZE));
    let mut answer = [0u8; 8];
    for i in 0..total {
        let order = if i.is_multiple_of(2) { [0, 1] } else { [1, 0] };
        for k in order {
            let (sink, back) = &mut clients[k];
            let t0 = Instant::now();
            sink.send(&msg).await?;
            back.read_exact(&mut answer).await?;
            if i >= WARMUP as usize {
                samples[k].push(t0.elapsed());
            }
        }
    }
    for (sink, _) in clients {
        if sink.close().await? != 0 {
            return Err(io::Error::other("undelivered frames in the latency case"));
        }
    }
    tokio::task::spawn_blocking(move || echo.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::other("echo thread panicked"))??;
    let [mut lp, mut acked] = samples;
    Ok((stats::p50_p99_us(&mut lp), stats::p50_p99_us(&mut acked)))
}

/// One of the latency case's sinks, as its echo peer sees it.
struct EchoLeg {
    listener: Arc<Listener>,
    framing: Framing,
    back: StdUnixStream,
}

/// Serves the latency case's legs on one thread, so that both sinks meet the same
/// peer thread wherever the scheduler placed it (with a thread per sink, one could sit
/// beside its peer's CPU for a whole run and the other across from it). Each round,
/// in the order the client follows, reads one frame from each leg (a sinkgen leg:
/// after the handshake, which comes with its first frame) and answers 8 bytes on the
/// leg's return socket, then (sinkgen) the read's ACK: as the runtime's receivers do,
/// the frames go to the application first, the ACK after. `total` rounds.
fn spawn_echo(legs: Vec<EchoLeg>, total: u64) -> JoinHandle<io::Result<()>> {
    thread::spawn(move || {
        let mut streams: Vec<Option<PeerStream>> = legs.iter().map(|_| None).collect();
        let mut bufs: Vec<Vec<u8>> = legs.iter().map(|_| Vec::new()).collect();
        let mut chunk = vec![0u8; 64 * 1024];
        let mut out = Vec::new();
        for round in 0..total {
            let order = if round.is_multiple_of(2) {
                [0, 1]
            } else {
                [1, 0]
            };
            for k in order {
                let leg = &legs[k];
                let stream = match &mut streams[k] {
                    Some(stream) => stream,
                    slot => slot.insert(leg.listener.accept()?),
                };
                let buf = &mut bufs[k];
                let mut count = 0u64;
                while count == 0 {
                    let n = stream.read(&mut chunk)?;
                    if n == 0 {
                        return Err(io::Error::other("EOF in the latency case"));
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    out.clear();
                    let used = match leg.framing {
                        Framing::Sinkgen => sinkgen_frames(buf, &mut count, &mut out, |_| true)?,
                        _ => lp_frames(buf, &mut count),
                    };
                    buf.drain(..used);
                    if count > 1 {
                        return Err(io::Error::other("two frames in one ping"));
                    }
                    if count == 1 {
                        (&leg.back).write_all(&[0u8; 8])?;
                    }
                    if !out.is_empty() {
                        stream.write_all(&out)?;
                    }
                }
            }
        }
        Ok(())
    })
}
