//! Check 8: endpoints. An endpoint that cannot be connected to must fail the build,
//! not the first send in production.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::path::PathBuf;

use crate::model::Endpoint;
use crate::validate::suggest::did_you_mean;

/// The longest path a Unix socket address holds (`sun_path` is 108 bytes with the NUL).
pub(crate) const UNIX_PATH_MAX: usize = 107;

/// Why an endpoint string is not an endpoint; `at` is the byte range inside the
/// string that is wrong (the whole string when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointError {
    pub message: String,
    pub label: String,
    pub help: String,
    pub at: Option<Range<usize>>,
}

fn err(message: impl Into<String>, label: &str, help: impl Into<String>) -> EndpointError {
    EndpointError {
        message: message.into(),
        label: label.to_owned(),
        help: help.into(),
        at: None,
    }
}

impl EndpointError {
    fn at(mut self, range: Range<usize>) -> Self {
        self.at = Some(range);
        self
    }
}

/// Parses `unix://<absolute path>`, `tcp://<host>:<port>` or `nats://<host>:<port>/<subject>`.
pub(crate) fn parse_endpoint(s: &str) -> Result<Endpoint, EndpointError> {
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(no_scheme(s));
    };
    let offset = scheme.len() + 3;
    match scheme {
        "unix" => parse_unix(rest, offset),
        "tcp" => {
            let (host, port) = parse_host_port(rest, offset, "tcp")?;
            Ok(Endpoint::Tcp { host, port })
        }
        "nats" => parse_nats(rest, offset),
        other => Err(unknown_scheme(other)),
    }
}

/// Without a scheme we cannot know which transport is meant.
fn no_scheme(s: &str) -> EndpointError {
    let help = if s.starts_with('/') {
        format!("a Unix socket is written `unix://{s}`")
    } else if s.contains(':') && !s.contains('/') {
        format!("a TCP address is written `tcp://{s}`")
    } else {
        "write `unix:///absolute/path.sock`, `tcp://host:port` or `nats://host:port/subject`"
            .to_owned()
    };
    err(
        "endpoint has no scheme",
        "expected `unix://`, `tcp://` or `nats://`",
        help,
    )
}

/// Only three transports exist; a typo in the scheme would otherwise fail at run time.
fn unknown_scheme(scheme: &str) -> EndpointError {
    let lower = scheme.to_ascii_lowercase();
    let suggestion = match lower.as_str() {
        "uds" | "ipc" | "unix-socket" | "file" => Some("unix"),
        "tcp4" | "tcp6" | "http" | "https" => Some("tcp"),
        "unix" => Some("unix"),
        "tcp" => Some("tcp"),
        "nats" => Some("nats"),
        _ => did_you_mean(&lower, ["unix", "tcp", "nats"]),
    };
    let help = match suggestion {
        Some(s) => format!("did you mean `{s}://`?"),
        None => "the schemes are `unix://`, `tcp://` and `nats://`".to_owned(),
    };
    err(
        format!(
            "unknown endpoint scheme `{}`",
            crate::parse::printable(scheme)
        ),
        "unknown scheme",
        help,
    )
    .at(0..scheme.len())
}

/// A Unix socket path must be absolute (the process's working directory varies), free of
/// NUL, and fit into `sun_path`.
fn parse_unix(path: &str, offset: usize) -> Result<Endpoint, EndpointError> {
    let at = offset..offset + path.len();
    if path.is_empty() {
        return Err(err(
            "unix endpoint has no path",
            "missing path",
            "write an absolute path, e.g. `unix:///tmp/market_data.sock`",
        )
        .at(at));
    }
    if let Some(nul) = path.find('\0') {
        return Err(err(
            "unix socket path contains a NUL byte",
            "NUL byte",
            "remove the `\\0`; a socket path cannot contain it",
        )
        .at(offset + nul..offset + nul + 1));
    }
    if !path.starts_with('/') {
        return Err(err(
            "unix socket path is not absolute",
            "relative path",
            format!(
                "write three slashes for an absolute path: `unix:///{}`",
                crate::parse::printable(path)
            ),
        )
        .at(at));
    }
    if path.len() > UNIX_PATH_MAX {
        return Err(err(
            format!(
                "unix socket path is {} bytes long, longer than the {UNIX_PATH_MAX} bytes a socket address holds",
                path.len()
            ),
            "path too long",
            "use a shorter path, e.g. under `/tmp` or `/run`",
        )
        .at(at));
    }
    Ok(Endpoint::Unix(PathBuf::from(path)))
}

/// `host:port` with an IPv6 host in brackets; the port must be one you can connect to.
fn parse_host_port(
    authority: &str,
    offset: usize,
    scheme: &str,
) -> Result<(String, u16), EndpointError> {
    let whole = offset..offset + authority.len();
    if let Some(i) = authority.find(['/', '?', '#'])
        && scheme == "tcp"
    {
        {
            return Err(err(
                "tcp endpoint has a path",
                "unexpected path",
                format!(
                    "a tcp endpoint is only `host:port`: `tcp://{}`",
                    crate::parse::printable(&authority[..i])
                ),
            )
            .at(offset + i..offset + authority.len()));
        }
    }
    if let Some(i) = authority.rfind('@') {
        // `user:pw@host` would otherwise read as an unbracketed IPv6 address.
        return Err(err(
            format!("credentials in {scheme} endpoints are not supported"),
            "credentials",
            format!(
                "remove `{}@`; run the peer without authentication on loopback or a trusted network",
                crate::parse::printable(&authority[..i])
            ),
        )
        .at(offset..offset + i + 1));
    }
    let (host, host_range, port_part) = if let Some(rest) = authority.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(err(
                "unclosed `[` in the host",
                "missing `]`",
                "write an IPv6 host in brackets, e.g. `tcp://[::1]:9100`",
            )
            .at(whole));
        };
        let host = &rest[..close];
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(err(
                format!("`{}` is not an IPv6 address", crate::parse::printable(host)),
                "not an IPv6 address",
                "only IPv6 addresses go in brackets, e.g. `[::1]`",
            )
            .at(offset + 1..offset + 1 + close));
        }
        let after = &rest[close + 1..];
        let port = after.strip_prefix(':');
        if port.is_none() && !after.is_empty() {
            return Err(err(
                "unexpected text after the IPv6 address",
                "expected `:port`",
                format!("write `{scheme}://[{host}]:<port>`"),
            )
            .at(offset + close + 2..offset + authority.len()));
        }
        (host.to_owned(), offset + 1..offset + 1 + close, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err(err(
                    "IPv6 address without brackets",
                    "ambiguous colons",
                    format!(
                        "put the address in brackets: `{scheme}://[{}]:<port>`",
                        crate::parse::printable(host)
                    ),
                )
                .at(whole));
            }
            Some((host, port)) => (host.to_owned(), offset..offset + host.len(), Some(port)),
            None => (authority.to_owned(), offset..offset + authority.len(), None),
        }
    };
    if host.is_empty() {
        return Err(err(
            format!("{scheme} endpoint has no host"),
            "missing host",
            format!("write `{scheme}://127.0.0.1:<port>`"),
        )
        .at(whole));
    }
    if !host_range.is_empty() && !authority.starts_with('[') && !is_host(&host) {
        return Err(err(
            format!(
                "`{}` is not a host name or address",
                crate::parse::printable(&host)
            ),
            "invalid host",
            "a host is a name like `localhost`, an IPv4 address, or an IPv6 address in brackets",
        )
        .at(host_range));
    }
    let Some(port) = port_part else {
        return Err(err(
            format!("{scheme} endpoint has no port"),
            "missing port",
            format!(
                "add the port: `{scheme}://{}:<port>`",
                crate::parse::printable(authority)
            ),
        )
        .at(whole));
    };
    if port.is_empty() {
        return Err(err(
            format!("{scheme} endpoint has no port"),
            "missing port",
            format!(
                "add the port after the `:`, e.g. `{scheme}://{}:9100`",
                crate::parse::printable(&host)
            ),
        )
        .at(whole));
    }
    let port_start = offset + authority.len() - port.len();
    let port_range = port_start..offset + authority.len();
    let port_range = if port_range.is_empty() {
        whole
    } else {
        port_range
    };
    let valid = port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty();
    match port.parse::<u32>() {
        Ok(p @ 1..=65535) if valid => Ok((host, p as u16)),
        _ => Err(err(
            format!(
                "port `{}` is outside 1-65535",
                crate::parse::printable(port)
            ),
            "invalid port",
            "use a port from 1 to 65535",
        )
        .at(port_range)),
    }
}

/// A host name (letters, digits, `-`, `.`) or an IPv4 address.
fn is_host(host: &str) -> bool {
    if host.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
        })
}

/// The longest subject a publisher can use: nats-server's control line is 4096 bytes,
/// and the runtime checks run-time overrides against the same limit.
const MAX_NATS_SUBJECT: usize = 4000;

/// A NATS subject: no spaces, no empty tokens, no wildcards (a publisher needs one subject).
fn parse_nats(rest: &str, offset: usize) -> Result<Endpoint, EndpointError> {
    let Some((authority, subject)) = rest.split_once('/') else {
        return Err(err(
            "nats endpoint has no subject",
            "missing subject",
            format!(
                "write `nats://{}/<subject>`, e.g. `nats://127.0.0.1:4222/market.data`",
                crate::parse::printable(rest)
            ),
        )
        .at(offset..offset + rest.len()));
    };
    let (host, port) = parse_host_port(authority, offset, "nats")?;
    let subject_start = offset + authority.len() + 1;
    let at = subject_start..subject_start + subject.len();
    if subject.is_empty() {
        return Err(err(
            "nats endpoint has no subject",
            "missing subject",
            "write a subject after the `/`, e.g. `nats://127.0.0.1:4222/market.data`",
        )
        .at(offset..offset + rest.len()));
    }
    if let Some(i) = subject.find(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(err(
            "nats subject contains whitespace",
            "whitespace",
            "subjects are tokens separated by `.`, without spaces",
        )
        .at(subject_start + i..subject_start + i + 1));
    }
    if subject.len() > MAX_NATS_SUBJECT {
        // The server refuses a protocol line longer than its control-line limit (4 KiB).
        return Err(err(
            format!(
                "nats subject is {} bytes long, longer than the {MAX_NATS_SUBJECT} a server accepts",
                subject.len()
            ),
            "subject too long",
            "use a shorter subject",
        )
        .at(at));
    }
    if let Some(i) = subject.find(['*', '>']) {
        return Err(err(
            "nats subject contains `*` or `>`",
            "wildcard",
            "a sink publishes on one subject; wildcards (`*`, `>`) are only for subscribers",
        )
        .at(subject_start + i..subject_start + i + 1));
    }
    if subject.split('.').any(str::is_empty) {
        return Err(err(
            "nats subject has an empty token",
            "empty token",
            "remove the extra `.`; tokens are separated by a single `.`, e.g. `market.data`",
        )
        .at(at));
    }
    Ok(Endpoint::Nats {
        host,
        port,
        subject: subject.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_endpoints() {
        assert_eq!(
            parse_endpoint("unix:///tmp/a.sock"),
            Ok(Endpoint::Unix("/tmp/a.sock".into()))
        );
        assert_eq!(
            parse_endpoint("tcp://127.0.0.1:9100"),
            Ok(Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 9100
            })
        );
        assert_eq!(
            parse_endpoint("tcp://[::1]:7000"),
            Ok(Endpoint::Tcp {
                host: "::1".into(),
                port: 7000
            })
        );
        assert_eq!(
            parse_endpoint("tcp://localhost:1"),
            Ok(Endpoint::Tcp {
                host: "localhost".into(),
                port: 1
            })
        );
        assert_eq!(
            parse_endpoint("nats://127.0.0.1:4222/market.data"),
            Ok(Endpoint::Nats {
                host: "127.0.0.1".into(),
                port: 4222,
                subject: "market.data".into()
            })
        );
    }

    #[test]
    fn bad_endpoints() {
        for bad in [
            "",
            "/tmp/a.sock",
            "udp://1.2.3.4:5",
            "unix://",
            "unix://tmp/a.sock",
            "unix:///tmp/a\0b",
            "tcp://127.0.0.1",
            "tcp://127.0.0.1:0",
            "tcp://127.0.0.1:65536",
            "tcp://127.0.0.1:",
            "tcp://127.0.0.1:+80",
            "tcp://:80",
            "tcp://::1:80",
            "tcp://[::1]",
            "tcp://[::1:80",
            "tcp://[nope]:80",
            "tcp://a b:80",
            "tcp://127.0.0.1:80/x",
            "nats://127.0.0.1:4222",
            "nats://127.0.0.1:4222/",
            "nats://127.0.0.1:4222/a..b",
            "nats://127.0.0.1:4222/a.*",
            "nats://127.0.0.1:4222/a.>",
            "nats://127.0.0.1:4222/a b",
            "nats://127.0.0.1/a",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad:?}");
        }
        let long = format!("unix:///{}", "a".repeat(107));
        assert!(parse_endpoint(&long).is_err());
        let fits = format!("unix:///{}", "a".repeat(106));
        assert!(parse_endpoint(&fits).is_ok());
    }
}
