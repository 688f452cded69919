//! A layered layout of the topology, drawn as SVG.
//!
//! The layout is a small Sugiyama-style pipeline: break cycles (depth-first,
//! reversing back edges), assign layers by longest path so that producers sit
//! on the left and data flows right through relays to subscribers, put a
//! dummy point in every layer a long edge crosses (so it gets room of its own
//! instead of running through a box), order each layer by barycenters, then
//! pull every box towards its neighbours without letting boxes overlap.
//! Text widths are estimated, generously, since no font is at hand.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::model::{EdgeKind, Graph, NodeKind};

const MARGIN: f64 = 24.0;
const TITLE_HEIGHT: f64 = 40.0;
const COLUMN_GAP: f64 = 150.0;
const ROW_GAP: f64 = 28.0;
const DUMMY_GAP: f64 = 14.0;
const PAD_X: f64 = 14.0;
const PAD_Y: f64 = 10.0;
const TAG_SIZE: f64 = 9.0;
const TITLE_SIZE: f64 = 14.0;
const DETAIL_SIZE: f64 = 11.0;
const LINE: f64 = 15.0;
const SANS: &str = "Inter, 'Segoe UI', Helvetica, Arial, 'DejaVu Sans', sans-serif";
const MONO: &str = "'JetBrains Mono', Menlo, Consolas, 'DejaVu Sans Mono', monospace";

/// Estimated width of `s` in a sans-serif font (a bit wide on purpose).
fn sans_width(s: &str, size: f64, bold: bool) -> f64 {
    s.chars().count() as f64 * size * if bold { 0.66 } else { 0.6 }
}

/// Width of `s` in a monospace font.
fn mono_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.62
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn color(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Relay => "#2563eb",
        EdgeKind::Direct => "#ea580c",
        EdgeKind::Endpoint => "#6b7280",
        EdgeKind::Subscribe => "#16a34a",
    }
}

fn stroke(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Relay => "stroke-width=\"2\"",
        EdgeKind::Direct => "stroke-width=\"3\"",
        EdgeKind::Endpoint => "stroke-width=\"1.6\" stroke-dasharray=\"7 5\"",
        EdgeKind::Subscribe => {
            "stroke-width=\"2\" stroke-dasharray=\"2 5\" stroke-linecap=\"round\""
        }
    }
}

fn marker(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Relay => "arrow-relay",
        EdgeKind::Direct => "arrow-direct",
        EdgeKind::Endpoint => "arrow-endpoint",
        EdgeKind::Subscribe => "arrow-subscribe",
    }
}

/// One text line inside a box.
struct TextLine {
    text: String,
    style: LineStyle,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LineStyle {
    Tag,
    Title,
    Detail,
    Composite,
}

/// A laid-out vertex: a real node or a dummy point of a long edge.
#[derive(Clone, Debug)]
struct Vertex {
    layer: usize,
    /// Position within its layer.
    order: usize,
    /// Vertical center.
    y: f64,
    height: f64,
    width: f64,
    dummy: bool,
}

/// A drawn edge: the vertices it passes, from the drawn start to the drawn end.
struct Route {
    kind: EdgeKind,
    label: String,
    vertices: Vec<usize>,
}

pub(super) fn render(g: &Graph) -> String {
    let n = g.nodes.len();
    let lines: Vec<Vec<TextLine>> = (0..n).map(|i| box_lines(g, i)).collect();
    let mut vertices: Vec<Vertex> = lines
        .iter()
        .map(|ls| {
            let width = ls
                .iter()
                .map(|l| match l.style {
                    LineStyle::Tag => sans_width(&l.text, TAG_SIZE, true) + l.text.len() as f64,
                    LineStyle::Title => sans_width(&l.text, TITLE_SIZE, true),
                    LineStyle::Detail => mono_width(&l.text, DETAIL_SIZE),
                    LineStyle::Composite => sans_width(&l.text, DETAIL_SIZE, false),
                })
                .fold(90.0, f64::max)
                + 2.0 * PAD_X;
            let height = 2.0 * PAD_Y + 13.0 + 19.0 + (ls.len().saturating_sub(2)) as f64 * LINE;
            Vertex {
                layer: 0,
                order: 0,
                y: 0.0,
                height,
                width,
                dummy: false,
            }
        })
        .collect();

    // 1. Break cycles: an edge to a vertex on the DFS stack is reversed.
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in g.edges.iter().enumerate() {
        out_edges[e.from].push(i);
    }
    let mut reversed = vec![false; g.edges.len()];
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut discovery = Vec::with_capacity(n);
    let roots: Vec<usize> = {
        // Start from vertices nothing points at, so the DFS follows the flow.
        let mut has_in = vec![false; n];
        for e in &g.edges {
            has_in[e.to] = true;
        }
        (0..n).filter(|&v| !has_in[v]).chain(0..n).collect()
    };
    for root in roots {
        if state[root] != 0 {
            continue;
        }
        // Iterative DFS: (vertex, next out-edge index).
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        discovery.push(root);
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&e) = out_edges[v].get(*next) {
                *next += 1;
                let w = g.edges[e].to;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        discovery.push(w);
                        stack.push((w, 0));
                    }
                    1 => reversed[e] = true,
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    let dag_edge = |i: usize| {
        let e = &g.edges[i];
        if reversed[i] {
            (e.to, e.from)
        } else {
            (e.from, e.to)
        }
    };

    // 2. Longest-path layers, in an order that respects every DAG edge.
    let mut indegree = vec![0usize; n];
    let mut dag_out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..g.edges.len() {
        let (a, b) = dag_edge(i);
        if a != b {
            indegree[b] += 1;
            dag_out[a].push(b);
        }
    }
    let mut ready: Vec<usize> = discovery
        .iter()
        .copied()
        .filter(|&v| indegree[v] == 0)
        .collect();
    ready.reverse();
    let mut layer = vec![0usize; n];
    while let Some(v) = ready.pop() {
        for &w in &dag_out[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                ready.push(w);
            }
        }
    }
    for (v, l) in layer.iter().enumerate() {
        vertices[v].layer = *l;
    }
    let layers = layer.iter().copied().max().unwrap_or(0) + 1;

    // 3. Routes, with one dummy vertex per crossed layer.
    let mut routes = Vec::new();
    for (i, e) in g.edges.iter().enumerate() {
        let (a, b) = dag_edge(i);
        let mut chain = vec![a];
        for l in vertices[a].layer + 1..vertices[b].layer {
            vertices.push(Vertex {
                layer: l,
                order: 0,
                y: 0.0,
                height: 0.0,
                width: 0.0,
                dummy: true,
            });
            chain.push(vertices.len() - 1);
        }
        chain.push(b);
        if reversed[i] {
            chain.reverse();
        }
        routes.push(Route {
            kind: e.kind,
            label: e.label.clone(),
            vertices: chain,
        });
    }

    // Neighbours in the layer to the left and to the right.
    let mut left: Vec<Vec<usize>> = vec![Vec::new(); vertices.len()];
    let mut right: Vec<Vec<usize>> = vec![Vec::new(); vertices.len()];
    for r in &routes {
        for w in r.vertices.windows(2) {
            let (a, b) = if vertices[w[0]].layer < vertices[w[1]].layer {
                (w[0], w[1])
            } else {
                (w[1], w[0])
            };
            right[a].push(b);
            left[b].push(a);
        }
    }

    // 4. Order within layers: discovery order, then barycenter sweeps.
    let mut by_layer: Vec<Vec<usize>> = vec![Vec::new(); layers];
    let mut seen = vec![false; vertices.len()];
    for &v in discovery
        .iter()
        .chain(&(0..vertices.len()).collect::<Vec<_>>())
    {
        if !seen[v] {
            seen[v] = true;
            by_layer[vertices[v].layer].push(v);
        }
    }
    let renumber = |by_layer: &Vec<Vec<usize>>, vertices: &mut Vec<Vertex>| {
        for l in by_layer {
            for (i, &v) in l.iter().enumerate() {
                vertices[v].order = i;
            }
        }
    };
    renumber(&by_layer, &mut vertices);
    for sweep in 0..8 {
        let downward = sweep % 2 == 0;
        let range: Vec<usize> = if downward {
            (1..layers).collect()
        } else {
            (0..layers.saturating_sub(1)).rev().collect()
        };
        for l in range {
            let neighbours = if downward { &left } else { &right };
            let mut keyed: Vec<(f64, usize, usize)> = by_layer[l]
                .iter()
                .map(|&v| {
                    let ns = &neighbours[v];
                    let key = if ns.is_empty() {
                        vertices[v].order as f64
                    } else {
                        ns.iter().map(|&w| vertices[w].order as f64).sum::<f64>() / ns.len() as f64
                    };
                    (key, vertices[v].order, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            by_layer[l] = keyed.into_iter().map(|k| k.2).collect();
            for (i, &v) in by_layer[l].iter().enumerate() {
                vertices[v].order = i;
            }
        }
    }

    // 5. Vertical positions: stack, then pull towards neighbours.
    let gap = |a: &Vertex, b: &Vertex| {
        if a.dummy || b.dummy {
            DUMMY_GAP
        } else {
            ROW_GAP
        }
    };
    let column_height = |l: &Vec<usize>, vertices: &Vec<Vertex>| {
        let mut h = 0.0;
        for (i, &v) in l.iter().enumerate() {
            h += vertices[v].height;
            if i > 0 {
                h += gap(&vertices[l[i - 1]], &vertices[v]);
            }
        }
        h
    };
    let tallest = by_layer
        .iter()
        .map(|l| column_height(l, &vertices))
        .fold(0.0, f64::max);
    for l in &by_layer {
        let mut y = (tallest - column_height(l, &vertices)) / 2.0;
        for (i, &v) in l.iter().enumerate() {
            if i > 0 {
                y += gap(&vertices[l[i - 1]], &vertices[v]);
            }
            vertices[v].y = y + vertices[v].height / 2.0;
            y += vertices[v].height;
        }
    }
    for pass in 0..12 {
        let order: Vec<usize> = if pass % 2 == 0 {
            (0..layers).collect()
        } else {
            (0..layers).rev().collect()
        };
        for l in order {
            let want: Vec<f64> = by_layer[l]
                .iter()
                .map(|&v| {
                    let ns: Vec<usize> = left[v].iter().chain(&right[v]).copied().collect();
                    if ns.is_empty() {
                        vertices[v].y
                    } else {
                        ns.iter().map(|&w| vertices[w].y).sum::<f64>() / ns.len() as f64
                    }
                })
                .collect();
            place(&by_layer[l], &want, &mut vertices, gap);
        }
    }
    let top = vertices
        .iter()
        .map(|v| v.y - v.height / 2.0)
        .fold(f64::INFINITY, f64::min);
    let shift = MARGIN + TITLE_HEIGHT - if top.is_finite() { top } else { 0.0 };
    for v in &mut vertices {
        v.y += shift;
    }

    // 6. Columns.
    let mut column_x = Vec::with_capacity(layers);
    let mut column_w = Vec::with_capacity(layers);
    let mut x = MARGIN;
    for l in &by_layer {
        let w = l
            .iter()
            .map(|&v| vertices[v].width)
            .fold(0.0, f64::max)
            .max(40.0);
        column_x.push(x);
        column_w.push(w);
        x += w + COLUMN_GAP;
    }
    let content_right = x - COLUMN_GAP;
    let center_x = |v: usize| column_x[vertices[v].layer] + column_w[vertices[v].layer] / 2.0;
    let box_left = |v: usize| center_x(v) - vertices[v].width / 2.0;
    let box_right = |v: usize| center_x(v) + vertices[v].width / 2.0;

    // 7. Ports: where each route leaves and enters a box, spread over its side
    //    in the order of the other ends, so that routes do not cross at a box.
    // (vertex, on its right side) -> (y of the other end, route, is the route's start)
    type Ends = BTreeMap<(usize, bool), Vec<(f64, usize, bool)>>;
    let mut ends = Ends::new();
    for (ri, r) in routes.iter().enumerate() {
        let first = r.vertices[0];
        let second = r.vertices[1];
        let last = r.vertices[r.vertices.len() - 1];
        let before_last = r.vertices[r.vertices.len() - 2];
        let first_right = vertices[second].layer > vertices[first].layer;
        ends.entry((first, first_right))
            .or_default()
            .push((vertices[second].y, ri, true));
        let last_right = vertices[before_last].layer > vertices[last].layer;
        ends.entry((last, last_right))
            .or_default()
            .push((vertices[before_last].y, ri, false));
    }
    let mut start_y = vec![0.0; routes.len()];
    let mut end_y = vec![0.0; routes.len()];
    for ((v, _), mut list) in ends {
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let h = vertices[v].height.min(18.0 * list.len() as f64 + 8.0);
        let top = vertices[v].y - h / 2.0;
        for (i, &(_, ri, is_start)) in list.iter().enumerate() {
            let y = top + h * (i as f64 + 1.0) / (list.len() as f64 + 1.0);
            if is_start {
                start_y[ri] = y;
            } else {
                end_y[ri] = y;
            }
        }
    }

    // Height: boxes, then the legend.
    let bottom = vertices
        .iter()
        .map(|v| v.y + v.height / 2.0)
        .fold(MARGIN + TITLE_HEIGHT, f64::max);
    let mut kinds: Vec<EdgeKind> = routes.iter().map(|r| r.kind).collect();
    kinds.sort();
    kinds.dedup();
    let legend_y = bottom + 36.0;
    let legend_items = legend_items(g, &kinds);
    let legend_width: f64 = legend_items.iter().map(|i| i.width).sum::<f64>() + MARGIN;
    let width = (content_right + MARGIN)
        .max(legend_width + MARGIN)
        .max(sans_width(&g.title, 15.0, true) + 2.0 * MARGIN)
        .ceil();
    let height = (legend_y + 40.0).ceil();

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"{SANS}\">"
    );
    let _ = writeln!(svg, "  <title>{}</title>", xml(&g.title));
    svg.push_str("  <defs>\n");
    for kind in [
        EdgeKind::Relay,
        EdgeKind::Direct,
        EdgeKind::Endpoint,
        EdgeKind::Subscribe,
    ] {
        let _ = writeln!(
            svg,
            "    <marker id=\"{}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"{}\" markerHeight=\"{}\" markerUnits=\"userSpaceOnUse\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{}\"/></marker>",
            marker(kind),
            if kind == EdgeKind::Direct { 12 } else { 10 },
            if kind == EdgeKind::Direct { 12 } else { 10 },
            color(kind)
        );
    }
    svg.push_str("  </defs>\n");
    let _ = writeln!(
        svg,
        "  <rect width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        svg,
        "  <text x=\"{MARGIN}\" y=\"{}\" font-size=\"15\" font-weight=\"700\" fill=\"#0f172a\">{}</text>",
        MARGIN + 12.0,
        xml(&g.title)
    );

    // Edges first, so that boxes and labels sit on top of them.
    let mut paths = Vec::with_capacity(routes.len());
    svg.push_str("  <g fill=\"none\">\n");
    for (ri, r) in routes.iter().enumerate() {
        let mut points: Vec<(f64, f64)> = Vec::new();
        let count = r.vertices.len();
        for (k, &v) in r.vertices.iter().enumerate() {
            let vx = &vertices[v];
            if vx.dummy {
                let l = vx.layer;
                let (a, b) = (column_x[l], column_x[l] + column_w[l]);
                let going_right =
                    vertices[r.vertices[count - 1]].layer > vertices[r.vertices[0]].layer;
                if going_right {
                    points.push((a, vx.y));
                    points.push((b, vx.y));
                } else {
                    points.push((b, vx.y));
                    points.push((a, vx.y));
                }
            } else if k == 0 {
                let next = r.vertices[1];
                let x = if vertices[next].layer > vx.layer {
                    box_right(v)
                } else {
                    box_left(v)
                };
                points.push((x, start_y[ri]));
            } else {
                let prev = r.vertices[k - 1];
                let x = if vertices[prev].layer > vx.layer {
                    box_right(v) + 2.0
                } else {
                    box_left(v) - 2.0
                };
                points.push((x, end_y[ri]));
            }
        }
        let mut d = format!("M{:.1},{:.1}", points[0].0, points[0].1);
        let mut segments = Vec::new();
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            if (a.1 - b.1).abs() < 0.05 {
                let _ = write!(d, " L{:.1},{:.1}", b.0, b.1);
                segments.push([
                    a,
                    ((2.0 * a.0 + b.0) / 3.0, a.1),
                    ((a.0 + 2.0 * b.0) / 3.0, b.1),
                    b,
                ]);
            } else {
                let dx = (b.0 - a.0) / 2.0;
                let (c1, c2) = ((a.0 + dx, a.1), (b.0 - dx, b.1));
                let _ = write!(
                    d,
                    " C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
                    c1.0, c1.1, c2.0, c2.1, b.0, b.1
                );
                segments.push([a, c1, c2, b]);
            }
        }
        let _ = writeln!(
            svg,
            "    <path d=\"{d}\" stroke=\"{}\" {} marker-end=\"url(#{})\"/>",
            color(r.kind),
            stroke(r.kind),
            marker(r.kind)
        );
        paths.push(segments);
    }
    svg.push_str("  </g>\n");

    // Boxes.
    for (v, ls) in lines.iter().enumerate() {
        let vx = &vertices[v];
        let (x, y) = (box_left(v), vx.y - vx.height / 2.0);
        let (fill, stroke, rx, dash) = match g.nodes[v].kind {
            NodeKind::Relay => ("#eef2ff", "#4f46e5", 16.0, ""),
            NodeKind::Service => ("#f8fafc", "#334155", 8.0, ""),
            NodeKind::External => ("#ffffff", "#9ca3af", 4.0, " stroke-dasharray=\"5 4\""),
        };
        let _ = writeln!(svg, "  <g id=\"{}\">", xml(&g.nodes[v].id));
        let _ = writeln!(
            svg,
            "    <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"{rx}\" fill=\"#0f172a\" fill-opacity=\"0.07\"/>",
            x + 2.0,
            y + 3.0,
            vx.width,
            vx.height
        );
        let _ = writeln!(
            svg,
            "    <rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"{dash}/>",
            vx.width, vx.height
        );
        let mut ty = y + PAD_Y;
        for l in ls {
            match l.style {
                LineStyle::Tag => {
                    ty += 10.0;
                    let _ = writeln!(
                        svg,
                        "    <text x=\"{:.1}\" y=\"{ty:.1}\" font-size=\"{TAG_SIZE}\" font-weight=\"700\" letter-spacing=\"1\" fill=\"{stroke}\">{}</text>",
                        x + PAD_X,
                        xml(&l.text)
                    );
                    ty += 3.0;
                }
                LineStyle::Title => {
                    ty += 17.0;
                    let _ = writeln!(
                        svg,
                        "    <text x=\"{:.1}\" y=\"{ty:.1}\" font-size=\"{TITLE_SIZE}\" font-weight=\"700\" fill=\"#0f172a\">{}</text>",
                        x + PAD_X,
                        xml(&l.text)
                    );
                    ty += 2.0;
                }
                LineStyle::Detail => {
                    ty += LINE;
                    let _ = writeln!(
                        svg,
                        "    <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{DETAIL_SIZE}\" font-family=\"{MONO}\" fill=\"#475569\">{}</text>",
                        x + PAD_X,
                        ty - 3.0,
                        xml(&l.text)
                    );
                }
                LineStyle::Composite => {
                    ty += LINE;
                    let _ = writeln!(
                        svg,
                        "    <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"{DETAIL_SIZE}\" fill=\"#6d28d9\">{}</text>",
                        x + PAD_X,
                        ty - 3.0,
                        xml(&l.text)
                    );
                }
            }
        }
        svg.push_str("  </g>\n");
    }

    // Labels of sink edges, on a white plate, moved along the edge until they
    // overlap neither a box nor another label.
    let mut taken: Vec<(f64, f64, f64, f64)> = (0..g.nodes.len())
        .map(|v| {
            (
                box_left(v),
                vertices[v].y - vertices[v].height / 2.0,
                box_right(v),
                vertices[v].y + vertices[v].height / 2.0,
            )
        })
        .collect();
    for (ri, r) in routes.iter().enumerate() {
        if r.label.is_empty() {
            continue;
        }
        let w = sans_width(&r.label, 11.0, false) + 10.0;
        let h = 16.0;
        let segment = paths[ri][0];
        let mut best = None;
        for t in [0.5, 0.35, 0.65, 0.2, 0.8] {
            let (px, py) = bezier(segment, t);
            let rect = (px - w / 2.0, py - h / 2.0, px + w / 2.0, py + h / 2.0);
            if !taken.iter().any(|o| overlaps(rect, *o)) {
                best = Some(rect);
                break;
            }
        }
        let rect = best.unwrap_or_else(|| {
            let (px, py) = bezier(segment, 0.5);
            (px - w / 2.0, py - h / 2.0, px + w / 2.0, py + h / 2.0)
        });
        taken.push(rect);
        let _ = writeln!(
            svg,
            "  <g><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h}\" rx=\"8\" fill=\"#ffffff\" stroke=\"{}\" stroke-width=\"1\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{}\">{}</text></g>",
            rect.0,
            rect.1,
            color(r.kind),
            (rect.0 + rect.2) / 2.0,
            rect.1 + 12.0,
            color(r.kind),
            xml(&r.label)
        );
    }

    // Legend.
    let _ = writeln!(
        svg,
        "  <line x1=\"{MARGIN}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e2e8f0\"/>",
        legend_y - 18.0,
        width - MARGIN,
        legend_y - 18.0
    );
    let mut lx = MARGIN;
    for item in &legend_items {
        svg.push_str(&item.svg(lx, legend_y));
        lx += item.width;
    }
    svg.push_str("</svg>\n");
    svg
}

/// Places the vertices of one layer as close to `want` as their order and
/// spacing allow: a forward pass pushes down, a backward pass pulls up.
fn place(
    layer: &[usize],
    want: &[f64],
    vertices: &mut [Vertex],
    gap: impl Fn(&Vertex, &Vertex) -> f64,
) {
    let k = layer.len();
    if k == 0 {
        return;
    }
    let mut y: Vec<f64> = want.to_vec();
    let sep = |i: usize, vertices: &[Vertex]| {
        let (a, b) = (&vertices[layer[i - 1]], &vertices[layer[i]]);
        a.height / 2.0 + gap(a, b) + b.height / 2.0
    };
    for i in 1..k {
        y[i] = y[i].max(y[i - 1] + sep(i, vertices));
    }
    // Spread the push evenly: shift the whole layer up by half the overshoot.
    let overshoot: f64 = y.iter().zip(want).map(|(a, b)| a - b).sum::<f64>() / k as f64;
    for v in &mut y {
        *v -= overshoot;
    }
    for i in (1..k).rev() {
        y[i - 1] = y[i - 1].min(y[i] - sep(i, vertices));
    }
    for (i, &v) in layer.iter().enumerate() {
        vertices[v].y = y[i];
    }
}

fn bezier(s: [(f64, f64); 4], t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    (
        a * s[0].0 + b * s[1].0 + c * s[2].0 + d * s[3].0,
        a * s[0].1 + b * s[1].1 + c * s[2].1 + d * s[3].1,
    )
}

fn overlaps(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// The lines of text in a node's box.
fn box_lines(g: &Graph, v: usize) -> Vec<TextLine> {
    let node = &g.nodes[v];
    let tag = match node.kind {
        NodeKind::Relay => "RELAY",
        NodeKind::Service => "SERVICE",
        NodeKind::External => "ENDPOINT",
    };
    let mut lines = vec![
        TextLine {
            text: tag.into(),
            style: LineStyle::Tag,
        },
        TextLine {
            text: node.title.clone(),
            style: LineStyle::Title,
        },
    ];
    lines.extend(node.details.iter().map(|d| TextLine {
        text: d.clone(),
        style: LineStyle::Detail,
    }));
    for c in g.composites.iter().filter(|c| c.service == v) {
        let arrow = if c.kind == "failover" {
            " → "
        } else {
            " ⇉ "
        };
        lines.push(TextLine {
            text: format!("◆ {} ({}){arrow}{}", c.name, c.kind, c.members.join(", ")),
            style: LineStyle::Composite,
        });
    }
    lines
}

/// One entry of the legend.
struct LegendItem {
    width: f64,
    draw: LegendDraw,
    text: &'static str,
}

enum LegendDraw {
    Edge(EdgeKind),
    Box(NodeKind),
    Composite,
}

impl LegendItem {
    fn svg(&self, x: f64, y: f64) -> String {
        let sample = match self.draw {
            LegendDraw::Edge(kind) => format!(
                "<path d=\"M{x:.1},{y:.1} L{:.1},{y:.1}\" fill=\"none\" stroke=\"{}\" {} marker-end=\"url(#{})\"/>",
                x + 34.0,
                color(kind),
                stroke(kind),
                marker(kind)
            ),
            LegendDraw::Box(kind) => {
                let (fill, stroke, rx, dash) = match kind {
                    NodeKind::Relay => ("#eef2ff", "#4f46e5", 7.0, ""),
                    NodeKind::Service => ("#f8fafc", "#334155", 4.0, ""),
                    NodeKind::External => ("#ffffff", "#9ca3af", 2.0, " stroke-dasharray=\"4 3\""),
                };
                format!(
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"34\" height=\"14\" rx=\"{rx}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"{dash}/>",
                    x,
                    y - 7.0
                )
            }
            LegendDraw::Composite => format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\" fill=\"#6d28d9\">◆</text>",
                x + 17.0,
                y + 4.5
            ),
        };
        format!(
            "  <g>{sample}<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#334155\">{}</text></g>\n",
            x + 42.0,
            y + 4.0,
            xml(self.text)
        )
    }
}

fn legend_items(g: &Graph, kinds: &[EdgeKind]) -> Vec<LegendItem> {
    let mut items = Vec::new();
    let mut push = |draw, text: &'static str| {
        items.push(LegendItem {
            width: 42.0 + sans_width(text, 11.0, false) + 22.0,
            draw,
            text,
        });
    };
    for (kind, text) in [
        (NodeKind::Service, "service"),
        (NodeKind::Relay, "relay"),
        (NodeKind::External, "outside endpoint"),
    ] {
        if g.nodes.iter().any(|n| n.kind == kind) {
            push(LegendDraw::Box(kind), text);
        }
    }
    for &kind in kinds {
        push(LegendDraw::Edge(kind), kind.legend());
    }
    if !g.composites.is_empty() {
        push(LegendDraw::Composite, "composite sink (members)");
    }
    items
}
