//! The executor: receives the strategy's orders, typed and named by their
//! sender, through its generated inbox (the `listen` endpoint of services.toml),
//! and the signals through its generated subscription to the `signals` relay,
//! and counts them.

use std::time::Duration;

use sinkgen_runtime::{Decode, ReceiveStatus, Received};

use crate::protocol::{Order, Signal};
use crate::report;
use crate::watch::ReceiverWatch;

/// The receivers of service `executor`: `Subscriptions::inbox()` (its `listen`,
/// typed by its `message`) and `Subscriptions::signals()`. It has no sinks.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(
    config = "services.toml",
    service = "executor",
    receivers = "Subscriptions"
)]
pub struct Sinks;

/// What one receiver handed out.
#[derive(Default)]
struct Count {
    messages: u64,
    gaps: u64,
    bad: u64,
}

impl Count {
    /// Counts one item (`None`: the receiver ended, which it does only on a fatal
    /// error, reported from its status).
    fn item<M: Decode>(&mut self, what: &str, item: Option<Received<M>>, status: &ReceiveStatus) {
        match item {
            Some(Received::Message { .. }) => self.messages += 1,
            Some(Received::Gap { producer, missed }) => {
                self.gaps += missed;
                report::event(format!(
                    "gap: {missed} {what} of {producer} will never come"
                ));
            }
            Some(Received::Undecodable { producer, error }) => {
                self.bad += 1;
                report::event(format!("undecodable {what} from {producer}: {error}"));
            }
            None => report::event(format!(
                "the {what} receiver ended: {}",
                status
                    .last_error
                    .as_ref()
                    .map_or_else(|| "no error".to_owned(), ToString::to_string)
            )),
        }
    }
}

/// Runs the executor until the orchestrator says stop.
pub async fn run() -> std::io::Result<()> {
    let mut orders = Subscriptions::inbox();
    let mut signals = Subscriptions::signals();
    let mut inbox_watch = ReceiverWatch::new("inbox", "listening for orders");
    let mut signals_watch = ReceiverWatch::new("signals", "subscribed");
    let (mut order_count, mut signal_count) = (Count::default(), Count::default());
    let (mut orders_open, mut signals_open) = (true, true);
    let stop = report::stop_requested();
    tokio::pin!(stop);
    let mut status_tick = tokio::time::interval(Duration::from_millis(5));
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let counters = |o: &Count, s: &Count, sw: &ReceiverWatch, inbox: &ReceiveStatus| {
        vec![
            ("orders", o.messages),
            ("order_gaps", o.gaps),
            ("signals", s.messages),
            ("signal_gaps", s.gaps),
            ("bad", o.bad + s.bad),
            ("connections", inbox.connects),
            ("subscribed", sw.connections()),
        ]
    };
    loop {
        tokio::select! {
            _ = &mut stop => break,
            item = orders.recv(), if orders_open => {
                orders_open = item.is_some();
                order_count.item::<Order>("orders", item, &orders.status());
            }
            item = signals.recv(), if signals_open => {
                signals_open = item.is_some();
                signal_count.item::<Signal>("signals", item, &signals.status());
            }
            _ = status_tick.tick() => {
                inbox_watch.observe(&orders.status());
                signals_watch.observe(&signals.status());
            }
            _ = tick.tick() => report::stats(&counters(&order_count, &signal_count, &signals_watch, &orders.status())),
        }
    }
    report::final_stats(&counters(
        &order_count,
        &signal_count,
        &signals_watch,
        &orders.status(),
    ));
    Ok(())
}
