//! `Inbox` with test direct senders on a Unix socket.

use std::time::Duration;

use sinkgen_runtime::protocol::{Control, RefuseCode};
use sinkgen_runtime::{Bytes, Inbox, InboxBuilder, Received};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;
use crate::support::*;

async fn bound_inbox(dir: &TempDir) -> Inbox<Bytes> {
    let mut inbox = InboxBuilder::new(unix_url(&dir.sock("executor.sock")))
        .service("executor")
        .senders(["strategy", "risk"])
        .queue(8)
        .build::<Bytes>()
        .unwrap();
    assert!(
        !inbox.status().connected,
        "lazy: nothing bound before the first recv"
    );
    // The first recv binds; nothing is there yet.
    assert!(
        tokio::time::timeout(Duration::from_millis(20), inbox.recv())
            .await
            .is_err()
    );
    assert!(inbox.status().connected);
    inbox
}

/// The next message item as (sender service, body).
async fn next(inbox: &mut Inbox<Bytes>) -> (String, String) {
    match guard("recv", inbox.recv()).await {
        Some(Received::Message { producer, message }) => (
            producer.service().to_owned(),
            String::from_utf8(message.to_vec()).unwrap(),
        ),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[tokio::test]
async fn declared_senders_are_served_and_an_undeclared_one_is_refused() {
    let dir = TempDir::new();
    let mut inbox = bound_inbox(&dir).await;
    let path = dir.sock("executor.sock");
    let senders = tokio::spawn(async move {
        let mut a = Peer::connect(&path).await;
        assert!(matches!(
            a.hello_as(1, "strategy", "executor").await,
            Control::Welcome { have: 0, .. }
        ));
        let mut b = Peer::connect(&path).await;
        assert!(matches!(
            b.hello_as(2, "risk", "executor").await,
            Control::Welcome { .. }
        ));
        let mut c = Peer::connect(&path).await;
        match c.hello_as(3, "intruder", "executor").await {
            Control::Refuse { code, reason } => {
                assert_eq!(code, RefuseCode::UnknownName);
                assert!(
                    reason.contains("intruder") && reason.contains("strategy, risk"),
                    "{reason}"
                );
            }
            other => panic!("expected REFUSE, got {other:?}"),
        }
        assert!(c.next().await.is_none(), "closed after the refusal");
        a.send(&data(1, 1..=3)).await;
        b.send(&data(2, 1..=2)).await;
        a.acked(1, 3).await;
        b.acked(2, 2).await;
    });
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(next(&mut inbox).await);
    }
    guard("senders", senders).await.unwrap();
    let from = |who: &str| {
        got.iter()
            .filter(|(s, _)| s == who)
            .map(|(_, m)| m.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(from("strategy"), ["1", "2", "3"]);
    assert_eq!(from("risk"), ["1", "2"]);
    let st = inbox.status();
    assert_eq!((st.received, st.refusals, st.connects), (5, 1, 3));
    assert_eq!(st.last_refusal.unwrap().code, RefuseCode::UnknownName);
}

#[tokio::test]
async fn a_sender_reconnecting_with_resends_is_deduplicated() {
    let dir = TempDir::new();
    let mut inbox = bound_inbox(&dir).await;
    let path = dir.sock("executor.sock");
    let sender = tokio::spawn(async move {
        let mut a = Peer::connect(&path).await;
        a.hello_as(7, "strategy", "executor").await;
        a.send(&data(7, 1..=3)).await;
        a.acked(7, 3).await;
        drop(a);
        let mut a = Peer::connect(&path).await;
        // WELCOME says what the inbox has; a sink would skip it, this one resends.
        assert!(matches!(
            a.hello_as(7, "strategy", "executor").await,
            Control::Welcome { have: 3, .. }
        ));
        a.send(&data(7, 2..=5)).await;
        a.acked(7, 5).await;
    });
    let got: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(next(&mut inbox).await.1);
        }
        v
    };
    guard("sender", sender).await.unwrap();
    assert_eq!(got, ["1", "2", "3", "4", "5"]);
    assert_eq!(inbox.status().duplicates, 2);
}

/// A sender whose frames follow its HELLO (early data) is refused: it reads the
/// REFUSE, then a clean end of stream. The inbox ends its side and reads what the
/// sender still sends until it closes: a socket closed with unread bytes resets the
/// connection (the sender's next read fails instead of ending), and on some systems
/// a reset destroys the REFUSE before it is read.
#[tokio::test]
async fn a_refused_sender_with_early_data_reads_the_refusal_then_a_clean_end() {
    let dir = TempDir::new();
    let _inbox = bound_inbox(&dir).await;
    let s = tokio::net::UnixStream::connect(dir.sock("executor.sock"))
        .await
        .unwrap();
    let mut out = Vec::new();
    direct_hello(3, "intruder", "executor").append(&mut out, 1);
    // About 800 KiB of data behind the HELLO: far more than the inbox reads with
    // it. The write completes only if the inbox reads the rest after refusing.
    out.extend(data(3, 1..=20_000));
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move { w.write_all(&out).await.map(|()| w) });
    let mut got = Vec::new();
    let end = guard("the answer and the end", async {
        loop {
            let mut chunk = [0u8; 4096];
            match r.read(&mut chunk).await {
                Ok(0) => return Ok(()),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    let (frame, used) = sinkgen_runtime::protocol::decode(&got, 1 << 16)
        .unwrap()
        .expect("a whole frame came");
    match Control::parse(&frame).unwrap() {
        Control::Refuse { code, .. } => assert_eq!(code, RefuseCode::UnknownName),
        other => panic!("expected REFUSE, got {other:?}"),
    }
    assert_eq!(used, got.len(), "nothing after the REFUSE");
    end.expect("a clean end of stream after the REFUSE, not a reset");
    let written = guard("the write", writer).await.unwrap();
    written.expect("the inbox read all the sender wrote");
}

#[tokio::test]
async fn a_subscriber_at_an_inbox_is_refused_for_its_role() {
    let dir = TempDir::new();
    let _inbox = bound_inbox(&dir).await;
    let mut p = Peer::connect(&dir.sock("executor.sock")).await;
    p.send_control(Control::Hello {
        session: 5,
        next: 0,
        hello: sinkgen_runtime::protocol::Hello {
            min_version: 1,
            max_version: 1,
            role: sinkgen_runtime::protocol::Role::Subscriber,
            service: "strategy".into(),
            sink: String::new(),
            target: "executor".into(),
        },
    })
    .await;
    match guard("refusal", p.control()).await {
        Control::Refuse { code, .. } => assert_eq!(code, RefuseCode::Role),
        other => panic!("expected REFUSE, got {other:?}"),
    }
}

#[tokio::test]
async fn a_slow_application_holds_senders_back_instead_of_growing_memory() {
    let dir = TempDir::new();
    let mut inbox = bound_inbox(&dir).await; // queue(8)
    let mut a = Peer::connect(&dir.sock("executor.sock")).await;
    a.hello_as(9, "strategy", "executor").await;
    a.send(&data(9, 1..=1000)).await;
    // The application takes nothing: the inbox queues 8, then stops reading and
    // acknowledging; whatever ACK comes covers far less than what was sent.
    let mut acked = 0;
    while let Ok(Some(c)) = tokio::time::timeout(Duration::from_millis(200), a.next()).await {
        if let Got::Control(Control::Ack { sequence, .. }) = c {
            acked = sequence;
        }
    }
    assert!(
        acked <= 16,
        "acknowledged {acked} frames the application never took"
    );
    for seq in 1..=1000 {
        assert_eq!(next(&mut inbox).await.1, seq.to_string());
    }
    guard("final ack", a.acked(9, 1000)).await;
}

#[tokio::test]
async fn an_inbox_listens_on_tcp_too() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut inbox = InboxBuilder::new(format!("tcp://127.0.0.1:{port}"))
        .service("executor")
        .senders(["strategy"])
        .build::<Bytes>()
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(20), inbox.recv())
            .await
            .is_err()
    );
    let mut a = Peer::new(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap(),
    );
    a.hello_as(4, "strategy", "executor").await;
    a.send(&data(4, 1..=2)).await;
    assert_eq!(next(&mut inbox).await, ("strategy".into(), "1".into()));
    assert_eq!(next(&mut inbox).await, ("strategy".into(), "2".into()));
    guard("ack", a.acked(4, 2)).await;
}
