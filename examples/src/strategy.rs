//! The strategy: reads quotes from the `market_data` relay and, for each one,
//! sends a signal to the `signals` relay; every fourth quote also becomes an
//! order sent directly to the executor. Its sinks come from `#[derive(Sinks)]`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::protocol::{Order, Quote, Signal};
use crate::report;
use crate::subscriber::Source;
use crate::watch::Watch;

/// The sinks of service `strategy`: `Sinks::signals()` and `Sinks::orders()`.
#[derive(sinkgen_runtime::Sinks)]
#[sinks(config = "services.toml", service = "strategy")]
pub struct Sinks;

/// Trades until the orchestrator says stop, then closes the sinks and reports
/// what they could not deliver.
pub async fn run(market_data: Source, domain: u8) -> std::io::Result<()> {
    let mut quotes_in = market_data.subscribe(domain, "market_data");
    let (signals, orders) = (Sinks::signals(), Sinks::orders());
    let mut signals_watch = Watch::new("signals");
    let mut orders_watch = Watch::new("orders");
    let (mut quotes, mut signals_sent, mut orders_sent, mut failed, mut bad) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut report_tick = tokio::time::interval(Duration::from_millis(250));
    let mut status_tick = tokio::time::interval(Duration::from_millis(5));
    let stop = report::stop_requested();
    tokio::pin!(stop);
    let snapshot = |signals_watch: &mut Watch, orders_watch: &mut Watch| {
        (
            signals_watch.snapshot(&signals.status()),
            orders_watch.snapshot(&orders.status()),
        )
    };
    loop {
        tokio::select! {
            _ = &mut stop => break,
            frame = quotes_in.frames.recv() => {
                let Some(frame) = frame else { break };
                let Some(quote) = Quote::read(frame.payload()) else {
                    bad += 1;
                    continue;
                };
                quotes += 1;
                let mid = (quote.bid + quote.ask) / 2;
                let side: i8 = if quote.bid_size >= quote.ask_size { 1 } else { -1 };
                let signal = Signal { instrument: quote.instrument, side, edge_bps: ((quote.ask - quote.bid) * 10_000 / mid.max(1)) as i32 };
                match signals.send(signal).await {
                    Ok(()) => signals_sent += 1,
                    Err(_) => failed += 1,
                }
                if quotes % 4 == 0 {
                    let order = Order { id: quotes / 4, instrument: quote.instrument, side, quantity: 100, limit: if side > 0 { quote.ask } else { quote.bid } };
                    match orders.send(order.to_bytes()).await {
                        Ok(()) => orders_sent += 1,
                        Err(_) => failed += 1,
                    }
                }
            }
            _ = status_tick.tick() => {
                signals_watch.observe(&signals.status());
                orders_watch.observe(&orders.status());
            }
            _ = report_tick.tick() => {
                let (s, o) = snapshot(&mut signals_watch, &mut orders_watch);
                report::stats(&[
                    ("quotes", quotes), ("signals_sent", signals_sent), ("orders_sent", orders_sent),
                    ("signals_lost", s.lost), ("orders_lost", o.lost), ("failed", failed),
                    ("attempts", s.attempts + o.attempts), ("reconnects", s.reconnects + o.reconnects),
                    ("sub_reconnects", quotes_in.reconnects.load(Ordering::Relaxed)), ("bad", bad),
                    ("subscribed", quotes_in.subscribed.load(Ordering::Relaxed)),
                    ("signals_unconfirmed", s.unconfirmed), ("orders_unconfirmed", o.unconfirmed),
                ]);
            }
        }
    }
    let (signals_undelivered, orders_undelivered) = (signals.close().await, orders.close().await);
    report::event(format!(
        "closed sinks: signals {signals_undelivered}, orders {orders_undelivered} frame(s) not delivered"
    ));
    let (s, o) = snapshot(&mut signals_watch, &mut orders_watch);
    report::final_stats(&[
        ("quotes", quotes),
        ("signals_sent", signals_sent),
        ("orders_sent", orders_sent),
        ("signals_lost", s.lost.max(signals_undelivered)),
        ("orders_lost", o.lost.max(orders_undelivered)),
        ("failed", failed),
        ("attempts", s.attempts + o.attempts),
        ("reconnects", s.reconnects + o.reconnects),
        (
            "sub_reconnects",
            quotes_in.reconnects.load(Ordering::Relaxed),
        ),
        ("bad", bad + quotes_in.bad.load(Ordering::Relaxed)),
        ("subscribed", quotes_in.subscribed.load(Ordering::Relaxed)),
        ("signals_unconfirmed", s.unconfirmed),
        ("orders_unconfirmed", o.unconfirmed),
    ]);
    Ok(())
}
