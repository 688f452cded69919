//! `Status` as JSON (feature `serde`), the way a health endpoint would return it.

mod common;

use common::*;
use sinkgen_runtime::{Bytes, CompositeSink, Member, RelaySink};
use tokio::net::UnixListener;

#[tokio::test]
async fn a_status_serializes_to_json_with_every_field() {
    let dir = TempDir::new();
    let path = dir.sock("health.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Bytes> = RelaySink::new(&unix_url(&path)).unwrap();
    sink.send(Bytes::from_static(b"ping")).await.unwrap();
    let (_peer, _) = guard("accept", listener.accept()).await.unwrap();
    guard("flush", sink.flush()).await.unwrap();

    let json = serde_json::to_value(sink.status()).unwrap();
    assert_eq!(json["sink"], sink.name());
    assert_eq!(json["endpoint"], unix_url(&path));
    assert_eq!(json["state"], "connected");
    assert!(json["state_secs"].as_f64().unwrap() >= 0.0, "{json}");
    assert_eq!(json["connect_attempts"], 1);
    assert_eq!(json["frames_sent"], 1);
    assert_eq!(json["bytes_sent"], sink.status().bytes_sent);
    assert_eq!(json["queue_depth"], 0);
    assert_eq!(json["unacknowledged"], 0);
    assert_eq!(json["last_error"], serde_json::Value::Null);
    assert_eq!(json["next_retry_in_secs"], serde_json::Value::Null);
    let lost = &json["lost"];
    for reason in [
        "closed",
        "dropped",
        "fatal",
        "unconfirmed",
        "too_large",
        "total",
    ] {
        assert_eq!(lost[reason], 0, "lost.{reason} in {json}");
    }
    assert_eq!(json["health"], "healthy");
    let sent = sink
        .status()
        .last_sent
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let written = json["last_sent_unix_secs"].as_f64().unwrap();
    assert!((written - sent).abs() < 1e-3, "{json}");
    assert_eq!(json["last_lost_secs"], serde_json::Value::Null);
    assert_eq!(sink.close().await, 0);
    assert_eq!(
        serde_json::to_value(sink.status()).unwrap()["health"],
        "down"
    );
}

/// A composite serializes its grade, its mode and each of its sinks.
#[tokio::test]
async fn a_composite_status_serializes_with_its_leaves() {
    let dir = TempDir::new();
    let a: RelaySink<Bytes> = RelaySink::new(&unix_url(&dir.sock("a.sock"))).unwrap();
    let b: RelaySink<Bytes> = RelaySink::new(&unix_url(&dir.sock("b.sock"))).unwrap();
    let both = CompositeSink::failover("both", vec![Member::Relay(a), Member::Relay(b)]);
    let json = serde_json::to_value(both.status()).unwrap();
    assert_eq!(json["sink"], "both");
    assert_eq!(json["mode"], "failover");
    assert_eq!(json["members"], 2);
    assert_eq!(json["health"], "healthy");
    assert_eq!(json["last_sent_unix_secs"], serde_json::Value::Null);
    assert_eq!(json["leaves"].as_array().unwrap().len(), 2);
    assert_eq!(json["leaves"][0]["state"], "idle");
}

#[tokio::test]
async fn a_failed_sink_serializes_its_error() {
    let sink: RelaySink<Bytes> = RelaySink::new("unix:///nonexistent/sinkgen/health.sock").unwrap();
    let _ = sink.try_send(Bytes::from_static(b"x"));
    let status = sink.status();
    // A connect to a missing socket file fails retryably; wait for that first error.
    let mut status = status;
    for _ in 0..200 {
        if status.last_error.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        status = sink.status();
    }
    let json = serde_json::to_value(&status).unwrap();
    let error = &json["last_error"];
    assert_eq!(error["class"], "retryable", "{json}");
    assert_eq!(error["kind"], "NotFound", "{json}");
    assert!(
        error["message"].as_str().unwrap().contains("health.sock"),
        "{json}"
    );
    assert!(json["last_error_secs"].as_f64().unwrap() >= 0.0, "{json}");
}
