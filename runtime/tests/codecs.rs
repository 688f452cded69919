//! Codecs (SPEC section 13): users' serde, prost and zerocopy types through a real
//! `DirectSink` and a real `Inbox` over a Unix socket with sinkgen framing, with no
//! hand-written `Encode`/`Decode`; payloads that do not decode are items; a serializer
//! that fails leaves nothing on the wire.

mod common;

use std::fmt::Debug;

use serde::{Deserialize, Serialize};
use sinkgen_runtime::codec::{Decoder, Encoder, Postcard, Prost, Raw, Zerocopy};
use sinkgen_runtime::{
    Bytes, CompositeSink, DirectSink, Framing, Inbox, InboxBuilder, Received, SinkBuilder,
};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use common::*;

/// A serde type, as users already have them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Quote {
    instrument: String,
    bid: i64,
    ask: i64,
    sizes: Vec<u32>,
    venue: Option<String>,
}

/// A protobuf message, derived with prost.
#[derive(Clone, PartialEq, prost::Message)]
struct Order {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(string, tag = "2")]
    symbol: String,
    #[prost(sint64, tag = "3")]
    quantity: i64,
    #[prost(double, tag = "4")]
    price: f64,
}

/// A plain `#[repr(C)]` struct, sent as its bytes.
#[derive(IntoBytes, FromBytes, KnownLayout, Immutable, Debug, Clone, Copy, PartialEq)]
#[repr(C)]
struct Tick {
    instrument: u64,
    price: i64,
    size: u32,
    flags: u32,
}

/// An inbox of service `exec` that only `feed` may send to, reading `M` by `C`.
fn inbox<M, C: Decoder<M>>(dir: &TempDir) -> Inbox<M, C> {
    InboxBuilder::new(unix_url(&dir.sock("exec.sock")))
        .service("exec")
        .senders(["feed"])
        .queue(64)
        .build_with::<M, C>()
        .unwrap()
}

/// A direct sink of service `feed` to `exec`, writing `M` by `C`.
fn sink<M, C: Encoder<M>>(dir: &TempDir) -> DirectSink<M, C> {
    SinkBuilder::new(unix_url(&dir.sock("exec.sock")))
        .framing(Framing::Sinkgen)
        .identity("feed", "exec")
        .backoff(
            std::time::Duration::from_millis(5),
            std::time::Duration::from_millis(50),
        )
        .direct_with::<M, C>()
        .unwrap()
}

async fn next<M: Debug, C: Decoder<M>>(inbox: &mut Inbox<M, C>) -> Received<M> {
    guard("recv", inbox.recv()).await.expect("the inbox ended")
}

async fn expect_message<M: Debug, C: Decoder<M>>(inbox: &mut Inbox<M, C>) -> M {
    match next(inbox).await {
        Received::Message { producer, message } => {
            assert_eq!(producer.service(), "feed");
            message
        }
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Sends `messages` through a codec sink and checks that the inbox yields them equal
/// and in order.
async fn round_trip<M, C>(messages: Vec<M>)
where
    M: Clone + PartialEq + Debug + Send + 'static,
    C: Encoder<M> + Decoder<M> + 'static,
{
    let dir = TempDir::new();
    let mut inbox = inbox::<M, C>(&dir);
    let sink = sink::<M, C>(&dir);
    for m in &messages {
        sink.send(m.clone()).await.unwrap();
    }
    for want in &messages {
        assert_eq!(&expect_message(&mut inbox).await, want);
    }
    assert_eq!(inbox.status().undecodable, 0);
}

/// Sends `payload` as it is (a raw sink) to an inbox reading `M` by `C`: the inbox
/// yields it as an undecodable item whose error says `says`, then goes on.
async fn undecodable<M, C>(payload: &'static [u8], says: &str, good: M)
where
    M: Clone + PartialEq + Debug + Send + 'static,
    C: Encoder<M> + Decoder<M> + 'static,
{
    let dir = TempDir::new();
    let mut inbox = inbox::<M, C>(&dir);
    let raw = sink::<Bytes, Raw>(&dir);
    raw.send(Bytes::from_static(payload)).await.unwrap();
    match next(&mut inbox).await {
        Received::Undecodable { producer, error } => {
            assert_eq!(producer.service(), "feed");
            assert!(error.message().contains(says), "{error}");
        }
        other => panic!("expected an undecodable item, got {other:?}"),
    }
    assert_eq!(inbox.status().undecodable, 1);
    // The stream goes on: a good message from the same sender arrives next.
    let mut wire = Vec::new();
    C::encode(&good, &mut wire);
    raw.send(Bytes::from(wire)).await.unwrap();
    assert_eq!(expect_message(&mut inbox).await, good);
}

fn quotes() -> Vec<Quote> {
    (0..20)
        .map(|i| Quote {
            instrument: format!("ES{i}"),
            bid: -100 + i,
            ask: 1 << (i % 40),
            sizes: (0..u32::try_from(i).unwrap()).collect(),
            venue: (i % 2 == 0).then(|| "XCME".to_owned()),
        })
        .collect()
}

fn orders() -> Vec<Order> {
    (0..20u32)
        .map(|i| Order {
            id: u64::from(i) << 40,
            symbol: format!("NQ{i}"),
            quantity: -i64::from(i),
            price: f64::from(i) * 0.25,
        })
        .collect()
}

fn ticks() -> Vec<Tick> {
    (0..20u32)
        .map(|i| Tick {
            instrument: u64::from(i),
            price: -i64::from(i) * 1_000_000,
            size: i * 7,
            flags: 0xdead_0000 | i,
        })
        .collect()
}

#[tokio::test]
async fn postcard_round_trips_a_serde_struct() {
    round_trip::<Quote, Postcard>(quotes()).await;
}

#[tokio::test]
async fn prost_round_trips_a_protobuf_message() {
    round_trip::<Order, Prost>(orders()).await;
}

#[tokio::test]
async fn zerocopy_round_trips_a_repr_c_struct() {
    round_trip::<Tick, Zerocopy>(ticks()).await;
}

#[tokio::test]
async fn postcard_payload_that_does_not_decode_is_an_item() {
    // A string length of 200 with 2 bytes behind it.
    undecodable::<Quote, Postcard>(b"\xc8\x01ab", "postcard", quotes()[3].clone()).await;
}

#[tokio::test]
async fn postcard_trailing_bytes_are_an_item() {
    // A whole `u32` followed by bytes that are not part of it.
    undecodable::<u32, Postcard>(b"\x05\x06", "1 bytes left", 7).await;
}

#[tokio::test]
async fn prost_payload_that_does_not_decode_is_an_item() {
    // A field with wire type 7 (none such).
    undecodable::<Order, Prost>(b"\x0f", "protobuf", orders()[2].clone()).await;
}

#[tokio::test]
async fn zerocopy_payload_of_the_wrong_length_is_an_item() {
    undecodable::<Tick, Zerocopy>(b"short", "is 24 bytes, the payload 5", ticks()[1]).await;
}

/// A serde type whose `Serialize` fails for some values (as a map of unknown length
/// does with postcard).
#[derive(Deserialize, Debug, Clone, PartialEq)]
struct Fussy {
    value: u32,
}

impl Serialize for Fussy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeStruct};
        let mut st = s.serialize_struct("Fussy", 1)?;
        st.serialize_field("value", &self.value)?;
        if self.value == 13 {
            return Err(S::Error::custom("13 is refused"));
        }
        st.end()
    }
}

#[tokio::test]
async fn postcard_serializer_failure_leaves_no_trace_on_the_wire() {
    let dir = TempDir::new();
    let mut inbox = inbox::<Fussy, Postcard>(&dir);
    let sink = sink::<Fussy, Postcard>(&dir);
    sink.send(Fussy { value: 1 }).await.unwrap();
    let failing = sink.clone();
    let task = tokio::spawn(async move { failing.send(Fussy { value: 13 }).await });
    let panic = guard("failing send", task).await.unwrap_err();
    assert!(panic.is_panic(), "a serializer failure panics the send");
    sink.send(Fussy { value: 2 }).await.unwrap();
    assert_eq!(expect_message(&mut inbox).await, Fussy { value: 1 });
    // Nothing of the failed frame: the next item is the next good message.
    assert_eq!(expect_message(&mut inbox).await, Fussy { value: 2 });
    assert_eq!(inbox.status().undecodable, 0);
}

#[tokio::test]
async fn a_composite_sends_through_its_members_codec() {
    let dir = TempDir::new();
    let mut inbox = inbox::<Tick, Zerocopy>(&dir);
    let member = sink::<Tick, Zerocopy>(&dir);
    let composite: CompositeSink<Tick, Zerocopy> =
        CompositeSink::failover("ticks", vec![member.into()]);
    for t in ticks() {
        guard("send", composite.send(t)).await.unwrap();
    }
    for want in ticks() {
        assert_eq!(expect_message(&mut inbox).await, want);
    }
}
