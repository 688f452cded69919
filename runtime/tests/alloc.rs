//! A connected sink allocates nothing per frame: a counting global allocator (this
//! test binary only) counts every allocation of every thread — the sender, the sink's
//! connection task and the peer — while frames are sent and written.
#![allow(unsafe_code)]

mod common;
mod counting;

use std::io::{Read, Write};
use std::time::Instant;

use common::*;
use sinkgen_runtime::protocol::{self, Control, Kind};
use sinkgen_runtime::{Framing, RelaySink, SinkBuilder};

static PAYLOAD: [u8; 64] = [7; 64];

/// Sends `n` frames and waits until they are written; returns allocations counted.
async fn counted(sink: &RelaySink<&'static [u8]>, n: usize) -> u64 {
    counting::start();
    for _ in 0..n {
        sink.send(&PAYLOAD).await.unwrap();
    }
    let flushed = sink.flush().await;
    let allocs = counting::stop();
    flushed.unwrap();
    allocs
}

/// Frames sent by [`warm_up`].
const WARM_UP: u64 = 3 * 1024 + 50_000;

/// Both buffers (the one senders fill, the one the task writes) grow to their bound
/// once. Sends one by one may all go out as direct writes and never fill a queue, so
/// a full queue (1,024 frames) is first handed over in one call, three times (the task
/// swaps the buffers in between), then a stream of single sends follows.
async fn warm_up(sink: &RelaySink<&'static [u8]>) {
    for _ in 0..3 {
        sink.send_all(std::iter::repeat_n(&PAYLOAD[..], 1024))
            .await
            .unwrap();
        sink.flush().await.unwrap();
    }
    counted(sink, 50_000).await;
}

/// A peer on a plain thread, reading into fixed buffers until the sink closes:
/// returns the bytes of data frames read. With sinkgen framing it answers the
/// handshake and acknowledges each read, as receivers do; otherwise it drains.
fn spawn_peer(
    listener: std::os::unix::net::UnixListener,
    framing: Framing,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut chunk = vec![0u8; 1 << 16];
        let mut total = 0u64;
        if framing != Framing::Sinkgen {
            while let Ok(n @ 1..) = s.read(&mut chunk) {
                total += n as u64;
            }
            return total;
        }
        // Room for a read after a partial frame: no growth, so no allocation.
        let mut buf = Vec::with_capacity(1 << 18);
        let mut out = Vec::with_capacity(1 << 10);
        while let Ok(n @ 1..) = s.read(&mut chunk) {
            buf.extend_from_slice(&chunk[..n]);
            let (mut at, mut last) = (0, None);
            while let Some((frame, used)) =
                protocol::decode(&buf[at..], protocol::DEFAULT_MAX_FRAME).unwrap()
            {
                at += used;
                let h = frame.header;
                if h.kind == Kind::Hello {
                    let version = protocol::VERSION;
                    Control::Welcome {
                        session: 1,
                        have: 0,
                        version,
                    }
                    .append(&mut out, 0);
                } else {
                    total += used as u64;
                    last = Some((h.session, h.sequence));
                }
            }
            buf.drain(..at);
            if let Some((session, sequence)) = last {
                Control::Ack { session, sequence }.append(&mut out, 0);
            }
            if s.write_all(&out).is_err() {
                break;
            }
            out.clear();
        }
        total
    })
}

fn run(framing: Framing, flavor_multi: bool) {
    let dir = TempDir::new();
    let path = dir.sock("alloc.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let peer = spawn_peer(listener, framing);
    let rt = if flavor_multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .unwrap();
    let header = framing.header_len() as u64;
    rt.block_on(async {
        let sink: RelaySink<&'static [u8]> = SinkBuilder::new(unix_url(&path))
            .framing(framing)
            .queue(1024)
            .relay()
            .unwrap();
        sink.wait_connected(Instant::now() + GUARD).await.unwrap();
        warm_up(&sink).await;
        let small = counted(&sink, 10_000).await;
        let large = counted(&sink, 100_000).await;
        eprintln!("allocations: {small} for 10,000 frames, {large} for 100,000 frames");
        assert!(small <= 4, "{small} allocations for 10,000 frames");
        assert!(large <= 4, "{large} allocations for 100,000 frames");
        let st = sink.status();
        assert_eq!(st.frames_sent, WARM_UP + 110_000);
        assert_eq!(sink.close().await, 0);
    });
    drop(rt);
    let bytes = peer.join().unwrap();
    assert_eq!(bytes, (WARM_UP + 110_000) * (64 + header));
}

/// Sends sparse frames (each written directly by its sender, so the connection task
/// takes no batch) for longer than an idle sink keeps its buffers, then a burst:
/// returns allocations counted over both.
async fn counted_sparse_then_burst(sink: &RelaySink<&'static [u8]>) -> u64 {
    counting::start();
    let until = Instant::now() + std::time::Duration::from_millis(1_400);
    let mut sparse = 0u64;
    while Instant::now() < until {
        sink.send(&PAYLOAD).await.unwrap();
        sparse += 1;
        std::thread::sleep(std::time::Duration::from_micros(300));
    }
    for _ in 0..20_000 {
        sink.send(&PAYLOAD).await.unwrap();
    }
    let flushed = sink.flush().await;
    let allocs = counting::stop();
    flushed.unwrap();
    assert!(sparse > 100, "only {sparse} sparse frames");
    allocs
}

/// A sink that streams through its senders' direct writes is not idle: it keeps its
/// buffers, so a burst after a long sparse stretch allocates nothing either (with
/// sinkgen framing, the frames written directly are kept in reused buffers too).
fn streaming_by_direct_writes_keeps_the_buffers(framing: Framing) {
    let dir = TempDir::new();
    let path = dir.sock("sparse.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let peer = spawn_peer(listener, framing);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sink: RelaySink<&'static [u8]> = SinkBuilder::new(unix_url(&path))
            .framing(framing)
            .queue(1024)
            .relay()
            .unwrap();
        sink.wait_connected(Instant::now() + GUARD).await.unwrap();
        warm_up(&sink).await;
        let allocs = counted_sparse_then_burst(&sink).await;
        eprintln!("allocations: {allocs} for a sparse stretch then a burst");
        assert!(allocs <= 4, "{allocs} allocations");
        assert_eq!(sink.close().await, 0);
    });
    drop(rt);
    peer.join().unwrap();
}

#[test]
fn no_allocation_per_frame() {
    // The counter really counts.
    let (v, allocs) = counting::count(|| std::hint::black_box(Vec::<u8>::with_capacity(16)));
    drop(v);
    assert_eq!(allocs, 1);
    // One test function: the counter is process-wide, so the cases run one by one.
    run(Framing::LengthPrefixed, false);
    run(
        Framing::Torq {
            domain: 1,
            source: 2,
        },
        false,
    );
    run(Framing::LengthPrefixed, true);
    // Acknowledged delivery: frames kept until acknowledged, in reused buffers.
    run(Framing::Sinkgen, false);
    run(Framing::Sinkgen, true);
    streaming_by_direct_writes_keeps_the_buffers(Framing::LengthPrefixed);
    streaming_by_direct_writes_keeps_the_buffers(Framing::Sinkgen);
}
