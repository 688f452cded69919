//! `send_all`: many messages in one call, in order, with the accounting of `send`;
//! what is not accepted comes back, in order, with the reason. Real Unix sockets.

mod common;

use std::time::Duration;

use common::receiver::{Behaviour, UnixReceiver};
use common::*;
use sinkgen_runtime::{
    CompositeSink, Framing, Member, RelaySink, SendErrorKind, SinkBuilder, State, WhenDown,
};
use tokio::net::UnixListener;

fn builder(path: &std::path::Path) -> SinkBuilder {
    SinkBuilder::new(unix_url(path))
        .backoff(Duration::from_millis(2), Duration::from_millis(10))
        .send_timeout(Duration::from_millis(100))
}

fn ids(msgs: &[Vec<u8>]) -> Vec<u64> {
    msgs.iter().map(|m| check_payload(m)).collect()
}

#[tokio::test]
async fn every_message_arrives_in_order() {
    let dir = TempDir::new();
    let path = dir.sock("peer.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = builder(&path).relay().unwrap();
    let n = sink
        .send_all((0..1000u64).map(|id| payload(id, 40)))
        .await
        .unwrap();
    assert_eq!(n, 1000);
    let more = sink
        .send_all(vec![payload(1000, 40), payload(1001, 40)])
        .await
        .unwrap();
    assert_eq!(more, 2);
    let (mut peer, _) = guard("accept", listener.accept()).await.unwrap();
    for id in 0..1002u64 {
        let got = guard("read", read_lp(&mut peer)).await.unwrap();
        assert_eq!(check_payload(&got), id);
    }
    assert_eq!(sink.close().await, 0);
    assert_eq!(sink.status().frames_sent, 1002);
    assert_eq!(
        sink.send_all(Vec::new()).await.unwrap_err().kind(),
        SendErrorKind::Closed
    );
}

/// The queue bound holds: with the peer absent, as many as fit are accepted, the
/// call waits `send_timeout` for room, and the rest comes back in order.
#[tokio::test]
async fn a_full_queue_hands_the_rest_back_after_the_timeout() {
    let dir = TempDir::new();
    let sink: RelaySink<Vec<u8>> = builder(&dir.sock("absent.sock")).queue(10).relay().unwrap();
    let err = sink
        .send_all((0..25u64).map(|id| payload(id, 16)))
        .await
        .unwrap_err();
    assert_eq!(err.accepted(), 10);
    assert_eq!(err.kind(), SendErrorKind::Timeout);
    assert_eq!(ids(err.rest()), (10..25).collect::<Vec<_>>());
    assert_eq!(sink.status().queue_depth, 10);
    let _ = sink.close_with_linger(Duration::from_millis(1)).await;
}

/// A message over `max_frame` stops the call there: it and the ones after it come
/// back; the ones before are sent.
#[tokio::test]
async fn an_oversized_message_stops_the_batch() {
    let dir = TempDir::new();
    let path = dir.sock("peer.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = builder(&path).max_frame(100).relay().unwrap();
    let batch = vec![
        payload(0, 50),
        payload(1, 50),
        payload(2, 500),
        payload(3, 50),
    ];
    let err = sink.send_all(batch).await.unwrap_err();
    assert_eq!(err.accepted(), 2);
    assert_eq!(err.kind(), SendErrorKind::TooLarge);
    assert_eq!(ids(err.rest()), [2, 3]);
    let (mut peer, _) = guard("accept", listener.accept()).await.unwrap();
    for id in 0..2u64 {
        assert_eq!(check_payload(&read_lp(&mut peer).await.unwrap()), id);
    }
    sink.send(payload(4, 50)).await.unwrap();
    assert_eq!(check_payload(&read_lp(&mut peer).await.unwrap()), 4);
    assert_eq!(sink.close().await, 0);
}

/// `when_down = "fail"` applies to the whole call.
#[tokio::test]
async fn a_down_peer_refuses_the_batch_with_when_down_fail() {
    let dir = TempDir::new();
    let sink: RelaySink<Vec<u8>> = builder(&dir.sock("absent.sock"))
        .when_down(WhenDown::Fail)
        .relay()
        .unwrap();
    assert_eq!(sink.send_all(vec![payload(0, 16)]).await.unwrap(), 1);
    eventually("backoff", || sink.status().state == State::Backoff).await;
    let err = sink
        .send_all((1..4u64).map(|id| payload(id, 16)))
        .await
        .unwrap_err();
    assert_eq!((err.accepted(), err.kind()), (0, SendErrorKind::Down));
    assert!(err.cause().is_some());
    assert_eq!(ids(&err.into_rest()), [1, 2, 3]);
    let _ = sink.close_with_linger(Duration::from_millis(1)).await;
}

/// With sinkgen framing, frames written and not acknowledged take room: a peer that
/// never acknowledges bounds what `send_all` accepts, as it bounds `send`.
#[tokio::test]
async fn unacknowledged_frames_count_against_the_queue() {
    let dir = TempDir::new();
    let path = dir.sock("silent.sock");
    let silent = UnixReceiver::start(
        &path,
        Behaviour {
            ack_limit: Some(0),
            ..Behaviour::default()
        },
    );
    let sink: RelaySink<Vec<u8>> = builder(&path)
        .framing(Framing::Sinkgen)
        .queue(8)
        .relay()
        .unwrap();
    let err = sink
        .send_all((0..40u64).map(|id| payload(id, 16)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Timeout);
    let accepted = err.accepted();
    // The bound: `queue` queued or unacknowledged, plus one batch being written.
    assert!((8..=16).contains(&accepted), "{accepted} accepted");
    assert_eq!(ids(err.rest()), (accepted as u64..40).collect::<Vec<_>>());
    let st = sink.status();
    assert_eq!(st.frames_sent, 0, "nothing acknowledged");
    assert_eq!(st.queue_depth, accepted);
    silent.kill().await;
    let _ = sink.close_with_linger(Duration::from_millis(1)).await;
}

/// Through an acknowledging receiver, everything is acknowledged.
#[tokio::test]
async fn acknowledged_batches_are_delivered_whole() {
    let dir = TempDir::new();
    let path = dir.sock("acking.sock");
    let receiver = UnixReceiver::start(&path, Behaviour::default());
    let sink: RelaySink<Vec<u8>> = builder(&path)
        .framing(Framing::Sinkgen)
        .queue(64)
        .send_timeout(GUARD)
        .relay()
        .unwrap();
    for round in 0..5u64 {
        let batch = (round * 100..round * 100 + 100).map(|id| payload(id, 24));
        assert_eq!(sink.send_all(batch).await.unwrap(), 100);
    }
    guard("flush", sink.flush()).await.unwrap();
    let got: Vec<u64> = {
        let seen = receiver.seen.lock().unwrap();
        seen.frames
            .iter()
            .map(|(_, _, p)| check_payload(p))
            .collect()
    };
    assert_eq!(got, (0..500).collect::<Vec<_>>());
    assert_eq!(sink.close().await, 0);
}

/// A broadcast composite gives every member every message, in order.
#[tokio::test]
async fn a_broadcast_composite_sends_the_batch_to_every_member() {
    let dir = TempDir::new();
    let (pa, pb) = (dir.sock("a.sock"), dir.sock("b.sock"));
    let (la, lb) = (
        UnixListener::bind(&pa).unwrap(),
        UnixListener::bind(&pb).unwrap(),
    );
    let a: RelaySink<Vec<u8>> = builder(&pa).relay().unwrap();
    let b: RelaySink<Vec<u8>> = builder(&pb).relay().unwrap();
    let both = CompositeSink::broadcast("both", vec![Member::Relay(a), Member::Relay(b)]);
    assert_eq!(
        both.send_all((0..50u64).map(|id| payload(id, 16)))
            .await
            .unwrap(),
        50
    );
    for listener in [la, lb] {
        let (mut peer, _) = guard("accept", listener.accept()).await.unwrap();
        for id in 0..50u64 {
            assert_eq!(check_payload(&read_lp(&mut peer).await.unwrap()), id);
        }
    }
    assert_eq!(both.close().await, 0);
}
