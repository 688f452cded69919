//! A durable relay's stream holding a producer's frames out of order, as a stream
//! leader's death can leave it (a lost publish stored again after later ones): the
//! stream is written here directly, message ids and all, in the order under test.

use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use sinkgen_runtime::durable::{Durable, message_id, stream_name};

use super::durable::{Store, durable_subscription, receive};
use super::{PROBES, Server, free_port, message, server_available};

/// Two producer sessions.
const A: u64 = 0xa11ce;
const B: u64 = 0xb0b;

/// The message of `sequence` of session `session`: index `session * 1000 + sequence`.
fn index_of(session: u64, sequence: u64) -> u64 {
    session * 1000 + sequence
}

/// A JetStream server holding the relay `relay`'s stream (subject `relay`), and a
/// JetStream client of it.
struct Relay {
    server: Server,
    js: jetstream::Context,
    _store: Store,
}

impl Relay {
    async fn start(relay: &str) -> Relay {
        let store = Store::new(relay);
        let server = Server::start_js(free_port(), free_port(), &store).await;
        let client = async_nats::connect(format!("127.0.0.1:{}", server.port))
            .await
            .expect("connect");
        let js = jetstream::new(client);
        js.get_or_create_stream(jetstream::stream::Config {
            name: stream_name(relay),
            subjects: vec![relay.to_owned()],
            ..Default::default()
        })
        .await
        .expect("the relay's stream");
        Relay {
            server,
            js,
            _store: store,
        }
    }
}

/// Writes the relay's stream directly: one message per (session, sequence), in the
/// order given, with the id a sink would give it.
async fn publish(js: &jetstream::Context, relay: &str, frames: &[(u64, u64)]) {
    for &(session, sequence) in frames {
        let publish = jetstream::message::PublishMessage::build()
            .payload(message(index_of(session, sequence)))
            .message_id(message_id(session, sequence));
        js.send_publish(relay.to_owned(), publish)
            .await
            .expect("publish")
            .await
            .expect("stored");
    }
}

/// The items of `got` that are session `session`'s (gaps are `u64::MAX`, kept).
fn of(session: u64, got: &[u64]) -> Vec<u64> {
    got.iter()
        .copied()
        .filter(|&i| i == u64::MAX || i / 1000 == session)
        .map(|i| if i == u64::MAX { i } else { i % 1000 })
        .collect()
}

#[tokio::test]
async fn frames_stored_behind_later_ones_are_handed_out_in_order() {
    if !server_available() {
        return;
    }
    let relay = Relay::start("reorder").await;
    // A's 3 and 4 were stored after its 5 and 6; B is in order throughout.
    let order = [
        (A, 1),
        (A, 2),
        (B, 1),
        (A, 5),
        (A, 6),
        (B, 2),
        (A, 3),
        (B, 3),
        (A, 4),
        (A, 7),
    ];
    publish(&relay.js, "reorder", &order).await;
    let mut sub = durable_subscription(relay.server.port, "reorder", Durable::new("reorder"));
    let got = receive(&mut sub, order.len()).await;
    assert_eq!(of(A, &got), [1, 2, 3, 4, 5, 6, 7], "{got:?}");
    assert_eq!(of(B, &got), [1, 2, 3], "{got:?}");
    let status = sub.status();
    assert_eq!(status.gaps, 0, "{status:?}");
    let more = tokio::time::timeout(Duration::from_millis(300), sub.recv()).await;
    assert!(more.is_err(), "nothing more: {more:?}");
}

#[tokio::test]
async fn a_hole_that_stays_open_becomes_a_gap_after_the_reorder_wait() {
    if !server_available() {
        return;
    }
    let relay = Relay::start("hole").await;
    // A's 3 never comes (its sink died before publishing it again).
    publish(&relay.js, "hole", &[(A, 1), (A, 2), (A, 4), (A, 5)]).await;
    let wait = Duration::from_secs(2);
    let mut sub = durable_subscription(
        relay.server.port,
        "hole",
        Durable::new("hole").reorder_wait(wait),
    );
    let mut got = receive(&mut sub, 2).await;
    // 4 and 5 wait for 3 first.
    let none = tokio::time::timeout(Duration::from_millis(300), sub.recv()).await;
    assert!(none.is_err(), "held: {none:?}");
    // Then the hole is given up: reported, and what was held follows.
    got.extend(receive(&mut sub, 3).await);
    assert_eq!(of(A, &got), [1, 2, u64::MAX, 4, 5]);
    let status = sub.status();
    assert_eq!((status.gaps, status.missed), (1, 1), "{status:?}");
}

/// The consumer's acknowledgement floor and pending acknowledgements, once the floor
/// reached `floor` (bounded).
async fn consumer_at(js: &jetstream::Context, relay: &str, floor: u64) -> consumer::Info {
    let stream = js.get_stream(stream_name(relay)).await.expect("stream");
    let mut last = None;
    for _ in 0..PROBES {
        let info = stream
            .consumer_info("reader")
            .await
            .expect("the reader's consumer");
        if info.ack_floor.stream_sequence >= floor {
            return info;
        }
        last = Some(info);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the floor did not reach {floor}: {last:?}");
}

#[tokio::test]
async fn held_frames_stay_unacknowledged_and_late_ones_after_a_restart_are_gaps() {
    if !server_available() {
        return;
    }
    let relay = Relay::start("restart").await;
    let js = &relay.js;
    publish(js, "restart", &[(A, 1), (A, 2), (A, 5), (A, 6)]).await;
    let mut first = durable_subscription(relay.server.port, "restart", Durable::new("restart"));
    let got = receive(&mut first, 2).await;
    assert_eq!(of(A, &got), [1, 2]);
    // 5 and 6 wait for 3 and 4: nothing comes, and the server still has them
    // unacknowledged behind the floor of 2.
    let none = tokio::time::timeout(Duration::from_millis(300), first.recv()).await;
    assert!(none.is_err(), "held: {none:?}");
    let info = consumer_at(js, "restart", 2).await;
    assert_eq!(info.ack_floor.stream_sequence, 2, "{info:?}");
    assert_eq!(info.num_ack_pending, 2, "5 and 6 are held, unacknowledged");
    drop(first);
    // The subscription ended with them held; 3 and 4 come later. The next run gets
    // 5 and 6 again from the stream: nothing held was lost. It started its
    // session at 5, so 3 and 4 come too late to be handed in order: they are
    // reported, not dropped in silence.
    publish(js, "restart", &[(A, 3), (A, 4), (A, 7)]).await;
    let mut second = durable_subscription(relay.server.port, "restart", Durable::new("restart"));
    let got = receive(&mut second, 5).await;
    assert_eq!(of(A, &got), [5, 6, u64::MAX, u64::MAX, 7]);
    let status = second.status();
    assert_eq!((status.gaps, status.missed), (2, 2), "{status:?}");
}
