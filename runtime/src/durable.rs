//! Durable NATS relays: the JetStream settings of a relay declared `durable = true`
//! (SPEC section 11).
//!
//! A sink to a durable relay publishes through JetStream: the relay's stream (see
//! [`stream_name`]) is created if missing, every message carries the id
//! `<session hex>-<sequence>` (header `Nats-Msg-Id`), and the server's publish
//! acknowledgement is the sink's acknowledgement. A frame not acknowledged when a
//! connection dies is kept and published again after the reconnect; the server drops
//! it if it already stored it (within the [`Durable::duplicate_window`]). A
//! subscription to a durable relay reads through a durable consumer named after the
//! subscribing service, so what arrives while it is away waits in the stream.
//!
//! The server recognises a resend only within the duplicate window: a frame kept
//! through an outage longer than the window and published again is stored twice,
//! and the subscription drops the second copy by (session, sequence) (within one
//! subscription process). Size the window to the longest outage the sink's `queue`
//! buffers through.
//!
//! The settings are used only with the `nats` feature; without it a `nats://`
//! endpoint is refused when the sink or subscription is built.

use std::time::Duration;

/// Where the JetStream server keeps a durable relay's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Storage {
    /// On disk: the stream survives a server restart (the default).
    File,
    /// In memory: faster, lost with the server.
    Memory,
}

/// The JetStream settings of one durable relay.
///
/// ```
/// use std::time::Duration;
/// use sinkgen_runtime::durable::{Durable, Storage};
///
/// let d = Durable::new("market").duplicate_window(Duration::from_secs(30));
/// assert_eq!(d.stream(), "SINKGEN_market");
/// assert_eq!(d.storage_kind(), Storage::File);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Durable {
    stream: String,
    window: Duration,
    storage: Storage,
}

impl Durable {
    /// The settings of relay `relay`, with the defaults of `services.toml`: the
    /// duplicate window of [`sinkgen_config::policy::DUPLICATE_WINDOW`], file storage.
    pub fn new(relay: &str) -> Durable {
        Durable {
            stream: stream_name(relay),
            window: sinkgen_config::policy::DUPLICATE_WINDOW,
            storage: Storage::File,
        }
    }

    /// How long the server remembers message ids (resends within it are dropped).
    #[must_use]
    pub fn duplicate_window(mut self, window: Duration) -> Durable {
        self.window = window;
        self
    }

    /// Where the server keeps the stream.
    #[must_use]
    pub fn storage(mut self, storage: Storage) -> Durable {
        self.storage = storage;
        self
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The duplicate window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The storage.
    pub fn storage_kind(&self) -> Storage {
        self.storage
    }
}

/// The JetStream stream of relay `relay`: `SINKGEN_` and the relay's name, with every
/// character a stream name may not hold (anything but ASCII letters, digits, `-` and
/// `_`) replaced by `_`.
pub fn stream_name(relay: &str) -> String {
    let mut name = String::from("SINKGEN_");
    name.extend(relay.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            c
        } else {
            '_'
        }
    }));
    name
}

/// The durable consumer a subscribing service reads a durable relay through: the
/// service's name, with every character a consumer name may not hold replaced by `_`
/// (as in [`stream_name`]).
pub fn consumer_name(service: &str) -> String {
    stream_name(service)["SINKGEN_".len()..].to_owned()
}

/// The message id of `sequence` of producer `session`: `<session hex>-<sequence>`.
pub fn message_id(session: u64, sequence: u64) -> String {
    format!("{session:016x}-{sequence}")
}

/// The session and sequence of a message id made by [`message_id`].
pub fn parse_message_id(id: &str) -> Option<(u64, u64)> {
    let (session, sequence) = id.split_once('-')?;
    Some((
        u64::from_str_radix(session, 16).ok()?,
        sequence.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_round_trip() {
        for (s, q) in [(0, 0), (u64::MAX, 1), (0xabc, u64::MAX)] {
            assert_eq!(parse_message_id(&message_id(s, q)), Some((s, q)));
        }
        assert_eq!(parse_message_id("nope"), None);
        assert_eq!(parse_message_id("zz-1"), None);
    }

    #[test]
    fn stream_names_are_valid() {
        assert_eq!(stream_name("a.b c>*/\\x-y_z"), "SINKGEN_a_b_c____x-y_z");
    }
}
