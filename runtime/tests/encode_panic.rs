//! A message whose `Encode::encode` panics halfway (a bug in user code) leaves no trace
//! on the wire: the peer parses exactly the other frames, whole and in order, and every
//! counter stays exact, whether the peer is connected or absent at the time.

mod common;

use std::time::Duration;

use common::*;
use sinkgen_runtime::{Framing, RelaySink, SinkBuilder};
use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;

/// Sends the bad message from a task of its own (as tokio contains a panic there) and
/// checks the panic reached that task.
async fn send_bad(sink: &RelaySink<Msg>) {
    let bad = sink.clone();
    let joined = guard(
        "bad send",
        tokio::spawn(async move { bad.send(Msg::Bad(64)).await }),
    )
    .await;
    assert!(
        joined.unwrap_err().is_panic(),
        "the panic of encode reaches the sender"
    );
}

#[tokio::test]
async fn panicking_encode_leaves_no_trace_on_a_connected_peer() {
    let dir = TempDir::new();
    let path = dir.sock("panic.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Msg> = SinkBuilder::new(unix_url(&path)).relay().unwrap();
    let reader = tokio::spawn(async move {
        let (mut peer, _) = listener.accept().await.unwrap();
        read_lp_to_eof(&mut peer).await
    });
    for id in 0..5u64 {
        sink.send(Msg::Good(payload(id, 64))).await.unwrap();
    }
    send_bad(&sink).await;
    for id in 5..10u64 {
        sink.send(Msg::Good(payload(id, 64))).await.unwrap();
    }
    guard("flush", sink.flush()).await.unwrap();
    assert_eq!(guard("close", sink.close()).await, 0);
    let (frames, torn) = guard("read", reader).await.unwrap();
    assert_eq!(torn, 0, "no torn bytes at the end of the stream");
    let ids: Vec<u64> = frames.iter().map(|f| check_payload(f)).collect();
    assert_eq!(ids, (0..10).collect::<Vec<_>>(), "exactly the good frames");
    let st = sink.status();
    assert_eq!(st.frames_sent, 10);
    assert_eq!(st.bytes_sent, 10 * (4 + 64));
    assert_eq!(st.lost.total(), 0);
}

#[tokio::test]
async fn panicking_encode_leaves_no_trace_in_a_torq_stream() {
    let dir = TempDir::new();
    let path = dir.sock("panic-torq.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Msg> = SinkBuilder::new(unix_url(&path))
        .framing(Framing::Torq {
            domain: 3,
            source: 4,
        })
        .relay()
        .unwrap();
    let reader = tokio::spawn(async move {
        let (mut peer, _) = listener.accept().await.unwrap();
        let mut frames = Vec::new();
        while let Some(f) = read_torq(&mut peer).await {
            frames.push(f);
        }
        frames
    });
    for id in 0..3u64 {
        sink.send(Msg::Good(payload(id, 64))).await.unwrap();
    }
    send_bad(&sink).await;
    for id in 3..6u64 {
        sink.send(Msg::Good(payload(id, 64))).await.unwrap();
    }
    assert_eq!(guard("close", sink.close()).await, 0);
    let frames = guard("read", reader).await.unwrap();
    let ids: Vec<u64> = frames.iter().map(|f| check_payload(&f.payload)).collect();
    assert_eq!(ids, (0..6).collect::<Vec<_>>());
    let seqs: Vec<u64> = frames.iter().map(|f| f.sequence).collect();
    assert_eq!(
        seqs,
        (1..=6).collect::<Vec<_>>(),
        "the bad frame took no sequence"
    );
    assert_eq!(sink.status().frames_sent, 6);
}

/// The bad frame is sent while the peer is absent; the first peer then dies in the
/// middle of a big frame, so the task counts the whole frames of its batch
/// (`connection_failed`): the count must match the good frames only.
#[tokio::test]
async fn panicking_encode_while_the_peer_is_absent() {
    let dir = TempDir::new();
    let path = dir.sock("panic-absent.sock");
    let sink: RelaySink<Msg> = SinkBuilder::new(unix_url(&path))
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .send_timeout(GUARD)
        .relay()
        .unwrap();
    for id in 0..5u64 {
        sink.send(Msg::Good(payload(id, 64))).await.unwrap();
    }
    send_bad(&sink).await;
    for id in 5..10u64 {
        sink.send(Msg::Good(payload(id, 64))).await.unwrap();
    }
    // 4 MiB: far more than a Unix socket buffers, so it is mid-write at the kill.
    let big = 4 << 20;
    sink.send(Msg::Good(payload(10, big))).await.unwrap();
    eventually("an attempt on the absent peer", || {
        sink.status().connect_attempts >= 1
    })
    .await;

    let listener = UnixListener::bind(&path).unwrap();
    let (mut first, _) = guard("accept 1", listener.accept()).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..10 {
        let frame = guard("read", read_lp(&mut first)).await.unwrap();
        ids.push(check_payload(&frame));
    }
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
    let mut partial = vec![0u8; 1 << 20];
    guard("read partial", first.read_exact(&mut partial))
        .await
        .unwrap();
    drop(first); // killed with unread data: the big frame is torn

    let (mut second, _) = guard("accept 2", listener.accept()).await.unwrap();
    let reader = tokio::spawn(async move { read_lp_to_eof(&mut second).await });
    guard("flush", sink.flush()).await.unwrap();
    assert_eq!(guard("close", sink.close()).await, 0);
    let (frames, torn) = guard("read 2", reader).await.unwrap();
    assert_eq!(torn, 0);
    assert_eq!(frames.len(), 1, "the torn frame, written again whole");
    assert_eq!(check_payload(&frames[0]), 10);
    let st = sink.status();
    assert_eq!(st.frames_sent, 11, "each good frame counted once");
    assert_eq!(st.lost.total(), 0);
    assert_eq!(st.queue_depth, 0);
}
