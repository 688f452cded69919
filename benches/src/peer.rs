//! Peer threads on the far side of the socket: a draining reader that checks the
//! framing, an echo that answers two ping-pong clients in turn, and a first-frame
//! timestamper. They are plain threads, not tasks, so that they never compete with
//! the tokio runtime under test for its worker threads; they block in the kernel,
//! except the first-frame peer when it is asked to poll ([`PeerWait::Polling`]).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use sinkgen_runtime::protocol::{self, Control, Kind};

use crate::PREFIX;
use crate::net::{Listener, PeerStream};

/// What a draining peer saw.
#[derive(Debug, Clone, Copy)]
pub struct Drained {
    /// When the last expected byte had been read.
    pub done: Instant,
    /// Whole frames read.
    pub frames: u64,
    /// Bytes read, prefixes included.
    pub bytes: u64,
}

/// Splits a byte stream into length-prefixed frames and checks each frame's length.
#[derive(Debug, Default)]
pub struct FrameCounter {
    header: [u8; PREFIX],
    header_len: usize,
    payload_left: usize,
    /// Whole frames seen so far.
    pub frames: u64,
}

impl FrameCounter {
    /// Feeds bytes; fails if a frame announces a payload length other than `expected_len`.
    ///
    /// # Errors
    ///
    /// `InvalidData` on a wrong length prefix (a torn or corrupt stream).
    pub fn feed(&mut self, mut chunk: &[u8], expected_len: usize) -> io::Result<()> {
        while !chunk.is_empty() {
            if self.payload_left > 0 {
                let take = self.payload_left.min(chunk.len());
                self.payload_left -= take;
                chunk = &chunk[take..];
                if self.payload_left == 0 {
                    self.frames += 1;
                }
                continue;
            }
            let take = (PREFIX - self.header_len).min(chunk.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&chunk[..take]);
            self.header_len += take;
            chunk = &chunk[take..];
            if self.header_len == PREFIX {
                self.header_len = 0;
                let len = u32::from_le_bytes(self.header) as usize;
                if len != expected_len {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "frame {} announces {len} bytes, expected {expected_len}",
                            self.frames + 1
                        ),
                    ));
                }
                self.payload_left = len;
                if len == 0 {
                    self.frames += 1;
                }
            }
        }
        Ok(())
    }

    /// True between frames (no partial header or payload pending).
    pub fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.payload_left == 0
    }
}

/// Accepts one connection and reads until `frames` whole frames of `payload_len` bytes
/// have arrived, checking every length prefix. Once `warmup` frames have arrived it
/// calls `warmed.notify_one()`, so a case can start its clock from a connected,
/// idle state.
pub fn spawn_drain(
    listener: Arc<Listener>,
    payload_len: usize,
    frames: u64,
    warmup: u64,
    warmed: Arc<tokio::sync::Notify>,
) -> JoinHandle<io::Result<Drained>> {
    thread::spawn(move || {
        let mut stream = listener.accept()?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut counter = FrameCounter::default();
        let mut bytes = 0u64;
        let mut warm = false;
        while counter.frames < frames {
            if !warm && counter.frames >= warmup {
                warm = true;
                warmed.notify_one();
            }
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("peer saw EOF after {} of {frames} frames", counter.frames),
                ));
            }
            bytes += n as u64;
            counter.feed(&buf[..n], payload_len)?;
        }
        let done = Instant::now();
        if !counter.at_boundary() || counter.frames != frames {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} frames read, expected {frames}", counter.frames),
            ));
        }
        Ok(Drained {
            done,
            frames: counter.frames,
            bytes,
        })
    })
}

/// One side of an [`spawn_alternating_echo`]: the listener its client connects to,
/// and the separate socket the 8-byte answers go back on.
pub struct EchoLeg {
    /// Where the client connects.
    pub listener: Arc<Listener>,
    /// Where the peer writes its answers (the client reads the other end).
    pub back: UnixStream,
}

/// Echoes two clients' pings in strict turn on one thread, `frames` rounds: in even
/// rounds a frame from the first leg's connection and its answer, then one from the
/// second's; in odd rounds the other way round (ABBA), so that neither design always
/// follows the other. Both designs thus meet the same peer thread, wherever the
/// scheduler placed it; with a thread per design, one design could sit beside its
/// peer's CPU for a whole run and the other across from it. The second leg's
/// connection is accepted when its first frame is due, as a lazy client connects on
/// its first send. Returns the rounds completed, early if a connection ends.
pub fn spawn_alternating_echo(
    first: EchoLeg,
    second: EchoLeg,
    frame_len: usize,
    frames: u64,
) -> JoinHandle<io::Result<u64>> {
    thread::spawn(move || {
        let mut legs = [(Some(first.listener.accept()?), first), (None, second)];
        let mut buf = vec![0u8; frame_len];
        let mut echoed = 0u64;
        while echoed < frames {
            let order = if echoed.is_multiple_of(2) {
                [0, 1]
            } else {
                [1, 0]
            };
            for i in order {
                let (stream, leg) = &mut legs[i];
                let stream = match stream {
                    Some(stream) => stream,
                    None => stream.insert(leg.listener.accept()?),
                };
                if !echo_one(stream, &mut leg.back, &mut buf)? {
                    return Ok(echoed);
                }
            }
            echoed += 1;
        }
        Ok(echoed)
    })
}

/// Reads one frame and answers 8 bytes; `false` if the connection ended first.
fn echo_one(stream: &mut PeerStream, back: &mut UnixStream, buf: &mut [u8]) -> io::Result<bool> {
    match stream.read_exact(buf) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    back.write_all(&buf[..8])?;
    Ok(true)
}

/// How the first-frame peer waits for a client and its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerWait {
    /// Sleeps in `accept` and `read`: the kernel wakes it, as it wakes a real
    /// receiver. The wake-up is part of what is measured.
    Blocking,
    /// Polls non-blocking `accept` and `read` on a core of its own, so that the time
    /// measured is the client's path without the kernel's wake-up of the peer.
    Polling,
}

/// How long a polling peer waits for one client and its frame before giving up.
const POLLING_PEER_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// What a first-frame client speaks, so the peer knows when its frame is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speaks {
    /// Writes a frame of this many bytes (raw writes and length-prefixed sinks).
    Bytes(usize),
    /// sinkgen framing: HELLO, which the peer answers with WELCOME, then one DATA
    /// frame, which it acknowledges after taking the timestamp.
    Sinkgen,
}

/// Accepts `connections` connections one after the other, the `i`-th speaking
/// `pattern[i % pattern.len()]`; on each, reads the first frame, sends the instant
/// it finished reading to `done`, and closes the connection.
pub fn spawn_first_frame_peer(
    listener: Arc<Listener>,
    pattern: Vec<Speaks>,
    connections: usize,
    wait: PeerWait,
    done: tokio::sync::mpsc::UnboundedSender<Instant>,
) -> JoinHandle<io::Result<()>> {
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        let mut out = Vec::new();
        for i in 0..connections {
            let deadline = Instant::now() + POLLING_PEER_PATIENCE;
            let mut stream = listener.accept_waiting(wait, deadline)?;
            let (at, ack) = match pattern[i % pattern.len()] {
                Speaks::Bytes(n) => {
                    stream.fill(&mut buf[..n], wait, deadline)?;
                    (Instant::now(), None)
                }
                Speaks::Sinkgen => {
                    let (at, ack) =
                        sinkgen_first_frame(&mut stream, &mut buf, &mut out, wait, deadline)?;
                    (at, Some(ack))
                }
            };
            if let Some(ack) = ack {
                out.clear();
                ack.append(&mut out, 0);
                stream.write_all(&out)?;
            }
            if done.send(at).is_err() {
                break;
            }
        }
        Ok(())
    })
}

/// Answers a sinkgen client's HELLO and reads its first DATA frame; returns the
/// instant the read that completed it returned (the WELCOME written after that read
/// is not the frame's delay), and the ACK that covers it (sent by the caller).
fn sinkgen_first_frame(
    stream: &mut PeerStream,
    buf: &mut [u8],
    out: &mut Vec<u8>,
    wait: PeerWait,
    deadline: Instant,
) -> io::Result<(Instant, Control)> {
    let mut have = 0;
    loop {
        have += stream.read_some(&mut buf[have..], wait, deadline)?;
        let read_at = Instant::now();
        let mut at = 0;
        while let Some((frame, used)) =
            protocol::decode(&buf[at..have], protocol::DEFAULT_MAX_FRAME)
                .map_err(io::Error::other)?
        {
            at += used;
            match frame.header.kind {
                Kind::Hello => {
                    out.clear();
                    Control::Welcome {
                        session: 1,
                        have: 0,
                        version: protocol::VERSION,
                    }
                    .append(out, 0);
                    stream.write_all(out)?;
                }
                Kind::Data => {
                    let ack = Control::Ack {
                        session: frame.header.session,
                        sequence: frame.header.sequence,
                    };
                    return Ok((read_at, ack));
                }
                other => {
                    return Err(io::Error::other(format!(
                        "unexpected {other:?} frame before the first DATA"
                    )));
                }
            }
        }
        buf.copy_within(at..have, 0);
        have -= at;
        if have == buf.len() {
            return Err(io::Error::other(
                "first frame larger than the peer's buffer",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode_frame;

    #[test]
    fn counts_frames_split_anywhere() {
        let mut stream = Vec::new();
        for _ in 0..5 {
            encode_frame(&mut stream, &[7u8; 10]);
        }
        for split in 1..stream.len() {
            let mut c = FrameCounter::default();
            for chunk in stream.chunks(split) {
                c.feed(chunk, 10).unwrap();
            }
            assert_eq!(c.frames, 5, "chunks of {split}");
            assert!(c.at_boundary());
        }
    }

    #[test]
    fn rejects_wrong_length() {
        let mut stream = Vec::new();
        encode_frame(&mut stream, &[1u8; 10]);
        encode_frame(&mut stream, &[1u8; 9]);
        let mut c = FrameCounter::default();
        assert!(c.feed(&stream, 10).is_err());
        assert_eq!(c.frames, 1);
    }
}
