//! The defaults of `services.toml`: what a sink gets for each key of `[defaults]` and
//! of a sink table that the file leaves out (what `SinkBuilder` starts from), and what
//! a relay or service gets for `framing` and `backlog`.
//!
//! The front end's model, the runtime's builder, the JSON Schema (`sinkgen schema`)
//! and the help lines of diagnostics all read these; the README's table is checked
//! against them by a test.

use std::fmt;
use std::time::Duration;

/// `connect_timeout`: longest one connect attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// `send_timeout`: longest a send waits for room in the queue or for a connection.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(1);
/// `queue`: frames held per sink while it (re)connects.
pub const QUEUE: u32 = 4096;
/// `backoff.initial`: upper bound of the first delay between connect attempts.
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(10);
/// `backoff.max`: largest delay between two connect attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// `framing` of a relay that does not say: how sinks frame what they send to it.
///
/// A `nats://` relay without `framing` publishes each payload as one message whatever
/// this says: NATS carries whole messages.
pub const RELAY_FRAMING: FramingKind = FramingKind::LengthPrefixed;
/// `framing` of a service that does not say: how direct sinks to its `listen` frame.
pub const SERVICE_FRAMING: FramingKind = FramingKind::LengthPrefixed;

/// `backlog` of a relay: frames `sinkgen relay` holds per declared subscriber that is
/// absent or slow, before it drops the oldest (counted, and told to the subscriber).
pub const BACKLOG: u32 = 65_536;
/// The largest `backlog` a relay may ask for (2^24 frames).
pub const BACKLOG_MAX: u32 = 16_777_216;

/// A `framing` value as `services.toml` writes it.
///
/// ```
/// use sinkgen_config::policy::FramingKind;
///
/// assert_eq!(FramingKind::from_name("sinkgen"), Some(FramingKind::Sinkgen));
/// assert_eq!(FramingKind::Torq.name(), "torq");
/// assert_eq!(FramingKind::from_name("tork"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FramingKind {
    /// `"sinkgen"`: sinkgen's own protocol, with sequence numbers and acknowledgements.
    Sinkgen,
    /// `"length-prefixed"`: a u32 little-endian length, then the payload; no acknowledgements.
    LengthPrefixed,
    /// `"torq"`: the 32-byte torq header, then the payload; no acknowledgements.
    Torq,
}

impl FramingKind {
    /// Every framing, in the order the docs list them.
    pub const ALL: [FramingKind; 3] = [
        FramingKind::Sinkgen,
        FramingKind::LengthPrefixed,
        FramingKind::Torq,
    ];
    /// The framings a service's `listen` may speak (torq needs a relay domain).
    pub const SERVICE: [FramingKind; 2] = [FramingKind::Sinkgen, FramingKind::LengthPrefixed];

    /// The value as the file writes it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            FramingKind::Sinkgen => "sinkgen",
            FramingKind::LengthPrefixed => "length-prefixed",
            FramingKind::Torq => "torq",
        }
    }

    /// The framing the file names, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<FramingKind> {
        FramingKind::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A duration as `services.toml` writes it: an integer and the largest unit of
/// `m`, `s`, `ms`, `us`, `ns` that holds it exactly.
///
/// ```
/// use std::time::Duration;
/// use sinkgen_config::DurationLiteral;
///
/// assert_eq!(DurationLiteral(Duration::from_millis(500)).to_string(), "500ms");
/// assert_eq!(DurationLiteral(Duration::from_secs(1)).to_string(), "1s");
/// assert_eq!(DurationLiteral(Duration::from_secs(120)).to_string(), "2m");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationLiteral(pub Duration);

impl fmt::Display for DurationLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        let units: [(u128, &str); 4] = [
            (60_000_000_000, "m"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
        ];
        for (size, unit) in units {
            if ns != 0 && ns.is_multiple_of(size) {
                return write!(f, "{}{unit}", ns / size);
            }
        }
        write!(f, "{ns}ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_use_the_largest_exact_unit() {
        let shown = |d| DurationLiteral(d).to_string();
        assert_eq!(shown(Duration::ZERO), "0ns");
        assert_eq!(shown(Duration::from_nanos(7)), "7ns");
        assert_eq!(shown(Duration::from_micros(3)), "3us");
        assert_eq!(shown(Duration::from_millis(1500)), "1500ms");
        assert_eq!(shown(Duration::from_secs(90)), "90s");
        assert_eq!(shown(CONNECT_TIMEOUT), "500ms");
        assert_eq!(shown(BACKOFF_INITIAL), "10ms");
    }

    #[test]
    fn framing_names_round_trip() {
        for f in FramingKind::ALL {
            assert_eq!(FramingKind::from_name(f.name()), Some(f));
        }
        assert!(FramingKind::SERVICE.contains(&SERVICE_FRAMING));
        assert!(FramingKind::ALL.contains(&RELAY_FRAMING));
        assert!((1..=BACKLOG_MAX).contains(&BACKLOG));
    }
}
