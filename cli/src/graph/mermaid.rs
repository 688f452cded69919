//! Mermaid flowcharts (GitHub renders them inside a mermaid code block).

use std::fmt::Write as _;

use super::model::{EdgeKind, Graph, NodeKind};

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

pub(super) fn render(g: &Graph) -> String {
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
