//! Delivery over real sockets: lazy connect, order, framing, single-flight connect.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use sinkgen_runtime::{Bytes, Framing, RelaySink, SinkBuilder, State};
use tokio::net::{TcpListener, UnixListener};

/// Frames sent over UDS arrive whole, in order, once; nothing happens before the first
/// send.
#[tokio::test]
async fn uds_frames_arrive_in_order() {
    let dir = TempDir::new();
    let path = dir.sock("a.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = RelaySink::new(&unix_url(&path)).unwrap();
    assert_eq!(sink.status().state, State::Idle);
    assert_eq!(sink.status().connect_attempts, 0);

    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_lp_to_eof(&mut s).await
    });
    for id in 0..1000u64 {
        sink.send(payload(id, 8 + (id as usize % 200)))
            .await
            .unwrap();
    }
    assert_eq!(guard("close", sink.close()).await, 0);
    let (frames, torn) = guard("peer", peer).await.unwrap();
    assert_eq!(torn, 0);
    let ids: Vec<u64> = frames.iter().map(|f| check_payload(f)).collect();
    assert_eq!(ids, (0..1000).collect::<Vec<_>>());
    let st = sink.status();
    assert_eq!(st.frames_sent, 1000);
    assert_eq!(st.connect_attempts, 1);
    assert_eq!(st.lost.total(), 0);
    assert_eq!(st.state, State::Closed);
}

/// The same over TCP on loopback, with every byte type the sink accepts.
#[tokio::test]
async fn tcp_frames_arrive_in_order_with_byte_types() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_lp_to_eof(&mut s).await
    });
    let bytes: RelaySink<Bytes> = RelaySink::new(&url).unwrap();
    bytes.send(Bytes::from_static(b"bytes")).await.unwrap();
    bytes.flush().await.unwrap();
    assert_eq!(bytes.close().await, 0);
    let (frames, torn) = guard("peer", peer).await.unwrap();
    assert_eq!(torn, 0);
    assert_eq!(frames, vec![b"bytes".to_vec()]);

    // every byte type, through one listener each time
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    let peer = tokio::spawn(async move {
        let mut out = Vec::new();
        for _ in 0..5 {
            let (mut s, _) = listener.accept().await.unwrap();
            out.extend(read_lp_to_eof(&mut s).await.0);
        }
        out
    });
    let s1: RelaySink<&'static [u8]> = RelaySink::new(&url).unwrap();
    s1.send(b"slice").await.unwrap();
    assert_eq!(s1.close().await, 0);
    let s2: RelaySink<[u8; 3]> = RelaySink::new(&url).unwrap();
    s2.send(*b"arr").await.unwrap();
    assert_eq!(s2.close().await, 0);
    let s3: RelaySink<String> = RelaySink::new(&url).unwrap();
    s3.send("string".to_owned()).await.unwrap();
    assert_eq!(s3.close().await, 0);
    let s4: RelaySink<&'static str> = RelaySink::new(&url).unwrap();
    s4.send("str").await.unwrap();
    assert_eq!(s4.close().await, 0);
    let s5: RelaySink<Vec<u8>> = RelaySink::new(&url).unwrap();
    s5.try_send(b"vec".to_vec()).unwrap();
    assert_eq!(s5.close().await, 0);
    let got = guard("peer", peer).await.unwrap();
    let want: Vec<Vec<u8>> = ["slice", "arr", "string", "str", "vec"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    assert_eq!(got, want);
}

/// Torq frames, checked by the independent decoder: magic, domain, version, source,
/// flags, sequence from 1, timestamp, payload size and CRC32.
#[tokio::test]
async fn torq_frames_decode() {
    let dir = TempDir::new();
    let path = dir.sock("torq.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .framing(Framing::Torq {
            domain: 3,
            source: 7,
        })
        .relay()
        .unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut frames = Vec::new();
        while let Some(f) = read_torq(&mut s).await {
            frames.push(f);
        }
        frames
    });
    for id in 0..300u64 {
        sink.send(payload(id, 8 + (id as usize * 7) % 300))
            .await
            .unwrap();
    }
    // an empty payload is a valid frame too
    sink.send(Vec::new()).await.unwrap();
    assert_eq!(guard("close", sink.close()).await, 0);
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let frames = guard("peer", peer).await.unwrap();
    assert_eq!(frames.len(), 301);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!((f.domain, f.version, f.source, f.flags), (3, 1, 7, 0));
        assert_eq!(
            f.sequence,
            i as u64 + 1,
            "sequence starts at 1 and increases by 1"
        );
        assert!(
            f.timestamp >= before && f.timestamp <= after,
            "timestamp is ns since the epoch"
        );
        if i > 0 {
            assert!(
                f.timestamp >= frames[i - 1].timestamp,
                "timestamps never decrease"
            );
        }
        if i < 300 {
            assert_eq!(check_payload(&f.payload), i as u64);
        } else {
            assert!(f.payload.is_empty());
        }
    }
}

/// Peer absent, then appearing later: every frame queued before it came up arrives, in
/// order, exactly once (the stream is read to EOF, so a duplicate would show).
#[tokio::test]
async fn peer_absent_then_appearing() {
    let dir = TempDir::new();
    let path = dir.sock("late.sock");
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .queue(256)
        .relay()
        .unwrap();
    for id in 0..200u64 {
        sink.send(payload(id, 64)).await.unwrap();
    }
    // It retried while the peer was missing, and kept everything queued.
    eventually("two failed attempts", || {
        sink.status().connect_attempts >= 2
    })
    .await;
    let st = sink.status();
    assert_eq!(st.queue_depth, 200);
    assert_eq!(st.frames_sent, 0);
    let err = st.last_error.expect("a connect error is recorded");
    assert!(err.is_retryable());
    assert_eq!(err.io_kind(), std::io::ErrorKind::NotFound);

    let listener = UnixListener::bind(&path).unwrap();
    let (mut s, _) = guard("accept", listener.accept()).await.unwrap();
    for id in 200..250u64 {
        sink.send(payload(id, 64)).await.unwrap();
    }
    guard("flush", sink.flush()).await.unwrap();
    assert_eq!(guard("close", sink.close()).await, 0);
    let (frames, torn) = guard("read", read_lp_to_eof(&mut s)).await;
    assert_eq!(torn, 0);
    let ids: Vec<u64> = frames.iter().map(|f| check_payload(f)).collect();
    assert_eq!(ids, (0..250).collect::<Vec<_>>());
    assert_eq!(sink.status().frames_sent, 250);
    assert_eq!(sink.status().lost.total(), 0);
}

/// 1,000 concurrent first senders share exactly one connect attempt, and the listener
/// sees exactly one connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_first_senders_one_connect() {
    let dir = TempDir::new();
    let path = dir.sock("flight.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let accepts = Arc::new(AtomicUsize::new(0));
    let peer = {
        let accepts = Arc::clone(&accepts);
        tokio::spawn(async move {
            let mut frames = Vec::new();
            loop {
                let accepted =
                    tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
                let Ok(Ok((mut s, _))) = accepted else { break };
                accepts.fetch_add(1, Ordering::SeqCst);
                frames.extend(read_lp_to_eof(&mut s).await.0);
            }
            frames
        })
    };
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path)).queue(64).relay().unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(1000));
    let mut tasks = Vec::new();
    for id in 0..1000u64 {
        let sink = sink.clone();
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            sink.send(payload(id, 32)).await.unwrap();
        }));
    }
    for t in tasks {
        guard("sender", t).await.unwrap();
    }
    assert_eq!(guard("close", sink.close()).await, 0);
    let frames = guard("peer", peer).await.unwrap();
    let mut ids: Vec<u64> = frames.iter().map(|f| check_payload(f)).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..1000).collect::<Vec<_>>());
    assert_eq!(sink.status().connect_attempts, 1);
    assert_eq!(accepts.load(Ordering::SeqCst), 1);
}

/// `wait_connected` warms a sink up without sending anything.
#[tokio::test]
async fn wait_connected_warms_up() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("tcp://{}", listener.local_addr().unwrap());
    let sink: RelaySink<Bytes> = RelaySink::new(&url).unwrap();
    let accept = tokio::spawn(async move { listener.accept().await.unwrap() });
    guard("wait", sink.wait_connected(Instant::now() + GUARD))
        .await
        .unwrap();
    assert_eq!(sink.status().state, State::Connected);
    assert_eq!(sink.status().frames_sent, 0);
    let (s, _) = accept.await.unwrap();
    drop(s);
}
