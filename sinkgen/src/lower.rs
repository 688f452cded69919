//! Lowering: a validated [`Topology`] and the selected service become a
//! [`sinkgen_templates::Plan`], the codegen-ready description of that service's sinks.
//!
//! Nothing here re-checks the file: names are identifiers and references resolve
//! (validation made sure). Lowering only picks the service, resolves each sink's target
//! into literals (endpoint, framing, policy, override variable) and parses message
//! types once.

use std::collections::HashMap;

use proc_macro2::Ident;
use quote::format_ident;
use sinkgen_templates as templates;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::lower_values::{
    Names, credentials, durable, ident, policy, relay_message, service_message, tls,
};
use crate::model::{Codec, Endpoint, Framing, Service, Sink, SinkTarget, Topology};

pub use templates::Plan;

/// The plan for `service` of `topology`, for the type `type_ident`, with the build-script layout
/// (a generated `pub struct`, no tracking). Derive callers adjust layout, visibility and
/// tracking afterwards.
///
/// # Errors
///
/// A diagnostic without a span when the service does not exist (callers first ask
/// [`crate::Loaded::service`], whose error lists the services that do), or when a sink's
/// name would shadow a generated function.
pub fn lower(topology: &Topology, service: &str, type_ident: Ident) -> Result<Plan, Diagnostics> {
    lower_boxed(topology, service, type_ident).map_err(|d| {
        let mut all = Diagnostics::new(&topology.path, "");
        all.push(*d);
        all
    })
}

fn lower_boxed(
    topology: &Topology,
    service: &str,
    type_ident: Ident,
) -> Result<Plan, Box<Diagnostic>> {
    let Some(svc) = topology.service(service) else {
        let message = format!("service `{service}` is not declared");
        return Err(Box::new(Diagnostic::error(message)));
    };
    // File order, whatever order the tables were read in.
    let mut ordered: Vec<&Sink> = svc.sinks.iter().collect();
    ordered.sort_by_key(|s| s.line);
    let index: HashMap<&str, usize> = ordered
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let names = Names::new(topology);
    let messages = composite_messages(&names, svc, &ordered, &index)?;
    let mut sinks = Vec::with_capacity(ordered.len());
    for (sink, message) in ordered.iter().zip(messages) {
        sinks.push(lower_sink(&names, svc, sink, &index, message)?);
    }
    let file = topology.path.file_name().map_or_else(
        || topology.path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    );
    let receivers = crate::lower_receivers::receivers(topology, &names, svc, &type_ident)?;
    Ok(Plan {
        service: svc.name.clone(),
        service_line: svc.line,
        file,
        type_ident,
        vis: syn::parse_quote!(pub),
        runtime: syn::parse_quote!(::sinkgen_runtime),
        layout: templates::Layout::Generated,
        sinks,
        tracking: None,
        receivers,
    })
}

fn lower_sink(
    names: &Names<'_>,
    svc: &Service,
    sink: &Sink,
    index: &HashMap<&str, usize>,
    message: Option<templates::Message>,
) -> Result<templates::SinkPlan, Box<Diagnostic>> {
    let ident = ident(&sink.name)?;
    if sinkgen_config::RESERVED_SINK_NAMES.contains(&sink.name.as_str()) {
        return Err(Box::new(
            Diagnostic::error(format!(
                "sink `{}` of service `{}` has the name of a generated function",
                sink.name, svc.name
            ))
            .with_help(format!(
                "rename the sink (`services.toml` line {}): `{}` is reserved by the generated code",
                sink.line, sink.name
            )),
        ));
    }
    let spec_ident = format_ident!("SPEC_{}", sink.name.to_ascii_uppercase());
    let leaf = |endpoint: &Endpoint, framing: templates::Framing, c: Codec| templates::Leaf {
        endpoint: endpoint.to_string(),
        env: env_var(&sink.name),
        framing,
        policy: policy(&sink.policy),
        nats: matches!(endpoint, Endpoint::Nats { .. }),
        ws: matches!(endpoint, Endpoint::Ws { .. }),
        codec: c,
        durable: None,
        credentials: None,
        tls: None,
    };
    let (kind, message) = match &sink.target {
        SinkTarget::Relay(name) => {
            let relay = names
                .relays
                .get(name.as_str())
                .ok_or_else(|| dangling(sink, name))?;
            let framing = framing(relay.framing, svc);
            let message = relay_message(relay)?;
            let mut relay_leaf = leaf(&relay.endpoint, framing, relay.codec);
            relay_leaf.durable = relay.durable.map(durable);
            relay_leaf.credentials = relay.credentials.as_ref().map(credentials);
            relay_leaf.tls = relay.tls.as_ref().map(tls);
            let kind = templates::SinkKind::Relay {
                relay: relay.name.clone(),
                leaf: relay_leaf,
            };
            (kind, message)
        }
        SinkTarget::Service(name) => {
            let target = names
                .services
                .get(name.as_str())
                .ok_or_else(|| dangling(sink, name))?;
            let listen = target.listen.as_ref().ok_or_else(|| dangling(sink, name))?;
            let mut service_leaf = leaf(listen, framing(target.framing, svc), target.codec);
            service_leaf.tls = target.tls.as_ref().map(tls);
            let kind = templates::SinkKind::Service {
                service: target.name.clone(),
                leaf: service_leaf,
            };
            (kind, service_message(target)?)
        }
        SinkTarget::Endpoint(endpoint) => {
            let kind = templates::SinkKind::Endpoint {
                leaf: leaf(endpoint, templates::Framing::LengthPrefixed, Codec::Raw),
            };
            (kind, templates::Message::Bytes)
        }
        SinkTarget::Broadcast(members)
        | SinkTarget::RoundRobin(members)
        | SinkTarget::Failover(members) => {
            let op = match &sink.target {
                SinkTarget::Broadcast(_) => templates::CompositeOp::Broadcast,
                SinkTarget::RoundRobin(_) => templates::CompositeOp::RoundRobin,
                _ => templates::CompositeOp::Failover,
            };
            let members = members
                .iter()
                .map(|m| {
                    index
                        .get(m.as_str())
                        .copied()
                        .ok_or_else(|| dangling(sink, m))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let message = message.ok_or_else(|| in_cycle(svc, sink))?;
            (templates::SinkKind::Composite { op, members }, message)
        }
    };
    Ok(templates::SinkPlan {
        name: sink.name.clone(),
        ident,
        spec_ident,
        line: sink.line,
        message,
        kind,
    })
}

/// The message type of every composite of `sinks` (`None` for the leaves): its
/// members' type, which validation made them agree on, i.e. the type of the leaf at the
/// end of its chain of first members.
///
/// Iterative and linear in the number of sinks: each sink's type is worked out once,
/// however deep composites nest.
fn composite_messages(
    names: &Names<'_>,
    svc: &Service,
    sinks: &[&Sink],
    index: &HashMap<&str, usize>,
) -> Result<Vec<Option<templates::Message>>, Box<Diagnostic>> {
    let mut known: Vec<Option<templates::Message>> = vec![None; sinks.len()];
    let mut chain = Vec::new();
    for start in 0..sinks.len() {
        // Walk first members until a sink whose type is known or a leaf, then give
        // that type to every sink walked.
        let mut at = start;
        let message = loop {
            if let Some(message) = &known[at] {
                break message.clone();
            }
            let sink = sinks[at];
            let Some(members) = sink.target.members() else {
                chain.push(at);
                break leaf_message(names, sink)?;
            };
            // Validation rejects cycles; the bound keeps a broken invariant an error
            // instead of an endless walk.
            if chain.len() > sinks.len() {
                return Err(in_cycle(svc, sinks[start]));
            }
            chain.push(at);
            let first = members.first().ok_or_else(|| {
                Box::new(Diagnostic::error(format!(
                    "composite sink `{}` has no members",
                    sink.name
                )))
            })?;
            at = *index
                .get(first.as_str())
                .ok_or_else(|| dangling(sink, first))?;
        };
        for i in chain.drain(..) {
            known[i] = Some(message.clone());
        }
    }
    // Leaves say `None`: `lower_sink` works out their type with their target.
    for (slot, sink) in known.iter_mut().zip(sinks) {
        if sink.target.members().is_none() {
            *slot = None;
        }
    }
    Ok(known)
}

/// The message type of a leaf sink.
fn leaf_message(names: &Names<'_>, sink: &Sink) -> Result<templates::Message, Box<Diagnostic>> {
    match &sink.target {
        SinkTarget::Relay(name) => match names.relays.get(name.as_str()) {
            Some(relay) => relay_message(relay),
            None => Err(dangling(sink, name)),
        },
        SinkTarget::Service(name) => match names.services.get(name.as_str()) {
            Some(target) => service_message(target),
            None => Err(dangling(sink, name)),
        },
        _ => Ok(templates::Message::Bytes),
    }
}

fn in_cycle(svc: &Service, sink: &Sink) -> Box<Diagnostic> {
    Box::new(Diagnostic::error(format!(
        "composite sink `{}` of service `{}` is part of a cycle",
        sink.name, svc.name
    )))
}

/// The frame layout of a leaf sink to a relay or service with this framing, sent by `svc`.
fn framing(framing: Framing, svc: &Service) -> templates::Framing {
    match framing {
        Framing::Sinkgen => templates::Framing::Sinkgen,
        Framing::LengthPrefixed => templates::Framing::LengthPrefixed,
        Framing::Torq { domain } => templates::Framing::Torq {
            domain,
            source: svc.source.unwrap_or(0),
        },
    }
}

/// The run-time override variable of a leaf sink: `SINKGEN_<SINK>_ENDPOINT`.
#[must_use]
pub fn env_var(sink: &str) -> String {
    format!("SINKGEN_{}_ENDPOINT", sink.to_ascii_uppercase())
}

fn dangling(sink: &Sink, name: &str) -> Box<Diagnostic> {
    Box::new(Diagnostic::error(format!(
        "sink `{}` names unknown `{name}`",
        sink.name
    )))
}
