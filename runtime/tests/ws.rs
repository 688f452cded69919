//! `ws://` sinks against a real WebSocket server on loopback (tokio-tungstenite in
//! this process, a real handshake over a real TCP socket): one binary message per
//! frame, in order; lazy connect and backoff; a peer that dies mid-stream (the loss
//! counted, never silent); the queue bound; sinkgen framing refused, and `wss://`
//! without the `tls` feature (`tests/wss.rs` runs it over TLS).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use sinkgen_runtime::{ErrorClass, Framing, RelaySink, SendErrorKind, SinkBuilder, State};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Ids = Arc<Mutex<Vec<u64>>>;

/// Accepts one WebSocket connection; the request path goes to `path`. A small read
/// buffer keeps what the server has not read in the kernel, where a test can see it.
async fn accept(
    listener: &TcpListener,
    path: Option<Arc<Mutex<String>>>,
) -> WebSocketStream<TcpStream> {
    let (tcp, _) = listener.accept().await.unwrap();
    let config = WebSocketConfig::default().read_buffer_size(4096);
    // The signature tungstenite's `Callback` asks for.
    #[allow(clippy::result_large_err)]
    let callback = move |req: &Request, resp: Response| {
        if let Some(path) = path {
            *path.lock().unwrap() = req.uri().path().to_owned();
        }
        Ok(resp)
    };
    tokio_tungstenite::accept_hdr_async_with_config(tcp, callback, Some(config))
        .await
        .unwrap()
}

/// The payload id of one message, which must hold exactly one whole frame.
async fn frame_of(framing: Framing, msg: &[u8]) -> u64 {
    match framing {
        Framing::LengthPrefixed => {
            let len = u32::from_le_bytes(msg[..4].try_into().unwrap()) as usize;
            assert_eq!(msg.len(), 4 + len, "one message, one length-prefixed frame");
            check_payload(&msg[4..])
        }
        _ => {
            let mut rest = msg;
            let frame = read_torq(&mut rest).await.expect("a torq frame");
            assert!(rest.is_empty(), "one message, one torq frame");
            check_payload(&frame.payload)
        }
    }
}

/// Reads messages into `ids` until `stop` of them arrived (the stream stays open) or
/// the connection ends; `true` when it ended with a close frame. Pings are answered
/// while reading.
async fn read_into(
    ws: &mut WebSocketStream<TcpStream>,
    framing: Framing,
    ids: &Ids,
    stop: Option<usize>,
) -> bool {
    let mut n = 0;
    while stop.is_none_or(|s| n < s) {
        match ws.next().await {
            Some(Ok(Message::Binary(m))) => {
                let id = frame_of(framing, &m).await;
                ids.lock().unwrap().push(id);
                n += 1;
            }
            Some(Ok(Message::Close(_))) => return true,
            Some(Err(_)) | None => return false,
            Some(Ok(other)) => assert!(other.is_ping() || other.is_pong(), "{other:?}"),
        }
    }
    false
}

fn ws_url(listener: &TcpListener, path: &str) -> String {
    format!("ws://{}{path}", listener.local_addr().unwrap())
}

fn builder(url: &str) -> SinkBuilder {
    SinkBuilder::new(url)
        .queue(4096)
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .send_timeout(Duration::from_secs(5))
}

async fn one_message_per_frame(framing: Framing) {
    const N: u64 = 2000;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = ws_url(&listener, "/feed/ticks");
    let path = Arc::new(Mutex::new(String::new()));
    let ids: Ids = Arc::default();
    let server = {
        let (path, ids) = (Arc::clone(&path), Arc::clone(&ids));
        tokio::spawn(async move {
            let mut ws = accept(&listener, Some(path)).await;
            read_into(&mut ws, framing, &ids, None).await
        })
    };
    let sink: RelaySink<Vec<u8>> = builder(&url).framing(framing).relay().unwrap();
    for id in 1..=N {
        sink.send(payload(id, 16 + (id as usize % 200)))
            .await
            .unwrap();
    }
    guard("flush", sink.flush()).await.unwrap();
    assert_eq!(*path.lock().unwrap(), "/feed/ticks");
    assert_eq!(*ids.lock().unwrap(), (1..=N).collect::<Vec<_>>());
    let st = sink.status();
    assert_eq!((st.frames_sent, st.lost.total()), (N, 0), "{st:?}");
    assert_eq!(st.state, State::Connected);
    assert_eq!(guard("close", sink.close()).await, 0);
    let closed = guard("server", server).await.unwrap();
    assert!(closed, "a closed sink says goodbye with a close frame");
}

#[tokio::test]
async fn length_prefixed_frames_arrive_one_message_each_in_order() {
    one_message_per_frame(Framing::LengthPrefixed).await;
}

#[tokio::test]
async fn torq_frames_arrive_one_message_each_in_order() {
    one_message_per_frame(Framing::Torq {
        domain: 3,
        source: 9,
    })
    .await;
}

#[tokio::test]
async fn lazy_connect_then_backoff_until_the_server_appears() {
    // A port with nobody listening (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/");
    let sink: RelaySink<Vec<u8>> = builder(&url).relay().unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let st = sink.status();
    assert_eq!(
        (st.state, st.connect_attempts),
        (State::Idle, 0),
        "no I/O before the first send"
    );

    for id in 1..=10 {
        sink.send(payload(id, 32)).await.unwrap();
    }
    eventually("a few refused attempts", || {
        sink.status().connect_attempts >= 3
    })
    .await;
    let st = sink.status();
    let error = st.last_error.expect("the refusal is reported");
    assert_eq!(error.class(), ErrorClass::Retryable, "{error}");
    assert_eq!(
        error.io_kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{error}"
    );
    // Backoff, not a hot loop: attempts are at least `initial` (10 ms) apart.
    let before = sink.status().connect_attempts;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = sink.status().connect_attempts - before;
    assert!(
        during <= 22,
        "{during} attempts in 200 ms with a 10 ms initial backoff"
    );

    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let ids: Ids = Arc::default();
    let server = {
        let ids = Arc::clone(&ids);
        tokio::spawn(async move {
            let mut ws = accept(&listener, None).await;
            read_into(&mut ws, Framing::LengthPrefixed, &ids, None).await;
        })
    };
    guard("flush", sink.flush()).await.unwrap();
    assert_eq!(*ids.lock().unwrap(), (1..=10).collect::<Vec<_>>());
    let st = sink.status();
    assert_eq!((st.frames_sent, st.lost.total()), (10, 0), "{st:?}");
    assert_eq!(guard("close", sink.close()).await, 0);
    guard("server", server).await.unwrap();
}

/// The server reads 100 frames, stops reading while the sink writes on, then its
/// socket is dropped without a close frame (as a killed process's would be: the
/// kernel resets it, unread bytes and all). The sink reconnects to the next
/// connection. Every accepted frame is received or counted lost; the frames the dead
/// connection took and no pong confirmed count as `lost.unconfirmed`; nothing arrives
/// twice or out of order.
#[tokio::test]
async fn a_server_killed_mid_stream_loses_frames_only_counted() {
    const N: u64 = 2000;
    const READ: usize = 100;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = ws_url(&listener, "/");
    let ids: Ids = Arc::default();
    let (killed_tx, killed_rx) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let ids = Arc::clone(&ids);
        tokio::spawn(async move {
            let mut first = accept(&listener, None).await;
            read_into(&mut first, Framing::LengthPrefixed, &ids, Some(READ)).await;
            // Wait until the sink wrote more than this server read.
            let mut byte = [0u8; 1];
            first.get_ref().peek(&mut byte).await.unwrap();
            // Dropped: no close frame, no close_notify; the kernel resets the
            // connection with the bytes this server never read.
            drop(first);
            killed_tx.send(()).unwrap();
            let mut second = accept(&listener, None).await;
            read_into(&mut second, Framing::LengthPrefixed, &ids, None).await;
        })
    };
    let sink: RelaySink<Vec<u8>> = builder(&url).relay().unwrap();
    for id in 1..=N {
        sink.send(payload(id, 1024)).await.unwrap();
    }
    guard("kill", killed_rx).await.unwrap();
    guard("flush", sink.flush()).await.unwrap();
    check_after_the_server_died(&sink, &ids, N).await;
    assert_eq!(guard("close", sink.close()).await, 0);
    guard("server", server).await.unwrap();
}

/// A server that completes the handshake and then reads nothing never answers a
/// ping: frames in doubt take room in the queue, so the sink refuses more than its
/// bound (giving the message back), and takes frames again once the server reads.
#[tokio::test]
async fn the_queue_stays_bounded_while_the_server_reads_nothing() {
    const QUEUE: usize = 16;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = ws_url(&listener, "/");
    let ids: Ids = Arc::default();
    let (read_tx, read_rx) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let ids = Arc::clone(&ids);
        tokio::spawn(async move {
            let mut ws = accept(&listener, None).await;
            let _ = read_rx.await;
            read_into(&mut ws, Framing::LengthPrefixed, &ids, None).await;
        })
    };
    let sink: RelaySink<Vec<u8>> = builder(&url)
        .queue(QUEUE)
        .send_timeout(Duration::from_millis(50))
        .relay()
        .unwrap();
    let mut accepted = 0u64;
    let mut refused = None;
    for id in 1..=10_000 {
        match sink.try_send(payload(id, 256)) {
            Ok(()) => accepted += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let refused = refused.expect("the queue filled up");
    assert_eq!(refused.kind(), SendErrorKind::Full);
    assert_eq!(
        check_payload(refused.message()),
        accepted + 1,
        "the message is handed back"
    );
    assert!(
        accepted <= 2 * QUEUE as u64,
        "{accepted} accepted with queue = {QUEUE}"
    );
    let late = sink.send(payload(accepted + 1, 256)).await.unwrap_err();
    assert_eq!(late.kind(), SendErrorKind::Timeout);
    assert!(
        sink.status().queue_depth <= 2 * QUEUE,
        "{:?}",
        sink.status()
    );

    read_tx.send(()).unwrap();
    guard(
        "send after the server reads",
        sink.send(late.into_message()),
    )
    .await
    .unwrap();
    guard("flush", sink.flush()).await.unwrap();
    assert_eq!(*ids.lock().unwrap(), (1..=accepted + 1).collect::<Vec<_>>());
    assert_eq!(sink.status().frames_sent, accepted + 1);
    assert_eq!(guard("close", sink.close()).await, 0);
    guard("server", server).await.unwrap();
}

/// A server that ends the connection with a close frame is reconnected to, and the
/// frames sent afterwards arrive.
#[tokio::test]
async fn a_server_that_closes_cleanly_is_reconnected_to() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = ws_url(&listener, "/");
    let ids: Ids = Arc::default();
    let server = {
        let ids = Arc::clone(&ids);
        tokio::spawn(async move {
            let mut first = accept(&listener, None).await;
            read_into(&mut first, Framing::LengthPrefixed, &ids, Some(5)).await;
            first.close(None).await.unwrap();
            let mut second = accept(&listener, None).await;
            read_into(&mut second, Framing::LengthPrefixed, &ids, None).await;
        })
    };
    let sink: RelaySink<Vec<u8>> = builder(&url).relay().unwrap();
    for id in 1..=5 {
        sink.send(payload(id, 32)).await.unwrap();
    }
    eventually("a reconnect", || sink.status().connect_attempts >= 2).await;
    for id in 6..=10 {
        sink.send(payload(id, 32)).await.unwrap();
    }
    guard("flush", sink.flush()).await.unwrap();
    let received = ids.lock().unwrap().clone();
    let st = sink.status();
    assert_eq!(received[..5], [1, 2, 3, 4, 5]);
    assert_eq!(received[5..], [6, 7, 8, 9, 10]);
    assert_eq!(st.frames_sent + st.lost.total(), 10, "{st:?}");
    assert_eq!(guard("close", sink.close()).await, 0);
    guard("server", server).await.unwrap();
}

async fn fails_for_good(url: &str, framing: Framing, says: &str) {
    let sink: RelaySink<Vec<u8>> = builder(url).framing(framing).relay().unwrap();
    let _ = sink.send(payload(1, 8)).await;
    eventually("the sink fails", || sink.status().state == State::Failed).await;
    let error = sink.status().last_error.expect("an error");
    assert_eq!(error.class(), ErrorClass::Fatal, "{error}");
    assert!(error.to_string().contains(says), "{error}");
    let e = sink.send(payload(2, 8)).await.unwrap_err();
    assert_eq!(e.kind(), SendErrorKind::Fatal);
}

/// Without the `tls` feature a `wss://` endpoint is refused when the sink is built,
/// naming the feature (with it, `tests/wss.rs`).
#[cfg(not(feature = "tls"))]
#[test]
fn wss_without_the_tls_feature_is_refused_naming_it() {
    let err = builder("wss://127.0.0.1:9/feed")
        .relay::<Vec<u8>>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("enable the `tls` feature"), "{err}");
}

#[tokio::test]
async fn sinkgen_framing_over_ws_fails_with_a_clear_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = ws_url(&listener, "/");
    fails_for_good(
        &url,
        Framing::Sinkgen,
        "sinkgen framing needs sinkgen acknowledgements",
    )
    .await;
}
