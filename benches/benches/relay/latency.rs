//! Added latency producer -> relay -> subscriber: one frame in flight at a time,
//! timed from the producer's write to the subscriber's decode, next to the same
//! frames written straight from one end of a Unix socket pair to the other.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sinkgen_runtime::protocol::{self, Control, Kind, Role};

use super::{hello, read_acks, relay_name, socket};

/// A data frame whose 64-byte body starts with the nanoseconds since `base`.
fn frame(out: &mut Vec<u8>, session: u64, seq: u64, base: Instant) {
    let mut body = [0u8; 64];
    let nanos = u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX);
    body[..8].copy_from_slice(&nanos.to_le_bytes());
    out.clear();
    protocol::append_data(out, session, seq, 0, &body);
}

/// Reads `samples` data frames of `session`, each one's latency sent back on `done`;
/// acknowledges each frame when `ack` (a relay subscriber; frames a previous run left
/// unacknowledged come first and are not timed).
fn receive(
    mut s: UnixStream,
    (samples, session): (u64, u64),
    base: Instant,
    ack: bool,
    done: mpsc::Sender<Duration>,
) -> Result<(), String> {
    let mut buf = vec![0; 64 << 10];
    let (mut filled, mut got) = (0, 0);
    let mut out = Vec::new();
    while got < samples {
        let n = s.read(&mut buf[filled..]).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed".into());
        }
        filled += n;
        let mut at = 0;
        while let Some((f, used)) =
            protocol::decode(&buf[at..filled], 1 << 16).map_err(|e| e.to_string())?
        {
            if f.header.kind == Kind::Data {
                let now = base.elapsed();
                let sent = u64::from_le_bytes(f.body[..8].try_into().expect("8 bytes"));
                let mine = f.header.session == session;
                got += u64::from(mine);
                if ack {
                    out.clear();
                    Control::Ack {
                        session: f.header.session,
                        sequence: f.header.sequence,
                    }
                    .append(&mut out, 0);
                    s.write_all(&out).map_err(|e| e.to_string())?;
                }
                if mine {
                    let _ = done.send(now.saturating_sub(Duration::from_nanos(sent)));
                }
            }
            at += used;
        }
        buf.copy_within(at..filled, 0);
        filled -= at;
    }
    Ok(())
}

/// Writes `samples` frames one at a time on `w`, each after the previous arrived.
fn ping(
    mut w: UnixStream,
    r: UnixStream,
    samples: u64,
    session: u64,
    ack: bool,
) -> Result<Vec<Duration>, String> {
    let base = Instant::now();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || receive(r, (samples, session), base, ack, tx));
    let mut out = Vec::new();
    let mut all = Vec::with_capacity(samples as usize);
    for seq in 1..=samples {
        frame(&mut out, session, seq, base);
        w.write_all(&out).map_err(|e| e.to_string())?;
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(d) => all.push(d),
            Err(_) => break,
        }
    }
    reader.join().map_err(|_| "reader panicked")??;
    Ok(all)
}

/// Through the relay with one subscriber.
pub(crate) fn relay(dir: &Path, samples: u64) -> Result<Vec<Duration>, String> {
    let sock = socket(dir, 1);
    let mut sub = UnixStream::connect(&sock).map_err(|e| e.to_string())?;
    hello(
        &mut sub,
        protocol::new_session(),
        Role::Subscriber,
        "risk",
        relay_name(1),
    )?;
    let session = protocol::new_session();
    let mut producer = UnixStream::connect(&sock).map_err(|e| e.to_string())?;
    hello(
        &mut producer,
        session,
        Role::Producer,
        "feed",
        relay_name(1),
    )?;
    let _acks = read_acks(&producer)?;
    ping(producer, sub, samples, session, true)
}

/// Straight through a socket pair: the baseline.
pub(crate) fn direct(samples: u64) -> Result<Vec<Duration>, String> {
    let (w, r) = UnixStream::pair().map_err(|e| e.to_string())?;
    ping(w, r, samples, protocol::new_session(), false)
}
