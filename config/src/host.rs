//! Hosts of `tcp://` and `nats://` endpoints: a name, an IPv4 literal or a bracketed
//! IPv6 literal, each kept in canonical form so that two spellings of one host compare
//! equal.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use crate::endpoint_error::{EndpointError, err};
use crate::text::printable;

/// The longest host name DNS carries (RFC 1035), and its longest label.
const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// A checked host, in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// A host name of RFC 1123 labels (letters, digits and `-`, not at either end of
    /// a label; `_` is also accepted, as container and service names use it),
    /// lowercased: DNS names do not depend on case.
    Name(String),
    /// An IPv4 address written as four decimal numbers from 0 to 255.
    Ipv4(Ipv4Addr),
    /// An IPv6 address, written in brackets in an endpoint.
    Ipv6(Ipv6Addr),
}

impl Host {
    /// Whether this is an IPv6 address (written in brackets before a port).
    #[must_use]
    pub fn is_ipv6(&self) -> bool {
        matches!(self, Host::Ipv6(_))
    }
}

impl fmt::Display for Host {
    /// The host without brackets: `localhost`, `127.0.0.1`, `::1` (RFC 5952 form).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ipv4(a) => write!(f, "{a}"),
            Host::Ipv6(a) => write!(f, "{a}"),
        }
    }
}

/// The IPv6 address between brackets; `at` is where it is in the endpoint.
pub(crate) fn parse_ipv6(host: &str, at: Range<usize>) -> Result<Host, EndpointError> {
    host.parse::<Ipv6Addr>().map(Host::Ipv6).map_err(|_| {
        err(
            format!("`{}` is not an IPv6 address", printable(host)),
            "not an IPv6 address",
            "only IPv6 addresses go in brackets, e.g. `[::1]`",
        )
        .at(at)
    })
}

/// A host written without brackets: digits and dots only make an IPv4 literal (so
/// `1.2.3` and `127.1` are mistakes, not names); anything else must be a host name.
pub(crate) fn parse_plain(host: &str, at: Range<usize>) -> Result<Host, EndpointError> {
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host.parse::<Ipv4Addr>().map(Host::Ipv4).map_err(|_| {
            err(
                format!("`{}` is not an IPv4 address", printable(host)),
                "not an IPv4 address",
                "an IPv4 address is four numbers from 0 to 255 without leading zeros, e.g. `127.0.0.1`",
            )
            .at(at)
        });
    }
    let invalid = |help: String| {
        err(
            format!("`{}` is not a host name or address", printable(host)),
            "invalid host",
            help,
        )
        .at(at.clone())
    };
    if host.len() > MAX_NAME {
        return Err(invalid(format!(
            "a host name is at most {MAX_NAME} bytes long; this one is {}",
            host.len()
        )));
    }
    for label in host.split('.') {
        if label.len() > MAX_LABEL {
            return Err(invalid(format!(
                "each `.`-separated part of a host name is at most {MAX_LABEL} bytes long"
            )));
        }
        let chars_ok = label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if label.is_empty() || !chars_ok || label.starts_with('-') || label.ends_with('-') {
            return Err(invalid(
                "a host is a name like `localhost`, an IPv4 address, or an IPv6 address in brackets"
                    .to_owned(),
            ));
        }
    }
    Ok(Host::Name(host.to_ascii_lowercase()))
}
