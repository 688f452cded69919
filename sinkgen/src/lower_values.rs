//! The values of the model as the templates take them (messages, secrets, credentials,
//! TLS, durability, policy, identifiers), and the topology's names for lookups:
//! shared by the lowering of a service's sinks and of its receivers.

use std::collections::HashMap;

use proc_macro2::{Ident, Span};
use sinkgen_templates as templates;

use crate::diagnostic::Diagnostic;
use crate::model::{Policy, Relay, Service, Topology};

/// The relays and services of a topology by name: lowering looks one up per sink.
pub(crate) struct Names<'t> {
    pub(crate) relays: HashMap<&'t str, &'t Relay>,
    pub(crate) services: HashMap<&'t str, &'t Service>,
}

impl<'t> Names<'t> {
    pub(crate) fn new(topology: &'t Topology) -> Self {
        Names {
            relays: topology
                .relays
                .iter()
                .map(|r| (r.name.as_str(), r))
                .collect(),
            services: topology
                .services
                .iter()
                .map(|s| (s.name.as_str(), s))
                .collect(),
        }
    }
}

/// What direct sinks to a service take: its `message`, or bytes.
pub(crate) fn service_message(service: &Service) -> Result<templates::Message, Box<Diagnostic>> {
    match &service.message {
        Some(text) => message_path(text),
        None => Ok(templates::Message::Bytes),
    }
}

pub(crate) fn relay_message(relay: &Relay) -> Result<templates::Message, Box<Diagnostic>> {
    match &relay.message {
        Some(text) => message_path(text),
        None => Ok(templates::Message::Bytes),
    }
}

/// A secret of the model (where it lives, the key and line that named it) as the
/// templates take it.
fn secret(s: &crate::model::Secret) -> templates::Secret {
    templates::Secret {
        env: s.source.kind() == "env",
        name: s.source.name().to_owned(),
        key: s.key.clone(),
        line: s.line,
    }
}

/// A relay's `credentials` as the templates take them.
pub(crate) fn credentials(c: &crate::model::Credentials) -> templates::Credentials {
    use crate::model::Credentials as C;
    match c {
        C::Token(s) => templates::Credentials::Token(secret(s)),
        C::UserPassword { user, password } => templates::Credentials::UserPassword {
            user: user.clone(),
            password: secret(password),
        },
        C::Nkey(s) => templates::Credentials::Nkey(secret(s)),
        C::Creds(s) => templates::Credentials::Creds(secret(s)),
    }
}

/// A `tls` table as the templates take it.
pub(crate) fn tls(t: &crate::model::Tls) -> templates::Tls {
    let secret = |s: &Option<crate::model::Secret>| s.as_ref().map(secret);
    templates::Tls {
        ca: secret(&t.ca),
        server_name: t.server_name.clone(),
        cert: secret(&t.cert),
        key: secret(&t.key),
        client_cert: secret(&t.client_cert),
        client_key: secret(&t.client_key),
    }
}

/// A durable relay's settings as the templates take them.
pub(crate) fn durable(d: crate::model::Durability) -> templates::Durable {
    templates::Durable {
        duplicate_window: d.duplicate_window,
        memory: d.storage == crate::model::Storage::Memory,
    }
}

pub(crate) fn policy(p: &Policy) -> templates::Policy {
    templates::Policy {
        connect_timeout: p.connect_timeout,
        send_timeout: p.send_timeout,
        queue: usize::try_from(p.queue).unwrap_or(usize::MAX),
        backoff_initial: p.backoff_initial,
        backoff_max: p.backoff_max,
        fail_when_down: p.when_down == sinkgen_config::policy::WhenDown::Fail,
        max_frame: p.max_frame,
    }
}

pub(crate) fn ident(name: &str) -> Result<Ident, Box<Diagnostic>> {
    // `Ident::new` panics on keywords and non-identifiers; validation excludes them, and
    // this keeps a broken invariant an error instead of a panic.
    syn::parse_str::<Ident>(name)
        .map(|i| Ident::new(&i.to_string(), Span::call_site()))
        .map_err(|_| {
            Box::new(Diagnostic::error(format!(
                "`{name}` is not a Rust identifier"
            )))
        })
}

pub(crate) fn message_path(text: &str) -> Result<templates::Message, Box<Diagnostic>> {
    let path: syn::Path = syn::parse_str(text).map_err(|_| {
        Box::new(Diagnostic::error(format!(
            "`message = \"{text}\"` is not a Rust type path"
        )))
    })?;
    Ok(templates::Message::Path {
        path,
        text: text.to_owned(),
    })
}
