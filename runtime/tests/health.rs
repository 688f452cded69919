//! `status().health` and `status().last_sent` on real sockets: the grade follows the
//! documented rule (see `Health`), and `last_sent` moves only when a frame counts as
//! sent (written, or acknowledged with sinkgen framing).

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::receiver::{Behaviour, UnixReceiver};
use common::*;
use sinkgen_runtime::{
    CompositeSink, Framing, Health, Member, RelaySink, SinkBuilder, State, Status,
};
use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;

fn sink(path: &std::path::Path, framing: Framing) -> RelaySink<Vec<u8>> {
    SinkBuilder::new(unix_url(path))
        .framing(framing)
        .backoff(Duration::from_millis(2), Duration::from_millis(10))
        .send_timeout(Duration::from_millis(200))
        .relay()
        .unwrap()
}

fn sent_between(status: &Status, before: SystemTime, after: SystemTime) {
    let at = status.last_sent.expect("a frame was sent");
    // The runtime maps its monotonic clock onto the wall clock once; allow for that.
    let slack = Duration::from_millis(50);
    assert!(at + slack >= before && at <= after + slack, "{at:?}");
}

#[tokio::test]
async fn healthy_degraded_while_down_healthy_again_then_down_when_closed() {
    let dir = TempDir::new();
    let path = dir.sock("peer.sock");
    let sink = sink(&path, Framing::LengthPrefixed);
    let s = sink.status();
    assert_eq!((s.health, s.last_sent), (Health::Healthy, None), "lazy");

    sink.send(payload(0, 16)).await.unwrap();
    eventually("backoff", || sink.status().state == State::Backoff).await;
    assert_eq!(sink.status().health, Health::Degraded, "the peer is down");
    assert_eq!(sink.status().last_sent, None);

    let listener = UnixListener::bind(&path).unwrap();
    let before = SystemTime::now();
    let (mut peer, _) = guard("accept", listener.accept()).await.unwrap();
    guard("flush", sink.flush()).await.unwrap();
    let after = SystemTime::now();
    let s = sink.status();
    assert_eq!(s.state, State::Connected);
    assert_eq!(s.health, Health::Healthy, "connected, nothing lost");
    sent_between(&s, before, after);
    assert_eq!(check_payload(&read_lp(&mut peer).await.unwrap()), 0);

    assert_eq!(sink.close().await, 0);
    assert_eq!(sink.status().health, Health::Down, "closed");
}

/// Frames a dead peer never read count as lost: the sink stays degraded after it
/// reconnects, for `Health::WINDOW`.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_recent_loss_degrades_a_connected_sink() {
    let dir = TempDir::new();
    let path = dir.sock("peer.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink = sink(&path, Framing::LengthPrefixed);
    for id in 0..100u64 {
        sink.send(payload(id, 64)).await.unwrap();
    }
    let (peer, _) = guard("accept", listener.accept()).await.unwrap();
    eventually("every frame written", || sink.status().frames_sent == 100).await;
    assert_eq!(sink.status().health, Health::Healthy);
    drop(peer); // never read: the frames are unconfirmed once the sink notices
    eventually("the frames counted lost", || {
        sink.status().lost.unconfirmed > 0
    })
    .await;
    let (mut peer, _) = guard("accept again", listener.accept()).await.unwrap();
    sink.wait_connected(Instant::now() + GUARD).await.unwrap();
    let s = sink.status();
    assert_eq!(s.state, State::Connected);
    assert_eq!(s.health, Health::Degraded, "lost a frame within the window");
    assert!(s.last_lost.is_some());
    sink.send(payload(1000, 16)).await.unwrap();
    assert_eq!(check_payload(&read_lp(&mut peer).await.unwrap()), 1000);
    let _ = sink.close().await;
}

/// With sinkgen framing a frame counts as sent when acknowledged: a peer that reads
/// without acknowledging leaves `last_sent` empty.
#[tokio::test]
async fn with_sinkgen_framing_last_sent_waits_for_the_acknowledgement() {
    let dir = TempDir::new();
    let path = dir.sock("silent.sock");
    let silent = UnixReceiver::start(
        &path,
        Behaviour {
            ack_limit: Some(0),
            ..Behaviour::default()
        },
    );
    let sink = sink(&path, Framing::Sinkgen);
    sink.send(payload(0, 16)).await.unwrap();
    eventually("the frame read", || {
        silent.seen.lock().unwrap().frames.len() == 1
    })
    .await;
    let s = sink.status();
    assert_eq!(s.unacknowledged, 1);
    assert_eq!(s.last_sent, None, "read, not acknowledged");
    silent.kill().await;

    let path = dir.sock("acking.sock");
    let _acking = UnixReceiver::start(&path, Behaviour::default());
    let sink = self::sink(&path, Framing::Sinkgen);
    let before = SystemTime::now();
    sink.send(payload(1, 16)).await.unwrap();
    guard("flush", sink.flush()).await.unwrap();
    sent_between(&sink.status(), before, SystemTime::now());
    assert_eq!(sink.close().await, 0);
}

/// A composite is healthy when all its sinks are, down when all are, degraded
/// otherwise; its `last_sent` is the latest of theirs.
#[tokio::test]
async fn a_composite_grades_over_its_sinks() {
    let dir = TempDir::new();
    let up = dir.sock("up.sock");
    let listener = UnixListener::bind(&up).unwrap();
    let a = sink(&up, Framing::LengthPrefixed);
    let b = sink(&dir.sock("absent.sock"), Framing::LengthPrefixed);
    let both = CompositeSink::broadcast(
        "both",
        vec![Member::Relay(a.clone()), Member::Relay(b.clone())],
    );
    assert_eq!(both.status().health, Health::Healthy);
    both.send(payload(0, 16)).await.unwrap();
    let (mut peer, _) = guard("accept", listener.accept()).await.unwrap();
    let mut got = vec![0u8; 20];
    guard("read", peer.read_exact(&mut got)).await.unwrap();
    eventually("b backing off", || b.status().state == State::Backoff).await;
    let s = both.status();
    assert_eq!(s.health, Health::Degraded);
    assert_eq!(s.last_sent, a.status().last_sent);
    assert!(s.last_sent.is_some());
    let _ = a.close().await;
    let _ = b.close_with_linger(Duration::from_millis(1)).await;
    assert_eq!(both.status().health, Health::Down);
}
