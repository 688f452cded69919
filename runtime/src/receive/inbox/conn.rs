//! One direct sender's connection to an inbox: handshake, frames, acknowledgements.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::sync::mpsc;

use super::Shared;
use crate::protocol::{self, Control, Hello, Kind, ProtocolError, RefuseCode, Role};
use crate::receive::counters::Refusal;
use crate::receive::frames::{self, Next};
use crate::receive::sessions::Verdict;
use crate::receive::socket::Stream;
use crate::receive::{Event, Producer};

/// Why a connection ends.
enum End {
    /// Refuse the peer with this, then close.
    Refuse(Control),
    /// Just close (peer gone, inbox dropped).
    Close,
}

/// Serves one accepted connection until it ends.
pub(super) async fn serve(stream: Stream, shared: Arc<Shared>, tx: mpsc::Sender<Event>) {
    let mut buf = BytesMut::new();
    let hello = tokio::time::timeout(
        shared.opts.connect_timeout,
        first_frame(&stream, &mut buf, &shared),
    )
    .await;
    let hello = match hello {
        Ok(Ok(hello)) => hello,
        Ok(Err(End::Refuse(refuse))) => return refuse_and_close(stream, &shared, refuse).await,
        Ok(Err(End::Close)) | Err(_) => return,
    };
    let (session, hello) = match admit(&shared, hello) {
        Ok(admitted) => admitted,
        Err(refuse) => return refuse_and_close(stream, &shared, refuse).await,
    };
    let have = {
        let mut sessions = shared
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.name(session, &hello.service, &hello.sink);
        sessions.have(session)
    };
    let mut out = Vec::new();
    Control::Welcome {
        session: shared.session,
        have,
        version: protocol::VERSION,
    }
    .append(&mut out, frames::now_nanos());
    if stream.write_all(&out).await.is_err() {
        return;
    }
    shared.counters.sender(true);
    tracing::debug!(inbox = %shared.opts.name, sender = %hello.service, "sender connected");
    let end = receive(&stream, &mut buf, &shared, &tx).await;
    shared.counters.sender(false);
    if let Err(End::Refuse(refuse)) = end {
        refuse_and_close(stream, &shared, refuse).await;
    }
}

/// Reads the first frame: it must be a HELLO.
async fn first_frame(stream: &Stream, buf: &mut BytesMut, shared: &Shared) -> Result<Control, End> {
    loop {
        match frames::next(buf, shared.opts.max_frame)
            .map_err(|e| End::Refuse(frames::refusal_for(&e)))?
        {
            Next::Control(_, hello) if matches!(*hello, Control::Hello { .. }) => {
                return Ok(*hello);
            }
            Next::Data { .. } | Next::Control(..) => {
                return Err(End::Refuse(frames::refusal_for(&ProtocolError::Body {
                    kind: Kind::Hello,
                    why: "the first frame must be HELLO",
                })));
            }
            Next::Need(need) => {
                frames::reserve(buf, need);
                if !matches!(stream.read(buf).await, Ok(n) if n > 0) {
                    return Err(End::Close);
                }
            }
        }
    }
}

/// Admits a declared direct sender, or says why not.
fn admit(shared: &Shared, hello: Control) -> Result<(u64, Hello), Control> {
    let Control::Hello { session, hello, .. } = hello else {
        unreachable!("first_frame returns a HELLO")
    };
    let refuse = |code, reason: String| Control::Refuse { code, reason };
    let me = &shared.opts.service;
    if hello.role != Role::DirectSender {
        return Err(refuse(
            RefuseCode::Role,
            format!(
                "this is the inbox of service `{me}`: it takes direct senders, not a {:?} (subscribe through a relay)",
                hello.role
            ),
        ));
    }
    if protocol::choose_version(hello.min_version, hello.max_version).is_none() {
        return Err(refuse(
            RefuseCode::Version,
            format!(
                "this inbox speaks protocol versions {}..={}, the sender {}..={}",
                protocol::MIN_VERSION,
                protocol::VERSION,
                hello.min_version,
                hello.max_version
            ),
        ));
    }
    if !me.is_empty() && *hello.target != **me {
        return Err(refuse(
            RefuseCode::UnknownName,
            format!(
                "this is the inbox of service `{me}`, not of `{}`",
                hello.target
            ),
        ));
    }
    if let Some(senders) = &shared.opts.senders
        && !senders.iter().any(|s| **s == *hello.service)
    {
        let declared: Vec<&str> = senders.iter().map(|s| &**s).collect();
        return Err(refuse(
            RefuseCode::UnknownName,
            format!(
                "service `{}` is not declared to send to `{me}` (declared: {}); add a direct sink to `{me}` to `{}` in services.toml",
                hello.service,
                if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.join(", ")
                },
                hello.service
            ),
        ));
    }
    Ok((session, hello))
}

/// Data frames until the sender goes: de-duplicated, queued for the application, and
/// acknowledged per read once queued.
async fn receive(
    stream: &Stream,
    buf: &mut BytesMut,
    shared: &Shared,
    tx: &mpsc::Sender<Event>,
) -> Result<(), End> {
    let mut acks: Vec<(u64, u64)> = Vec::new();
    let mut out = Vec::new();
    loop {
        match frames::next(buf, shared.opts.max_frame)
            .map_err(|e| End::Refuse(frames::refusal_for(&e)))?
        {
            Next::Data {
                session,
                sequence,
                body,
            } => {
                let (verdict, producer, have) = judge(shared, session, sequence);
                *ack_slot(&mut acks, session) = have;
                match verdict {
                    Verdict::Duplicate => shared.counters.duplicate(),
                    Verdict::Late => {
                        queue(
                            tx,
                            Event::Gap {
                                producer,
                                missed: 1,
                            },
                        )
                        .await?
                    }
                    Verdict::Next => queue(tx, Event::Data { producer, body }).await?,
                    Verdict::After(missed) => {
                        let gap = Event::Gap {
                            producer: producer.clone(),
                            missed,
                        };
                        queue(tx, gap).await?;
                        queue(tx, Event::Data { producer, body }).await?;
                    }
                }
            }
            Next::Control(_, refuse) if matches!(*refuse, Control::Refuse { .. }) => {
                return Err(End::Close);
            }
            Next::Control(kind, _) => {
                return Err(End::Refuse(frames::refusal_for(&ProtocolError::Body {
                    kind,
                    why: "unexpected frame from a direct sender",
                })));
            }
            Next::Need(need) => {
                if !acks.is_empty() {
                    let now = frames::now_nanos();
                    for (session, sequence) in acks.drain(..) {
                        Control::Ack { session, sequence }.append(&mut out, now);
                    }
                    stream.write_all(&out).await.map_err(|_| End::Close)?;
                    out.clear();
                }
                frames::reserve(buf, need);
                if !matches!(stream.read(buf).await, Ok(n) if n > 0) {
                    return Err(End::Close);
                }
            }
        }
    }
}

fn judge(shared: &Shared, session: u64, sequence: u64) -> (Verdict, Producer, u64) {
    let mut sessions = shared
        .sessions
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (verdict, producer) = sessions.data(session, sequence);
    (verdict, producer, sessions.have(session))
}

fn ack_slot(acks: &mut Vec<(u64, u64)>, session: u64) -> &mut u64 {
    let at = match acks.iter().position(|(s, _)| *s == session) {
        Some(at) => at,
        None => {
            acks.push((session, 0));
            acks.len() - 1
        }
    };
    &mut acks[at].1
}

/// Waits for room in the application's queue (backpressure); `Close` when the inbox
/// is gone.
async fn queue(tx: &mpsc::Sender<Event>, event: Event) -> Result<(), End> {
    tx.send(event).await.map_err(|_| End::Close)
}

/// Sends REFUSE, then closes once the sender has (see [`Stream::linger`]).
async fn refuse_and_close(stream: Stream, shared: &Shared, refuse: Control) {
    if let Control::Refuse { code, reason } = &refuse {
        tracing::warn!(inbox = %shared.opts.name, ?code, %reason, "refused a sender");
        shared.counters.refusal(
            Refusal {
                code: *code,
                reason: reason.clone(),
            },
            None,
        );
    }
    let mut out = Vec::new();
    refuse.append(&mut out, frames::now_nanos());
    if let Ok(Ok(())) =
        tokio::time::timeout(shared.opts.connect_timeout, stream.write_all(&out)).await
    {
        stream.linger(protocol::REFUSE_LINGER).await;
    }
}
