//! `close()` returns exactly the frames it did not deliver: whatever the linger (even
//! zero) and whichever worker the connection task runs on, and also when that task
//! lives on a runtime that is alive but no longer polled.

mod common;

use std::time::Duration;

use common::*;
use sinkgen_runtime::{RelaySink, SinkBuilder, State};

fn absent_peer_sink(dir: &TempDir) -> RelaySink<Vec<u8>> {
    SinkBuilder::new(unix_url(&dir.sock("absent.sock")))
        .backoff(Duration::from_millis(1), Duration::from_millis(2))
        .relay()
        .unwrap()
}

/// Peer absent, 2 frames queued, close with a linger of 0 or 1 us: the close must
/// count both, in every run (the task on the other worker must not count them first
/// unseen by the close).
#[test]
fn close_with_a_tiny_linger_counts_every_queued_frame() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = TempDir::new();
        for run in 0..400u32 {
            let sink = absent_peer_sink(&dir);
            sink.send(payload(1, 16)).await.unwrap();
            sink.send(payload(2, 16)).await.unwrap();
            let linger = Duration::from_micros(u64::from(run % 2));
            let undelivered = guard("close", sink.close_with_linger(linger)).await;
            assert_eq!(undelivered, 2, "run {run}, linger {linger:?}");
            let st = sink.status();
            assert_eq!(st.lost.closed, 2, "run {run}");
            assert_eq!(st.frames_sent, 0);
            assert_eq!(st.queue_depth, 0);
        }
    });
}

/// The sink's task lives on a current-thread runtime that queued two frames and is
/// then no longer driven; close from another runtime counts the two queued frames.
#[test]
fn close_counts_frames_of_a_task_whose_runtime_is_not_polled() {
    let dir = TempDir::new();
    let sink = absent_peer_sink(&dir);
    let idle = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    idle.block_on(async {
        sink.send(payload(1, 16)).await.unwrap();
        sink.send(payload(2, 16)).await.unwrap();
    });
    let closer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let undelivered = closer.block_on(guard(
        "close",
        sink.close_with_linger(Duration::from_millis(10)),
    ));
    assert_eq!(undelivered, 2, "the two frames still queued");
    let st = sink.status();
    assert_eq!(st.lost.closed, 2);
    assert_eq!(st.queue_depth, 0);
    assert_eq!(st.state, State::Closed);
    // The task, when its runtime goes, counts nothing twice.
    drop(idle);
    let st = sink.status();
    assert_eq!(st.lost.total(), 2);
    assert_eq!(st.frames_sent, 0);
}
