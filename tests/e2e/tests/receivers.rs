//! Generated receivers on real Unix sockets: the inbox and the subscription that
//! `#[derive(Sinks)]` with `receivers = "DeskReceivers"` makes for the service `desk`,
//! talking to small peers written with the protocol module (a direct sender, a relay).
//!
//! The generated sinks do not yet open the sinkgen handshake themselves, so the sending
//! side here is a test peer speaking `docs/PROTOCOL.md`, named like the sink the file
//! declares (`sinkgen_e2e`'s `desk`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sinkgen_e2e::protocol::MarketEvent;
use sinkgen_e2e::{DeskReceivers, DeskReceiversEndpoints};
use sinkgen_runtime::bytes::BytesMut;
use sinkgen_runtime::protocol::{self, Control, Hello, Kind, RefuseCode, Role};
use sinkgen_runtime::{Encode, Received};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// Every wait is bounded: a frame that never comes fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(10);

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sinkgen-e2e-rx-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn url(path: &Path) -> String {
    format!("unix://{}", path.display())
}

async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(PATIENCE, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// One end of a protocol connection, reading whole frames.
struct Peer {
    stream: UnixStream,
    buf: BytesMut,
}

impl Peer {
    /// Connects once the listener exists (the inbox binds on its first receive).
    async fn connect(path: &Path) -> Peer {
        for _ in 0..1000 {
            if let Ok(stream) = UnixStream::connect(path).await {
                return Peer {
                    stream,
                    buf: BytesMut::new(),
                };
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("nothing listens at {}", path.display());
    }

    async fn send_control(&mut self, c: Control) {
        let mut out = Vec::new();
        c.append(&mut out, 1);
        self.stream.write_all(&out).await.unwrap();
    }

    async fn send_events(&mut self, session: u64, first: u64, events: &[MarketEvent]) {
        let mut out = Vec::new();
        for (seq, event) in (first..).zip(events) {
            let mut body = Vec::new();
            event.encode(&mut body);
            protocol::append_data(&mut out, session, seq, 1, &body);
        }
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next control frame; `None` at end of stream.
    async fn control(&mut self) -> Option<Control> {
        loop {
            if let Some((frame, used)) =
                protocol::decode(&self.buf, protocol::DEFAULT_MAX_FRAME).unwrap()
            {
                assert_ne!(frame.header.kind, Kind::Data, "receivers send no data");
                let control = Control::parse(&frame).unwrap();
                let _ = self.buf.split_to(used);
                return Some(control);
            }
            self.buf.reserve(4096);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// A direct sender's HELLO as `service`'s sink `desk`; the answer.
    async fn hello(&mut self, session: u64, service: &str) -> Option<Control> {
        self.send_control(Control::Hello {
            session,
            next: 1,
            hello: Hello {
                min_version: 1,
                max_version: 1,
                role: Role::DirectSender,
                service: service.to_owned(),
                sink: "desk".to_owned(),
                target: "desk".to_owned(),
            },
        })
        .await;
        self.control().await
    }

    /// Reads ACKs until one covers `sequence` of `session`.
    async fn acked(&mut self, session: u64, sequence: u64) {
        loop {
            match self.control().await {
                Some(Control::Ack {
                    session: s,
                    sequence: q,
                }) if s == session && q >= sequence => return,
                Some(Control::Ack { .. }) => {}
                other => panic!("expected an ACK, got {other:?}"),
            }
        }
    }
}

fn events(n: u64) -> Vec<MarketEvent> {
    (1..=n)
        .map(|seq| MarketEvent {
            seq,
            price: 100 + i64::try_from(seq).unwrap(),
        })
        .collect()
}

/// The generated inbox of `desk` yields typed `MarketEvent`s named by their sender,
/// accepts `sinkgen_e2e` (the file declares its direct sink `desk`) and refuses a
/// service the file does not declare, naming the ones it accepts.
#[tokio::test]
async fn a_generated_inbox_takes_typed_messages_from_its_declared_sender_only() {
    let dir = scratch("inbox");
    let socket = dir.join("desk.sock");
    let receivers = DeskReceivers::with_endpoints(DeskReceiversEndpoints {
        inbox: url(&socket),
        ..DeskReceiversEndpoints::default()
    });
    let mut inbox = receivers.inbox();
    let sent = events(3);
    let expected = sent.clone();
    let path = socket.clone();
    let senders = tokio::spawn(async move {
        let mut intruder = Peer::connect(&path).await;
        match intruder.hello(5, "intruder").await {
            Some(Control::Refuse { code, reason }) => {
                assert_eq!(code, RefuseCode::UnknownName);
                assert!(reason.contains("sinkgen_e2e"), "{reason}");
            }
            other => panic!("expected REFUSE, got {other:?}"),
        }
        let mut sender = Peer::connect(&path).await;
        assert!(
            matches!(
                sender.hello(7, "sinkgen_e2e").await,
                Some(Control::Welcome { .. })
            ),
            "the declared sender is welcome"
        );
        sender.send_events(7, 1, &sent).await;
        sender.acked(7, 3).await;
    });
    let mut got = Vec::new();
    while got.len() < expected.len() {
        match within("the inbox", inbox.recv()).await {
            Some(Received::Message { producer, message }) => {
                assert_eq!(producer.service(), "sinkgen_e2e");
                got.push(message);
            }
            other => panic!("expected a message, got {other:?}"),
        }
    }
    assert_eq!(got, expected);
    within("the senders", senders).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The generated subscription of `desk` to `quotes` names `desk` and `quotes` in its
/// HELLO, yields typed `MarketEvent`s in order with their producer, surfaces a payload
/// that is not a market event as an item, and acknowledges what it handed on.
#[tokio::test]
async fn a_generated_subscription_yields_typed_messages_from_a_relay() {
    let dir = scratch("subscription");
    let socket = dir.join("quotes.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let receivers = DeskReceivers::with_endpoints(DeskReceiversEndpoints {
        quotes: url(&socket),
        ..DeskReceiversEndpoints::default()
    });
    let mut quotes = receivers.quotes();
    let sent = events(3);
    let relay = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = Peer {
            stream,
            buf: BytesMut::new(),
        };
        match peer.control().await {
            Some(Control::Hello { hello, .. }) => {
                assert_eq!(hello.role, Role::Subscriber);
                assert_eq!(hello.service, "desk");
                assert_eq!(hello.target, "quotes");
            }
            other => panic!("expected HELLO, got {other:?}"),
        }
        peer.send_control(Control::Welcome {
            session: 99,
            have: 0,
            version: 1,
        })
        .await;
        peer.send_control(Control::Producer {
            session: 7,
            service: "sinkgen_e2e".to_owned(),
            sink: "quotes".to_owned(),
        })
        .await;
        peer.send_events(7, 1, &sent).await;
        let mut torn = Vec::new();
        protocol::append_data(&mut torn, 7, 4, 1, b"short");
        peer.stream.write_all(&torn).await.unwrap();
        peer.acked(7, 4).await;
    });
    let mut got = Vec::new();
    for _ in 0..3 {
        match within("the subscription", quotes.recv()).await {
            Some(Received::Message { producer, message }) => {
                assert_eq!(producer.service(), "sinkgen_e2e");
                got.push(message);
            }
            other => panic!("expected a message, got {other:?}"),
        }
    }
    assert_eq!(got, events(3));
    match within("the subscription", quotes.recv()).await {
        Some(Received::Undecodable { producer, error }) => {
            assert_eq!(producer.service(), "sinkgen_e2e");
            assert!(error.to_string().contains("16 bytes"), "{error}");
        }
        other => panic!("expected an undecodable item, got {other:?}"),
    }
    // The subscription does its I/O (acknowledgements too) while it is polled.
    let mut relay = relay;
    let done = within("the relay's acknowledgement", async {
        tokio::select! {
            done = &mut relay => done,
            item = quotes.recv() => panic!("nothing more was sent, got {item:?}"),
        }
    })
    .await;
    done.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The process-wide accessor `DeskReceivers::quotes()` with its endpoint overridden by
/// `SINKGEN_QUOTES_SUBSCRIBE` (the variable its docs name).
///
/// Environment variables are process-wide, so the subscription lives in a child
/// process: this test binary, running only [`child_subscribes_through_the_override`].
#[tokio::test]
async fn the_subscription_accessor_honours_the_environment_override() {
    let dir = scratch("env");
    let socket = dir.join("quotes.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_subscribes_through_the_override"])
        .env("SINKGEN_QUOTES_SUBSCRIBE", url(&socket))
        .env("SINKGEN_E2E_RX_CHILD", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stream, _) = within("the child's subscription", listener.accept())
        .await
        .unwrap();
    let mut peer = Peer {
        stream,
        buf: BytesMut::new(),
    };
    assert!(matches!(
        within("HELLO", peer.control()).await,
        Some(Control::Hello { hello, .. }) if hello.service == "desk" && hello.target == "quotes"
    ));
    peer.send_control(Control::Welcome {
        session: 99,
        have: 0,
        version: 1,
    })
    .await;
    peer.send_control(Control::Producer {
        session: 7,
        service: "sinkgen_e2e".to_owned(),
        sink: "quotes".to_owned(),
    })
    .await;
    peer.send_events(7, 1, &events(1)).await;
    // The connection stays open until the child has read the event and exited.
    let output = within(
        "the child",
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "the child test failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs as the child of the test above (and does nothing on its own).
#[tokio::test]
async fn child_subscribes_through_the_override() {
    if std::env::var_os("SINKGEN_E2E_RX_CHILD").is_none() {
        return;
    }
    let mut quotes = DeskReceivers::quotes();
    match within("the event", quotes.recv()).await {
        Some(Received::Message { producer, message }) => {
            assert_eq!(producer.service(), "sinkgen_e2e");
            assert_eq!(message, events(1)[0]);
        }
        other => panic!("expected a message, got {other:?}"),
    }
}
