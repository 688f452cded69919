//! Errors: what went wrong, whether retrying can help, and the message given back.
//!
//! * [`TransportError`]: a connect or write failure, classified as
//!   [`ErrorClass::Retryable`] (the sink reconnects under backoff, forever) or
//!   [`ErrorClass::Fatal`] (the sink stops; every send fails).
//! * [`SendError`]: a message that was not accepted, returned to the caller with the
//!   reason ([`SendErrorKind`]).
//! * [`SendAllError`]: the messages [`send_all`](crate::RelaySink::send_all) did not
//!   accept, handed back with how many it did and why it stopped.
//! * [`WaitError`]: why [`flush`](crate::RelaySink::flush) or
//!   [`wait_connected`](crate::RelaySink::wait_connected) gave up.
//! * [`BuildError`]: an invalid endpoint or option given to a
//!   [`SinkBuilder`](crate::SinkBuilder).

use std::fmt;
use std::io;
use std::sync::Arc;

/// Whether a failure can go away by retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Refused, missing socket file, would-block on a Unix connect, reset, broken pipe,
    /// timeout, peer closed...: the sink reconnects under backoff.
    Retryable,
    /// Bad address or protocol error: retrying cannot help; the sink fails every send.
    Fatal,
}

/// A connect or write failure of a sink's transport.
#[derive(Clone)]
pub struct TransportError {
    class: ErrorClass,
    kind: io::ErrorKind,
    message: Arc<str>,
}

impl TransportError {
    /// Classifies an I/O error; `context` says what was being done (`"connect to ..."`).
    pub(crate) fn from_io(context: &str, error: &io::Error) -> Self {
        TransportError {
            class: classify(error.kind()),
            kind: error.kind(),
            message: format!("{context}: {error}").into(),
        }
    }

    pub(crate) fn new(
        class: ErrorClass,
        kind: io::ErrorKind,
        message: impl Into<Arc<str>>,
    ) -> Self {
        TransportError {
            class,
            kind,
            message: message.into(),
        }
    }

    /// Whether the sink keeps retrying after this error.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// `true` for [`ErrorClass::Retryable`].
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.class == ErrorClass::Retryable
    }

    /// The underlying I/O error kind (`ConnectionRefused`, `NotFound`, `TimedOut`,
    /// `UnexpectedEof` for a peer that closed, `InvalidInput` for a bad address...).
    #[must_use]
    pub fn io_kind(&self) -> io::ErrorKind {
        self.kind
    }
}

/// Retryable unless retrying provably cannot help: a service must recover from any
/// transient failure, forever (a sink that gives up after one reset is worse than none).
fn classify(kind: io::ErrorKind) -> ErrorClass {
    match kind {
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::Unsupported => {
            ErrorClass::Fatal
        }
        _ => ErrorClass::Retryable,
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self.class {
            ErrorClass::Retryable => "retryable",
            ErrorClass::Fatal => "fatal",
        };
        write!(f, "{} ({class})", self.message)
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("class", &self.class)
            .field("kind", &self.kind)
            .field("message", &self.message)
            .finish()
    }
}

impl std::error::Error for TransportError {}

/// Why a message was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SendErrorKind {
    /// `try_send`: the queue is full (or, for a composite, no member could take it now).
    Full,
    /// `send`: the queue stayed full for the whole `send_timeout`.
    Timeout,
    /// The sink was closed.
    Closed,
    /// The sink failed for good (bad address, protocol error); see
    /// [`SendError::cause`].
    Fatal,
    /// The payload is larger than the sink's `max_frame` (16 MiB unless configured,
    /// see [`SinkBuilder::max_frame`](crate::SinkBuilder::max_frame)) or than a frame
    /// can describe (`u32::MAX` bytes), or (NATS) than the server takes in one message
    /// (its `max_payload`, said in the cause).
    TooLarge,
    /// The sink's connection task is not running and there is no tokio runtime on this
    /// thread to start it (a `try_send` from a plain thread before any `send`).
    NoRuntime,
    /// `when_down = "fail"` ([`WhenDown::Fail`](crate::WhenDown::Fail)): the peer is
    /// down (the sink is not connected after a failed connect attempt), so the message
    /// was not queued; [`SendError::cause`] is the last connection error.
    Down,
}

/// A message the sink did not accept, given back to the caller.
///
/// Nothing of the message was queued or written: the caller may retry it, send it
/// elsewhere or drop it.
pub struct SendError<M> {
    kind: SendErrorKind,
    cause: Option<TransportError>,
    message: M,
}

impl<M> SendError<M> {
    pub(crate) fn new(kind: SendErrorKind, cause: Option<TransportError>, message: M) -> Self {
        SendError {
            kind,
            cause,
            message,
        }
    }

    /// A refusal of `kind` with `message` handed back and no cause: for sinks written
    /// outside the runtime, such as a test double implementing
    /// [`MessageSink`](crate::MessageSink).
    #[must_use]
    pub fn with_kind(kind: SendErrorKind, message: M) -> Self {
        SendError::new(kind, None, message)
    }

    /// Why the message was not accepted.
    #[must_use]
    pub fn kind(&self) -> SendErrorKind {
        self.kind
    }

    /// The transport error behind a [`SendErrorKind::Fatal`] (or the last connection
    /// error when the queue timed out while disconnected).
    #[must_use]
    pub fn cause(&self) -> Option<&TransportError> {
        self.cause.as_ref()
    }

    /// The message that was not sent.
    #[must_use]
    pub fn message(&self) -> &M {
        &self.message
    }

    /// Takes the message back.
    #[must_use]
    pub fn into_message(self) -> M {
        self.message
    }
}

impl<M> fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            SendErrorKind::Full => "queue full",
            SendErrorKind::Timeout => "queue stayed full for the whole send timeout",
            SendErrorKind::Closed => "sink closed",
            SendErrorKind::Fatal => "sink failed",
            SendErrorKind::TooLarge => "payload too large",
            SendErrorKind::NoRuntime => "no tokio runtime to start the sink's connection task",
            SendErrorKind::Down => "peer down (when_down = \"fail\")",
        };
        // The cause is the `source()`, not repeated here.
        write!(f, "message not sent: {what}")
    }
}

impl<M> fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError")
            .field("kind", &self.kind)
            .field("cause", &self.cause)
            .finish_non_exhaustive()
    }
}

impl<M> std::error::Error for SendError<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|c| c as _)
    }
}

/// What [`send_all`](crate::RelaySink::send_all) did not send: how many messages
/// it accepted before it stopped, why it stopped, and the messages not accepted, in
/// their order (the one it stopped at first).
///
/// Nothing of the messages handed back was queued or written.
pub struct SendAllError<M> {
    accepted: usize,
    kind: SendErrorKind,
    cause: Option<TransportError>,
    rest: Vec<M>,
}

impl<M> SendAllError<M> {
    pub(crate) fn new(
        accepted: usize,
        kind: SendErrorKind,
        cause: Option<TransportError>,
        rest: Vec<M>,
    ) -> Self {
        SendAllError {
            accepted,
            kind,
            cause,
            rest,
        }
    }

    /// `accepted` messages taken, then a refusal of `kind` with the `rest` handed
    /// back and no cause: for sinks written outside the runtime, such as a test double
    /// implementing [`MessageSink`](crate::MessageSink).
    #[must_use]
    pub fn with_kind(accepted: usize, kind: SendErrorKind, rest: Vec<M>) -> Self {
        SendAllError::new(accepted, kind, None, rest)
    }

    /// How many messages were accepted (the first ones, in order).
    #[must_use]
    pub fn accepted(&self) -> usize {
        self.accepted
    }

    /// Why the next message was not accepted (as [`SendError::kind`]).
    #[must_use]
    pub fn kind(&self) -> SendErrorKind {
        self.kind
    }

    /// The transport error behind it, if any (as [`SendError::cause`]).
    #[must_use]
    pub fn cause(&self) -> Option<&TransportError> {
        self.cause.as_ref()
    }

    /// The messages not accepted, in order.
    #[must_use]
    pub fn rest(&self) -> &[M] {
        &self.rest
    }

    /// Takes the messages not accepted back, in order.
    #[must_use]
    pub fn into_rest(self) -> Vec<M> {
        self.rest
    }
}

impl<M> fmt::Display for SendAllError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = SendError::new(self.kind, None, ());
        write!(
            f,
            "{} of {} messages sent; {first}",
            self.accepted,
            self.accepted + self.rest.len()
        )
    }
}

impl<M> fmt::Debug for SendAllError<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendAllError")
            .field("accepted", &self.accepted)
            .field("kind", &self.kind)
            .field("cause", &self.cause)
            .field("rest", &self.rest.len())
            .finish()
    }
}

impl<M> std::error::Error for SendAllError<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_ref().map(|c| c as _)
    }
}

/// Why [`flush`](crate::RelaySink::flush) or
/// [`wait_connected`](crate::RelaySink::wait_connected) returned early.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum WaitError {
    /// The deadline passed first.
    Timeout,
    /// The sink was closed.
    Closed,
    /// The sink failed for good.
    Fatal(TransportError),
    /// No tokio runtime on this thread to start the sink's connection task.
    NoRuntime,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Timeout => f.write_str("deadline passed"),
            WaitError::Closed => f.write_str("sink closed"),
            WaitError::Fatal(_) => f.write_str("sink failed"),
            WaitError::NoRuntime => f.write_str("no tokio runtime to start the sink"),
        }
    }
}

impl std::error::Error for WaitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WaitError::Fatal(e) => Some(e),
            _ => None,
        }
    }
}

/// An invalid endpoint or option given to a [`SinkBuilder`](crate::SinkBuilder).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    message: String,
}

impl BuildError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        BuildError {
            message: message.into(),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BuildError {}
