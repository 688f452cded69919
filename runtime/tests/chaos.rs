//! The chaos test of acknowledged delivery (framing `sinkgen`), with real processes.
//!
//! This binary runs without the test harness. Run plainly, it is the test: a sink
//! sends frames to a receiver process (this binary again, started with
//! `SINKGEN_CHAOS_RECEIVER` set), which is killed with SIGKILL at random moments and
//! restarted, at least 20 times. Each receiver prints every frame it hands on
//! (`D session sequence id`) before it acknowledges the read, and `A session
//! sequence` after it wrote the acknowledgement. At the end:
//!
//! * every frame the sink returned `Ok` for was received at least once across the
//!   receivers, or is counted lost by the sink;
//! * within one receiver, no duplicates, and the sequence keeps its order;
//! * a frame received again by a later receiver was never acknowledged by the
//!   receiver that had it: duplicates come only from a killed receiver's last,
//!   unacknowledged read (`docs/PROTOCOL.md`, "Guarantees").
//!
//! Then the same with the foreign framings (`torq`, `length-prefixed`; SPEC G3), whose
//! peers send no acknowledgements: a receiver killed with frames in its socket takes
//! them with it, and the sink must count them (`lost.unconfirmed`) from what the kernel
//! says the peer never read. That receiver peeks at its socket, prints the frames it
//! sees, and only then consumes their bytes, so a frame whose bytes left the kernel
//! was always printed first: every frame the sink returned `Ok` for was printed by a
//! receiver, or is counted lost.
//!
//! With the feature `tls`, the acknowledged run is repeated over TLS on loopback TCP
//! (certificates made at test time): receivers that serve the sinkgen protocol through
//! rustls, killed the same way, and the same accounting. Over TCP an ACK counts as
//! given once the sink's TCP acknowledged its bytes: one still in a killed receiver's
//! send queue is never sent (the kernel resets the connection), so its frames are
//! rightly sent again.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TempDir, check_payload, payload, unix_url};
use sinkgen_runtime::protocol::{self, Control, Kind};
use sinkgen_runtime::{Framing, RelaySink, SinkBuilder};

const RECEIVER_ENV: &str = "SINKGEN_CHAOS_RECEIVER";
/// Set for a receiver of a foreign framing: `torq` or `length-prefixed`.
const FRAMING_ENV: &str = "SINKGEN_CHAOS_FRAMING";
/// Set for a receiver over TLS: the PEM files of its certificate chain and key,
/// separated by a newline (`SINKGEN_CHAOS_RECEIVER` is then the TCP port).
#[cfg(feature = "tls")]
const TLS_ENV: &str = "SINKGEN_CHAOS_TLS";
const KILLS: usize = 25;
/// The whole test must end well within this.
const BUDGET: Duration = Duration::from_secs(50);

fn main() {
    if let Ok(path) = std::env::var(RECEIVER_ENV) {
        die_with_parent();
        #[cfg(feature = "tls")]
        if let Ok(pem) = std::env::var(TLS_ENV) {
            tls_receiver(&path, &pem);
        }
        match std::env::var(FRAMING_ENV) {
            Ok(framing) => foreign_receiver(Path::new(&path), &framing),
            Err(_) => receiver(Path::new(&path)),
        }
    }
    let started = Instant::now();
    chaos();
    println!(
        "test chaos ... ok ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    for framing in ["torq", "length-prefixed"] {
        let started = Instant::now();
        foreign_chaos(framing);
        println!(
            "test foreign_chaos ({framing}) ... ok ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
    #[cfg(feature = "tls")]
    {
        let started = Instant::now();
        tls_chaos();
        println!(
            "test tls_chaos ... ok ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
}

// ----- the receiver process -----

/// A receiver dies with the test process, also when the test panics (it would
/// otherwise wait for connections forever, holding the test's output open).
#[allow(unsafe_code, reason = "prctl(2): std has no wrapper for it")]
fn die_with_parent() {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number; no memory is passed.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
}

fn receiver(path: &Path) -> ! {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).expect("bind");
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    // Per producer session, the highest sequence handed on (this process only).
    let mut have: HashMap<u64, u64> = HashMap::new();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        serve(&mut stream, &mut have, &mut out);
    }
    std::process::exit(0)
}

/// A receiver's connection: what it reads and writes, and when an acknowledgement it
/// wrote has surely reached the sink's host (only then is it printed: an ACK still in a
/// killed receiver's own send queue never arrives, and its frames are rightly sent
/// again).
trait Link: Read + Write {
    /// After the ACK was written: `true` once its bytes are with the sink's kernel.
    fn delivered(&mut self) -> bool;
}

impl Link for std::os::unix::net::UnixStream {
    /// A Unix socket's write puts the bytes in the peer's receive queue.
    fn delivered(&mut self) -> bool {
        true
    }
}

fn serve(stream: &mut impl Link, have: &mut HashMap<u64, u64>, out: &mut impl Write) {
    let mut buf = Vec::new();
    let mut scratch = vec![0u8; 64 << 10];
    let mut session = None;
    loop {
        let mut advanced = Vec::new();
        let mut at = 0;
        while let Some((frame, used)) =
            protocol::decode(&buf[at..], protocol::DEFAULT_MAX_FRAME).expect("a good stream")
        {
            at += used;
            match frame.header.kind {
                Kind::Hello => {
                    let Ok(Control::Hello {
                        session: s, next, ..
                    }) = Control::parse(&frame)
                    else {
                        panic!("bad HELLO");
                    };
                    session = Some(s);
                    writeln!(out, "H {next}").unwrap();
                    let mut w = Vec::new();
                    Control::Welcome {
                        session: 1,
                        have: have.get(&s).copied().unwrap_or(0),
                        version: protocol::VERSION,
                    }
                    .append(&mut w, 0);
                    if stream.write_all(&w).is_err() {
                        return;
                    }
                }
                Kind::Data => {
                    assert!(session.is_some(), "data before HELLO");
                    let (s, q) = (frame.header.session, frame.header.sequence);
                    let h = have.entry(s).or_insert(0);
                    if q > *h {
                        *h = q;
                        let id = check_payload(frame.body);
                        writeln!(out, "D {s} {q} {id}").unwrap();
                        if !advanced.contains(&s) {
                            advanced.push(s);
                        }
                    }
                    // Duplicates are dropped, and acknowledged below with the rest.
                    else if !advanced.contains(&s) {
                        advanced.push(s);
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        buf.drain(..at);
        // Handed on (printed) before it is acknowledged.
        out.flush().unwrap();
        let mut w = Vec::new();
        for s in &advanced {
            Control::Ack {
                session: *s,
                sequence: have[s],
            }
            .append(&mut w, 0);
        }
        if !w.is_empty() {
            if stream.write_all(&w).is_err() || !stream.delivered() {
                return;
            }
            for s in &advanced {
                writeln!(out, "A {s} {}", have[s]).unwrap();
            }
            out.flush().unwrap();
        }
        match stream.read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&scratch[..n]),
        }
    }
}

// ----- the test -----

/// One receiver process and what it printed.
struct Incarnation {
    child: Child,
    lines: std::thread::JoinHandle<Vec<String>>,
}

/// Where receivers listen.
enum Place {
    Unix(PathBuf),
    /// TLS on a loopback port; the receivers' certificate chain and key (PEM files),
    /// and the sink's TLS configuration.
    #[cfg(feature = "tls")]
    Tls {
        port: u16,
        pem: String,
        client: Box<sinkgen_runtime::tls::Tls>,
    },
}

/// Starts a receiver process: of the sinkgen protocol, or of a foreign `framing`.
fn start(place: &Place, framing: Option<&str>) -> Incarnation {
    let mut command = Command::new(std::env::current_exe().unwrap());
    if let Some(framing) = framing {
        command.env(FRAMING_ENV, framing);
    }
    match place {
        Place::Unix(path) => command.env(RECEIVER_ENV, path),
        #[cfg(feature = "tls")]
        Place::Tls { port, pem, .. } => command
            .env(RECEIVER_ENV, port.to_string())
            .env(TLS_ENV, pem),
    };
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the receiver");
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let lines = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            // A line the SIGKILL cut off (no newline) was never completed: left out.
            match reader.read_until(b'\n', &mut line) {
                Ok(_) if line.last() == Some(&b'\n') => line.pop(),
                _ => break,
            };
            let line = String::from_utf8(line.clone()).expect("UTF-8 lines");
            if line == "READY" {
                let _ = ready_tx.send(());
            } else {
                lines.push(line);
            }
        }
        lines
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the receiver became ready");
    Incarnation { child, lines }
}

fn kill(mut inc: Incarnation) -> Vec<String> {
    inc.child.kill().expect("SIGKILL");
    inc.child.wait().expect("reap");
    inc.lines.join().expect("reader")
}

/// What one incarnation handed on, and the highest sequence it said it acknowledged.
#[derive(Default)]
struct Printed {
    /// HELLOs whose sink already held frames (kept or queued) when it connected.
    holding: usize,
    frames: Vec<(u64, u64, u64)>,
    acked: HashMap<u64, u64>,
}

fn parse(lines: &[String]) -> Printed {
    let mut p = Printed::default();
    for line in lines {
        let f: Vec<&str> = line.split(' ').collect();
        let n = |i: usize| f[i].parse::<u64>().unwrap();
        match f[0] {
            "D" => p.frames.push((n(1), n(2), n(3))),
            "H" => p.holding += usize::from(n(1) != 0),
            "A" => {
                p.acked.insert(n(1), n(2));
            }
            _ => panic!("unexpected line {line:?}"),
        }
    }
    p
}

/// What one run through killed receivers left: what each receiver printed, the ids
/// the sink returned `Ok` for, its status after the last flush, and what `close`
/// returned.
struct Run {
    printed: Vec<Printed>,
    ok_ids: Vec<u64>,
    status: sinkgen_runtime::Status,
    undelivered: u64,
}

/// Streams frames through a sink with `wire` framing to receivers (of `foreign`
/// framing, or of the sinkgen protocol) killed with SIGKILL [`KILLS`] times at random
/// moments; a last receiver lives while the sink flushes and closes. The receivers
/// listen on a Unix socket in a new directory, or at `place`.
fn run(wire: Framing, foreign: Option<&str>, place: Option<Place>) -> Run {
    let dir = TempDir::new();
    let place = place.unwrap_or_else(|| Place::Unix(dir.sock("rx.sock")));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let builder = match &place {
        Place::Unix(path) => SinkBuilder::new(unix_url(path)),
        #[cfg(feature = "tls")]
        Place::Tls { port, client, .. } => {
            SinkBuilder::new(format!("tcp://127.0.0.1:{port}")).tls((**client).clone())
        }
    };
    let sink: RelaySink<Vec<u8>> = builder
        .framing(wire)
        .identity("producer", "receiver")
        .queue(256)
        .send_timeout(Duration::from_secs(20))
        .backoff(Duration::from_millis(2), Duration::from_millis(10))
        .relay()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ok_ids = Arc::new(Mutex::new(Vec::new()));
    let sender = {
        let (sink, stop, ok_ids) = (sink.clone(), Arc::clone(&stop), Arc::clone(&ok_ids));
        rt.spawn(async move {
            let mut id = 0u64;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                if sink.send(payload(id, 128)).await.is_ok() {
                    ok_ids.lock().unwrap().push(id);
                }
                if id.is_multiple_of(32) {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
        })
    };
    let started = Instant::now();
    let mut printed = Vec::new();
    let mut rng = fastrand::Rng::new();
    for _ in 0..KILLS {
        let inc = start(&place, foreign);
        std::thread::sleep(Duration::from_millis(rng.u64(2..60)));
        printed.push(parse(&kill(inc)));
        assert!(started.elapsed() < BUDGET, "over the time budget");
    }
    // The last receiver lives: everything is delivered to it.
    let last = start(&place, foreign);
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        sender.await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), sink.flush())
            .await
            .expect("flush ends")
            .expect("everything acknowledged or written");
    });
    if foreign.is_some() {
        // Nothing acknowledges: let the last receiver read what its socket holds.
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = sink.status();
    let undelivered = rt.block_on(sink.close());
    printed.push(parse(&kill(last)));
    let ok_ids = std::mem::take(&mut *ok_ids.lock().unwrap());
    Run {
        printed,
        ok_ids,
        status,
        undelivered,
    }
}

fn chaos() {
    let run = run(Framing::Sinkgen, None, None);
    check(&run.printed, &run.ok_ids, &run.status, run.undelivered);
}

fn check(printed: &[Printed], ok_ids: &[u64], status: &sinkgen_runtime::Status, undelivered: u64) {
    assert!(printed.len() > KILLS);
    // Per receiver: order kept, no duplicates; across receivers: a frame received
    // again was not acknowledged by the receiver that had it.
    let heard: Vec<_> = printed.iter().map(|p| (&p.frames[..], &p.acked)).collect();
    let (received, duplicates) = common::incarnations::check("receiver", &heard);
    let missing = ok_ids.iter().filter(|id| !received.contains(id)).count() as u64;
    let lost = status.lost.total();
    assert!(
        missing <= lost,
        "{missing} frames neither received nor counted lost ({lost} counted)"
    );
    assert_eq!(status.frames_sent + lost, ok_ids.len() as u64);
    assert_eq!(undelivered, 0);
    eprintln!(
        "chaos: {} frames sent, {} receivers ({} killed), {} connections began with frames held, \
         {} received again after a kill, {} lost, {} connects",
        ok_ids.len(),
        printed.len(),
        KILLS,
        printed.iter().map(|p| p.holding).sum::<usize>(),
        duplicates,
        lost,
        status.connect_attempts
    );
}

// ----- foreign framings (SPEC G3) -----

/// A receiver of torq or length-prefixed frames that never consumes a byte it has not
/// printed: it peeks, prints the ids of the whole frames it sees, then reads exactly
/// those bytes.
fn foreign_receiver(path: &Path, framing: &str) -> ! {
    let torq = framing == "torq";
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).expect("bind");
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    let mut window = vec![0u8; 256 << 10];
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        loop {
            let seen = peek(&stream, &mut window);
            if seen == 0 {
                break;
            }
            let (ids, whole) = whole_frames(&window[..seen], torq);
            if whole == 0 {
                // Only part of a frame so far.
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            for id in ids {
                writeln!(out, "D 0 0 {id}").unwrap();
            }
            out.flush().unwrap();
            if stream.read_exact(&mut window[..whole]).is_err() {
                break;
            }
        }
    }
    std::process::exit(0)
}

/// Waits for bytes and copies them without taking them off the socket; 0 at the end.
#[allow(
    unsafe_code,
    reason = "recv(2) with MSG_PEEK: std has no stable peek for Unix streams"
)]
fn peek(stream: &std::os::unix::net::UnixStream, buf: &mut [u8]) -> usize {
    use std::os::fd::AsRawFd;
    // SAFETY: recv writes at most `buf.len()` bytes into `buf`, which is live and
    // exclusively borrowed; the descriptor stays open while `stream` is borrowed.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK,
        )
    };
    usize::try_from(n).unwrap_or(0)
}

/// The ids of the whole frames at the start of `bytes`, and how many bytes they take.
fn whole_frames(bytes: &[u8], torq: bool) -> (Vec<u64>, usize) {
    let (header, len_at) = if torq { (32, 24) } else { (4, 0) };
    let mut ids = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= header {
        let len =
            u32::from_le_bytes(bytes[at + len_at..at + len_at + 4].try_into().unwrap()) as usize;
        if bytes.len() - at - header < len {
            break;
        }
        ids.push(check_payload(&bytes[at + header..at + header + len]));
        at += header + len;
    }
    (ids, at)
}

/// Kills a receiver of a foreign framing at random moments while a sink streams to
/// it: every frame the sink accepted is printed by a receiver or counted lost.
fn foreign_chaos(framing: &str) {
    let wire = if framing == "torq" {
        Framing::Torq {
            domain: 1,
            source: 2,
        }
    } else {
        Framing::LengthPrefixed
    };
    let Run {
        printed,
        ok_ids,
        status,
        undelivered,
    } = run(wire, Some(framing), None);
    let mut received = BTreeSet::new();
    for p in &printed {
        for &(_, _, id) in &p.frames {
            received.insert(id);
        }
    }
    let missing = ok_ids.iter().filter(|id| !received.contains(id)).count() as u64;
    let lost = status.lost.total();
    assert!(
        missing <= lost,
        "{framing}: {missing} frames neither received nor counted lost ({lost} counted: {:?})",
        status.lost
    );
    assert_eq!(status.frames_sent + lost, ok_ids.len() as u64, "{status:?}");
    assert_eq!(undelivered, 0);
    eprintln!(
        "foreign chaos ({framing}): {} frames sent, {} receivers ({} killed), {} never \
         received, {} counted lost ({} unconfirmed), {} connects",
        ok_ids.len(),
        printed.len(),
        KILLS,
        missing,
        lost,
        status.lost.unconfirmed,
        status.connect_attempts
    );
}

// ----- over TLS -----

/// A receiver of the sinkgen protocol over TLS on `port`, with the certificate chain
/// and key of `pem` (two file paths, one per line).
#[cfg(feature = "tls")]
fn tls_receiver(port: &str, pem: &str) -> ! {
    let (cert, key) = pem.split_once('\n').expect("two PEM paths");
    let secret =
        |path: &str, key| sinkgen_runtime::Secret::file(path.to_owned(), key, "services.toml", 1);
    let config = sinkgen_runtime::tls::Tls::new()
        .identity(secret(cert, "tls.cert"), secret(key, "tls.key"))
        .server_config()
        .expect("a server config");
    let config = Arc::new(config);
    // std sets SO_REUSEADDR: a killed receiver's port is bound again at once.
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap())).expect("bind");
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    let mut have: HashMap<u64, u64> = HashMap::new();
    for stream in listener.incoming() {
        let Ok(tcp) = stream else { continue };
        // Each ACK leaves at once (no wait for the sink's TCP acknowledgement).
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        let conn = rustls::ServerConnection::new(Arc::clone(&config)).expect("a connection");
        let mut stream = rustls::StreamOwned::new(conn, tcp);
        serve(&mut stream, &mut have, &mut out);
    }
    std::process::exit(0)
}

#[cfg(feature = "tls")]
impl Link for rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream> {
    /// rustls may keep records after `write_all`: they are flushed, then the ACK counts
    /// once the sink's TCP acknowledged every byte sent (the send queue is empty). A
    /// receiver killed before that resets the connection and the queued bytes are
    /// never sent.
    fn delivered(&mut self) -> bool {
        use std::os::fd::AsRawFd;
        if self.flush().is_err() {
            return false;
        }
        let fd = self.sock.as_raw_fd();
        // Bounded: a sink that stopped reading leaves the ACK unproven.
        for _ in 0..2_000 {
            if common::unsent_here(fd) == 0 {
                return true;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        false
    }
}

/// The acknowledged chaos run over TLS: every frame is received or counted lost,
/// through receivers killed in the middle of TLS records.
#[cfg(feature = "tls")]
fn tls_chaos() {
    let dir = TempDir::new();
    let ca = common::certs::Ca::new("chaos CA");
    let (cert, key) = ca.leaf(&["localhost"], false);
    let write = |name: &str, text: &str| {
        let path = dir.sock(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let pem = format!("{}\n{}", write("rx.pem", &cert), write("rx.key", &key));
    let ca = write("ca.pem", &ca.pem());
    let client = sinkgen_runtime::tls::Tls::new()
        .ca(sinkgen_runtime::Secret::file(
            ca,
            "relays.r.tls.ca",
            "services.toml",
            1,
        ))
        .server_name("localhost");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let run = run(
        Framing::Sinkgen,
        None,
        Some(Place::Tls {
            port,
            pem,
            client: Box::new(client),
        }),
    );
    check(&run.printed, &run.ok_ids, &run.status, run.undelivered);
}
