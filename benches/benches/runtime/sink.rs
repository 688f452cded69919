//! The sinkgen side of every case: a `RelaySink` with the default options of
//! `services.toml` (queue 4096 frames, send timeout 1 s, length-prefixed framing),
//! behind a small adapter that turns its errors into `io::Error` for the harness.

use std::io;

use sinkgen_runtime::{Framing, RelaySink, SinkBuilder};

/// The message every iteration sends: a static byte slice (one of the byte types the
/// runtime's `Encode` covers). Making it costs nothing, so the cases measure the sink,
/// not the making of messages; the baselines likewise get a `&[u8]`.
pub type Msg = &'static [u8];

/// Prepares the message sent in every iteration.
pub fn message(payload: &[u8]) -> Msg {
    payload.to_vec().leak()
}

/// A relay sink with length-prefixed framing and default options.
pub struct Sink {
    inner: RelaySink<&'static [u8]>,
}

impl Sink {
    /// Builds the sink; no I/O happens here.
    pub fn new(endpoint: &str) -> io::Result<Sink> {
        let inner = RelaySink::new(endpoint).map_err(io::Error::other)?;
        Ok(Sink { inner })
    }

    /// Builds the sink with another framing, the other options as [`Sink::new`]'s.
    pub fn with_framing(endpoint: &str, framing: Framing) -> io::Result<Sink> {
        let inner = SinkBuilder::new(endpoint)
            .framing(framing)
            .relay()
            .map_err(io::Error::other)?;
        Ok(Sink { inner })
    }

    /// `RelaySink::send`.
    pub async fn send(&self, msg: &Msg) -> io::Result<()> {
        self.inner
            .send(*msg)
            .await
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// `RelaySink::flush`.
    pub async fn flush(&self) -> io::Result<()> {
        self.inner.flush().await.map_err(io::Error::other)
    }

    /// `RelaySink::close`; returns the frames not delivered.
    pub async fn close(self) -> io::Result<u64> {
        Ok(self.inner.close().await)
    }
}
