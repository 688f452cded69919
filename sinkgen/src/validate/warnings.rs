//! Warnings: a valid topology that is probably not what was meant (a relay nobody
//! uses, a service nobody reaches). They run only on a file without errors.

use std::collections::HashMap;

use super::{RelayInfo, Resolved, ServiceInfo, Validator};
use crate::diagnostic::Diagnostic;
use crate::model::Endpoint;
use crate::text::printable;

impl Validator<'_, '_> {
    /// A relay nobody sends to, or nobody reads, is likely a leftover or a typo elsewhere.
    pub(super) fn unused_relays(&mut self, relays: &[RelayInfo], services: &[ServiceInfo]) {
        let mut sent = vec![false; relays.len()];
        for info in services {
            for k in &info.sinks {
                if let Resolved::Relay(r) = k.target {
                    sent[r] = true;
                }
            }
        }
        let mut read = vec![false; relays.len()];
        let index: HashMap<&str, usize> = self
            .raw
            .relays
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.value.as_str(), i))
            .collect();
        for s in &self.raw.services {
            for sub in &s.subscribes {
                if let Some(&i) = index.get(sub.value.as_str()) {
                    read[i] = true;
                }
            }
        }
        for (i, r) in self.raw.relays.iter().enumerate() {
            let name = printable(&r.name.value);
            let d = match (sent[i], read[i]) {
                (true, true) => continue,
                (false, false) => Diagnostic::warning(format!("relay `{name}` is not used by any service"))
                    .with_label("no sink sends to it and no service subscribes to it")
                    .with_help(format!(
                        "add `sinks = [\"{name}\"]` to a producer and `subscribes = [\"{name}\"]` to a consumer, or remove the relay"
                    )),
                (false, true) => Diagnostic::warning(format!("relay `{name}` has no senders"))
                    .with_label("no sink sends to it")
                    .with_help(format!("add `sinks = [\"{name}\"]` to the service that produces its messages")),
                (true, false) => Diagnostic::warning(format!("relay `{name}` has no subscribers"))
                    .with_label("no service subscribes to it")
                    .with_help(format!("add `subscribes = [\"{name}\"]` to the services that read it")),
            };
            self.ctx.push(d.with_span(r.name.span.clone()));
        }
    }

    /// A service that listens but that no sink sends to waits for traffic that never comes.
    pub(super) fn unreachable_services(&mut self, services: &[ServiceInfo]) {
        let mut reached = vec![false; services.len()];
        let mut endpoint_sinks: std::collections::HashSet<&Endpoint> =
            std::collections::HashSet::new();
        for info in services {
            for k in &info.sinks {
                match &k.target {
                    Resolved::Service(t) => reached[*t] = true,
                    Resolved::Endpoint(e) => {
                        endpoint_sinks.insert(e);
                    }
                    _ => {}
                }
            }
        }
        for (i, info) in services.iter().enumerate() {
            let Some(listen) = &info.listen else { continue };
            if reached[i] || endpoint_sinks.contains(listen) {
                continue;
            }
            let s = &self.raw.services[i];
            let name = printable(&s.name.value);
            let span = s
                .listen
                .as_ref()
                .map_or(s.name.span.clone(), |l| l.span.clone());
            self.ctx.push(
                Diagnostic::warning(format!("service `{name}` listens but nobody can reach it"))
                    .with_span(span)
                    .with_label("no sink sends here")
                    .with_help(format!(
                        "add `sinks = [\"{name}\"]` (or `{{ service = \"{name}\" }}`) to a service that talks to it, or remove `listen`"
                    )),
            );
        }
    }
}
