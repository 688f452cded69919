//! Small protocol peers for the receiver tests, written with the protocol module: a
//! test relay (accepts subscribers, speaks as scripted) and a test direct sender.

use std::path::Path;

use sinkgen_runtime::bytes::BytesMut;
use sinkgen_runtime::protocol::{self, Control, Hello, Kind, Role};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// A Unix or TCP stream.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// One end of a protocol connection, reading whole frames.
pub struct Peer {
    pub stream: Box<dyn Io>,
    buf: BytesMut,
}

/// A frame read by a [`Peer`]: data (session, sequence, body) or control.
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    Data(u64, u64, Vec<u8>),
    Control(Control),
}

impl Peer {
    pub fn new(stream: impl Io + 'static) -> Peer {
        Peer {
            stream: Box::new(stream),
            buf: BytesMut::new(),
        }
    }

    pub async fn connect(path: &Path) -> Peer {
        Peer::new(UnixStream::connect(path).await.unwrap())
    }

    /// The next frame, or `None` at end of stream.
    pub async fn next(&mut self) -> Option<Got> {
        loop {
            if let Some((frame, used)) =
                protocol::decode(&self.buf, protocol::DEFAULT_MAX_FRAME).unwrap()
            {
                let got = if frame.header.kind == Kind::Data {
                    Got::Data(
                        frame.header.session,
                        frame.header.sequence,
                        frame.body.to_vec(),
                    )
                } else {
                    Got::Control(Control::parse(&frame).unwrap())
                };
                let _ = self.buf.split_to(used);
                return Some(got);
            }
            self.buf.reserve(4096);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next control frame (panics on data or end of stream).
    pub async fn control(&mut self) -> Control {
        match self.next().await {
            Some(Got::Control(c)) => c,
            other => panic!("expected a control frame, got {other:?}"),
        }
    }

    /// Reads ACKs until one covers `sequence` of `session`.
    pub async fn acked(&mut self, session: u64, sequence: u64) {
        loop {
            match self.control().await {
                Control::Ack {
                    session: s,
                    sequence: q,
                } if s == session && q >= sequence => return,
                Control::Ack { .. } => {}
                other => panic!("expected an ACK, got {other:?}"),
            }
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    pub async fn send_control(&mut self, c: Control) {
        let mut out = Vec::new();
        c.append(&mut out, 1);
        self.send(&out).await;
    }

    /// Reads the subscriber's HELLO and answers WELCOME.
    pub async fn welcome_subscriber(&mut self) -> Hello {
        match self.control().await {
            Control::Hello { hello, .. } => {
                assert_eq!(hello.role, Role::Subscriber);
                self.send_control(Control::Welcome {
                    session: 99,
                    have: 0,
                    version: 1,
                })
                .await;
                hello
            }
            other => panic!("expected HELLO, got {other:?}"),
        }
    }

    pub async fn producer(&mut self, session: u64, service: &str, sink: &str) {
        self.send_control(Control::Producer {
            session,
            service: service.to_owned(),
            sink: sink.to_owned(),
        })
        .await;
    }

    /// Direct sender: HELLO as `service` to `target`; the answer.
    pub async fn hello_as(&mut self, session: u64, service: &str, target: &str) -> Control {
        self.send_control(direct_hello(session, service, target))
            .await;
        self.control().await
    }
}

/// A direct sender's HELLO, as `service` to `target`.
pub fn direct_hello(session: u64, service: &str, target: &str) -> Control {
    Control::Hello {
        session,
        next: 1,
        hello: Hello {
            min_version: 1,
            max_version: 1,
            role: Role::DirectSender,
            service: service.to_owned(),
            sink: target.to_owned(),
            target: target.to_owned(),
        },
    }
}

/// Data frames `seqs` of `session`, each with body `"<seq>"`.
pub fn data(session: u64, seqs: impl IntoIterator<Item = u64>) -> Vec<u8> {
    let mut out = Vec::new();
    for seq in seqs {
        protocol::append_data(&mut out, session, seq, 1, seq.to_string().as_bytes());
    }
    out
}

/// A test relay on a Unix socket.
pub struct Relay {
    pub listener: UnixListener,
}

impl Relay {
    pub fn bind(path: &Path) -> Relay {
        Relay {
            listener: UnixListener::bind(path).unwrap(),
        }
    }

    pub async fn accept(&self) -> Peer {
        Peer::new(self.listener.accept().await.unwrap().0)
    }
}
