//! Receiving throughput: a `Subscription<Bytes>` next to a hand-written reader of the
//! same stream, in one process, one run (issue 14's target: at least 0.8x).
//!
//! `cargo bench -p sinkgen-benches --bench receive` (`SINKGEN_BENCH_QUICK=1`: fewer
//! frames). A blocking relay thread accepts one connection per run and writes a
//! prebuilt stream (WELCOME, PRODUCER, then N data frames of 64 B) as fast as the
//! socket takes it, while a second thread drains what the receiver sends back
//! (HELLO, ACKs). The hand-written reader does the same protocol work as the
//! subscription: it checks every frame (magic, kind, length, CRC) with
//! `protocol::decode`, takes each body out of its read buffer as `Bytes` without a
//! copy, drops duplicates by comparing sequences, and writes one ACK per read.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use sinkgen_runtime::bytes::BytesMut;
use sinkgen_runtime::protocol::{self, Control, Kind};
use sinkgen_runtime::{Bytes, Received, SubscriptionBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SESSION: u64 = 0x5eed;
const BODY: usize = 64;

fn stream(frames: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity((frames as usize) * (protocol::HEADER_LEN + BODY) + 256);
    Control::Welcome {
        session: 1,
        have: 0,
        version: 1,
    }
    .append(&mut out, 1);
    Control::Producer {
        session: SESSION,
        service: "bench".into(),
        sink: "quotes".into(),
    }
    .append(&mut out, 1);
    let body = [7u8; BODY];
    for seq in 1..=frames {
        protocol::append_data(&mut out, SESSION, seq, 1, &body);
    }
    out
}

/// Serves one connection: writes `bytes`, drains the other direction until EOF.
fn relay(path: &Path, bytes: &'static [u8]) -> thread::JoinHandle<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut reader = s.try_clone().unwrap();
        let drain = thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
        });
        let _ = s.write_all(bytes);
        drain.join().unwrap();
    })
}

async fn hand_written(path: &Path, frames: u64) -> Duration {
    let start = Instant::now();
    let mut s = tokio::net::UnixStream::connect(path).await.unwrap();
    let mut buf = BytesMut::with_capacity(64 << 10);
    let (mut got, mut last, mut out) = (0u64, 0u64, Vec::new());
    let mut sink = 0usize;
    while got < frames {
        if buf.capacity() - buf.len() < 16 << 10 {
            buf.reserve(64 << 10);
        }
        assert!(
            s.read_buf(&mut buf).await.unwrap() > 0,
            "relay closed early"
        );
        let mut advanced = false;
        while let Some((frame, used)) = protocol::decode(&buf, protocol::DEFAULT_MAX_FRAME).unwrap()
        {
            let (kind, seq) = (frame.header.kind, frame.header.sequence);
            let whole = buf.split_to(used).freeze();
            if kind == Kind::Data && seq > last {
                last = seq;
                advanced = true;
                let body: Bytes = whole.slice(protocol::HEADER_LEN..);
                sink += body.len();
                got += 1;
            }
        }
        if advanced {
            out.clear();
            Control::Ack {
                session: SESSION,
                sequence: last,
            }
            .append(&mut out, 1);
            s.write_all(&out).await.unwrap();
        }
    }
    assert_eq!(sink, frames as usize * BODY);
    start.elapsed()
}

async fn subscription(path: &Path, frames: u64) -> Duration {
    let start = Instant::now();
    let mut sub = SubscriptionBuilder::new(format!("unix://{}", path.display()))
        .identity("bench", "quotes")
        .build::<Bytes>()
        .unwrap();
    let mut sink = 0usize;
    for _ in 0..frames {
        match sub.recv().await {
            Some(Received::Message { message, .. }) => sink += message.len(),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(sink, frames as usize * BODY);
    start.elapsed()
}

/// CPU time of the calling thread (the receiver: `block_on` polls it on this thread,
/// its reads and acknowledgements included).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let quick = std::env::var_os("SINKGEN_BENCH_QUICK").is_some() || !bench;
    let (frames, reps) = if quick { (20_000, 3) } else { (300_000, 31) };
    let bytes: &'static [u8] = Box::leak(stream(frames).into_boxed_slice());
    let current = std::env::var("SINKGEN_BENCH_RUNTIME").is_ok_and(|v| v == "current");
    let rt = if current {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };
    let dir: PathBuf =
        std::env::temp_dir().join(format!("sinkgen-bench-receive-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("relay.sock");
    let (mut sub_rates, mut raw_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut sub_cpu, mut raw_cpu) = (Vec::new(), Vec::new());
    for rep in 0..reps {
        let mut run = |which: bool| {
            let peer = relay(&path, bytes);
            let cpu = thread_cpu();
            let took = rt.block_on(async {
                if which {
                    subscription(&path, frames).await
                } else {
                    hand_written(&path, frames).await
                }
            });
            let cpu_ns = (thread_cpu() - cpu).as_nanos() as f64 / frames as f64;
            if which {
                sub_cpu.push(cpu_ns)
            } else {
                raw_cpu.push(cpu_ns)
            }
            peer.join().unwrap();
            frames as f64 / took.as_secs_f64()
        };
        // Alternate which design goes first.
        let only = std::env::var("SINKGEN_BENCH_ONLY").unwrap_or_default();
        let (s, r) = if only == "sub" {
            (run(true), 1.0)
        } else if only == "raw" {
            (1.0, run(false))
        } else if rep % 2 == 0 {
            let s = run(true);
            (s, run(false))
        } else {
            let r = run(false);
            (run(true), r)
        };
        sub_rates.push(s);
        raw_rates.push(r);
        ratios.push(s / r);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (s, r, ratio) = (
        median(&mut sub_rates),
        median(&mut raw_rates),
        median(&mut ratios),
    );
    println!(
        "# receive throughput: {frames} frames of {BODY} B over UDS, {reps} runs each, medians"
    );
    let (sc, rc) = (median(&mut sub_cpu), median(&mut raw_cpu));
    println!("| design | frames/s | receiver CPU per frame |");
    println!("|---|---:|---:|");
    println!("| hand-written reader | {:.2} M | {rc:.0} ns |", r / 1e6);
    println!("| Subscription<Bytes> | {:.2} M | {sc:.0} ns |", s / 1e6);
    println!(
        "ratio subscription / hand-written (median of per-run ratios): {ratio:.2} (target >= 0.80): {}",
        if ratio >= 0.8 { "met" } else { "MISSED" }
    );
    if bench && std::env::var_os("SINKGEN_BENCH_STRICT").is_some() && ratio < 0.8 {
        std::process::exit(1);
    }
}
