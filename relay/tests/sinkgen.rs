//! The `sinkgen` protocol side of the relay, with real Unix sockets: fan-out,
//! backlogs, gaps, refusals, resends and the drain.

mod support;

use std::time::Duration;

use sinkgen_runtime::protocol::{Control, RefuseCode, Role};
use support::{Got, Peer, Seen, TempDir, spec, start};

const DRAIN: Duration = Duration::from_secs(5);

/// A relay `ticks` at `sock` with the producer `feed` and these subscribers.
fn ticks(sock: &std::path::Path, subscribers: &[&str], backlog: usize) -> support::Running {
    start(
        vec![spec(
            "ticks",
            sock,
            &[("feed", "ticks")],
            subscribers,
            backlog,
        )],
        DRAIN,
    )
}

#[test]
fn every_subscriber_gets_every_frame_in_each_producers_order() {
    let dir = TempDir::new("fanout");
    let sock = dir.join("ticks.sock");
    let subs = ["risk", "audit", "ui"];
    let relay = start(
        vec![spec(
            "ticks",
            &sock,
            &[("feed", "ticks"), ("replay", "ticks")],
            &subs,
            1024,
        )],
        DRAIN,
    );
    let mut readers: Vec<Peer> = subs
        .iter()
        .map(|s| Peer::subscriber(&sock, s, "ticks"))
        .collect();
    let (mut a, _) = Peer::producer(&sock, "feed", "ticks", "ticks");
    let (mut b, _) = Peer::producer(&sock, "replay", "ticks", "ticks");
    for chunk in 0..20 {
        a.send(chunk * 10 + 1..=chunk * 10 + 10);
        b.send(chunk * 5 + 1..=chunk * 5 + 5);
    }
    for r in &mut readers {
        let mut seen = Seen::default();
        r.read_until(&mut seen, |s| {
            s.accounted(a.session) == 200 && s.accounted(b.session) == 100
        });
        assert_eq!(seen.data[&a.session], (1..=200).collect::<Vec<_>>());
        assert_eq!(seen.data[&b.session], (1..=100).collect::<Vec<_>>());
        assert_eq!(seen.producers[&a.session], ("feed".into(), "ticks".into()));
        assert_eq!(
            seen.producers[&b.session],
            ("replay".into(), "ticks".into())
        );
    }
    // Every subscriber acknowledged everything: so does the relay.
    a.wait_ack(200);
    b.wait_ack(100);
    let report = relay.stop();
    assert!(report.undelivered.is_empty(), "{report}");
    assert_eq!(
        (report.relays[0].frames_in, report.relays[0].frames_out),
        (300, 900)
    );
}

#[test]
fn a_late_subscriber_gets_the_backlog_held_for_it() {
    let dir = TempDir::new("late");
    let sock = dir.join("ticks.sock");
    let relay = ticks(&sock, &["risk"], 1024);
    let (mut p, _) = Peer::producer(&sock, "feed", "ticks", "ticks");
    p.send(1..=50);
    // Held for the absent subscriber counts as done for the producer.
    p.wait_ack(50);
    let mut late = Peer::subscriber(&sock, "risk", "ticks");
    let mut seen = Seen::default();
    late.read_until(&mut seen, |s| s.accounted(p.session) == 50);
    assert_eq!(seen.data[&p.session], (1..=50).collect::<Vec<_>>());
    assert!(seen.gaps.is_empty());
    drop(relay);
}

#[test]
fn a_slow_subscriber_loses_the_oldest_frames_counted_and_told_others_get_all() {
    let dir = TempDir::new("slow");
    let sock = dir.join("ticks.sock");
    const N: u64 = 20_000;
    let relay = ticks(&sock, &["fast", "slow"], 64);
    // Connected, reads nothing until the producer is done.
    let mut slow = Peer::subscriber(&sock, "slow", "ticks");
    let mut fast = Peer::subscriber(&sock, "fast", "ticks");
    let (mut p, _) = Peer::producer(&sock, "feed", "ticks", "ticks");
    let session = p.session;
    // The fast subscriber keeps up: it has read each batch before the next is sent.
    let mut fast_seen = Seen::default();
    for chunk in 0..N / 50 {
        p.send(chunk * 50 + 1..=chunk * 50 + 50);
        fast.read_until(&mut fast_seen, |s| s.accounted(session) == chunk * 50 + 50);
        // The slow subscriber holds the producer back by its backlog (64 frames), no
        // more: everything older is acknowledged.
        if chunk > 1 {
            p.wait_ack(chunk * 50 + 50 - 64);
        }
    }
    assert!(
        fast_seen.data[&session].iter().copied().eq(1..=N),
        "the fast subscriber got every frame in order"
    );
    assert!(fast_seen.gaps.is_empty());

    let mut seen = Seen::default();
    slow.read_until(&mut seen, |s| s.accounted(session) == N);
    let gaps = &seen.gaps[&session];
    let missing: u64 = gaps.iter().map(|(_, c)| c).sum();
    assert!(
        missing > 0,
        "a subscriber that read nothing for {N} frames lost some"
    );
    // In order, and each gap names exactly the frames that did not come.
    let mut expected = 1;
    let mut data = seen.data[&session].iter().peekable();
    let mut gap = gaps.iter().peekable();
    while expected <= N {
        if let Some(&&(first, count)) = gap.peek().filter(|(f, _)| *f == expected) {
            expected = first + count;
            gap.next();
        } else {
            assert_eq!(
                data.next(),
                Some(&expected),
                "frames in order, gaps in their place"
            );
            expected += 1;
        }
    }
    let snapshot = relay.stats[0].snapshot();
    assert_eq!(snapshot.subscribers[1].0, "slow");
    assert_eq!(
        snapshot.subscribers[1].2, missing,
        "drops counted for the slow subscriber"
    );
    assert_eq!(snapshot.subscribers[0].2, 0, "none for the fast one");
    assert_eq!(snapshot.dropped, missing);
    drop(relay);
}

/// A producer's frames right behind its HELLO (early data) are relayed once the
/// relay has welcomed it, and acknowledged.
#[test]
fn frames_behind_a_producers_hello_are_relayed_after_its_welcome() {
    let dir = TempDir::new("early");
    let sock = dir.join("ticks.sock");
    let relay = ticks(&sock, &["risk"], 1024);
    let mut sub = Peer::subscriber(&sock, "risk", "ticks");
    let mut p = Peer::connect(&sock);
    let (answer, writer) = p.hello_with_early_data("feed", "ticks", "ticks", 1..=3);
    assert!(
        matches!(answer, Control::Welcome { have: 0, .. }),
        "{answer:?}"
    );
    writer.join().unwrap().unwrap();
    let mut seen = Seen::default();
    sub.read_until(&mut seen, |s| s.accounted(p.session) == 3);
    assert_eq!(seen.data[&p.session], [1, 2, 3]);
    // The subscriber acknowledged them: so does the relay.
    p.wait_ack(3);
    drop(relay);
}

/// A refused producer with early data reads the REFUSE, then a clean end of the
/// stream: the relay ends its side and reads what the producer still sends until it
/// closes. A socket closed with unread bytes resets the connection (the producer's
/// read fails instead of ending), and on some systems a reset destroys the REFUSE.
#[test]
fn a_refused_producer_with_early_data_reads_the_refusal_then_a_clean_end() {
    use std::io::Read;
    let dir = TempDir::new("early-refused");
    let sock = dir.join("ticks.sock");
    let relay = ticks(&sock, &["risk"], 16);
    let mut p = Peer::connect(&sock);
    // About 800 KiB behind the HELLO: far more than the relay reads with it.
    let (answer, writer) = p.hello_with_early_data("feed", "orders", "ticks", 1..=20_000);
    assert!(
        matches!(
            answer,
            Control::Refuse {
                code: RefuseCode::UnknownName,
                ..
            }
        ),
        "{answer:?}"
    );
    let end = p.raw().read(&mut [0u8; 64]);
    assert!(
        matches!(end, Ok(0)),
        "a clean end of stream after the REFUSE, not {end:?}"
    );
    writer
        .join()
        .unwrap()
        .expect("the relay read all the producer wrote");
    drop(relay);
}

#[test]
fn undeclared_producers_and_subscribers_are_refused_with_the_files_rule() {
    let dir = TempDir::new("refuse");
    let sock = dir.join("ticks.sock");
    let relay = ticks(&sock, &["risk"], 16);
    let refusal = |role, service, sink, target| match Peer::connect(&sock)
        .hello(role, service, sink, target)
    {
        Control::Refuse { code, reason } => (code, reason),
        other => panic!("expected REFUSE, got {other:?}"),
    };
    let (code, reason) = refusal(Role::Producer, "feed", "orders", "ticks");
    assert_eq!(code, RefuseCode::UnknownName);
    assert!(
        reason.contains("`feed` with sink `orders` is not a producer of relay `ticks`"),
        "{reason}"
    );
    assert!(
        reason.contains("a producer must be a service with a relay sink to that relay"),
        "{reason}"
    );
    let (code, reason) = refusal(Role::Subscriber, "ui", "", "ticks");
    assert_eq!(code, RefuseCode::UnknownName);
    assert!(
        reason.contains("a subscriber must list the relay in `subscribes`"),
        "{reason}"
    );
    let (code, reason) = refusal(Role::Subscriber, "risk", "", "orders");
    assert_eq!(code, RefuseCode::UnknownName);
    assert!(reason.contains("serves relay `ticks`"), "{reason}");
    let (code, _) = refusal(Role::DirectSender, "feed", "ticks", "risk");
    assert_eq!(code, RefuseCode::Role);
    assert_eq!(relay.stop().relays[0].refused, 4);
}

#[test]
fn resent_frames_are_dropped_and_welcome_names_what_the_relay_has() {
    let dir = TempDir::new("resend");
    let sock = dir.join("ticks.sock");
    let relay = ticks(&sock, &["risk"], 1024);
    let mut sub = Peer::subscriber(&sock, "risk", "ticks");
    let (mut p, have) = Peer::producer(&sock, "feed", "ticks", "ticks");
    assert_eq!(have, 0);
    p.send(1..=10);
    let session = p.session;
    let mut seen = Seen::default();
    sub.read_until(&mut seen, |s| s.accounted(session) == 10);
    p.wait_ack(10);
    drop(p);
    // The same sink reconnects: the relay says it has 10; a resend of 5..=10 is dropped.
    let mut again = Peer::connect(&sock);
    again.session = session;
    match again.hello(Role::Producer, "feed", "ticks", "ticks") {
        Control::Welcome { have, .. } => assert_eq!(have, 10),
        other => panic!("{other:?}"),
    }
    again.send(5..=12);
    sub.read_until(&mut seen, |s| s.accounted(session) == 12);
    again.wait_ack(12);
    assert_eq!(seen.data[&session], (1..=12).collect::<Vec<_>>());
    let report = relay.stop();
    assert_eq!(
        (report.relays[0].frames_in, report.relays[0].duplicates),
        (12, 6)
    );
}

#[test]
fn the_drain_delivers_to_connected_subscribers_and_reports_what_absent_ones_miss() {
    let dir = TempDir::new("drain");
    let sock = dir.join("ticks.sock");
    let relay = ticks(&sock, &["risk", "audit"], 1024);
    let mut risk = Peer::subscriber(&sock, "risk", "ticks");
    let (mut p, _) = Peer::producer(&sock, "feed", "ticks", "ticks");
    p.send(1..=30);
    let session = p.session;
    let reader = std::thread::spawn(move || {
        let mut seen = Seen::default();
        risk.read_until(&mut seen, |s| s.accounted(session) == 30);
        // Then the relay closes the connection.
        assert_eq!(risk.next(), None);
        seen
    });
    // Wait until the relay has the frames, then stop it.
    p.wait_ack(1);
    while relay.stats[0].snapshot().frames_in < 30 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let report = relay.stop();
    assert_eq!(reader.join().unwrap().data[&session].len(), 30);
    assert_eq!(report.undelivered.len(), 1, "{report}");
    let left = &report.undelivered[0];
    assert_eq!(
        (left.subscriber.as_deref(), left.frames, left.connected),
        (Some("audit"), 30, false)
    );
    assert!(
        report.to_string().contains(
            "not delivered: relay `ticks`, subscriber `audit` (not connected): 30 frames"
        ),
        "{report}"
    );
    // The producer was told the relay is going away.
    loop {
        match p.next() {
            Some(support::Got::Control(Control::Ack { .. })) => {}
            Some(support::Got::Control(Control::Refuse { code, .. })) => {
                assert_eq!(code, RefuseCode::ShuttingDown);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_connection_that_does_not_speak_the_protocol_is_refused_and_counted() {
    use std::io::Write;
    let dir = TempDir::new("garbage");
    let sock = dir.join("ticks.sock");
    let relay = ticks(&sock, &["risk"], 16);
    let mut peer = Peer::connect(&sock);
    peer.raw().write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    match peer.next() {
        Some(support::Got::Control(Control::Refuse { code, reason })) => {
            assert_eq!(code, RefuseCode::Protocol);
            assert!(reason.contains("not a sinkgen frame"), "{reason}");
        }
        other => panic!("expected REFUSE, got {other:?}"),
    }
    assert_eq!(peer.next(), None, "and the relay closed the connection");
    assert_eq!(relay.stop().relays[0].bad, 1);
}

/// A subscriber that acknowledges and dies at once, while the relay is still writing
/// to it: its last ACK reached the relay's host with the end of the connection, and
/// the relay's write fails as it arrives. The relay reads that ACK all the same, so
/// the subscriber's successor never gets a frame its predecessor acknowledged (SPEC
/// section 11: duplicates only from a killed receiver's last unacknowledged read).
#[test]
fn a_subscribers_last_ack_counts_when_it_dies_while_the_relay_writes() {
    const FRAMES: u64 = 40_000;
    const ROUNDS: u64 = 40;
    const PER_ROUND: u64 = 300;
    let dir = TempDir::new("lastack");
    let sock = dir.join("ticks.sock");
    let relay = ticks(&sock, &["risk"], 1 << 20);
    let (mut feed, _) = Peer::producer(&sock, "feed", "ticks", "ticks");
    // More than a socket holds: the relay is in the middle of writing to each
    // subscriber when it dies.
    feed.send(1..=FRAMES);
    let mut acked = 0;
    for round in 0..ROUNDS {
        let mut sub = Peer::subscriber(&sock, "risk", "ticks");
        let mut last = None;
        while last.is_none_or(|l| l < acked + PER_ROUND) {
            match sub.next().expect("the relay writes") {
                Got::Data { session, seq, .. } => {
                    assert_eq!(session, feed.session);
                    assert!(
                        last.is_some() || seq > acked,
                        "round {round}: frame {seq} sent again after the ACK of {acked}"
                    );
                    last = Some(seq);
                }
                Got::Control(_) => {}
            }
        }
        let last = last.expect("frames");
        sub.ack(feed.session, last);
        // Dies with bytes unread: the relay's next write fails.
        drop(sub);
        acked = last;
        // A restarted subscriber takes a moment to come back.
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(relay.stop());
}
