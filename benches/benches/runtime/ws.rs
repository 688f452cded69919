//! WebSocket next to plain TCP, in the same run: one sink with length-prefixed
//! framing sending to a blocking peer that reads everything, over `tcp://`, `ws://`
//! (one binary message per frame, confirmed by pings) and `wss://` (the same over
//! TLS: rustls with ring, the peer a rustls server under tungstenite). Frames per
//! second from the first send until the peer has read the last frame.

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use sinkgen_benches::config::Sizes;
use sinkgen_benches::stats::median;
use sinkgen_runtime::{Bytes, Framing, RelaySink, SinkBuilder};
use tokio_tungstenite::tungstenite;

use crate::report::{Table, Verdict, mfps};
use crate::tls::Certs;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Ws,
    Wss,
}

/// Reads `frames` binary messages of `4 + size` bytes; the time the last one was
/// read. Then reads on (answering the sink's pings) until the sink closes.
fn read_messages<S: Read + io::Write>(
    mut ws: tungstenite::WebSocket<S>,
    frames: u64,
    size: usize,
) -> io::Result<Instant> {
    let mut read = 0u64;
    while read < frames {
        match ws.read().map_err(io::Error::other)? {
            tungstenite::Message::Binary(m) if m.len() == 4 + size => read += 1,
            tungstenite::Message::Binary(m) => {
                return Err(io::Error::other(format!("a message of {} bytes", m.len())));
            }
            tungstenite::Message::Close(_) => return Err(io::ErrorKind::UnexpectedEof.into()),
            _ => {}
        }
    }
    let end = Instant::now();
    while let Ok(m) = ws.read() {
        if m.is_close() {
            break;
        }
    }
    Ok(end)
}

/// One run: `frames` frames of `size` bytes; frames per second.
async fn once(transport: Transport, certs: &Certs, frames: u64, size: usize) -> io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let server = Arc::clone(&certs.server);
    let peer = std::thread::spawn(move || -> io::Result<Instant> {
        let (tcp, _): (TcpStream, _) = listener.accept()?;
        match transport {
            Transport::Tcp => {
                let expected = frames * (4 + size as u64);
                let (mut tcp, mut buf, mut read) = (tcp, vec![0u8; 256 * 1024], 0u64);
                while read < expected {
                    match tcp.read(&mut buf)? {
                        0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                        n => read += n as u64,
                    }
                }
                Ok(Instant::now())
            }
            Transport::Ws => {
                let ws = tungstenite::accept(tcp).map_err(|e| io::Error::other(e.to_string()))?;
                read_messages(ws, frames, size)
            }
            Transport::Wss => {
                let conn = rustls::ServerConnection::new(server).map_err(io::Error::other)?;
                let stream = rustls::StreamOwned::new(conn, tcp);
                let ws =
                    tungstenite::accept(stream).map_err(|e| io::Error::other(e.to_string()))?;
                read_messages(ws, frames, size)
            }
        }
    });
    let url = match transport {
        Transport::Tcp => format!("tcp://127.0.0.1:{port}"),
        Transport::Ws => format!("ws://127.0.0.1:{port}/"),
        Transport::Wss => format!("wss://localhost:{port}/"),
    };
    let mut builder = SinkBuilder::new(url)
        .framing(Framing::LengthPrefixed)
        .queue(65_536);
    if transport == Transport::Wss {
        builder = builder.tls(Certs::tls_of(&certs.dir));
    }
    let sink: RelaySink<Bytes> = builder.relay().map_err(io::Error::other)?;
    let payload = Bytes::from(vec![7u8; size]);
    let start = Instant::now();
    for _ in 0..frames {
        sink.send(payload.clone()).await.map_err(io::Error::other)?;
    }
    // Every frame confirmed (WebSocket: the peer's pong), then goodbye.
    sink.flush().await.map_err(io::Error::other)?;
    sink.close().await;
    let end = tokio::task::spawn_blocking(move || peer.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::other("the peer panicked"))??;
    Ok(frames as f64 / end.duration_since(start).as_secs_f64())
}

pub async fn run(sizes: Sizes) -> io::Result<Vec<Verdict>> {
    let frames = (sizes.frames_fast / 4).max(1_000);
    println!("## WebSocket: one sink, tcp:// vs ws:// vs wss:// (rustls, ring), draining peer");
    println!(
        "frames per run: {frames}; length-prefixed framing (one binary message per frame on ws); median of {} runs each, interleaved",
        sizes.reps
    );
    println!();
    let certs = Certs::new()?;
    let mut table = Table::new(&["case", "tcp", "ws", "wss", "ws / tcp", "wss / tcp"]);
    let mut verdicts = Vec::new();
    for size in [64usize, 1024] {
        let (mut tcp, mut ws, mut wss) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..sizes.reps {
            tcp.push(once(Transport::Tcp, &certs, frames, size).await?);
            ws.push(once(Transport::Ws, &certs, frames, size).await?);
            wss.push(once(Transport::Wss, &certs, frames, size).await?);
        }
        let (t, w, s) = (median(&tcp), median(&ws), median(&wss));
        let case = format!("{size} B");
        table.row(vec![
            case.clone(),
            mfps(t),
            mfps(w),
            mfps(s),
            format!("{:.2}", w / t),
            format!("{:.2}", s / t),
        ]);
        for (name, ratio) in [("ws", w / t), ("wss", s / t)] {
            verdicts.push(Verdict::new(
                format!("{name} vs tcp, {case}"),
                format!("{ratio:.2}"),
                "reported",
                true,
            ));
        }
    }
    table.print();
    println!();
    Ok(verdicts)
}
