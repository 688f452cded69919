//! `Subscription` against a test relay on a Unix socket.

use std::time::Duration;

use sinkgen_runtime::protocol::{Control, RefuseCode};
use sinkgen_runtime::{Bytes, Received, Subscription, SubscriptionBuilder};

use crate::common::*;
use crate::support::*;

const P: u64 = 0x1122_3344_5566_7788;

fn subscription<M: sinkgen_runtime::Decode>(dir: &TempDir) -> Subscription<M> {
    SubscriptionBuilder::new(unix_url(&dir.sock("relay.sock")))
        .identity("strategy", "market_data")
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .build()
        .unwrap()
}

/// Expects a message `"<seq>"` from the named producer.
fn message(item: Option<Received<Bytes>>, seq: u64) {
    match item {
        Some(Received::Message { producer, message }) => {
            assert_eq!(message, seq.to_string().as_bytes());
            assert_eq!(
                (producer.service(), producer.sink(), producer.session()),
                ("quotes_svc", "quotes", P)
            );
        }
        other => panic!("expected message {seq}, got {other:?}"),
    }
}

#[tokio::test]
async fn delivers_in_order_names_the_producer_and_acknowledges() {
    let dir = TempDir::new();
    let relay = Relay::bind(&dir.sock("relay.sock"));
    let mut sub = subscription::<Bytes>(&dir);
    let peer = tokio::spawn(async move {
        let mut c = relay.accept().await;
        let hello = c.welcome_subscriber().await;
        assert_eq!(
            (hello.service.as_str(), hello.target.as_str()),
            ("strategy", "market_data")
        );
        c.producer(P, "quotes_svc", "quotes").await;
        c.send(&data(P, 1..=100)).await;
        c.acked(P, 100).await;
    });
    for seq in 1..=100 {
        message(guard("recv", sub.recv()).await, seq);
    }
    let st = sub.status();
    assert_eq!(
        (st.received, st.duplicates, st.gaps, st.connects),
        (100, 0, 0, 1)
    );
    assert!(st.connected);
    // The acknowledgement goes out when the application asks for more.
    let _ = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await;
    guard("ack", peer).await.unwrap();
}

#[tokio::test]
async fn resends_after_a_reconnect_are_dropped() {
    let dir = TempDir::new();
    let relay = Relay::bind(&dir.sock("relay.sock"));
    let mut sub = subscription::<Bytes>(&dir);
    let peer = tokio::spawn(async move {
        let mut c = relay.accept().await;
        c.welcome_subscriber().await;
        c.producer(P, "quotes_svc", "quotes").await;
        c.send(&data(P, 1..=5)).await;
        c.acked(P, 5).await;
        drop(c); // the relay restarts: it resends what it has from 3
        let mut c = relay.accept().await;
        c.welcome_subscriber().await;
        c.producer(P, "quotes_svc", "quotes").await;
        c.send(&data(P, 3..=8)).await;
        c.acked(P, 8).await;
    });
    for seq in 1..=8 {
        message(guard("recv", sub.recv()).await, seq);
    }
    let st = sub.status();
    assert_eq!((st.received, st.duplicates, st.connects), (8, 3, 2));
    let _ = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await;
    guard("peer", peer).await.unwrap();
}

#[tokio::test]
async fn a_hole_in_the_sequence_and_a_gap_frame_are_gap_items() {
    let dir = TempDir::new();
    let relay = Relay::bind(&dir.sock("relay.sock"));
    let mut sub = subscription::<Bytes>(&dir);
    let peer = tokio::spawn(async move {
        let mut c = relay.accept().await;
        c.welcome_subscriber().await;
        c.producer(P, "quotes_svc", "quotes").await;
        c.send(&data(P, [1, 2, 5])).await;
        c.send_control(Control::Gap {
            session: P,
            first: 6,
            count: 10,
        })
        .await;
        c.send(&data(P, [16])).await;
        c.acked(P, 16).await;
    });
    message(guard("recv", sub.recv()).await, 1);
    message(guard("recv", sub.recv()).await, 2);
    for (missed, then) in [(2, 5), (10, 16)] {
        match guard("recv", sub.recv()).await {
            Some(Received::Gap {
                producer,
                missed: m,
            }) => {
                assert_eq!(
                    (producer.service(), producer.sink(), m),
                    ("quotes_svc", "quotes", missed)
                );
            }
            other => panic!("expected a gap of {missed}, got {other:?}"),
        }
        message(guard("recv", sub.recv()).await, then);
    }
    let _ = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await;
    guard("peer", peer).await.unwrap();
    let st = sub.status();
    assert_eq!((st.received, st.gaps, st.missed), (4, 2, 12));
}

#[tokio::test]
async fn an_undecodable_frame_is_surfaced_and_counted() {
    let dir = TempDir::new();
    let relay = Relay::bind(&dir.sock("relay.sock"));
    let mut sub = subscription::<String>(&dir);
    let peer = tokio::spawn(async move {
        let mut c = relay.accept().await;
        c.welcome_subscriber().await;
        c.producer(P, "quotes_svc", "quotes").await;
        let mut out = Vec::new();
        sinkgen_runtime::protocol::append_data(&mut out, P, 1, 1, b"\xff\xfe");
        sinkgen_runtime::protocol::append_data(&mut out, P, 2, 1, b"fine");
        c.send(&out).await;
        c.acked(P, 2).await;
    });
    match guard("recv", sub.recv()).await {
        Some(Received::Undecodable { producer, error }) => {
            assert_eq!(producer.service(), "quotes_svc");
            assert!(error.message().contains("UTF-8"), "{error}");
        }
        other => panic!("expected an undecodable item, got {other:?}"),
    }
    match guard("recv", sub.recv()).await {
        Some(Received::Message { message, .. }) => assert_eq!(message, "fine"),
        other => panic!("expected a message, got {other:?}"),
    }
    let _ = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await;
    guard("peer", peer).await.unwrap();
    let st = sub.status();
    assert_eq!((st.received, st.undecodable), (1, 1));
}

#[tokio::test]
async fn a_refusal_is_in_status_and_retried_under_backoff() {
    let dir = TempDir::new();
    let relay = Relay::bind(&dir.sock("relay.sock"));
    let mut sub = SubscriptionBuilder::new(unix_url(&dir.sock("relay.sock")))
        .identity("stranger", "market_data")
        .backoff(Duration::from_millis(40), Duration::from_millis(40))
        .build::<Bytes>()
        .unwrap();
    let peer = tokio::spawn(async move {
        let mut connects = 0u32;
        loop {
            let Ok(Ok((s, _))) =
                tokio::time::timeout(Duration::from_millis(300), relay.listener.accept()).await
            else {
                return connects;
            };
            connects += 1;
            let mut c = Peer::new(s);
            // The subscription may be dropped at any point: tolerate a closed stream.
            if c.next().await.is_none() {
                continue;
            }
            let mut out = Vec::new();
            Control::Refuse {
                code: RefuseCode::UnknownName,
                reason: "service `stranger` does not subscribe to `market_data`".into(),
            }
            .append(&mut out, 1);
            let _ = tokio::io::AsyncWriteExt::write_all(&mut c.stream, &out).await;
        }
    });
    // Receive for 400 ms: every attempt is refused.
    assert!(
        tokio::time::timeout(Duration::from_millis(400), sub.recv())
            .await
            .is_err()
    );
    let st = sub.status();
    let refusal = st.last_refusal.clone().expect("the refusal is in status");
    assert_eq!(refusal.code, RefuseCode::UnknownName);
    assert!(refusal.reason.contains("stranger"), "{refusal:?}");
    let error = st
        .last_error
        .clone()
        .expect("the refusal is the last error")
        .to_string();
    assert!(
        error.contains("UnknownName") && error.contains("stranger"),
        "{error}"
    );
    assert!(!st.connected);
    drop(sub);
    let connects = guard("peer", peer).await.unwrap();
    // Retried, but at most once per 40 ms backoff in 400 ms: no hot loop.
    assert!(connects >= 2, "retried: {connects}");
    assert!(
        connects <= 11,
        "at most one attempt per backoff delay: {connects}"
    );
    assert!(
        st.refusals >= 2 && st.refusals <= u64::from(connects),
        "{st:?}"
    );
}

#[tokio::test]
async fn a_recv_cancelled_mid_frame_loses_nothing() {
    let dir = TempDir::new();
    let relay = Relay::bind(&dir.sock("relay.sock"));
    let mut sub = subscription::<Bytes>(&dir);
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let peer = tokio::spawn(async move {
        let mut c = relay.accept().await;
        c.welcome_subscriber().await;
        c.producer(P, "quotes_svc", "quotes").await;
        let frames = data(P, 1..=3);
        let cut = frames.len() / 2 + 7; // inside the second frame
        c.send(&frames[..cut]).await;
        go_rx.await.unwrap();
        c.send(&frames[cut..]).await;
        c.acked(P, 3).await;
    });
    message(guard("recv", sub.recv()).await, 1);
    // Cancelled while the second frame is torn.
    for _ in 0..3 {
        assert!(
            tokio::time::timeout(Duration::from_millis(20), sub.recv())
                .await
                .is_err()
        );
    }
    go_tx.send(()).unwrap();
    message(guard("recv", sub.recv()).await, 2);
    message(guard("recv", sub.recv()).await, 3);
    let _ = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await;
    guard("peer", peer).await.unwrap();
    assert_eq!(sub.status().received, 3);
}

#[tokio::test]
async fn a_frame_over_the_limit_is_refused_and_the_subscription_reconnects() {
    let dir = TempDir::new();
    let relay = Relay::bind(&dir.sock("relay.sock"));
    let mut sub = SubscriptionBuilder::new(unix_url(&dir.sock("relay.sock")))
        .identity("strategy", "market_data")
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .max_frame(1024)
        .build::<Bytes>()
        .unwrap();
    let peer = tokio::spawn(async move {
        let mut c = relay.accept().await;
        c.welcome_subscriber().await;
        let mut out = Vec::new();
        sinkgen_runtime::protocol::append_data(&mut out, P, 1, 1, &[0u8; 2000]);
        c.send(&out).await;
        match c.control().await {
            Control::Refuse { code, .. } => assert_eq!(code, RefuseCode::TooLarge),
            other => panic!("expected REFUSE, got {other:?}"),
        }
        let mut c = relay.accept().await;
        c.welcome_subscriber().await;
        c.producer(P, "quotes_svc", "quotes").await;
        c.send(&data(P, [2])).await;
    });
    message(guard("recv", sub.recv()).await, 2);
    guard("peer", peer).await.unwrap();
    let st = sub.status();
    assert_eq!(st.connects, 2);
    assert!(
        st.last_error
            .unwrap()
            .to_string()
            .contains("over the limit")
    );
}

#[tokio::test]
async fn a_bad_endpoint_is_a_build_error() {
    assert!(
        SubscriptionBuilder::new("unix://relative")
            .build::<Bytes>()
            .is_err()
    );
}

#[tokio::test]
async fn over_tcp_too() {
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = relay.local_addr().unwrap().port();
    let mut sub = SubscriptionBuilder::new(format!("tcp://127.0.0.1:{port}"))
        .identity("strategy", "market_data")
        .build::<Bytes>()
        .unwrap();
    let peer = tokio::spawn(async move {
        let mut c = Peer::new(relay.accept().await.unwrap().0);
        c.welcome_subscriber().await;
        c.producer(P, "quotes_svc", "quotes").await;
        c.send(&data(P, 1..=3)).await;
        c.acked(P, 3).await;
    });
    for seq in 1..=3 {
        message(guard("recv", sub.recv()).await, seq);
    }
    let _ = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await;
    guard("peer", peer).await.unwrap();
}

/// What generated code builds: a spec of literals; a bad endpoint (here given
/// explicitly, as `with_endpoints` would) makes `recv` return `None` with the reason
/// in status.
#[tokio::test]
async fn a_generated_subscription_with_a_bad_endpoint_ends_with_the_reason() {
    static SPEC: sinkgen_runtime::__private::SubscriptionSpec =
        sinkgen_runtime::__private::SubscriptionSpec {
            service: "strategy",
            relay: "market_data",
            endpoint: "unix:///tmp/unused.sock",
            env: "SINKGEN_RECEIVE_TEST_BAD_OVERRIDE",
            connect_timeout: Duration::from_millis(500),
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_secs(1),
            durable: None,
            credentials: None,
            tls: None,
        };
    let mut sub = sinkgen_runtime::__private::subscription::<Bytes, sinkgen_runtime::__private::Raw>(
        &SPEC,
        Some("tcp://nowhere"),
    );
    assert!(guard("recv", sub.recv()).await.is_none());
    let error = sub.status().last_error.unwrap().to_string();
    assert!(
        error.contains("subscription `market_data`") && error.contains("nowhere"),
        "{error}"
    );
}

#[tokio::test]
async fn a_relay_that_never_answers_the_handshake_is_left_and_retried() {
    let dir = TempDir::new();
    let relay = Relay::bind(&dir.sock("relay.sock"));
    let mut sub = SubscriptionBuilder::new(unix_url(&dir.sock("relay.sock")))
        .identity("strategy", "market_data")
        .connect_timeout(Duration::from_millis(30))
        .backoff(Duration::from_millis(5), Duration::from_millis(10))
        .build::<Bytes>()
        .unwrap();
    let peer = tokio::spawn(async move {
        // Accept twice, read the HELLO, answer nothing.
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut c = relay.accept().await;
            assert!(matches!(c.control().await, Control::Hello { .. }));
            held.push(c);
        }
        held
    });
    // Bounded: 200 rounds of 20 ms; the second connection comes after about 40 ms.
    for _ in 0..200 {
        assert!(
            tokio::time::timeout(Duration::from_millis(20), sub.recv())
                .await
                .is_err()
        );
        if peer.is_finished() {
            break;
        }
    }
    let held = guard("peer", peer).await.unwrap();
    let st = sub.status();
    assert!(!st.connected);
    assert!(st.connects >= 2);
    let error = st.last_error.unwrap().to_string();
    assert!(error.contains("did not answer the handshake"), "{error}");
    drop(held);
}
