//! The executor: accepts direct connections from the strategy's `orders` sink
//! (length-prefixed frames) and counts the orders; reads the `signals` relay
//! and counts the signals.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UnixListener;

use crate::protocol::{Order, Signal};
use crate::report;
use crate::subscriber::Source;
use crate::torq::{self, FrameError};

/// Runs the executor until the orchestrator says stop.
pub async fn run(
    listen: PathBuf,
    signals_relay: Source,
    signals_domain: u8,
) -> std::io::Result<()> {
    let _ = std::fs::remove_file(&listen);
    let listener = UnixListener::bind(&listen)?;
    report::event("listening for orders");
    let orders = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let connections = Arc::new(AtomicU64::new(0));
    {
        let (orders, bad, connections) = (orders.clone(), bad.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let n = connections.fetch_add(1, Ordering::Relaxed) + 1;
                report::event(format!("order connection #{n} accepted"));
                let (orders, bad) = (orders.clone(), bad.clone());
                tokio::spawn(async move {
                    let mut stream = tokio::io::BufReader::with_capacity(64 * 1024, stream);
                    loop {
                        match torq::read_length_prefixed(&mut stream).await {
                            Ok(frame) if Order::read(&frame).is_some() => {
                                orders.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {
                                bad.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(FrameError::Closed) => break,
                            Err(e) => {
                                report::event(format!("order connection failed: {e}"));
                                break;
                            }
                        }
                    }
                });
            }
        });
    }
    let signals = Arc::new(AtomicU64::new(0));
    let mut subscription = signals_relay.subscribe(signals_domain, "signals");
    let resubscribed = subscription.reconnects.clone();
    let bad_frames = subscription.bad.clone();
    let subscribed = subscription.subscribed.clone();
    {
        let (signals, bad) = (signals.clone(), bad.clone());
        tokio::spawn(async move {
            while let Some(frame) = subscription.frames.recv().await {
                if Signal::read(frame.payload()).is_some() {
                    signals.fetch_add(1, Ordering::Relaxed);
                } else {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    let snapshot = || {
        vec![
            ("orders", orders.load(Ordering::Relaxed)),
            ("signals", signals.load(Ordering::Relaxed)),
            (
                "bad",
                bad.load(Ordering::Relaxed) + bad_frames.load(Ordering::Relaxed),
            ),
            ("connections", connections.load(Ordering::Relaxed)),
            ("sub_reconnects", resubscribed.load(Ordering::Relaxed)),
            ("subscribed", subscribed.load(Ordering::Relaxed)),
        ]
    };
    let stop = report::stop_requested();
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => report::stats(&snapshot()),
        }
    }
    report::final_stats(&snapshot());
    let _ = std::fs::remove_file(&listen);
    Ok(())
}
