//! The topology as a picture: Mermaid, Graphviz DOT, or a self-contained SVG.
//!
//! Every format shows the same things: relays, services, endpoints outside the
//! registry, one edge per sink styled by its kind (to a relay, direct to a
//! service, to an outside endpoint), composite sinks with their members, and
//! subscriptions from relays to the services that read them.
//!
//! Mermaid and DOT leave the layout to their renderers. The SVG is laid out
//! here (a layered layout: sources on the left, flowing right through relays to
//! their subscribers) so it needs no external program.
//!
//! # Examples
//!
//! ```
//! use sinkgen::model::{Endpoint, Framing, Policy, Relay, Service, Sink, SinkTarget, Topology};
//! use sinkgen_cli::graph::{Format, render};
//!
//! let topology = Topology {
//!     path: "services.toml".into(),
//!     defaults: Policy::default(),
//!     relays: vec![Relay {
//!         name: "ticks".into(),
//!         endpoint: Endpoint::Unix("/tmp/ticks.sock".into()),
//!         framing: Framing::Torq { domain: 1 },
//!         message: None,
//!         line: 1,
//!     }],
//!     services: vec![Service {
//!         name: "feed".into(),
//!         source: Some(1),
//!         listen: None,
//!         subscribes: vec![],
//!         sinks: vec![Sink {
//!             name: "ticks".into(),
//!             target: SinkTarget::Relay("ticks".into()),
//!             policy: Policy::default(),
//!             line: 8,
//!         }],
//!         line: 6,
//!     }],
//! };
//! let mermaid = render(&topology, Format::Mermaid);
//! assert!(mermaid.contains("service_feed -->|ticks| relay_ticks"));
//! assert!(render(&topology, Format::Svg).starts_with("<svg"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sinkgen::model::{Endpoint, Framing, SinkTarget, Topology};

mod svg;

/// An output format of [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum Format {
    /// A Mermaid flowchart (GitHub renders it inside a mermaid code block).
    Mermaid,
    /// A Graphviz digraph (render with `dot -Tsvg`).
    Dot,
    /// A self-contained SVG picture, laid out by sinkgen.
    Svg,
}

/// Renders the topology in the given format. The output ends with a newline.
#[must_use]
pub fn render(topology: &Topology, format: Format) -> String {
    let graph = Graph::from_topology(topology);
    match format {
        Format::Mermaid => mermaid(&graph),
        Format::Dot => dot(&graph),
        Format::Svg => svg::render(&graph),
    }
}

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Relay,
    Service,
    /// An endpoint outside the registry, reached by `endpoint = ".."` sinks.
    External,
}

/// A box in the picture.
#[derive(Debug, Clone)]
struct Node {
    /// Identifier safe for Mermaid and DOT: a prefix plus a validated name.
    id: String,
    kind: NodeKind,
    title: String,
    /// Smaller lines under the title (framing, endpoint, source id, ...).
    details: Vec<String>,
}

/// What an edge stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum EdgeKind {
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
    fn legend(self) -> &'static str {
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
struct Edge {
    from: usize,
    to: usize,
    kind: EdgeKind,
    /// The sink's name; empty for subscriptions.
    label: String,
}

/// A broadcast, round-robin or failover sink of a service.
#[derive(Debug, Clone)]
struct Composite {
    /// Index of the owning service's node.
    service: usize,
    /// Identifier safe for Mermaid and DOT.
    id: String,
    name: String,
    /// `broadcast`, `round_robin` or `failover`.
    kind: &'static str,
    /// Member sink names, in file order.
    members: Vec<String>,
}

/// The format-independent picture of a topology.
#[derive(Debug, Clone)]
struct Graph {
    title: String,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    composites: Vec<Composite>,
    /// For each service node, its sinks by name: where a member sink leads.
    member_targets: BTreeMap<(usize, String), MemberTarget>,
}

/// Where a member of a composite leads.
#[derive(Debug, Clone, Copy)]
enum MemberTarget {
    /// A leaf sink that ends at this node.
    Node(usize),
    /// Another composite (index into `composites`).
    Composite(usize),
}

impl Graph {
    fn from_topology(t: &Topology) -> Graph {
        let mut nodes = Vec::new();
        let mut relay_index = BTreeMap::new();
        let mut service_index = BTreeMap::new();
        for r in &t.relays {
            let mut details = vec![match r.framing {
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
    fn member_target_id(&self, composite: &Composite, member: &str) -> Option<&str> {
        match self
            .member_targets
            .get(&(composite.service, member.to_owned()))?
        {
            MemberTarget::Node(n) => Some(&self.nodes[*n].id),
            MemberTarget::Composite(c) => Some(&self.composites[*c].id),
        }
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// The node of an outside endpoint, created once per distinct endpoint.
fn external(nodes: &mut Vec<Node>, externals: &mut BTreeMap<String, usize>, e: &Endpoint) -> usize {
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

/// Mermaid label text: `"` and `<`, `>` would end the label or start HTML.
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '|' => out.push_str("#124;"),
            _ => out.push(c),
        }
    }
    out
}

fn mermaid(g: &Graph) -> String {
    let mut out = String::new();
    let title = g.title.replace('\\', "\\\\").replace('"', "\\\"");
    let _ = writeln!(out, "---\ntitle: \"{title}\"\n---");
    out.push_str("flowchart LR\n");
    for n in &g.nodes {
        let label = std::iter::once(format!("<b>{}</b>", mermaid_text(&n.title)))
            .chain(n.details.iter().map(|d| mermaid_text(d)))
            .collect::<Vec<_>>()
            .join("<br/>");
        let (open, close) = match n.kind {
            NodeKind::Relay => ("[(\"", "\")]"),
            NodeKind::Service => ("(\"", "\")"),
            NodeKind::External => ("[/\"", "\"/]"),
        };
        let _ = writeln!(out, "    {}{open}{label}{close}", n.id);
    }
    for c in &g.composites {
        let _ = writeln!(
            out,
            "    {}{{{{\"{}<br/><i>{}</i>\"}}}}",
            c.id, c.name, c.kind
        );
    }
    // Every edge in order, so that `linkStyle <index>` can color it.
    let mut styles: Vec<&'static str> = Vec::new();
    for e in &g.edges {
        let (from, to) = (&g.nodes[e.from].id, &g.nodes[e.to].id);
        let arrow = match e.kind {
            EdgeKind::Relay => format!("-->|{}|", e.label),
            EdgeKind::Direct => format!("==>|{}|", e.label),
            EdgeKind::Endpoint => format!("-.->|{}|", e.label),
            EdgeKind::Subscribe => "-.->".to_owned(),
        };
        let _ = writeln!(out, "    {from} {arrow} {to}");
        styles.push(match e.kind {
            EdgeKind::Relay => "stroke:#2563eb,stroke-width:2px",
            EdgeKind::Direct => "stroke:#ea580c,stroke-width:3px",
            EdgeKind::Endpoint => "stroke:#6b7280,stroke-width:1.5px,stroke-dasharray:6 4",
            EdgeKind::Subscribe => "stroke:#16a34a,stroke-width:2px,stroke-dasharray:2 4",
        });
    }
    for c in &g.composites {
        let _ = writeln!(
            out,
            "    {} -->|{}| {}",
            g.nodes[c.service].id, c.name, c.id
        );
        styles.push("stroke:#7c3aed,stroke-width:2px");
        for (i, m) in c.members.iter().enumerate() {
            if let Some(to) = g.member_target_id(c, m) {
                let label = if c.kind == "failover" {
                    format!("{}. {m}", i + 1)
                } else {
                    m.clone()
                };
                let _ = writeln!(out, "    {} -.->|{label}| {to}", c.id);
                styles.push("stroke:#7c3aed,stroke-width:1.5px,stroke-dasharray:4 3");
            }
        }
    }
    out.push_str("    classDef relay fill:#eef2ff,stroke:#4f46e5,color:#1e1b4b\n");
    out.push_str("    classDef service fill:#f8fafc,stroke:#334155,color:#0f172a\n");
    out.push_str(
        "    classDef external fill:#ffffff,stroke:#9ca3af,stroke-dasharray:4 3,color:#374151\n",
    );
    out.push_str("    classDef composite fill:#f5f3ff,stroke:#7c3aed,color:#4c1d95\n");
    for (class, kind) in [
        ("relay", NodeKind::Relay),
        ("service", NodeKind::Service),
        ("external", NodeKind::External),
    ] {
        let ids: Vec<&str> = g
            .nodes
            .iter()
            .filter(|n| n.kind == kind)
            .map(|n| n.id.as_str())
            .collect();
        if !ids.is_empty() {
            let _ = writeln!(out, "    class {} {class}", ids.join(","));
        }
    }
    if !g.composites.is_empty() {
        let ids: Vec<&str> = g.composites.iter().map(|c| c.id.as_str()).collect();
        let _ = writeln!(out, "    class {} composite", ids.join(","));
    }
    for (i, s) in styles.iter().enumerate() {
        let _ = writeln!(out, "    linkStyle {i} {s}");
    }
    out
}

/// A DOT double-quoted string.
fn dot_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn dot(g: &Graph) -> String {
    let mut out = String::new();
    out.push_str("digraph topology {\n");
    let _ = writeln!(out, "    label={};", dot_text(&g.title));
    out.push_str("    labelloc=t;\n    rankdir=LR;\n    nodesep=0.4;\n    ranksep=1.0;\n");
    out.push_str("    node [fontname=\"Helvetica\", fontsize=11, style=\"filled\"];\n");
    out.push_str("    edge [fontname=\"Helvetica\", fontsize=10];\n");
    for n in &g.nodes {
        let label = std::iter::once(n.title.as_str())
            .chain(n.details.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("\n");
        let attrs = match n.kind {
            NodeKind::Relay => "shape=cylinder, fillcolor=\"#eef2ff\", color=\"#4f46e5\"",
            NodeKind::Service => {
                "shape=box, style=\"rounded,filled\", fillcolor=\"#f8fafc\", color=\"#334155\""
            }
            NodeKind::External => {
                "shape=note, style=\"dashed,filled\", fillcolor=\"#ffffff\", color=\"#9ca3af\""
            }
        };
        let _ = writeln!(out, "    {} [label={}, {attrs}];", n.id, dot_text(&label));
    }
    for c in &g.composites {
        let _ = writeln!(
            out,
            "    {} [label={}, shape=hexagon, fillcolor=\"#f5f3ff\", color=\"#7c3aed\"];",
            c.id,
            dot_text(&format!("{}\n{}", c.name, c.kind))
        );
    }
    for e in &g.edges {
        let attrs = match e.kind {
            EdgeKind::Relay => format!(
                "label={}, color=\"#2563eb\", penwidth=1.5",
                dot_text(&e.label)
            ),
            EdgeKind::Direct => format!(
                "label={}, color=\"#ea580c\", penwidth=2.5",
                dot_text(&e.label)
            ),
            EdgeKind::Endpoint => format!(
                "label={}, color=\"#6b7280\", style=dashed",
                dot_text(&e.label)
            ),
            EdgeKind::Subscribe => {
                "color=\"#16a34a\", style=dotted, penwidth=1.5, arrowhead=vee".to_owned()
            }
        };
        let _ = writeln!(
            out,
            "    {} -> {} [{attrs}];",
            g.nodes[e.from].id, g.nodes[e.to].id
        );
    }
    for c in &g.composites {
        let _ = writeln!(
            out,
            "    {} -> {} [label={}, color=\"#7c3aed\", penwidth=1.5];",
            g.nodes[c.service].id,
            c.id,
            dot_text(&c.name)
        );
        for (i, m) in c.members.iter().enumerate() {
            if let Some(to) = g.member_target_id(c, m) {
                let label = if c.kind == "failover" {
                    format!("{}. {m}", i + 1)
                } else {
                    m.clone()
                };
                let _ = writeln!(
                    out,
                    "    {} -> {to} [label={}, color=\"#7c3aed\", style=dashed, arrowhead=empty];",
                    c.id,
                    dot_text(&label)
                );
            }
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sinkgen::model::{Policy, Relay, Service, Sink};

    fn relay(name: &str, domain: Option<u8>, message: Option<&str>) -> Relay {
        Relay {
            name: name.into(),
            endpoint: Endpoint::Unix(format!("/tmp/{name}.sock").into()),
            framing: domain.map_or(Framing::LengthPrefixed, |domain| Framing::Torq { domain }),
            message: message.map(Into::into),
            line: 1,
        }
    }

    fn service(name: &str, subscribes: &[&str], sinks: Vec<(&str, SinkTarget)>) -> Service {
        Service {
            name: name.into(),
            source: None,
            listen: Some(Endpoint::Unix(format!("/tmp/{name}.sock").into())),
            subscribes: subscribes.iter().map(|s| (*s).into()).collect(),
            sinks: sinks
                .into_iter()
                .map(|(n, target)| Sink {
                    name: n.into(),
                    target,
                    policy: Policy::default(),
                    line: 1,
                })
                .collect(),
            line: 1,
        }
    }

    fn topology(relays: Vec<Relay>, services: Vec<Service>) -> Topology {
        Topology {
            path: "services.toml".into(),
            defaults: Policy::default(),
            relays,
            services,
        }
    }

    /// Every `<` of the SVG opens a known element or closes one: nothing from
    /// the file leaks into the markup unescaped.
    fn assert_well_formed(svg: &str) {
        let mut depth = 0i64;
        let mut rest = svg;
        while let Some(i) = rest.find('<') {
            rest = &rest[i + 1..];
            let end = rest.find('>').expect("every tag closes");
            let tag = &rest[..end];
            if tag.starts_with('/') {
                depth -= 1;
            } else if !tag.ends_with('/') {
                depth += 1;
            }
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            assert!(
                [
                    "svg", "title", "defs", "marker", "path", "rect", "text", "g", "line"
                ]
                .contains(&name.as_str()),
                "unexpected element <{tag}>"
            );
            rest = &rest[end + 1..];
        }
        assert_eq!(depth, 0, "unbalanced elements");
    }

    #[test]
    fn hostile_strings_are_escaped_in_every_format() {
        let mut t = topology(
            vec![relay("md", Some(1), Some("a::B<\"x\"|#y>"))],
            vec![service(
                "feed",
                &[],
                vec![("md", SinkTarget::Relay("md".into()))],
            )],
        );
        t.relays[0].endpoint = Endpoint::Unix("/tmp/a\"b<c>&d|e.sock".into());
        let svg = render(&t, Format::Svg);
        assert_well_formed(&svg);
        assert!(svg.contains("a::B&lt;&quot;x&quot;|#y&gt;"));
        let dot = render(&t, Format::Dot);
        assert!(dot.contains(r#"a::B<\"x\"|#y>"#), "{dot}");
        let mermaid = render(&t, Format::Mermaid);
        assert!(
            mermaid.contains("a::B#lt;#quot;x#quot;#124;#35;y#gt;"),
            "{mermaid}"
        );
        assert!(!mermaid.contains("a\"b"));
    }

    #[test]
    fn every_sink_kind_has_its_edge() {
        let t = topology(
            vec![relay("md", Some(1), None), relay("sig", None, None)],
            vec![
                service("feed", &[], vec![("md", SinkTarget::Relay("md".into()))]),
                service(
                    "strategy",
                    &["md"],
                    vec![
                        ("sig", SinkTarget::Relay("sig".into())),
                        ("exec", SinkTarget::Service("executor".into())),
                        (
                            "hedge",
                            SinkTarget::Endpoint(Endpoint::Tcp {
                                host: "::1".into(),
                                port: 7000,
                            }),
                        ),
                        (
                            "orders",
                            SinkTarget::Failover(vec!["exec".into(), "hedge".into()]),
                        ),
                        (
                            "all",
                            SinkTarget::Broadcast(vec!["orders".into(), "sig".into()]),
                        ),
                    ],
                ),
                service("executor", &["sig"], vec![]),
            ],
        );
        let mermaid = render(&t, Format::Mermaid);
        for line in [
            "service_feed -->|md| relay_md",
            "service_strategy ==>|exec| service_executor",
            "service_strategy -.->|hedge| endpoint_0",
            "relay_md -.-> service_strategy",
            "composite_strategy_3 -.->|1. exec| service_executor",
            "composite_strategy_4 -.->|orders| composite_strategy_3",
            "endpoint_0[/\"<b>tcp://[::1]:7000</b>\"/]",
        ] {
            assert!(mermaid.contains(line), "missing {line:?} in\n{mermaid}");
        }
        let links = mermaid
            .lines()
            .filter(|l| l.contains("-->") || l.contains("==>") || l.contains("-.->"))
            .count();
        let styles = mermaid
            .lines()
            .filter(|l| l.trim_start().starts_with("linkStyle"))
            .count();
        assert_eq!(links, styles, "one linkStyle per edge");

        let dot = render(&t, Format::Dot);
        assert!(
            dot.contains("service_strategy -> service_executor [label=\"exec\", color=\"#ea580c\"")
        );
        assert!(dot.contains("relay_md -> service_strategy [color=\"#16a34a\", style=dotted"));

        let svg = render(&t, Format::Svg);
        assert_well_formed(&svg);
        assert_eq!(
            svg.matches("marker-end=\"url(#arrow-").count(),
            6 + 4,
            "6 edges, 4 legend samples"
        );
        assert!(svg.contains("◆ orders (failover) → exec, hedge"));
    }

    #[test]
    fn cycles_and_empty_topologies_are_drawn() {
        // a -> r1 -> b -> r2 -> a: a cycle through subscriptions.
        let t = topology(
            vec![relay("r1", None, None), relay("r2", None, None)],
            vec![
                service("a", &["r2"], vec![("r1", SinkTarget::Relay("r1".into()))]),
                service("b", &["r1"], vec![("r2", SinkTarget::Relay("r2".into()))]),
                service("lonely", &[], vec![]),
            ],
        );
        assert_well_formed(&render(&t, Format::Svg));
        let empty = topology(vec![], vec![]);
        let svg = render(&empty, Format::Svg);
        assert_well_formed(&svg);
        assert!(render(&empty, Format::Mermaid).contains("flowchart LR"));
        assert!(render(&empty, Format::Dot).ends_with("}\n"));
    }

    #[test]
    fn a_large_topology_lays_out_without_overlaps() {
        let relays: Vec<Relay> = (0..8)
            .map(|i| relay(&format!("r{i}"), Some(i), None))
            .collect();
        let services: Vec<Service> = (0..40)
            .map(|i| {
                let sinks = vec![
                    (
                        format!("to_r{}", i % 8),
                        SinkTarget::Relay(format!("r{}", i % 8)),
                    ),
                    (
                        format!("to_s{}", (i * 7 + 3) % 40),
                        SinkTarget::Service(format!("s{}", (i * 7 + 3) % 40)),
                    ),
                ];
                let mut s = service(&format!("s{i}"), &[], vec![]);
                s.subscribes = vec![format!("r{}", (i + 3) % 8)];
                s.sinks = sinks
                    .into_iter()
                    .filter(|(_, t)| *t != SinkTarget::Service(format!("s{i}")))
                    .map(|(n, target)| Sink {
                        name: n,
                        target,
                        policy: Policy::default(),
                        line: 1,
                    })
                    .collect();
                s
            })
            .collect();
        let t = topology(relays, services);
        let svg = render(&t, Format::Svg);
        assert_well_formed(&svg);
        // Boxes: the second <rect> of every node group; no two may overlap.
        let mut boxes = Vec::new();
        for group in svg.split("<g id=\"").skip(1) {
            let rect = group.split("<rect ").nth(2).expect("shadow and box");
            let num = |k: &str| -> f64 {
                let at = rect.find(&format!("{k}=\"")).unwrap() + k.len() + 2;
                rect[at..].split('"').next().unwrap().parse().unwrap()
            };
            boxes.push((
                num("x"),
                num("y"),
                num("x") + num("width"),
                num("y") + num("height"),
            ));
        }
        assert_eq!(boxes.len(), 48);
        for (i, a) in boxes.iter().enumerate() {
            for b in &boxes[i + 1..] {
                assert!(
                    !(a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3),
                    "{a:?} overlaps {b:?}"
                );
            }
        }
    }
}
