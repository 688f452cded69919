//! `wss://` sinks (features `ws` and `tls`) against a real WebSocket server over TLS
//! on loopback: a tokio-rustls acceptor under tokio-tungstenite's server handshake,
//! certificates made at test time with rcgen. One binary message per frame, in order;
//! a server the `ca` does not vouch for refused and retried under backoff; client
//! certificates; the server killed mid-stream (its loss counted, never silent); the
//! platform's roots without a `tls` table.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::certs::{Ca, Dir, file};
use common::*;
use futures_util::StreamExt;
use sinkgen_runtime::tls::Tls;
use sinkgen_runtime::{ErrorClass, Framing, RelaySink, SinkBuilder, State};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Ids = Arc<Mutex<Vec<u64>>>;

/// How long a sink that cannot deliver lingers at close.
const LINGER: Duration = Duration::from_millis(100);
type Ws = WebSocketStream<TlsStream<TcpStream>>;

/// A TLS acceptor presenting a certificate for `localhost` signed by `ca`; with
/// `clients`, it requires client certificates signed by that CA.
fn acceptor(dir: &Dir, ca: &Ca, clients: Option<&Ca>) -> TlsAcceptor {
    let (cert, key) = ca.leaf(&["localhost"], false);
    let mut tls = Tls::new().identity(
        file(&dir.write("server.pem", &cert), "tls.cert", 3),
        file(&dir.write("server.key", &key), "tls.key", 4),
    );
    if let Some(clients) = clients {
        // `server_config` requires client certificates when a client identity is set.
        let (c, k) = clients.leaf(&["client"], true);
        tls = tls
            .ca(file(&dir.write("clients.pem", &clients.pem()), "tls.ca", 2))
            .client_identity(
                file(&dir.write("unused.pem", &c), "tls.client_cert", 5),
                file(&dir.write("unused.key", &k), "tls.client_key", 6),
            );
    }
    TlsAcceptor::from(Arc::new(tls.server_config().expect("a server config")))
}

/// One TLS handshake and one WebSocket handshake on the next connection. A small read
/// buffer keeps what the server has not read in the kernel.
async fn accept(listener: &TcpListener, acceptor: &TlsAcceptor) -> Result<Ws, String> {
    let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
    let tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
    let config = WebSocketConfig::default().read_buffer_size(4096);
    tokio_tungstenite::accept_async_with_config(tls, Some(config))
        .await
        .map_err(|e| e.to_string())
}

/// The payload id of one message, which must hold exactly one length-prefixed frame.
fn frame_of(msg: &[u8]) -> u64 {
    let len = u32::from_le_bytes(msg[..4].try_into().unwrap()) as usize;
    assert_eq!(msg.len(), 4 + len, "one message, one length-prefixed frame");
    check_payload(&msg[4..])
}

/// Reads messages into `ids` until `stop` of them arrived (the stream stays open) or
/// the connection ends; `true` when it ended with a close frame. Pings are answered
/// while reading.
async fn read_into(ws: &mut Ws, ids: &Ids, stop: Option<usize>) -> bool {
    let mut n = 0;
    while stop.is_none_or(|s| n < s) {
        match ws.next().await {
            Some(Ok(Message::Binary(m))) => {
                ids.lock().unwrap().push(frame_of(&m));
                n += 1;
            }
            Some(Ok(Message::Close(_))) => return true,
            Some(Err(_)) | None => return false,
            Some(Ok(other)) => assert!(other.is_ping() || other.is_pong(), "{other:?}"),
        }
    }
    false
}

fn url(listener: &TcpListener, path: &str) -> String {
    format!(
        "wss://localhost:{}{path}",
        listener.local_addr().unwrap().port()
    )
}

fn builder(url: &str) -> SinkBuilder {
    SinkBuilder::new(url)
        .framing(Framing::LengthPrefixed)
        .queue(4096)
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .send_timeout(Duration::from_secs(5))
}

/// The client side of the endpoint's `tls` table: trusts `ca`.
fn trusting(dir: &Dir, ca: &Ca) -> Tls {
    Tls::new().ca(file(
        &dir.write("ca.pem", &ca.pem()),
        "services.gateway.tls.ca",
        7,
    ))
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

#[tokio::test]
async fn frames_arrive_over_tls_one_message_each_in_order() {
    const N: u64 = 3000;
    let dir = Dir::new("wss-order");
    let ca = Ca::new("test CA");
    let acceptor = acceptor(&dir, &ca, None);
    let listener = bind().await;
    let url = url(&listener, "/feed");
    let ids: Ids = Arc::default();
    let server = {
        let ids = Arc::clone(&ids);
        tokio::spawn(async move {
            let mut ws = accept(&listener, &acceptor).await.unwrap();
            read_into(&mut ws, &ids, None).await
        })
    };
    // `localhost` resolves to the listener; the certificate is checked against it.
    let sink: RelaySink<Vec<u8>> = builder(&url).tls(trusting(&dir, &ca)).relay().unwrap();
    for id in 1..=N {
        // Sizes from 8 bytes to past one TLS record (16 KiB).
        let len = 8 + (id as usize * 37) % 20_000;
        sink.send(payload(id, len)).await.unwrap();
    }
    guard("flush", sink.flush()).await.unwrap();
    assert_eq!(*ids.lock().unwrap(), (1..=N).collect::<Vec<_>>());
    let st = sink.status();
    assert_eq!((st.frames_sent, st.lost.total()), (N, 0), "{st:?}");
    assert_eq!(st.state, State::Connected);
    assert_eq!(guard("close", sink.close()).await, 0);
    assert!(
        guard("server", server).await.unwrap(),
        "a closed sink says goodbye with a close frame"
    );
}

#[tokio::test]
async fn a_server_another_ca_signed_is_refused_and_retried_under_backoff() {
    let dir = Dir::new("wss-wrong-ca");
    let (trusted, other) = (Ca::new("trusted"), Ca::new("other"));
    let acceptor = acceptor(&dir, &other, None);
    let listener = bind().await;
    let url = url(&listener, "/");
    let upgrades = Arc::new(Mutex::new(0u32));
    let server = {
        let upgrades = Arc::clone(&upgrades);
        tokio::spawn(async move {
            loop {
                if accept(&listener, &acceptor).await.is_ok() {
                    *upgrades.lock().unwrap() += 1;
                }
            }
        })
    };
    let sink: RelaySink<Vec<u8>> = builder(&url).tls(trusting(&dir, &trusted)).relay().unwrap();
    sink.try_send(payload(1, 8)).unwrap();
    eventually("a few attempts", || sink.status().connect_attempts >= 2).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let st = sink.status();
    let error = st
        .last_error
        .clone()
        .expect("the failed handshake is reported");
    let text = error.to_string();
    assert_eq!(error.class(), ErrorClass::Retryable, "{text}");
    assert!(
        text.contains("TLS handshake with wss://localhost:"),
        "{text}"
    );
    assert!(text.contains("UnknownIssuer"), "{text}");
    // Backoff from 20 ms doubling to 200 ms: a handful of attempts in under a
    // second, nowhere near a spin.
    assert!(
        (2..=12).contains(&st.connect_attempts),
        "{} attempts",
        st.connect_attempts
    );
    assert!(
        matches!(st.state, State::Backoff | State::Connecting),
        "{:?}",
        st.state
    );
    assert_eq!((st.frames_sent, st.queue_depth), (0, 1), "{st:?}");
    assert_eq!(
        *upgrades.lock().unwrap(),
        0,
        "no WebSocket over a refused TLS"
    );
    // The frame never left: counted lost at close, not silently dropped.
    assert_eq!(guard("close", sink.close_with_linger(LINGER)).await, 1);
    server.abort();
}

#[tokio::test]
async fn a_server_requiring_client_certificates_takes_the_sinks() {
    let dir = Dir::new("wss-mtls");
    let ca = Ca::new("test CA");
    let acceptor = acceptor(&dir, &ca, Some(&ca));
    let listener = bind().await;
    // By address; the certificate (for `localhost`) is checked against `server_name`.
    let url = format!("wss://{}/", listener.local_addr().unwrap());
    let ids: Ids = Arc::default();
    let server = {
        let ids = Arc::clone(&ids);
        tokio::spawn(async move {
            loop {
                // Connections without a certificate fail here; the first that
                // completes both handshakes is read to its end.
                if let Ok(mut ws) = accept(&listener, &acceptor).await {
                    return read_into(&mut ws, &ids, None).await;
                }
            }
        })
    };

    // Without a client certificate: refused (TLS 1.3: the server's alert arrives
    // after the client finished its handshake, in the WebSocket handshake).
    let bare: RelaySink<Vec<u8>> = builder(&url)
        .tls(trusting(&dir, &ca).server_name("localhost"))
        .relay()
        .unwrap();
    bare.try_send(payload(1, 8)).unwrap();
    eventually("a refused attempt", || {
        bare.status().last_error.is_some() && bare.status().connect_attempts >= 2
    })
    .await;
    let error = bare.status().last_error.unwrap();
    assert!(error.is_retryable(), "{error}");
    assert!(
        error.to_string().to_lowercase().contains("certificate"),
        "{error}"
    );
    assert_eq!(bare.status().frames_sent, 0);
    assert_eq!(guard("close", bare.close_with_linger(LINGER)).await, 1);

    // With one signed by the CA: frames arrive.
    let (c, k) = ca.leaf(&["producer"], true);
    let tls = trusting(&dir, &ca)
        .server_name("localhost")
        .client_identity(
            file(
                &dir.write("c.pem", &c),
                "services.gateway.tls.client_cert",
                8,
            ),
            file(
                &dir.write("c.key", &k),
                "services.gateway.tls.client_key",
                9,
            ),
        );
    let sink: RelaySink<Vec<u8>> = builder(&url).tls(tls).relay().unwrap();
    for id in 1..=200 {
        sink.send(payload(id, 64)).await.unwrap();
    }
    guard("flush", sink.flush()).await.unwrap();
    assert_eq!(*ids.lock().unwrap(), (1..=200).collect::<Vec<_>>());
    assert_eq!(sink.status().frames_sent, 200);
    assert_eq!(guard("close", sink.close()).await, 0);
    assert!(guard("server", server).await.unwrap());
}

/// The server reads 100 frames, stops reading while the sink writes on, then drops
/// its connection without a close frame or a TLS close_notify (as a killed process's
/// would go: the kernel resets it, unread bytes and all). The sink reconnects to the
/// next connection. Every accepted frame is counted once, sent or lost; the frames
/// the dead connection took and no pong confirmed count as `lost.unconfirmed`; every
/// accepted frame was received or counted lost; nothing arrives twice or out of
/// order.
#[tokio::test]
async fn a_server_killed_mid_stream_loses_frames_only_counted() {
    const N: u64 = 2000;
    const READ: usize = 100;
    let dir = Dir::new("wss-kill");
    let ca = Ca::new("test CA");
    let acceptor = acceptor(&dir, &ca, None);
    let listener = bind().await;
    let url = url(&listener, "/");
    let ids: Ids = Arc::default();
    let (killed_tx, killed_rx) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let ids = Arc::clone(&ids);
        tokio::spawn(async move {
            let mut first = accept(&listener, &acceptor).await.unwrap();
            read_into(&mut first, &ids, Some(READ)).await;
            // Wait until the sink wrote more than this server read.
            let mut byte = [0u8; 1];
            first.get_ref().get_ref().0.peek(&mut byte).await.unwrap();
            // Dropped: no close frame, no close_notify; the kernel resets the
            // connection with the bytes this server never read.
            drop(first);
            killed_tx.send(()).unwrap();
            let mut second = accept(&listener, &acceptor).await.unwrap();
            read_into(&mut second, &ids, None).await;
        })
    };
    let sink: RelaySink<Vec<u8>> = builder(&url).tls(trusting(&dir, &ca)).relay().unwrap();
    for id in 1..=N {
        sink.send(payload(id, 1024)).await.unwrap();
    }
    guard("kill", killed_rx).await.unwrap();
    guard("flush", sink.flush()).await.unwrap();
    check_after_the_server_died(&sink, &ids, N).await;
    assert_eq!(guard("close", sink.close()).await, 0);
    guard("server", server).await.unwrap();
}

/// Without a `tls` table a `wss://` sink trusts the platform's roots only: a server
/// whose certificate a test CA signed is refused (or, on a machine without roots, the
/// error says to name a `ca`); verification is never skipped.
#[tokio::test]
async fn without_a_tls_table_the_platform_roots_are_trusted() {
    let dir = Dir::new("wss-platform");
    let ca = Ca::new("test CA");
    let acceptor = acceptor(&dir, &ca, None);
    let listener = bind().await;
    let url = url(&listener, "/");
    let server = tokio::spawn(async move {
        loop {
            let _ = accept(&listener, &acceptor).await;
        }
    });
    let sink: RelaySink<Vec<u8>> = builder(&url).relay().unwrap();
    sink.try_send(payload(1, 8)).unwrap();
    eventually("a refused attempt", || sink.status().last_error.is_some()).await;
    let error = sink.status().last_error.unwrap();
    let text = error.to_string();
    assert!(error.is_retryable(), "{text}");
    assert!(
        text.contains("UnknownIssuer") || text.contains("no trusted root certificates"),
        "{text}"
    );
    assert_eq!(sink.status().frames_sent, 0);
    assert_eq!(guard("close", sink.close_with_linger(LINGER)).await, 1);
    server.abort();
}

/// A `tls` table is for `wss://`: on a `ws://` endpoint the builder refuses it and
/// says to use `wss://`.
#[test]
fn a_ws_endpoint_cannot_be_secured() {
    let err = SinkBuilder::new("ws://127.0.0.1:9/feed")
        .tls(Tls::new())
        .relay::<Vec<u8>>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("help: use `wss://127.0.0.1:9/feed`"), "{err}");
}
