//! `tls` tables: only an endpoint that crosses the network can be secured.

use super::Validator;
use crate::diagnostic::Diagnostic;
use crate::model::Endpoint;
use crate::parse::{RawService, RawTls};
use crate::text::printable;

impl Validator<'_, '_> {
    /// A `tls` table on a `unix://` endpoint would secure nothing (the socket never
    /// leaves the host, and no TLS is spoken on it): an error rather than a table that
    /// is silently ignored. `endpoint` is `None` when it is broken (already reported).
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
                    .with_label("TLS is for tcp:// and nats:// endpoints")
                    .with_help(format!(
                        "remove `tls` (a Unix socket never leaves the host; its file's permissions guard it), or use a `tcp://host:port` endpoint instead of `unix://{}`",
                        path.display()
                    )),
                );
                false
            }
            Some(Endpoint::Ws { secure, .. }) => {
                self.ctx.push(
                    Diagnostic::error(format!(
                        "`tls` of {owner} secures a WebSocket endpoint"
                    ))
                    .with_span(tls.span.clone())
                    .with_label("TLS tables are for tcp:// and nats:// endpoints")
                    .with_help(if *secure {
                        "remove `tls`: wss:// endpoints do not take a `tls` table yet (use ws:// behind a TLS-terminating proxy on the same host)"
                    } else {
                        "remove `tls`, or use a `tcp://host:port` endpoint"
                    }),
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
