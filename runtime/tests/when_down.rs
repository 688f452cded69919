//! `when_down`: with [`WhenDown::Fail`] a send while the peer is down fails at once
//! with the message handed back; with the default [`WhenDown::Queue`] it queues. Real
//! Unix sockets: an absent peer, then a peer that appears.

mod common;

use std::time::Duration;

use common::*;
use sinkgen_runtime::{ErrorClass, RelaySink, SendErrorKind, SinkBuilder, State, WhenDown};
use tokio::net::UnixListener;

fn sink(path: &std::path::Path, when_down: WhenDown) -> RelaySink<Vec<u8>> {
    SinkBuilder::new(unix_url(path))
        .backoff(Duration::from_millis(2), Duration::from_millis(10))
        .send_timeout(Duration::from_millis(50))
        .when_down(when_down)
        .relay()
        .unwrap()
}

/// Waits until the sink has failed a connect attempt and is backing off.
async fn down(sink: &RelaySink<Vec<u8>>) {
    eventually("a failed attempt and a backoff", || {
        sink.status().state == State::Backoff
    })
    .await;
}

#[tokio::test]
async fn fail_refuses_while_down_and_accepts_once_the_peer_appears() {
    let dir = TempDir::new();
    let path = dir.sock("peer.sock");
    let sink = sink(&path, WhenDown::Fail);

    // The first send starts the first attempt: nothing failed yet, so it queues.
    sink.send(payload(0, 32)).await.unwrap();
    down(&sink).await;

    for id in 100..103u64 {
        let err = sink.send(payload(id, 32)).await.unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::Down);
        let cause = err.cause().expect("the last connection error");
        assert_eq!(cause.class(), ErrorClass::Retryable);
        assert_eq!(
            check_payload(&err.into_message()),
            id,
            "message handed back"
        );

        let err = sink.try_send(payload(id, 32)).unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::Down);
        assert_eq!(check_payload(err.message()), id);
    }
    // Refused messages took no room; the frame accepted before is still queued.
    assert_eq!(sink.status().queue_depth, 1);
    assert_eq!(sink.status().lost.total(), 0);

    // The peer appears: the sink reconnects and sends are accepted again.
    let listener = UnixListener::bind(&path).unwrap();
    let (mut conn, _) = guard("accept", listener.accept()).await.unwrap();
    // Accepted by the kernel first, then the sink's task notes the connection.
    sink.wait_connected(std::time::Instant::now() + GUARD)
        .await
        .unwrap();
    sink.send(payload(1, 32)).await.unwrap();
    let got: Vec<u64> = vec![
        check_payload(&guard("read", read_lp(&mut conn)).await.unwrap()),
        check_payload(&guard("read", read_lp(&mut conn)).await.unwrap()),
    ];
    assert_eq!(
        got,
        [0, 1],
        "the queued frame, then the new one; none refused"
    );
    assert_eq!(sink.status().state, State::Connected);
    assert_eq!(sink.close().await, 0);
}

/// A peer that goes away after being connected: once the reconnect fails, sends fail
/// fast again.
#[tokio::test]
async fn fail_applies_again_when_a_connected_peer_goes_away() {
    let dir = TempDir::new();
    let path = dir.sock("peer.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink = sink(&path, WhenDown::Fail);
    sink.send(payload(0, 32)).await.unwrap();
    let (mut conn, _) = guard("accept", listener.accept()).await.unwrap();
    assert_eq!(
        check_payload(&guard("read", read_lp(&mut conn)).await.unwrap()),
        0
    );
    drop(listener);
    std::fs::remove_file(&path).unwrap();
    drop(conn);
    // The sink notices the closed connection when it next writes or reads.
    let mut refused = None;
    for id in 1..10_000u64 {
        match sink.send(payload(id, 32)).await {
            Ok(()) => tokio::time::sleep(Duration::from_millis(2)).await,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let err = refused.expect("a send refused once the peer is down");
    assert_eq!(err.kind(), SendErrorKind::Down);
    let _ = sink.close_with_linger(Duration::from_millis(1)).await;
}

/// The default queues while the peer is down, and delivers after it appears.
#[tokio::test]
async fn queue_keeps_accepting_while_down() {
    let dir = TempDir::new();
    let path = dir.sock("peer.sock");
    let sink = sink(&path, WhenDown::Queue);
    sink.send(payload(0, 32)).await.unwrap();
    down(&sink).await;
    sink.send(payload(1, 32)).await.unwrap();
    sink.try_send(payload(2, 32)).unwrap();
    assert_eq!(sink.status().queue_depth, 3);

    let listener = UnixListener::bind(&path).unwrap();
    let (mut conn, _) = guard("accept", listener.accept()).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(check_payload(
            &guard("read", read_lp(&mut conn)).await.unwrap(),
        ));
    }
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(sink.close().await, 0);
}
