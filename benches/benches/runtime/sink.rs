//! The sinkgen side of every case: a thin adapter over `sinkgen_runtime`.
//!
//! (Placeholder until the runtime's RelaySink lands.)

use std::io;

/// The message a case sends.
pub struct Msg(#[allow(dead_code)] Vec<u8>);

/// Prepares the message sent in every iteration.
pub fn message(payload: &[u8]) -> Msg {
    Msg(payload.to_vec())
}

/// A relay sink with length-prefixed framing.
pub struct Sink;

impl Sink {
    pub fn new(_endpoint: &str) -> io::Result<Sink> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "sinkgen runtime not available yet",
        ))
    }
    pub async fn send(&self, _msg: &Msg) -> io::Result<()> {
        Ok(())
    }
    pub async fn flush(&self) -> io::Result<()> {
        Ok(())
    }
    pub async fn close(self) -> io::Result<u64> {
        Ok(0)
    }
}
