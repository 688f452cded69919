//! WebSocket endpoints (`ws://`, `wss://`): a service may listen on one (a WebSocket
//! server of its own), an endpoint sink may send to one; `sinkgen relay` serves no
//! WebSocket, and a WebSocket peer speaks no sinkgen acknowledgements.

use super::Validator;
use crate::diagnostic::Diagnostic;
use crate::model::{Endpoint, Framing};
use crate::parse::{RawRelay, RawService, Sp};
use crate::text::printable;

impl Validator<'_, '_> {
    /// A relay is served by `sinkgen relay` or a NATS server, neither of which accepts
    /// WebSocket connections: its sinks would never connect.
    pub(super) fn relay_not_ws(
        &mut self,
        r: &RawRelay,
        written: &Sp<String>,
        endpoint: Endpoint,
    ) -> Option<Endpoint> {
        let Endpoint::Ws { secure, .. } = endpoint else {
            return Some(endpoint);
        };
        let name = printable(&r.name.value);
        let scheme = if secure { "wss" } else { "ws" };
        self.ctx.push(
            Diagnostic::error(format!("relay `{name}` has a {scheme} endpoint"))
                .with_span(written.span.clone())
                .with_label("`sinkgen relay` does not serve WebSocket")
                .with_help(format!(
                    "give the relay a `unix://` or `tcp://` endpoint (or `nats://`); to send to a WebSocket server, use a sink `{{ endpoint = \"{scheme}://host:port/path\" }}` or a service with `listen = \"{scheme}://host:port/path\"`"
                )),
        );
        None
    }

    /// Direct sinks to a service speak its `framing`; sinkgen framing needs
    /// acknowledgements from the receiver, which a WebSocket server of its own does not
    /// send, so every frame would wait for them forever.
    pub(super) fn ws_listen_framing(
        &mut self,
        s: &RawService,
        listen: Option<&Endpoint>,
        framing: Option<Framing>,
    ) {
        let (Some(Endpoint::Ws { secure, .. }), Some(Framing::Sinkgen)) = (listen, framing) else {
            return;
        };
        let Some(l) = &s.listen else { return };
        let name = printable(&s.name.value);
        let scheme = if *secure { "wss" } else { "ws" };
        let (span, label) = match &s.framing {
            Some(f) => (
                f.span.clone(),
                "sinkgen framing needs sinkgen acknowledgements".to_owned(),
            ),
            None => (
                l.span.clone(),
                "direct sinks default to sinkgen framing".to_owned(),
            ),
        };
        self.ctx.push(
            Diagnostic::error(format!(
                "service `{name}` listens on a {scheme} endpoint with sinkgen framing"
            ))
            .with_span(span)
            .with_label(label)
            .with_help(format!(
                "add `framing = \"length-prefixed\"` to `[services.{name}]`: a WebSocket peer sends no sinkgen acknowledgements, so each frame goes as one binary message with a length prefix"
            )),
        );
    }
}

/// The socket a `listen` endpoint binds: a WebSocket server binds its TCP port
/// whatever its path, so two WebSocket servers on one port (or one beside a TCP
/// listener) collide.
pub(super) fn bound(endpoint: &Endpoint) -> Endpoint {
    match endpoint {
        Endpoint::Ws { host, port, .. } => Endpoint::Tcp {
            host: host.clone(),
            port: *port,
        },
        other => other.clone(),
    }
}
