//! The strategy: receives quotes, typed, through its generated subscription to
//! the `market_data` relay and, for each one, sends a signal to the `signals`
//! relay; every fourth quote also becomes an order sent directly to the
//! executor. Its sinks and its subscription come from `#[derive(Sinks)]`.

use std::time::Duration;

use sinkgen_runtime::Received;

use crate::protocol::{Order, Quote, Signal};
use crate::report;
use crate::watch::{Counts, ReceiverWatch, Watch};

/// The sinks of service `strategy` (`Sinks::signals()`, `Sinks::orders()`) and
/// its receivers (`Subscriptions::market_data()`).
#[derive(sinkgen_runtime::Sinks)]
#[sinks(
    config = "services.toml",
    service = "strategy",
    receivers = "Subscriptions"
)]
pub struct Sinks;

/// What the strategy has done so far.
#[derive(Default)]
struct Tally {
    quotes: u64,
    gaps: u64,
    bad: u64,
    signals_sent: u64,
    orders_sent: u64,
    failed: u64,
}

impl Tally {
    fn counters(&self, s: Counts, o: Counts, sub: &ReceiverWatch) -> Vec<(&'static str, u64)> {
        vec![
            ("quotes", self.quotes),
            ("quote_gaps", self.gaps),
            ("bad", self.bad),
            ("signals_sent", self.signals_sent),
            ("orders_sent", self.orders_sent),
            ("signals_lost", s.lost),
            ("orders_lost", o.lost),
            ("failed", self.failed),
            ("attempts", s.attempts + o.attempts),
            ("reconnects", s.reconnects + o.reconnects),
            ("subscribed", sub.connections()),
            ("signals_unconfirmed", s.unconfirmed),
            ("orders_unconfirmed", o.unconfirmed),
        ]
    }

    /// Trades on one quote.
    async fn quote(&mut self, quote: Quote) {
        self.quotes += 1;
        let mid = (quote.bid + quote.ask) / 2;
        let side: i8 = if quote.bid_size >= quote.ask_size {
            1
        } else {
            -1
        };
        let signal = Signal {
            instrument: quote.instrument,
            side,
            edge_bps: ((quote.ask - quote.bid) * 10_000 / mid.max(1)) as i32,
        };
        match Sinks::signals().send(signal).await {
            Ok(()) => self.signals_sent += 1,
            Err(_) => self.failed += 1,
        }
        if self.quotes.is_multiple_of(4) {
            let order = Order {
                id: self.quotes / 4,
                instrument: quote.instrument,
                side,
                quantity: 100,
                limit: if side > 0 { quote.ask } else { quote.bid },
            };
            match Sinks::orders().send(order).await {
                Ok(()) => self.orders_sent += 1,
                Err(_) => self.failed += 1,
            }
        }
    }
}

/// Trades until the orchestrator says stop, then closes the sinks and reports
/// what they could not deliver.
pub async fn run() -> std::io::Result<()> {
    let mut quotes = Subscriptions::market_data();
    let (signals, orders) = (Sinks::signals(), Sinks::orders());
    let mut signals_watch = Watch::new("signals");
    let mut orders_watch = Watch::new("orders");
    let mut sub_watch = ReceiverWatch::new("market_data", "subscribed");
    let mut tally = Tally::default();
    let mut report_tick = tokio::time::interval(Duration::from_millis(250));
    let mut status_tick = tokio::time::interval(Duration::from_millis(5));
    let stop = report::stop_requested();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            item = quotes.recv() => match item {
                Some(Received::Message { message, .. }) => tally.quote(message).await,
                Some(Received::Gap { producer, missed }) => {
                    tally.gaps += missed;
                    report::event(format!("gap: {missed} quote(s) of {producer} will never come"));
                }
                Some(Received::Undecodable { producer, error }) => {
                    tally.bad += 1;
                    report::event(format!("undecodable quote from {producer}: {error}"));
                }
                None => break,
            },
            _ = status_tick.tick() => {
                signals_watch.observe(&signals.status());
                orders_watch.observe(&orders.status());
                sub_watch.observe(&quotes.status());
            }
            _ = report_tick.tick() => {
                let (s, o) = (signals_watch.snapshot(&signals.status()), orders_watch.snapshot(&orders.status()));
                report::stats(&tally.counters(s, o, &sub_watch));
            }
        }
    }
    let (signals_undelivered, orders_undelivered) = (signals.close().await, orders.close().await);
    report::event(format!(
        "closed sinks: signals {signals_undelivered}, orders {orders_undelivered} frame(s) not delivered"
    ));
    let mut s = signals_watch.snapshot(&signals.status());
    let mut o = orders_watch.snapshot(&orders.status());
    s.lost = s.lost.max(signals_undelivered);
    o.lost = o.lost.max(orders_undelivered);
    report::final_stats(&tally.counters(s, o, &sub_watch));
    Ok(())
}
