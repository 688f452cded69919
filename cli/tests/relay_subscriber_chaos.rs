//! Subscribers of `sinkgen relay` killed with SIGKILL at random moments (SPEC section
//! 11): a sink sends through the relay (a process of its own) to a subscriber process
//! that is killed and started again, over and over. Each subscriber speaks the
//! protocol over its Unix socket and prints every frame it hands on (`D session
//! sequence id`) before it acknowledges the read, every gap it is told of (`G count`),
//! and `A session sequence` once its ACK is in the relay's socket. At the end:
//!
//! * every frame the sink accepted was received by a subscriber, or its loss was
//!   reported (a gap, or the sink's own counters);
//! * within one subscriber, no duplicates, and each producer's order kept;
//! * a frame a subscriber acknowledged never reaches a later one: duplicates come only
//!   from a killed subscriber's last, unacknowledged read.

mod relay_peers;
// The runtime's kill test checks its receivers the same way.
#[path = "../../runtime/tests/common/incarnations.rs"]
mod incarnations;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relay_peers::{TempDir, runtime, start, ticks_file, ticks_sink};
use sinkgen_runtime::protocol::{self, Control, Hello, Kind, Role};
use sinkgen_runtime::{Bytes, RelaySink};

/// Set in a subscriber process: the relay's socket.
const SUBSCRIBER_ENV: &str = "SINKGEN_SUBSCRIBER_CHAOS";
const TEST: &str = "a_subscriber_killed_at_random_moments_never_gets_an_acknowledged_frame_again";
const FRAMES: u64 = 6_000;
const KILLS: usize = 20;
/// The whole test ends within this (a hang fails it instead).
const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn a_subscriber_killed_at_random_moments_never_gets_an_acknowledged_frame_again() {
    if let Ok(socket) = std::env::var(SUBSCRIBER_ENV) {
        subscriber(Path::new(&socket));
    }
    let dir = TempDir::new("subchaos");
    let socket = dir.join("ticks.sock");
    let url = format!("unix://{}", socket.display());
    let file = ticks_file(&dir, &url);
    let _relay = start(&file, &["--status-interval", "0"]);
    let started = Instant::now();

    let rt = runtime();
    let sink: RelaySink<Bytes> = {
        let _guard = rt.enter();
        ticks_sink(&url, FRAMES).relay().unwrap()
    };
    let sender = {
        let sink = sink.clone();
        rt.spawn(async move {
            let mut accepted = Vec::new();
            for id in 0..FRAMES {
                if sink
                    .send(Bytes::copy_from_slice(&id.to_le_bytes()))
                    .await
                    .is_ok()
                {
                    accepted.push(id);
                }
                if id % 100 == 99 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            accepted
        })
    };

    let mut printed = Vec::new();
    for _ in 0..KILLS {
        let sub = Subscriber::start(&socket);
        std::thread::sleep(Duration::from_millis(fastrand::u64(5..60)));
        printed.push(sub.kill());
        assert!(started.elapsed() < LIMIT, "over the time budget");
    }
    // The last subscriber lives until every frame reached it or was reported lost.
    let accepted = rt.block_on(sender).unwrap();
    let flushed = rt.block_on(async { tokio::time::timeout(LIMIT, sink.flush()).await });
    assert!(matches!(flushed, Ok(Ok(()))), "flush: {flushed:?}");
    let status = sink.status();
    let last = Subscriber::start(&socket);
    while !accounted(
        &accepted,
        &printed,
        &parse(&last.lines.lock().unwrap()),
        &status,
    ) {
        assert!(
            started.elapsed() < LIMIT,
            "the last subscriber never caught up"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    printed.push(last.kill());
    assert_eq!(rt.block_on(sink.close()), 0);

    // Per subscriber: order kept, no duplicates; across subscribers: nothing
    // acknowledged is received again.
    let heard: Vec<_> = printed.iter().map(|p| (&p.frames[..], &p.acked)).collect();
    let (_, again) = incarnations::check("subscriber", &heard);
    let gaps: u64 = printed.iter().map(|p| p.gaps).sum();
    eprintln!(
        "subscriber chaos: {} frames accepted, {} subscribers ({KILLS} killed), \
         {again} received again after a kill, {gaps} reported in gaps, {} lost at the sink",
        accepted.len(),
        printed.len(),
        status.lost.total()
    );
}

/// Whether every frame the sink accepted was received by one of the subscribers
/// (`printed`, then `last`), or its loss reported: in gaps, or by the sink.
fn accounted(
    accepted: &[u64],
    printed: &[Printed],
    last: &Printed,
    status: &sinkgen_runtime::Status,
) -> bool {
    let all = || printed.iter().chain([last]);
    let received: BTreeSet<u64> = all()
        .flat_map(|p| p.frames.iter().map(|&(_, _, id)| id))
        .collect();
    let missing = accepted.iter().filter(|id| !received.contains(id)).count() as u64;
    let gaps: u64 = all().map(|p| p.gaps).sum();
    missing <= gaps + status.lost.total()
}

// ----- the subscriber process -----

/// Speaks the protocol as subscriber `desk` of relay `ticks` until killed.
fn subscriber(socket: &Path) -> ! {
    let mut out = std::io::stdout().lock();
    let mut stream = UnixStream::connect(socket).expect("connect to the relay");
    let mut hello = Vec::new();
    Control::Hello {
        session: protocol::new_session(),
        next: 0,
        hello: Hello {
            min_version: protocol::MIN_VERSION,
            max_version: protocol::VERSION,
            role: Role::Subscriber,
            service: "desk".into(),
            sink: String::new(),
            target: "ticks".into(),
        },
    }
    .append(&mut hello, 0);
    stream.write_all(&hello).unwrap();
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    // Per producer session, the highest sequence handed on (this process only).
    let mut have: HashMap<u64, u64> = HashMap::new();
    let mut buf = Vec::new();
    let mut scratch = vec![0u8; 64 << 10];
    loop {
        let n = stream.read(&mut scratch).expect("read");
        assert!(n > 0, "the relay closed the subscriber");
        buf.extend_from_slice(&scratch[..n]);
        let mut at = 0;
        let mut advanced = Vec::new();
        while let Some((frame, used)) =
            protocol::decode(&buf[at..], protocol::DEFAULT_MAX_FRAME).expect("a good stream")
        {
            at += used;
            let (s, q) = (frame.header.session, frame.header.sequence);
            match frame.header.kind {
                Kind::Data => {
                    let h = have.entry(s).or_insert(0);
                    if q > *h {
                        *h = q;
                        let id = u64::from_le_bytes(frame.body.try_into().expect("8 bytes"));
                        writeln!(out, "D {s} {q} {id}").unwrap();
                    }
                    if !advanced.contains(&s) {
                        advanced.push(s);
                    }
                }
                _ => match Control::parse(&frame).expect("a control frame") {
                    Control::Gap { count, .. } => writeln!(out, "G {count}").unwrap(),
                    Control::Welcome { .. } | Control::Producer { .. } => {}
                    Control::Refuse { code, reason } => panic!("refused: {code:?} {reason}"),
                    other => panic!("unexpected {other:?}"),
                },
            }
        }
        buf.drain(..at);
        // Handed on (printed) before it is acknowledged.
        out.flush().unwrap();
        let mut acks = Vec::new();
        for s in &advanced {
            Control::Ack {
                session: *s,
                sequence: have[s],
            }
            .append(&mut acks, 0);
        }
        // A Unix socket's write puts the ACK in the relay's receive queue.
        stream.write_all(&acks).unwrap();
        for s in &advanced {
            writeln!(out, "A {s} {}", have[s]).unwrap();
        }
        out.flush().unwrap();
    }
}

// ----- the test's side -----

/// A subscriber process and the lines it printed so far.
struct Subscriber {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Subscriber {
    fn start(socket: &Path) -> Subscriber {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads", "1"])
            .env(SUBSCRIBER_ENV, socket)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start a subscriber");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    // A line the SIGKILL cut off (no newline) was never completed.
                    match reader.read_until(b'\n', &mut line) {
                        Ok(_) if line.last() == Some(&b'\n') => line.pop(),
                        _ => break,
                    };
                    let line = String::from_utf8(line.clone()).expect("UTF-8");
                    // The harness prints `test <name> ... ` with no newline first.
                    if line.ends_with("READY") {
                        let _ = ready_tx.send(());
                    } else if line.starts_with(['D', 'A', 'G']) {
                        lines.lock().unwrap().push(line);
                    }
                }
            })
        };
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the subscriber started");
        Subscriber {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// SIGKILL, then what it printed.
    fn kill(mut self) -> Printed {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("reader");
        }
        parse(&self.lines.lock().unwrap())
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one subscriber printed: frames `(session, sequence, id)` in order, the
/// highest sequence it acknowledged per session, and frames gaps reported missing.
#[derive(Default)]
struct Printed {
    frames: Vec<(u64, u64, u64)>,
    acked: HashMap<u64, u64>,
    gaps: u64,
}

fn parse(lines: &[String]) -> Printed {
    let mut p = Printed::default();
    for line in lines {
        let f: Vec<u64> = line[2..].split(' ').map(|n| n.parse().unwrap()).collect();
        match &line[..1] {
            "D" => p.frames.push((f[0], f[1], f[2])),
            "A" => {
                p.acked.insert(f[0], f[1]);
            }
            _ => p.gaps += f[0],
        }
    }
    p
}
