//! Peer threads on the far side of the socket: a draining reader that checks the
//! framing, an echo for ping-pong, and a first-frame timestamper. They are plain
//! blocking threads so that they never compete with the tokio runtime under test
//! for its worker threads.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crate::PREFIX;
use crate::net::Listener;

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

/// Accepts one connection; for each of the `frames` frames of `frame_len` bytes read
/// from it, writes 8 bytes on `back` (a separate socket the client reads). Returns
/// early, with the count so far, if the connection ends.
pub fn spawn_echo(
    listener: Arc<Listener>,
    frame_len: usize,
    frames: u64,
    mut back: UnixStream,
) -> JoinHandle<io::Result<u64>> {
    thread::spawn(move || {
        let mut stream = listener.accept()?;
        let mut buf = vec![0u8; frame_len];
        let mut echoed = 0u64;
        while echoed < frames {
            match stream.read_exact(&mut buf) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            back.write_all(&buf[..8])?;
            echoed += 1;
        }
        Ok(echoed)
    })
}

/// Accepts `connections` connections one after the other; on each, reads one
/// `frame_len`-byte frame, sends the instant it finished reading to `done`, and
/// closes the connection.
pub fn spawn_first_frame_peer(
    listener: Arc<Listener>,
    frame_len: usize,
    connections: usize,
    done: tokio::sync::mpsc::UnboundedSender<Instant>,
) -> JoinHandle<io::Result<()>> {
    thread::spawn(move || {
        let mut buf = vec![0u8; frame_len];
        for _ in 0..connections {
            let mut stream = listener.accept()?;
            stream.read_exact(&mut buf)?;
            let at = Instant::now();
            if done.send(at).is_err() {
                break;
            }
        }
        Ok(())
    })
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
