//! Connections to a `sinkgen` relay: the handshake, producers (frames in, acks out)
//! and subscribers (backlog out, acks in).

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sinkgen_runtime::protocol::{
    self, Control, Frame, HEADER_LEN, Header, Hello, Kind, ProtocolError, RefuseCode, Role,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::watch;

use crate::config::RelaySpec;
use crate::hub::Hub;
use crate::listen::Stream;
use crate::{Phase, now_nanos, reached};

/// Longest a new connection may take to say HELLO.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes written to a subscriber per write.
const WRITE_BATCH: usize = 256 << 10;
/// How long a subscriber connection whose write failed is still read for the
/// acknowledgements its peer sent before it went.
const LAST_ACKS: Duration = Duration::from_millis(200);

/// One relay's side of its connections.
pub(crate) struct Served {
    pub(crate) spec: Arc<RelaySpec>,
    pub(crate) place: String,
    pub(crate) hub: Arc<Hub>,
    /// The relay's own session (named in WELCOME).
    pub(crate) session: u64,
}

/// Splits a byte stream into whole frames.
struct Frames {
    buf: BytesMut,
}

impl Frames {
    fn new() -> Frames {
        Frames {
            buf: BytesMut::with_capacity(64 << 10),
        }
    }

    /// Reads more; `false` at the end of the stream.
    async fn fill(&mut self, r: &mut ReadHalf<Box<dyn Stream>>) -> std::io::Result<bool> {
        if self.buf.capacity() - self.buf.len() < 16 << 10 {
            self.buf.reserve(64 << 10);
        }
        Ok(r.read_buf(&mut self.buf).await? > 0)
    }

    /// The next whole frame: its header and all its bytes.
    fn next(&mut self) -> Result<Option<(Header, Bytes)>, ProtocolError> {
        let (header, used) = match protocol::decode(&self.buf, protocol::DEFAULT_MAX_FRAME)? {
            Some((frame, used)) => (frame.header, used),
            None => return Ok(None),
        };
        Ok(Some((header, self.buf.split_to(used).freeze())))
    }
}

fn control(header: Header, bytes: &Bytes) -> Result<Control, ProtocolError> {
    Control::parse(&Frame {
        header,
        body: &bytes[HEADER_LEN..],
    })
}

async fn send(w: &mut WriteHalf<Box<dyn Stream>>, c: Control) -> std::io::Result<()> {
    let mut buf = Vec::new();
    c.append(&mut buf, now_nanos());
    w.write_all(&buf).await
}

/// Sends REFUSE, ends the relay's side, and reads what the opener still sends until
/// it closes (at most [`protocol::REFUSE_LINGER`]), so that the close does not reset
/// the connection ahead of the REFUSE (early data may follow HELLO).
async fn refuse(
    r: &mut ReadHalf<Box<dyn Stream>>,
    w: &mut WriteHalf<Box<dyn Stream>>,
    code: RefuseCode,
    reason: String,
) {
    let _ = send(w, Control::Refuse { code, reason }).await;
    let _ = w.shutdown().await;
    let mut scratch = vec![0u8; 16 << 10];
    let drain = async { while matches!(r.read(&mut scratch).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(protocol::REFUSE_LINGER, drain).await;
}

impl Served {
    /// Serves one connection to its end.
    pub(crate) async fn connection(
        self: Arc<Self>,
        stream: Box<dyn Stream>,
        phase: watch::Receiver<Phase>,
    ) {
        let (mut r, mut w) = tokio::io::split(stream);
        let mut frames = Frames::new();
        let hello = tokio::time::timeout(HELLO_TIMEOUT, read_hello(&mut r, &mut frames)).await;
        let (session, hello) = match hello {
            Ok(Ok(Some(h))) => h,
            Ok(Ok(None)) => return,
            Ok(Err(why)) => {
                self.hub.stats.bad_frame();
                tracing::warn!(relay = %self.spec.name, %why, "closing a connection: no HELLO");
                return refuse(&mut r, &mut w, RefuseCode::Protocol, why).await;
            }
            Err(_) => {
                tracing::warn!(relay = %self.spec.name, "closing a connection: no HELLO within 10 s");
                return refuse(
                    &mut r,
                    &mut w,
                    RefuseCode::Protocol,
                    "no HELLO within 10 s".into(),
                )
                .await;
            }
        };
        let Some(version) = protocol::choose_version(hello.min_version, hello.max_version) else {
            let why = format!(
                "relay `{}` speaks protocol versions {}..={}, the opener {}..={}",
                self.spec.name,
                protocol::MIN_VERSION,
                protocol::VERSION,
                hello.min_version,
                hello.max_version
            );
            return self
                .refused(&mut r, &mut w, RefuseCode::Version, why, &hello)
                .await;
        };
        if let Err((code, why)) = self.admit(&hello) {
            return self.refused(&mut r, &mut w, code, why, &hello).await;
        }
        if *phase.borrow() != Phase::Running {
            return refuse(
                &mut r,
                &mut w,
                RefuseCode::ShuttingDown,
                "the relay is shutting down".into(),
            )
            .await;
        }
        self.hub.stats.connected();
        match hello.role {
            Role::Producer => {
                tracing::info!(relay = %self.spec.name, service = %hello.service, sink = %hello.sink, session, "producer connected");
                self.producer(r, w, frames, session, &hello, version, phase)
                    .await;
            }
            _ => {
                let idx = self.spec.subscriber(&hello.service).expect("admitted");
                tracing::info!(relay = %self.spec.name, service = %hello.service, "subscriber connected");
                self.subscriber(r, w, frames, idx, version, phase).await;
            }
        }
        self.hub.stats.disconnected();
        tracing::info!(relay = %self.spec.name, service = %hello.service, role = ?hello.role, "disconnected");
    }

    /// Whether the file declares the opener for its role here.
    fn admit(&self, hello: &Hello) -> Result<(), (RefuseCode, String)> {
        let relay = &self.spec.name;
        let unknown = |why: String| Err((RefuseCode::UnknownName, why));
        if !matches!(hello.role, Role::Producer | Role::Subscriber) {
            return Err((
                RefuseCode::Role,
                format!("relay `{relay}` serves producers and subscribers, not direct senders"),
            ));
        }
        if hello.target != *relay {
            return unknown(format!(
                "this endpoint serves relay `{relay}` ({}), not `{}`",
                self.place, hello.target
            ));
        }
        match hello.role {
            Role::Producer if self.spec.is_producer(&hello.service, &hello.sink) => Ok(()),
            Role::Producer => unknown(format!(
                "service `{}` with sink `{}` is not a producer of relay `{relay}` in {}: a producer must be a service with a relay sink to that relay",
                hello.service, hello.sink, self.place
            )),
            Role::Subscriber if self.spec.subscriber(&hello.service).is_some() => Ok(()),
            Role::Subscriber => unknown(format!(
                "service `{}` is not a subscriber of relay `{relay}` in {}: a subscriber must list the relay in `subscribes`",
                hello.service, self.place
            )),
            _ => Err((
                RefuseCode::Role,
                format!("relay `{relay}` serves producers and subscribers, not direct senders"),
            )),
        }
    }

    async fn refused(
        &self,
        r: &mut ReadHalf<Box<dyn Stream>>,
        w: &mut WriteHalf<Box<dyn Stream>>,
        code: RefuseCode,
        why: String,
        hello: &Hello,
    ) {
        self.hub.stats.refused();
        tracing::warn!(relay = %self.spec.name, service = %hello.service, sink = %hello.sink, role = ?hello.role, code = ?code, %why, "refused");
        refuse(r, w, code, why).await;
    }

    #[expect(clippy::too_many_arguments, reason = "one connection's parts")]
    async fn producer(
        &self,
        mut r: ReadHalf<Box<dyn Stream>>,
        mut w: WriteHalf<Box<dyn Stream>>,
        mut frames: Frames,
        session: u64,
        hello: &Hello,
        version: u8,
        mut phase: watch::Receiver<Phase>,
    ) {
        let (have, wake) = self
            .hub
            .producer_hello(session, &hello.service, &hello.sink);
        let welcome = Control::Welcome {
            session: self.session,
            have,
            version,
        };
        if send(&mut w, welcome).await.is_err() {
            return;
        }
        let mut acked = 0;
        loop {
            // Frames already read with the HELLO come first.
            let mut batch = Vec::new();
            loop {
                match frames.next() {
                    Ok(Some((h, bytes))) if h.kind == Kind::Data && h.session == session => {
                        batch.push((h.sequence, bytes));
                    }
                    Ok(Some((h, bytes))) => {
                        let why = match control(h, &bytes) {
                            Ok(Control::Refuse { code, reason }) => {
                                tracing::info!(relay = %self.spec.name, ?code, %reason, "producer refused the connection");
                                return;
                            }
                            Ok(_) if h.kind == Kind::Data => format!(
                                "data of session {:#x} on the connection of session {session:#x}",
                                h.session
                            ),
                            Ok(c) => format!("unexpected {c:?} from a producer"),
                            Err(e) => e.to_string(),
                        };
                        return self.broken(&mut r, &mut w, why).await;
                    }
                    Ok(None) => break,
                    Err(e) => return self.broken(&mut r, &mut w, e.to_string()).await,
                }
            }
            if !batch.is_empty() {
                let done = self.hub.publish(session, batch);
                self.hub.stats.received(done.accepted);
                self.hub.stats.duplicate(done.duplicates);
                if done.missing > 0 {
                    tracing::warn!(relay = %self.spec.name, service = %hello.service, sink = %hello.sink, missing = done.missing, "frames missing from a producer's sequence");
                }
            }
            let can = self.hub.ackable(session);
            if can > acked {
                acked = can;
                if send(
                    &mut w,
                    Control::Ack {
                        session,
                        sequence: can,
                    },
                )
                .await
                .is_err()
                {
                    return;
                }
            }
            tokio::select! {
                more = frames.fill(&mut r) => if !matches!(more, Ok(true)) { return },
                () = wake.notified() => {}
                () = reached(&mut phase, Phase::Draining) => {
                    return refuse(&mut r, &mut w, RefuseCode::ShuttingDown, "the relay is shutting down".into()).await;
                }
            }
        }
    }

    async fn broken(
        &self,
        r: &mut ReadHalf<Box<dyn Stream>>,
        w: &mut WriteHalf<Box<dyn Stream>>,
        why: String,
    ) {
        self.hub.stats.bad_frame();
        tracing::warn!(relay = %self.spec.name, %why, "closing a connection: broken frame");
        refuse(r, w, RefuseCode::Protocol, why).await;
    }

    async fn subscriber(
        &self,
        mut r: ReadHalf<Box<dyn Stream>>,
        mut w: WriteHalf<Box<dyn Stream>>,
        mut frames: Frames,
        idx: usize,
        version: u8,
        mut phase: watch::Receiver<Phase>,
    ) {
        let (conn, wake) = self.hub.subscriber_connect(idx);
        let welcome = Control::Welcome {
            session: self.session,
            have: 0,
            version,
        };
        if send(&mut w, welcome).await.is_ok() {
            let hub = &self.hub;
            // Ends when the connection failed or was replaced.
            let write = async {
                let mut buf = Vec::with_capacity(WRITE_BATCH + (64 << 10));
                loop {
                    buf.clear();
                    let Some(n) = hub.take(idx, conn, &mut buf, WRITE_BATCH) else {
                        return;
                    };
                    if buf.is_empty() {
                        wake.notified().await;
                        continue;
                    }
                    if w.write_all(&buf).await.is_err() {
                        return;
                    }
                    hub.stats.sent(n);
                    hub.stats.subscribers[idx].sent(n);
                }
            };
            let read = async {
                loop {
                    loop {
                        match frames.next() {
                            Ok(Some((h, bytes))) => match control(h, &bytes) {
                                Ok(Control::Ack { session, sequence }) => {
                                    hub.subscriber_ack(idx, conn, session, sequence);
                                }
                                Ok(Control::Refuse { code, reason }) => {
                                    tracing::info!(relay = %self.spec.name, ?code, %reason, "subscriber refused the connection");
                                    return;
                                }
                                _ => {
                                    hub.stats.bad_frame();
                                    tracing::warn!(relay = %self.spec.name, kind = ?h.kind, "closing a subscriber: unexpected frame");
                                    return;
                                }
                            },
                            Ok(None) => break,
                            Err(e) => {
                                hub.stats.bad_frame();
                                tracing::warn!(relay = %self.spec.name, why = %e, "closing a subscriber: broken frame");
                                return;
                            }
                        }
                    }
                    if !matches!(frames.fill(&mut r).await, Ok(true)) {
                        return;
                    }
                }
            };
            tokio::pin!(read);
            let write_ended = tokio::select! {
                () = write => true,
                () = &mut read => false,
                () = reached(&mut phase, Phase::Stop) => false,
            };
            if write_ended {
                // A subscriber that died while frames were being written to it, or
                // that came back on a new connection, sent its last acknowledgements
                // on this one before it went: they are in the socket, ahead of its
                // end, and still count (else its successor would get frames it
                // acknowledged; see `Hub::subscriber_ack`). The read ends at that
                // end; bounded, for a peer that stopped reading but not writing.
                let _ = tokio::time::timeout(LAST_ACKS, read).await;
            }
        }
        self.hub.subscriber_gone(idx, conn);
    }
}

/// Reads the first frame, which must be a HELLO.
async fn read_hello(
    r: &mut ReadHalf<Box<dyn Stream>>,
    frames: &mut Frames,
) -> Result<Option<(u64, Hello)>, String> {
    loop {
        match frames.next() {
            Ok(Some((h, bytes))) => {
                return match control(h, &bytes) {
                    Ok(Control::Hello { session, hello, .. }) => Ok(Some((session, hello))),
                    Ok(other) => Err(format!("the first frame must be HELLO, not {other:?}")),
                    Err(e) => Err(e.to_string()),
                };
            }
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        match frames.fill(r).await {
            Ok(true) => {}
            _ => return Ok(None),
        }
    }
}
