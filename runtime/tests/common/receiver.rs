//! A small receiver speaking the sinkgen protocol (written with the runtime's
//! `protocol` module only): it answers HELLO with WELCOME (or REFUSE), reads data
//! frames, drops duplicates by (session, sequence), and acknowledges per read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sinkgen_runtime::protocol::{self, Control, Kind, RefuseCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How a test receiver behaves.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Refuse every HELLO with this code and reason.
    pub refuse: Option<(u16, String)>,
    /// Acknowledge no frame above this sequence (`Some(0)`: never acknowledge).
    pub ack_limit: Option<u64>,
    /// A broken receiver: its first ACK names this sequence (whatever it has), and
    /// it sends no other.
    pub bogus_first_ack: Option<u64>,
}

/// What a receiver saw, over all its connections.
#[derive(Debug, Default)]
pub struct Seen {
    /// Connections accepted.
    pub connections: u64,
    /// HELLOs read.
    pub hellos: Vec<protocol::Hello>,
    /// Highest sequence received in order, per session.
    pub have: HashMap<u64, u64>,
    /// Data frames handed on (duplicates dropped): (session, sequence, payload).
    pub frames: Vec<(u64, u64, Vec<u8>)>,
    /// The timestamps of the data frames handed on, in order.
    pub stamps: Vec<u64>,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Gaps seen: (session, first missing, count).
    pub gaps: Vec<(u64, u64, u64)>,
}

pub type Shared = Arc<Mutex<Seen>>;

/// Serves one connection until the peer closes it (or it breaks).
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    seen: Shared,
    behaviour: Behaviour,
) {
    seen.lock().unwrap().connections += 1;
    let mut buf = Vec::new();
    let mut scratch = vec![0u8; 64 << 10];
    // The handshake.
    let (session, _next, hello) = loop {
        if let Some((frame, used)) = protocol::decode(&buf, protocol::DEFAULT_MAX_FRAME).unwrap() {
            let Control::Hello {
                session,
                next,
                hello,
            } = Control::parse(&frame).unwrap()
            else {
                panic!("first frame is not HELLO");
            };
            buf.drain(..used);
            break (session, next, hello);
        }
        match stream.read(&mut scratch).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&scratch[..n]),
        }
    };
    seen.lock().unwrap().hellos.push(hello);
    let mut out = Vec::new();
    if let Some((code, reason)) = &behaviour.refuse {
        Control::Refuse {
            code: RefuseCode::from_code(*code),
            reason: reason.clone(),
        }
        .append(&mut out, 0);
        let _ = stream.write_all(&out).await;
        // As the protocol asks of an acceptor: end our side and read what the sink
        // still sends (early data) until it closes, so that the close does not reset
        // the connection ahead of the REFUSE.
        let _ = stream.shutdown().await;
        let drain = async { while matches!(stream.read(&mut scratch).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(protocol::REFUSE_LINGER, drain).await;
        return;
    }
    let have = seen
        .lock()
        .unwrap()
        .have
        .get(&session)
        .copied()
        .unwrap_or(0);
    Control::Welcome {
        session: 99,
        have,
        version: protocol::VERSION,
    }
    .append(&mut out, 0);
    if stream.write_all(&out).await.is_err() {
        return;
    }
    let mut acks_sent = 0u64;
    loop {
        let mut advanced: Vec<u64> = Vec::new();
        while let Some((frame, used)) = protocol::decode(&buf, protocol::DEFAULT_MAX_FRAME).unwrap()
        {
            assert_eq!(frame.header.kind, Kind::Data, "only data after HELLO");
            let (s, q) = (frame.header.session, frame.header.sequence);
            let mut g = seen.lock().unwrap();
            let have = g.have.get(&s).copied().unwrap_or(0);
            if q <= have {
                g.duplicates += 1;
            } else {
                if q > have + 1 {
                    g.gaps.push((s, have + 1, q - have - 1));
                }
                g.have.insert(s, q);
                g.frames.push((s, q, frame.body.to_vec()));
                g.stamps.push(frame.header.timestamp);
            }
            drop(g);
            if !advanced.contains(&s) {
                advanced.push(s);
            }
            buf.drain(..used);
        }
        out.clear();
        for s in advanced {
            let have = seen.lock().unwrap().have[&s];
            let mut upto = behaviour.ack_limit.map_or(have, |l| have.min(l));
            if let Some(bogus) = behaviour.bogus_first_ack {
                upto = if acks_sent == 0 { bogus } else { 0 };
            }
            if upto > 0 {
                acks_sent += 1;
                Control::Ack {
                    session: s,
                    sequence: upto,
                }
                .append(&mut out, 0);
            }
        }
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
        match stream.read(&mut scratch).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&scratch[..n]),
        }
    }
}

/// A receiver listening on a Unix socket; every connection is served by [`serve`].
/// Dropping it (or [`UnixReceiver::kill`]) closes the listener and every connection.
pub struct UnixReceiver {
    pub seen: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl UnixReceiver {
    pub fn start(path: &std::path::Path, behaviour: Behaviour) -> UnixReceiver {
        let _ = std::fs::remove_file(path);
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let seen = Shared::default();
        let s = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                conns.spawn(serve(stream, Arc::clone(&s), behaviour.clone()));
            }
        });
        UnixReceiver { seen, task }
    }

    /// Stops at once: the listener and every connection close (their tasks are
    /// dropped, as by a killed process).
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// The same over TCP on loopback.
pub struct TcpReceiver {
    pub seen: Shared,
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TcpReceiver {
    pub async fn start(addr: &str, behaviour: Behaviour) -> TcpReceiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Shared::default();
        let s = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                conns.spawn(serve(stream, Arc::clone(&s), behaviour.clone()));
            }
        });
        TcpReceiver { seen, addr, task }
    }

    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}
