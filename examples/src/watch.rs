//! Watches a sink's [`Status`] and reports its state transitions (`status`
//! lines for the orchestrator) and counters.

use sinkgen_runtime::{ReceiveStatus, State, Status};

/// Counters derived from a sink's status.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Frames accepted and then given up (close, drop, fatal error), and NATS
    /// frames whose fate is unknown (`unconfirmed`, included here).
    pub lost: u64,
    /// Of `lost`: published on a NATS connection that died before the server
    /// confirmed them; each may or may not have reached the subscribers.
    pub unconfirmed: u64,
    /// Connect attempts so far.
    pub attempts: u64,
    /// Times the sink connected again after having been connected.
    pub reconnects: u64,
}

/// The last state seen of one sink.
pub struct Watch {
    sink: &'static str,
    last: Option<State>,
    connections: u64,
}

impl Watch {
    /// Watches the sink called `sink`.
    pub fn new(sink: &'static str) -> Self {
        Watch {
            sink,
            last: None,
            connections: 0,
        }
    }

    /// Reports the state if it changed since the last call.
    pub fn observe(&mut self, status: &Status) {
        if self.last == Some(status.state) {
            return;
        }
        self.last = Some(status.state);
        let mut text = status.state.to_string();
        match status.state {
            State::Connected => {
                self.connections += 1;
                text.push_str(&format!(
                    " (after {} connect attempt(s))",
                    status.connect_attempts
                ));
            }
            State::Backoff | State::Failed => {
                if let Some(e) = &status.last_error {
                    text.push_str(&format!(" ({e})"));
                }
            }
            _ => {}
        }
        println!("status {} {text}", self.sink);
    }

    /// The counters, reporting the state first if it changed.
    pub fn snapshot(&mut self, status: &Status) -> Counts {
        self.observe(status);
        Counts {
            lost: status.lost.total(),
            unconfirmed: status.lost.unconfirmed,
            attempts: status.connect_attempts,
            reconnects: self.connections.saturating_sub(1),
        }
    }
}

/// The last state seen of one receiver (a subscription or an inbox).
pub struct ReceiverWatch {
    name: &'static str,
    up: &'static str,
    connected: bool,
    connections: u64,
}

impl ReceiverWatch {
    /// Watches the receiver called `name`; `up` says what connected means for it
    /// ("subscribed", "listening").
    pub fn new(name: &'static str, up: &'static str) -> Self {
        ReceiverWatch {
            name,
            up,
            connected: false,
            connections: 0,
        }
    }

    /// Reports a change of `connected` (subscribed to the relay, or listening)
    /// since the last call.
    pub fn observe(&mut self, status: &ReceiveStatus) {
        if status.connected == self.connected {
            return;
        }
        self.connected = status.connected;
        if status.connected {
            self.connections += 1;
            // `connects`: a subscription's attempts; an inbox's accepted connections.
            println!(
                "event {} {} (#{}, connects so far {})",
                self.name, self.up, self.connections, status.connects
            );
        } else {
            let why = status
                .last_error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            println!("event {} disconnected{why}", self.name);
        }
    }

    /// Times the receiver got connected (each subscription to a relay, or to a
    /// NATS server).
    pub fn connections(&self) -> u64 {
        self.connections
    }
}
