//! A subscription allocates nothing per frame for `Bytes` messages: a counting global
//! allocator (this test binary only) counts every allocation of every thread — the
//! subscription and the test relay — while frames are received.
#![allow(unsafe_code)]

mod common;
mod counting;

use std::io::{Read, Write};

use common::*;
use sinkgen_runtime::protocol::{self, Control};
use sinkgen_runtime::{Bytes, Received, SubscriptionBuilder};

const WARM: u64 = 2_000;
const COUNTED: u64 = 40_000;
const SESSION: u64 = 42;

#[tokio::test]
async fn a_subscription_allocates_nothing_per_frame_for_bytes() {
    let dir = TempDir::new();
    let path = dir.sock("relay.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // The whole stream is built before counting starts; the relay thread only writes
    // it, and reads (into a fixed buffer) what the subscription sends back.
    let mut stream = Vec::new();
    Control::Welcome {
        session: 1,
        have: 0,
        version: 1,
    }
    .append(&mut stream, 1);
    Control::Producer {
        session: SESSION,
        service: "quotes".into(),
        sink: "q".into(),
    }
    .append(&mut stream, 1);
    let body = [7u8; 64];
    for seq in 1..=WARM + COUNTED {
        protocol::append_data(&mut stream, SESSION, seq, 1, &body);
    }
    let relay = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut reader = s.try_clone().unwrap();
        let acks = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
        });
        s.write_all(&stream).unwrap();
        acks
    });
    let mut sub = SubscriptionBuilder::new(unix_url(&path))
        .identity("strategy", "market_data")
        .build::<Bytes>()
        .unwrap();
    let mut seen = 0u64;
    let mut next = async || match guard("recv", sub.recv()).await {
        Some(Received::Message { message, .. }) => assert_eq!(message.len(), 64),
        other => panic!("expected a message, got {other:?}"),
    };
    while seen < WARM {
        next().await;
        seen += 1;
    }
    counting::start();
    while seen < WARM + COUNTED {
        next().await;
        seen += 1;
    }
    let allocs = counting::stop();
    drop(sub);
    relay.join().unwrap().join().unwrap();
    // The read buffer is reused (or, while messages are held, replaced once per
    // 64 KiB read); nothing is allocated per frame.
    assert!(
        allocs * 1000 <= COUNTED,
        "{allocs} allocations for {COUNTED} frames"
    );
    eprintln!("{allocs} allocations for {COUNTED} frames");
}
