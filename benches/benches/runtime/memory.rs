//! Heap held per connected sink after one burst: right after it, and once the sinks
//! have been idle for a while (they give buffer capacity back, keeping a small floor).
//!
//! Counted by the bench binary's allocator (bytes allocated minus bytes freed while
//! the window is open, every thread), divided by the number of sinks.

use std::io;
use std::time::Duration;

use sinkgen_benches::config::Sizes;
use sinkgen_benches::payload;
use tokio::io::AsyncReadExt;

use crate::alloc::Window;
use crate::report::{Table, Verdict, pass_fail};
use crate::sink;

const SIZE: usize = 64;
/// Frames per burst: the default queue bound.
const BURST: usize = 4096;
/// How long the sinks stay idle before the second reading.
const IDLE: Duration = Duration::from_millis(2500);
/// Heap an idle connected sink may hold, beyond what it held before its burst.
const TARGET_KIB: f64 = 16.0;

pub async fn run(sizes: Sizes) -> io::Result<Vec<Verdict>> {
    let n = sizes.idle_sinks;
    println!("## Heap held per connected sink after one burst ({n} sinks, UDS)");
    println!(
        "each sink sends {BURST} frames of {SIZE} B as fast as it can, then flushes; heap beyond what the connected sinks held before, per sink"
    );
    println!();
    let msg = sink::message(&payload(SIZE));
    let window = Window::open();
    let mut sinks = Vec::with_capacity(n);
    let mut peers = Vec::with_capacity(n);
    for k in 0..n {
        let (endpoint, peer) = spawn_peer(k)?;
        let sink = sink::Sink::new(&endpoint)?;
        sink.send(&msg).await?;
        sink.flush().await?;
        sinks.push(sink);
        peers.push(peer);
    }
    let before = window.held();
    for sink in &sinks {
        for _ in 0..BURST {
            sink.send(&msg).await?;
        }
        sink.flush().await?;
    }
    let after_burst = window.held();
    tokio::time::sleep(IDLE).await;
    let idle = window.held();
    drop(window);
    for sink in sinks {
        let undelivered = sink.close().await?;
        if undelivered != 0 {
            return Err(io::Error::other(format!(
                "sink reported {undelivered} undelivered frames"
            )));
        }
    }
    for peer in peers {
        let read = peer.await.map_err(io::Error::other)??;
        if read != (1 + BURST) * (4 + SIZE) {
            return Err(io::Error::other(format!("peer read {read} bytes")));
        }
    }
    let kib = |held: i64| (held - before) as f64 / 1024.0 / n as f64;
    let (burst_kib, idle_kib) = (kib(after_burst), kib(idle));
    let pass = idle_kib <= TARGET_KIB;
    let mut t = Table::new(&[
        "sinks",
        "right after the burst",
        &format!("after {} ms idle", IDLE.as_millis()),
    ]);
    t.row(vec![
        n.to_string(),
        format!("{burst_kib:.1} KiB/sink"),
        format!("{idle_kib:.1} KiB/sink {}", pass_fail(pass)),
    ]);
    t.print();
    Ok(vec![Verdict::new(
        "heap held per idle sink after a burst",
        format!("{idle_kib:.1} KiB"),
        "<= 16 KiB",
        pass,
    )])
}

/// A Unix listener in the temp directory and a peer task (tokio, on the runtime under
/// test: a thread per sink would dwarf what is measured) that reads one connection to
/// its end and returns the bytes read. Returns the endpoint and the task.
fn spawn_peer(k: usize) -> io::Result<(String, PeerTask)> {
    let path =
        std::env::temp_dir().join(format!("sinkgen-bench-mem-{}-{k}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)?;
    let endpoint = format!("unix://{}", path.display());
    let task = tokio::spawn(async move {
        let accepted = listener.accept().await;
        let _ = std::fs::remove_file(&path);
        let (mut stream, _) = accepted?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            match stream.read(&mut buf).await? {
                0 => return Ok(total),
                k => total += k,
            }
        }
    });
    Ok((endpoint, task))
}

type PeerTask = tokio::task::JoinHandle<io::Result<usize>>;
