//! On a NATS relay a sender may encode its message straight into the client's bytes:
//! an `Encode::encode` that panics halfway must leave nothing of it in the next
//! message. Runs against a real `nats-server` on 127.0.0.1 (skipped, loudly, when it
//! is not on PATH outside CI, like tests/nats.rs).
#![cfg(feature = "nats")]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sinkgen_runtime::bytes::BufMut;
use sinkgen_runtime::{Bytes, Encode, RelaySink, SinkBuilder};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

/// A good message, or one whose `encode` writes half its bytes and then panics.
enum Msg {
    Good(Vec<u8>),
    Bad(usize),
}

impl Encode for Msg {
    fn encoded_len(&self) -> usize {
        match self {
            Msg::Good(p) => p.len(),
            Msg::Bad(len) => *len,
        }
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        match self {
            Msg::Good(p) => buf.put_slice(p),
            Msg::Bad(len) => {
                buf.put_bytes(0xEE, len / 2);
                panic!("encode failed halfway (on purpose)");
            }
        }
    }
}

/// `nats-server` on a free loopback port; killed on drop.
struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_server() -> Option<Server> {
    let found = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "nats-server is not on PATH; CI installs it"
        );
        eprintln!("*** SKIPPED: nats-server is not on PATH, so this NATS test did not run ***");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server");
    let server = Server(child, port);
    for _ in 0..200 {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await {
            let mut info = [0u8; 4];
            if s.read_exact(&mut info).await.is_ok() && &info == b"INFO" {
                return Some(server);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nats-server on port {port} did not come up");
}

async fn next(sub: &mut async_nats::Subscriber, wait: Duration) -> Option<Bytes> {
    use futures_core::Stream;
    let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *sub).poll_next(cx));
    tokio::time::timeout(wait, next)
        .await
        .ok()
        .flatten()
        .map(|m| m.payload)
}

fn good(i: u8) -> Vec<u8> {
    vec![i; 40]
}

#[tokio::test]
async fn panicking_encode_leaves_nothing_in_the_next_nats_message() {
    let Some(server) = start_server().await else {
        return;
    };
    let client = async_nats::connect(format!("nats://127.0.0.1:{}", server.1))
        .await
        .unwrap();
    let mut sub = client.subscribe("panic.subject").await.unwrap();
    client
        .publish("panic.subject", Bytes::from_static(b"probe"))
        .await
        .unwrap();
    assert_eq!(&next(&mut sub, WAIT).await.unwrap()[..], b"probe");

    let sink: RelaySink<Msg> =
        SinkBuilder::new(format!("nats://127.0.0.1:{}/panic.subject", server.1))
            .relay()
            .unwrap();
    sink.wait_connected(Instant::now() + WAIT).await.unwrap();
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
    for i in 0..6 {
        let got = next(&mut sub, WAIT).await.expect("a message");
        assert_eq!(&got[..], &good(i)[..], "message {i} exactly as sent");
    }
    assert!(
        next(&mut sub, Duration::from_millis(300)).await.is_none(),
        "nothing more"
    );
    let st = sink.status();
    assert_eq!(st.frames_sent, 6);
    assert_eq!(st.lost.total(), 0);
    assert_eq!(sink.close().await, 0);
}
