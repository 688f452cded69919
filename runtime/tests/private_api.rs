//! The `__private` surface generated code calls: specs, environment overrides, bad
//! addresses as fatal sinks, composites from members. One test function, because it
//! changes the process environment.
#![allow(unsafe_code)]

mod common;

use std::time::Duration;

use common::*;
use sinkgen_runtime::__private::{self, Bytes, Framing, Member, SinkSpec, WhenDown};
use sinkgen_runtime::{
    CompositeSink, DirectSink, ErrorClass, RelaySink, SendErrorKind, State, WaitError,
};
use tokio::net::UnixListener;

static SPEC: SinkSpec = SinkSpec {
    service: "tests",
    sink: "market_data",
    target: "market_data",
    endpoint: "unix:///nonexistent/sinkgen/market_data.sock",
    env: "SINKGEN_TEST_MARKET_DATA_ENDPOINT",
    framing: Framing::Torq {
        domain: 1,
        source: 7,
    },
    connect_timeout: Duration::from_nanos(500_000_000),
    send_timeout: Duration::from_nanos(1_000_000_000),
    queue: 16,
    backoff_initial: Duration::from_nanos(10_000_000),
    backoff_max: Duration::from_nanos(1_000_000_000),
    when_down: WhenDown::Queue,
    max_frame: 16 << 20,
    durable: None,
    credentials: None,
    tls: None,
};

static BAD: SinkSpec = SinkSpec {
    service: "tests",
    sink: "broken",
    target: "broken",
    endpoint: "unix://relative.sock",
    env: "SINKGEN_TEST_BROKEN_ENDPOINT",
    framing: Framing::LengthPrefixed,
    connect_timeout: Duration::from_nanos(500_000_000),
    send_timeout: Duration::from_nanos(1_000_000_000),
    queue: 16,
    backoff_initial: Duration::from_nanos(10_000_000),
    backoff_max: Duration::from_nanos(1_000_000_000),
    when_down: WhenDown::Queue,
    max_frame: 16 << 20,
    durable: None,
    credentials: None,
    tls: None,
};

#[tokio::test]
async fn private_surface() {
    let dir = TempDir::new();

    // A bad address in the file: a sink whose every send fails fatally, no I/O, no task.
    let bad: RelaySink<Bytes> = __private::relay(&BAD);
    let err = bad.send(Bytes::from_static(b"x")).await.unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Fatal);
    let cause = err.cause().unwrap();
    assert_eq!(cause.class(), ErrorClass::Fatal);
    assert!(cause.to_string().contains("`broken`"), "{cause}");
    assert_eq!(err.into_message(), Bytes::from_static(b"x"));
    assert_eq!(bad.status().state, State::Failed);
    assert_eq!(bad.status().connect_attempts, 0);
    assert!(matches!(bad.flush().await, Err(WaitError::Fatal(_))));

    // The environment override wins over the file and is validated like it.
    let path = dir.sock("override.sock");
    let listener = UnixListener::bind(&path).unwrap();
    // SAFETY: this test binary has a single test; no other thread reads the
    // environment while it is changed.
    unsafe { std::env::set_var(SPEC.env, unix_url(&path)) };
    let md: RelaySink<Vec<u8>> = __private::relay(&SPEC);
    assert_eq!(md.endpoint(), unix_url(&path));
    assert_eq!(md.name(), "market_data");
    md.send(payload(1, 16)).await.unwrap();
    let (mut s, _) = guard("accept", listener.accept()).await.unwrap();
    let frame = guard("read", read_torq(&mut s)).await.unwrap();
    assert_eq!((frame.domain, frame.source, frame.sequence), (1, 7, 1));
    assert_eq!(check_payload(&frame.payload), 1);
    assert_eq!(md.close().await, 0);

    // SAFETY: as above.
    unsafe { std::env::set_var(SPEC.env, "tcp://nowhere") };
    let broken: DirectSink<Bytes> = __private::direct(&SPEC);
    let err = broken.try_send(Bytes::from_static(b"y")).unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Fatal);
    assert!(
        err.cause().unwrap().to_string().contains(SPEC.env),
        "names the variable"
    );
    // SAFETY: as above.
    unsafe { std::env::remove_var(SPEC.env) };

    // `_at` ignores the environment; composites take members of any leaf kind.
    let path_a = dir.sock("a.sock");
    let listener_a = UnixListener::bind(&path_a).unwrap();
    let a: RelaySink<Bytes> = __private::relay_at(&BAD, &unix_url(&path_a));
    let b: DirectSink<Bytes> = __private::direct_at(&BAD, "unix://not/absolute");
    let all = CompositeSink::broadcast(
        "all",
        vec![Member::from(a.clone()), Member::from(b.clone())],
    );
    let rr = CompositeSink::round_robin("rr", vec![Member::from(all.clone())]);
    let fo = CompositeSink::failover(
        "fo",
        vec![Member::from(rr.clone()), Member::from(a.clone())],
    );
    let d = fo.send(Bytes::from_static(b"nested")).await.unwrap();
    assert_eq!((d.accepted, d.member), (1, 0));
    let (mut s, _) = guard("accept a", listener_a.accept()).await.unwrap();
    assert_eq!(guard("read a", read_lp(&mut s)).await.unwrap(), b"nested");
    assert_eq!(a.close().await, 0);

    // try_send on a plain thread before anything started the sink: no runtime.
    let idle: RelaySink<Bytes> = __private::relay_at(&SPEC, &unix_url(&dir.sock("idle.sock")));
    let err =
        std::thread::spawn(move || idle.try_send(Bytes::from_static(b"z")).unwrap_err().kind())
            .join()
            .unwrap();
    assert_eq!(err, SendErrorKind::NoRuntime);
}
