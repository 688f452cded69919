//! The check made before a plaintext client connects (a relay without a `tls` table):
//! a server that requires TLS is refused with an error, since the client would reach
//! for a crypto provider it does not have, and panic.

use std::io;

use super::NatsAddress;
use super::events::lost_connection;
use crate::error::{ErrorClass, TransportError};

/// The longest INFO line [`probe`] reads (a server with many cluster URLs sends a
/// few kilobytes).
const MAX_INFO: usize = 64 * 1024;

pub(super) fn tls_required(url: &str) -> TransportError {
    TransportError::new(
        ErrorClass::Fatal,
        io::ErrorKind::Unsupported,
        format!(
            "connect to {url}: the server requires TLS and the relay has no `tls` table, so the sink speaks plaintext; help: add a `tls` table to the relay in services.toml (sinkgen-runtime feature `tls`), or reach the server through a plaintext listener"
        ),
    )
}

/// Reads the server's INFO on a connection of its own and refuses a server that
/// requires TLS, before the client would panic on it. One extra TCP connection per
/// connection attempt; the caller bounds the wait with `connect_timeout` (a server
/// that waits for a TLS handshake first sends nothing).
pub(super) async fn probe(address: &NatsAddress, url: &str) -> Result<(), TransportError> {
    use tokio::io::AsyncReadExt;
    let mut stream = tokio::net::TcpStream::connect((address.host.as_str(), address.port))
        .await
        .map_err(|e| TransportError::from_io(&format!("connect to {url}"), &e))?;
    let mut info = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    while !info.windows(2).any(|w| w == b"\r\n") {
        if info.len() >= MAX_INFO {
            return Err(TransportError::new(
                ErrorClass::Fatal,
                io::ErrorKind::InvalidData,
                format!("connect to {url}: the server sent no INFO line (is it a NATS server?)"),
            ));
        }
        match stream.read(&mut buf).await {
            Ok(0) => return Err(lost_connection()),
            Ok(n) => info.extend_from_slice(&buf[..n]),
            Err(e) => return Err(TransportError::from_io(&format!("connect to {url}"), &e)),
        }
    }
    if info_requires_tls(&info) {
        return Err(tls_required(url));
    }
    Ok(())
}

/// Whether an INFO line says `"tls_required": true`.
fn info_requires_tls(info: &[u8]) -> bool {
    const KEY: &[u8] = b"\"tls_required\"";
    let Some(at) = info.windows(KEY.len()).position(|w| w == KEY) else {
        return false;
    };
    let rest = &info[at + KEY.len()..];
    let rest = rest.trim_ascii_start();
    rest.strip_prefix(b":")
        .is_some_and(|v| v.trim_ascii_start().starts_with(b"true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tls_required_from_info() {
        assert!(info_requires_tls(
            br#"INFO {"server_id":"x","tls_required":true,"port":4222}"#
        ));
        assert!(info_requires_tls(br#"INFO {"tls_required" : true}"#));
        assert!(!info_requires_tls(br#"INFO {"tls_required":false}"#));
        assert!(!info_requires_tls(br#"INFO {"server_id":"x","port":4222}"#));
    }
}
