//! Control frames: the handshake, acknowledgements, refusals, gaps and producer names.

use super::{Frame, Kind, MAX_CONTROL_BODY, ProtocolError, append_frame};

/// What the opener of a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// A relay sink sending to a relay.
    Producer,
    /// A subscription receiving from a relay.
    Subscriber,
    /// A direct sink sending to a service's inbox.
    DirectSender,
}

impl Role {
    const fn byte(self) -> u8 {
        match self {
            Role::Producer => 1,
            Role::Subscriber => 2,
            Role::DirectSender => 3,
        }
    }

    const fn from_byte(b: u8) -> Option<Role> {
        match b {
            1 => Some(Role::Producer),
            2 => Some(Role::Subscriber),
            3 => Some(Role::DirectSender),
            _ => None,
        }
    }
}

/// Why a peer refused a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefuseCode {
    /// The service, sink or relay is not declared for this role.
    UnknownName,
    /// No common protocol version.
    Version,
    /// The role is not served here.
    Role,
    /// A frame over the receiver's limit.
    TooLarge,
    /// Bad magic, checksum, or an unexpected frame.
    Protocol,
    /// The peer is shutting down.
    ShuttingDown,
    /// A code this runtime does not know (from a newer peer).
    Other(u16),
}

impl RefuseCode {
    /// The code on the wire.
    #[must_use]
    pub const fn code(self) -> u16 {
        match self {
            RefuseCode::UnknownName => 1,
            RefuseCode::Version => 2,
            RefuseCode::Role => 3,
            RefuseCode::TooLarge => 4,
            RefuseCode::Protocol => 5,
            RefuseCode::ShuttingDown => 6,
            RefuseCode::Other(c) => c,
        }
    }

    /// The code of a number on the wire.
    #[must_use]
    pub const fn from_code(code: u16) -> RefuseCode {
        match code {
            1 => RefuseCode::UnknownName,
            2 => RefuseCode::Version,
            3 => RefuseCode::Role,
            4 => RefuseCode::TooLarge,
            5 => RefuseCode::Protocol,
            6 => RefuseCode::ShuttingDown,
            c => RefuseCode::Other(c),
        }
    }
}

/// The body of a HELLO: who opens the connection, and which versions it speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Oldest version the opener speaks.
    pub min_version: u8,
    /// Newest version the opener speaks.
    pub max_version: u8,
    /// What the opener is.
    pub role: Role,
    /// The opener's service in `services.toml`.
    pub service: String,
    /// The sink's name (producer, direct sender); empty for a subscriber.
    pub sink: String,
    /// The relay (producer, subscriber) or the receiving service (direct sender).
    pub target: String,
}

/// A control frame, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// The opener's first frame.
    Hello {
        /// The opener's session.
        session: u64,
        /// The next sequence the opener will send (0 if none).
        next: u64,
        /// Versions, role and names.
        hello: Hello,
    },
    /// The acceptor's answer.
    Welcome {
        /// The acceptor's session.
        session: u64,
        /// Highest sequence of the opener's session the acceptor already has (0: none).
        have: u64,
        /// The version chosen for the connection.
        version: u8,
    },
    /// Every frame of `session` up to and including `sequence` is received.
    Ack {
        /// The producer session.
        session: u64,
        /// The highest sequence received in order.
        sequence: u64,
    },
    /// The sender refuses the connection and closes it.
    Refuse {
        /// Why.
        code: RefuseCode,
        /// For people.
        reason: String,
    },
    /// `count` frames of `session` from `first` on will never come.
    Gap {
        /// The producer session.
        session: u64,
        /// The first missing sequence.
        first: u64,
        /// How many frames are missing.
        count: u64,
    },
    /// Names the producer of `session`.
    Producer {
        /// The producer session.
        session: u64,
        /// The producing service.
        service: String,
        /// The producing sink.
        sink: String,
    },
}

impl Control {
    /// Appends the frame to `buf`, stamped with `timestamp` (nanoseconds since the Unix
    /// epoch).
    ///
    /// # Panics
    ///
    /// If a name or reason makes the body longer than [`MAX_CONTROL_BODY`], or a name
    /// is longer than `u16::MAX` bytes.
    pub fn append(&self, buf: &mut Vec<u8>, timestamp: u64) {
        let mut body = Vec::new();
        let (kind, session, sequence) = match self {
            Control::Hello {
                session,
                next,
                hello,
            } => {
                body.extend_from_slice(&[
                    hello.min_version,
                    hello.max_version,
                    hello.role.byte(),
                    0,
                ]);
                for s in [&hello.service, &hello.sink, &hello.target] {
                    put_str(&mut body, s);
                }
                (Kind::Hello, *session, *next)
            }
            Control::Welcome {
                session,
                have,
                version,
            } => {
                body.push(*version);
                (Kind::Welcome, *session, *have)
            }
            Control::Ack { session, sequence } => (Kind::Ack, *session, *sequence),
            Control::Refuse { code, reason } => {
                body.extend_from_slice(&code.code().to_le_bytes());
                let room = MAX_CONTROL_BODY - 2;
                body.extend_from_slice(truncate_utf8(reason, room).as_bytes());
                (Kind::Refuse, 0, 0)
            }
            Control::Gap {
                session,
                first,
                count,
            } => {
                body.extend_from_slice(&count.to_le_bytes());
                (Kind::Gap, *session, *first)
            }
            Control::Producer {
                session,
                service,
                sink,
            } => {
                put_str(&mut body, service);
                put_str(&mut body, sink);
                (Kind::Producer, *session, 0)
            }
        };
        assert!(body.len() <= MAX_CONTROL_BODY, "control body too long");
        append_frame(buf, kind, session, sequence, timestamp, &body);
    }

    /// Reads a control frame.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::NotControl`] for a data frame, [`ProtocolError::Body`] for a
    /// body too short for its kind or with a name that is not UTF-8. Bytes past the
    /// fields a kind defines are ignored (a newer peer may add fields).
    pub fn parse(frame: &Frame<'_>) -> Result<Control, ProtocolError> {
        let h = frame.header;
        let mut r = Reader {
            kind: h.kind,
            rest: frame.body,
        };
        Ok(match h.kind {
            Kind::Data => return Err(ProtocolError::NotControl),
            Kind::Hello => {
                let [min_version, max_version, role, _] = r.array::<4>()?;
                let role = Role::from_byte(role).ok_or(ProtocolError::Body {
                    kind: Kind::Hello,
                    why: "unknown role",
                })?;
                Control::Hello {
                    session: h.session,
                    next: h.sequence,
                    hello: Hello {
                        min_version,
                        max_version,
                        role,
                        service: r.string()?,
                        sink: r.string()?,
                        target: r.string()?,
                    },
                }
            }
            Kind::Welcome => Control::Welcome {
                session: h.session,
                have: h.sequence,
                version: r.array::<1>()?[0],
            },
            Kind::Ack => Control::Ack {
                session: h.session,
                sequence: h.sequence,
            },
            Kind::Refuse => {
                let code = RefuseCode::from_code(u16::from_le_bytes(r.array::<2>()?));
                Control::Refuse {
                    code,
                    reason: String::from_utf8_lossy(r.rest).into_owned(),
                }
            }
            Kind::Gap => Control::Gap {
                session: h.session,
                first: h.sequence,
                count: u64::from_le_bytes(r.array::<8>()?),
            },
            Kind::Producer => Control::Producer {
                session: h.session,
                service: r.string()?,
                sink: r.string()?,
            },
        })
    }
}

fn put_str(body: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len()).expect("a name is at most 65,535 bytes");
    body.extend_from_slice(&len.to_le_bytes());
    body.extend_from_slice(s.as_bytes());
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Reads the fields of a control body in order.
struct Reader<'a> {
    kind: Kind,
    rest: &'a [u8],
}

impl Reader<'_> {
    fn short(&self) -> ProtocolError {
        ProtocolError::Body {
            kind: self.kind,
            why: "body too short",
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or_else(|| self.short())?;
        self.rest = rest;
        Ok(*head)
    }

    fn string(&mut self) -> Result<String, ProtocolError> {
        let len = usize::from(u16::from_le_bytes(self.array::<2>()?));
        if self.rest.len() < len {
            return Err(self.short());
        }
        let (s, rest) = self.rest.split_at(len);
        self.rest = rest;
        String::from_utf8(s.to_vec()).map_err(|_| ProtocolError::Body {
            kind: self.kind,
            why: "a name is not UTF-8",
        })
    }
}
