//! Relays of foreign framings (torq, length-prefixed): every connection sends and
//! receives, as Torq's relays do; each whole, checked frame goes to every other
//! connection of the relay. No handshake, no acknowledgements; a connection whose
//! queue is full loses the frame, counted.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use crate::config::{Protocol, RelaySpec};
use crate::listen::Stream;
use crate::stats::RelayStats;
use crate::{Phase, reached};

/// The largest payload a foreign frame may carry (16 MiB).
pub const MAX_PAYLOAD: usize = 16 << 20;
/// The torq magic number.
const TORQ_MAGIC: u32 = 0xDEAD_BEEF;
/// The torq version this relay reads.
const TORQ_VERSION: u8 = 1;
const TORQ_HEADER: usize = 32;
/// Torq flag of the subscription notice some relays expect from subscribers (no
/// payload); it is taken and not forwarded.
const FLAG_SUBSCRIBE: u8 = 0x80;

/// One foreign relay's connections.
pub(crate) struct Fanout {
    pub(crate) spec: Arc<RelaySpec>,
    pub(crate) stats: Arc<RelayStats>,
    conns: Mutex<Vec<(u64, mpsc::Sender<Bytes>)>>,
    next: Mutex<u64>,
}

/// Why a frame is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    Magic(u32),
    Version(u8),
    Domain(u8),
    TooLarge(usize),
    Crc { expected: u32, computed: u32 },
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bad::Magic(m) => write!(f, "bad torq magic {m:#010x}, expected 0xdeadbeef"),
            Bad::Version(v) => write!(f, "torq version {v}, expected {TORQ_VERSION}"),
            Bad::Domain(d) => write!(f, "a frame of domain {d} on another domain's relay"),
            Bad::TooLarge(n) => write!(f, "payload of {n} bytes, over the limit of {MAX_PAYLOAD}"),
            Bad::Crc { expected, computed } => {
                write!(
                    f,
                    "CRC mismatch: header {expected:#010x}, frame {computed:#010x}"
                )
            }
        }
    }
}

/// What [`split`] found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// A whole frame of this many bytes; `forward` is false for a subscription notice.
    Frame { len: usize, forward: bool },
    /// Only part of a frame so far.
    Torn,
}

/// Reads the frame at the start of `bytes` by its header's size: never one read =
/// one message.
pub(crate) fn split(protocol: Protocol, bytes: &[u8]) -> Result<Next, Bad> {
    match protocol {
        Protocol::LengthPrefixed => {
            let Some(len) = bytes.first_chunk::<4>() else {
                return Ok(Next::Torn);
            };
            let len = u32::from_le_bytes(*len) as usize;
            if len > MAX_PAYLOAD {
                return Err(Bad::TooLarge(len));
            }
            Ok(if bytes.len() >= 4 + len {
                Next::Frame {
                    len: 4 + len,
                    forward: true,
                }
            } else {
                Next::Torn
            })
        }
        Protocol::Torq { domain } => {
            if let Some(m) = bytes.first_chunk::<4>() {
                let magic = u32::from_le_bytes(*m);
                if magic != TORQ_MAGIC {
                    return Err(Bad::Magic(magic));
                }
            }
            let Some(h) = bytes.first_chunk::<TORQ_HEADER>() else {
                return Ok(Next::Torn);
            };
            if h[5] != TORQ_VERSION {
                return Err(Bad::Version(h[5]));
            }
            if h[4] != domain {
                return Err(Bad::Domain(h[4]));
            }
            let size = u32::from_le_bytes(h[24..28].try_into().expect("4 bytes")) as usize;
            if size > MAX_PAYLOAD {
                return Err(Bad::TooLarge(size));
            }
            let Some(payload) = bytes.get(TORQ_HEADER..TORQ_HEADER + size) else {
                return Ok(Next::Torn);
            };
            let expected = u32::from_le_bytes(h[28..32].try_into().expect("4 bytes"));
            let mut crc = crc32fast::Hasher::new();
            crc.update(&h[..28]);
            crc.update(payload);
            let computed = crc.finalize();
            if computed != expected {
                return Err(Bad::Crc { expected, computed });
            }
            let forward = !(h[7] & FLAG_SUBSCRIBE != 0 && size == 0);
            Ok(Next::Frame {
                len: TORQ_HEADER + size,
                forward,
            })
        }
        Protocol::Sinkgen => unreachable!("sinkgen relays are served by the hub"),
    }
}

impl Fanout {
    pub(crate) fn new(spec: Arc<RelaySpec>) -> Fanout {
        let stats = RelayStats::new(&spec.name, &[]);
        Fanout {
            spec,
            stats,
            conns: Mutex::new(Vec::new()),
            next: Mutex::new(0),
        }
    }

    /// Frames queued and not yet written, over every connection.
    pub(crate) fn pending(&self) -> usize {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        conns
            .iter()
            .map(|(_, tx)| tx.max_capacity() - tx.capacity())
            .sum()
    }

    fn send_to_others(&self, me: u64, frames: &[Bytes]) {
        let conns = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        let (mut out, mut dropped) = (0, 0);
        for (id, tx) in conns.iter().filter(|(id, _)| *id != me) {
            for f in frames {
                match tx.try_send(f.clone()) {
                    Ok(()) => out += 1,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        dropped += 1;
                        tracing::debug!(relay = %self.spec.name, connection = id, "queue full: frame dropped");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
            }
        }
        self.stats.sent(out);
        self.stats.dropped(dropped);
    }

    /// Serves one connection to its end.
    pub(crate) async fn connection(
        self: Arc<Self>,
        stream: Box<dyn Stream>,
        mut phase: watch::Receiver<Phase>,
    ) {
        let id = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next
        };
        let (tx, mut rx) = mpsc::channel::<Bytes>(self.spec.backlog.max(1));
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, tx));
        self.stats.connected();
        tracing::info!(relay = %self.spec.name, connection = id, "connected");
        let (mut r, mut w) = tokio::io::split(stream);
        let mut stop = phase.clone();
        let read = async {
            let mut buf = BytesMut::with_capacity(64 << 10);
            loop {
                if buf.capacity() - buf.len() < 16 << 10 {
                    buf.reserve(64 << 10);
                }
                tokio::select! {
                    n = r.read_buf(&mut buf) => if !matches!(n, Ok(n) if n > 0) { return false },
                    () = reached(&mut phase, Phase::Draining) => return true,
                }
                let mut batch = Vec::new();
                loop {
                    match split(self.spec.protocol, &buf) {
                        Ok(Next::Frame { len, forward }) => {
                            let frame = buf.split_to(len).freeze();
                            if forward {
                                batch.push(frame);
                            }
                        }
                        Ok(Next::Torn) => break,
                        Err(bad) => {
                            self.stats.bad_frame();
                            tracing::warn!(relay = %self.spec.name, connection = id, why = %bad, "closing a connection: bad frame");
                            self.fan(id, &batch);
                            return false;
                        }
                    }
                }
                self.fan(id, &batch);
            }
        };
        let write = async {
            let mut buf = Vec::with_capacity(256 << 10);
            while let Some(first) = rx.recv().await {
                buf.clear();
                buf.extend_from_slice(&first);
                while buf.len() < 256 << 10 {
                    match rx.try_recv() {
                        Ok(f) => buf.extend_from_slice(&f),
                        Err(_) => break,
                    }
                }
                if w.write_all(&buf).await.is_err() {
                    return;
                }
            }
        };
        tokio::pin!(read, write);
        tokio::select! {
            // The peer closed, or sent a bad frame: done. The relay drains: what is
            // queued for this connection is still written, until the relay stops.
            draining = &mut read => if draining {
                tokio::select! {
                    () = &mut write => {}
                    () = reached(&mut stop, Phase::Stop) => {}
                }
            },
            () = &mut write => {}
            () = reached(&mut stop, Phase::Stop) => {}
        }
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(c, _)| *c != id);
        self.stats.disconnected();
        tracing::info!(relay = %self.spec.name, connection = id, "disconnected");
    }

    fn fan(&self, me: u64, batch: &[Bytes]) {
        if !batch.is_empty() {
            self.stats.received(batch.len() as u64);
            self.send_to_others(me, batch);
        }
    }
}
