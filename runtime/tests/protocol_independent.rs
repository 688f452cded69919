//! An independent decoder of the sinkgen protocol, written from `docs/PROTOCOL.md`
//! alone (its own CRC-32, its own field offsets; nothing of the runtime's protocol
//! module), reads a stream the runtime wrote and agrees with it field by field.

use sinkgen_runtime::protocol::{self, Control, Hello, RefuseCode, Role};

/// CRC-32 as the document defines it: polynomial 0x04C11DB7 reflected (0xEDB88320),
/// initial value and final XOR 0xFFFFFFFF, bit by bit.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for part in parts {
        for &byte in *part {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Data {
        session: u64,
        sequence: u64,
        timestamp: u64,
        body: Vec<u8>,
    },
    Hello {
        session: u64,
        next: u64,
        versions: (u8, u8),
        role: u8,
        names: [String; 3],
    },
    Welcome {
        session: u64,
        have: u64,
        version: u8,
    },
    Ack {
        session: u64,
        sequence: u64,
    },
    Refuse {
        code: u16,
        reason: String,
    },
    Gap {
        session: u64,
        first: u64,
        count: u64,
    },
    Producer {
        session: u64,
        service: String,
        sink: String,
    },
}

fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().unwrap())
}

/// `u16` length, then UTF-8 bytes; returns the string and the rest.
fn string(b: &[u8]) -> (String, &[u8]) {
    let len = usize::from(u16::from_le_bytes([b[0], b[1]]));
    (
        String::from_utf8(b[2..2 + len].to_vec()).unwrap(),
        &b[2 + len..],
    )
}

fn read_stream(mut wire: &[u8]) -> Vec<Seen> {
    let mut out = Vec::new();
    while !wire.is_empty() {
        assert_eq!(&wire[0..2], b"SG", "magic");
        assert_eq!(wire[2], 1, "version");
        let kind = wire[3];
        let length = u32::from_le_bytes(wire[4..8].try_into().unwrap()) as usize;
        let (session, sequence, timestamp) =
            (le64(&wire[8..]), le64(&wire[16..]), le64(&wire[24..]));
        let checksum = u32::from_le_bytes(wire[32..36].try_into().unwrap());
        let body = &wire[36..36 + length];
        assert_eq!(checksum, crc32(&[&wire[..32], body]), "checksum");
        out.push(match kind {
            1 => Seen::Data {
                session,
                sequence,
                timestamp,
                body: body.to_vec(),
            },
            2 => {
                let (service, rest) = string(&body[4..]);
                let (sink, rest) = string(rest);
                let (target, _) = string(rest);
                Seen::Hello {
                    session,
                    next: sequence,
                    versions: (body[0], body[1]),
                    role: body[2],
                    names: [service, sink, target],
                }
            }
            3 => Seen::Welcome {
                session,
                have: sequence,
                version: body[0],
            },
            4 => Seen::Ack { session, sequence },
            5 => Seen::Refuse {
                code: u16::from_le_bytes([body[0], body[1]]),
                reason: String::from_utf8(body[2..].to_vec()).unwrap(),
            },
            6 => Seen::Gap {
                session,
                first: sequence,
                count: le64(body),
            },
            7 => {
                let (service, rest) = string(body);
                let (sink, _) = string(rest);
                Seen::Producer {
                    session,
                    service,
                    sink,
                }
            }
            k => panic!("unknown kind {k}"),
        });
        wire = &wire[36 + length..];
    }
    out
}

#[test]
fn an_independent_decoder_agrees_with_the_runtime() {
    assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
    let mut wire = Vec::new();
    let hello = Hello {
        min_version: 1,
        max_version: 1,
        role: Role::Producer,
        service: "strategy".into(),
        sink: "quotes".into(),
        target: "market_data".into(),
    };
    Control::Hello {
        session: 77,
        next: 1,
        hello,
    }
    .append(&mut wire, 5);
    Control::Welcome {
        session: 88,
        have: 0,
        version: 1,
    }
    .append(&mut wire, 6);
    for seq in 1..=3u64 {
        protocol::append_data(
            &mut wire,
            77,
            seq,
            1_000 + seq,
            format!("quote {seq}").as_bytes(),
        );
    }
    Control::Ack {
        session: 77,
        sequence: 3,
    }
    .append(&mut wire, 7);
    Control::Producer {
        session: 77,
        service: "strategy".into(),
        sink: "quotes".into(),
    }
    .append(&mut wire, 8);
    Control::Gap {
        session: 77,
        first: 4,
        count: 2,
    }
    .append(&mut wire, 9);
    Control::Refuse {
        code: RefuseCode::UnknownName,
        reason: "not declared".into(),
    }
    .append(&mut wire, 10);

    let seen = read_stream(&wire);
    let names = ["strategy", "quotes", "market_data"].map(String::from);
    let data = |sequence: u64| Seen::Data {
        session: 77,
        sequence,
        timestamp: 1_000 + sequence,
        body: format!("quote {sequence}").into_bytes(),
    };
    assert_eq!(
        seen,
        vec![
            Seen::Hello {
                session: 77,
                next: 1,
                versions: (1, 1),
                role: 1,
                names
            },
            Seen::Welcome {
                session: 88,
                have: 0,
                version: 1
            },
            data(1),
            data(2),
            data(3),
            Seen::Ack {
                session: 77,
                sequence: 3
            },
            Seen::Producer {
                session: 77,
                service: "strategy".into(),
                sink: "quotes".into()
            },
            Seen::Gap {
                session: 77,
                first: 4,
                count: 2
            },
            Seen::Refuse {
                code: 1,
                reason: "not declared".into()
            },
        ]
    );
}
