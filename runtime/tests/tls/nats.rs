//! NATS relays over TLS: a sink and a subscription through a `nats-server` started
//! with `tls { ... }` (and `verify: true` for client certificates) on loopback.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sinkgen_runtime::tls::Tls;
use sinkgen_runtime::{
    Bytes, Framing, Received, RelaySink, SinkBuilder, Subscription, SubscriptionBuilder,
};

use super::common::server_available;
use super::{Ca, Dir, WAIT, file};

/// A `nats-server` child requiring TLS on 127.0.0.1; killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Presents a certificate for `localhost` signed by `ca`; with `verify`, requires
    /// client certificates signed by it too.
    async fn start(dir: &Dir, ca: &Ca, verify: bool) -> Server {
        let (cert, key) = ca.leaf(&["localhost"], false);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = format!(
            "listen: \"127.0.0.1:{port}\"\ntls {{\n  cert_file: {:?}\n  key_file: {:?}\n  ca_file: {:?}\n  verify: {verify}\n}}\n",
            dir.write("nats.pem", &cert),
            dir.write("nats.key", &key),
            dir.write("nats-ca.pem", &ca.pem()),
        );
        let conf = dir.write("nats.conf", &config);
        let child = Command::new("nats-server")
            .args(["-c", &conf])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        let server = Server { child, port };
        for _ in 0..200 {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                use tokio::io::AsyncReadExt;
                let mut info = [0u8; 4];
                if s.read_exact(&mut info).await.is_ok() && &info == b"INFO" {
                    return server;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server with TLS on port {port} did not come up");
    }
}

fn client_tls(dir: &Dir, ca: &Ca, with_cert: bool) -> Tls {
    let tls = Tls::new()
        .ca(file(&dir.write("ca.pem", &ca.pem()), "relays.q.tls.ca", 4))
        .server_name("localhost");
    if !with_cert {
        return tls;
    }
    let (c, k) = ca.leaf(&["sink"], true);
    tls.client_identity(
        file(&dir.write("client.pem", &c), "relays.q.tls.client_cert", 5),
        file(&dir.write("client.key", &k), "relays.q.tls.client_key", 6),
    )
}

/// A sink and a subscription through the server: every message arrives, in order.
async fn through(verify: bool) {
    let dir = Dir::new(if verify { "nats-mtls" } else { "nats-tls" });
    let ca = Ca::new("nats CA");
    let server = Server::start(&dir, &ca, verify).await;
    let endpoint = format!("nats://127.0.0.1:{}/secured", server.port);
    let mut sub: Subscription<Bytes> = SubscriptionBuilder::new(endpoint.as_str())
        .tls(client_tls(&dir, &ca, verify))
        .build()
        .expect("a subscription");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !sub.status().connected {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", sub.status());
        let _ = tokio::time::timeout(Duration::from_millis(50), sub.recv()).await;
    }
    let sink: RelaySink<Bytes> = SinkBuilder::new(endpoint.as_str())
        .framing(Framing::LengthPrefixed)
        .tls(client_tls(&dir, &ca, verify))
        .relay()
        .expect("a sink");
    const N: u64 = 500;
    for i in 0..N {
        sink.send(Bytes::from(i.to_le_bytes().to_vec()))
            .await
            .expect("send");
    }
    sink.flush()
        .await
        .expect("every frame confirmed by the server");
    for i in 0..N {
        match tokio::time::timeout(WAIT, sub.recv())
            .await
            .expect("in time")
        {
            Some(Received::Message { message, .. }) => {
                assert_eq!(message.as_ref(), i.to_le_bytes(), "message {i}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(sink.status().frames_sent, N);
    sink.close().await;
}

#[tokio::test]
async fn a_sink_and_a_subscription_reach_each_other_through_a_tls_server() {
    if server_available() {
        through(false).await;
    }
}

#[tokio::test]
async fn client_certificates_are_presented_to_a_server_that_verifies_them() {
    if server_available() {
        through(true).await;
    }
}

#[tokio::test]
async fn a_verifying_server_refuses_a_sink_without_a_certificate_and_it_backs_off() {
    if !server_available() {
        return;
    }
    let dir = Dir::new("nats-refused");
    let ca = Ca::new("nats CA");
    let server = Server::start(&dir, &ca, true).await;
    let sink: RelaySink<Bytes> =
        SinkBuilder::new(format!("nats://127.0.0.1:{}/secured", server.port))
            .backoff(Duration::from_millis(20), Duration::from_millis(200))
            .tls(client_tls(&dir, &ca, false))
            .relay()
            .expect("a sink");
    sink.try_send(Bytes::from_static(b"x")).expect("queued");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = sink.status();
    assert_eq!(status.frames_sent, 0);
    assert!(status.last_error.is_some(), "{status:?}");
    assert!(
        (1..=20).contains(&status.connect_attempts),
        "{} attempts",
        status.connect_attempts
    );
    sink.close().await;
}
