//! The read side of a relay: connect, subscribe to one domain, receive checked
//! frames; reconnect (with backoff) whenever the relay is missing or goes away.

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
}

/// Subscribes to `domain` on the relay at `path`, as `relay` in the event lines.
pub fn spawn(path: PathBuf, domain: u8, relay: &'static str) -> Subscription {
    let (tx, frames) = mpsc::channel(16 * 1024);
    let reconnects = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let (r, b) = (reconnects.clone(), bad.clone());
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
    }
}
