//! Acknowledged delivery (framing `sinkgen`), with real sockets and a test receiver
//! speaking the protocol: frames are kept until acknowledged and written again to a
//! restarted receiver; the queue bound counts unacknowledged frames; a refusal shows
//! in `status()` and is retried under the backoff.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::receiver::{Behaviour, TcpReceiver, UnixReceiver};
use common::*;
use sinkgen_runtime::{Framing, RelaySink, SendErrorKind, SinkBuilder, protocol::Role};

fn builder(url: &str) -> SinkBuilder {
    SinkBuilder::new(url)
        .framing(Framing::Sinkgen)
        .backoff(Duration::from_millis(5), Duration::from_millis(20))
        .queue(1024)
}

/// A sinkgen sink to the Unix socket at `path`, once connected.
async fn connected(path: &std::path::Path) -> RelaySink<Vec<u8>> {
    let sink: RelaySink<Vec<u8>> = builder(&unix_url(path)).relay().unwrap();
    guard(
        "connect",
        sink.wait_connected(std::time::Instant::now() + GUARD),
    )
    .await
    .unwrap();
    sink
}

fn ids(frames: &[(u64, u64, Vec<u8>)]) -> Vec<u64> {
    frames.iter().map(|(_, _, p)| check_payload(p)).collect()
}

/// What the second receiver keeps, the frames the first had not acknowledged, all
/// once, and nothing lost.
async fn resent_after_restart(
    first: common::receiver::Shared,
    kill_first: impl std::future::Future<Output = ()>,
    restart: impl std::future::Future<Output = common::receiver::Shared>,
    sink: RelaySink<Vec<u8>>,
) {
    for id in 1..=100u64 {
        sink.send(payload(id, 32)).await.unwrap();
    }
    eventually("the first receiver has all 100 frames", || {
        first.lock().unwrap().frames.len() == 100
    })
    .await;
    eventually("acks of the first 40", || sink.status().frames_sent == 40).await;
    assert_eq!(sink.status().unacknowledged, 60);
    kill_first.await;
    let second = restart.await;
    guard("flush", sink.flush()).await.unwrap();
    let st = sink.status();
    assert_eq!(st.frames_sent, 100);
    assert_eq!(st.unacknowledged, 0);
    assert_eq!(st.lost.total(), 0);
    let (got, seqs) = {
        let seen = second.lock().unwrap();
        let seqs: Vec<u64> = seen.frames.iter().map(|f| f.1).collect();
        (ids(&seen.frames), seqs)
    };
    assert_eq!(got, (41..=100).collect::<Vec<_>>(), "resent in order, once");
    assert_eq!(seqs, (41..=100).collect::<Vec<_>>());
    let mut all: BTreeSet<u64> = ids(&first.lock().unwrap().frames).into_iter().collect();
    all.extend(got);
    assert_eq!(all.len(), 100, "none lost");
    sink.close().await;
}

#[tokio::test]
async fn unacknowledged_frames_are_resent_to_a_restarted_unix_receiver() {
    let dir = TempDir::new();
    let path = dir.sock("rx.sock");
    let acks_40 = Behaviour {
        ack_limit: Some(40),
        ..Behaviour::default()
    };
    let first = UnixReceiver::start(&path, acks_40);
    let seen = first.seen.clone();
    let sink = builder(&unix_url(&path))
        .identity("strategy", "market_data")
        .name("quotes")
        .relay()
        .unwrap();
    let p = path.clone();
    let restart = async move { UnixReceiver::start(&p, Behaviour::default()).seen };
    resent_after_restart(seen.clone(), first.kill(), restart, sink).await;
    let hello = seen.lock().unwrap().hellos[0].clone();
    assert_eq!(hello.role, Role::Producer);
    assert_eq!(
        (&*hello.service, &*hello.sink, &*hello.target),
        ("strategy", "quotes", "market_data")
    );
}

#[tokio::test]
async fn unacknowledged_frames_are_resent_to_a_restarted_tcp_receiver() {
    let acks_40 = Behaviour {
        ack_limit: Some(40),
        ..Behaviour::default()
    };
    let first = TcpReceiver::start("127.0.0.1:0", acks_40).await;
    let addr = first.addr;
    let seen = first.seen.clone();
    let sink = builder(&format!("tcp://{addr}"))
        .direct::<Vec<u8>>()
        .unwrap();
    let restart = async move {
        TcpReceiver::start(&addr.to_string(), Behaviour::default())
            .await
            .seen
    };
    for id in 1..=100u64 {
        sink.send(payload(id, 32)).await.unwrap();
    }
    eventually("the first receiver has all 100 frames", || {
        seen.lock().unwrap().frames.len() == 100
    })
    .await;
    eventually("acks of the first 40", || sink.status().frames_sent == 40).await;
    first.kill().await;
    let second = restart.await;
    guard("flush", sink.flush()).await.unwrap();
    assert_eq!(sink.status().frames_sent, 100);
    let got = ids(&second.lock().unwrap().frames);
    assert_eq!(got, (41..=100).collect::<Vec<_>>());
    let hello = seen.lock().unwrap().hellos[0].clone();
    assert_eq!(hello.role, Role::DirectSender);
    // Without an identity: the sink's name as the service, the endpoint as target.
    assert_eq!(hello.target, format!("tcp://{addr}"));
    assert_eq!(hello.service, hello.sink);
}

/// A receiver that reads and never acknowledges: the queue bound counts the
/// unacknowledged frames, so the next send waits and times out; close() returns
/// what was never acknowledged.
#[tokio::test]
async fn a_receiver_that_never_acks_holds_the_queue_bound() {
    let dir = TempDir::new();
    let path = dir.sock("rx.sock");
    let silent = Behaviour {
        ack_limit: Some(0),
        ..Behaviour::default()
    };
    let rx = UnixReceiver::start(&path, silent);
    let sink: RelaySink<Vec<u8>> = builder(&unix_url(&path))
        .queue(8)
        .send_timeout(Duration::from_millis(200))
        .relay()
        .unwrap();
    for id in 1..=8u64 {
        sink.send(payload(id, 16)).await.unwrap();
    }
    eventually("8 frames received", || {
        rx.seen.lock().unwrap().frames.len() == 8
    })
    .await;
    eventually("8 unacknowledged", || sink.status().unacknowledged == 8).await;
    let err = sink.send(payload(9, 16)).await.unwrap_err();
    assert_eq!(err.kind(), SendErrorKind::Timeout);
    assert!(matches!(
        sink.try_send(payload(9, 16)).unwrap_err().kind(),
        SendErrorKind::Full
    ));
    assert_eq!(sink.status().queue_depth, 8);
    assert_eq!(sink.status().frames_sent, 0);
    assert!(
        sink.flush().await.is_err(),
        "flush waits for acknowledgements"
    );
    let lost = guard("close", sink.close_with_linger(Duration::from_millis(50))).await;
    assert_eq!(lost, 8);
    let st = sink.status();
    assert_eq!(st.lost.unconfirmed, 8);
    assert_eq!(st.unacknowledged, 0);
    assert_eq!(st.queue_depth, 0);
    rx.kill().await;
}

/// A refusal shows in status() with its code and reason, and the sink retries under
/// its backoff: it does not reconnect in a hot loop.
#[tokio::test]
async fn a_refusal_is_shown_and_retried_under_the_backoff() {
    let dir = TempDir::new();
    let path = dir.sock("rx.sock");
    let refusing = Behaviour {
        refuse: Some((1, "sink `quotes` is not declared".into())),
        ..Behaviour::default()
    };
    let rx = UnixReceiver::start(&path, refusing);
    let sink: RelaySink<Vec<u8>> = SinkBuilder::new(unix_url(&path))
        .framing(Framing::Sinkgen)
        .backoff(Duration::from_millis(100), Duration::from_millis(100))
        .relay()
        .unwrap();
    sink.send(payload(1, 16)).await.unwrap();
    eventually("a second attempt", || {
        rx.seen.lock().unwrap().connections >= 2
    })
    .await;
    let st = sink.status();
    let error = st
        .last_error
        .expect("the refusal is the last error")
        .to_string();
    assert!(error.contains("code 1"), "{error}");
    assert!(error.contains("sink `quotes` is not declared"), "{error}");
    assert_eq!(st.frames_sent, 0);
    assert_eq!(st.queue_depth, 1, "the frame is kept for the next attempt");
    // With a backoff of at least 100 ms, 600 ms leave room for at most 7 attempts
    // (a slow machine makes fewer); a hot loop would make thousands.
    let before = rx.seen.lock().unwrap().connections;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = rx.seen.lock().unwrap().connections;
    assert!(after - before <= 7, "{} connects in 600 ms", after - before);
    assert_eq!(sink.close_with_linger(Duration::ZERO).await, 1);
    rx.kill().await;
}

/// A broken receiver acknowledges far more than it was sent: the frames written
/// after it are not counted sent on its word; they wait for an acknowledgement.
#[tokio::test]
async fn an_ack_beyond_what_was_sent_frees_nothing_more() {
    let dir = TempDir::new();
    let path = dir.sock("rx.sock");
    let broken = Behaviour {
        bogus_first_ack: Some(1_000_000),
        ..Behaviour::default()
    };
    let rx = UnixReceiver::start(&path, broken);
    let sink: RelaySink<Vec<u8>> = builder(&unix_url(&path)).relay().unwrap();
    sink.send(payload(1, 16)).await.unwrap();
    eventually("the first frame acknowledged", || {
        sink.status().frames_sent == 1
    })
    .await;
    for id in 2..=6u64 {
        sink.send(payload(id, 16)).await.unwrap();
    }
    eventually("6 frames received", || {
        rx.seen.lock().unwrap().frames.len() == 6
    })
    .await;
    eventually("5 unacknowledged", || sink.status().unacknowledged == 5).await;
    assert_eq!(sink.status().frames_sent, 1);
    assert_eq!(sink.close_with_linger(Duration::from_millis(20)).await, 5);
    rx.kill().await;
}

/// A burst on a connected sinkgen sink: frames queued behind others share the clock
/// reading of the first (at most 64 per reading), as torq frames do, and timestamps
/// never decrease.
#[tokio::test]
async fn a_burst_shares_clock_readings() {
    let dir = TempDir::new();
    let path = dir.sock("rx.sock");
    let rx = UnixReceiver::start(&path, Behaviour::default());
    let sink = connected(&path).await;
    // `send_all` queues the burst whole (no direct write) before the task runs.
    let sent = sink.send_all((1..=1000u64).map(|id| payload(id, 16))).await;
    assert_eq!(sent.unwrap(), 1000);
    guard("flush", sink.flush()).await.unwrap();
    let stamps = rx.seen.lock().unwrap().stamps.clone();
    assert_eq!(stamps.len(), 1000);
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "never decrease");
    let mut runs = vec![1usize];
    for w in stamps.windows(2) {
        if w[0] == w[1] {
            *runs.last_mut().unwrap() += 1;
        } else {
            runs.push(1);
        }
    }
    assert!(
        runs.len() <= 100,
        "{} clock readings for 1000 frames",
        runs.len()
    );
    assert!(
        runs.iter().all(|&n| n <= 64),
        "at most 64 frames per reading"
    );
    sink.close().await;
    rx.kill().await;
}

/// A bare peer on a thread of its own: answers each HELLO with WELCOME (`have` from
/// `haves`, one per connection), reports each data frame's sequence on `got`, and
/// acknowledges up to `ack` on its last connection once it has that frame. It closes
/// each connection but the last once it read `per_connection` frames on it, and
/// reads the last until the sink closes it.
fn bare_peer(
    listener: std::os::unix::net::UnixListener,
    haves: Vec<u64>,
    per_connection: usize,
    ack: u64,
    got: std::sync::mpsc::Sender<u64>,
) -> std::thread::JoinHandle<()> {
    use sinkgen_runtime::protocol::{self, Control, Kind};
    use std::io::{Read, Write};
    std::thread::spawn(move || {
        let last = haves.len() - 1;
        for (conn, have) in haves.into_iter().enumerate() {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let (mut buf, mut chunk, mut frames) = (Vec::new(), [0u8; 4096], 0);
            loop {
                let n = stream.read(&mut chunk).unwrap();
                if n == 0 {
                    assert_eq!(conn, last, "the sink closed connection {conn}");
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                let mut out = Vec::new();
                while let Some((frame, used)) =
                    protocol::decode(&buf, protocol::DEFAULT_MAX_FRAME).unwrap()
                {
                    let (kind, session, sequence) = (
                        frame.header.kind,
                        frame.header.session,
                        frame.header.sequence,
                    );
                    buf.drain(..used);
                    if kind == Kind::Hello {
                        let version = protocol::VERSION;
                        Control::Welcome {
                            session: 1,
                            have,
                            version,
                        }
                        .append(&mut out, 0);
                        continue;
                    }
                    frames += 1;
                    got.send(sequence).unwrap();
                    if conn == last && sequence == ack {
                        Control::Ack { session, sequence }.append(&mut out, 0);
                    }
                }
                stream.write_all(&out).unwrap();
                if conn < last && frames == per_connection {
                    break;
                }
            }
        }
    })
}

/// Sparse frames on an acknowledged connection go out as their senders' own writes,
/// as with the other framings (no wake-up of the connection task on the way): on a
/// single-threaded runtime, the peer reads each one while the sender's thread is
/// blocked right after `send` returned. They are kept until acknowledged all the
/// same: shown as unacknowledged, written again after the connection drops (WELCOME's
/// `have` settles the one the peer kept), and counted sent once acknowledged.
#[test]
fn sparse_frames_are_written_by_their_senders_and_kept_until_acknowledged() {
    let dir = TempDir::new();
    let path = dir.sock("rx.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (tx, got) = std::sync::mpsc::channel();
    // First connection: three frames, then closed; the second has frame 1 already
    // and acknowledges frame 3.
    let peer = bare_peer(listener, vec![0, 1], 3, 3, tx);
    let next = || got.recv_timeout(Duration::from_secs(20)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sink = connected(&path).await;
        for id in 1..=3u64 {
            // Sparse: well after the last write, with the task idle.
            tokio::time::sleep(Duration::from_millis(5)).await;
            sink.send(payload(id, 16)).await.unwrap();
            // This thread is the runtime's only one: the task cannot run until the
            // next await, so a frame the peer reads now was written by the sender.
            assert_eq!(next(), id, "frame {id} written by its sender");
        }
        let st = sink.status();
        assert_eq!((st.unacknowledged, st.frames_sent), (3, 0));
        // The peer closes; the sink reconnects, frame 1 settles by WELCOME, 2 and 3
        // are written again, and the ACK of 3 settles them.
        guard("flush", sink.flush()).await.unwrap();
        assert_eq!((next(), next()), (2, 3), "written again, in order");
        let st = sink.status();
        assert_eq!((st.unacknowledged, st.frames_sent), (0, 3));
        assert_eq!(st.lost.total(), 0);
        assert_eq!(sink.close().await, 0);
    });
    peer.join().unwrap();
}

/// The whole frames at the front of `buf`, taken out of it: their kinds, sessions
/// and sequences.
fn take_frames(buf: &mut Vec<u8>) -> Vec<(sinkgen_runtime::protocol::Kind, u64, u64)> {
    use sinkgen_runtime::protocol;
    let mut got = Vec::new();
    while let Some((frame, used)) = protocol::decode(buf, protocol::DEFAULT_MAX_FRAME).unwrap() {
        let h = frame.header;
        got.push((h.kind, h.session, h.sequence));
        buf.drain(..used);
    }
    got
}

/// Reads whole frames from `s` (with what `buf` holds from earlier reads) until `n`
/// came: their kinds, sessions and sequences.
fn frames_from(
    s: &mut std::os::unix::net::UnixStream,
    buf: &mut Vec<u8>,
    n: usize,
) -> Vec<(sinkgen_runtime::protocol::Kind, u64, u64)> {
    use std::io::Read;
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        got.extend(take_frames(buf));
        if got.len() >= n {
            return got;
        }
        let read = s.read(&mut chunk).unwrap();
        assert!(read > 0, "the sink closed the connection after {got:?}");
        buf.extend_from_slice(&chunk[..read]);
    }
}

/// A new session's first frames follow its HELLO without waiting for the answer
/// (early data: no peer can have any of them). A later connection of the session
/// says HELLO and waits for WELCOME before it writes again what it keeps, as the
/// peer may have some of it.
#[tokio::test]
async fn a_new_session_writes_behind_hello_and_a_later_connection_waits_for_welcome() {
    use sinkgen_runtime::protocol::{Control, Kind};
    use std::io::{ErrorKind, Read, Write};
    let dir = TempDir::new();
    let path = dir.sock("rx.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let peer = std::thread::spawn(move || {
        // First connection: HELLO and frame 1 before any answer; then it closes
        // without one.
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(GUARD)).unwrap();
        let mut buf = Vec::new();
        let first = frames_from(&mut s, &mut buf, 2);
        let session = first[0].1;
        assert_eq!(first[0].0, Kind::Hello);
        assert_eq!(first[1..], [(Kind::Data, session, 1)]);
        drop(s);
        // Second connection: HELLO, then nothing until WELCOME.
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(GUARD)).unwrap();
        let mut buf = Vec::new();
        let hello = frames_from(&mut s, &mut buf, 1);
        assert_eq!(
            hello,
            [(Kind::Hello, session, 1)],
            "HELLO names frame 1 next"
        );
        assert!(buf.is_empty(), "bytes behind the second HELLO: {buf:?}");
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let quiet = s.read(&mut [0u8; 64]);
        assert!(
            matches!(&quiet, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
            "the sink wrote before WELCOME: {quiet:?}"
        );
        s.set_read_timeout(Some(GUARD)).unwrap();
        let mut out = Vec::new();
        Control::Welcome {
            session: 1,
            have: 0,
            version: 1,
        }
        .append(&mut out, 0);
        s.write_all(&out).unwrap();
        let again = frames_from(&mut s, &mut buf, 1);
        assert_eq!(again, [(Kind::Data, session, 1)], "frame 1 written again");
        out.clear();
        Control::Ack {
            session,
            sequence: 1,
        }
        .append(&mut out, 0);
        s.write_all(&out).unwrap();
        // Until the sink closes.
        let _ = s.read_to_end(&mut Vec::new());
    });
    let sink: RelaySink<Vec<u8>> = builder(&unix_url(&path)).relay().unwrap();
    sink.send(payload(1, 16)).await.unwrap();
    guard("flush", sink.flush()).await.unwrap();
    let st = sink.status();
    assert_eq!(
        (st.frames_sent, st.unacknowledged, st.lost.total()),
        (1, 0, 0)
    );
    assert_eq!(sink.close().await, 0);
    tokio::task::spawn_blocking(move || peer.join().unwrap())
        .await
        .unwrap();
}

/// A peer that takes the frames behind HELLO but never answers (it does not speak
/// the protocol) fails the connection at the connect timeout, as it would without
/// early data; the frames stay kept and go to the next connection.
#[tokio::test]
async fn a_peer_that_never_answers_hello_fails_the_connection_at_the_connect_timeout() {
    use tokio::io::AsyncReadExt;
    let dir = TempDir::new();
    let path = dir.sock("rx.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let sink: RelaySink<Vec<u8>> = builder(&unix_url(&path))
        .connect_timeout(Duration::from_millis(200))
        .relay()
        .unwrap();
    for id in 1..=3u64 {
        sink.send(payload(id, 16)).await.unwrap();
    }
    let (mut silent, _) = guard("accept", listener.accept()).await.unwrap();
    let read = guard("the sink gives up on the silent peer", async {
        let mut all = Vec::new();
        silent.read_to_end(&mut all).await.map(|_| all)
    })
    .await
    .expect("the sink closes the connection");
    let mut read = read;
    let came: Vec<_> = take_frames(&mut read).iter().map(|f| (f.0, f.2)).collect();
    use sinkgen_runtime::protocol::Kind;
    assert_eq!(
        came,
        [
            (Kind::Hello, 1),
            (Kind::Data, 1),
            (Kind::Data, 2),
            (Kind::Data, 3)
        ],
        "HELLO and the three frames behind it"
    );
    assert!(read.is_empty(), "a torn frame: {read:?}");
    let error = sink.status().last_error.expect("an error").to_string();
    assert!(error.contains("did not answer HELLO"), "{error}");
    drop(listener);
    let rx = UnixReceiver::start(&path, Behaviour::default());
    guard("flush", sink.flush()).await.unwrap();
    assert_eq!(ids(&rx.seen.lock().unwrap().frames), [1, 2, 3]);
    assert_eq!(sink.status().lost.total(), 0);
    assert_eq!(sink.close().await, 0);
    rx.kill().await;
}

/// Over TCP, a refused sink that wrote frames behind its HELLO still reads the
/// REFUSE: its code and reason show in `status()`, and the frames stay queued.
#[tokio::test]
async fn a_refusal_reaches_a_tcp_sink_that_wrote_behind_its_hello() {
    let refusing = Behaviour {
        refuse: Some((1, "sink `quotes` is not declared".into())),
        ..Behaviour::default()
    };
    let rx = TcpReceiver::start("127.0.0.1:0", refusing).await;
    let sink: RelaySink<Vec<u8>> = builder(&format!("tcp://{}", rx.addr))
        .backoff(Duration::from_millis(100), Duration::from_millis(100))
        .relay()
        .unwrap();
    for id in 1..=200u64 {
        sink.send(payload(id, 1024)).await.unwrap();
    }
    eventually("the refusal shown", || {
        sink.status()
            .last_error
            .is_some_and(|e| e.to_string().contains("sink `quotes` is not declared"))
    })
    .await;
    let st = sink.status();
    assert!(
        st.last_error
            .as_ref()
            .unwrap()
            .to_string()
            .contains("code 1")
    );
    assert_eq!(st.frames_sent, 0);
    assert_eq!(st.queue_depth, 200, "none lost: {st:?}");
    assert_eq!(sink.close_with_linger(Duration::ZERO).await, 200);
    rx.kill().await;
}
