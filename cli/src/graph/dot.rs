//! Graphviz digraphs (render with `dot -Tsvg`).

use std::fmt::Write as _;

use super::model::{EdgeKind, Graph, NodeKind};

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

pub(super) fn render(g: &Graph) -> String {
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
