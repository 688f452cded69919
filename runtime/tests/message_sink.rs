//! `MessageSink`: real sinks of every kind behind one trait object, and a test double
//! standing in for them in code written against the trait.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::*;
use sinkgen_runtime::message_sink::BoxFuture;
use sinkgen_runtime::{
    CompositeSink, DirectSink, Health, Member, MessageSink, RelaySink, SendAllError, SendError,
    SendErrorKind, SinkBuilder, SinkStatus, WaitError,
};
use tokio::net::UnixListener;

/// Code written against the trait: sends ids `from..from + 4` (one `send`, one
/// `try_send`, two through `send_all`), then flushes.
async fn publish(sink: &dyn MessageSink<Vec<u8>>, from: u64) -> Result<(), String> {
    sink.send(payload(from, 24))
        .await
        .map_err(|e| e.to_string())?;
    sink.try_send(payload(from + 1, 24))
        .map_err(|e| e.to_string())?;
    let n = sink
        .send_all(vec![payload(from + 2, 24), payload(from + 3, 24)])
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(n, 2);
    sink.flush().await.map_err(|e| e.to_string())
}

#[tokio::test]
async fn real_sinks_of_every_kind_behind_the_trait() {
    let dir = TempDir::new();
    let paths: Vec<_> = ["relay", "direct", "a", "b"]
        .iter()
        .map(|n| dir.sock(&format!("{n}.sock")))
        .collect();
    let listeners: Vec<_> = paths
        .iter()
        .map(|p| UnixListener::bind(p).unwrap())
        .collect();
    let build = |p: &std::path::Path| {
        SinkBuilder::new(unix_url(p)).backoff(Duration::from_millis(2), Duration::from_millis(10))
    };
    let relay: RelaySink<Vec<u8>> = build(&paths[0]).name("relay").relay().unwrap();
    let direct: DirectSink<Vec<u8>> = build(&paths[1]).name("direct").direct().unwrap();
    let a: RelaySink<Vec<u8>> = build(&paths[2]).relay().unwrap();
    let b: DirectSink<Vec<u8>> = build(&paths[3]).direct().unwrap();
    let composite = CompositeSink::broadcast("both", vec![Member::Relay(a), Member::Direct(b)]);
    let sinks: Vec<Box<dyn MessageSink<Vec<u8>>>> =
        vec![Box::new(relay), Box::new(direct), Box::new(composite)];
    assert_eq!(
        sinks.iter().map(|s| s.name()).collect::<Vec<_>>(),
        ["relay", "direct", "both"]
    );

    let mut accepted = Vec::new();
    let accept_all = async {
        for l in &listeners {
            accepted.push(l.accept().await.unwrap().0);
        }
    };
    let sends = async {
        for (i, sink) in sinks.iter().enumerate() {
            publish(sink.as_ref(), i as u64 * 10).await.unwrap();
        }
    };
    guard("send and accept", async { tokio::join!(accept_all, sends) }).await;

    // The composite's two members each got the composite's four messages.
    let expected = [0u64, 10, 20, 20];
    for (conn, from) in accepted.iter_mut().zip(expected) {
        for id in from..from + 4 {
            let got = guard("read", read_lp(conn)).await.unwrap();
            assert_eq!(check_payload(&got), id);
        }
    }
    for sink in &sinks {
        let status = sink.status();
        assert_eq!(status.health(), Health::Healthy, "{}", sink.name());
        assert!(status.last_sent().is_some(), "{}", sink.name());
        match (sink.name(), &status) {
            ("both", SinkStatus::Composite(c)) => assert_eq!(c.frames_sent, 8),
            (_, SinkStatus::Leaf(s)) => assert_eq!(s.frames_sent, 4),
            (name, other) => panic!("{name}: {other:?}"),
        }
        assert_eq!(sink.close().await, 0);
        let err = sink.try_send(payload(99, 24)).unwrap_err();
        assert_eq!(err.kind(), SendErrorKind::Closed);
        assert_eq!(sink.status().health(), Health::Down);
    }
}

/// A test double: records what it is given, and refuses once full, handing the
/// messages back as a real sink would.
struct Double {
    room: usize,
    got: Mutex<Vec<Vec<u8>>>,
}

impl MessageSink<Vec<u8>> for Double {
    fn send(&self, msg: Vec<u8>) -> BoxFuture<'_, Result<(), SendError<Vec<u8>>>> {
        Box::pin(async move { self.try_send(msg) })
    }

    fn try_send(&self, msg: Vec<u8>) -> Result<(), SendError<Vec<u8>>> {
        let mut got = self.got.lock().unwrap();
        if got.len() == self.room {
            return Err(SendError::with_kind(SendErrorKind::Full, msg));
        }
        got.push(msg);
        Ok(())
    }

    fn send_all(&self, msgs: Vec<Vec<u8>>) -> BoxFuture<'_, Result<usize, SendAllError<Vec<u8>>>> {
        let mut got = self.got.lock().unwrap();
        let n = msgs.len().min(self.room - got.len());
        let mut msgs = msgs.into_iter();
        got.extend(msgs.by_ref().take(n));
        let rest: Vec<_> = msgs.collect();
        Box::pin(async move {
            if rest.is_empty() {
                Ok(n)
            } else {
                Err(SendAllError::with_kind(n, SendErrorKind::Full, rest))
            }
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), WaitError>> {
        Box::pin(async { Ok(()) })
    }

    fn close(&self) -> BoxFuture<'_, u64> {
        Box::pin(async { 0 })
    }

    fn status(&self) -> SinkStatus {
        SinkStatus::Other
    }

    fn name(&self) -> &str {
        "double"
    }
}

#[tokio::test]
async fn a_test_double_stands_in_for_a_sink() {
    let double = Double {
        room: 6,
        got: Mutex::new(Vec::new()),
    };
    publish(&double, 0).await.unwrap();
    let ids: Vec<u64> = double
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|p| check_payload(p))
        .collect();
    assert_eq!(ids, [0, 1, 2, 3]);
    assert_eq!(double.status().health(), Health::Healthy);
    // Two more fit; `send_all` takes none of the next two and hands them back.
    let err = publish(&double, 4).await.unwrap_err();
    assert!(err.contains("0 of 2 messages sent"), "{err}");
    let err = double.try_send(payload(9, 24)).unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Full);
    assert_eq!(check_payload(&err.into_message()), 9);
    assert_eq!(double.got.lock().unwrap().len(), 6);
}
