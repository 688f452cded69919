//! The endpoint grammar: `unix://<absolute path>`, `tcp://<host>:<port>`,
//! `nats://<host>:<port>/<subject>` and `ws://` or `wss://<host>:<port>[/<path>]`.

use std::fmt;
use std::path::PathBuf;

use crate::endpoint_error::{EndpointError, err};
use crate::host::{self, Host};
use crate::text::{closest, printable};

/// The longest path a Unix socket address holds (`sun_path` is 108 bytes with the NUL).
pub const MAX_UNIX_PATH: usize = 107;

/// The longest subject a publisher can use: a NATS server refuses protocol lines
/// longer than 4096 bytes (`PUB <subject> <size>\r\n`) and drops the connection.
pub const MAX_NATS_SUBJECT: usize = 4000;

/// A checked endpoint, in canonical form: two endpoints that name the same place
/// compare equal, and [`Display`](fmt::Display) writes the canonical URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `unix://<absolute path>`.
    Unix(PathBuf),
    /// `tcp://<host>:<port>`.
    Tcp {
        /// Host name or address.
        host: Host,
        /// Port, 1 to 65535.
        port: u16,
    },
    /// `nats://<host>:<port>/<subject>`: frames are published on `subject`.
    Nats {
        /// The server's host name or address.
        host: Host,
        /// The server's port, 1 to 65535.
        port: u16,
        /// The subject messages are published on.
        subject: String,
    },
    /// `ws://<host>:<port>[/<path>]` or, with `secure`, `wss://`: one WebSocket
    /// binary message per frame.
    Ws {
        /// `wss://`: the WebSocket connection runs over TLS.
        secure: bool,
        /// The server's host name or address.
        host: Host,
        /// The server's port, 1 to 65535.
        port: u16,
        /// The request path, starting with `/` (`/` when none is written).
        path: String,
    },
}

impl Endpoint {
    /// `host:port` of a TCP, NATS or WebSocket endpoint, with an IPv6 host in brackets
    /// (the form socket address resolvers take); `None` for a Unix endpoint.
    #[must_use]
    pub fn authority(&self) -> Option<String> {
        match self {
            Endpoint::Unix(_) => None,
            Endpoint::Tcp { host, port }
            | Endpoint::Nats { host, port, .. }
            | Endpoint::Ws { host, port, .. } => Some(authority(host, *port)),
        }
    }
}

fn authority(host: &Host, port: u16) -> String {
    if host.is_ipv6() {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl fmt::Display for Endpoint {
    /// The endpoint in the URL form `services.toml` uses, canonical.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { host, port } => write!(f, "tcp://{}", authority(host, *port)),
            Endpoint::Nats {
                host,
                port,
                subject,
            } => write!(f, "nats://{}/{subject}", authority(host, *port)),
            Endpoint::Ws {
                secure,
                host,
                port,
                path,
            } => {
                let scheme = if *secure { "wss" } else { "ws" };
                write!(f, "{scheme}://{}{path}", authority(host, *port))
            }
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Endpoint, EndpointError> {
        parse_endpoint(s)
    }
}

/// Parses `unix://<absolute path>`, `tcp://<host>:<port>`,
/// `nats://<host>:<port>/<subject>`, or `ws://` or `wss://<host>:<port>[/<path>]`
/// (no query, no fragment, no credentials).
///
/// # Errors
///
/// An [`EndpointError`] saying what is wrong, where, and how to write it.
pub fn parse_endpoint(s: &str) -> Result<Endpoint, EndpointError> {
    parse(s).map_err(|mut e| {
        e.at.end = e.at.end.min(s.len());
        e.at.start = e.at.start.min(e.at.end);
        e
    })
}

fn parse(s: &str) -> Result<Endpoint, EndpointError> {
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
        "ws" => ws::parse_ws(rest, offset, false),
        "wss" => ws::parse_ws(rest, offset, true),
        other => Err(unknown_scheme(other)),
    }
}

/// Without a scheme we cannot know which transport is meant.
fn no_scheme(s: &str) -> EndpointError {
    let help = if s.starts_with('/') {
        format!("a Unix socket is written `unix://{}`", printable(s))
    } else if s.contains(':') && !s.contains('/') {
        format!("a TCP address is written `tcp://{}`", printable(s))
    } else {
        "write `unix:///absolute/path.sock`, `tcp://host:port`, `nats://host:port/subject` or `ws://host:port/path`"
            .to_owned()
    };
    err(
        "endpoint has no scheme",
        "expected `unix://`, `tcp://`, `nats://`, `ws://` or `wss://`",
        help,
    )
}

/// Only these transports exist; a typo in the scheme would otherwise fail at run time.
fn unknown_scheme(scheme: &str) -> EndpointError {
    let lower = scheme.to_ascii_lowercase();
    let suggestion = match lower.as_str() {
        "uds" | "ipc" | "unix-socket" | "file" => Some("unix"),
        "tcp4" | "tcp6" => Some("tcp"),
        "http" => Some("ws"),
        "https" => Some("wss"),
        "unix" => Some("unix"),
        "tcp" => Some("tcp"),
        "nats" => Some("nats"),
        "ws" | "websocket" => Some("ws"),
        "wss" => Some("wss"),
        _ => closest(&lower, ["unix", "tcp", "nats", "ws", "wss"]),
    };
    let help = match suggestion {
        Some(s) => format!("did you mean `{s}://`?"),
        None => "the schemes are `unix://`, `tcp://`, `nats://`, `ws://` and `wss://`".to_owned(),
    };
    err(
        format!("unknown endpoint scheme `{}`", printable(scheme)),
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
                printable(path)
            ),
        )
        .at(at));
    }
    if path.len() > MAX_UNIX_PATH {
        return Err(err(
            format!(
                "unix socket path is {} bytes long, longer than the {MAX_UNIX_PATH} bytes a socket address holds",
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
pub(crate) fn parse_host_port(
    authority: &str,
    offset: usize,
    scheme: &str,
) -> Result<(Host, u16), EndpointError> {
    let whole = offset..offset + authority.len();
    if scheme == "tcp"
        && let Some(i) = authority.find(['/', '?', '#'])
    {
        return Err(err(
            "tcp endpoint has a path",
            "unexpected path",
            format!(
                "a tcp endpoint is only `host:port`: `tcp://{}`",
                printable(&authority[..i])
            ),
        )
        .at(offset + i..offset + authority.len()));
    }
    if let Some(i) = authority.rfind('@') {
        // `user:pw@host` would otherwise read as an unbracketed IPv6 address.
        return Err(err(
            format!("credentials in {scheme} endpoints are not supported"),
            "credentials",
            if scheme == "nats" {
                format!(
                    "remove `{}@`; a NATS relay names its credentials in a `credentials` table: \
                     `[relays.<name>.credentials]` with `token`, `user` and `password`, `nkey` or \
                     `creds`, each secret as `{{ env = \"VARIABLE\" }}` or `{{ file = \"path\" }}`",
                    printable(&authority[..i])
                )
            } else {
                format!(
                    "remove `{}@`; run the peer without authentication on loopback or a trusted network",
                    printable(&authority[..i])
                )
            },
        )
        .at(offset..offset + i + 1));
    }
    let (host, port_part) = if let Some(rest) = authority.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return Err(err(
                "unclosed `[` in the host",
                "missing `]`",
                "write an IPv6 host in brackets, e.g. `tcp://[::1]:9100`",
            )
            .at(whole));
        };
        let text = &rest[..close];
        let host = host::parse_ipv6(text, offset + 1..offset + 1 + close)?;
        let after = &rest[close + 1..];
        let port = after.strip_prefix(':');
        if port.is_none() && !after.is_empty() {
            return Err(err(
                "unexpected text after the IPv6 address",
                "expected `:port`",
                format!("write `{scheme}://[{}]:<port>`", printable(text)),
            )
            .at(offset + close + 2..offset + authority.len()));
        }
        (host, port)
    } else {
        let (text, port) = match authority.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err(err(
                    "IPv6 address without brackets",
                    "ambiguous colons",
                    format!(
                        "put the address in brackets: `{scheme}://[{}]:<port>`",
                        printable(host)
                    ),
                )
                .at(whole));
            }
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if text.is_empty() {
            return Err(err(
                format!("{scheme} endpoint has no host"),
                "missing host",
                format!("write `{scheme}://127.0.0.1:<port>`"),
            )
            .at(whole));
        }
        let host = host::parse_plain(text, offset..offset + text.len())?;
        (host, port)
    };
    let Some(port) = port_part else {
        return Err(err(
            format!("{scheme} endpoint has no port"),
            "missing port",
            format!("add the port: `{scheme}://{}:<port>`", printable(authority)),
        )
        .at(whole));
    };
    let shown = if host.is_ipv6() {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    if port.is_empty() {
        return Err(err(
            format!("{scheme} endpoint has no port"),
            "missing port",
            format!(
                "add the port after the `:`, e.g. `{scheme}://{}:9100`",
                printable(&shown)
            ),
        )
        .at(whole));
    }
    let port_range = offset + authority.len() - port.len()..offset + authority.len();
    let digits = port.bytes().all(|b| b.is_ascii_digit());
    match port.parse::<u32>() {
        Ok(p @ 1..=65535) if digits => Ok((host, p as u16)),
        _ => Err(err(
            format!("port `{}` is outside 1-65535", printable(port)),
            "invalid port",
            "use a port from 1 to 65535",
        )
        .at(port_range)),
    }
}

/// A NATS subject: no spaces, no empty tokens, no wildcards (a publisher needs one subject).
fn parse_nats(rest: &str, offset: usize) -> Result<Endpoint, EndpointError> {
    let Some((authority, subject)) = rest.split_once('/') else {
        return Err(err(
            "nats endpoint has no subject",
            "missing subject",
            format!(
                "write `nats://{}/<subject>`, e.g. `nats://127.0.0.1:4222/market.data`",
                printable(rest)
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
        let len = subject[i..].chars().next().map_or(1, char::len_utf8);
        return Err(err(
            "nats subject contains whitespace",
            "whitespace",
            "subjects are tokens separated by `.`, without spaces",
        )
        .at(subject_start + i..subject_start + i + len));
    }
    if subject.len() > MAX_NATS_SUBJECT {
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
mod tests;
mod ws;
