//! `Duration::MAX` is the usual "no limit": as a send timeout, connect timeout,
//! linger or backoff it must mean "wait as long as it takes", never an overflow panic.

mod common;

use std::time::Duration;

use common::*;
use sinkgen_runtime::{RelaySink, SendErrorKind, SinkBuilder, WaitError};
use tokio::net::UnixListener;

#[tokio::test]
async fn no_limit_timeouts_on_a_connected_sink() {
    let dir = TempDir::new();
    let path = dir.sock("max.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .send_timeout(Duration::MAX)
        .connect_timeout(Duration::MAX)
        .backoff(Duration::MAX, Duration::MAX)
        .relay()
        .unwrap();
    let reader = tokio::spawn(async move {
        let (mut peer, _) = listener.accept().await.unwrap();
        read_lp_to_eof(&mut peer).await
    });
    for id in 0..3u64 {
        sink.send(payload(id, 32)).await.unwrap();
    }
    guard("flush", sink.flush()).await.unwrap();
    sink.send(payload(3, 32)).await.unwrap();
    // close() lingers for the send timeout: here, until everything is written.
    assert_eq!(guard("close", sink.close()).await, 0);
    let (frames, torn) = guard("read", reader).await.unwrap();
    assert_eq!(torn, 0);
    assert_eq!(frames.len(), 4);
    assert_eq!(sink.status().frames_sent, 4);
}

#[tokio::test]
async fn no_limit_waits_end_when_the_sink_closes() {
    let dir = TempDir::new();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&dir.sock("absent.sock")))
        .send_timeout(Duration::MAX)
        .backoff(Duration::from_millis(1), Duration::MAX)
        .queue(1)
        .relay()
        .unwrap();
    sink.send(payload(0, 16)).await.unwrap();
    // The queue is full: this send waits without limit, and so does a flush.
    let blocked = tokio::spawn({
        let sink = sink.clone();
        async move { sink.send(payload(1, 16)).await.map_err(|e| e.kind()) }
    });
    let flushing = tokio::spawn({
        let sink = sink.clone();
        async move { sink.flush().await }
    });
    eventually("a few attempts", || sink.status().connect_attempts >= 3).await;
    assert!(!blocked.is_finished() && !flushing.is_finished());
    assert_eq!(
        guard("close", sink.close_with_linger(Duration::ZERO)).await,
        1
    );
    let sent = guard("blocked send", blocked).await.unwrap();
    assert_eq!(sent, Err(SendErrorKind::Closed));
    let flushed = guard("flush", flushing).await.unwrap();
    assert!(matches!(flushed, Err(WaitError::Closed)), "{flushed:?}");
}

#[tokio::test]
async fn no_limit_linger_on_close() {
    let dir = TempDir::new();
    let path = dir.sock("linger.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path)).relay().unwrap();
    let reader = tokio::spawn(async move {
        let (mut peer, _) = listener.accept().await.unwrap();
        read_lp_to_eof(&mut peer).await
    });
    sink.send(payload(0, 16)).await.unwrap();
    assert_eq!(
        guard("close", sink.close_with_linger(Duration::MAX)).await,
        0
    );
    let (frames, _) = guard("read", reader).await.unwrap();
    assert_eq!(frames.len(), 1);
}
