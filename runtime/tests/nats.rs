//! NATS relays against a real `nats-server` started on 127.0.0.1 by each test.
//!
//! Run with `cargo test -p sinkgen-runtime --features nats --test nats`. When
//! `nats-server` is not on PATH the tests fail if `CI` is set (CI installs it) and are
//! skipped with a loud message otherwise.
//!
//! Where a test needs a subscriber in place before the sink can reach a server (a
//! server that starts late or restarts), the sink connects through a [`Gate`]: a
//! loopback TCP forwarder that starts accepting, towards a given server, only when
//! the test says so. The sink sees what it would see with the server itself: refused
//! connections, then a NATS server; a dying server closes the sink's connection.
#![cfg(feature = "nats")]

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sinkgen_runtime::{Bytes, Framing, RelaySink, SinkBuilder, State};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Servers with configuration files: permissions, `max_payload`, TLS.
#[path = "nats/defects.rs"]
mod defects;

/// A panicking `Encode::encode` on the NATS hand-over.
#[path = "nats/encode_panic.rs"]
mod encode_panic;

/// Durable relays (JetStream).
#[path = "nats/durable.rs"]
mod durable;

/// A durable relay's stream holding a producer's frames out of order.
#[path = "nats/reorder.rs"]
mod reorder;

/// Servers that require credentials: token, user and password, nkey, `.creds`.
#[path = "nats/credentials.rs"]
mod credentials;

/// `Subscription` over NATS.
#[path = "nats/subscribe.rs"]
mod subscribe;

/// The socket tests' shared pieces (the panicking message type, whether
/// `nats-server` can be started).
#[path = "common/mod.rs"]
mod common;

use common::server_available;

/// Readiness probes, 50 ms apart: 10 s at most.
const PROBES: usize = 200;
/// The longest a test waits for one expected message.
const MESSAGE_WAIT: Duration = Duration::from_secs(10);
/// How long a subscriber is given for messages that may or may not come.
const QUIET: Duration = Duration::from_millis(500);

/// A loopback port free when asked, and never handed out before in this process: a
/// server's client and monitoring ports, asked for one after the other, could
/// otherwise be the same (the first listener is gone when the second binds), and the
/// server would fail to start.
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..PROBES {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no loopback port not handed out before in {PROBES} tries");
}

/// A `nats-server` child on 127.0.0.1 with its HTTP monitoring port; killed on drop.
struct Server {
    child: Child,
    port: u16,
    monitor: u16,
}

impl Server {
    async fn start() -> Server {
        let (port, monitor) = (free_port(), free_port());
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &monitor.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        Server::ready(child, port, monitor).await
    }

    /// Waits until a started server answers on `port` and lists no connection.
    async fn ready(child: Child, port: u16, monitor: u16) -> Server {
        let mut server = Server {
            child,
            port,
            monitor,
        };
        let mut up = false;
        for _ in 0..PROBES {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await {
                let mut info = [0u8; 4];
                if s.read_exact(&mut info).await.is_ok() && &info == b"INFO" {
                    up = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !up {
            let exited = server.child.try_wait();
            panic!(
                "nats-server on port {port} (monitoring {monitor}) did not come up; it had exited: {exited:?}"
            );
        }
        // The probe was a client connection too: wait until the server has let it go,
        // so tests can count connections from zero.
        for _ in 0..PROBES {
            if server
                .try_connz()
                .await
                .is_some_and(|page| page.contains("\"num_connections\": 0"))
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server on port {port} still lists the readiness probe");
    }

    /// Stops the server the way an operator does (SIGTERM): it closes every client
    /// connection, after flushing what it already routed to subscribers.
    async fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..PROBES {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server did not stop on SIGTERM");
    }

    /// Freezes the server (SIGSTOP): it reads nothing, so a client's buffers fill the
    /// way they do in front of a slow or overloaded server.
    fn pause(&self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-STOP", &pid])
                .status()
                .is_ok_and(|s| s.success())
        );
    }

    /// Lets a paused server run again (SIGCONT).
    fn resume(&self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-CONT", &pid])
                .status()
                .is_ok_and(|s| s.success())
        );
    }

    /// The server's `/connz` page: its client connections, as JSON.
    async fn connz(&self) -> String {
        self.try_connz().await.expect("read /connz")
    }

    async fn try_connz(&self) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.monitor)).await.ok()?;
        s.write_all(b"GET /connz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .ok()?;
        let mut page = String::new();
        s.read_to_string(&mut page).await.ok()?;
        Some(page)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback TCP forwarder at the sink's address; see the module docs.
struct Gate {
    port: u16,
    upstream: Arc<Mutex<Option<u16>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Gate {
    /// A free port nothing listens on yet: connects are refused.
    fn closed() -> Gate {
        Gate {
            port: free_port(),
            upstream: Arc::new(Mutex::new(None)),
            task: None,
        }
    }

    /// Accepts connections from now on, forwarding new ones to the server on
    /// `upstream`.
    async fn open(&mut self, upstream: u16) {
        *self.upstream.lock().unwrap() = Some(upstream);
        if self.task.is_some() {
            return;
        }
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the gate's port");
        let target = Arc::clone(&self.upstream);
        self.task = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = *target.lock().unwrap();
                tokio::spawn(async move {
                    let Some(to) = to else { return };
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", to)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A subscriber of the test's own, connected straight to a server.
struct Subscriber {
    _client: async_nats::Client,
    messages: async_nats::Subscriber,
}

impl Subscriber {
    /// Subscribes and waits until the server routes the subject to it (a probe
    /// message comes back), so nothing published afterwards can miss it.
    async fn new(server: &Server, subject: &str) -> Subscriber {
        Subscriber::connect(server, async_nats::ConnectOptions::new(), subject).await
    }

    /// [`Subscriber::new`] for the account `user`.
    async fn as_user(server: &Server, (user, password): (&str, &str), subject: &str) -> Subscriber {
        let options =
            async_nats::ConnectOptions::with_user_and_password(user.into(), password.into());
        Subscriber::connect(server, options, subject).await
    }

    async fn connect(
        server: &Server,
        options: async_nats::ConnectOptions,
        subject: &str,
    ) -> Subscriber {
        let client = options
            .connect(format!("nats://127.0.0.1:{}", server.port))
            .await
            .expect("subscriber connects");
        let messages = client
            .subscribe(subject.to_owned())
            .await
            .expect("subscribe");
        let mut sub = Subscriber {
            _client: client.clone(),
            messages,
        };
        client
            .publish(subject.to_owned(), Bytes::from_static(b"probe"))
            .await
            .expect("publish the probe");
        let probe = sub.next(MESSAGE_WAIT).await.expect("the probe comes back");
        assert_eq!(&probe[..], b"probe");
        sub
    }

    async fn next(&mut self, wait: Duration) -> Option<Bytes> {
        use futures_core::Stream;
        let next = std::future::poll_fn(|cx| std::pin::Pin::new(&mut self.messages).poll_next(cx));
        match tokio::time::timeout(wait, next).await {
            Ok(Some(m)) => Some(m.payload),
            _ => None,
        }
    }

    /// Exactly `n` messages, each within [`MESSAGE_WAIT`]; then checks that no more
    /// arrive within [`QUIET`].
    async fn exactly(&mut self, n: usize) -> Vec<Bytes> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            match self.next(MESSAGE_WAIT).await {
                Some(m) => got.push(m),
                None => panic!("received {} messages, expected {n}", got.len()),
            }
        }
        assert!(self.next(QUIET).await.is_none(), "more than {n} messages");
        got
    }

    /// Everything that arrives until the subject stays quiet for [`QUIET`].
    async fn drain(&mut self) -> Vec<Bytes> {
        let mut got = Vec::new();
        while let Some(m) = self.next(QUIET).await {
            got.push(m);
        }
        got
    }
}

fn builder(port: u16, subject: &str, name: &str) -> SinkBuilder {
    SinkBuilder::new(format!("nats://127.0.0.1:{port}/{subject}"))
        .name(name)
        .connect_timeout(Duration::from_secs(2))
        .send_timeout(Duration::from_secs(10))
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
}

/// The `i`-th test message: `i` (u64 LE), then bytes derived from it; 8 to 300 bytes.
fn message(i: u64) -> Bytes {
    let len = 8 + (i * 37 % 293) as usize;
    let mut m = i.to_le_bytes().to_vec();
    m.extend((8..len).map(|k| (i as usize * 31 + k * 7) as u8));
    Bytes::from(m)
}

fn index(payload: &[u8]) -> u64 {
    u64::from_le_bytes(payload[..8].try_into().expect("8-byte index"))
}

#[tokio::test]
async fn lazy_connect_no_connection_before_the_first_send() {
    if !server_available() {
        return;
    }
    let server = Server::start().await;
    let sink: RelaySink<Bytes> = builder(server.port, "lazy.test", "lazy_sink")
        .relay()
        .expect("valid endpoint");
    let copy = sink.clone();
    let status = sink.status();
    assert_eq!(status.state, State::Idle);
    assert_eq!(status.connect_attempts, 0);
    let connz = server.connz().await;
    assert!(
        connz.contains("\"num_connections\": 0"),
        "a connection before the first send: {connz}"
    );

    copy.send(message(1)).await.expect("accepted");
    sink.flush().await.expect("flushed: a server round trip");
    let status = sink.status();
    assert_eq!(status.state, State::Connected);
    assert_eq!(status.connect_attempts, 1);
    assert_eq!(status.frames_sent, 1);
    let connz = server.connz().await;
    assert!(connz.contains("\"num_connections\": 1"), "{connz}");
    assert!(
        connz.contains("\"name\": \"lazy_sink\""),
        "the sink's connection is named after it: {connz}"
    );
    assert_eq!(sink.close().await, 0);
}

async fn exact_delivery(framing: Framing, subject: &str) {
    const N: u64 = 3_000;
    let server = Server::start().await;
    let mut sub = Subscriber::new(&server, subject).await;
    let sink: RelaySink<Bytes> = builder(server.port, subject, "exact_sink")
        .framing(framing)
        .queue(256)
        .relay()
        .expect("valid endpoint");
    for i in 1..=N {
        sink.send(message(i)).await.expect("accepted");
    }
    sink.flush().await.expect("flushed");
    let got = sub.exactly(N as usize).await;
    for (i, payload) in (1..=N).zip(&got) {
        let want = message(i);
        match framing {
            // NATS carries whole messages: no prefix, and no sinkgen header (a
            // sink built for a sinkgen relay whose endpoint is overridden with a
            // nats:// one publishes what a NATS subscription decodes).
            Framing::LengthPrefixed | Framing::Sinkgen => {
                assert_eq!(payload, &want, "message {i}");
            }
            Framing::Torq { domain, source } => {
                // The whole torq frame is the NATS payload.
                assert_eq!(payload.len(), 32 + want.len(), "frame {i}");
                assert_eq!(&payload[0..4], &0xDEAD_BEEFu32.to_le_bytes());
                assert_eq!(payload[4..8], [domain, 1, source, 0]);
                assert_eq!(u64::from_le_bytes(payload[8..16].try_into().unwrap()), i);
                let size = u32::from_le_bytes(payload[24..28].try_into().unwrap());
                assert_eq!(size as usize, want.len());
                let mut crc = crc32fast::Hasher::new();
                crc.update(&payload[..28]);
                crc.update(&payload[32..]);
                let sum = u32::from_le_bytes(payload[28..32].try_into().unwrap());
                assert_eq!(sum, crc.finalize(), "crc of frame {i}");
                assert_eq!(&payload[32..], &want[..], "payload of frame {i}");
            }
            other => panic!("this test does not publish with {other:?}"),
        }
    }
    let status = sink.status();
    assert_eq!(status.frames_sent, N);
    assert_eq!(status.lost.total(), 0);
    assert_eq!(sink.close().await, 0);
}

/// `send_all` on a NATS relay: batches go through the queue to the client, every
/// message arrives once, in order, and counts as sent once confirmed.
#[tokio::test]
async fn send_all_delivers_every_batch_in_order() {
    if !server_available() {
        return;
    }
    const N: u64 = 3_000;
    let server = Server::start().await;
    let mut sub = Subscriber::new(&server, "send_all").await;
    let sink: RelaySink<Bytes> = builder(server.port, "send_all", "send_all_sink")
        .queue(256)
        .relay()
        .expect("valid endpoint");
    for batch in 0..N / 100 {
        let msgs: Vec<Bytes> = (batch * 100 + 1..=batch * 100 + 100).map(message).collect();
        assert_eq!(sink.send_all(msgs).await.expect("accepted"), 100);
    }
    sink.flush().await.expect("flushed");
    let got = sub.exactly(N as usize).await;
    for (i, payload) in (1..=N).zip(&got) {
        assert_eq!(payload, &message(i), "message {i}");
    }
    let status = sink.status();
    assert_eq!(status.frames_sent, N);
    assert!(status.last_sent.is_some());
    assert_eq!(sink.close().await, 0);
}

#[tokio::test]
async fn subscriber_receives_exactly_what_send_accepted_length_prefixed() {
    if !server_available() {
        return;
    }
    exact_delivery(Framing::LengthPrefixed, "exact.lp").await;
}

#[tokio::test]
async fn subscriber_receives_exactly_what_send_accepted_sinkgen() {
    if !server_available() {
        return;
    }
    exact_delivery(Framing::Sinkgen, "exact.sinkgen").await;
}

#[tokio::test]
async fn subscriber_receives_exactly_what_send_accepted_torq() {
    if !server_available() {
        return;
    }
    exact_delivery(
        Framing::Torq {
            domain: 3,
            source: 9,
        },
        "exact.torq",
    )
    .await;
}

#[tokio::test]
async fn server_absent_then_started_delivers_the_queue_in_order() {
    if !server_available() {
        return;
    }
    const N: u64 = 500;
    let mut gate = Gate::closed();
    let sink: RelaySink<Bytes> = builder(gate.port, "late.server", "late_sink")
        .queue(1_000)
        .relay()
        .expect("valid endpoint");
    for i in 1..=N {
        sink.send(message(i))
            .await
            .expect("queued while no server runs");
    }
    // Refused at least twice: it retries, under backoff, while frames wait.
    for _ in 0..PROBES {
        if sink.status().connect_attempts >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = sink.status();
    assert!(status.connect_attempts >= 2, "{status:?}");
    assert!(status.last_error.is_some(), "{status:?}");
    assert_eq!(status.frames_sent, 0);
    assert_eq!(status.queue_depth, N as usize);

    let server = Server::start().await;
    let mut sub = Subscriber::new(&server, "late.server").await;
    gate.open(server.port).await;
    sink.flush()
        .await
        .expect("the queue drains once the server is up");
    let got = sub.exactly(N as usize).await;
    for (i, payload) in (1..=N).zip(&got) {
        assert_eq!(payload, &message(i), "message {i}");
    }
    let status = sink.status();
    assert_eq!(status.frames_sent, N);
    assert_eq!(status.lost.total(), 0);
    assert_eq!(sink.close().await, 0);
}

/// What `send` did with each offered message.
#[derive(Default)]
struct Tally {
    accepted: Vec<u64>,
    rejected: u64,
}

impl Tally {
    fn offer(&mut self, i: u64, result: Result<(), sinkgen_runtime::SendError<Bytes>>) {
        match result {
            Ok(()) => self.accepted.push(i),
            Err(e) => {
                assert_eq!(e.into_message(), message(i), "a refused message comes back");
                self.rejected += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restarted_mid_stream_every_accepted_frame_is_sent_or_counted_lost() {
    if !server_available() {
        return;
    }
    const BEFORE: u64 = 20_000;
    const AFTER: u64 = 2_000;
    const QUEUE: usize = 500;
    let subject = "restart.stream";
    let first = Server::start().await;
    let mut sub1 = Subscriber::new(&first, subject).await;
    let mut gate = Gate::closed();
    gate.open(first.port).await;
    let sink: RelaySink<Bytes> = builder(gate.port, subject, "restart_sink")
        .queue(QUEUE)
        .send_timeout(Duration::from_millis(200))
        .relay()
        .expect("valid endpoint");

    let mut tally = Tally::default();

    // Stream, and stop the server while frames are in flight.
    let mut i = 0;
    let watched = sink.clone();
    let stopping = tokio::spawn(async move {
        // Once frames are confirmed, so the stream is really flowing.
        for _ in 0..PROBES * 10 {
            if watched.status().frames_sent > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        first.stop().await;
    });
    while i < BEFORE && !stopping.is_finished() {
        i += 1;
        tally.offer(i, sink.send(message(i)).await);
    }
    stopping.await.expect("the first server stopped");
    let sent_before = sink.status().frames_sent;
    assert!(
        sent_before > 0,
        "frames were flowing when the server stopped"
    );
    // Keep sending while it is down, until the bounded queue has refused a few.
    let refused_before = tally.rejected;
    for _ in 0..(QUEUE as u64 + 10 * 1_000) {
        if tally.rejected >= refused_before + 3 {
            break;
        }
        i += 1;
        tally.offer(i, sink.send(message(i)).await);
    }
    assert!(
        tally.rejected >= refused_before + 3,
        "a full queue refuses frames"
    );
    let down = sink.status();
    assert!(down.state != State::Connected, "{down:?}");

    // A new server (with its subscriber in place) at the same address.
    let second = Server::start().await;
    let mut sub2 = Subscriber::new(&second, subject).await;
    gate.open(second.port).await;
    for _ in 0..AFTER {
        i += 1;
        tally.offer(i, sink.send(message(i)).await);
    }
    let mut flushed = false;
    for _ in 0..50 {
        if sink.flush().await.is_ok() {
            flushed = true;
            break;
        }
    }
    assert!(
        flushed,
        "the sink drains after the restart: {:?}",
        sink.status()
    );
    assert_eq!(sink.close().await, 0);

    let status = sink.status();
    let accepted_n = tally.accepted.len() as u64;
    assert_eq!(
        accepted_n + tally.rejected,
        i,
        "every send was either accepted or refused"
    );
    assert_eq!(
        status.frames_sent + status.lost.total(),
        accepted_n,
        "every accepted frame was sent or counted lost: {status:?}"
    );
    assert_eq!(status.lost.total(), status.lost.unconfirmed, "{status:?}");

    let mut received = sub1.drain().await;
    let on_first = received.len();
    received.extend(sub2.drain().await);
    eprintln!(
        "offered {i}: accepted {}, refused {}; sent {} (before the stop {sent_before}), lost {:?}; received {on_first} + {}",
        tally.accepted.len(),
        tally.rejected,
        status.frames_sent,
        status.lost,
        received.len() - on_first
    );
    // Byte for byte, in order, each at most once, and only frames send accepted.
    let mut wanted = tally.accepted.iter().copied().peekable();
    for payload in &received {
        let k = index(payload);
        assert_eq!(payload, &message(k), "message {k} intact");
        loop {
            match wanted.next() {
                Some(a) if a == k => break,
                Some(_) => {}
                None => panic!("message {k} received out of order, twice, or never accepted"),
            }
        }
    }
    // Every confirmed frame reached a subscriber; of the unconfirmed ones, some may have.
    let got = received.len() as u64;
    assert!(
        got >= status.frames_sent && got <= status.frames_sent + status.lost.unconfirmed,
        "received {got}; sent {}, lost unconfirmed {}",
        status.frames_sent,
        status.lost.unconfirmed
    );
}

/// A big test frame: producer `p`, number `k`, then filler; 4 KiB, so a few thousand
/// of them are more than the client's buffer and the sockets' buffers hold.
fn big(p: u64, k: u64) -> Bytes {
    let mut m = vec![(p * 7 + k) as u8; 4096];
    m[..8].copy_from_slice(&p.to_le_bytes());
    m[8..16].copy_from_slice(&k.to_le_bytes());
    Bytes::from(m)
}

/// Producer and number of a torq frame made from [`big`].
fn big_id(frame: &[u8]) -> (u64, u64) {
    let payload = &frame[32..];
    (
        u64::from_le_bytes(payload[..8].try_into().unwrap()),
        u64::from_le_bytes(payload[8..16].try_into().unwrap()),
    )
}

/// Sends `big(0, k)` for k = 0, 1, ... in front of a frozen server until `refusals`
/// sends have timed out, each giving its message back. Returns the numbers accepted
/// and the next number.
async fn send_until_refused(sink: &RelaySink<Bytes>, refusals: usize) -> (Vec<u64>, u64) {
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for k in 0..20_000u64 {
        match sink.send(big(0, k)).await {
            Ok(()) => accepted.push(k),
            Err(e) => {
                assert_eq!(e.kind(), sinkgen_runtime::SendErrorKind::Timeout, "{e}");
                assert_eq!(e.into_message(), big(0, k), "the message comes back");
                refused += 1;
                if refused == refusals {
                    return (accepted, k + 1);
                }
            }
        }
    }
    panic!("sends did not time out while the server was frozen");
}

/// Restarts a paused server even when an assertion fails first, so the test's
/// subscriber and sink can shut down.
struct Resume<'a>(&'a Server);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        self.0.resume();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_server_senders_wait_and_every_frame_arrives_once_in_order() {
    if !server_available() {
        return;
    }
    const PRODUCERS: u64 = 4;
    const EACH: u64 = 2_000;
    let subject = "stall.order";
    let server = Server::start().await;
    let mut sub = Subscriber::new(&server, subject).await;
    let sink: RelaySink<Bytes> = builder(server.port, subject, "stall_sink")
        .framing(Framing::Torq {
            domain: 2,
            source: 5,
        })
        .queue(64)
        .relay()
        .expect("valid endpoint");
    sink.wait_connected(std::time::Instant::now() + MESSAGE_WAIT)
        .await
        .expect("connected");

    server.pause();
    let resume = Resume(&server);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let sink = sink.clone();
            tokio::spawn(async move {
                for k in 0..EACH {
                    sink.send(big(p, k))
                        .await
                        .expect("accepted once there is room");
                }
            })
        })
        .collect();
    // 32 MB cannot fit in the client's buffer of 4,096 messages and the sockets:
    // the producers wait (for room, or for their turn) while the server is frozen.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let stalled = producers.iter().filter(|t| !t.is_finished()).count();
    let held = sink.status();
    drop(resume);
    assert!(stalled > 0, "producers were not held back: {held:?}");
    assert!(
        held.queue_depth <= 64 + 4_096 * 2,
        "what the sink holds stays bounded: {held:?}"
    );
    for t in producers {
        t.await.expect("producer finished");
    }
    sink.flush().await.expect("flushed");

    let got = sub.exactly((PRODUCERS * EACH) as usize).await;
    let mut next = vec![0u64; PRODUCERS as usize];
    for (n, frame) in got.iter().enumerate() {
        let sequence = u64::from_le_bytes(frame[8..16].try_into().unwrap());
        assert_eq!(sequence, n as u64 + 1, "torq sequence in arrival order");
        let (p, k) = big_id(frame);
        assert_eq!(k, next[p as usize], "producer {p}: in order, once each");
        assert_eq!(&frame[32..], &big(p, k)[..], "frame {p}/{k} intact");
        next[p as usize] += 1;
    }
    let status = sink.status();
    assert_eq!(status.frames_sent, PRODUCERS * EACH);
    assert_eq!(status.lost.total(), 0);
    assert_eq!(sink.close().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_server_timed_out_or_cancelled_sends_publish_nothing() {
    if !server_available() {
        return;
    }
    let subject = "stall.timeout";
    let server = Server::start().await;
    let mut sub = Subscriber::new(&server, subject).await;
    let sink: RelaySink<Bytes> = builder(server.port, subject, "stall_timeout_sink")
        .queue(16)
        .send_timeout(Duration::from_millis(300))
        .relay()
        .expect("valid endpoint");
    sink.wait_connected(std::time::Instant::now() + MESSAGE_WAIT)
        .await
        .expect("connected");

    server.pause();
    let resume = Resume(&server);
    // Fill everything until sends time out, with the message back each time.
    let (mut accepted, next) = send_until_refused(&sink, 3).await;
    // A send dropped while it waits has published nothing either.
    let cancelled = next;
    let dropped = tokio::time::timeout(Duration::from_millis(50), sink.send(big(0, cancelled)))
        .await
        .is_err();
    assert!(dropped, "the send was still waiting when it was dropped");
    drop(resume);

    let more = cancelled + 1;
    sink.send(big(0, more))
        .await
        .expect("accepted after the stall");
    accepted.push(more);
    sink.flush().await.expect("flushed");
    let got: Vec<u64> = sub
        .exactly(accepted.len())
        .await
        .iter()
        .map(|m| u64::from_le_bytes(m[8..16].try_into().unwrap()))
        .collect();
    assert_eq!(got, accepted, "exactly the accepted frames, in order");
    let status = sink.status();
    assert_eq!(status.frames_sent, accepted.len() as u64);
    assert_eq!(status.lost.total(), 0);
    assert_eq!(sink.close().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_right_after_sends_confirms_and_stops_at_once() {
    if !server_available() {
        return;
    }
    let subject = "close.fast";
    let server = Server::start().await;
    let mut sub = Subscriber::new(&server, subject).await;
    // A long linger: a close that missed its wake-up would take it whole.
    let linger = Duration::from_secs(5);
    for round in 0..40u64 {
        let sink: RelaySink<Bytes> = builder(server.port, subject, "close_sink")
            .send_timeout(linger)
            .relay()
            .expect("valid endpoint");
        sink.wait_connected(std::time::Instant::now() + MESSAGE_WAIT)
            .await
            .expect("connected");
        for i in 0..=round % 4 {
            sink.send(message(round * 10 + i)).await.expect("accepted");
        }
        let started = std::time::Instant::now();
        assert_eq!(sink.close().await, 0, "round {round}: {:?}", sink.status());
        assert!(
            started.elapsed() < linger / 2,
            "round {round}: close took {:?}",
            started.elapsed()
        );
        let status = sink.status();
        assert_eq!(status.state, State::Closed);
        assert_eq!(status.frames_sent, round % 4 + 1, "{status:?}");
    }
    let expected: usize = (0..40u64).map(|r| (r % 4 + 1) as usize).sum();
    assert_eq!(sub.exactly(expected).await.len(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_in_front_of_a_frozen_server_stops_at_the_linger_and_counts() {
    if !server_available() {
        return;
    }
    let subject = "close.frozen";
    let server = Server::start().await;
    let linger = Duration::from_millis(400);
    let sink: RelaySink<Bytes> = builder(server.port, subject, "close_frozen_sink")
        .queue(16)
        .send_timeout(linger)
        .relay()
        .expect("valid endpoint");
    sink.wait_connected(std::time::Instant::now() + MESSAGE_WAIT)
        .await
        .expect("connected");
    server.pause();
    let _resume = Resume(&server);
    // Until the client's buffer is full and sends time out: the task's request for
    // a confirmation is then stuck behind the frames too.
    let accepted = send_until_refused(&sink, 2).await.0.len() as u64;
    let started = std::time::Instant::now();
    let undelivered = sink.close().await;
    let took = started.elapsed();
    let status = sink.status();
    assert_eq!(status.state, State::Closed, "the task stopped: {status:?}");
    assert!(
        undelivered > 0,
        "unconfirmed frames are reported: {status:?}"
    );
    assert_eq!(undelivered, status.lost.total(), "{status:?}");
    assert_eq!(
        status.frames_sent + status.lost.total(),
        accepted,
        "every accepted frame is sent or counted lost: {status:?}"
    );
    assert!(took < linger * 3, "close took {took:?}");
}

/// What generated code holds for a torq relay on NATS (the endpoint is given at run
/// time here, as `with_endpoints` does, because the test server's port is not known
/// at compile time).
static MARKET_DATA: sinkgen_runtime::__private::SinkSpec = sinkgen_runtime::__private::SinkSpec {
    service: "feed",
    sink: "market_data",
    target: "market_data",
    endpoint: "nats://127.0.0.1:4222/market.data",
    env: "SINKGEN_NATS_TEST_MARKET_DATA_ENDPOINT",
    framing: Framing::Torq {
        domain: 1,
        source: 7,
    },
    connect_timeout: Duration::from_millis(500),
    send_timeout: Duration::from_secs(5),
    queue: 4096,
    backoff_initial: Duration::from_millis(10),
    backoff_max: Duration::from_secs(1),
    when_down: sinkgen_runtime::__private::WhenDown::Queue,
    max_frame: 16 << 20,
    durable: None,
    credentials: None,
    tls: None,
};

#[tokio::test]
async fn generated_accessors_publish_torq_frames_on_nats() {
    if !server_available() {
        return;
    }
    let server = Server::start().await;
    let mut sub = Subscriber::new(&server, "market.data").await;
    let endpoint = format!("nats://127.0.0.1:{}/market.data", server.port);
    let sink: RelaySink<Bytes> = sinkgen_runtime::__private::relay_at(&MARKET_DATA, &endpoint);
    for i in 1..=3 {
        sink.send(message(i)).await.expect("accepted");
    }
    sink.flush().await.expect("flushed");
    let got = sub.exactly(3).await;
    for (i, frame) in (1..=3u64).zip(&got) {
        assert_eq!(&frame[0..4], &0xDEAD_BEEFu32.to_le_bytes());
        assert_eq!(frame[4..8], [1, 1, 7, 0], "domain, version, source, flags");
        assert_eq!(u64::from_le_bytes(frame[8..16].try_into().unwrap()), i);
        assert_eq!(&frame[32..], &message(i)[..]);
    }
    assert!(server.connz().await.contains("\"name\": \"market_data\""));
    assert_eq!(sink.close().await, 0);

    // A bad endpoint (as from an environment override) gives a sink that fails every
    // send with the message back, and never panics.
    let bad: RelaySink<Bytes> =
        sinkgen_runtime::__private::relay_at(&MARKET_DATA, "nats://127.0.0.1:4222/market.*");
    let err = bad.send(message(1)).await.expect_err("a bad address fails");
    assert_eq!(err.kind(), sinkgen_runtime::SendErrorKind::Fatal);
    let cause = err.cause().expect("a fatal send has a cause");
    assert!(cause.to_string().contains("wildcard"), "{cause}");
    assert_eq!(err.into_message(), message(1));
}

#[test]
fn bad_nats_endpoints_are_refused_at_build_time() {
    for bad in [
        "nats://127.0.0.1:4222",
        "nats://127.0.0.1:4222/a.*",
        "nats://127.0.0.1:4222/a..b",
        "nats://127.0.0.1:4222/a b",
        "nats://127.0.0.1/a",
    ] {
        assert!(
            SinkBuilder::new(bad).relay::<Bytes>().is_err(),
            "{bad:?} should be refused"
        );
    }
}
