//! On a NATS relay a sender may encode its message straight into the client's bytes:
//! an `Encode::encode` that panics halfway must leave nothing of it in the next
//! message.

use std::time::Instant;

use super::common::Msg;
use super::*;

fn good(i: u8) -> Vec<u8> {
    vec![i; 40]
}

#[tokio::test]
async fn panicking_encode_leaves_nothing_in_the_next_nats_message() {
    if !server_available() {
        return;
    }
    let server = Server::start().await;
    let mut sub = Subscriber::new(&server, "panic.subject").await;
    let sink: RelaySink<Msg> =
        SinkBuilder::new(format!("nats://127.0.0.1:{}/panic.subject", server.port))
            .relay()
            .unwrap();
    sink.wait_connected(Instant::now() + MESSAGE_WAIT)
        .await
        .unwrap();
    for i in 0..3 {
        sink.send(Msg::Good(good(i))).await.unwrap();
    }
    let bad = sink.clone();
    let joined = tokio::spawn(async move { bad.send(Msg::Bad(40)).await }).await;
    assert!(joined.unwrap_err().is_panic());
    for i in 3..6 {
        sink.send(Msg::Good(good(i))).await.unwrap();
    }
    sink.flush().await.unwrap();
    let got = sub.exactly(6).await;
    for (i, m) in got.iter().enumerate() {
        assert_eq!(&m[..], &good(i as u8)[..], "message {i} exactly as sent");
    }
    let st = sink.status();
    assert_eq!(st.frames_sent, 6);
    assert_eq!(st.lost.total(), 0);
    assert_eq!(sink.close().await, 0);
}
