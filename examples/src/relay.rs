//! The relay: a broker process that accepts producers and subscribers on Unix
//! sockets and fans torq frames out to the subscribers of each frame's domain.
//!
//! A connection is a producer until it sends a subscription control frame (a
//! header with [`FLAG_SUBSCRIBE`] and the wanted domain, no payload); from then
//! on the relay writes every frame of that domain to it. Frames are checked
//! (magic, version, size, CRC) before they are forwarded; a connection that
//! sends an invalid frame is closed and the frame counted as bad.
//!
//! Nothing is dropped silently. Frames of a domain that has no subscriber yet
//! are held (up to [`BACKLOG`] per domain) and handed to its first subscriber;
//! past that they are dropped and counted. A slow subscriber slows its
//! producers down (bounded channels) instead of losing frames.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use crate::report;
use crate::torq::{self, FLAG_SUBSCRIBE, FrameError};

/// Frames held per domain until its first subscriber arrives.
pub const BACKLOG: usize = 1 << 20;
/// Frames queued per subscriber before producers wait.
const SUBSCRIBER_QUEUE: usize = 16 * 1024;

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    forwarded: AtomicU64,
    bad: AtomicU64,
    dropped: AtomicU64,
    producers: AtomicU64,
    subscribers: AtomicU64,
}

#[derive(Default)]
struct Domain {
    subscribers: Vec<mpsc::Sender<Bytes>>,
    /// Frames that arrived before any subscriber.
    backlog: VecDeque<Bytes>,
}

#[derive(Default)]
struct Shared {
    domains: Mutex<HashMap<u8, Domain>>,
    counters: Counters,
    /// Dropped frames by domain, so that each relay's losses can be accounted.
    dropped_by_domain: Mutex<BTreeMap<u8, u64>>,
}

impl Shared {
    fn dropped(&self, domain: u8, n: u64) {
        self.counters.dropped.fetch_add(n, Ordering::Relaxed);
        *self
            .dropped_by_domain
            .lock()
            .expect("not poisoned")
            .entry(domain)
            .or_default() += n;
    }
}

/// Runs the relay on these sockets until the orchestrator says stop.
pub async fn run(sockets: Vec<PathBuf>) -> std::io::Result<()> {
    let shared = Arc::new(Shared::default());
    for path in &sockets {
        // A socket file left by an earlier run would make bind fail.
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        let name = path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        report::event(format!("listening on {name}"));
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        tokio::spawn(connection(stream, name.clone(), shared.clone()));
                    }
                    Err(e) => {
                        report::event(format!("accept failed on {name}: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
    let ticker = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                report::stats(&as_pairs(&counters(&shared)));
            }
        })
    };
    report::stop_requested().await;
    ticker.abort();
    report::final_stats(&as_pairs(&counters(&shared)));
    for path in &sockets {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

fn counters(shared: &Shared) -> Vec<(String, u64)> {
    let c = &shared.counters;
    let held: usize = shared
        .domains
        .lock()
        .expect("not poisoned")
        .values()
        .map(|d| d.backlog.len())
        .sum();
    let mut all = vec![
        ("received".to_owned(), c.received.load(Ordering::Relaxed)),
        ("forwarded".to_owned(), c.forwarded.load(Ordering::Relaxed)),
        ("held".to_owned(), held as u64),
        ("bad".to_owned(), c.bad.load(Ordering::Relaxed)),
        ("dropped".to_owned(), c.dropped.load(Ordering::Relaxed)),
        ("producers".to_owned(), c.producers.load(Ordering::Relaxed)),
        (
            "subscribers".to_owned(),
            c.subscribers.load(Ordering::Relaxed),
        ),
    ];
    for (domain, n) in shared
        .dropped_by_domain
        .lock()
        .expect("not poisoned")
        .iter()
    {
        all.push((format!("dropped_d{domain}"), *n));
    }
    all
}

fn as_pairs(counters: &[(String, u64)]) -> Vec<(&str, u64)> {
    counters.iter().map(|(k, v)| (k.as_str(), *v)).collect()
}

async fn connection(stream: UnixStream, socket: String, shared: Arc<Shared>) {
    let (mut read, write) = stream.into_split();
    let mut producer = false;
    loop {
        let frame = match torq::read_frame(&mut read).await {
            Ok(frame) => frame,
            Err(FrameError::Closed) => break,
            Err(FrameError::Invalid(why)) => {
                shared.counters.bad.fetch_add(1, Ordering::Relaxed);
                report::event(format!("closing a connection on {socket}: {why}"));
                break;
            }
            Err(FrameError::Io(e)) => {
                report::event(format!("a connection on {socket} failed: {e}"));
                break;
            }
        };
        if frame.header.flags & FLAG_SUBSCRIBE != 0 {
            subscribe(frame.header.domain, write, &socket, &shared);
            // The subscriber sends nothing else; reading on notices when it goes away.
            while torq::read_frame(&mut read).await.is_ok() {}
            return;
        }
        if !producer {
            producer = true;
            shared.counters.producers.fetch_add(1, Ordering::Relaxed);
            report::event(format!(
                "producer connected on {socket} (source {}, domain {})",
                frame.header.source, frame.header.domain
            ));
        }
        shared.counters.received.fetch_add(1, Ordering::Relaxed);
        forward(frame.header.domain, frame.raw, &shared).await;
    }
    if producer {
        shared.counters.producers.fetch_sub(1, Ordering::Relaxed);
        report::event(format!("producer disconnected from {socket}"));
    }
}

/// Hands a frame to every subscriber of its domain, or holds it when there is none.
async fn forward(domain: u8, raw: Bytes, shared: &Shared) {
    let subscribers = {
        let mut domains = shared.domains.lock().expect("not poisoned");
        let d = domains.entry(domain).or_default();
        d.subscribers.retain(|s| !s.is_closed());
        if d.subscribers.is_empty() {
            if d.backlog.len() < BACKLOG {
                d.backlog.push_back(raw);
                return;
            }
            None
        } else {
            Some(d.subscribers.clone())
        }
    };
    let Some(subscribers) = subscribers else {
        shared.dropped(domain, 1);
        return;
    };
    for s in subscribers {
        // Counted as forwarded once written; a closed subscriber is a drop.
        if s.send(raw.clone()).await.is_err() {
            shared.dropped(domain, 1);
        }
    }
}

fn subscribe(
    domain: u8,
    mut write: tokio::net::unix::OwnedWriteHalf,
    socket: &str,
    shared: &Arc<Shared>,
) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(SUBSCRIBER_QUEUE);
    let backlog = {
        let mut domains = shared.domains.lock().expect("not poisoned");
        let d = domains.entry(domain).or_default();
        d.subscribers.push(tx);
        std::mem::take(&mut d.backlog)
    };
    shared.counters.subscribers.fetch_add(1, Ordering::Relaxed);
    report::event(format!(
        "subscriber for domain {domain} connected on {socket}{}",
        if backlog.is_empty() {
            String::new()
        } else {
            format!(", handing it {} held frames", backlog.len())
        }
    ));
    let shared = shared.clone();
    tokio::spawn(async move {
        let mut ok = true;
        for raw in backlog {
            if ok && write.write_all(&raw).await.is_ok() {
                shared.counters.forwarded.fetch_add(1, Ordering::Relaxed);
            } else {
                ok = false;
                shared.dropped(domain, 1);
            }
        }
        // Coalesce whatever queued while the previous write was in flight.
        let mut batch = Vec::with_capacity(64 * 1024);
        while ok {
            let Some(first) = rx.recv().await else { break };
            batch.clear();
            batch.extend_from_slice(&first);
            let mut n = 1;
            while batch.len() < 256 * 1024 {
                match rx.try_recv() {
                    Ok(more) => {
                        batch.extend_from_slice(&more);
                        n += 1;
                    }
                    Err(_) => break,
                }
            }
            if write.write_all(&batch).await.is_ok() {
                shared.counters.forwarded.fetch_add(n, Ordering::Relaxed);
            } else {
                shared.dropped(domain, n);
                ok = false;
            }
        }
        rx.close();
        while rx.try_recv().is_ok() {
            shared.dropped(domain, 1);
        }
        shared.counters.subscribers.fetch_sub(1, Ordering::Relaxed);
        report::event(format!("subscriber for domain {domain} went away"));
    });
}
