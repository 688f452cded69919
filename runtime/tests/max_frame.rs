//! `max_frame`: a message whose payload is over the sink's limit is refused by `send`
//! and `try_send`, handed back, and takes no room; the stream around it is intact.

mod common;

use std::time::Duration;

use common::*;
use sinkgen_runtime::bytes::BufMut;
use sinkgen_runtime::protocol::DEFAULT_MAX_FRAME;
use sinkgen_runtime::{Encode, Framing, RelaySink, SendErrorKind, SinkBuilder};
use tokio::net::UnixListener;

#[tokio::test]
async fn oversized_messages_are_refused_and_handed_back() {
    let dir = TempDir::new();
    let path = dir.sock("peer.sock");
    let listener = UnixListener::bind(&path).unwrap();
    for framing in [
        Framing::LengthPrefixed,
        Framing::Torq {
            domain: 1,
            source: 2,
        },
    ] {
        let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
            .framing(framing)
            .max_frame(100)
            .relay()
            .unwrap();
        sink.send(payload(1, 100)).await.unwrap();
        let err = sink.send(payload(2, 101)).await.unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::TooLarge);
        assert!(
            err.cause()
                .unwrap()
                .to_string()
                .contains("max_frame of 100"),
            "{:?}",
            err.cause()
        );
        assert_eq!(err.into_message(), payload(2, 101));
        let err = sink.try_send(payload(3, 4096)).unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::TooLarge);
        assert_eq!(check_payload(err.message()), 3);
        sink.send(payload(4, 8)).await.unwrap();

        let (mut conn, _) = guard("accept", listener.accept()).await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..2 {
            let p = match framing {
                Framing::LengthPrefixed => guard("read", read_lp(&mut conn)).await.unwrap(),
                _ => guard("read", read_torq(&mut conn)).await.unwrap().payload,
            };
            ids.push(check_payload(&p));
        }
        assert_eq!(ids, [1, 4], "the refused frames never reach the wire");
        assert_eq!(sink.close().await, 0);
        assert_eq!(sink.status().lost.total(), 0);
    }
}

/// Says it writes 8 bytes, writes 64: the limit holds for what `encode` wrote.
struct Understated;

impl Encode for Understated {
    fn encoded_len(&self) -> usize {
        8
    }
    fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(&[7; 64]);
    }
}

#[tokio::test]
async fn the_limit_holds_for_what_encode_writes() {
    let dir = TempDir::new();
    let sink: RelaySink<Understated> = SinkBuilder::new(unix_url(&dir.sock("absent.sock")))
        .max_frame(32)
        .backoff(Duration::from_millis(5), Duration::from_millis(50))
        .relay()
        .unwrap();
    let err = sink.send(Understated).await.unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::TooLarge);
    assert_eq!(sink.status().queue_depth, 0);
    assert_eq!(sink.close().await, 0);
}

/// The default is the receivers' default, 16 MiB: a payload of exactly that is
/// accepted, one byte more is not.
#[tokio::test]
async fn the_default_is_sixteen_mebibytes() {
    let dir = TempDir::new();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&dir.sock("absent.sock")))
        .backoff(Duration::from_millis(5), Duration::from_millis(50))
        .relay()
        .unwrap();
    assert_eq!(DEFAULT_MAX_FRAME, 16 << 20);
    let err = sink.try_send(vec![0; DEFAULT_MAX_FRAME + 1]).unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::TooLarge);
    sink.try_send(vec![0; DEFAULT_MAX_FRAME]).unwrap();
    assert_eq!(sink.status().queue_depth, 1);
    let _ = sink.close_with_linger(Duration::from_millis(1)).await;
}

#[test]
fn zero_is_refused_by_the_builder() {
    let err = SinkBuilder::new("tcp://127.0.0.1:9")
        .max_frame(0)
        .relay::<Vec<u8>>()
        .unwrap_err();
    assert!(err.to_string().contains("max_frame"), "{err}");
}
