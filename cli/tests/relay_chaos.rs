//! The relay killed between a producer and a subscriber (SPEC section 11, G1 and G2):
//! a sink sends through `sinkgen relay`, a subscription receives, and the relay process
//! is killed with SIGKILL at random moments and started again, over and over. At the
//! end every frame the sink accepted was received exactly once and in order, or its
//! loss was reported (G1); and since the sink's process lived, nothing was lost (G2).

mod relay_peers;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use relay_peers::{TempDir, runtime, start, ticks_file, ticks_sink};
use sinkgen_runtime::{Bytes, Received, RelaySink, SubscriptionBuilder};

/// Frames the producer sends.
const FRAMES: u64 = 20_000;
/// Relay processes killed during the run.
const KILLS: usize = 24;
/// The whole test ends within this (a hang fails it instead).
const LIMIT: Duration = Duration::from_secs(90);

/// What the subscription saw.
#[derive(Default)]
struct Seen {
    /// Frame numbers in arrival order.
    order: Vec<u64>,
    /// Frames reported missing by gap items.
    gaps: u64,
}

#[test]
fn a_relay_killed_at_random_moments_loses_nothing_over_unix_sockets() {
    let dir = TempDir::new("chaos-unix");
    let url = format!("unix://{}", dir.join("ticks.sock").display());
    chaos(&dir, &url);
}

#[test]
fn a_relay_killed_at_random_moments_loses_nothing_over_tcp() {
    let dir = TempDir::new("chaos-tcp");
    // A free port, bound again by every relay process (listeners reuse the address).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    chaos(&dir, &format!("tcp://127.0.0.1:{port}"));
}

fn chaos(dir: &TempDir, url: &str) {
    let file = ticks_file(dir, url);
    let started = Instant::now();
    let mut relay = Some(start(&file, &["--status-interval", "0"]));

    let rt = runtime();
    let sink: RelaySink<Bytes> = {
        let _guard = rt.enter();
        ticks_sink(url, FRAMES)
            .backoff(Duration::from_millis(2), Duration::from_millis(40))
            .relay()
            .unwrap()
    };
    let mut sub = SubscriptionBuilder::new(url)
        .identity("desk", "ticks")
        .backoff(Duration::from_millis(2), Duration::from_millis(40))
        .build::<Bytes>()
        .unwrap();

    // The subscription runs until it has seen every frame, or reports of the rest.
    let receiver = rt.spawn(async move {
        let mut seen = Seen::default();
        let deadline = tokio::time::Instant::now() + LIMIT;
        while (seen.order.len() as u64) + seen.gaps < FRAMES {
            match tokio::time::timeout_at(deadline, sub.recv()).await {
                Ok(Some(Received::Message { message, .. })) => {
                    seen.order
                        .push(u64::from_le_bytes(message[..8].try_into().unwrap()));
                }
                Ok(Some(Received::Gap { missed, .. })) => seen.gaps += missed,
                Ok(Some(other)) => panic!("unexpected item {other:?}"),
                Ok(None) => panic!("the subscription ended: {:?}", sub.status()),
                Err(_) => break,
            }
        }
        seen
    });

    // The producer sends in small bursts, so the run spans the kills.
    let sender = {
        let sink = sink.clone();
        rt.spawn(async move {
            let mut accepted = 0u64;
            for i in 0..FRAMES {
                let payload = Bytes::copy_from_slice(&i.to_le_bytes());
                if sink.send(payload).await.is_ok() {
                    accepted += 1;
                }
                if i % 200 == 199 {
                    tokio::time::sleep(Duration::from_millis(12)).await;
                }
            }
            accepted
        })
    };

    // Kill the relay at random moments and start it again.
    for _ in 0..KILLS {
        std::thread::sleep(Duration::from_millis(fastrand::u64(5..60)));
        drop(relay.take()); // SIGKILL, then reaped
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..20)));
        relay = Some(start(&file, &["--status-interval", "0"]));
    }

    let accepted = rt.block_on(sender).unwrap();
    let flushed = rt.block_on(async { tokio::time::timeout(LIMIT, sink.flush()).await });
    assert!(
        matches!(flushed, Ok(Ok(()))),
        "flush: {flushed:?}, {:?}",
        sink.status()
    );
    let seen = rt.block_on(receiver).unwrap();
    let status = sink.status();

    // No frame reached the subscriber twice, and each arrived in the producer's order.
    let distinct: BTreeSet<u64> = seen.order.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        seen.order.len(),
        "a frame was delivered twice"
    );
    assert!(
        seen.order.windows(2).all(|w| w[0] < w[1]),
        "frames out of order"
    );
    // Every accepted frame was received, or someone reported its loss.
    let received = seen.order.len() as u64;
    let lost = status.lost.total();
    assert!(
        received + seen.gaps + lost >= accepted,
        "silent loss: accepted {accepted}, received {received}, gaps {}, sink lost {lost}",
        seen.gaps
    );
    assert_eq!(accepted, FRAMES, "send failed: {status:?}");
    // G2: the producer lived and the subscriber was connected when each relay died, so
    // it got everything from the successors (a relay holds acknowledgements for
    // subscribers that have not reconnected since its start).
    assert_eq!(
        (received, seen.gaps, lost),
        (accepted, 0, 0),
        "the subscriber missed frames although the producer lived"
    );
    eprintln!(
        "{url}: {KILLS} relay kills in {:?}: {received} frames received, {} reported missing, {lost} lost at the sink",
        started.elapsed(),
        seen.gaps
    );
    drop(relay);
}
