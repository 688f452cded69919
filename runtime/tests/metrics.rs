//! Counters reach the `metrics` facade with the sink's name as a label (a recorder
//! installed for this test binary counts them).

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use sinkgen_runtime::{RelaySink, SinkBuilder};
use tokio::net::UnixListener;

#[derive(Default)]
struct Counting {
    counters: Mutex<BTreeMap<String, Arc<Total>>>,
}

#[derive(Default)]
struct Total(AtomicU64);

impl CounterFn for Total {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::SeqCst);
    }
}

fn name(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for Counting {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let total = Arc::clone(self.counters.lock().unwrap().entry(name(key)).or_default());
        Counter::from_arc(total)
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[tokio::test]
async fn counters_reach_the_metrics_facade() {
    let recorder: &'static Counting = Box::leak(Box::default());
    metrics::set_global_recorder(recorder).unwrap();
    let get = |k: &str| {
        recorder
            .counters
            .lock()
            .unwrap()
            .get(k)
            .map_or(0, |t| t.0.load(Ordering::SeqCst))
    };

    let dir = TempDir::new();
    let path = dir.sock("m.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .name("quotes")
        .relay()
        .unwrap();
    let reader = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_lp_to_eof(&mut s).await
    });
    for id in 0..100u64 {
        sink.send(payload(id, 60)).await.unwrap();
    }
    assert_eq!(sink.close().await, 0);
    let (frames, _) = guard("read", reader).await.unwrap();
    assert_eq!(frames.len(), 100);
    assert_eq!(get("sinkgen_frames_sent_total{sink=quotes}"), 100);
    assert_eq!(get("sinkgen_bytes_sent_total{sink=quotes}"), 100 * 64);
    assert_eq!(get("sinkgen_connect_attempts_total{sink=quotes}"), 1);

    let lost: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&dir.sock("none.sock")))
        .name("lost")
        .relay()
        .unwrap();
    for id in 0..3u64 {
        lost.send(payload(id, 8)).await.unwrap();
    }
    assert_eq!(lost.close_with_linger(Duration::from_millis(5)).await, 3);
    assert_eq!(get("sinkgen_frames_lost_total{reason=closed,sink=lost}"), 3);
}
