//! Lifecycle edges: a runtime that goes away under a sink, dropping a connected sink,
//! flush bounds, oversize and mis-sized messages.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sinkgen_runtime::bytes::BufMut;
use sinkgen_runtime::{Encode, RelaySink, SendErrorKind, SinkBuilder, State, WaitError};
use tokio::net::UnixListener;

/// A sink used from one runtime that then shuts down (as a process-wide sink used by
/// several `#[tokio::test]`s) keeps its queued frames, and the next send from another
/// runtime restarts the connection task, which delivers them all in order.
#[test]
fn frames_survive_the_runtime_that_queued_them() {
    let dir = TempDir::new();
    let path = dir.sock("rt.sock");
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .backoff(Duration::from_millis(2), Duration::from_millis(5))
        .relay()
        .unwrap();
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    first.block_on(async {
        for id in 0..10u64 {
            sink.send(payload(id, 32)).await.unwrap();
        }
        eventually("an attempt", || sink.status().connect_attempts >= 1).await;
    });
    drop(first);
    assert_eq!(
        sink.status().state,
        State::Idle,
        "the task went with its runtime"
    );
    assert_eq!(sink.status().queue_depth, 10);

    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        let listener = UnixListener::bind(&path).unwrap();
        sink.send(payload(10, 32)).await.unwrap();
        let (mut s, _) = guard("accept", listener.accept()).await.unwrap();
        assert_eq!(guard("close", sink.close()).await, 0);
        let (frames, torn) = guard("read", read_lp_to_eof(&mut s)).await;
        assert_eq!(torn, 0);
        let ids: Vec<u64> = frames.iter().map(|f| check_payload(f)).collect();
        assert_eq!(ids, (0..11).collect::<Vec<_>>());
    });
}

/// Dropping the last handle of a connected sink writes what is queued before the task
/// ends: the peer reads every frame, then EOF.
#[tokio::test]
async fn dropping_a_connected_sink_delivers_its_queue() {
    let dir = TempDir::new();
    let path = dir.sock("drop.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .send_timeout(GUARD)
        .relay()
        .unwrap();
    sink.wait_connected(Instant::now() + GUARD).await.unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    let reader = tokio::spawn(async move { read_lp_to_eof(&mut s).await });
    for id in 0..500u64 {
        sink.send(payload(id, 1000)).await.unwrap();
    }
    drop(sink);
    let (frames, torn) = guard("read", reader).await.unwrap();
    assert_eq!(torn, 0);
    let ids: Vec<u64> = frames.iter().map(|f| check_payload(f)).collect();
    assert_eq!(ids, (0..500).collect::<Vec<_>>());
}

/// `flush` is bounded by `send_timeout`: with the peer missing it reports a timeout,
/// and the frame stays queued (nothing is dropped by a flush).
#[tokio::test]
async fn flush_is_bounded_while_disconnected() {
    let dir = TempDir::new();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&dir.sock("missing.sock")))
        .send_timeout(Duration::from_millis(20))
        .relay()
        .unwrap();
    sink.send(payload(0, 8)).await.unwrap();
    assert!(matches!(
        guard("flush", sink.flush()).await,
        Err(WaitError::Timeout)
    ));
    assert!(matches!(
        guard(
            "wait",
            sink.wait_connected(Instant::now() + Duration::from_millis(20))
        )
        .await,
        Err(WaitError::Timeout)
    ));
    assert_eq!(sink.status().queue_depth, 1);
    assert_eq!(sink.status().lost.total(), 0);
    assert_eq!(sink.close_with_linger(Duration::from_millis(1)).await, 1);
}

/// Claims more than a frame can describe.
struct Huge;

impl Encode for Huge {
    fn encoded_len(&self) -> usize {
        u32::MAX as usize + 1
    }
    fn encode<B: BufMut>(&self, _: &mut B) {
        unreachable!("never encoded: too large")
    }
}

/// Says 0 bytes, writes 10: the header records what was written.
struct Liar;

impl Encode for Liar {
    fn encoded_len(&self) -> usize {
        0
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(b"0123456789");
    }
}

/// An oversize message is refused with the message back and takes no room in the
/// queue; a wrong `encoded_len` never corrupts a frame.
#[tokio::test]
async fn oversize_and_mis_sized_messages() {
    let dir = TempDir::new();
    let huge: RelaySink<Huge> = SinkBuilder::new(unix_url(&dir.sock("huge.sock")))
        .queue(1)
        .relay()
        .unwrap();
    for _ in 0..3 {
        let err = huge.send(Huge).await.unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::TooLarge);
        let err = huge.try_send(Huge).unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::TooLarge);
    }
    assert_eq!(huge.status().queue_depth, 0);
    assert_eq!(huge.close().await, 0);

    let path = dir.sock("liar.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let liar: RelaySink<Liar> = SinkBuilder::new(unix_url(&path)).queue(1).relay().unwrap();
    liar.send(Liar).await.unwrap();
    liar.send(Liar).await.unwrap();
    let (mut s, _) = guard("accept", listener.accept()).await.unwrap();
    assert_eq!(liar.close().await, 0);
    let (frames, torn) = read_lp_to_eof(&mut s).await;
    assert_eq!(torn, 0);
    assert_eq!(frames, vec![b"0123456789".to_vec(), b"0123456789".to_vec()]);
}

/// Builder validation: bad endpoints and options are errors, not panics.
#[test]
fn builder_rejects_bad_input() {
    for bad in [
        "",
        "udp://x:1",
        "unix://rel",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1:0",
    ] {
        assert!(RelaySink::<Vec<u8>>::new(bad).is_err(), "{bad:?}");
    }
    let b = || SinkBuilder::new("tcp://127.0.0.1:9");
    assert!(b().queue(0).relay::<Vec<u8>>().is_err());
    assert!(b().send_timeout(Duration::ZERO).relay::<Vec<u8>>().is_err());
    assert!(
        b().connect_timeout(Duration::ZERO)
            .direct::<Vec<u8>>()
            .is_err()
    );
    assert!(
        b().backoff(Duration::from_secs(2), Duration::from_secs(1))
            .relay::<Vec<u8>>()
            .is_err()
    );
    let ok = b().name("n").relay::<Vec<u8>>().unwrap();
    assert_eq!((ok.name(), ok.endpoint()), ("n", "tcp://127.0.0.1:9"));
    assert_eq!(ok.status().state, State::Idle);
}
