//! `Subscription` over NATS: a core subscription on the relay's subject.

use std::time::Duration;

use sinkgen_runtime::{Received, Subscription};

use super::{MESSAGE_WAIT, Server, server_available};

/// A server on a given port (a restart of a stopped one).
async fn start_on(port: u16) -> Server {
    let monitor = super::free_port();
    let child = std::process::Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", &monitor.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start nats-server");
    Server::ready(child, port, monitor).await
}

/// Receives until the subscription is connected (nothing is published yet).
async fn connected(sub: &mut Subscription<String>) {
    for _ in 0..super::PROBES {
        let _ = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await;
        if sub.status().connected {
            return;
        }
    }
    panic!("the subscription did not connect: {:?}", sub.status());
}

async fn publish(server: &Server, subject: &'static str, payloads: &[&'static [u8]]) {
    let client = async_nats::connect(format!("nats://127.0.0.1:{}", server.port))
        .await
        .unwrap();
    for p in payloads {
        client
            .publish(subject, bytes::Bytes::from_static(p))
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
}

#[tokio::test]
async fn messages_arrive_in_order_and_a_bad_payload_is_an_item() {
    if !server_available() {
        return;
    }
    let server = Server::start().await;
    let mut sub: Subscription<String> =
        Subscription::new(&format!("nats://127.0.0.1:{}/market", server.port)).unwrap();
    connected(&mut sub).await;
    publish(&server, "market", &[b"one", b"two", b"\xff", b"three"]).await;
    let mut got = Vec::new();
    for _ in 0..4 {
        match tokio::time::timeout(MESSAGE_WAIT, sub.recv())
            .await
            .unwrap()
        {
            Some(Received::Message { message, .. }) => got.push(message),
            Some(Received::Undecodable { .. }) => got.push("<undecodable>".into()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, ["one", "two", "<undecodable>", "three"]);
    let st = sub.status();
    assert_eq!((st.received, st.undecodable, st.connects), (3, 1, 1));
}

#[tokio::test]
async fn a_lost_server_is_reconnected_to() {
    if !server_available() {
        return;
    }
    let server = Server::start().await;
    let port = server.port;
    let mut sub: Subscription<String> =
        Subscription::new(&format!("nats://127.0.0.1:{port}/market")).unwrap();
    connected(&mut sub).await;
    server.stop().await;
    // Receiving notices the loss and retries under backoff until a server is back.
    for _ in 0..super::PROBES {
        let _ = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await;
        if !sub.status().connected {
            break;
        }
    }
    assert!(!sub.status().connected);
    assert!(sub.status().last_error.is_some());
    let server = start_on(port).await;
    connected(&mut sub).await;
    publish(&server, "market", &[b"back"]).await;
    match tokio::time::timeout(MESSAGE_WAIT, sub.recv())
        .await
        .unwrap()
    {
        Some(Received::Message { message, .. }) => assert_eq!(message, "back"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(sub.status().connects >= 2);
}
