//! Harness for the runtime benchmarks of SPEC section 9.
//!
//! The bench target `runtime` (run with `cargo bench -p sinkgen-benches`) measures a
//! sinkgen `RelaySink` next to hand-written tokio baselines in the same process, so
//! every ratio it prints comes from one run on one machine. This library holds what
//! the cases share: sockets and peers that drain or echo frames, the baselines, and
//! statistics.

pub mod baseline;
pub mod config;
pub mod cpu;
pub mod host;
pub mod net;
pub mod peer;
pub mod stats;

/// Length of the length prefix written before each frame's payload (u32 little-endian).
pub const PREFIX: usize = 4;

/// Writes one length-prefixed frame (u32 LE length, then the payload) into `out`.
pub fn encode_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("frame payload fits in u32");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
}

/// A payload of `size` bytes with a recognisable pattern.
pub fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}
