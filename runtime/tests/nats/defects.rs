//! NATS servers configured the way operators run them: accounts with publish
//! permissions, a small `max_payload`, TLS; and a frozen server in front of a small
//! queue. Each test writes its server's configuration file into a directory of its
//! own.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use sinkgen_runtime::SendErrorKind;

use super::*;

/// A fresh directory under the system's temporary directory, removed on drop.
pub(super) struct TempDir(pub(super) PathBuf);

impl TempDir {
    pub(super) fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sinkgen-nats-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Server {
    /// A server on 127.0.0.1 with `config` (nats-server's configuration syntax) added
    /// to its listen and monitoring addresses; the file lives in `dir`.
    pub(super) async fn with_config(dir: &TempDir, config: &str) -> Server {
        let (port, monitor) = (free_port(), free_port());
        let path = dir.0.join("server.conf");
        let text = format!("listen: 127.0.0.1:{port}\nhttp: 127.0.0.1:{monitor}\n{config}\n");
        std::fs::write(&path, text).expect("write the server's configuration");
        let child = Command::new("nats-server")
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        Server::ready(child, port, monitor).await
    }
}

/// The account of clients that give no credentials may publish anywhere but under
/// `denied.>`; the test's subscriber has an account of its own.
const DENY_CONFIG: &str = r#"
authorization {
  users = [
    { user: "sink", password: "s", permissions: { publish: { deny: ["denied.>"] } } }
    { user: "reader", password: "r" }
  ]
}
no_auth_user: "sink"
"#;

/// A run against a subject the server refuses: send `n` frames, flush, wait for the
/// sink to fail, close. Returns (sends that returned Ok, the final status, messages
/// a subscriber received).
async fn denied_run(server: &Server, n: u64, run: u64) -> (u64, sinkgen_runtime::Status, u64) {
    let subject = format!("denied.run{run}");
    let mut sub = Subscriber::as_user(server, ("reader", "r"), &subject).await;
    let sink: RelaySink<Bytes> = builder(server.port, &subject, "denied_sink")
        .queue(4096)
        .relay()
        .expect("valid endpoint");
    let mut ok = 0;
    for i in 1..=n {
        if sink.send(message(i)).await.is_ok() {
            ok += 1;
        }
        let status = sink.status();
        assert_eq!(
            status.frames_sent, 0,
            "run {run}: a refused frame counted as sent"
        );
    }
    let flushed = sink.flush().await;
    let status = sink.status();
    assert_eq!(
        status.frames_sent, 0,
        "run {run}: flush {flushed:?}: {status:?}"
    );
    for _ in 0..PROBES {
        if sink.status().state == State::Failed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sink.close().await;
    let received = sub.drain().await.len() as u64;
    (ok, sink.status(), received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_subject_frames_never_count_as_sent() {
    if !server_available() {
        return;
    }
    let dir = TempDir::new();
    let server = Server::with_config(&dir, DENY_CONFIG).await;
    let mut run = 0;
    for n in [1u64, 2_000] {
        for _ in 0..3 {
            run += 1;
            let (ok, status, received) = denied_run(&server, n, run).await;
            assert_eq!(status.state, State::Failed, "run {run}: {status:?}");
            let error = status.last_error.as_ref().map(ToString::to_string);
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("Permissions Violation")),
                "run {run}: {error:?}"
            );
            assert_eq!(received, 0, "run {run}");
            assert_eq!(status.frames_sent, 0, "run {run}: {status:?}");
            assert!(
                received + status.lost.total() >= ok,
                "run {run}: {ok} sends returned Ok, received {received}: {status:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_privilege_account_publishing_only_its_subject_delivers_everything() {
    if !server_available() {
        return;
    }
    const N: u64 = 2_000;
    let subject = "least.privilege";
    // The sink's account may publish on its subject and nothing else, and subscribe
    // to nothing; the test's subscriber has an account of its own.
    let config = format!(
        r#"
authorization {{
  users = [
    {{ user: "sink", password: "s", permissions: {{ publish: {{ allow: ["{subject}"] }}, subscribe: {{ deny: [">"] }} }} }}
    {{ user: "reader", password: "r" }}
  ]
}}
no_auth_user: "sink"
"#
    );
    let dir = TempDir::new();
    let server = Server::with_config(&dir, &config).await;
    let mut sub = Subscriber::as_user(&server, ("reader", "r"), subject).await;
    let sink: RelaySink<Bytes> = builder(server.port, subject, "least_sink")
        .relay()
        .expect("valid endpoint");
    for i in 1..=N {
        sink.send(message(i)).await.expect("accepted");
    }
    sink.flush().await.expect("flushed under least privilege");
    let got = sub.exactly(N as usize).await;
    for (i, payload) in (1..=N).zip(&got) {
        assert_eq!(payload, &message(i), "message {i}");
    }
    let status = sink.status();
    assert_eq!(status.state, State::Connected, "{status:?}");
    assert_eq!(status.frames_sent, N);
    assert_eq!(status.lost.total(), 0, "{status:?}");
    assert_eq!(sink.close().await, 0);
}

/// A message of `len` bytes, numbered `i` in its first 8 bytes.
fn sized(i: u64, len: usize) -> Bytes {
    let mut m = vec![(i % 251) as u8; len];
    m[..8].copy_from_slice(&i.to_le_bytes());
    Bytes::from(m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_over_max_payload_is_refused_or_dropped_alone_and_the_stream_goes_on() {
    if !server_available() {
        return;
    }
    let subject = "small.payload";
    let dir = TempDir::new();
    let server = Server::with_config(&dir, "max_payload: 1024").await;
    let mut sub = Subscriber::new(&server, subject).await;

    // Connected: the limit is known, the message comes back at `send`.
    let sink: RelaySink<Bytes> = builder(server.port, subject, "small_sink")
        .relay()
        .expect("valid endpoint");
    for i in 1..=5 {
        sink.send(sized(i, 100)).await.expect("accepted");
    }
    sink.flush().await.expect("flushed");
    let err = sink
        .send(sized(6, 2_000))
        .await
        .expect_err("over max_payload");
    assert_eq!(err.kind(), SendErrorKind::TooLarge, "{err}");
    let cause = err.cause().expect("a refused oversize message says why");
    assert!(cause.to_string().contains("max_payload of 1024"), "{cause}");
    assert_eq!(
        err.into_message(),
        sized(6, 2_000),
        "the message comes back"
    );
    for i in 7..=16 {
        sink.send(sized(i, 100)).await.expect("the stream goes on");
    }
    sink.flush().await.expect("flushed");
    let got: Vec<u64> = sub.exactly(15).await.iter().map(|m| index(m)).collect();
    let want: Vec<u64> = (1..=5).chain(7..=16).collect();
    assert_eq!(got, want);
    let status = sink.status();
    assert_eq!(status.state, State::Connected, "{status:?}");
    assert_eq!(
        (status.frames_sent, status.lost.total()),
        (15, 0),
        "{status:?}"
    );
    assert_eq!(sink.close().await, 0);

    // Before the first connection the limit is unknown: the frame is accepted, then
    // dropped alone and counted.
    let sink: RelaySink<Bytes> = builder(server.port, subject, "small_sink_cold")
        .relay()
        .expect("valid endpoint");
    sink.send(sized(1, 100)).await.expect("accepted");
    sink.send(sized(2, 2_000))
        .await
        .expect("accepted: no limit known yet");
    for i in 3..=12 {
        sink.send(sized(i, 100)).await.expect("the stream goes on");
    }
    sink.flush().await.expect("flushed");
    let got: Vec<u64> = sub.exactly(11).await.iter().map(|m| index(m)).collect();
    let want: Vec<u64> = (1..=1).chain(3..=12).collect();
    assert_eq!(got, want);
    let status = sink.status();
    assert_eq!(status.state, State::Connected, "{status:?}");
    assert_eq!(status.frames_sent, 11, "{status:?}");
    assert_eq!(status.lost.too_large, 1, "{status:?}");
    assert_eq!(status.lost.total(), 1, "{status:?}");
    assert_eq!(sink.close().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_server_accepted_unconfirmed_frames_stay_within_the_queue() {
    if !server_available() {
        return;
    }
    const QUEUE: usize = 4;
    // `queue` frames, plus at most one batch of `queue` being handed on.
    const BOUND: usize = 2 * QUEUE;
    const FRAME: usize = 64 * 1024;
    let subject = "frozen.bound";
    let server = Server::start().await;
    let mut sub = Subscriber::new(&server, subject).await;
    let sink: RelaySink<Bytes> = builder(server.port, subject, "bound_sink")
        .queue(QUEUE)
        .send_timeout(Duration::from_millis(200))
        .relay()
        .expect("valid endpoint");
    sink.wait_connected(std::time::Instant::now() + MESSAGE_WAIT)
        .await
        .expect("connected");

    server.pause();
    let resume = Resume(&server);
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..10_000u64 {
        match sink.send(sized(i, FRAME)).await {
            Ok(()) => accepted.push(i),
            Err(e) => {
                assert_eq!(e.kind(), SendErrorKind::Timeout, "{e}");
                refused += 1;
                if refused == 2 {
                    break;
                }
            }
        }
        let held = sink.status();
        assert!(
            accepted.len() <= BOUND && held.queue_depth <= BOUND,
            "{} accepted in front of a frozen server: {held:?}",
            accepted.len()
        );
    }
    assert_eq!(refused, 2, "sends time out in front of a frozen server");
    drop(resume);

    sink.flush()
        .await
        .expect("flushed once the server runs again");
    let got: Vec<u64> = sub
        .exactly(accepted.len())
        .await
        .iter()
        .map(|m| index(m))
        .collect();
    assert_eq!(got, accepted, "exactly the accepted frames, in order");
    let status = sink.status();
    assert_eq!(status.frames_sent, accepted.len() as u64);
    assert_eq!(status.lost.total(), 0);
    assert_eq!(sink.close().await, 0);
}

/// Panic messages seen by the hook this test binary installs (every test's), so a
/// test can tell whether a panic happened anywhere while it ran.
fn panics() -> &'static Mutex<Vec<String>> {
    static PANICS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    PANICS.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = format!("{info}");
            if let Some(list) = PANICS.get() {
                list.lock().unwrap_or_else(|e| e.into_inner()).push(text);
            }
            previous(info);
        }));
        Mutex::new(Vec::new())
    })
}

#[tokio::test]
async fn server_requiring_tls_is_a_clear_fatal_error_without_a_panic() {
    if !server_available() {
        return;
    }
    let recorded = panics();
    let dir = TempDir::new();
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()])
        .expect("a self-signed certificate");
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).expect("write the certificate");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("write the key");
    let config = format!(
        "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n}}",
        cert.display().to_string(),
        key.display().to_string()
    );
    let server = Server::with_config(&dir, &config).await;

    let sink: RelaySink<Bytes> = builder(server.port, "tls.required", "tls_sink")
        .relay()
        .expect("valid endpoint");
    // Accepted while connecting, or refused once the sink has failed.
    let _ = sink.send(message(1)).await;
    let failed = sink
        .wait_connected(std::time::Instant::now() + MESSAGE_WAIT)
        .await
        .expect_err("a TLS server is never connected");
    let status = sink.status();
    assert_eq!(status.state, State::Failed, "{failed:?}: {status:?}");
    let error = status.last_error.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        error.contains("requires TLS") && error.contains("plaintext"),
        "{error}"
    );
    let err = sink.send(message(2)).await.expect_err("the sink failed");
    assert_eq!(err.kind(), SendErrorKind::Fatal, "{err}");
    let seen = recorded.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(
        !seen
            .iter()
            .any(|p| p.contains("CryptoProvider") || p.contains("rustls")),
        "the client panicked: {seen:?}"
    );
}
