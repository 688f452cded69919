//! Frames sent through generated accessors arrive whole on real Unix sockets.
//!
//! Each test listens on a socket in a fresh temporary directory, points a generated
//! sink at it (through `with_endpoints`, or the `SINKGEN_<SINK>_ENDPOINT` override for
//! the process-wide accessor), sends, and decodes what the socket received.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sinkgen_e2e::protocol::MarketEvent;
use sinkgen_e2e::{Sinks, SinksEndpoints, Wired, WiredEndpoints};
use sinkgen_runtime::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::{UnixListener, UnixStream};

/// Every wait is bounded: a frame that never comes fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(10);

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sinkgen-e2e-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn url(path: &Path) -> String {
    format!("unix://{}", path.display())
}

async fn accept(listener: &UnixListener) -> UnixStream {
    let (stream, _) = tokio::time::timeout(PATIENCE, listener.accept())
        .await
        .expect("the sink should connect")
        .unwrap();
    stream
}

async fn read_exact(stream: &mut UnixStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    tokio::time::timeout(PATIENCE, stream.read_exact(&mut buf))
        .await
        .expect("the frame should arrive")
        .unwrap();
    buf
}

/// A length-prefixed frame: u32 little-endian length, then the payload.
async fn read_length_prefixed(stream: &mut UnixStream) -> Vec<u8> {
    let len = read_exact(stream, 4).await;
    let len = u32::from_le_bytes(len.try_into().unwrap()) as usize;
    read_exact(stream, len).await
}

/// The 32-byte torq header, checked field by field, then the payload.
async fn read_torq(stream: &mut UnixStream, domain: u8, source: u8, sequence: u64) -> Vec<u8> {
    let header = read_exact(stream, 32).await;
    let u32_at = |i: usize| u32::from_le_bytes(header[i..i + 4].try_into().unwrap());
    let u64_at = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().unwrap());
    assert_eq!(u32_at(0), 0xDEAD_BEEF, "magic");
    assert_eq!(header[4], domain, "relay domain");
    assert_eq!(header[5], 1, "version");
    assert_eq!(header[6], source, "source");
    assert_eq!(header[7], 0, "flags");
    assert_eq!(u64_at(8), sequence, "sequence");
    assert!(u64_at(16) > 0, "timestamp");
    let payload = read_exact(stream, u32_at(24) as usize).await;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header[..28]);
    crc.update(&payload);
    assert_eq!(
        u32_at(28),
        crc.finalize(),
        "crc32 over header[..28] and the payload"
    );
    payload
}

#[tokio::test]
async fn derived_field_sends_torq_frames_to_the_relay() {
    let dir = scratch("derive");
    let socket = dir.join("market_data.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let wired = Wired::with_endpoints(WiredEndpoints {
        market_data: url(&socket),
        ..WiredEndpoints::default()
    });

    let events = [
        MarketEvent {
            seq: 1,
            price: 101_250,
        },
        MarketEvent { seq: 2, price: -7 },
    ];
    for event in events {
        wired.market_data.send(event).await.unwrap();
    }
    let mut stream = accept(&listener).await;
    for (i, event) in events.iter().enumerate() {
        // `source = 3` of the sending service, `domain = 1` of the relay.
        let payload = read_torq(&mut stream, 1, 3, i as u64 + 1).await;
        assert_eq!(MarketEvent::decode(&payload), Some(*event));
    }
    assert_eq!(
        wired.market_data.close().await,
        0,
        "nothing left undelivered"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn build_script_instance_broadcasts_to_every_member() {
    let dir = scratch("broadcast");
    let signals = dir.join("signals.sock");
    let execution = dir.join("execution.sock");
    let signals_listener = UnixListener::bind(&signals).unwrap();
    let execution_listener = UnixListener::bind(&execution).unwrap();
    let sinks = Sinks::with_endpoints(SinksEndpoints {
        signals: url(&signals),
        execution: url(&execution),
        ..SinksEndpoints::default()
    });

    sinks
        .signals()
        .send(Bytes::from_static(b"direct to signals"))
        .await
        .unwrap();
    let delivery = sinks
        .fanout()
        .send(Bytes::from_static(b"to everyone"))
        .await
        .unwrap();
    assert_eq!((delivery.accepted, delivery.members), (2, 2));

    let mut stream = accept(&signals_listener).await;
    assert_eq!(
        read_length_prefixed(&mut stream).await,
        b"direct to signals"
    );
    assert_eq!(read_length_prefixed(&mut stream).await, b"to everyone");
    let mut stream = accept(&execution_listener).await;
    assert_eq!(read_length_prefixed(&mut stream).await, b"to everyone");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The process-wide accessor with its endpoint overridden by `SINKGEN_SIGNALS_ENDPOINT`.
///
/// Environment variables are process-wide, so the send happens in a child process: this
/// test binary, running only [`child_sends_through_the_process_wide_accessor`].
#[tokio::test]
async fn process_wide_accessor_honours_the_environment_override() {
    let dir = scratch("env");
    let socket = dir.join("signals.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_sends_through_the_process_wide_accessor"])
        .env("SINKGEN_SIGNALS_ENDPOINT", url(&socket))
        .env("SINKGEN_E2E_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stream = accept(&listener).await;
    assert_eq!(
        read_length_prefixed(&mut stream).await,
        b"from the process-wide sink"
    );
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "the child test failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs as the child of the test above (and does nothing on its own).
#[tokio::test]
async fn child_sends_through_the_process_wide_accessor() {
    if std::env::var_os("SINKGEN_E2E_CHILD").is_none() {
        return;
    }
    let sink = Sinks::signals();
    assert!(
        std::ptr::eq(sink, Sinks::signals()),
        "one process-wide sink"
    );
    sink.send(Bytes::from_static(b"from the process-wide sink"))
        .await
        .unwrap();
    assert_eq!(sink.close().await, 0, "the frame was written");
}
