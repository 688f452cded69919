//! The read side of a relay: connect, subscribe to one domain, receive checked
//! frames; reconnect (with backoff) whenever the relay is missing or goes away.
//! [`spawn`] reads this example's socket relay, [`spawn_nats`] a NATS subject.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::report;
use crate::torq::{self, FLAG_SUBSCRIBE, Frame, FrameError};

/// A running subscription.
pub struct Subscription {
    /// Frames in arrival order.
    pub frames: mpsc::Receiver<Frame>,
    /// How often the subscription had to connect again after losing the relay.
    pub reconnects: Arc<AtomicU64>,
    /// Invalid frames seen (each one closes the connection).
    pub bad: Arc<AtomicU64>,
    /// How often the subscription was confirmed in place (by the relay's or the
    /// server's answer): once per connection.
    pub subscribed: Arc<AtomicU64>,
}

/// Where a subscriber reads a relay.
#[derive(Debug, Clone)]
pub enum Source {
    /// This example's relay process, on a Unix socket.
    Relay(PathBuf),
    /// A NATS subject: `nats://host:port/subject`.
    Nats(String),
}

impl Source {
    /// One of the two, as given on the command line (clap makes sure exactly one is).
    pub fn from_args(relay: Option<PathBuf>, nats: Option<String>) -> Source {
        match (relay, nats) {
            (_, Some(endpoint)) => Source::Nats(endpoint),
            (Some(path), None) => Source::Relay(path),
            (None, None) => Source::Relay(PathBuf::new()),
        }
    }

    /// Subscribes to `domain`, as `relay` in the event lines.
    pub fn subscribe(self, domain: u8, relay: &'static str) -> Subscription {
        match self {
            Source::Relay(path) => spawn(path, domain, relay),
            Source::Nats(endpoint) => spawn_nats(endpoint, domain, relay),
        }
    }
}

/// Subscribes to `domain` on the relay at `path`, as `relay` in the event lines.
pub fn spawn(path: PathBuf, domain: u8, relay: &'static str) -> Subscription {
    let (tx, frames) = mpsc::channel(16 * 1024);
    let reconnects = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let subscribed = Arc::new(AtomicU64::new(0));
    let (r, b, ok) = (reconnects.clone(), bad.clone(), subscribed.clone());
    tokio::spawn(async move {
        let mut connected_before = false;
        loop {
            let mut attempts = 0u32;
            let mut delay = Duration::from_millis(20);
            let stream = loop {
                attempts += 1;
                match UnixStream::connect(&path).await {
                    Ok(s) => break s,
                    Err(e) => {
                        if attempts == 1 {
                            report::event(format!(
                                "subscription to {relay}: relay not there yet ({e}), retrying"
                            ));
                        }
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_millis(250));
                    }
                }
            };
            if connected_before {
                r.fetch_add(1, Ordering::Relaxed);
            }
            connected_before = true;
            let (mut read, mut write) = stream.into_split();
            let hello = torq::encode(domain, 0, FLAG_SUBSCRIBE, 0, &[]);
            if write.write_all(&hello).await.is_err() {
                continue;
            }
            ok.fetch_add(1, Ordering::Relaxed);
            report::event(format!(
                "subscription to {relay}: subscribed to domain {domain} after {attempts} attempt(s)"
            ));
            loop {
                match torq::read_frame(&mut read).await {
                    Ok(frame) => {
                        if tx.send(frame).await.is_err() {
                            return;
                        }
                    }
                    Err(FrameError::Invalid(why)) => {
                        b.fetch_add(1, Ordering::Relaxed);
                        report::event(format!("subscription to {relay}: {why}"));
                        break;
                    }
                    Err(_) => {
                        report::event(format!(
                            "subscription to {relay}: relay went away, subscribing again"
                        ));
                        break;
                    }
                }
            }
        }
    });
    Subscription {
        frames,
        reconnects,
        bad,
        subscribed,
    }
}

/// Subscribes to the subject of `endpoint` (`nats://host:port/subject`) on a NATS
/// server, as `relay` in the event lines. Every message must be one whole torq
/// frame of `domain`.
///
/// The client connects in the background (the server may not be up yet) and
/// reconnects by itself, subscribing again each time. NATS core keeps nothing for
/// absent subscribers, so each (re)subscription is confirmed with a server round
/// trip and counted in [`Subscription::subscribed`]: the orchestrator lets the
/// producers publish only once every subscriber is in place.
pub fn spawn_nats(endpoint: String, domain: u8, relay: &'static str) -> Subscription {
    let (tx, frames) = mpsc::channel(16 * 1024);
    let reconnects = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let subscribed = Arc::new(AtomicU64::new(0));
    let (r, b, ok) = (reconnects.clone(), bad.clone(), subscribed.clone());
    tokio::spawn(async move {
        let Some((server, subject)) = split_nats(&endpoint) else {
            report::event(format!(
                "subscription to {relay}: not a nats://host:port/subject endpoint: {endpoint}"
            ));
            return;
        };
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let connecting = async_nats::ConnectOptions::new()
            .name(format!("sinkgen-example {relay} subscriber"))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(20u64 << attempts.min(4)).min(Duration::from_millis(250))
            })
            .event_callback(move |event| {
                let events_tx = events_tx.clone();
                async move {
                    let _ = events_tx.send(event);
                }
            })
            .connect(server.clone())
            .await;
        let client = match connecting {
            Ok(client) => client,
            Err(e) => {
                report::event(format!("subscription to {relay}: {e}"));
                return;
            }
        };
        let mut messages = match client.subscribe(subject.clone()).await {
            Ok(messages) => messages,
            Err(e) => {
                report::event(format!("subscription to {relay}: {e}"));
                return;
            }
        };
        report::event(format!(
            "subscription to {relay}: waiting for a NATS server at {server}"
        ));
        let mut connected_before = false;
        // Client errors while the server is away repeat at every retry: report the first.
        let mut quiet = false;
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(async_nats::Event::Connected) => {
                        quiet = false;
                        if connected_before {
                            r.fetch_add(1, Ordering::Relaxed);
                        }
                        connected_before = true;
                        // Messages of one connection are processed in order: once the
                        // server answers this flush, it has our SUB and routes to us.
                        if client.flush().await.is_ok() {
                            ok.fetch_add(1, Ordering::Relaxed);
                            report::event(format!(
                                "subscription to {relay}: subscribed to {subject} on {server}"
                            ));
                        }
                    }
                    Some(async_nats::Event::Disconnected) => report::event(format!(
                        "subscription to {relay}: server went away, subscribing again"
                    )),
                    Some(async_nats::Event::ClientError(e)) => {
                        if !quiet {
                            report::event(format!(
                                "subscription to {relay}: no server yet ({e}), retrying"
                            ));
                        }
                        quiet = true;
                    }
                    Some(other) => report::event(format!("subscription to {relay}: {other}")),
                    None => return,
                },
                message = next_message(&mut messages) => {
                    let Some(message) = message else { return };
                    match frame_of(&message.payload, domain).await {
                        Ok(frame) => {
                            if tx.send(frame).await.is_err() {
                                return;
                            }
                        }
                        Err(why) => {
                            b.fetch_add(1, Ordering::Relaxed);
                            report::event(format!("subscription to {relay}: {why}"));
                        }
                    }
                }
            }
        }
    });
    Subscription {
        frames,
        reconnects,
        bad,
        subscribed,
    }
}

/// `nats://host:port/subject` -> (`nats://host:port`, `subject`).
fn split_nats(endpoint: &str) -> Option<(String, String)> {
    let rest = endpoint.strip_prefix("nats://")?;
    let (address, subject) = rest.split_once('/')?;
    (!address.is_empty() && !subject.is_empty())
        .then(|| (format!("nats://{address}"), subject.to_owned()))
}

async fn next_message(messages: &mut async_nats::Subscriber) -> Option<async_nats::Message> {
    use futures_core::Stream;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *messages).poll_next(cx)).await
}

/// The one whole, checked torq frame of `domain` that `payload` must be.
async fn frame_of(payload: &[u8], domain: u8) -> Result<Frame, String> {
    let mut rest = payload;
    let frame = torq::read_frame(&mut rest)
        .await
        .map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the torq frame", rest.len()));
    }
    if frame.header.domain != domain {
        return Err(format!(
            "a frame of domain {} where {domain} was expected",
            frame.header.domain
        ));
    }
    Ok(frame)
}
