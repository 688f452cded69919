//! `Serialize` for [`Status`] (feature `serde`), written by hand so that the runtime
//! needs no serde_derive.
//!
//! A [`Status`] holds [`Instant`]s, which mean nothing outside the process: they are
//! written as seconds relative to the moment of serialization (`state_secs`: time in
//! the current state; `last_error_secs`: time since the last error; `next_retry_in_secs`:
//! time until the next connect attempt, 0 when it is due; `last_lost_secs`: time since
//! a frame was last counted lost). [`Status::last_sent`] is a wall-clock time, written
//! as seconds since the Unix epoch (`last_sent_unix_secs`).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::{CompositeStatus, Health, Lost, State, Status};
use crate::error::{ErrorClass, TransportError};

impl Serialize for State {
    /// The lowercase name, as `Display` writes it: `"idle"`, `"connected"`, ...
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for Health {
    /// The lowercase name, as `Display` writes it: `"healthy"`, `"degraded"`, `"down"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl Serialize for ErrorClass {
    /// `"retryable"` or `"fatal"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match self {
            ErrorClass::Retryable => "retryable",
            ErrorClass::Fatal => "fatal",
        })
    }
}

impl Serialize for TransportError {
    /// `{"class", "kind", "message"}`, `kind` being the `std::io::ErrorKind` name.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("TransportError", 3)?;
        s.serialize_field("class", &self.class())?;
        s.serialize_field("kind", &format!("{:?}", self.io_kind()))?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

impl Serialize for Lost {
    /// Each reason and their `total`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Lost", 7)?;
        s.serialize_field("closed", &self.closed)?;
        s.serialize_field("dropped", &self.dropped)?;
        s.serialize_field("fatal", &self.fatal)?;
        s.serialize_field("unconfirmed", &self.unconfirmed)?;
        s.serialize_field("too_large", &self.too_large)?;
        s.serialize_field("total", &self.total())?;
        s.end()
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let now = Instant::now();
        let ago = |t: Instant| now.saturating_duration_since(t).as_secs_f64();
        let mut s = serializer.serialize_struct("Status", 16)?;
        s.serialize_field("sink", &self.sink)?;
        s.serialize_field("endpoint", &self.endpoint)?;
        s.serialize_field("state", &self.state)?;
        s.serialize_field("state_secs", &ago(self.since))?;
        s.serialize_field("last_error", &self.last_error)?;
        s.serialize_field("last_error_secs", &self.last_error_at.map(ago))?;
        s.serialize_field("connect_attempts", &self.connect_attempts)?;
        s.serialize_field(
            "next_retry_in_secs",
            &self
                .next_retry
                .map(|t| t.saturating_duration_since(now).as_secs_f64()),
        )?;
        s.serialize_field("queue_depth", &self.queue_depth)?;
        s.serialize_field("unacknowledged", &self.unacknowledged)?;
        s.serialize_field("frames_sent", &self.frames_sent)?;
        s.serialize_field("bytes_sent", &self.bytes_sent)?;
        s.serialize_field("lost", &self.lost)?;
        s.serialize_field("health", &self.health)?;
        s.serialize_field("last_sent_unix_secs", &self.last_sent.map(unix_secs))?;
        s.serialize_field("last_lost_secs", &self.last_lost.map(ago))?;
        s.end()
    }
}

/// Seconds since the Unix epoch (0 for a time before it).
fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Serialize for CompositeStatus {
    /// `sink`, `mode` (`"broadcast"`, `"round_robin"`, `"failover"`), `members`,
    /// `connected`, `active`, `queue_depth`, `frames_sent`, `lost`, `health`,
    /// `last_sent_unix_secs` and `leaves` (each a [`Status`]).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("CompositeStatus", 11)?;
        s.serialize_field("sink", &self.sink)?;
        s.serialize_field(
            "mode",
            match self.mode {
                super::Mode::Broadcast => "broadcast",
                super::Mode::RoundRobin => "round_robin",
                super::Mode::Failover => "failover",
            },
        )?;
        s.serialize_field("members", &self.members)?;
        s.serialize_field("connected", &self.connected)?;
        s.serialize_field("active", &self.active)?;
        s.serialize_field("queue_depth", &self.queue_depth)?;
        s.serialize_field("frames_sent", &self.frames_sent)?;
        s.serialize_field("lost", &self.lost)?;
        s.serialize_field("health", &self.health)?;
        s.serialize_field("last_sent_unix_secs", &self.last_sent.map(unix_secs))?;
        s.serialize_field("leaves", &self.leaves)?;
        s.end()
    }
}
