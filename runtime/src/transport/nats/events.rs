//! What the client reports on another task: server errors, the answers to fences,
//! and the end of the connection (see the parent module's docs on confirmation).

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;

use super::FENCE_SUBJECT;
use crate::error::{ErrorClass, TransportError};

pub(super) fn lost_connection() -> TransportError {
    TransportError::new(
        ErrorClass::Retryable,
        io::ErrorKind::ConnectionReset,
        "connection to the NATS server lost",
    )
}

/// What the client's event callback saw: an error that ends the connection, and
/// the answers to fences.
///
/// The callback sees server errors in the order the server sent them. It marks the
/// connection dead before it counts any later fence answer, and a watcher reads
/// `answered` before `dead`: a watcher that sees a fence answered therefore also sees
/// every error the server sent before it.
#[derive(Default)]
pub(super) struct Events {
    error: Mutex<Option<TransportError>>,
    dead: AtomicBool,
    /// Fences the server has answered.
    answered: AtomicU64,
    wake: Notify,
}

impl Events {
    pub(super) fn die(&self, error: TransportError) {
        let mut slot = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(error);
        }
        drop(slot);
        self.dead.store(true, Ordering::Release);
        self.wake.notify_waiters();
    }

    pub(super) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Resolves at the next change (an error, a fence answered); create it before
    /// looking at the state it waits for.
    pub(super) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    pub(super) fn fence_answered(&self) {
        self.answered.fetch_add(1, Ordering::AcqRel);
        self.wake.notify_waiters();
    }

    /// Whether fence number `fence` was answered on a connection that is still
    /// alive: `Some(true)` confirmed, `Some(false)` not yet, `None` dead.
    pub(super) fn fence_state(&self, fence: u64) -> Option<bool> {
        let answered = self.answered.load(Ordering::Acquire) >= fence;
        if self.is_dead() {
            return None;
        }
        Some(answered)
    }

    pub(super) fn error(&self) -> TransportError {
        self.error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(lost_connection)
    }

    /// Resolves once the connection is known dead. Cancel safe.
    pub(super) async fn died(&self) {
        loop {
            let wake = self.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            if self.is_dead() {
                return;
            }
            wake.await;
        }
    }
}

/// Whether a server error is the answer to a fence: `Invalid Subject`, or, where the
/// account may subscribe only to some subjects, the refusal of the fence's
/// subscription (or of any subscription, for an account at its limit).
pub(super) fn is_fence_answer(e: &async_nats::ServerError) -> bool {
    let async_nats::ServerError::Other(text) = e else {
        return false;
    };
    let text = text.to_ascii_lowercase();
    text == "invalid subject"
        || text.starts_with("maximum subscriptions exceeded")
        || (text.starts_with("permissions violation for subscription")
            && text.contains(&FENCE_SUBJECT.to_ascii_lowercase()))
}

/// An error the server reported on a live connection. A refused publish permission
/// is fatal: the server would drop every frame, so none may count as sent, and a
/// reconnect would change nothing. Anything else ends the connection and the sink
/// reconnects.
pub(super) fn server_error(e: &async_nats::ServerError) -> TransportError {
    let fatal = match e {
        async_nats::ServerError::AuthorizationViolation => true,
        async_nats::ServerError::Other(text) => {
            text.to_ascii_lowercase().contains("permissions violation")
        }
        async_nats::ServerError::SlowConsumer(_) => false,
    };
    let (class, kind) = if fatal {
        (ErrorClass::Fatal, io::ErrorKind::PermissionDenied)
    } else {
        (ErrorClass::Retryable, io::ErrorKind::Other)
    };
    TransportError::new(class, kind, format!("NATS server error: {e}"))
}
