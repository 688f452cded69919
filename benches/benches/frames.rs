//! Sends a fixed number of 64 B frames through one connected `RelaySink` over UDS, for
//! counting instructions per frame with callgrind (repeatable whatever the machine's
//! load, unlike the timed cases of the `runtime` bench):
//!
//! ```text
//! cargo bench -p sinkgen-benches --bench frames --no-run
//! valgrind --tool=callgrind target/release/deps/frames-<hash> <framing> <frames>
//! ```
//!
//! `<framing>` is `lp`, `torq` or `sinkgen`: the peer thread reads like the `acked`
//! case of the `runtime` bench (length prefixes walked, torq CRCs checked, sinkgen
//! frames decoded with one cumulative ACK per read); or `lp-drain` and `torq-drain`:
//! the peer only counts bytes, like the `framing` case's peer. Instructions per frame are the
//! difference of two runs with different frame counts, divided by the difference of
//! the counts (the setup cancels out).
//!
//! By default the runtime has one worker and the sender runs on the main thread (the
//! configuration of the callgrind figures in BENCHMARKS.md); with
//! `SINKGEN_FRAMES_WORKERS=2` it has two workers and the sender is a spawned task, as
//! in the `runtime` bench's cases (for `perf record` or `perf stat` of that
//! configuration).

use std::io::{self, Read, Write};
use std::thread;

use sinkgen_benches::net::{Listener, Transport};
use sinkgen_benches::payload;
use sinkgen_runtime::protocol::{self, Control, Kind};
use sinkgen_runtime::{Framing, RelaySink, SinkBuilder};

const SIZE: usize = 64;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` without arguments (all benches) runs it briefly.
    let name = args.get(1).map_or("torq", String::as_str);
    let drain = name.ends_with("-drain");
    let frames: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1_000);
    let framing = match name.trim_end_matches("-drain") {
        "lp" => Framing::LengthPrefixed,
        "sinkgen" => Framing::Sinkgen,
        "torq" => Framing::Torq {
            domain: 1,
            source: 7,
        },
        // `cargo bench` passes `--bench`.
        _ => Framing::Torq {
            domain: 1,
            source: 7,
        },
    };
    // `SINKGEN_FRAMES_WORKERS=2`: two workers with the sender as a spawned task, as
    // in the `runtime` bench's cases; by default one worker and the sender on the
    // main thread (the callgrind figures in BENCHMARKS.md).
    let workers: usize = std::env::var("SINKGEN_FRAMES_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    if workers > 1 {
        rt.block_on(async { tokio::spawn(run(framing, frames, drain)).await })
            .map_err(io::Error::other)??;
    } else {
        rt.block_on(run(framing, frames, drain))?;
    }
    let peer = if drain { "drained" } else { "checked" };
    println!("{framing:?}: {frames} frames of {SIZE} B delivered ({peer})");
    Ok(())
}

async fn run(framing: Framing, frames: u64, drain: bool) -> io::Result<()> {
    let listener = Listener::bind(Transport::Uds)?;
    let endpoint = listener.endpoint().to_owned();
    let peer = thread::spawn(move || {
        if drain {
            let total = frames * (framing.header_len() + SIZE) as u64;
            drain_bytes(&listener, total)
        } else {
            read_all(&listener, framing, frames)
        }
    });
    let sink: RelaySink<&'static [u8]> = SinkBuilder::new(endpoint)
        .framing(framing)
        .queue(4096)
        .relay()
        .map_err(io::Error::other)?;
    let msg: &'static [u8] = payload(SIZE).leak();
    for _ in 0..frames {
        sink.send(msg)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
    }
    tokio::task::spawn_blocking(move || peer.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::other("peer thread panicked"))??;
    match sink.close().await {
        0 => Ok(()),
        n => Err(io::Error::other(format!("{n} frames undelivered"))),
    }
}

/// Reads until `total` frames arrived, checking each as the `acked` case does.
fn read_all(listener: &Listener, framing: Framing, total: u64) -> io::Result<()> {
    let mut stream = listener.accept()?;
    let mut buf = Vec::with_capacity(512 * 1024);
    let mut chunk = vec![0u8; 256 * 1024];
    let mut out = Vec::new();
    let mut count = 0u64;
    while count < total {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::other(format!("EOF after {count} frames")));
        }
        buf.extend_from_slice(&chunk[..n]);
        out.clear();
        let mut at = 0;
        match framing {
            Framing::Sinkgen => {
                let mut last = None;
                while let Some((frame, used)) =
                    protocol::decode(&buf[at..], protocol::DEFAULT_MAX_FRAME)
                        .map_err(io::Error::other)?
                {
                    at += used;
                    if frame.header.kind == Kind::Hello {
                        Control::Welcome {
                            session: 1,
                            have: 0,
                            version: protocol::VERSION,
                        }
                        .append(&mut out, 0);
                    } else {
                        count += 1;
                        last = Some((frame.header.session, frame.header.sequence));
                    }
                }
                if let Some((session, sequence)) = last {
                    Control::Ack { session, sequence }.append(&mut out, 0);
                }
            }
            Framing::LengthPrefixed => {
                while buf.len() - at >= 4 {
                    let len = u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"));
                    if buf.len() - at - 4 < len as usize {
                        break;
                    }
                    at += 4 + len as usize;
                    count += 1;
                }
            }
            _ => {
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
                    count += 1;
                }
            }
        }
        buf.drain(..at);
        if !out.is_empty() {
            stream.write_all(&out)?;
        }
    }
    Ok(())
}

/// Reads until `total` bytes arrived, looking at none of them.
fn drain_bytes(listener: &Listener, total: u64) -> io::Result<()> {
    let mut stream = listener.accept()?;
    let mut chunk = vec![0u8; 256 * 1024];
    let mut read = 0u64;
    while read < total {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::other(format!(
                "EOF after {read} of {total} bytes"
            )));
        }
        read += n as u64;
    }
    Ok(())
}
