//! Fault injection over real sockets: dead, closing, slow, missing and refusing peers;
//! cancelled sends; close and drop while frames are queued. Every test asserts counts.

mod common;

use std::time::{Duration, Instant};

use common::*;
use sinkgen_runtime::{RelaySink, SendErrorKind, SinkBuilder, State};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UnixListener};

/// Sends ids 0..10 (64 B), id 10 (`big` bytes) and ids 11..21 (64 B); the first peer
/// reads the ten small frames and the first MiB of the big one, then dies. The big
/// frame is torn on the dead connection; the new connection must start with it whole.
async fn killed_mid_stream<L, S, A>(sink: RelaySink<Vec<u8>>, accept: A, big: usize)
where
    A: Fn() -> L,
    L: std::future::Future<Output = S>,
    S: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    for id in 0..10u64 {
        sink.send(payload(id, 64)).await.unwrap();
    }
    sink.send(payload(10, big)).await.unwrap();
    for id in 11..21u64 {
        sink.send(payload(id, 64)).await.unwrap();
    }
    let mut first = guard("accept 1", accept()).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(check_payload(
            &guard("read", read_lp(&mut first)).await.unwrap(),
        ));
    }
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
    let mut partial = vec![0u8; 1 << 20];
    guard("read partial", first.read_exact(&mut partial))
        .await
        .unwrap();
    drop(first); // killed with unread data: the kernel resets the connection

    let mut second = guard("accept 2", accept()).await;
    let reader = tokio::spawn(async move { read_lp_to_eof(&mut second).await });
    guard("flush", sink.flush()).await.unwrap();
    assert_eq!(guard("close", sink.close()).await, 0);
    let (frames, torn) = guard("read 2", reader).await.unwrap();
    assert_eq!(torn, 0, "no torn frame on the new connection");
    let ids: Vec<u64> = frames.iter().map(|f| check_payload(f)).collect();
    assert_eq!(
        ids,
        (10..21).collect::<Vec<_>>(),
        "resent from the torn frame, no duplicates"
    );
    assert_eq!(frames[0].len(), big);

    let st = sink.status();
    assert_eq!(st.connect_attempts, 2);
    assert_eq!(st.frames_sent, 21, "each frame counted sent exactly once");
    assert_eq!(
        st.lost.total(),
        0,
        "nothing lost: the torn frame was written again"
    );
    assert!(st.last_error.unwrap().is_retryable());
}

#[tokio::test]
async fn peer_killed_mid_stream_uds() {
    let dir = TempDir::new();
    let path = dir.sock("kill.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink = SinkBuilder::new(unix_url(&path))
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .send_timeout(GUARD)
        .relay()
        .unwrap();
    let accept = || async { listener.accept().await.unwrap().0 };
    // 4 MiB: far more than a Unix socket buffers, so the frame is mid-write at the kill.
    killed_mid_stream(sink, accept, 4 << 20).await;
}

#[tokio::test]
async fn peer_killed_mid_stream_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink = SinkBuilder::new(format!("tcp://{}", listener.local_addr().unwrap()))
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .send_timeout(GUARD)
        .max_frame(128 << 20)
        .relay()
        .unwrap();
    let accept = || async { listener.accept().await.unwrap().0 };
    // 64 MiB: more than loopback TCP buffers hold even fully grown.
    killed_mid_stream(sink, accept, 64 << 20).await;
}

/// A peer that reads everything and closes cleanly: the sink notices the EOF,
/// reconnects, and later frames arrive on the new connection; nothing is lost.
#[tokio::test]
async fn peer_closes_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink: RelaySink<Vec<u8>> =
        SinkBuilder::new(format!("tcp://{}", listener.local_addr().unwrap()))
            .backoff(Duration::from_millis(1), Duration::from_millis(5))
            .relay()
            .unwrap();
    for id in 0..50u64 {
        sink.send(payload(id, 100)).await.unwrap();
    }
    let (mut first, _) = guard("accept 1", listener.accept()).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..50 {
        ids.push(check_payload(
            &guard("read", read_lp(&mut first)).await.unwrap(),
        ));
    }
    assert_eq!(ids, (0..50).collect::<Vec<_>>());
    drop(first); // everything read: a clean FIN

    let (mut second, _) = guard("accept 2", listener.accept()).await.unwrap();
    eventually("reconnected", || {
        let st = sink.status();
        st.connect_attempts == 2 && st.state == State::Connected
    })
    .await;
    let err = sink.status().last_error.expect("the close is recorded");
    assert!(err.is_retryable());
    assert_eq!(err.io_kind(), std::io::ErrorKind::UnexpectedEof);
    for id in 50..100u64 {
        sink.send(payload(id, 100)).await.unwrap();
    }
    assert_eq!(guard("close", sink.close()).await, 0);
    let (frames, torn) = guard("read 2", read_lp_to_eof(&mut second)).await;
    assert_eq!(torn, 0);
    let ids: Vec<u64> = frames.iter().map(|f| check_payload(f)).collect();
    assert_eq!(ids, (50..100).collect::<Vec<_>>());
    let st = sink.status();
    assert_eq!(st.frames_sent, 100);
    assert_eq!(st.lost.total(), 0);
}

/// A peer that never reads: the sink holds at most `queue` waiting frames plus one
/// batch; then `send` fails after `send_timeout` with the message returned, and
/// `try_send` fails at once. Accounting: sent + lost at close == accepted.
#[tokio::test]
async fn slow_peer_bounded_and_send_times_out() {
    const QUEUE: usize = 8;
    let dir = TempDir::new();
    let path = dir.sock("slow.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .queue(QUEUE)
        .send_timeout(Duration::from_millis(50))
        .relay()
        .unwrap();
    let accept = tokio::spawn(async move { listener.accept().await.unwrap().0 });
    let mut accepted = 0u64;
    let mut refused = None;
    for id in 0..10_000u64 {
        match sink.send(payload(id, 64 << 10)).await {
            Ok(()) => accepted += 1,
            Err(e) => {
                refused = Some((id, e));
                break;
            }
        }
    }
    let (id, err) = refused.expect("a peer that never reads must make send fail");
    assert_eq!(err.kind(), SendErrorKind::Timeout);
    assert_eq!(
        check_payload(&err.into_message()),
        id,
        "the message comes back"
    );
    let st = sink.status();
    assert_eq!(st.state, State::Connected);
    assert!(
        st.queue_depth <= 2 * QUEUE,
        "bounded: {} frames held",
        st.queue_depth
    );
    assert!(st.queue_depth >= QUEUE, "the queue really was full");
    assert_eq!(accepted, st.frames_sent + st.queue_depth as u64);

    let err = sink.try_send(payload(99_999, 8)).unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Full);
    assert_eq!(check_payload(err.message()), 99_999);

    let undelivered = guard("close", sink.close_with_linger(Duration::from_millis(20))).await;
    let st = sink.status();
    assert_eq!(undelivered, st.lost.closed);
    assert!(undelivered >= QUEUE as u64);
    assert_eq!(
        st.frames_sent + undelivered,
        accepted,
        "every accepted frame is accounted for"
    );
    // The peer sees the sent frames whole; only the frame cut at the linger deadline
    // may be torn at the very end of the dead stream.
    let mut peer = accept.await.unwrap();
    let (frames, _torn) = guard("read", read_lp_to_eof(&mut peer)).await;
    assert_eq!(frames.len() as u64, st.frames_sent);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(check_payload(f), i as u64);
    }
}

/// A missing or refusing peer is retried under backoff, never in a hot loop: over any
/// window the attempts are bounded by window / backoff.initial (+2 for the edges).
async fn no_hot_loop(sink: RelaySink<Vec<u8>>, initial: Duration, kind: std::io::ErrorKind) {
    sink.send(payload(0, 8)).await.unwrap();
    eventually("a few attempts", || sink.status().connect_attempts >= 3).await;
    let start = Instant::now();
    let first = sink.status().connect_attempts;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attempts = sink.status().connect_attempts - first;
    let bound = 2 + (start.elapsed().as_nanos() / initial.as_nanos()) as u64;
    assert!(
        attempts <= bound,
        "{attempts} attempts in the window, bound {bound}"
    );
    let mut st = sink.status();
    for _ in 0..10_000 {
        if st.state == State::Backoff {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        st = sink.status();
    }
    assert_eq!(st.state, State::Backoff);
    assert!(st.next_retry.is_some(), "the next attempt time is reported");
    assert!(st.last_error_at.is_some() && st.since <= Instant::now());
    let err = st.last_error.expect("error recorded");
    assert!(err.is_retryable());
    assert_eq!(err.io_kind(), kind);
    assert_eq!(st.queue_depth, 1, "the frame is still queued");
    assert_eq!(
        guard("close", sink.close_with_linger(Duration::from_millis(1))).await,
        1
    );
    assert_eq!(sink.status().lost.closed, 1);
}

#[tokio::test]
async fn missing_peer_does_not_hot_loop() {
    let dir = TempDir::new();
    let initial = Duration::from_millis(10);
    let sink = SinkBuilder::new(unix_url(&dir.sock("nobody.sock")))
        .backoff(initial, Duration::from_millis(40))
        .relay()
        .unwrap();
    no_hot_loop(sink, initial, std::io::ErrorKind::NotFound).await;
}

#[tokio::test]
async fn refused_peer_does_not_hot_loop() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let initial = Duration::from_millis(10);
    let sink = SinkBuilder::new(format!("tcp://{addr}"))
        .backoff(initial, Duration::from_millis(40))
        .relay()
        .unwrap();
    no_hot_loop(sink, initial, std::io::ErrorKind::ConnectionRefused).await;
}

/// Sends cancelled while waiting for room queue nothing; the stream stays whole and
/// carries exactly the frames whose send returned `Ok`, in order.
#[tokio::test]
async fn cancelled_sends_leave_the_stream_whole() {
    let dir = TempDir::new();
    let path = dir.sock("cancel.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .queue(4)
        .send_timeout(Duration::from_secs(30))
        .relay()
        .unwrap();
    let accept = tokio::spawn(async move { listener.accept().await.unwrap().0 });
    let mut ok = Vec::new();
    let mut cancelled = 0;
    // The peer does not read yet: sends soon wait for room and get cancelled.
    for id in 0..10_000u64 {
        match tokio::time::timeout(Duration::from_millis(5), sink.send(payload(id, 32 << 10))).await
        {
            Ok(Ok(())) => ok.push(id),
            Ok(Err(e)) => panic!("unexpected send error {e}"),
            Err(_) => {
                cancelled += 1;
                if cancelled == 20 {
                    break;
                }
            }
        }
    }
    assert_eq!(cancelled, 20, "sends were cancelled while waiting");
    let mut peer = accept.await.unwrap();
    let reader = tokio::spawn(async move { read_lp_to_eof(&mut peer).await });
    for id in 20_000..20_010u64 {
        guard("send", sink.send(payload(id, 32 << 10)))
            .await
            .unwrap();
        ok.push(id);
    }
    assert_eq!(guard("close", sink.close()).await, 0);
    let (frames, torn) = guard("read", reader).await.unwrap();
    assert_eq!(torn, 0);
    let ids: Vec<u64> = frames.iter().map(|f| check_payload(f)).collect();
    assert_eq!(ids, ok, "exactly the accepted frames, in order");
    assert_eq!(sink.status().frames_sent, ok.len() as u64);
}

/// `close()` with a missing peer returns within its linger, reports every queued
/// frame as not delivered, and the sink refuses later sends with the message back.
#[tokio::test]
async fn close_within_linger_counts_undelivered() {
    let dir = TempDir::new();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&dir.sock("gone.sock")))
        .backoff(Duration::from_millis(5), Duration::from_millis(10))
        .relay()
        .unwrap();
    for id in 0..5u64 {
        sink.send(payload(id, 16)).await.unwrap();
    }
    let undelivered = guard("close", sink.close_with_linger(Duration::from_millis(50))).await;
    assert_eq!(undelivered, 5);
    let st = sink.status();
    assert_eq!(st.lost.closed, 5);
    assert_eq!(st.queue_depth, 0);
    assert_eq!(st.state, State::Closed);
    let err = sink.send(payload(7, 16)).await.unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Closed);
    assert_eq!(check_payload(&err.into_message()), 7);
    let err = sink.try_send(payload(8, 16)).unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Closed);
    assert_eq!(guard("second close", sink.close()).await, 0);
}

/// A peer that comes up during close's linger still gets the queued frames.
#[tokio::test]
async fn close_delivers_when_peer_arrives_within_linger() {
    let dir = TempDir::new();
    let path = dir.sock("late-close.sock");
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .backoff(Duration::from_millis(2), Duration::from_millis(5))
        .relay()
        .unwrap();
    for id in 0..5u64 {
        sink.send(payload(id, 16)).await.unwrap();
    }
    eventually("an attempt", || sink.status().connect_attempts >= 1).await;
    let listener = UnixListener::bind(&path).unwrap();
    let close = {
        let sink = sink.clone();
        tokio::spawn(async move { sink.close_with_linger(GUARD).await })
    };
    let (mut s, _) = guard("accept", listener.accept()).await.unwrap();
    assert_eq!(guard("close", close).await.unwrap(), 0);
    let (frames, torn) = guard("read", read_lp_to_eof(&mut s)).await;
    assert_eq!(torn, 0);
    assert_eq!(
        frames.iter().map(|f| check_payload(f)).collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );
}

/// Dropping the last handle while the sink waits between connect attempts ends its
/// task.
#[tokio::test(flavor = "current_thread")]
async fn dropping_sink_in_backoff_stops_its_task() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let dir = TempDir::new();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&dir.sock("none.sock")))
        .backoff(Duration::from_secs(5), Duration::from_secs(10))
        .relay()
        .unwrap();
    sink.send(payload(1, 8)).await.unwrap();
    eventually("backoff", || sink.status().state == State::Backoff).await;
    assert_eq!(metrics.num_alive_tasks(), baseline + 1);
    drop(sink);
    eventually("task gone", || metrics.num_alive_tasks() == baseline).await;
}

/// Dropping the last handle while a connect attempt hangs (a listener whose accept
/// backlog is full drops the handshake) ends its task at once.
#[tokio::test(flavor = "current_thread")]
async fn dropping_sink_mid_connect_stops_its_task() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    // Fill the backlog until a connect no longer completes.
    let mut fillers = Vec::new();
    let mut hung = false;
    for _ in 0..64 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => fillers.push(s),
            Ok(Err(e)) => panic!("filler connect failed: {e}"),
            Err(_) => {
                hung = true;
                break;
            }
        }
    }
    assert!(hung, "a full backlog makes connects hang");

    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(format!("tcp://{addr}"))
        .connect_timeout(Duration::from_secs(60))
        .relay()
        .unwrap();
    sink.send(payload(1, 8)).await.unwrap();
    eventually("connecting", || sink.status().state == State::Connecting).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(sink.status().state, State::Connecting, "the attempt hangs");
    assert_eq!(metrics.num_alive_tasks(), baseline + 1);
    drop(sink);
    eventually("task gone", || metrics.num_alive_tasks() == baseline).await;
    drop(fillers);
}

/// Sparse frames are written by the sender itself while the connection task is idle.
/// A large sparse frame that only partly fits in the socket buffer is finished by the
/// task; when the peer dies in the middle of it, the frame is written whole on the
/// next connection, followed by the frames queued behind it.
#[tokio::test]
async fn peer_killed_during_a_direct_write() {
    let dir = TempDir::new();
    let path = dir.sock("direct.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
        .send_timeout(GUARD)
        .relay()
        .unwrap();
    guard("connect", sink.wait_connected(Instant::now() + GUARD))
        .await
        .unwrap();
    let (mut first, _) = guard("accept 1", listener.accept()).await.unwrap();
    // Sparse small frames: each one goes straight out.
    for id in 0..5u64 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        sink.send(payload(id, 64)).await.unwrap();
        let got = guard("read", read_lp(&mut first)).await.unwrap();
        assert_eq!(check_payload(&got), id);
    }
    // A sparse large frame, then a few more behind it.
    tokio::time::sleep(Duration::from_millis(2)).await;
    sink.send(payload(5, 4 << 20)).await.unwrap();
    for id in 6..10u64 {
        sink.send(payload(id, 64)).await.unwrap();
    }
    let mut partial = vec![0u8; 1 << 20];
    guard("read partial", first.read_exact(&mut partial))
        .await
        .unwrap();
    drop(first);
    let (mut second, _) = guard("accept 2", listener.accept()).await.unwrap();
    let reader = tokio::spawn(async move { read_lp_to_eof(&mut second).await });
    guard("flush", sink.flush()).await.unwrap();
    assert_eq!(guard("close", sink.close()).await, 0);
    let (frames, torn) = guard("read 2", reader).await.unwrap();
    assert_eq!(torn, 0);
    let ids: Vec<u64> = frames.iter().map(|f| check_payload(f)).collect();
    assert_eq!(ids, (5..10).collect::<Vec<_>>());
    let st = sink.status();
    assert_eq!(st.frames_sent, 10);
    assert_eq!(st.connect_attempts, 2);
    assert_eq!(st.lost.total(), 0);
}

/// Sparse frames and bursts, interleaved from several tasks, over TCP: every frame
/// arrives whole exactly once, and each task's frames in its own order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparse_and_burst_senders_interleave() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink: RelaySink<Vec<u8>> =
        SinkBuilder::new(format!("tcp://{}", listener.local_addr().unwrap()))
            .queue(64)
            .send_timeout(GUARD)
            .relay()
            .unwrap();
    let reader = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        read_lp_to_eof(&mut s).await
    });
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let sink = sink.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..300u64 {
                sink.send(payload(t << 32 | i, 16 + (i as usize % 64)))
                    .await
                    .unwrap();
                if (i + t) % 7 == 0 {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
        }));
    }
    for t in tasks {
        guard("sender", t).await.unwrap();
    }
    assert_eq!(guard("close", sink.close()).await, 0);
    let (frames, torn) = guard("read", reader).await.unwrap();
    assert_eq!(torn, 0);
    assert_eq!(frames.len(), 1200);
    let mut next = [0u64; 4];
    for f in &frames {
        let id = check_payload(f);
        let (t, i) = ((id >> 32) as usize, id & 0xffff_ffff);
        assert_eq!(i, next[t], "task {t} in order, no duplicates");
        next[t] += 1;
    }
    assert_eq!(sink.status().frames_sent, 1200);
}

/// A Unix listener whose backlog is full makes a non-blocking connect fail with
/// `WouldBlock`: retryable, so the sink connects once the listener catches up.
#[tokio::test]
async fn unix_connect_would_block_is_retryable() {
    let dir = TempDir::new();
    let path = dir.sock("backlog.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut fillers = Vec::new();
    let mut full = false;
    for _ in 0..5_000 {
        match tokio::net::UnixStream::connect(&path).await {
            Ok(s) => fillers.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                full = true;
                break;
            }
            Err(e) => panic!("filler connect: {e}"),
        }
    }
    assert!(full, "the backlog filled up");
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .backoff(Duration::from_millis(2), Duration::from_millis(10))
        .relay()
        .unwrap();
    sink.send(payload(42, 16)).await.unwrap();
    eventually("a refused attempt", || sink.status().last_error.is_some()).await;
    let err = sink.status().last_error.unwrap();
    assert_eq!(err.io_kind(), std::io::ErrorKind::WouldBlock);
    assert!(err.is_retryable());
    // Drain the backlog: the fillers first, then the sink's connection.
    let fillers_len = fillers.len();
    drop(fillers);
    let peer = tokio::spawn(async move {
        for _ in 0..fillers_len + 64 {
            let (mut s, _) = listener.accept().await.unwrap();
            if let Some(frame) = read_lp(&mut s).await {
                return check_payload(&frame);
            }
        }
        panic!("the sink never connected");
    });
    assert_eq!(guard("peer", peer).await.unwrap(), 42);
    assert_eq!(sink.close().await, 0);
}
