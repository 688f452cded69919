//! Foreign framings (torq, length-prefixed) on a Unix socket whose reading peer dies
//! with frames it never read: those frames are counted lost (`unconfirmed`), so what
//! the peer received plus what the sink counts lost covers every accepted frame. Over
//! TCP, the frames that never reached the peer's host are counted.

mod common;

use std::time::Duration;

use common::*;
use sinkgen_runtime::{Framing, RelaySink, SinkBuilder};
use tokio::net::UnixListener;

const SENT: u64 = 1000;
const READ: usize = 100;

async fn peer_dies_with_unread_frames(framing: Framing) {
    let dir = TempDir::new();
    let path = dir.sock("peer.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .framing(framing)
        .queue(4096)
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .relay()
        .unwrap();
    // The peer reads 100 frames, stops reading, and closes once the sink has
    // written everything.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..READ {
            let p = match framing {
                Framing::LengthPrefixed => read_lp(&mut s).await.unwrap(),
                _ => read_torq(&mut s).await.unwrap().payload,
            };
            ids.push(check_payload(&p));
        }
        let _ = stop_rx.await;
        drop(s);
        ids
    });
    for id in 1..=SENT {
        sink.send(payload(id, 64)).await.unwrap();
    }
    eventually("every frame written", || sink.status().frames_sent == SENT).await;
    stop_tx.send(()).unwrap();
    let received = guard("peer", peer).await.unwrap();
    assert_eq!(received, (1..=READ as u64).collect::<Vec<_>>());
    eventually("the loss counted", || sink.status().lost.unconfirmed > 0).await;
    let st = sink.status();
    assert!(
        received.len() as u64 + st.lost.total() >= SENT,
        "{} received + {} lost < {SENT} accepted",
        received.len(),
        st.lost.total()
    );
    assert_eq!(st.frames_sent + st.lost.total(), SENT, "{st:?}");
    sink.close().await;
}

#[tokio::test]
async fn length_prefixed_frames_a_dead_peer_never_read_are_counted_lost() {
    peer_dies_with_unread_frames(Framing::LengthPrefixed).await;
}

#[tokio::test]
async fn torq_frames_a_dead_peer_never_read_are_counted_lost() {
    peer_dies_with_unread_frames(Framing::Torq {
        domain: 1,
        source: 2,
    })
    .await;
}

#[tokio::test]
async fn frames_that_never_reached_a_dead_tcp_peer_are_counted_lost() {
    use std::os::fd::AsRawFd;
    let listener = small_buffer_listener();
    let port = listener.local_addr().unwrap().port();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(format!("tcp://127.0.0.1:{port}"))
        .framing(Framing::LengthPrefixed)
        .queue(64)
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .relay()
        .unwrap();
    // The peer reads 100 frames, stops reading, and dies when told, with bytes unread
    // (a reset); its listener goes with it, so the sink cannot reconnect.
    let (die_tx, die_rx) = tokio::sync::oneshot::channel::<()>();
    let peer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        for id in 1..=READ as u64 {
            assert_eq!(check_payload(&read_lp(&mut s).await.unwrap()), id);
        }
        let _ = die_rx.await;
        unread_here(s.as_raw_fd())
    });
    let accepted = send_until_stalled(&sink, 1024).await;
    let written = sink.status().frames_sent;
    die_tx.send(()).unwrap();
    let unread = guard("peer", peer).await.unwrap();
    eventually("the loss counted", || sink.status().lost.unconfirmed > 0).await;
    sink.close_with_linger(Duration::ZERO).await;
    let st = sink.status();
    eprintln!("{written} of {accepted} frames written; {unread} bytes unread by the peer; {st:?}");
    check_stalled_peer(&st, accepted, 1028, (READ as u64, unread, 0));
}
