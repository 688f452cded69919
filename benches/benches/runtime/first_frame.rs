//! First frame through a lazy connect, next to a raw connect + write.
//!
//! Each iteration builds a fresh sink (construction does no I/O) and measures from
//! the first `send` to the instant the peer thread has read the whole frame: with
//! length-prefixed framing, and with sinkgen framing, whose first frame rides behind
//! its HELLO in the same write (early data; the peer answers WELCOME after the read
//! that brought the frame, and acknowledges it). The raw design measures from
//! `connect` to the same instant after a `write_all`. One listener and one peer
//! thread serve the three designs; each iteration runs them in another order (see
//! `ORDERS`).
//!
//! Each transport runs twice: with a peer that sleeps in `accept` and `read` (the
//! judged rows: a real receiver sleeps too), and with a peer that polls on a core of
//! its own, which leaves out the kernel's wake-up of the peer (on a virtual machine,
//! the wake-up of an idle vCPU can take longer than the whole target).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sinkgen_benches::config::Sizes;
use sinkgen_benches::net::{ClientStream, Listener, Transport};
use sinkgen_benches::peer::{PeerWait, Speaks};
use sinkgen_benches::{encode_frame, payload, peer, stats};
use sinkgen_runtime::Framing;
use tokio::io::AsyncWriteExt;

use crate::report::{Table, Verdict, pass_fail, us};
use crate::sink;

const SIZE: usize = 64;
const WARMUP: usize = 20;

pub async fn run(sizes: Sizes) -> io::Result<Vec<Verdict>> {
    println!("## First frame through a lazy connect, {SIZE} B frame");
    println!(
        "{} fresh connections per design, transport and peer after {WARMUP} warm-up; designs in a cycle of all six orders",
        sizes.first_frames
    );
    println!();
    let payload = payload(SIZE);
    let msg = sink::message(&payload);
    let mut frame = Vec::new();
    encode_frame(&mut frame, &payload);
    let mut table = Table::new(&["transport", "peer", "design", "p50", "p99", "target p50"]);
    let mut verdicts = Vec::new();
    for (transport, target, target_text) in [
        (Transport::Uds, 50.0, "<= 50 us"),
        (Transport::Tcp, 150.0, "<= 150 us"),
    ] {
        for wait in [PeerWait::Blocking, PeerWait::Polling] {
            let mut times = measure(transport, wait, sizes, &frame, &msg).await?;
            // The target is judged where the peer sleeps, as real receivers do; the
            // polling rows show how much of that is the kernel waking the peer.
            let sleeps = wait == PeerWait::Blocking;
            for (design, samples) in DESIGNS.iter().zip(times.iter_mut()) {
                let (p50, p99) = stats::p50_p99_us(samples);
                let judge = sleeps && design.sink.is_some();
                let pass = p50 <= target;
                table.row(vec![
                    transport.name().into(),
                    if sleeps { "sleeps" } else { "polls" }.into(),
                    design.name.into(),
                    if judge {
                        format!("{} {}", us(p50), pass_fail(pass))
                    } else {
                        us(p50)
                    },
                    us(p99),
                    if judge { target_text } else { "" }.into(),
                ]);
                if judge {
                    verdicts.push(Verdict::new(
                        format!("first frame p50 ({}, {})", transport.name(), design.short),
                        format!("{} (p99 {})", us(p50), us(p99)),
                        target_text,
                        pass,
                    ));
                }
            }
        }
    }
    table.print();
    Ok(verdicts)
}

/// One design of the section.
struct Design {
    name: &'static str,
    /// The verdict's name for it.
    short: &'static str,
    /// The sink's framing; `None` for the raw connect + write.
    sink: Option<Framing>,
}

const DESIGNS: [Design; 3] = [
    Design {
        name: "raw connect + write_all",
        short: "raw",
        sink: None,
    },
    Design {
        name: "sinkgen sink, length-prefixed",
        short: "length-prefixed",
        sink: Some(Framing::LengthPrefixed),
    },
    Design {
        name: "sinkgen sink, sinkgen framing (HELLO + early data)",
        short: "sinkgen framing",
        sink: Some(Framing::Sinkgen),
    },
];

/// The orders the iterations cycle through, as indices into [`DESIGNS`]: all six,
/// arranged so that over a cycle every design takes every place twice and follows
/// every other design three times (twice inside an iteration, once across the
/// boundary to the next), and never itself. Both matter on a multi-thread runtime:
/// with a fixed order, the design that ran right after a sink's close took 20-40 us
/// longer to its first frame than the same design run after the raw baseline
/// (BENCHMARKS.md, "eleventh look").
const ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [1, 2, 0],
    [2, 0, 1],
    [0, 2, 1],
    [2, 1, 0],
    [1, 0, 2],
];

/// The designs of iteration `i`, in the order they run (see [`ORDERS`]).
fn order(i: usize) -> [usize; 3] {
    ORDERS[i % ORDERS.len()]
}

/// One transport and peer: the first-frame times of the timed iterations, one list
/// per design of [`DESIGNS`], the designs taking turns (see [`order`]).
async fn measure(
    transport: Transport,
    wait: PeerWait,
    sizes: Sizes,
    frame: &[u8],
    msg: &sink::Msg,
) -> io::Result<[Vec<Duration>; 3]> {
    let listener = Arc::new(Listener::bind(transport)?);
    let iterations = WARMUP + sizes.first_frames;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let pattern = (0..iterations)
        .flat_map(order)
        .map(|d| match DESIGNS[d].sink {
            Some(Framing::Sinkgen) => Speaks::Sinkgen,
            _ => Speaks::Bytes(frame.len()),
        })
        .collect();
    let peer = peer::spawn_first_frame_peer(
        Arc::clone(&listener),
        pattern,
        DESIGNS.len() * iterations,
        wait,
        tx,
    );
    let mut times: [Vec<Duration>; 3] = Default::default();
    let peer_gone = || io::Error::other("first-frame peer stopped early");
    for i in 0..iterations {
        for d in order(i) {
            let (design, samples) = (&DESIGNS[d], &mut times[d]);
            let took = match design.sink {
                None => {
                    let t0 = Instant::now();
                    let mut conn = listener.connect().await?;
                    match &mut conn {
                        ClientStream::Uds(s) => s.write_all(frame).await?,
                        ClientStream::Tcp(s) => s.write_all(frame).await?,
                    }
                    let read_at = rx.recv().await.ok_or_else(peer_gone)?;
                    read_at - t0
                }
                Some(framing) => {
                    let sink = sink::Sink::with_framing(listener.endpoint(), framing)?;
                    let t0 = Instant::now();
                    sink.send(msg).await?;
                    let read_at = rx.recv().await.ok_or_else(peer_gone)?;
                    let undelivered = sink.close().await?;
                    if undelivered != 0 {
                        return Err(io::Error::other(format!(
                            "sink reported {undelivered} undelivered frames"
                        )));
                    }
                    read_at - t0
                }
            };
            if i >= WARMUP {
                samples.push(took);
            }
        }
    }
    tokio::task::spawn_blocking(move || peer.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::other("peer thread panicked"))??;
    Ok(times)
}
