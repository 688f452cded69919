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
//! Around a change of the stream's leader, a publish can be lost with the old leader
//! and stored only when the sink publishes it again, after frames it published later:
//! the stream then holds the producer's frames slightly out of order. A sink ends its
//! connection at the first failed acknowledgement, which stops it publishing while
//! the stream has no leader; a subscription holds frames that come after a hole in
//! their producer's sequence until the hole is filled, for at most
//! [`Durable::reorder_wait`], and hands them out in order.
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
    reorder_wait: Duration,
}

/// How long a subscription waits, by default, for a producer's frame that the stream
/// stored behind later ones (see [`Durable::reorder_wait`]).
pub const REORDER_WAIT: Duration = Duration::from_secs(10);

impl Durable {
    /// The settings of relay `relay`, with the defaults of `services.toml`: the
    /// duplicate window of [`sinkgen_config::policy::DUPLICATE_WINDOW`], file storage.
    pub fn new(relay: &str) -> Durable {
        Durable {
            stream: stream_name(relay),
            window: sinkgen_config::policy::DUPLICATE_WINDOW,
            storage: Storage::File,
            reorder_wait: REORDER_WAIT,
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

    /// How long a subscription holds a producer's frames that the stream stored after
    /// a hole in the producer's sequence, waiting for the hole to be filled, before it
    /// reports the hole as a gap (default [`REORDER_WAIT`]).
    ///
    /// Around a change of the stream's leader, a publish can be lost and published
    /// again by the sink after frames it sent later were stored: the stream then holds
    /// the producer's frames slightly out of order. The subscription hands them out in
    /// order; the wait bounds how long one producer's frames are delayed when the
    /// missing frame never comes (its sink died first). Longer than the sink's
    /// publish acknowledgement timeout (5 s), so a sink that learns of the loss only
    /// from the timeout still fills the hole in time.
    #[must_use]
    pub fn reorder_wait(mut self, wait: Duration) -> Durable {
        self.reorder_wait = wait;
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

    /// The reorder wait.
    pub fn reorder_wait_time(&self) -> Duration {
        self.reorder_wait
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
