//! Durable relays: sinks publishing through JetStream, against `nats-server -js` with a
//! store directory of the test's own.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use async_nats::jetstream;
use sinkgen_runtime::durable::{Durable, parse_message_id};
use sinkgen_runtime::{Bytes, Received, RelaySink, Subscription, SubscriptionBuilder};

use super::{
    MESSAGE_WAIT, PROBES, Server, Tally, builder, free_port, index, message, server_available,
};

/// A store directory for one test's servers; removed on drop.
pub(super) struct Store(pub(super) PathBuf);

impl Store {
    pub(super) fn new(name: &str) -> Store {
        let dir = std::env::temp_dir().join(format!(
            "sinkgen-js-{name}-{}-{}",
            std::process::id(),
            fastrand_like()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the store directory");
        Store(dir)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A number that differs between calls in one process.
fn fastrand_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Server {
    /// A JetStream server on `port` (monitoring on `monitor`) keeping its streams in
    /// `store`: started again with the same arguments, it finds them again.
    pub(super) async fn start_js(port: u16, monitor: u16, store: &Store) -> Server {
        let mut child = Command::new("nats-server")
            .args(["-js", "-sd"])
            .arg(&store.0)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &monitor.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server -js");
        // Sinks may be reconnecting already: wait for the server's INFO only (not
        // for an empty connection list, as `Server::ready` does).
        for _ in 0..PROBES {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)).await {
                let mut info = [0u8; 4];
                if s.read_exact(&mut info).await.is_ok() && &info == b"INFO" {
                    return Server {
                        child,
                        port,
                        monitor,
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let exited = child.try_wait();
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "nats-server -js on port {port} (monitoring {monitor}) did not come up; it had exited: {exited:?}"
        );
    }
}

/// Every message of `stream`, in stream order: (session, sequence) from its id, and
/// the payload's index.
pub(super) async fn stored(port: u16, stream: &str) -> Vec<((u64, u64), u64)> {
    let client = async_nats::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connect to read the stream");
    let js = jetstream::new(client);
    let mut stream = js.get_stream(stream).await.expect("the relay's stream");
    let count = stream.info().await.expect("stream info").state.messages;
    let mut out = Vec::new();
    let first = stream.cached_info().state.first_sequence;
    for seq in first..first + count {
        let m = stream.get_raw_message(seq).await.expect("a stored message");
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .expect("a message id")
            .to_string();
        let key = parse_message_id(&id).expect("a sinkgen message id");
        out.push((key, index(&m.payload)));
    }
    out
}

/// Service `reader`'s subscription to the durable relay `durable` on `subject`.
pub(super) fn durable_subscription(
    port: u16,
    subject: &str,
    durable: Durable,
) -> Subscription<Bytes> {
    let relay = durable.stream()["SINKGEN_".len()..].to_owned();
    SubscriptionBuilder::new(format!("nats://127.0.0.1:{port}/{subject}"))
        .identity("reader", &relay)
        // Room for the JetStream requests of a connect on a loaded host.
        .connect_timeout(Duration::from_secs(5))
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .durable(durable)
        .build()
        .expect("build a durable subscription")
}

fn durable_sink(port: u16, subject: &str, relay: &str, queue: usize) -> RelaySink<Bytes> {
    builder(port, subject, "durable")
        .queue(queue)
        .durable(Durable::new(relay))
        .relay()
        .expect("build a durable sink")
}

#[tokio::test]
async fn durable_sink_every_frame_acknowledged_and_stored_once() {
    if !server_available() {
        return;
    }
    let store = Store::new("acked");
    let server = Server::start_js(free_port(), free_port(), &store).await;
    let sink = durable_sink(server.port, "durable.acked", "acked", 4096);
    const N: u64 = 1000;
    for i in 0..N {
        sink.send(message(i)).await.expect("accepted");
    }
    tokio::time::timeout(MESSAGE_WAIT, sink.flush())
        .await
        .expect("flush ends")
        .expect("every frame acknowledged");
    let status = sink.status();
    assert_eq!(status.frames_sent, N, "{status:?}");
    assert_eq!(status.unacknowledged, 0, "{status:?}");
    assert_eq!(sink.close().await, 0);
    let held = stored(server.port, "SINKGEN_acked").await;
    let indexes: Vec<u64> = held.iter().map(|(_, i)| *i).collect();
    assert_eq!(
        indexes,
        (0..N).collect::<Vec<_>>(),
        "the stream holds each frame once, in order"
    );
    let sequences: Vec<u64> = held.iter().map(|((_, q), _)| *q).collect();
    assert_eq!(
        sequences,
        (1..=N).collect::<Vec<_>>(),
        "ids carry the sequences"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_sink_server_restarted_every_accepted_frame_stored_exactly_once_or_lost() {
    if !server_available() {
        return;
    }
    let store = Store::new("restart");
    let (port, monitor) = (free_port(), free_port());
    let server = Server::start_js(port, monitor, &store).await;
    let sink = durable_sink(port, "durable.restart", "restart", 100_000);
    let mut tally = Tally {
        accepted: Vec::new(),
        rejected: 0,
    };
    const N: u64 = 3000;
    let mut server = Some(server);
    for i in 0..N {
        if i == N / 3 {
            // Mid-stream: frames are published and not all acknowledged yet.
            server.take().expect("running").stop().await;
        }
        if i == N / 2 {
            server = Some(Server::start_js(port, monitor, &store).await);
        }
        let r = sink.try_send(message(i));
        tally.offer(i, r);
        if i % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    tokio::time::timeout(MESSAGE_WAIT * 3, sink.flush())
        .await
        .expect("flush ends")
        .expect("every frame acknowledged after the restart");
    let status = sink.status();
    let lost = sink.close().await;
    let server = server.expect("restarted");
    let held = stored(server.port, "SINKGEN_restart").await;
    let indexes: Vec<u64> = held.iter().map(|(_, i)| *i).collect();
    let unique: HashSet<u64> = indexes.iter().copied().collect();
    assert_eq!(unique.len(), indexes.len(), "no frame is stored twice");
    assert_eq!(
        status.frames_sent as usize + status.lost.total() as usize + lost as usize,
        tally.accepted.len(),
        "{status:?}"
    );
    let accepted: HashSet<u64> = tally.accepted.iter().copied().collect();
    assert!(
        unique.is_subset(&accepted),
        "only accepted frames are stored"
    );
    assert_eq!(
        indexes.len() as u64,
        status.frames_sent,
        "every frame counted sent is stored: {status:?}"
    );
    let mut sorted = indexes.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, indexes, "stored in the order sent");
    // The queue holds every frame: none is lost, each accepted frame is stored.
    assert_eq!(status.lost.total() + lost, 0, "{status:?}");
    assert_eq!(unique, accepted, "every accepted frame is stored");
}

/// A loopback forwarder to a server that can swallow what the server sends (the
/// publish acknowledgements among it) and cut every connection through it.
struct Muffle {
    port: u16,
    mute: Arc<AtomicBool>,
    cut: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Muffle {
    async fn new(upstream: u16) -> Muffle {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let mute = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Notify::new());
        let (m, c) = (Arc::clone(&mute), Arc::clone(&cut));
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                let (m, c) = (Arc::clone(&m), Arc::clone(&c));
                tokio::spawn(async move {
                    let cut = c.notified();
                    tokio::pin!(cut);
                    cut.as_mut().enable();
                    let (mut in_r, mut in_w) = inbound.into_split();
                    let (mut out_r, mut out_w) = outbound.into_split();
                    let up = tokio::io::copy(&mut in_r, &mut out_w);
                    let down = async {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match out_r.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            if !m.load(Ordering::SeqCst) && in_w.write_all(&buf[..n]).await.is_err()
                            {
                                return;
                            }
                        }
                    };
                    tokio::select! {
                        _ = up => {}
                        () = down => {}
                        () = cut => {}
                    }
                });
            }
        });
        Muffle {
            port,
            mute,
            cut,
            task,
        }
    }
}

impl Drop for Muffle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How many messages `stream` holds.
async fn stream_len(port: u16, stream: &str) -> u64 {
    let client = async_nats::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connect to read the stream");
    let js = jetstream::new(client);
    let mut stream = js.get_stream(stream).await.expect("the relay's stream");
    stream.info().await.expect("stream info").state.messages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_sink_acks_lost_resent_frames_are_dropped_by_message_id() {
    if !server_available() {
        return;
    }
    let store = Store::new("muffle");
    let server = Server::start_js(free_port(), free_port(), &store).await;
    let muffle = Muffle::new(server.port).await;
    let sink = durable_sink(muffle.port, "durable.muffle", "muffle", 4096);
    for i in 0..100 {
        sink.send(message(i)).await.expect("accepted");
    }
    sink.flush().await.expect("acknowledged");
    // The server goes on storing, but its acknowledgements never reach the sink.
    muffle.mute.store(true, Ordering::SeqCst);
    for i in 100..300 {
        sink.send(message(i)).await.expect("accepted");
    }
    let mut stored_all = false;
    for _ in 0..PROBES {
        if stream_len(server.port, "SINKGEN_muffle").await == 300 {
            stored_all = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored_all, "the server stored the muffled frames");
    assert_eq!(sink.status().frames_sent, 100, "{:?}", sink.status());
    assert_eq!(sink.status().unacknowledged, 200, "{:?}", sink.status());
    // The connection dies with 200 frames unacknowledged: they are published again.
    muffle.mute.store(false, Ordering::SeqCst);
    muffle.cut.notify_waiters();
    tokio::time::timeout(MESSAGE_WAIT, sink.flush())
        .await
        .expect("flush ends")
        .expect("the resent frames are acknowledged");
    let status = sink.status();
    assert_eq!(status.frames_sent, 300, "{status:?}");
    assert_eq!(status.lost.total(), 0, "{status:?}");
    assert_eq!(sink.close().await, 0);
    let held = stored(server.port, "SINKGEN_muffle").await;
    let indexes: Vec<u64> = held.iter().map(|(_, i)| *i).collect();
    assert_eq!(
        indexes,
        (0..300).collect::<Vec<_>>(),
        "each frame stored once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_sink_close_returns_what_was_never_acknowledged() {
    if !server_available() {
        return;
    }
    let store = Store::new("close");
    let server = Server::start_js(free_port(), free_port(), &store).await;
    let muffle = Muffle::new(server.port).await;
    let sink = durable_sink(muffle.port, "durable.close", "close", 4096);
    sink.send(message(0)).await.expect("accepted");
    sink.flush().await.expect("acknowledged");
    muffle.mute.store(true, Ordering::SeqCst);
    for i in 1..=50 {
        sink.send(message(i)).await.expect("accepted");
    }
    let lost = sink.close_with_linger(Duration::from_millis(300)).await;
    let status = sink.status();
    assert_eq!(lost, 50, "{status:?}");
    assert_eq!(status.lost.unconfirmed, 50, "{status:?}");
    assert_eq!(status.frames_sent, 1, "{status:?}");
}

#[test]
fn durable_needs_a_nats_endpoint() {
    let e = sinkgen_runtime::SinkBuilder::new("tcp://127.0.0.1:9000")
        .durable(Durable::new("r"))
        .relay::<Bytes>()
        .expect_err("a socket relay is not durable");
    let text = e.to_string();
    assert!(text.contains("only a NATS relay can be durable"), "{text}");
    assert!(text.contains("help:"), "{text}");
}

/// Receives `n` items (bounded by [`MESSAGE_WAIT`] each): the messages' indexes, and
/// every gap as `u64::MAX`.
pub(super) async fn receive(sub: &mut Subscription<Bytes>, n: usize) -> Vec<u64> {
    receive_each(sub, n, MESSAGE_WAIT).await
}

/// [`receive`], each item bounded by `each`.
async fn receive_each(sub: &mut Subscription<Bytes>, n: usize, each: Duration) -> Vec<u64> {
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout(each, sub.recv()).await {
            Ok(Some(Received::Message { message, .. })) => got.push(index(&message)),
            Ok(Some(Received::Gap { .. })) => got.push(u64::MAX),
            Ok(other) => panic!("unexpected {other:?}: {:?}", sub.status()),
            Err(_) => panic!("item {} did not come: {:?}", got.len(), sub.status()),
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_subscription_receives_everything_once_in_order_across_a_server_restart() {
    if !server_available() {
        return;
    }
    let store = Store::new("sub");
    let (port, monitor) = (free_port(), free_port());
    let server = Server::start_js(port, monitor, &store).await;
    let sink = durable_sink(port, "durable.sub", "sub", 100_000);
    let mut sub = durable_subscription(port, "durable.sub", Durable::new("sub"));
    const N: u64 = 2000;
    for i in 0..N / 2 {
        sink.send(message(i)).await.expect("accepted");
    }
    sink.flush().await.expect("acknowledged");
    // Part of what is stored, then the server restarts: messages the consumer
    // delivered and the subscription did not hand out are not lost.
    let mut got = receive(&mut sub, 300).await;
    server.stop().await;
    let server = Server::start_js(port, monitor, &store).await;
    for i in N / 2..N {
        sink.send(message(i)).await.expect("accepted");
    }
    tokio::time::timeout(MESSAGE_WAIT, sink.flush())
        .await
        .expect("flush ends")
        .expect("acknowledged after the restart");
    got.extend(receive(&mut sub, (N - 300) as usize).await);
    assert_eq!(
        got,
        (0..N).collect::<Vec<_>>(),
        "everything once, in order, no gap"
    );
    // Nothing more is pending (no duplicates hidden behind the last one).
    let more = tokio::time::timeout(Duration::from_millis(500), sub.recv()).await;
    assert!(more.is_err(), "nothing after the last message: {more:?}");
    drop(server);
}

static GENERATED: sinkgen_runtime::__private::SinkSpec = sinkgen_runtime::__private::SinkSpec {
    service: "feed",
    sink: "ticks",
    target: "generated",
    endpoint: "nats://127.0.0.1:1/durable.generated",
    env: "SINKGEN_DURABLE_TEST_TICKS_ENDPOINT",
    framing: sinkgen_runtime::__private::Framing::LengthPrefixed,
    connect_timeout: Duration::from_secs(2),
    send_timeout: Duration::from_secs(10),
    queue: 64,
    backoff_initial: Duration::from_millis(10),
    backoff_max: Duration::from_millis(50),
    when_down: sinkgen_runtime::__private::WhenDown::Queue,
    max_frame: 16 << 20,
    durable: Some(sinkgen_runtime::__private::DurableSpec {
        duplicate_window: Duration::from_secs(30),
        storage: sinkgen_runtime::__private::Storage::Memory,
    }),
    credentials: None,
    tls: None,
};

#[tokio::test]
async fn generated_durable_sinks_publish_to_the_relays_stream() {
    if !server_available() {
        return;
    }
    let store = Store::new("generated");
    let server = Server::start_js(free_port(), free_port(), &store).await;
    let endpoint = format!("nats://127.0.0.1:{}/durable.generated", server.port);
    let sink: RelaySink<Bytes> = sinkgen_runtime::__private::relay_at(&GENERATED, &endpoint);
    sink.send(message(7)).await.expect("accepted");
    sink.flush().await.expect("acknowledged");
    let held = stored(server.port, "SINKGEN_generated").await;
    assert_eq!(held.iter().map(|(_, i)| *i).collect::<Vec<_>>(), [7]);
    let client = async_nats::connect(format!("127.0.0.1:{}", server.port))
        .await
        .expect("connect");
    let info = jetstream::new(client)
        .get_stream("SINKGEN_generated")
        .await
        .expect("the stream")
        .info()
        .await
        .expect("info")
        .config
        .clone();
    assert_eq!(info.duplicate_window, Duration::from_secs(30));
    assert_eq!(info.storage, jetstream::stream::StorageType::Memory);
    // An override to a socket cannot be durable: a fatal bad address, not a hang.
    let socket: RelaySink<Bytes> =
        sinkgen_runtime::__private::relay_at(&GENERATED, "tcp://127.0.0.1:9");
    socket
        .send(message(1))
        .await
        .expect_err("not a NATS endpoint");
    let error = socket.status().last_error.expect("the cause");
    assert!(
        error.to_string().contains("is durable (JetStream)"),
        "{error}"
    );
}

/// A three-node JetStream cluster on loopback: client ports, each node's own store.
struct Cluster {
    nodes: Vec<Option<Server>>,
    _stores: Vec<Store>,
}

impl Cluster {
    async fn start() -> Cluster {
        let ports: Vec<(u16, u16, u16)> = (0..3)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, _, c)| format!("nats://127.0.0.1:{c}"))
            .collect();
        let mut nodes = Vec::new();
        let mut stores = Vec::new();
        for (i, (port, monitor, cluster)) in ports.iter().enumerate() {
            let store = Store::new(&format!("cluster{i}"));
            let mut child = Command::new("nats-server")
                .args(["-js", "-sd"])
                .arg(&store.0)
                .args(["-a", "127.0.0.1", "-p", &port.to_string()])
                .args(["-m", &monitor.to_string()])
                .args(["-n", &format!("n{i}"), "--cluster_name", "sinkgen"])
                .args(["--cluster", &format!("nats://127.0.0.1:{cluster}")])
                .args(["--routes", &routes.join(",")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start a cluster node");
            let mut up = false;
            for _ in 0..PROBES {
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", *port)).await {
                    let mut info = [0u8; 4];
                    if s.read_exact(&mut info).await.is_ok() && &info == b"INFO" {
                        up = true;
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if !up {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cluster node {i} did not come up");
            }
            nodes.push(Some(Server {
                child,
                port: *port,
                monitor: *monitor,
            }));
            stores.push(store);
        }
        Cluster {
            nodes,
            _stores: stores,
        }
    }

    fn port(&self, i: usize) -> u16 {
        self.nodes[i].as_ref().expect("a running node").port
    }
}

/// Creates `name` on the cluster with three replicas, retrying while the cluster
/// elects its JetStream leader (bounded).
async fn create_replicated(port: u16, name: &str, subject: &str) {
    let client = async_nats::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connect to the cluster");
    let js = jetstream::new(client);
    for _ in 0..PROBES {
        let config = jetstream::stream::Config {
            name: name.to_owned(),
            subjects: vec![subject.to_owned()],
            num_replicas: 3,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        if js.get_or_create_stream(config).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the cluster did not create a replicated stream");
}

/// The node (index into [`Cluster::nodes`]) that leads stream `name`, asked at `port`.
async fn stream_leader(port: u16, name: &str) -> usize {
    let client = async_nats::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connect to the cluster");
    let js = jetstream::new(client);
    for _ in 0..PROBES {
        if let Ok(mut stream) = js.get_stream(name).await
            && let Ok(info) = stream.info().await
            && let Some(leader) = info.cluster.as_ref().and_then(|c| c.leader.as_deref())
            && let Some(n) = leader.strip_prefix('n').and_then(|n| n.parse().ok())
        {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stream {name} has no leader");
}

/// Around the stream leader's death a publish can be lost and published again after
/// later ones were stored: the stream may hold a producer's frames slightly out of
/// order (or, with some server versions, a resent frame twice). What the application
/// sees must not show it: the subscription, connected throughout, yields every frame
/// once, in order, with no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_relay_stream_leader_killed_the_subscriber_gets_each_frame_once_in_order() {
    if !server_available() {
        return;
    }
    let mut cluster = Cluster::start().await;
    create_replicated(cluster.port(0), "SINKGEN_replicated", "durable.replicated").await;
    let leader = stream_leader(cluster.port(0), "SINKGEN_replicated").await;
    // The sink and the subscription each talk to a node that stays up.
    let others: Vec<usize> = (0..3).filter(|&n| n != leader).collect();
    let (sink_port, sub_port) = (cluster.port(others[0]), cluster.port(others[1]));
    let sink = builder(sink_port, "durable.replicated", "replicated")
        .queue(100_000)
        .send_timeout(Duration::from_secs(30))
        .durable(Durable::new("replicated"))
        .relay::<Bytes>()
        .expect("build");
    let mut sub = durable_subscription(sub_port, "durable.replicated", Durable::new("replicated"));
    const N: u64 = 2000;
    // An election on a loaded host can take a while: each item may wait for one.
    let each = MESSAGE_WAIT * 3;
    let (first, got_first) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(async move {
        let mut got = receive_each(&mut sub, 1, each).await;
        let _ = first.send(());
        got.extend(receive_each(&mut sub, N as usize - 1, each).await);
        (got, sub)
    });
    // The subscription is connected (it has the first frame) before the leader dies.
    sink.send(message(0)).await.expect("accepted");
    tokio::time::timeout(each, got_first)
        .await
        .expect("the first frame reaches the subscription")
        .expect("the reader");
    for i in 1..N {
        if i == N / 2 {
            drop(cluster.nodes[leader].take());
        }
        sink.send(message(i)).await.expect("accepted");
    }
    tokio::time::timeout(MESSAGE_WAIT * 3, sink.flush())
        .await
        .expect("flush ends")
        .expect("every frame acknowledged");
    let status = sink.status();
    assert_eq!(status.frames_sent, N, "{status:?}");
    assert_eq!(status.lost.total(), 0, "{status:?}");
    let (got, mut sub) = reader.await.expect("the reader");
    assert_eq!(got, (0..N).collect::<Vec<_>>(), "{:?}", sub.status());
    let more = tokio::time::timeout(Duration::from_millis(500), sub.recv()).await;
    assert!(more.is_err(), "nothing after the last message: {more:?}");
    // The server lost nothing either: every frame is in the stream.
    let held = stored(sub_port, "SINKGEN_replicated").await;
    let kept: HashSet<u64> = held.iter().map(|(_, i)| *i).collect();
    assert_eq!(kept, (0..N).collect::<HashSet<_>>(), "every frame stored");
}
