//! Error chains: every error says its cause once, either in its message or as its
//! `source()`, so a reporter that prints the chain (`anyhow`'s `{:#}`, `eyre`) shows
//! each fact one time.

use std::error::Error;
use std::time::Duration;

use sinkgen_runtime::__private::{self, Bytes, Framing, SinkSpec, WhenDown};
use sinkgen_runtime::{RelaySink, SendErrorKind, WaitError};

static BAD: SinkSpec = SinkSpec {
    service: "tests",
    sink: "broken",
    target: "broken",
    endpoint: "unix://relative.sock",
    env: "SINKGEN_TEST_ERRORS_BROKEN_ENDPOINT",
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

/// Every message of the chain, outermost first; fails when one contains the next.
fn chain(error: &(dyn Error + 'static)) -> Vec<String> {
    let mut messages = vec![error.to_string()];
    let mut current = error;
    while let Some(source) = current.source() {
        let message = source.to_string();
        let outer = messages.last().unwrap();
        assert!(
            !outer.contains(&message),
            "`{outer}` repeats its source `{message}`"
        );
        messages.push(message);
        current = source;
    }
    messages
}

#[tokio::test]
async fn a_send_error_names_its_cause_once() {
    let bad: RelaySink<Bytes> = __private::relay(&BAD);
    let err = bad.send(Bytes::from_static(b"x")).await.unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Fatal);
    let messages = chain(&err);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[1], err.cause().unwrap().to_string());
}

#[tokio::test]
async fn a_fatal_wait_error_has_its_transport_error_as_source() {
    let bad: RelaySink<Bytes> = __private::relay(&BAD);
    let err = bad.flush().await.unwrap_err();
    let WaitError::Fatal(cause) = &err else {
        panic!("expected a fatal wait error, got {err:?}");
    };
    let messages = chain(&err);
    assert_eq!(messages, [err.to_string(), cause.to_string()]);
}
