//! [`EndpointError`]: why a string is not an endpoint (shared by the endpoint grammar
//! and the host rules it uses).

use std::fmt;
use std::ops::Range;

/// Why a string is not an endpoint, in the words of a compiler diagnostic: what is
/// wrong (`message`), a short `label` for the offending part, how to fix it (`help`),
/// and where the offending part is (`at`, a byte range inside the endpoint string; the
/// whole string when no part is to blame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointError {
    /// What is wrong, lowercase, without the endpoint itself.
    pub message: String,
    /// A few words to put under the offending part.
    pub label: String,
    /// How to write it instead.
    pub help: String,
    /// The offending bytes of the endpoint string.
    pub at: Range<usize>,
}

impl fmt::Display for EndpointError {
    /// One line: the message, then the help.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; help: {}", self.message, self.help)
    }
}

impl std::error::Error for EndpointError {}

/// An error that blames the whole string until [`EndpointError::at`] narrows it.
pub(crate) fn err(
    message: impl Into<String>,
    label: &str,
    help: impl Into<String>,
) -> EndpointError {
    EndpointError {
        message: message.into(),
        label: label.to_owned(),
        help: help.into(),
        at: 0..usize::MAX,
    }
}

impl EndpointError {
    pub(crate) fn at(mut self, range: Range<usize>) -> Self {
        self.at = range;
        self
    }
}
