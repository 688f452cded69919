//! TLS (feature `tls`) against real servers on loopback: a rustls server for `tcp://`
//! sinks, `nats-server` with `tls { ... }` for NATS relays (with the `nats` feature).
//! Certificates are made at test time with rcgen.

use std::sync::Arc;
use std::time::Duration;

mod common;

use common::certs::{Ca, Dir, file};
use sinkgen_runtime::tls::Tls;
use sinkgen_runtime::{Bytes, Framing, RelaySink, Secret, SinkBuilder, State};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// The longest a test waits for something that must happen.
const WAIT: Duration = Duration::from_secs(10);

/// A rustls server on 127.0.0.1 presenting `cert`; with `clients`, it requires
/// client certificates signed by that CA. Returns its port and a channel of what each
/// accepted connection read (plaintext, until the peer closed).
async fn rustls_server(
    dir: &Dir,
    cert: (String, String),
    clients: Option<&Ca>,
) -> (u16, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
    let mut tls = Tls::new().identity(
        file(&dir.write("server.pem", &cert.0), "tls.cert", 3),
        file(&dir.write("server.key", &cert.1), "tls.key", 4),
    );
    if let Some(ca) = clients {
        let (c, k) = ca.leaf(&["client"], true);
        tls = tls
            .ca(file(&dir.write("clients-ca.pem", &ca.pem()), "tls.ca", 2))
            .client_identity(
                file(&dir.write("client.pem", &c), "tls.client_cert", 5),
                file(&dir.write("client.key", &k), "tls.client_key", 6),
            );
    }
    let config = Arc::new(tls.server_config().expect("a server config"));
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut all = Vec::new();
                let _ = stream.read_to_end(&mut all).await;
                let _ = tx.send(all);
            });
        }
    });
    (port, rx)
}

/// The bodies of length-prefixed frames.
fn bodies(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert!(bytes.len() >= 4 + len, "a torn frame at the end");
        out.push(bytes[4..4 + len].to_vec());
        bytes = &bytes[4 + len..];
    }
    assert!(bytes.is_empty(), "trailing bytes");
    out
}

fn sink(port: u16, tls: Tls) -> RelaySink<Bytes> {
    SinkBuilder::new(format!("tcp://127.0.0.1:{port}"))
        .framing(Framing::LengthPrefixed)
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        // The bound of `flush()`: tens of MB through TLS in a debug build on a busy
        // machine can take more than the default second.
        .send_timeout(WAIT)
        .tls(tls)
        .relay()
        .expect("a sink")
}

#[tokio::test]
async fn frames_reach_a_rustls_server_whole_and_in_order() {
    let dir = Dir::new("order");
    let ca = Ca::new("test CA");
    let (port, mut rx) = rustls_server(&dir, ca.leaf(&["localhost"], false), None).await;
    let tls = Tls::new()
        .ca(file(&dir.write("ca.pem", &ca.pem()), "relays.r.tls.ca", 7))
        .server_name("localhost");
    let sink = sink(port, tls);
    const N: u32 = 5_000;
    for i in 0..N {
        // Sizes from 1 byte to past one TLS record (16 KiB).
        let body = vec![(i % 251) as u8; 1 + (i as usize * 37) % 20_000];
        sink.send(Bytes::from(body)).await.expect("send");
    }
    sink.flush().await.expect("flush");
    sink.close().await;
    let got = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("the server saw the connection end")
        .expect("a connection");
    let got = bodies(&got);
    assert_eq!(got.len(), N as usize);
    for (i, body) in got.iter().enumerate() {
        assert_eq!(body.len(), 1 + (i * 37) % 20_000, "frame {i}");
        assert!(body.iter().all(|b| *b == (i % 251) as u8), "frame {i}");
    }
    assert_eq!(sink.status().frames_sent, u64::from(N));
}

#[tokio::test]
async fn a_server_signed_by_another_ca_is_refused_and_the_sink_backs_off() {
    let dir = Dir::new("wrong-ca");
    let (trusted, other) = (Ca::new("trusted"), Ca::new("other"));
    let (port, mut rx) = rustls_server(&dir, other.leaf(&["localhost"], false), None).await;
    let tls = Tls::new()
        .ca(file(
            &dir.write("ca.pem", &trusted.pem()),
            "relays.r.tls.ca",
            7,
        ))
        .server_name("localhost");
    let sink = sink(port, tls);
    sink.try_send(Bytes::from_static(b"never")).expect("queued");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let status = sink.status();
    let error = status.last_error.expect("a failed handshake").to_string();
    assert!(error.contains("TLS handshake"), "{error}");
    assert!(
        error.contains("UnknownIssuer") || error.contains("issuer"),
        "{error}"
    );
    // Backoff from 20 ms doubling to 200 ms over 600 ms: a handful of attempts,
    // nowhere near a spin.
    assert!(
        (2..=12).contains(&status.connect_attempts),
        "{} attempts in 600 ms",
        status.connect_attempts
    );
    assert_eq!(status.frames_sent, 0);
    assert!(
        matches!(status.state, State::Backoff | State::Connecting),
        "{:?}",
        status.state
    );
    sink.close().await;
    // Nothing the server accepted carried a byte of plaintext.
    while let Ok(got) = rx.try_recv() {
        assert!(got.is_empty());
    }
}

#[tokio::test]
async fn a_missing_variable_or_file_names_the_key_and_line_and_the_sink_backs_off() {
    let dir = Dir::new("missing");
    let ca = Ca::new("test CA");
    let (port, _rx) = rustls_server(&dir, ca.leaf(&["localhost"], false), None).await;
    let cases = [
        (
            Secret::env(
                "SINKGEN_TEST_TLS_CA_NEVER_SET",
                "relays.quotes.tls.ca",
                "services.toml",
                12,
            ),
            "`relays.quotes.tls.ca` (services.toml:12): environment variable `SINKGEN_TEST_TLS_CA_NEVER_SET` is not set",
        ),
        (
            Secret::file(
                dir.0.join("absent.pem").display().to_string(),
                "relays.quotes.tls.ca",
                "services.toml",
                13,
            ),
            "`relays.quotes.tls.ca` (services.toml:13): cannot read file",
        ),
    ];
    for (secret, expected) in cases {
        let sink = sink(port, Tls::new().ca(secret).server_name("localhost"));
        sink.try_send(Bytes::from_static(b"x")).expect("queued");
        tokio::time::sleep(Duration::from_millis(400)).await;
        let status = sink.status();
        let error = status.last_error.expect("the secret's error").to_string();
        assert!(error.starts_with(expected), "{error}");
        assert!(
            (2..=10).contains(&status.connect_attempts),
            "{}",
            status.connect_attempts
        );
        assert_eq!(
            status.lost.fatal, 0,
            "a missing secret is retried, not fatal"
        );
        sink.close().await;
    }
}

#[tokio::test]
async fn a_server_requiring_client_certificates_takes_the_sinks() {
    let dir = Dir::new("mtls");
    let ca = Ca::new("test CA");
    let (port, mut rx) = rustls_server(&dir, ca.leaf(&["localhost"], false), Some(&ca)).await;
    let ca_file = dir.write("ca.pem", &ca.pem());

    // Without a client certificate: refused.
    let bare = sink(
        port,
        Tls::new()
            .ca(file(&ca_file, "relays.r.tls.ca", 7))
            .server_name("localhost"),
    );
    bare.try_send(Bytes::from_static(b"x")).expect("queued");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // In TLS 1.3 the server refuses the missing certificate after the client has
    // finished its handshake: the sink meets the server's alert on the connection.
    let error = bare.status().last_error.expect("refused").to_string();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    bare.close().await;
    while let Ok(got) = rx.try_recv() {
        assert!(
            got.is_empty(),
            "plaintext from a sink without a certificate"
        );
    }

    // With one signed by the CA: frames arrive.
    let (c, k) = ca.leaf(&["client"], true);
    let tls = Tls::new()
        .ca(file(&ca_file, "relays.r.tls.ca", 7))
        .server_name("localhost")
        .client_identity(
            file(&dir.write("c.pem", &c), "relays.r.tls.client_cert", 8),
            file(&dir.write("c.key", &k), "relays.r.tls.client_key", 9),
        );
    let sink = sink(port, tls);
    for i in 0..100u8 {
        sink.send(Bytes::from(vec![i; 10])).await.expect("send");
    }
    sink.flush().await.expect("flush");
    sink.close().await;
    let got = loop {
        let got = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("the connection ended")
            .expect("a connection");
        if !got.is_empty() {
            break got;
        }
    };
    let got = bodies(&got);
    assert_eq!(got, (0..100u8).map(|i| vec![i; 10]).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_direct_sink_reaches_an_inbox_served_over_tls_with_client_certificates() {
    use sinkgen_runtime::{DirectSink, InboxBuilder, Received};
    let dir = Dir::new("inbox");
    let ca = Ca::new("test CA");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let ca_file = dir.write("ca.pem", &ca.pem());
    let (cert, key) = ca.leaf(&["localhost"], false);
    let (client_cert, client_key) = ca.leaf(&["strategy"], true);
    let client = (
        file(
            &dir.write("c.pem", &client_cert),
            "services.executor.tls.client_cert",
            8,
        ),
        file(
            &dir.write("c.key", &client_key),
            "services.executor.tls.client_key",
            9,
        ),
    );
    // The service's tls table, as both ends read it.
    let tls = Tls::new()
        .ca(file(&ca_file, "services.executor.tls.ca", 4))
        .server_name("localhost")
        .identity(
            file(&dir.write("s.pem", &cert), "services.executor.tls.cert", 6),
            file(&dir.write("s.key", &key), "services.executor.tls.key", 7),
        )
        .client_identity(client.0, client.1);
    let mut inbox = InboxBuilder::new(url.as_str())
        .service("executor")
        .senders(["strategy"])
        .tls(tls.clone())
        .build::<Bytes>()
        .expect("an inbox");
    // Bound on the first poll.
    let _ = tokio::time::timeout(Duration::from_millis(50), inbox.recv()).await;
    let sink: DirectSink<Bytes> = SinkBuilder::new(url.as_str())
        .name("executor")
        .identity("strategy", "executor")
        .framing(Framing::Sinkgen)
        .tls(tls)
        .direct()
        .expect("a sink");
    const N: u64 = 1_000;
    for i in 0..N {
        sink.send(Bytes::copy_from_slice(&i.to_le_bytes()))
            .await
            .expect("send");
    }
    for i in 0..N {
        match tokio::time::timeout(WAIT, inbox.recv())
            .await
            .expect("in time")
        {
            Some(Received::Message { message, producer }) => {
                assert_eq!(message.as_ref(), i.to_le_bytes(), "message {i}");
                assert_eq!(producer.service(), "strategy");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Acknowledged by the inbox through TLS.
    sink.flush().await.expect("every frame acknowledged");
    assert_eq!(sink.status().frames_sent, N);
    sink.close().await;
}

#[test]
fn a_unix_endpoint_cannot_be_secured() {
    let err = SinkBuilder::new("unix:///tmp/x.sock")
        .tls(Tls::new())
        .relay::<Bytes>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be secured with TLS"), "{err}");
}

#[test]
fn a_key_that_is_not_pem_names_its_key_and_line() {
    let dir = Dir::new("bad-pem");
    let ca = Ca::new("test CA");
    let (cert, _) = ca.leaf(&["localhost"], false);
    let err = Tls::new()
        .identity(
            file(&dir.write("s.pem", &cert), "services.s.tls.cert", 3),
            file(&dir.write("s.key", "not a key"), "services.s.tls.key", 4),
        )
        .server_config()
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("`services.s.tls.key` (line 4): not a usable PEM private key"),
        "{err}"
    );
}

/// Over TLS, as over plain TCP, the kernel knows which record bytes the peer's TCP
/// acknowledged, and the socket maps them back to frames: a peer that stops reading
/// and dies leaves the frames that never reached its host counted lost, never sent
/// (SPEC G3; the same test over plain TCP is in `unread.rs`).
#[tokio::test]
async fn frames_that_never_reached_a_dead_tls_peer_are_counted_lost() {
    use std::os::fd::AsRawFd;
    const READ: u64 = 100;
    let dir = Dir::new("stalled");
    let ca = Ca::new("test CA");
    let (cert, key) = ca.leaf(&["localhost"], false);
    let server = Tls::new().identity(
        file(&dir.write("server.pem", &cert), "tls.cert", 3),
        file(&dir.write("server.key", &key), "tls.key", 4),
    );
    let acceptor =
        tokio_rustls::TlsAcceptor::from(Arc::new(server.server_config().expect("a server config")));
    let listener = common::small_buffer_listener();
    let port = listener.local_addr().expect("addr").port();
    let tls = Tls::new()
        .ca(file(&dir.write("ca.pem", &ca.pem()), "relays.r.tls.ca", 7))
        .server_name("localhost");
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(format!("tcp://127.0.0.1:{port}"))
        .framing(Framing::LengthPrefixed)
        .queue(64)
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .tls(tls)
        .relay()
        .expect("a sink");
    // The peer reads 100 frames, stops reading, and dies when told, with records
    // unread (a reset); its listener goes with it, so the sink cannot reconnect.
    let (die_tx, die_rx) = tokio::sync::oneshot::channel::<()>();
    let peer = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut s = acceptor.accept(tcp).await.expect("TLS handshake");
        for id in 1..=READ {
            let body = common::read_lp(&mut s).await.expect("a frame");
            assert_eq!(common::check_payload(&body), id);
        }
        let _ = die_rx.await;
        common::unread_here(s.get_ref().0.as_raw_fd())
    });
    let accepted = common::send_until_stalled(&sink, 1024).await;
    let written = sink.status().frames_sent;
    die_tx.send(()).expect("the peer waits");
    let unread = common::guard("peer", peer).await.expect("the peer");
    common::eventually("the loss counted", || sink.status().lost.unconfirmed > 0).await;
    sink.close_with_linger(Duration::ZERO).await;
    let st = sink.status();
    eprintln!("{written} of {accepted} frames written; {unread} bytes unread by the peer; {st:?}");
    // The peer's TLS reader may hold up to two records (16 KiB each) it read from the
    // socket and did not hand on.
    common::check_stalled_peer(&st, accepted, 1028, (READ, unread, 2 * 16_640));
}

#[cfg(feature = "nats")]
#[path = "tls/nats.rs"]
mod nats;
