//! The backlog and acknowledgement rules, without sockets.

use bytes::Bytes;
use sinkgen_runtime::protocol::{self, Control, Kind};

use super::Hub;

const S: u64 = 7;

fn hub(subs: &[&str], backlog: usize) -> Hub {
    let subs: Vec<String> = subs.iter().map(|s| (*s).to_owned()).collect();
    let hub = Hub::new("ticks", &subs, backlog);
    hub.grace_over();
    hub.producer_hello(S, "feed", "ticks");
    hub
}

fn publish(hub: &Hub, seqs: std::ops::RangeInclusive<u64>) {
    let frames = seqs
        .map(|q| {
            let mut f = Vec::new();
            protocol::append_data(&mut f, S, q, 1, b"x");
            (q, Bytes::from(f))
        })
        .collect();
    hub.publish(S, frames);
}

/// What `take` writes to subscriber `idx`: data sequences and gaps, in order.
fn written(hub: &Hub, idx: usize, conn: u64) -> Vec<String> {
    let mut buf = Vec::new();
    hub.take(idx, conn, &mut buf, usize::MAX).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((frame, used)) = protocol::decode(&buf[at..], 1 << 20).unwrap() {
        match frame.header.kind {
            Kind::Data => out.push(frame.header.sequence.to_string()),
            _ => match Control::parse(&frame).unwrap() {
                Control::Gap { first, count, .. } => out.push(format!("gap {first}+{count}")),
                Control::Producer { service, sink, .. } => out.push(format!("{service}.{sink}")),
                other => panic!("{other:?}"),
            },
        }
        at += used;
    }
    out
}

#[test]
fn a_connected_subscriber_holds_the_ack_until_it_acknowledges() {
    let hub = hub(&["risk"], 100);
    let (conn, _) = hub.subscriber_connect(0);
    publish(&hub, 1..=5);
    assert_eq!(hub.ackable(S), 0);
    assert_eq!(
        written(&hub, 0, conn),
        ["feed.ticks", "1", "2", "3", "4", "5"]
    );
    assert_eq!(hub.ackable(S), 0, "written is not acknowledged");
    hub.subscriber_ack(0, conn, S, 3);
    assert_eq!(hub.ackable(S), 3);
    hub.subscriber_ack(0, conn, S, 5);
    assert_eq!(hub.ackable(S), 5);
}

#[test]
fn frames_held_for_an_absent_subscriber_are_acknowledged_and_kept_for_it() {
    let hub = hub(&["risk", "audit"], 100);
    publish(&hub, 1..=4);
    assert_eq!(hub.ackable(S), 4);
    let (conn, _) = hub.subscriber_connect(1);
    assert_eq!(written(&hub, 1, conn), ["feed.ticks", "1", "2", "3", "4"]);
    // A subscriber that leaves without acknowledging: its frames are held again.
    hub.subscriber_gone(1, conn);
    assert_eq!(hub.ackable(S), 4);
    let (conn, _) = hub.subscriber_connect(1);
    assert_eq!(written(&hub, 1, conn), ["feed.ticks", "1", "2", "3", "4"]);
}

#[test]
fn past_the_bound_the_oldest_become_one_gap_in_their_place() {
    let hub = hub(&["risk"], 3);
    publish(&hub, 1..=8);
    assert_eq!(hub.left()[0].frames, 3);
    assert_eq!(hub.stats.snapshot().subscribers[0].2, 5);
    let (conn, _) = hub.subscriber_connect(0);
    assert_eq!(
        written(&hub, 0, conn),
        ["feed.ticks", "gap 1+5", "6", "7", "8"]
    );
}

#[test]
fn frames_in_flight_are_let_go_without_a_gap_so_the_producer_goes_on() {
    let hub = hub(&["risk"], 3);
    let (conn, _) = hub.subscriber_connect(0);
    publish(&hub, 1..=3);
    assert_eq!(written(&hub, 0, conn), ["feed.ticks", "1", "2", "3"]);
    publish(&hub, 4..=5);
    // 1 and 2 were written: the subscriber has them (or sees the hole if the
    // connection breaks); the producer may forget them.
    assert_eq!(hub.ackable(S), 2);
    assert_eq!(hub.stats.snapshot().subscribers[0].2, 0);
    assert_eq!(written(&hub, 0, conn), ["4", "5"]);
}

#[test]
fn duplicates_are_dropped_and_holes_from_upstream_counted() {
    let hub = hub(&[], 8);
    let frame = || Bytes::from_static(b"");
    let first = hub.publish(
        S,
        vec![(1, frame()), (2, frame()), (2, frame()), (5, frame())],
    );
    assert_eq!((first.accepted, first.duplicates, first.missing), (3, 1, 2));
    assert_eq!(hub.ackable(S), 5, "no subscriber: acknowledged on receipt");
}

#[test]
fn after_a_start_absent_subscribers_hold_the_ack_until_they_come_or_the_grace_ends() {
    let subs = vec!["desk".to_owned(), "risk".to_owned()];
    let hub = Hub::new("ticks", &subs, 100);
    hub.producer_hello(S, "feed", "ticks");
    publish(&hub, 1..=5);
    assert_eq!(
        hub.ackable(S),
        0,
        "nobody connected yet: nothing acknowledged"
    );
    let (conn, _) = hub.subscriber_connect(0);
    written(&hub, 0, conn);
    hub.subscriber_ack(0, conn, S, 5);
    assert_eq!(hub.ackable(S), 0, "risk is still expected");
    hub.grace_over();
    assert_eq!(
        hub.ackable(S),
        5,
        "risk is away now: its frames are held for it"
    );
}

/// A subscriber that reconnects while its old connection is still read: what the old
/// connection acknowledges before its end still counts (up to what was written on
/// it), so the new connection does not get frames the subscriber acknowledged.
#[test]
fn acknowledgements_from_a_replaced_connection_still_count() {
    let hub = hub(&["risk"], 100);
    let (old, _) = hub.subscriber_connect(0);
    publish(&hub, 1..=5);
    assert_eq!(
        written(&hub, 0, old),
        ["feed.ticks", "1", "2", "3", "4", "5"]
    );
    publish(&hub, 6..=8);
    let (new, _) = hub.subscriber_connect(0);
    // The old connection's last ACK, read after the new one came: frames 6-8 were
    // never written on it, so an ACK beyond 5 frees no more than 5.
    hub.subscriber_ack(0, old, S, 7);
    assert_eq!(hub.ackable(S), 5);
    assert_eq!(written(&hub, 0, new), ["feed.ticks", "6", "7", "8"]);
    // Once the old connection ended, its acknowledgements no longer count.
    hub.subscriber_gone(0, old);
    hub.subscriber_ack(0, old, S, 8);
    assert_eq!(hub.ackable(S), 5);
    hub.subscriber_ack(0, new, S, 8);
    assert_eq!(hub.ackable(S), 8);
}
