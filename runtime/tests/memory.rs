//! An idle sink gives back the buffer memory a burst made it take: a global allocator
//! (this test binary only) tracks the bytes the process holds on the heap.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

use common::*;
use sinkgen_runtime::{RelaySink, SinkBuilder};
use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;

/// Bytes currently allocated (since the start of the process).
static HELD: AtomicI64 = AtomicI64::new(0);

struct Tracking;

fn add(bytes: usize, sign: i64) {
    HELD.fetch_add(sign * bytes as i64, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged;
// tracking touches only an atomic and never allocates.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size(), 1);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size(), 1);
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(layout.size(), -1);
        add(new_size, 1);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(layout.size(), -1);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

fn held() -> i64 {
    HELD.load(Ordering::Relaxed)
}

const FRAME: usize = 64;
const BURST: usize = 4000;
/// Heap a burst of `BURST` frames needs in one buffer: 4000 * (4 + 64) bytes.
const BURST_BYTES: i64 = (BURST * (4 + FRAME)) as i64;

/// Queues `BURST` frames without yielding (current-thread runtime: the task cannot
/// take any meanwhile), so one buffer holds the whole burst, then waits until written.
async fn burst(sink: &RelaySink<&'static [u8]>, msg: &'static [u8]) {
    for _ in 0..BURST {
        sink.try_send(msg).unwrap();
    }
    guard("flush", sink.flush()).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn an_idle_sink_gives_back_its_buffers_after_a_burst() {
    let dir = TempDir::new();
    let path = dir.sock("mem.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        loop {
            match s.read(&mut buf).await.unwrap() {
                0 => return total,
                n => total += n,
            }
        }
    });
    let msg: &'static [u8] = &[7u8; FRAME];
    let sink: RelaySink<&'static [u8]> = SinkBuilder::new(unix_url(&path)).relay().unwrap();
    sink.send(msg).await.unwrap();
    guard("flush", sink.flush()).await.unwrap();
    let base = held();

    // Two bursts: the first leaves its buffer with the task (double buffering), the
    // second the queue's buffer.
    burst(&sink, msg).await;
    burst(&sink, msg).await;
    let after_bursts = held() - base;
    assert!(
        after_bursts >= BURST_BYTES,
        "the bursts made the sink take memory ({after_bursts} bytes)"
    );

    // Idle now: the buffers shrink back to a small floor.
    eventually("the buffers given back", || held() - base < BURST_BYTES / 4).await;

    // And the sink still works: a new burst is written whole.
    burst(&sink, msg).await;
    assert_eq!(guard("close", sink.close()).await, 0);
    let total = guard("peer", peer).await.unwrap();
    assert_eq!(total, (1 + 3 * BURST) * (4 + FRAME));
    assert_eq!(sink.status().frames_sent, (1 + 3 * BURST) as u64);
}
