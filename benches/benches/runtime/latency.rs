//! Ping-pong latency over UDS: raw tokio socket vs through a sink.
//!
//! Each design has its own connection to one echo peer thread; for every frame the
//! peer reads it answers 8 bytes on a separate return socket, which the client reads.
//! The peer serves the two connections in turn, so both designs meet the same thread.
//! The order alternates ABBA (raw first in even rounds, the sink in odd ones), so
//! drift affects both alike and neither always follows the other. The raw design
//! writes the frame itself (`write_all`) on a tokio `UnixStream`; the sink design
//! calls `send(..).await` and the sink's writer does the write; the difference of
//! their percentiles is the latency the sink adds.

use std::io;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sinkgen_benches::config::Sizes;
use sinkgen_benches::net::{ClientStream, Listener, Transport};
use sinkgen_benches::peer::EchoLeg;
use sinkgen_benches::{encode_frame, payload, peer, stats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::alloc::Window;
use crate::report::{Table, Verdict, pass_fail, us};
use crate::sink;

const SIZE: usize = 64;
const WARMUP: usize = 1_000;

fn return_pair() -> io::Result<(StdUnixStream, UnixStream)> {
    let (peer_end, client_end) = StdUnixStream::pair()?;
    client_end.set_nonblocking(true)?;
    Ok((peer_end, UnixStream::from_std(client_end)?))
}

pub async fn run(sizes: Sizes) -> io::Result<Vec<Verdict>> {
    println!("## Ping-pong latency over UDS, {SIZE} B frames");
    println!(
        "{} round trips per design after {WARMUP} warm-up; raw and sink pings alternate",
        sizes.pings
    );
    println!();
    let payload = payload(SIZE);
    let msg = sink::message(&payload);
    let mut frame = Vec::new();
    encode_frame(&mut frame, &payload);

    let total = (WARMUP + sizes.pings) as u64;
    let raw_listener = Arc::new(Listener::bind(Transport::Uds)?);
    let (raw_peer_back, mut raw_back) = return_pair()?;
    let sink_listener = Arc::new(Listener::bind(Transport::Uds)?);
    let (sink_peer_back, mut sink_back) = return_pair()?;
    let echo = peer::spawn_alternating_echo(
        EchoLeg {
            listener: Arc::clone(&raw_listener),
            back: raw_peer_back,
        },
        EchoLeg {
            listener: Arc::clone(&sink_listener),
            back: sink_peer_back,
        },
        frame.len(),
        total,
    );
    let ClientStream::Uds(mut raw) = raw_listener.connect().await? else {
        unreachable!("a UDS listener gives a UDS client")
    };

    let sink = sink::Sink::new(sink_listener.endpoint())?;

    let mut ack = [0u8; 8];
    let mut raw_samples = Vec::with_capacity(sizes.pings);
    let mut sink_samples = Vec::with_capacity(sizes.pings);
    let mut raw_calls = Vec::with_capacity(sizes.pings);
    let mut sink_calls = Vec::with_capacity(sizes.pings);
    let mut window = None;
    for i in 0..WARMUP + sizes.pings {
        if i == WARMUP {
            // Sparse sends take the sink's direct-write path: count allocations there
            // too (every thread; the raw pings allocate nothing).
            window = Some(Window::open());
        }
        // ABBA: raw first in even rounds, the sink first in odd ones (the echo peer
        // follows the same order).
        let (raw_ping, sink_ping) = if i.is_multiple_of(2) {
            let raw_ping = ping(raw.write_all(&frame), &mut raw_back, &mut ack).await?;
            let sink_ping = ping(sink.send(&msg), &mut sink_back, &mut ack).await?;
            (raw_ping, sink_ping)
        } else {
            let sink_ping = ping(sink.send(&msg), &mut sink_back, &mut ack).await?;
            let raw_ping = ping(raw.write_all(&frame), &mut raw_back, &mut ack).await?;
            (raw_ping, sink_ping)
        };

        if i >= WARMUP {
            raw_samples.push(raw_ping.rtt);
            sink_samples.push(sink_ping.rtt);
            raw_calls.push(raw_ping.call);
            sink_calls.push(sink_ping.call);
        }
    }
    let (allocs, _) = window.map_or((0, 0), Window::close);
    let undelivered = sink.close().await?;
    drop(raw);
    let echoed = tokio::task::spawn_blocking(move || echo.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::other("echo thread panicked"))??;
    if echoed != total {
        return Err(io::Error::other(format!(
            "echo peer answered {echoed} rounds, expected {total}"
        )));
    }
    if undelivered != 0 {
        return Err(io::Error::other(format!(
            "sink reported {undelivered} undelivered frames"
        )));
    }

    let (raw50, raw99) = stats::p50_p99_us(&mut raw_samples);
    let (sink50, sink99) = stats::p50_p99_us(&mut sink_samples);
    let added50 = sink50 - raw50;
    let added99 = sink99 - raw99;
    let (raw_call50, _) = stats::p50_p99_us(&mut raw_calls);
    let (sink_call50, _) = stats::p50_p99_us(&mut sink_calls);
    let mut table = Table::new(&[
        "design",
        "p50 RTT",
        "p99 RTT",
        "mean RTT",
        "p50 until the call returned",
    ]);
    table.row(vec![
        "raw tokio write_all".into(),
        us(raw50),
        us(raw99),
        us(mean_us(&raw_samples)),
        us(raw_call50),
    ]);
    table.row(vec![
        "sinkgen send".into(),
        us(sink50),
        us(sink99),
        us(mean_us(&sink_samples)),
        us(sink_call50),
    ]);
    table.row(vec![
        "added by sinkgen".into(),
        format!("{} {}", us(added50), pass_fail(added50 <= 1.0)),
        format!("{} {}", us(added99), pass_fail(added99 <= 5.0)),
        us(mean_us(&sink_samples) - mean_us(&raw_samples)),
        us(sink_call50 - raw_call50),
    ]);
    table.print();
    println!(
        "allocations during the {} timed ping-pongs (all threads): {allocs}",
        sizes.pings
    );
    println!();
    let alloc_pass = allocs * 1000 < sizes.pings as u64;
    Ok(vec![
        Verdict::new(
            "latency added, p50 (UDS ping-pong)",
            us(added50),
            "<= 1 us",
            added50 <= 1.0,
        ),
        Verdict::new(
            "latency added, p99 (UDS ping-pong)",
            us(added99),
            "<= 5 us",
            added99 <= 5.0,
        ),
        Verdict::new(
            "allocations per frame (sparse sends)",
            format!(
                "{:.4} ({allocs} in {} frames)",
                allocs as f64 / sizes.pings as f64,
                sizes.pings
            ),
            "0",
            alloc_pass,
        ),
    ])
}

/// One ping's times, both from the start of the write (or `send`).
struct Ping {
    /// Until the peer's answer was read.
    rtt: Duration,
    /// Until the write (or `send`) returned: the client's own cost, before any
    /// wake-up of the peer is waited for.
    call: Duration,
}

/// One ping: `write` (a raw `write_all` or a sink's `send`; futures do nothing until
/// awaited, so the clock starts with it), then the peer's answer.
async fn ping(
    write: impl Future<Output = io::Result<()>>,
    back: &mut UnixStream,
    ack: &mut [u8; 8],
) -> io::Result<Ping> {
    let t0 = Instant::now();
    write.await?;
    let call = t0.elapsed();
    back.read_exact(ack).await?;
    Ok(Ping {
        rtt: t0.elapsed(),
        call,
    })
}

fn mean_us(samples: &[Duration]) -> f64 {
    samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len() as f64 * 1e6
}
