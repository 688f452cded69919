//! Shared pieces of the runtime's socket tests: temporary socket directories, peers
//! that read frames, and an independent torq decoder.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Hang guard for every wait in the tests: generous, never a timing assertion.
pub const GUARD: Duration = Duration::from_secs(20);

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "sinkgen-rt-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn sock(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn unix_url(path: &Path) -> String {
    format!("unix://{}", path.display())
}

/// A payload carrying `id` in its first 8 bytes, `len` bytes long (at least 8), the
/// rest a pattern derived from the id so torn or mixed frames are detected.
pub fn payload(id: u64, len: usize) -> Vec<u8> {
    let mut v = id.to_le_bytes().to_vec();
    v.extend((8..len.max(8)).map(|i| (id as usize).wrapping_mul(31).wrapping_add(i) as u8));
    v
}

/// Checks a payload made by [`payload`] and returns its id.
pub fn check_payload(p: &[u8]) -> u64 {
    assert!(p.len() >= 8, "payload too short: {}", p.len());
    let id = u64::from_le_bytes(p[..8].try_into().unwrap());
    assert_eq!(
        p,
        payload(id, p.len()).as_slice(),
        "payload of frame {id} corrupted"
    );
    id
}

/// Reads exactly one length-prefixed frame; `None` at a clean EOF before it.
pub async fn read_lp<R: AsyncRead + Unpin>(r: &mut R) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
        Err(e) => panic!("read: {e}"),
    }
    let mut p = vec![0u8; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut p).await.expect("frame body cut short");
    Some(p)
}

/// Reads the whole stream: whole length-prefixed frames and the size of a torn tail.
pub async fn read_lp_to_eof<R: AsyncRead + Unpin>(r: &mut R) -> (Vec<Vec<u8>>, usize) {
    let mut all = Vec::new();
    r.read_to_end(&mut all).await.expect("read to end");
    split_lp(&all)
}

pub fn split_lp(all: &[u8]) -> (Vec<Vec<u8>>, usize) {
    let mut frames = Vec::new();
    let mut at = 0;
    while all.len() - at >= 4 {
        let len = u32::from_le_bytes(all[at..at + 4].try_into().unwrap()) as usize;
        if all.len() - at - 4 < len {
            break;
        }
        frames.push(all[at + 4..at + 4 + len].to_vec());
        at += 4 + len;
    }
    (frames, all.len() - at)
}

/// CRC-32 (IEEE, reflected, poly 0xEDB88320), bit by bit: independent of crc32fast.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &b in *part {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

/// One decoded torq frame.
#[derive(Debug)]
pub struct TorqFrame {
    pub domain: u8,
    pub version: u8,
    pub source: u8,
    pub flags: u8,
    pub sequence: u64,
    pub timestamp: u64,
    pub payload: Vec<u8>,
}

/// Reads one torq frame, checking magic, size and CRC; `None` at a clean EOF.
pub async fn read_torq<R: AsyncRead + Unpin>(r: &mut R) -> Option<TorqFrame> {
    let mut h = [0u8; 32];
    match r.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return None,
        Err(e) => panic!("read: {e}"),
    }
    let magic = u32::from_le_bytes(h[0..4].try_into().unwrap());
    assert_eq!(magic, 0xDEAD_BEEF, "bad magic");
    let size = u32::from_le_bytes(h[24..28].try_into().unwrap()) as usize;
    let mut payload = vec![0u8; size];
    r.read_exact(&mut payload)
        .await
        .expect("torq payload cut short");
    let crc = u32::from_le_bytes(h[28..32].try_into().unwrap());
    assert_eq!(crc, crc32(&[&h[..28], &payload]), "bad CRC");
    Some(TorqFrame {
        domain: h[4],
        version: h[5],
        source: h[6],
        flags: h[7],
        sequence: u64::from_le_bytes(h[8..16].try_into().unwrap()),
        timestamp: u64::from_le_bytes(h[16..24].try_into().unwrap()),
        payload,
    })
}

/// Polls `cond` every few milliseconds until it holds; panics after [`GUARD`].
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + GUARD;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Runs `fut` under the hang guard.
pub async fn guard<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, fut)
        .await
        .unwrap_or_else(|_| panic!("hang guard: {what} did not finish"))
}

/// A good message, or one whose `encode` writes half its bytes and then panics (a
/// user's bug that must leave no trace on the wire).
pub enum Msg {
    Good(Vec<u8>),
    Bad(usize),
}

impl sinkgen_runtime::Encode for Msg {
    fn encoded_len(&self) -> usize {
        match self {
            Msg::Good(p) => p.len(),
            Msg::Bad(len) => *len,
        }
    }
    fn encode<B: sinkgen_runtime::bytes::BufMut>(&self, buf: &mut B) {
        match self {
            Msg::Good(p) => buf.put_slice(p),
            Msg::Bad(len) => {
                // Zeros: parsed as frames, they would look like empty frames.
                buf.put_bytes(0, len / 2);
                panic!("encode failed halfway (on purpose)");
            }
        }
    }
}
pub mod certs;
pub mod incarnations;
pub mod receiver;

/// Whether `nats-server` can be started. Its absence fails the test in CI (`.ci/run`
/// installs it) and skips it, loudly, elsewhere.
pub fn server_available() -> bool {
    let found = std::process::Command::new("nats-server")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "nats-server is not on PATH; CI installs it (`apt-get install -y nats-server` in .ci/run)"
        );
        eprintln!(
            "\n\
             ************************************************************\n\
             *** SKIPPED: nats-server is not on PATH, so this NATS    ***\n\
             *** test did not run. `apt-get install nats-server`.     ***\n\
             ************************************************************\n"
        );
    }
    found
}

/// A TCP listener on 127.0.0.1 with a small receive buffer (asked before `listen`, so
/// accepted connections have it): a peer that stops reading fills it quickly, and the
/// bytes a sink wrote then sit mostly in the sink's own send queue.
pub fn small_buffer_listener() -> tokio::net::TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(32 * 1024).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket.listen(8).unwrap()
}

/// Bytes the kernel holds for `fd` that its process has not read (`FIONREAD`).
pub fn unread_here(fd: std::os::fd::RawFd) -> u64 {
    byte_count(fd, libc::FIONREAD, "FIONREAD")
}

/// Bytes of `fd`'s send queue its peer has not taken: on TCP, not acknowledged by
/// the peer's TCP (`SIOCOUTQ`, the same request number as `TIOCOUTQ`).
pub fn unsent_here(fd: std::os::fd::RawFd) -> u64 {
    byte_count(fd, libc::TIOCOUTQ, "SIOCOUTQ")
}

/// A socket ioctl that reports a byte count.
#[allow(unsafe_code, reason = "one ioctl; the test has no safe wrapper for it")]
fn byte_count(fd: std::os::fd::RawFd, request: libc::Ioctl, what: &str) -> u64 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD and SIOCOUTQ write one `c_int` through the pointer, which
    // points to a live local `c_int`; the caller keeps the descriptor open.
    let r = unsafe { libc::ioctl(fd, request, &raw mut n) };
    assert_eq!(r, 0, "{what}");
    u64::try_from(n).unwrap()
}

/// Sends frames of `len` bytes (ids from 1) from another task until `sink` has
/// stopped writing: its sent count unchanged for 300 ms (its peer stopped reading
/// and every buffer on the way is full). Returns how many `send` accepted.
pub async fn send_until_stalled(sink: &sinkgen_runtime::RelaySink<Vec<u8>>, len: usize) -> u64 {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let (sink, stop) = (sink.clone(), std::sync::Arc::clone(&stop));
        tokio::spawn(async move {
            let mut accepted = 0;
            while !stop.load(Ordering::Relaxed) {
                // A send still waiting for room is given up (not accepted).
                let send = sink.send(payload(accepted + 1, len));
                if let Ok(Ok(())) = tokio::time::timeout(Duration::from_millis(20), send).await {
                    accepted += 1;
                }
            }
            accepted
        })
    };
    let deadline = tokio::time::Instant::now() + GUARD;
    let (mut last, mut still) = (u64::MAX, 0);
    while still < 15 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the sink to stop writing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = sink.status().frames_sent;
        if now == last {
            still += 1;
        } else {
            (last, still) = (now, 0);
        }
    }
    stop.store(true, Ordering::Relaxed);
    guard("the sender", sender).await.unwrap()
}

/// A peer over TCP (plain or TLS) that read `read` frames, stopped reading, and died
/// with `unread` bytes in its kernel (and at most `buffered` more held by its own
/// reader, e.g. TLS records read but not decrypted): SPEC G3 over TCP. `accepted`
/// frames of `frame` bytes each were sent. The frames that may have reached the
/// peer's host are at most those it read, those its kernel and reader held, and one
/// torn frame; the sink must not count more as sent. Every accepted frame is sent or
/// counted lost.
pub fn check_stalled_peer(
    status: &sinkgen_runtime::Status,
    accepted: u64,
    frame: u64,
    (read, unread, buffered): (u64, u64, u64),
) {
    let reached = read + (unread + buffered).div_ceil(frame) + 1;
    assert!(
        status.frames_sent <= reached,
        "{} frames counted sent, but at most {reached} reached the peer's host \
         ({read} read, {unread} bytes unread there, {buffered} buffered): {status:?}",
        status.frames_sent
    );
    assert!(status.lost.unconfirmed > 0, "{status:?}");
    assert_eq!(
        status.frames_sent + status.lost.total(),
        accepted,
        "{status:?}"
    );
}

/// After a WebSocket server was dropped mid-stream (no close frame, unread bytes and
/// all) and the sink flushed to the next connection: of the `n` frames accepted, every
/// one counts once, sent or lost, and only as unconfirmed (the dead connection's
/// frames in doubt); every one was received (`ids`, in arrival order) or counted lost;
/// none arrived twice or out of order, and none counts as sent that did not arrive.
/// Then 100 more frames go through the new connection, in order.
pub async fn check_after_the_server_died(
    sink: &sinkgen_runtime::RelaySink<Vec<u8>>,
    ids: &std::sync::Mutex<Vec<u64>>,
    n: u64,
) {
    let st = sink.status();
    let received = ids.lock().unwrap().clone();
    assert!(st.lost.unconfirmed > 0, "{st:?}");
    assert_eq!(
        st.lost.total(),
        st.lost.unconfirmed,
        "only the dead connection's frames are lost: {st:?}"
    );
    assert_eq!(st.frames_sent + st.lost.total(), n, "{st:?}");
    // Frames the dead server read but never confirmed are both received and counted
    // lost (in doubt); none is neither.
    assert!(
        received.len() as u64 + st.lost.unconfirmed >= n,
        "{} received + {} unconfirmed < {n} accepted",
        received.len(),
        st.lost.unconfirmed
    );
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "frames arrived twice or out of order"
    );
    assert!(st.frames_sent <= received.len() as u64, "{st:?}");
    let error = st.last_error.expect("the dead connection is reported");
    assert!(error.is_retryable(), "{error}");

    // The sink goes on over a new connection.
    for id in n + 1..=n + 100 {
        sink.send(payload(id, 64)).await.unwrap();
    }
    guard("flush", sink.flush()).await.unwrap();
    let received = ids.lock().unwrap().clone();
    assert_eq!(
        received[received.len() - 100..],
        *(n + 1..=n + 100).collect::<Vec<_>>()
    );
    let st = sink.status();
    assert!(st.connect_attempts >= 2, "{st:?}");
    assert_eq!(st.frames_sent + st.lost.total(), n + 100, "{st:?}");
}
