//! Composite sinks over real sockets: broadcast with a dead member, round robin
//! skipping an unready member, failover and fail-back.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sinkgen_runtime::{CompositeSink, Member, RelaySink, SinkBuilder, State};
use tokio::net::UnixListener;

fn leaf(url: String, queue: usize) -> RelaySink<Vec<u8>> {
    SinkBuilder::new(url)
        .queue(queue)
        .send_timeout(Duration::from_secs(60))
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .relay()
        .unwrap()
}

fn live(dir: &TempDir, name: &str) -> (String, tokio::task::JoinHandle<Vec<u64>>) {
    let path = dir.sock(name);
    let listener = UnixListener::bind(&path).unwrap();
    let reader = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let (frames, torn) = read_lp_to_eof(&mut s).await;
        assert_eq!(torn, 0);
        frames.iter().map(|f| check_payload(f)).collect()
    });
    (unix_url(&path), reader)
}

/// Broadcast: a dead member (peer missing, queue of 4) takes frames until its queue is
/// full and then stops taking them; the live member gets every frame; no send waits on
/// the dead member (its send timeout is longer than the hang guard). Each result says
/// how many members took the frame.
#[tokio::test]
async fn broadcast_with_a_dead_member() {
    let dir = TempDir::new();
    let (url, reader) = live(&dir, "live.sock");
    let alive = leaf(url, 1024);
    let dead = leaf(unix_url(&dir.sock("dead.sock")), 4);
    let all = CompositeSink::broadcast("all", vec![Member::from(&alive), Member::from(&dead)]);
    guard("connect", alive.wait_connected(Instant::now() + GUARD))
        .await
        .unwrap();
    let mut took = Vec::new();
    guard("sends", async {
        for id in 0..20u64 {
            let d = all.send(payload(id, 40)).await.unwrap();
            assert_eq!(d.members, 2);
            assert_eq!(d.member, 0);
            took.push(d.accepted);
        }
    })
    .await;
    assert_eq!(
        took.iter().filter(|&&n| n == 2).count(),
        4,
        "the dead member took 4"
    );
    assert_eq!(took.iter().sum::<usize>(), 24);
    assert_eq!(dead.status().queue_depth, 4);
    assert_eq!(alive.close().await, 0);
    assert_eq!(
        guard("reader", reader).await.unwrap(),
        (0..20).collect::<Vec<_>>()
    );
    assert_eq!(dead.close_with_linger(Duration::from_millis(1)).await, 4);
    assert_eq!(dead.status().lost.closed, 4);
    // With every member gone the frame comes back.
    let err = all.send(payload(99, 40)).await.unwrap_err();
    assert_eq!(check_payload(err.message()), 99);
}

/// Round robin: only ready members take frames; an unready member (peer missing) is
/// skipped without disturbing the alternation of the others.
#[tokio::test]
async fn round_robin_skips_an_unready_member() {
    let dir = TempDir::new();
    let (url_a, reader_a) = live(&dir, "a.sock");
    let (url_c, reader_c) = live(&dir, "c.sock");
    let a = leaf(url_a, 64);
    let b = leaf(unix_url(&dir.sock("b-missing.sock")), 64);
    let c = leaf(url_c, 64);
    let rr = CompositeSink::round_robin(
        "spread",
        vec![Member::from(&a), Member::from(&b), Member::from(&c)],
    );
    rr.start();
    guard("a", a.wait_connected(Instant::now() + GUARD))
        .await
        .unwrap();
    guard("c", c.wait_connected(Instant::now() + GUARD))
        .await
        .unwrap();
    let mut members = Vec::new();
    for id in 0..30u64 {
        members.push(rr.send(payload(id, 24)).await.unwrap().member);
    }
    assert!(!members.contains(&1), "the unready member took nothing");
    assert_eq!(members.iter().filter(|&&m| m == 0).count(), 15);
    assert_eq!(members.iter().filter(|&&m| m == 2).count(), 15);
    let st = b.status();
    assert_eq!((st.queue_depth, st.frames_sent), (0, 0));
    assert!(
        st.connect_attempts >= 1,
        "the composite started every member"
    );
    assert_eq!(a.close().await, 0);
    assert_eq!(c.close().await, 0);
    let got_a = guard("a", reader_a).await.unwrap();
    let got_c = guard("c", reader_c).await.unwrap();
    let want_a: Vec<u64> = (0..30).filter(|&i| members[i as usize] == 0).collect();
    let want_c: Vec<u64> = (0..30).filter(|&i| members[i as usize] == 2).collect();
    assert_eq!(got_a, want_a);
    assert_eq!(got_c, want_c);
}

/// Failover: while the preferred member is down, frames go to the next one; once the
/// preferred member is back and has stayed connected for the fail-back delay, frames
/// move back and stay (sticky); when it dies again, frames fail over again. Every
/// frame is delivered exactly once, to the member the result names.
#[tokio::test]
async fn failover_and_fail_back() {
    let dir = TempDir::new();
    let p_path = dir.sock("preferred.sock");
    let (url_s, reader_s) = live(&dir, "secondary.sock");
    let preferred = leaf(unix_url(&p_path), 64);
    let secondary = leaf(url_s, 64);
    let fo = CompositeSink::failover(
        "orders",
        vec![Member::from(&preferred), Member::from(&secondary)],
    );
    fo.set_failback_after(Duration::from_millis(50));
    guard("any", fo.wait_connected(Instant::now() + GUARD))
        .await
        .unwrap();
    let mut to_member = Vec::new();
    let mut id = 0u64;
    // Phase 1: preferred is down.
    for _ in 0..20 {
        to_member.push((id, fo.send(payload(id, 24)).await.unwrap().member));
        id += 1;
    }
    assert!(to_member.iter().all(|&(_, m)| m == 1));

    // Phase 2: preferred comes up; frames fail back after it stayed up.
    let listener = UnixListener::bind(&p_path).unwrap();
    let (die_tx, die_rx) = tokio::sync::oneshot::channel::<usize>();
    let reader_p = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let n = die_rx.await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..n {
            ids.push(check_payload(&read_lp(&mut s).await.unwrap()));
        }
        ids // dropping the stream and the listener kills the preferred peer
    });
    let mut switched = false;
    for _ in 0..10_000 {
        let m = fo.send(payload(id, 24)).await.unwrap().member;
        to_member.push((id, m));
        id += 1;
        if m == 0 {
            switched = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(switched, "failed back to the preferred member");
    for _ in 0..10 {
        to_member.push((id, fo.send(payload(id, 24)).await.unwrap().member));
        id += 1;
    }
    let first_back = to_member.iter().position(|&(_, m)| m == 0).unwrap();
    assert!(
        to_member[first_back..].iter().all(|&(_, m)| m == 0),
        "sticky after fail-back"
    );
    guard("flush", preferred.flush()).await.unwrap();
    let on_preferred = to_member.len() - first_back;
    die_tx.send(on_preferred).unwrap();
    let got_p = guard("preferred reader", reader_p).await.unwrap();
    std::fs::remove_file(&p_path).unwrap();

    // Phase 3: preferred dies; frames fail over to the secondary again.
    eventually("preferred down", || {
        preferred.status().state != State::Connected
    })
    .await;
    for _ in 0..10 {
        let m = fo.send(payload(id, 24)).await.unwrap().member;
        assert_eq!(m, 1);
        to_member.push((id, m));
        id += 1;
    }
    assert_eq!(secondary.close().await, 0);
    let got_s = guard("secondary reader", reader_s).await.unwrap();
    let want = |member| {
        to_member
            .iter()
            .filter(|&&(_, m)| m == member)
            .map(|&(i, _)| i)
            .collect::<Vec<_>>()
    };
    assert_eq!(got_p, want(0));
    assert_eq!(got_s, want(1));
    assert_eq!(
        got_p.len() + got_s.len(),
        id as usize,
        "each frame exactly once"
    );
    assert_eq!(preferred.status().lost.total(), 0);
}

/// Failover with the preferred member's peer absent from the start and a live backup:
/// no frame waits in the dead member's queue, the backup receives every frame, and
/// the composite's own close reports nothing lost.
#[tokio::test]
async fn failover_with_the_primary_absent_from_the_start() {
    let dir = TempDir::new();
    let (url_b, reader_b) = live(&dir, "backup.sock");
    let primary = leaf(unix_url(&dir.sock("primary-missing.sock")), 4);
    let backup = leaf(url_b, 64);
    let fo = CompositeSink::failover(
        "orders",
        vec![Member::from(&primary), Member::from(&backup)],
    );
    for id in 0..20u64 {
        let d = guard("send", fo.send(payload(id, 24))).await.unwrap();
        assert_eq!((d.member, d.accepted, d.queued), (1, 1, 0), "frame {id}");
    }
    assert_eq!(
        primary.status().queue_depth,
        0,
        "nothing waits on the dead member"
    );
    let st = fo.status();
    assert_eq!(
        (st.active, st.connected.as_slice()),
        (Some(1), &[false, true][..])
    );
    assert_eq!(st.leaves.len(), 2);
    assert_eq!(guard("close", fo.close()).await, 0);
    assert_eq!(fo.status().lost.total(), 0);
    assert_eq!(
        guard("backup reader", reader_b).await.unwrap(),
        (0..20).collect::<Vec<_>>()
    );
    assert_eq!(fo.status().frames_sent, 20);
}

/// Broadcast with one member whose peer is absent: each result says that one member
/// has the frame on its way and one only queued it, and names the connected one; the
/// composite's close reports the queued frames as not delivered, once, however many
/// composites share the dead member.
#[tokio::test]
async fn broadcast_tells_connected_from_queued() {
    let dir = TempDir::new();
    let (url, reader) = live(&dir, "live.sock");
    let alive = leaf(url, 64);
    let dead = leaf(unix_url(&dir.sock("dead.sock")), 64);
    let all = CompositeSink::broadcast("all", vec![Member::from(&alive), Member::from(&dead)]);
    let rev = CompositeSink::broadcast("rev", vec![Member::from(&dead), Member::from(&alive)]);
    guard("connect", all.wait_connected(Instant::now() + GUARD))
        .await
        .unwrap();
    eventually("dead member's attempt failed", || {
        dead.status().last_error.is_some()
    })
    .await;
    for id in 0..3u64 {
        let d = all.send(payload(id, 40)).await.unwrap();
        assert_eq!(
            (d.accepted, d.queued, d.connected(), d.member),
            (2, 1, 1, 0)
        );
    }
    let d = rev.send(payload(3, 40)).await.unwrap();
    assert_eq!(
        (d.accepted, d.queued, d.member),
        (2, 1, 1),
        "names the connected member"
    );
    assert_eq!(all.status().queue_depth, 4);
    assert_eq!(all.status().connected, vec![true, false]);
    assert_eq!(
        guard("close", all.close_with_linger(Duration::from_millis(1))).await,
        4
    );
    assert_eq!(rev.close().await, 0, "closed already: not counted twice");
    assert_eq!(all.status().lost.closed, 4);
    assert_eq!(
        guard("reader", reader).await.unwrap(),
        (0..4).collect::<Vec<_>>()
    );
}

/// A sink that is a member twice (directly and through a nested composite) is closed
/// and counted once.
#[tokio::test]
async fn nested_close_counts_each_sink_once() {
    let dir = TempDir::new();
    let dead = leaf(unix_url(&dir.sock("dead.sock")), 8);
    let inner = CompositeSink::broadcast("inner", vec![Member::from(&dead)]);
    let outer = CompositeSink::broadcast("outer", vec![Member::from(&dead), Member::from(&inner)]);
    let d = outer.try_send(payload(0, 16)).unwrap();
    assert_eq!((d.accepted, d.queued), (2, 2));
    let st = outer.status();
    assert_eq!((st.leaves.len(), st.queue_depth), (1, 2));
    assert_eq!(outer.close_with_linger(Duration::from_millis(1)).await, 2);
    assert_eq!(outer.status().lost.closed, 2);
    assert_eq!(inner.status().lost.closed, 2);
}

/// Broadcast over acknowledged members (framing `sinkgen`): one member's receiver
/// dies with 20 frames it had not acknowledged. The member keeps taking frames
/// (kept and queued frames share its queue), the other member gets every frame, and
/// the restarted receiver gets the 20 kept frames and the rest, in order, once.
#[tokio::test]
async fn broadcast_with_an_acknowledged_member_whose_peer_dies() {
    use common::receiver::{Behaviour, UnixReceiver};
    use sinkgen_runtime::Framing;
    let dir = TempDir::new();
    let (a_path, b_path) = (dir.sock("a.sock"), dir.sock("b.sock"));
    let acked_leaf = |path: &std::path::Path| -> RelaySink<Vec<u8>> {
        SinkBuilder::new(unix_url(path))
            .framing(Framing::Sinkgen)
            .queue(64)
            .backoff(Duration::from_millis(5), Duration::from_millis(20))
            .relay()
            .unwrap()
    };
    let a = UnixReceiver::start(&a_path, Behaviour::default());
    let acks_10 = Behaviour {
        ack_limit: Some(10),
        ..Behaviour::default()
    };
    let b = UnixReceiver::start(&b_path, acks_10);
    let (sa, sb) = (acked_leaf(&a_path), acked_leaf(&b_path));
    let all = CompositeSink::broadcast("all", vec![Member::from(&sa), Member::from(&sb)]);
    for id in 1..=30u64 {
        assert_eq!(all.send(payload(id, 40)).await.unwrap().accepted, 2);
    }
    eventually("b received 30", || {
        b.seen.lock().unwrap().frames.len() == 30
    })
    .await;
    eventually("b acknowledged 10", || sb.status().frames_sent == 10).await;
    assert_eq!(sb.status().unacknowledged, 20);
    b.kill().await;
    for id in 31..=40u64 {
        assert_eq!(all.send(payload(id, 40)).await.unwrap().accepted, 2);
    }
    let b2 = UnixReceiver::start(&b_path, Behaviour::default());
    guard("flush a", sa.flush()).await.unwrap();
    guard("flush b", sb.flush()).await.unwrap();
    let ids = |seen: &common::receiver::Shared| -> Vec<u64> {
        let seen = seen.lock().unwrap();
        seen.frames.iter().map(|f| check_payload(&f.2)).collect()
    };
    assert_eq!(ids(&a.seen), (1..=40).collect::<Vec<_>>());
    assert_eq!(ids(&b2.seen), (11..=40).collect::<Vec<_>>());
    let st = all.status();
    assert_eq!(st.frames_sent, 80);
    assert_eq!(st.lost.total(), 0);
    assert_eq!(all.close().await, 0);
    a.kill().await;
    b2.kill().await;
}
