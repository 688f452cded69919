//! First frame through a lazy connect, next to a raw connect + write.
//!
//! Each iteration builds a fresh sink (construction does no I/O) and measures from
//! the first `send` to the instant the peer thread has read the whole frame. The raw
//! design measures from `connect` to the same instant after a `write_all`. One
//! listener and one peer thread serve both designs; iterations alternate.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use sinkgen_benches::config::Sizes;
use sinkgen_benches::net::{ClientStream, Listener, Transport};
use sinkgen_benches::{encode_frame, payload, peer, stats};
use tokio::io::AsyncWriteExt;

use crate::report::{Table, Verdict, pass_fail, us};
use crate::sink;

const SIZE: usize = 64;
const WARMUP: usize = 20;

pub async fn run(sizes: Sizes) -> io::Result<Vec<Verdict>> {
    println!("## First frame through a lazy connect, {SIZE} B frame");
    println!(
        "{} fresh connections per design and transport after {WARMUP} warm-up; designs alternate",
        sizes.first_frames
    );
    println!();
    let payload = payload(SIZE);
    let msg = sink::message(&payload);
    let mut frame = Vec::new();
    encode_frame(&mut frame, &payload);
    let mut table = Table::new(&[
        "transport",
        "raw connect+write p50",
        "raw p99",
        "sinkgen first send p50",
        "sinkgen p99",
        "target p50",
    ]);
    let mut verdicts = Vec::new();
    for (transport, target) in [(Transport::Uds, 50.0), (Transport::Tcp, 150.0)] {
        let listener = Arc::new(Listener::bind(transport)?);
        let iterations = WARMUP + sizes.first_frames;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let peer =
            peer::spawn_first_frame_peer(Arc::clone(&listener), frame.len(), 2 * iterations, tx);
        let mut raw = Vec::with_capacity(sizes.first_frames);
        let mut lazy = Vec::with_capacity(sizes.first_frames);
        let peer_gone = || io::Error::other("first-frame peer stopped early");
        for i in 0..iterations {
            let t0 = Instant::now();
            let mut conn = listener.connect().await?;
            match &mut conn {
                ClientStream::Uds(s) => s.write_all(&frame).await?,
                ClientStream::Tcp(s) => s.write_all(&frame).await?,
            }
            let read_at = rx.recv().await.ok_or_else(peer_gone)?;
            let raw_t = read_at - t0;
            drop(conn);

            let sink = sink::Sink::new(listener.endpoint())?;
            let t0 = Instant::now();
            sink.send(&msg).await?;
            let read_at = rx.recv().await.ok_or_else(peer_gone)?;
            let lazy_t = read_at - t0;
            let undelivered = sink.close().await?;
            if undelivered != 0 {
                return Err(io::Error::other(format!(
                    "sink reported {undelivered} undelivered frames"
                )));
            }

            if i >= WARMUP {
                raw.push(raw_t);
                lazy.push(lazy_t);
            }
        }
        tokio::task::spawn_blocking(move || peer.join())
            .await
            .map_err(io::Error::other)?
            .map_err(|_| io::Error::other("peer thread panicked"))??;
        let (raw50, raw99) = stats::p50_p99_us(&mut raw);
        let (lazy50, lazy99) = stats::p50_p99_us(&mut lazy);
        let pass = lazy50 <= target;
        table.row(vec![
            transport.name().into(),
            us(raw50),
            us(raw99),
            format!("{} {}", us(lazy50), pass_fail(pass)),
            us(lazy99),
            format!("<= {target} us"),
        ]);
        verdicts.push(Verdict::new(
            format!("first frame p50 ({})", transport.name()),
            format!("{} (p99 {})", us(lazy50), us(lazy99)),
            if transport == Transport::Uds {
                "<= 50 us"
            } else {
                "<= 150 us"
            },
            pass,
        ));
    }
    table.print();
    Ok(verdicts)
}
