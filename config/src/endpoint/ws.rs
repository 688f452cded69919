//! `ws://<host>:<port>[/<path>]` and `wss://<host>:<port>[/<path>]`: WebSocket
//! servers. The host and port follow the tcp rules (port required, IPv6 in brackets,
//! no credentials); the path is optional (`/` when none is written) and made of the
//! characters a URI path allows. A query or a fragment is refused: a query is where
//! WebSocket servers take tokens, and secrets do not belong in `services.toml`.

use super::{Endpoint, EndpointError, err, parse_host_port};
use crate::text::printable;

/// The longest path accepted: far beyond any real one, short enough for any
/// server's request line.
pub(crate) const MAX_WS_PATH: usize = 2000;

pub(super) fn parse_ws(rest: &str, offset: usize, secure: bool) -> Result<Endpoint, EndpointError> {
    let scheme = if secure { "wss" } else { "ws" };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (host, port) = parse_host_port(authority, offset, scheme)?;
    let path_start = offset + authority.len();
    if let Some(i) = path.find(['?', '#']) {
        let what = if path.as_bytes()[i] == b'?' {
            "query"
        } else {
            "fragment"
        };
        let why = if what == "query" {
            "a server that wants a token in the query cannot take it from services.toml (secrets stay out of the file)"
        } else {
            "a fragment is never sent to the server"
        };
        return Err(err(
            format!("{scheme} endpoint has a {what}"),
            &format!("unexpected {what}"),
            format!(
                "write `{scheme}://host:port/path` without `{}`; {why}",
                printable(&path[i..])
            ),
        )
        .at(path_start + i..path_start + path.len()));
    }
    if let Some((i, c)) = path.char_indices().find(|&(_, c)| !path_char(c)) {
        return Err(err(
            format!(
                "{scheme} endpoint path contains `{}`",
                printable(&c.to_string())
            ),
            "not allowed in a URL path",
            "write the character percent-encoded (e.g. a space as `%20`)",
        )
        .at(path_start + i..path_start + i + c.len_utf8()));
    }
    if path.len() > MAX_WS_PATH {
        return Err(err(
            format!(
                "{scheme} endpoint path is {} bytes long, longer than the {MAX_WS_PATH} accepted",
                path.len()
            ),
            "path too long",
            "use a shorter path",
        )
        .at(path_start..path_start + path.len()));
    }
    let path = if path.is_empty() { "/" } else { path };
    Ok(Endpoint::Ws {
        secure,
        host,
        port,
        path: path.to_owned(),
    })
}

/// RFC 3986 path characters: unreserved, sub-delims, `:`, `@`, `/` and `%` (of a
/// percent-encoding).
fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%".contains(c)
}
