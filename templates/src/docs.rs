//! The text of generated doc comments: each names the target, the endpoint and the line
//! of the configuration file.

use crate::{CompositeOp, Framing, Leaf, Message, Plan, SinkKind, SinkPlan};

/// One sentence saying where a sink sends, e.g. "relay `signals` at `unix:///..`".
pub(crate) fn target(plan: &Plan, sink: &SinkPlan) -> String {
    match &sink.kind {
        SinkKind::Relay { relay, leaf } => {
            format!("relay `{relay}` at `{}`{}", leaf.endpoint, framing(leaf))
        }
        SinkKind::Service { service, leaf } => {
            format!(
                "service `{service}` at `{}`{}",
                leaf.endpoint,
                framing(leaf)
            )
        }
        SinkKind::Endpoint { leaf } => format!("endpoint `{}`{}", leaf.endpoint, framing(leaf)),
        SinkKind::Composite { op, members } => {
            let op = match op {
                CompositeOp::Broadcast => "broadcast to",
                CompositeOp::RoundRobin => "round robin over",
                CompositeOp::Failover => "failover over",
            };
            let names: Vec<String> = members
                .iter()
                .map(|&m| format!("`{}`", plan.sinks[m].name))
                .collect();
            format!("{op} {}", names.join(", "))
        }
    }
}

fn framing(leaf: &Leaf) -> String {
    match leaf.framing {
        Framing::LengthPrefixed => String::new(),
        Framing::Torq { domain, source } => {
            format!(", torq framing (domain {domain}, source {source})")
        }
    }
}

/// "`protocol::MarketEvent`" or "raw bytes, `bytes::Bytes`".
pub(crate) fn message(sink: &SinkPlan) -> String {
    match &sink.message {
        Message::Bytes => "raw bytes, `bytes::Bytes`".to_owned(),
        Message::Path { text, .. } => format!("`{text}`"),
    }
}

/// "`services.toml` line 12".
pub(crate) fn origin(plan: &Plan, line: u32) -> String {
    format!("`{}` line {line}", plan.file)
}

/// The doc comment of the process-wide accessor of a sink.
pub(crate) fn accessor(plan: &Plan, sink: &SinkPlan) -> String {
    let mut doc = format!(
        "Sink `{}`: {}. From {}.\n\nAccepts {}. ",
        sink.name,
        target(plan, sink),
        origin(plan, sink.line),
        message(sink),
    );
    match sink.kind.leaf() {
        None => doc.push_str(
            "The process-wide sink, built on first call without I/O; it shares the \
             process-wide connections of its members.",
        ),
        Some(leaf) => doc.push_str(&format!(
            "The process-wide sink, built on first call without I/O; it connects on the \
             first send.\n\nThe environment variable `{}`, read on that first call, \
             replaces the endpoint when set; it is checked like the file, and an invalid \
             value gives a sink whose sends fail with a bad-address error.",
            leaf.env
        )),
    }
    doc
}

/// The doc comment of an instance accessor of a sink.
pub(crate) fn instance_accessor(plan: &Plan, sink: &SinkPlan) -> String {
    format!(
        "Sink `{}` of this instance: {}. From {}.\n\nAccepts {}.",
        sink.name,
        target(plan, sink),
        origin(plan, sink.line),
        message(sink),
    )
}
