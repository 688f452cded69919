//! Check 8: endpoints. An endpoint that cannot be connected to must fail the build,
//! not the first send in production.
//!
//! The grammar is `sinkgen_config`'s, the one the runtime applies to
//! `SINKGEN_<SINK>_ENDPOINT` overrides: what the build accepts, an override accepts.

use std::ops::Range;

pub(crate) use sinkgen_config::EndpointError;

use crate::model::Endpoint;

/// Parses `unix://<absolute path>`, `tcp://<host>:<port>`,
/// `nats://<host>:<port>/<subject>` or `ws://`/`wss://<host>:<port>/<path>` into its canonical form: hosts lowercased and
/// addresses printed one way, so that comparing two endpoints finds one place written
/// twice.
pub(crate) fn parse_endpoint(s: &str) -> Result<Endpoint, EndpointError> {
    Ok(match sinkgen_config::parse_endpoint(s)? {
        sinkgen_config::Endpoint::Unix(path) => Endpoint::Unix(path),
        sinkgen_config::Endpoint::Tcp { host, port } => Endpoint::Tcp {
            host: host.to_string(),
            port,
        },
        sinkgen_config::Endpoint::Nats {
            host,
            port,
            subject,
        } => Endpoint::Nats {
            host: host.to_string(),
            port,
            subject,
        },
        sinkgen_config::Endpoint::Ws {
            secure,
            host,
            port,
            path,
        } => Endpoint::Ws {
            secure,
            host: host.to_string(),
            port,
            path,
        },
    })
}

/// The part of the endpoint string an error points at; `None` when it blames the
/// whole string (the diagnostic then underlines the whole value, quotes included).
pub(crate) fn blamed(e: &EndpointError, s: &str) -> Option<Range<usize>> {
    (e.at != (0..s.len())).then(|| e.at.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_in_canonical_form() {
        assert_eq!(
            parse_endpoint("tcp://[0:0::1]:7000"),
            Ok(Endpoint::Tcp {
                host: "::1".into(),
                port: 7000
            })
        );
        assert_eq!(
            parse_endpoint("nats://LocalHost:4222/market.data"),
            Ok(Endpoint::Nats {
                host: "localhost".into(),
                port: 4222,
                subject: "market.data".into()
            })
        );
        assert_eq!(
            parse_endpoint("unix:///tmp/a.sock"),
            Ok(Endpoint::Unix("/tmp/a.sock".into()))
        );
        assert!(parse_endpoint("tcp://1.2.3:80").is_err());
    }

    #[test]
    fn whole_string_errors_blame_the_whole_value() {
        let e = parse_endpoint("nowhere").unwrap_err();
        assert_eq!(blamed(&e, "nowhere"), None);
        let e = parse_endpoint("tcp://a@b:1").unwrap_err();
        assert_eq!(blamed(&e, "tcp://a@b:1"), Some(6..8));
    }
}
