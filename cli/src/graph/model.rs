//! The format-independent picture of a topology: nodes (relays, services, outside
//! endpoints), edges (sinks by kind, subscriptions) and composite sinks, built once
//! and drawn by every format.

use std::collections::BTreeMap;

use sinkgen::model::{Endpoint, Framing, SinkTarget, Topology};

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NodeKind {
    Relay,
    Service,
    /// An endpoint outside the registry, reached by `endpoint = ".."` sinks.
    External,
}

/// A box in the picture.
#[derive(Debug, Clone)]
pub(super) struct Node {
    /// Identifier safe for Mermaid and DOT: a prefix plus a validated name.
    pub(super) id: String,
    pub(super) kind: NodeKind,
    pub(super) title: String,
    /// Smaller lines under the title (framing, endpoint, source id, ...).
    pub(super) details: Vec<String>,
}

/// What an edge stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum EdgeKind {
    /// A sink to a relay.
    Relay,
    /// A direct sink to another service.
    Direct,
    /// A sink to an endpoint outside the registry.
    Endpoint,
    /// A relay delivering to a service that subscribes to it.
    Subscribe,
}

impl EdgeKind {
    pub(super) fn legend(self) -> &'static str {
        match self {
            EdgeKind::Relay => "sink to a relay",
            EdgeKind::Direct => "direct sink to a service",
            EdgeKind::Endpoint => "sink to an outside endpoint",
            EdgeKind::Subscribe => "subscription",
        }
    }
}

/// A leaf sink or a subscription.
#[derive(Debug, Clone)]
pub(super) struct Edge {
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) kind: EdgeKind,
    /// The sink's name; empty for subscriptions.
    pub(super) label: String,
}

/// A broadcast, round-robin or failover sink of a service.
#[derive(Debug, Clone)]
pub(super) struct Composite {
    /// Index of the owning service's node.
    pub(super) service: usize,
    /// Identifier safe for Mermaid and DOT.
    pub(super) id: String,
    pub(super) name: String,
    /// `broadcast`, `round_robin` or `failover`.
    pub(super) kind: &'static str,
    /// Member sink names, in file order.
    pub(super) members: Vec<String>,
}

/// The format-independent picture of a topology.
#[derive(Debug, Clone)]
pub(super) struct Graph {
    pub(super) title: String,
    pub(super) nodes: Vec<Node>,
    pub(super) edges: Vec<Edge>,
    pub(super) composites: Vec<Composite>,
    /// For each service node, its sinks by name: where a member sink leads.
    pub(super) member_targets: BTreeMap<(usize, String), MemberTarget>,
}

/// Where a member of a composite leads.
#[derive(Debug, Clone, Copy)]
pub(super) enum MemberTarget {
    /// A leaf sink that ends at this node.
    Node(usize),
    /// Another composite (index into `composites`).
    Composite(usize),
}

impl Graph {
    pub(super) fn from_topology(t: &Topology) -> Graph {
        let mut nodes = Vec::new();
        let mut relay_index = BTreeMap::new();
        let mut service_index = BTreeMap::new();
        for r in &t.relays {
            let mut details = vec![match r.framing {
                Framing::Sinkgen => "sinkgen".to_owned(),
                Framing::LengthPrefixed => "length-prefixed".to_owned(),
                Framing::Torq { domain } => format!("torq · domain {domain}"),
                // A framing added to the model later: its debug name until drawn properly.
                other => format!("{other:?}"),
            }];
            if let Some(m) = &r.message {
                details.push(m.clone());
            }
            details.push(r.endpoint.to_string());
            relay_index.insert(r.name.as_str(), nodes.len());
            nodes.push(Node {
                id: format!("relay_{}", r.name),
                kind: NodeKind::Relay,
                title: r.name.clone(),
                details,
            });
        }
        for s in &t.services {
            let mut details = Vec::new();
            if let Some(source) = s.source {
                details.push(format!("source {source}"));
            }
            if let Some(listen) = &s.listen {
                details.push(format!("listen {listen}"));
            }
            service_index.insert(s.name.as_str(), nodes.len());
            nodes.push(Node {
                id: format!("service_{}", s.name),
                kind: NodeKind::Service,
                title: s.name.clone(),
                details,
            });
        }

        let mut edges = Vec::new();
        let mut composites = Vec::new();
        let mut member_targets = BTreeMap::new();
        let mut externals: BTreeMap<String, usize> = BTreeMap::new();
        for s in &t.services {
            let from = service_index[s.name.as_str()];
            for (k, sink) in s.sinks.iter().enumerate() {
                let leaf = match &sink.target {
                    SinkTarget::Relay(r) => {
                        relay_index.get(r.as_str()).map(|&to| (to, EdgeKind::Relay))
                    }
                    SinkTarget::Service(v) => service_index
                        .get(v.as_str())
                        .map(|&to| (to, EdgeKind::Direct)),
                    SinkTarget::Endpoint(e) => {
                        Some((external(&mut nodes, &mut externals, e), EdgeKind::Endpoint))
                    }
                    SinkTarget::Broadcast(m)
                    | SinkTarget::RoundRobin(m)
                    | SinkTarget::Failover(m) => {
                        let kind = match &sink.target {
                            SinkTarget::Broadcast(_) => "broadcast",
                            SinkTarget::RoundRobin(_) => "round_robin",
                            _ => "failover",
                        };
                        member_targets.insert(
                            (from, sink.name.clone()),
                            MemberTarget::Composite(composites.len()),
                        );
                        composites.push(Composite {
                            service: from,
                            id: format!("composite_{}_{k}", s.name),
                            name: sink.name.clone(),
                            kind,
                            members: m.clone(),
                        });
                        None
                    }
                    // A target kind added to the model later draws no edge.
                    _ => None,
                };
                if let Some((to, kind)) = leaf {
                    member_targets.insert((from, sink.name.clone()), MemberTarget::Node(to));
                    edges.push(Edge {
                        from,
                        to,
                        kind,
                        label: sink.name.clone(),
                    });
                }
            }
        }
        for s in &t.services {
            let to = service_index[s.name.as_str()];
            for r in &s.subscribes {
                if let Some(&from) = relay_index.get(r.as_str()) {
                    edges.push(Edge {
                        from,
                        to,
                        kind: EdgeKind::Subscribe,
                        label: String::new(),
                    });
                }
            }
        }

        let sinks: usize = t.services.iter().map(|s| s.sinks.len()).sum();
        let file = t.path.file_name().map_or_else(
            || "services.toml".into(),
            |f| f.to_string_lossy().into_owned(),
        );
        Graph {
            title: format!(
                "{file} — {} {}, {} {}, {sinks} {}",
                t.relays.len(),
                plural(t.relays.len(), "relay", "relays"),
                t.services.len(),
                plural(t.services.len(), "service", "services"),
                plural(sinks, "sink", "sinks"),
            ),
            nodes,
            edges,
            composites,
            member_targets,
        }
    }

    /// The id of what a composite's member leads to (a node or another composite).
    pub(super) fn member_target_id(&self, composite: &Composite, member: &str) -> Option<&str> {
        match self
            .member_targets
            .get(&(composite.service, member.to_owned()))?
        {
            MemberTarget::Node(n) => Some(&self.nodes[*n].id),
            MemberTarget::Composite(c) => Some(&self.composites[*c].id),
        }
    }
}

pub(super) fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// The node of an outside endpoint, created once per distinct endpoint.
pub(super) fn external(
    nodes: &mut Vec<Node>,
    externals: &mut BTreeMap<String, usize>,
    e: &Endpoint,
) -> usize {
    let url = e.to_string();
    if let Some(&i) = externals.get(&url) {
        return i;
    }
    let i = nodes.len();
    nodes.push(Node {
        id: format!("endpoint_{}", externals.len()),
        kind: NodeKind::External,
        title: url.clone(),
        details: vec![],
    });
    externals.insert(url, i);
    i
}
