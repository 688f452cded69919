//! Lowering of the receiving half: the selected service's `subscribes` and `listen`
//! become a [`templates::Receivers`] (one subscription per relay, the inbox).

use proc_macro2::Ident;
use quote::format_ident;
use sinkgen_templates as templates;

use crate::diagnostic::Diagnostic;
use crate::lower_values::{
    Names, credentials, durable, ident, policy, relay_message, service_message, tls,
};
use crate::model::{Endpoint, Service, Topology};

/// Names the receivers type uses for itself: a subscribed relay cannot have them.
const RESERVED: &[&str] = &["inbox", "with_endpoints"];

/// The receivers of `svc`, or `None` when it neither subscribes nor listens.
pub(crate) fn receivers(
    topology: &Topology,
    names: &Names<'_>,
    svc: &Service,
    sinks_type: &Ident,
) -> Result<Option<templates::Receivers>, Box<Diagnostic>> {
    let listens = svc
        .listen
        .as_ref()
        .is_some_and(|l| !matches!(l, Endpoint::Ws { .. }));
    if svc.subscribes.is_empty() && !listens {
        return Ok(None);
    }
    let mut subscriptions = Vec::with_capacity(svc.subscribes.len());
    for name in &svc.subscribes {
        let relay = names.relays.get(name.as_str()).ok_or_else(|| {
            Box::new(Diagnostic::error(format!(
                "service `{}` subscribes to unknown relay `{name}`",
                svc.name
            )))
        })?;
        if RESERVED.contains(&name.as_str()) {
            return Err(Box::new(
                Diagnostic::error(format!(
                    "service `{}` subscribes to relay `{name}`, the name of a generated receiver \
                     function",
                    svc.name
                ))
                .with_help(format!(
                    "rename the relay (`[relays.{name}]`, line {}): `{name}` is reserved by the \
                     generated receivers (`{}`)",
                    relay.line,
                    RESERVED.join("`, `")
                )),
            ));
        }
        subscriptions.push(templates::SubscriptionPlan {
            relay: relay.name.clone(),
            ident: ident(&relay.name)?,
            spec_ident: format_ident!("SPEC_{}", relay.name.to_ascii_uppercase()),
            relay_line: relay.line,
            endpoint: relay.endpoint.to_string(),
            env: subscription_env(&relay.name),
            message: relay_message(relay)?,
            codec: relay.codec,
            nats: matches!(relay.endpoint, Endpoint::Nats { .. }),
            policy: policy(&topology.defaults),
            durable: relay.durable.map(durable),
            credentials: relay.credentials.as_ref().map(credentials),
            tls: relay.tls.as_ref().map(tls),
        });
    }
    let inbox = match &svc.listen {
        // A service listening on WebSocket serves it itself: the runtime's inbox
        // accepts sockets only.
        None | Some(Endpoint::Ws { .. }) => None,
        Some(listen) => {
            let mut senders: Vec<String> = Vec::new();
            for producer in topology.senders(&svc.name) {
                if !senders.iter().any(|s| s == producer.service) {
                    senders.push(producer.service.to_owned());
                }
            }
            Some(templates::InboxPlan {
                endpoint: listen.to_string(),
                env: inbox_env(&svc.name),
                message: service_message(svc)?,
                codec: svc.codec,
                senders,
                queue: usize::try_from(topology.defaults.queue).unwrap_or(usize::MAX),
                tls: svc.tls.as_ref().map(tls),
            })
        }
    };
    Ok(Some(templates::Receivers {
        type_ident: templates::Receivers::type_beside(sinks_type),
        subscriptions,
        inbox,
    }))
}

/// The run-time override of a subscription's endpoint: `SINKGEN_<RELAY>_SUBSCRIBE`.
///
/// Not `SINKGEN_<RELAY>_ENDPOINT`: that is the variable of a sink named like the relay,
/// which may send elsewhere.
#[must_use]
pub(crate) fn subscription_env(relay: &str) -> String {
    format!("SINKGEN_{}_SUBSCRIBE", relay.to_ascii_uppercase())
}

/// The run-time override of a service's `listen` for its inbox: `SINKGEN_<SERVICE>_LISTEN`.
#[must_use]
pub(crate) fn inbox_env(service: &str) -> String {
    format!("SINKGEN_{}_LISTEN", service.to_ascii_uppercase())
}
