//! `SINKGEN_<SINK>_ENDPOINT` overrides are checked by the grammar the build applies to
//! `services.toml`: an endpoint the build refuses is refused at run time, for the same
//! reason. One test function,
//! because it changes the process environment.
#![allow(unsafe_code)]

use std::time::Duration;

use sinkgen_runtime::__private::{self, Bytes, Framing, SinkSpec, WhenDown};
use sinkgen_runtime::{ErrorClass, RelaySink, SendErrorKind, SinkBuilder};

static SPEC: SinkSpec = SinkSpec {
    service: "tests",
    sink: "quotes",
    target: "quotes",
    endpoint: "unix:///nonexistent/sinkgen/quotes.sock",
    env: "SINKGEN_TEST_OVERRIDES_QUOTES_ENDPOINT",
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

/// Endpoints the build refuses, with the message `sinkgen check` prints for them
/// (see the `endpoint_*` fixtures of the front end) and the help it gives.
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "tcp://user@host:80",
        "credentials in tcp endpoints are not supported",
        "remove `user@`",
    ),
    (
        "tcp://exa mple:80",
        "`exa mple` is not a host name or address",
        "a host is a name like `localhost`",
    ),
    (
        "tcp://[nope]:80",
        "`nope` is not an IPv6 address",
        "only IPv6 addresses go in brackets",
    ),
    (
        "tcp://h:+80",
        "port `+80` is outside 1-65535",
        "use a port from 1 to 65535",
    ),
    (
        "tcp://h:80/x",
        "tcp endpoint has a path",
        "a tcp endpoint is only `host:port`",
    ),
    (
        "tcp://a..b:80",
        "`a..b` is not a host name or address",
        "a host is a name",
    ),
    (
        "tcp://999.999.999.999:80",
        "`999.999.999.999` is not an IPv4 address",
        "four numbers from 0 to 255",
    ),
    (
        "tcp://1.2.3:80",
        "`1.2.3` is not an IPv4 address",
        "four numbers",
    ),
    (
        "tcp://127.1:80",
        "`127.1` is not an IPv4 address",
        "four numbers",
    ),
    (
        "unix://relative.sock",
        "unix socket path is not absolute",
        "write three slashes",
    ),
    (
        "tpc://h:80",
        "unknown endpoint scheme `tpc`",
        "did you mean `tcp://`?",
    ),
    (
        "nats://h:4222/a.*",
        "nats subject contains `*` or `>`",
        "wildcards (`*`, `>`) are only for subscribers",
    ),
];

#[tokio::test]
async fn overrides_follow_the_grammar_of_the_file() {
    for &(endpoint, message, help) in REFUSED {
        // SAFETY: this test binary has a single test; no other thread reads the
        // environment while it is changed.
        unsafe { std::env::set_var(SPEC.env, endpoint) };
        let sink: RelaySink<Bytes> = __private::relay(&SPEC);
        let err = sink.send(Bytes::from_static(b"x")).await.unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::Fatal, "{endpoint}");
        let cause = err.cause().expect("a bad address has a cause");
        assert_eq!(cause.class(), ErrorClass::Fatal);
        let text = cause.to_string();
        for part in [SPEC.env, message, help] {
            assert!(text.contains(part), "{endpoint}: {text:?} lacks {part:?}");
        }
        assert_eq!(sink.close().await, 0, "{endpoint}: nothing was accepted");

        // The builder refuses it for the same reason.
        let built = SinkBuilder::new(endpoint).relay::<Bytes>();
        let Err(e) = built else {
            panic!("{endpoint}: the builder accepted it");
        };
        let text = e.to_string();
        assert!(text.contains(message), "{endpoint}: {text:?}");
    }

    // Other spellings of accepted hosts are accepted (the build compares them in
    // canonical form); the sink still shows the endpoint as written.
    for written in [
        "tcp://LOCALHOST:9",
        "tcp://[0:0::1]:9",
        "tcp://market_data-1:9",
    ] {
        let sink: RelaySink<Bytes> = SinkBuilder::new(written).relay().expect(written);
        assert_eq!(sink.endpoint(), written);
    }
    // SAFETY: as above.
    unsafe { std::env::remove_var(SPEC.env) };
}
