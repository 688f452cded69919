//! Allocations per frame on a connected sink, counted by a global allocator.
//!
//! The allocator counts only while a measurement window is open (one relaxed load per
//! allocation otherwise), so it does not disturb the other cases. It counts every
//! thread of the process: the sender, the sink's writer task and the peer.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sinkgen_benches::baseline::{self, CoalescingWriter};
use sinkgen_benches::config::Sizes;
use sinkgen_benches::net::{ClientStream, Listener, Transport};
use sinkgen_benches::{payload, peer};

use tokio::sync::Notify;

use crate::report::{Table, Verdict, pass_fail};
use crate::sink;
use crate::throughput::join_drain;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Bytes freed while the window is open (a `realloc` frees the old size).
static FREED: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting allocations while a window is open.
pub struct Counting;

fn count(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }
}

fn freed(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        FREED.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged;
// counting touches only atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        freed(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        freed(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// An open counting window; counting stops when it is closed or dropped.
pub struct Window;

impl Window {
    /// Resets the counters and starts counting.
    pub fn open() -> Window {
        ALLOCS.store(0, Ordering::Relaxed);
        BYTES.store(0, Ordering::Relaxed);
        FREED.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::SeqCst);
        Window
    }
    /// Heap bytes allocated minus bytes freed since `open` (what the process took
    /// and still holds, counting frees of older blocks as negative).
    pub fn held(&self) -> i64 {
        BYTES.load(Ordering::Relaxed) as i64 - FREED.load(Ordering::Relaxed) as i64
    }
    /// Stops counting; returns (allocations, bytes) since `open`.
    pub fn close(self) -> (u64, u64) {
        COUNTING.store(false, Ordering::SeqCst);
        (
            ALLOCS.load(Ordering::Relaxed),
            BYTES.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        COUNTING.store(false, Ordering::SeqCst);
    }
}

const SIZE: usize = 64;
const WARMUP: u64 = 10_000;

pub async fn run(sizes: Sizes) -> io::Result<Vec<Verdict>> {
    let n = sizes.alloc_frames;
    println!("## Allocations per frame on a connected sink, {SIZE} B frames, UDS");
    println!(
        "{WARMUP} warm-up frames, then {n} frames counted (all threads) until the sink has written them"
    );
    println!();
    let payload = payload(SIZE);
    let mut table = Table::new(&["design", "allocations", "bytes", "per frame"]);

    let listener = Arc::new(Listener::bind(Transport::Uds)?);
    let drain = peer::spawn_drain(
        Arc::clone(&listener),
        SIZE,
        WARMUP + n,
        WARMUP,
        Arc::new(Notify::new()),
    );
    let sink = sink::Sink::new(listener.endpoint())?;
    let msg = sink::message(&payload);
    for _ in 0..WARMUP {
        sink.send(&msg).await?;
    }
    sink.flush().await?;
    let window = Window::open();
    for _ in 0..n {
        sink.send(&msg).await?;
    }
    sink.flush().await?;
    let (allocs, bytes) = window.close();
    let undelivered = sink.close().await?;
    if undelivered != 0 {
        return Err(io::Error::other(format!(
            "sink reported {undelivered} undelivered frames"
        )));
    }
    join_drain(drain).await?;
    let per_frame = allocs as f64 / n as f64;
    // "No allocation per frame": fewer than one allocation per thousand frames, so a
    // one-off allocation (a buffer growing once) does not count as per-frame.
    let pass = allocs * 1000 < n;
    table.row(vec![
        "(a) sinkgen send".into(),
        allocs.to_string(),
        bytes.to_string(),
        format!("{per_frame:.4} {}", pass_fail(pass)),
    ]);

    for coalescing in [true, false] {
        let listener = Arc::new(Listener::bind(Transport::Uds)?);
        let drain = peer::spawn_drain(
            Arc::clone(&listener),
            SIZE,
            WARMUP + n,
            WARMUP,
            Arc::new(Notify::new()),
        );
        let ClientStream::Uds(mut stream) = listener.connect().await? else {
            unreachable!("a UDS listener gives a UDS client")
        };
        let (allocs, bytes) = if coalescing {
            let writer = CoalescingWriter::spawn(stream, baseline::DEFAULT_CAP);
            for _ in 0..WARMUP {
                writer.send(&payload).await;
            }
            let window = Window::open();
            for _ in 0..n {
                writer.send(&payload).await;
            }
            writer.close().await?;
            window.close()
        } else {
            baseline::write_per_frame(&mut stream, &payload, WARMUP).await?;
            let window = Window::open();
            baseline::write_per_frame(&mut stream, &payload, n).await?;
            window.close()
        };
        join_drain(drain).await?;
        table.row(vec![
            if coalescing {
                "(b) coalescing writer".into()
            } else {
                "(c) write per frame".into()
            },
            allocs.to_string(),
            bytes.to_string(),
            format!("{:.4}", allocs as f64 / n as f64),
        ]);
    }
    table.print();
    Ok(vec![Verdict::new(
        "allocations per frame (connected sink)",
        format!("{per_frame:.4} ({allocs} in {n} frames)"),
        "0",
        pass,
    )])
}
