//! Test peers: a relay run in a background thread, and small producers and
//! subscribers written with the protocol module over blocking Unix sockets. They
//! stand in for the runtime's acknowledged sinks and subscriptions.

#![allow(dead_code, reason = "each test binary uses part of the support")]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use sinkgen_relay::{Config, Listen, Protocol, Relay, RelaySpec, RelayStats, Report};
use sinkgen_runtime::protocol::{self, Control, Header, Hello, Kind, Role};

/// A directory of its own for one test, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sgr-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A sinkgen relay at `socket` with these producers `(service, sink)` and subscribers.
pub fn spec(
    name: &str,
    socket: &Path,
    producers: &[(&str, &str)],
    subscribers: &[&str],
    backlog: usize,
) -> RelaySpec {
    RelaySpec {
        name: name.into(),
        listen: Listen::Unix(socket.into()),
        protocol: Protocol::Sinkgen,
        line: 1,
        producers: producers
            .iter()
            .map(|(s, k)| ((*s).into(), (*k).into()))
            .collect(),
        subscribers: subscribers.iter().map(|s| (*s).into()).collect(),
        backlog,
        socket_mode: 0o600,
        tls: None,
        grace: std::time::Duration::ZERO,
    }
}

/// A relay serving in a thread of its own until [`Running::stop`].
pub struct Running {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Report>>,
    pub stats: Vec<std::sync::Arc<RelayStats>>,
}

pub fn start(relays: Vec<RelaySpec>, drain: Duration) -> Running {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let relay = Relay::bind(Config {
                file: "services.toml".into(),
                relays,
            })
            .unwrap();
            ready_tx.send(relay.stats()).unwrap();
            relay
                .serve(
                    async {
                        let _ = stop_rx.await;
                    },
                    drain,
                )
                .await
        })
    });
    let stats = ready_rx.recv().unwrap();
    Running {
        stop: Some(stop_tx),
        thread: Some(thread),
        stats,
    }
}

impl Running {
    /// Starts the drain and returns the report.
    pub fn stop(mut self) -> Report {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One frame read by a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    Data {
        session: u64,
        seq: u64,
        body: Vec<u8>,
    },
    Control(Control),
}

/// A protocol peer over a blocking Unix socket (reads time out after 20 s, so a
/// broken test fails instead of hanging).
pub struct Peer {
    stream: UnixStream,
    buf: Vec<u8>,
    pub session: u64,
}

impl Peer {
    pub fn connect(socket: &Path) -> Peer {
        let stream = UnixStream::connect(socket).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Peer {
            stream,
            buf: Vec::new(),
            session: protocol::new_session(),
        }
    }

    /// Says HELLO and returns the answer (WELCOME or REFUSE).
    pub fn hello(&mut self, role: Role, service: &str, sink: &str, target: &str) -> Control {
        let mut out = Vec::new();
        self.hello_frame(role, service, sink, target, &mut out);
        self.stream.write_all(&out).unwrap();
        match self.next() {
            Some(Got::Control(c)) => c,
            other => panic!("expected WELCOME or REFUSE, got {other:?}"),
        }
    }

    /// Says HELLO as a producer with data frames `seqs` right behind it (early
    /// data), in one write from another thread, so that the answer is read while it
    /// writes; the answer (WELCOME or REFUSE) and the writer, which returns the
    /// write's result.
    pub fn hello_with_early_data(
        &mut self,
        service: &str,
        sink: &str,
        target: &str,
        seqs: impl IntoIterator<Item = u64>,
    ) -> (Control, std::thread::JoinHandle<std::io::Result<()>>) {
        let mut out = Vec::new();
        self.hello_frame(Role::Producer, service, sink, target, &mut out);
        self.data_frames(seqs, &mut out);
        let mut w = self.stream.try_clone().unwrap();
        let writer = std::thread::spawn(move || w.write_all(&out));
        match self.next() {
            Some(Got::Control(c)) => (c, writer),
            other => panic!("expected WELCOME or REFUSE, got {other:?}"),
        }
    }

    fn hello_frame(&self, role: Role, service: &str, sink: &str, target: &str, out: &mut Vec<u8>) {
        Control::Hello {
            session: self.session,
            next: 1,
            hello: Hello {
                min_version: 1,
                max_version: 1,
                role,
                service: service.into(),
                sink: sink.into(),
                target: target.into(),
            },
        }
        .append(out, 1);
    }

    /// The socket, to write bytes that are no frames.
    pub fn raw(&mut self) -> &mut UnixStream {
        &mut self.stream
    }

    pub fn producer(socket: &Path, service: &str, sink: &str, relay: &str) -> (Peer, u64) {
        let mut p = Peer::connect(socket);
        match p.hello(Role::Producer, service, sink, relay) {
            Control::Welcome { have, .. } => (p, have),
            other => panic!("producer not welcomed: {other:?}"),
        }
    }

    pub fn subscriber(socket: &Path, service: &str, relay: &str) -> Peer {
        let mut p = Peer::connect(socket);
        match p.hello(Role::Subscriber, service, "", relay) {
            Control::Welcome { .. } => p,
            other => panic!("subscriber not welcomed: {other:?}"),
        }
    }

    /// Writes data frames `seqs` of this peer's session in one write; the body of
    /// frame `n` is `n` as text.
    pub fn send(&mut self, seqs: impl IntoIterator<Item = u64>) {
        let mut out = Vec::new();
        self.data_frames(seqs, &mut out);
        self.stream.write_all(&out).unwrap();
    }

    /// Appends data frames `seqs` of this peer's session to `out`; the body of frame
    /// `n` is `n` as text.
    fn data_frames(&self, seqs: impl IntoIterator<Item = u64>, out: &mut Vec<u8>) {
        for seq in seqs {
            protocol::append_data(out, self.session, seq, 1, seq.to_string().as_bytes());
        }
    }

    pub fn ack(&mut self, session: u64, sequence: u64) {
        let mut out = Vec::new();
        Control::Ack { session, sequence }.append(&mut out, 1);
        self.stream.write_all(&out).unwrap();
    }

    /// The next frame, or `None` at the end of the stream.
    pub fn next(&mut self) -> Option<Got> {
        loop {
            if let Some((frame, used)) =
                protocol::decode(&self.buf, protocol::DEFAULT_MAX_FRAME).unwrap()
            {
                let got = match frame.header {
                    Header {
                        kind: Kind::Data,
                        session,
                        sequence,
                        ..
                    } => Got::Data {
                        session,
                        seq: sequence,
                        body: frame.body.to_vec(),
                    },
                    _ => Got::Control(Control::parse(&frame).unwrap()),
                };
                self.buf.drain(..used);
                return Some(got);
            }
            let mut chunk = [0; 64 << 10];
            let n = self.stream.read(&mut chunk).expect("read within 20 s");
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads until an ACK of this peer's session reaches `seq`.
    pub fn wait_ack(&mut self, seq: u64) {
        loop {
            match self.next() {
                Some(Got::Control(Control::Ack { session, sequence }))
                    if session == self.session =>
                {
                    if sequence >= seq {
                        return;
                    }
                }
                Some(Got::Control(Control::Ack { .. })) => panic!("ack of another session"),
                other => panic!("producer expected ACK, got {other:?}"),
            }
        }
    }
}

/// What a subscriber saw, per producer session.
#[derive(Debug, Default)]
pub struct Seen {
    /// Per session: the sequences of the data frames, in arrival order.
    pub data: std::collections::BTreeMap<u64, Vec<u64>>,
    /// Per session: (first, count) of every GAP.
    pub gaps: std::collections::BTreeMap<u64, Vec<(u64, u64)>>,
    /// Sessions named by PRODUCER: (service, sink).
    pub producers: std::collections::BTreeMap<u64, (String, String)>,
}

impl Seen {
    /// Data frames plus frames reported missing.
    pub fn accounted(&self, session: u64) -> u64 {
        let data = self.data.get(&session).map_or(0, Vec::len) as u64;
        let gaps: u64 = self
            .gaps
            .get(&session)
            .map_or(0, |g| g.iter().map(|(_, c)| c).sum());
        data + gaps
    }
}

impl Peer {
    /// Reads as a subscriber, acknowledging each data frame, until `done(&seen)`.
    /// Checks that every session is named before its first frame or gap.
    pub fn read_until(&mut self, seen: &mut Seen, done: impl Fn(&Seen) -> bool) {
        while !done(seen) {
            match self.next().expect("the relay closed the subscriber") {
                Got::Data { session, seq, body } => {
                    assert!(
                        seen.producers.contains_key(&session),
                        "data before PRODUCER"
                    );
                    assert_eq!(body, seq.to_string().into_bytes());
                    seen.data.entry(session).or_default().push(seq);
                    self.ack(session, seq);
                }
                Got::Control(Control::Producer {
                    session,
                    service,
                    sink,
                }) => {
                    seen.producers.insert(session, (service, sink));
                }
                Got::Control(Control::Gap {
                    session,
                    first,
                    count,
                }) => {
                    assert!(seen.producers.contains_key(&session), "GAP before PRODUCER");
                    seen.gaps.entry(session).or_default().push((first, count));
                }
                Got::Control(other) => panic!("subscriber got {other:?}"),
            }
        }
    }
}
