//! An independent decoder of the sinkgen protocol, written from `docs/PROTOCOL.md`
//! alone (its own CRC-32, its own field offsets; nothing of the runtime's protocol
//! module), reads a stream the runtime wrote and agrees with it field by field.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{GUARD, TempDir, unix_url};
use sinkgen_runtime::protocol::{self, Control, Hello, RefuseCode, Role};
use sinkgen_runtime::{Bytes, Framing, RelaySink, SinkBuilder};

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

/// A frame written by this decoder's side: the header fields, the body, the CRC.
fn frame(kind: u8, session: u64, sequence: u64, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(b"SG");
    f.extend_from_slice(&[1, kind]);
    f.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    f.extend_from_slice(&session.to_le_bytes());
    f.extend_from_slice(&sequence.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes());
    let crc = crc32(&[&f, body]);
    f.extend_from_slice(&crc.to_le_bytes());
    f.extend_from_slice(body);
    f
}

/// Reads from `stream` into `wire` (everything read on the connection so far) until
/// `done` says its whole frames are enough; returns them all.
fn read_until(
    stream: &mut std::os::unix::net::UnixStream,
    wire: &mut Vec<u8>,
    done: impl Fn(&[Seen]) -> bool,
) -> Vec<Seen> {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + GUARD;
    loop {
        // Whole frames only: a frame is 36 bytes of header and its length.
        let mut end = 0;
        while wire.len() >= end + 36 {
            let length = u32::from_le_bytes(wire[end + 4..end + 8].try_into().unwrap()) as usize;
            if wire.len() < end + 36 + length {
                break;
            }
            end += 36 + length;
        }
        let seen = read_stream(&wire[..end]);
        if done(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "the sink did not send enough frames"
        );
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the sink closed the connection");
        wire.extend_from_slice(&buf[..n]);
    }
}

/// The stream a real sink writes on a Unix socket, captured and read by this decoder
/// alone: its HELLO names it, its data frames carry its session and sequences 1, 2,
/// 3, ..., and the frames this side acknowledges count as sent. The session is new,
/// so its frames follow HELLO before this side has answered (early data).
#[test]
fn an_independent_decoder_reads_what_a_sink_writes() {
    let dir = TempDir::new();
    let path = dir.sock("captured.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(GUARD)).unwrap();
        let mut wire = Vec::new();
        // HELLO and the five data frames, all before WELCOME.
        let seen = read_until(&mut s, &mut wire, |seen| seen.len() >= 6);
        let (hello, data) = seen.split_at(1);
        let Seen::Hello {
            session,
            names,
            role,
            versions,
            ..
        } = &hello[0]
        else {
            panic!("the first frame is not a HELLO: {hello:?}");
        };
        assert_eq!(
            (names.clone(), *role, *versions),
            (
                ["strategy", "quotes", "market_data"].map(String::from),
                1,
                (1, 1)
            )
        );
        let session = *session;
        for (i, d) in data.iter().enumerate() {
            let Seen::Data {
                session: got,
                sequence,
                body,
                ..
            } = d
            else {
                panic!("not a data frame: {d:?}");
            };
            assert_eq!((*got, *sequence), (session, i as u64 + 1));
            assert_eq!(body, format!("quote {}", i + 1).as_bytes());
        }
        s.write_all(&frame(3, 99, 0, &[1])).unwrap();
        s.write_all(&frame(4, session, 5, &[])).unwrap();
        // Hold the connection until the sink closes it.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sink: RelaySink<Bytes> = SinkBuilder::new(unix_url(&path))
            .name("quotes")
            .identity("strategy", "market_data")
            .framing(Framing::Sinkgen)
            .relay()
            .unwrap();
        for i in 1..=5 {
            sink.send(Bytes::from(format!("quote {i}"))).await.unwrap();
        }
        tokio::time::timeout(Duration::from_secs(20), sink.flush())
            .await
            .expect("acknowledged in time")
            .expect("flushed");
        assert_eq!(sink.status().frames_sent, 5);
        assert_eq!(sink.close().await, 0);
    });
    peer.join().unwrap();
}
