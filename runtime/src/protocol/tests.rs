use proptest::prelude::*;

use super::*;

const MAX: usize = 1 << 20;

fn hello(role: Role) -> Control {
    Control::Hello {
        session: 0x1122_3344_5566_7788,
        next: 5,
        hello: Hello {
            min_version: 1,
            max_version: 3,
            role,
            service: "strategy".into(),
            sink: "quotes".into(),
            target: "market_data".into(),
        },
    }
}

fn every_control() -> Vec<Control> {
    vec![
        hello(Role::Producer),
        hello(Role::Subscriber),
        hello(Role::DirectSender),
        Control::Welcome {
            session: 9,
            have: 41,
            version: 1,
        },
        Control::Ack {
            session: 7,
            sequence: u64::MAX,
        },
        Control::Refuse {
            code: RefuseCode::UnknownName,
            reason: "service `ghost` does not produce to relay `market_data`".into(),
        },
        Control::Refuse {
            code: RefuseCode::Other(900),
            reason: String::new(),
        },
        Control::Gap {
            session: 3,
            first: 10,
            count: 4,
        },
        Control::Producer {
            session: 3,
            service: "feed".into(),
            sink: "ticks".into(),
        },
    ]
}

fn only_frame(bytes: &[u8]) -> Frame<'_> {
    let (frame, used) = decode(bytes, MAX).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    frame
}

#[test]
fn the_checksum_is_standard_crc32() {
    assert_eq!(checksum(b"1234", b"56789"), 0xCBF4_3926);
}

/// Each way the checksum hashes a 32-byte header and a body (copied side by side into
/// a 128-byte or a 256-byte run, or hashed one after the other) gives the CRC-32 of
/// the header, then the body.
#[test]
fn the_checksum_of_every_body_length_matches_the_reference() {
    let head: Vec<u8> = (0..32u8).collect();
    let read: Vec<u8> = (0..400u32).map(|i| (i * 7 + 3) as u8).collect();
    for len in 0..=300 {
        let mut whole = head.clone();
        whole.extend_from_slice(&read[..len]);
        let expected = crc32fast::hash(&whole);
        assert_eq!(checksum(&head, &read[..len]), expected, "body {len} B");
    }
}

#[test]
fn the_documented_example_frame() {
    let mut buf = Vec::new();
    append_data(&mut buf, 0x1122_3344_5566_7788, 1, 1_000, b"abc");
    assert_eq!(&buf[..8], &[0x53, 0x47, 1, 1, 3, 0, 0, 0]);
    assert_eq!(
        &buf[8..16],
        &[0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]
    );
    assert_eq!(&buf[16..24], &1u64.to_le_bytes());
    assert_eq!(&buf[24..32], &1_000u64.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&buf[..32]);
    crc.update(b"abc");
    assert_eq!(&buf[32..36], &crc.finalize().to_le_bytes());
    assert_eq!(&buf[36..], b"abc");
}

#[test]
fn every_control_frame_round_trips() {
    for c in every_control() {
        let mut buf = Vec::new();
        c.append(&mut buf, 42);
        let frame = only_frame(&buf);
        assert_eq!(frame.header.timestamp, 42);
        assert_eq!(frame.header.version, VERSION);
        assert_eq!(Control::parse(&frame).unwrap(), c);
    }
}

#[test]
fn control_header_fields_are_the_documented_ones() {
    let mut buf = Vec::new();
    hello(Role::Producer).append(&mut buf, 0);
    let h = only_frame(&buf).header;
    assert_eq!(
        (h.kind, h.session, h.sequence),
        (Kind::Hello, 0x1122_3344_5566_7788, 5)
    );
    assert_eq!(&buf[36..40], &[1, 3, 1, 0]);
    assert_eq!(&buf[40..50], b"\x08\0strategy");

    let mut buf = Vec::new();
    Control::Gap {
        session: 3,
        first: 10,
        count: 4,
    }
    .append(&mut buf, 0);
    let h = only_frame(&buf).header;
    assert_eq!(
        (h.kind, h.session, h.sequence, h.length),
        (Kind::Gap, 3, 10, 8)
    );
    assert_eq!(&buf[36..], &4u64.to_le_bytes());

    let mut buf = Vec::new();
    Control::Refuse {
        code: RefuseCode::Version,
        reason: "v".into(),
    }
    .append(&mut buf, 0);
    assert_eq!(&buf[36..], &[2, 0, b'v']);
}

#[test]
fn a_data_frame_is_not_a_control_frame() {
    let mut buf = Vec::new();
    append_data(&mut buf, 1, 1, 0, b"x");
    assert_eq!(
        Control::parse(&only_frame(&buf)),
        Err(ProtocolError::NotControl)
    );
}

#[test]
fn short_or_bad_bodies_are_errors_not_panics() {
    for (kind, body) in [
        (Kind::Hello, &b"\x01\x01"[..]),
        (
            Kind::Hello,
            &b"\x01\x01\x09\x00\x00\x00\x00\x00\x00\x00"[..],
        ),
        (Kind::Hello, &b"\x01\x01\x01\x00\x05\x00ab"[..]),
        (
            Kind::Hello,
            &b"\x01\x01\x01\x00\x02\x00\xff\xfe\x00\x00\x00\x00"[..],
        ),
        (Kind::Welcome, &b""[..]),
        (Kind::Refuse, &b"\x01"[..]),
        (Kind::Gap, &b"\x01\x02\x03"[..]),
        (Kind::Producer, &b"\x01"[..]),
    ] {
        let mut buf = Vec::new();
        append_frame(&mut buf, kind, 1, 1, 0, body);
        let err = Control::parse(&only_frame(&buf)).unwrap_err();
        assert!(
            matches!(err, ProtocolError::Body { kind: k, .. } if k == kind),
            "{err}"
        );
    }
}

#[test]
fn newer_peers_may_add_fields() {
    let mut buf = Vec::new();
    append_frame(&mut buf, Kind::Welcome, 1, 0, 0, &[1, 99, 98]);
    assert_eq!(
        Control::parse(&only_frame(&buf)).unwrap(),
        Control::Welcome {
            session: 1,
            have: 0,
            version: 1
        }
    );
}

#[test]
fn wrong_magic_version_and_kind_are_refused_early() {
    let mut good = Vec::new();
    append_data(&mut good, 1, 1, 0, b"abc");
    let cases: [(usize, u8, ProtocolError); 5] = [
        (0, b'X', ProtocolError::Magic { found: [b'X', 0] }),
        (
            1,
            b'X',
            ProtocolError::Magic {
                found: [b'S', b'X'],
            },
        ),
        (2, 0, ProtocolError::Version { found: 0 }),
        (2, 2, ProtocolError::Version { found: 2 }),
        (3, 9, ProtocolError::Kind { found: 9 }),
    ];
    for (at, byte, want) in cases {
        let mut bad = good.clone();
        bad[at] = byte;
        // Seen from the first bytes on, without waiting for the whole header.
        let got = decode(&bad[..=at], MAX).unwrap_err();
        let want = match want {
            ProtocolError::Magic { .. } => ProtocolError::Magic {
                found: [bad[0], if at == 0 { 0 } else { bad[1] }],
            },
            w => w,
        };
        assert_eq!(got, want);
        assert!(decode(&bad, MAX).is_err());
    }
}

#[test]
fn limits_apply_before_the_body_arrives() {
    let mut buf = Vec::new();
    append_data(&mut buf, 1, 1, 0, &[0; 100]);
    assert_eq!(
        decode(&buf[..HEADER_LEN], 99).unwrap_err(),
        ProtocolError::TooLarge {
            length: 100,
            max: 99
        }
    );
    let mut ctl = Vec::new();
    append_frame(
        &mut ctl,
        Kind::Producer,
        1,
        0,
        0,
        &vec![0; MAX_CONTROL_BODY + 1],
    );
    assert!(matches!(
        decode(&ctl[..HEADER_LEN], usize::MAX).unwrap_err(),
        ProtocolError::TooLarge {
            max: MAX_CONTROL_BODY,
            ..
        }
    ));
}

#[test]
fn a_refusal_reason_is_cut_to_fit_on_a_char_boundary() {
    let reason = "é".repeat(MAX_CONTROL_BODY);
    let mut buf = Vec::new();
    Control::Refuse {
        code: RefuseCode::Protocol,
        reason,
    }
    .append(&mut buf, 0);
    let Control::Refuse { reason, .. } = Control::parse(&only_frame(&buf)).unwrap() else {
        panic!("not a refusal");
    };
    assert!(reason.len() <= MAX_CONTROL_BODY - 2 && reason.len() >= MAX_CONTROL_BODY - 4);
    assert!(reason.chars().all(|c| c == 'é'));
}

#[test]
fn versions_are_negotiated_to_the_highest_common_one() {
    assert_eq!(choose_version(1, 1), Some(1));
    assert_eq!(choose_version(1, 9), Some(VERSION));
    assert_eq!(choose_version(2, 9), None);
    assert_eq!(choose_version(0, 0), None);
}

#[test]
fn sessions_are_never_zero_and_differ() {
    let a = new_session();
    let b = new_session();
    assert!(a != 0 && b != 0 && a != b);
}

fn any_control() -> impl Strategy<Value = Control> {
    let name = "[a-z_]{0,12}";
    prop_oneof![
        (any::<u64>(), any::<u64>(), 0u8..4, name, name, name).prop_map(
            |(session, next, role, service, sink, target)| Control::Hello {
                session,
                next,
                hello: Hello {
                    min_version: 1,
                    max_version: 1,
                    role: [Role::Producer, Role::Subscriber, Role::DirectSender]
                        [usize::from(role % 3)],
                    service,
                    sink,
                    target,
                },
            }
        ),
        (any::<u64>(), any::<u64>(), any::<u8>()).prop_map(|(session, have, version)| {
            Control::Welcome {
                session,
                have,
                version,
            }
        }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(session, sequence)| Control::Ack { session, sequence }),
        (1u16..20, ".{0,40}").prop_map(|(code, reason)| Control::Refuse {
            code: RefuseCode::from_code(code),
            reason
        }),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(session, first, count)| {
            Control::Gap {
                session,
                first,
                count,
            }
        }),
        (any::<u64>(), name, name).prop_map(|(session, service, sink)| Control::Producer {
            session,
            service,
            sink
        }),
    ]
}

/// One frame of a stream: a data frame or a control frame.
#[derive(Clone, Debug)]
enum Item {
    Data(u64, u64, u64, Vec<u8>),
    Control(Control),
}

fn any_item() -> impl Strategy<Value = Item> {
    prop_oneof![
        3 => (any::<u64>(), any::<u64>(), any::<u64>(), prop::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(s, q, t, b)| Item::Data(s, q, t, b)),
        1 => any_control().prop_map(Item::Control),
    ]
}

fn write(items: &[Item]) -> Vec<u8> {
    let mut buf = Vec::new();
    for item in items {
        match item {
            Item::Data(s, q, t, b) => append_data(&mut buf, *s, *q, *t, b),
            Item::Control(c) => c.append(&mut buf, 7),
        }
    }
    buf
}

fn same(item: &Item, frame: &Frame<'_>) -> bool {
    match item {
        Item::Data(s, q, t, b) => {
            frame.header.kind == Kind::Data
                && (
                    frame.header.session,
                    frame.header.sequence,
                    frame.header.timestamp,
                ) == (*s, *q, *t)
                && frame.body == b.as_slice()
        }
        Item::Control(c) => Control::parse(frame).as_ref() == Ok(c),
    }
}

proptest! {
    /// A stream read in chunks of any sizes yields exactly the frames written, in order:
    /// a torn frame waits for the rest, never errors.
    #[test]
    fn streams_split_anywhere_read_back_whole(
        items in prop::collection::vec(any_item(), 1..20),
        cuts in prop::collection::vec(1usize..97, 1..40),
    ) {
        let wire = write(&items);
        let mut have = Vec::new();
        let mut got = 0;
        let mut fed = 0;
        let mut cut = cuts.iter().cycle();
        while fed < wire.len() {
            let n = (*cut.next().unwrap()).min(wire.len() - fed);
            have.extend_from_slice(&wire[fed..fed + n]);
            fed += n;
            while let Some((frame, used)) = decode(&have, MAX).unwrap() {
                prop_assert!(same(&items[got], &frame));
                got += 1;
                have.drain(..used);
            }
        }
        prop_assert_eq!(got, items.len());
        prop_assert!(have.is_empty());
    }

    /// One changed byte anywhere in a frame is never read as a frame.
    #[test]
    fn a_corrupted_byte_is_never_a_frame(item in any_item(), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut wire = write(std::slice::from_ref(&item));
        let at = at.index(wire.len());
        wire[at] ^= flip;
        prop_assert!(!matches!(decode(&wire, MAX), Ok(Some(_))));
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(Some((frame, _))) = decode(&bytes, MAX) {
            let _ = Control::parse(&frame);
        }
    }
}
