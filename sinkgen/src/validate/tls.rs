//! `tls` tables: only an endpoint that crosses the network can be secured (`tcp://`,
//! `nats://`, `wss://`); `ws://` is plain WebSocket by its scheme.

use super::Validator;
use crate::diagnostic::Diagnostic;
use crate::model::Endpoint;
use crate::parse::{RawService, RawTls};
use crate::text::printable;

impl Validator<'_, '_> {
    /// A `tls` table on a `unix://` endpoint would secure nothing (the socket never
    /// leaves the host, and no TLS is spoken on it), nor on a `ws://` one (plain
    /// WebSocket by its scheme; `wss://` takes the table): an error rather than a
    /// table that is silently ignored. `endpoint` is `None` when it is broken (already
    /// reported).
    pub(super) fn tls_on_endpoint(
        &mut self,
        tls: Option<&RawTls>,
        endpoint: Option<&Endpoint>,
        owner: &str,
    ) -> bool {
        let Some(tls) = tls else { return true };
        match endpoint {
            Some(Endpoint::Unix(path)) => {
                self.ctx.push(
                    Diagnostic::error(format!(
                        "`tls` of {owner} secures a unix:// endpoint"
                    ))
                    .with_span(tls.span.clone())
                    .with_label("TLS is for tcp://, nats:// and wss:// endpoints")
                    .with_help(format!(
                        "remove `tls` (a Unix socket never leaves the host; its file's permissions guard it), or use a `tcp://host:port` endpoint instead of `unix://{}`",
                        path.display()
                    )),
                );
                false
            }
            Some(ws @ Endpoint::Ws { secure: false, .. }) => {
                let secure = ws.to_string().replacen("ws://", "wss://", 1);
                self.ctx.push(
                    Diagnostic::error(format!("`tls` of {owner} secures a ws:// endpoint"))
                        .with_span(tls.span.clone())
                        .with_label("ws:// is plain WebSocket; TLS is for wss://, tcp:// and nats:// endpoints")
                        .with_help(format!(
                            "use `{secure}` (WebSocket over TLS, which this table configures), or remove `tls`"
                        )),
                );
                false
            }
            _ => true,
        }
    }

    /// A service's `tls` secures its `listen` endpoint and the direct sinks to it: a
    /// service that does not listen has nothing to secure.
    pub(super) fn service_tls(&mut self, s: &RawService, listen: Option<&Endpoint>) -> bool {
        let Some(tls) = &s.tls else { return true };
        let name = printable(&s.name.value);
        if s.listen.is_none() {
            self.ctx.push(
                Diagnostic::error(format!(
                    "`tls` of service `{name}` has no effect without `listen`"
                ))
                .with_span(tls.span.clone())
                .with_label("secures the service's `listen` endpoint, which it has not")
                .with_help(format!(
                    "add `listen = \"tcp://127.0.0.1:9100\"` to `[services.{name}]`, or remove `tls` (relays have `tls` tables of their own)"
                )),
            );
            return false;
        }
        self.tls_on_endpoint(Some(tls), listen, &format!("service `{name}`"))
    }
}
