//! The topology drawn as a self-contained SVG, in three passes:
//!
//! 1. [`layout`]: a layered layout of the boxes (sources on the left, data flowing
//!    right through relays to subscribers), with a point in every column a long edge
//!    crosses;
//! 2. [`routing`]: where each edge leaves and enters its boxes, and its curve;
//! 3. drawing (this file): the boxes, the edges, their labels and the legend.
//!
//! Text widths are estimated, generously, since no font is at hand.
//!
//! Why not a layout crate: `layout-rs` (given the DOT output) and `rust-sugiyama`
//! (given the boxes' sizes) were tried on `examples/services.toml` and
//! `tests/fixtures/ok/trading.toml`. `layout-rs` draws its own SVG: labels float away
//! from their edges, relays become ellipses, long edges loop around the picture and
//! the canvas is twice the drawing's height. `rust-sugiyama` returns node
//! coordinates only (no points for long edges, so straight edges cross boxes): the
//! routing and drawing passes would stay ours anyway.

use std::fmt::Write as _;

use super::model::{EdgeKind, Graph, NodeKind};

mod layout;
mod routing;

use layout::Layout;
use routing::Curve;

pub(super) const MARGIN: f64 = 24.0;
pub(super) const TITLE_HEIGHT: f64 = 40.0;
pub(super) const COLUMN_GAP: f64 = 150.0;
pub(super) const ROW_GAP: f64 = 28.0;
pub(super) const DUMMY_GAP: f64 = 14.0;
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

pub(super) fn render(g: &Graph) -> String {
    let lines: Vec<Vec<TextLine>> = (0..g.nodes.len()).map(|i| box_lines(g, i)).collect();
    let sizes: Vec<(f64, f64)> = lines.iter().map(|ls| box_size(ls)).collect();
    let layout = layout::layout(g, &sizes);
    let curves = routing::curves(&layout);

    // Height: boxes, then the legend.
    let bottom = layout
        .vertices
        .iter()
        .map(|v| v.y + v.height / 2.0)
        .fold(MARGIN + TITLE_HEIGHT, f64::max);
    let mut kinds: Vec<EdgeKind> = layout.routes.iter().map(|r| r.kind).collect();
    kinds.sort();
    kinds.dedup();
    let legend_y = bottom + 36.0;
    let legend_items = legend_items(g, &kinds);
    let legend_width: f64 = legend_items.iter().map(|i| i.width).sum::<f64>() + MARGIN;
    let width = (layout.content_right + MARGIN)
        .max(legend_width + MARGIN)
        .max(sans_width(&g.title, 15.0, true) + 2.0 * MARGIN)
        .ceil();
    let height = (legend_y + 40.0).ceil();

    let mut svg = header(&g.title, width, height);
    // Edges first, so that boxes and labels sit on top of them.
    svg.push_str(&edges(&layout, &curves));
    for (v, ls) in lines.iter().enumerate() {
        svg.push_str(&node_box(g, &layout, v, ls));
    }
    svg.push_str(&labels(&layout, &curves, g.nodes.len()));
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

/// The width and height of a box holding these lines.
fn box_size(lines: &[TextLine]) -> (f64, f64) {
    let width = lines
        .iter()
        .map(|l| match l.style {
            LineStyle::Tag => sans_width(&l.text, TAG_SIZE, true) + l.text.len() as f64,
            LineStyle::Title => sans_width(&l.text, TITLE_SIZE, true),
            LineStyle::Detail => mono_width(&l.text, DETAIL_SIZE),
            LineStyle::Composite => sans_width(&l.text, DETAIL_SIZE, false),
        })
        .fold(90.0, f64::max)
        + 2.0 * PAD_X;
    let height = 2.0 * PAD_Y + 13.0 + 19.0 + (lines.len().saturating_sub(2)) as f64 * LINE;
    (width, height)
}

/// The opening tag, the arrow heads, the background and the title.
fn header(title: &str, width: f64, height: f64) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"{SANS}\">"
    );
    let _ = writeln!(svg, "  <title>{}</title>", xml(title));
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
        xml(title)
    );
    svg
}

/// Every edge's path, styled by kind.
fn edges(layout: &Layout, curves: &[Curve]) -> String {
    let mut svg = String::from("  <g fill=\"none\">\n");
    for (r, c) in layout.routes.iter().zip(curves) {
        let _ = writeln!(
            svg,
            "    <path d=\"{}\" stroke=\"{}\" {} marker-end=\"url(#{})\"/>",
            c.d,
            color(r.kind),
            stroke(r.kind),
            marker(r.kind)
        );
    }
    svg.push_str("  </g>\n");
    svg
}

/// A node's box: shadow, frame, and its lines of text.
fn node_box(g: &Graph, layout: &Layout, v: usize, ls: &[TextLine]) -> String {
    let mut svg = String::new();
    let vx = &layout.vertices[v];
    let (x, y) = (layout.box_left(v), layout.box_top(v));
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
    svg
}

/// A rectangle as (left, top, right, bottom).
type Rect = (f64, f64, f64, f64);

/// The labels of sink edges, on a white plate, moved along the edge until they
/// overlap neither a box (the first `nodes` vertices) nor another label.
fn labels(layout: &Layout, curves: &[Curve], nodes: usize) -> String {
    let mut svg = String::new();
    let mut taken: Vec<Rect> = (0..nodes)
        .map(|v| {
            (
                layout.box_left(v),
                layout.box_top(v),
                layout.box_right(v),
                layout.box_bottom(v),
            )
        })
        .collect();
    for (r, c) in layout.routes.iter().zip(curves) {
        if r.label.is_empty() {
            continue;
        }
        let w = sans_width(&r.label, 11.0, false) + 10.0;
        let h = 16.0;
        let segment = c.segments[0];
        let mut best = None;
        for t in [0.5, 0.35, 0.65, 0.2, 0.8] {
            let (px, py) = routing::bezier(segment, t);
            let rect = (px - w / 2.0, py - h / 2.0, px + w / 2.0, py + h / 2.0);
            if !taken.iter().any(|o| overlaps(rect, *o)) {
                best = Some(rect);
                break;
            }
        }
        let rect = best.unwrap_or_else(|| {
            let (px, py) = routing::bezier(segment, 0.5);
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
    svg
}

fn overlaps(a: Rect, b: Rect) -> bool {
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

#[cfg(test)]
mod tests {
    use super::layout::tests::{FEED, graph, laid_out};
    use super::*;

    #[test]
    fn a_box_grows_with_its_text() {
        let line = |text: &str, style| TextLine {
            text: text.into(),
            style,
        };
        let small = [
            line("SERVICE", LineStyle::Tag),
            line("feed", LineStyle::Title),
        ];
        let tall = [
            line("SERVICE", LineStyle::Tag),
            line("feed", LineStyle::Title),
            line("source 1", LineStyle::Detail),
        ];
        let wide = [
            line("SERVICE", LineStyle::Tag),
            line(&"a_very_long_service_name".repeat(3), LineStyle::Title),
        ];
        let (w, h) = box_size(&small);
        assert_eq!(box_size(&tall).0, w);
        assert_eq!(box_size(&tall).1, h + LINE);
        assert!(box_size(&wide).0 > w);
        assert_eq!(box_size(&wide).1, h);
    }

    #[test]
    fn every_sink_edge_gets_one_label_clear_of_the_boxes() {
        let g = graph(FEED);
        let l = laid_out(&g);
        let curves = routing::curves(&l);
        let drawn = labels(&l, &curves, g.nodes.len());
        let labelled = l.routes.iter().filter(|r| !r.label.is_empty()).count();
        assert_eq!(labelled, 2, "two sinks; the subscription has no label");
        assert_eq!(drawn.matches("<text ").count(), labelled);
        for r in &l.routes {
            if !r.label.is_empty() {
                assert!(drawn.contains(&format!(">{}</text>", r.label)));
            }
        }
        // Parse each plate back and check it against every box.
        for plate in drawn.lines() {
            let num = |key: &str| -> f64 {
                let at = plate.find(&format!(" {key}=\"")).unwrap() + key.len() + 3;
                plate[at..].split('"').next().unwrap().parse().unwrap()
            };
            let rect = (
                num("x"),
                num("y"),
                num("x") + num("width"),
                num("y") + num("height"),
            );
            for v in 0..g.nodes.len() {
                let b = (l.box_left(v), l.box_top(v), l.box_right(v), l.box_bottom(v));
                assert!(!overlaps(rect, b), "label {rect:?} on box {v}");
            }
        }
    }

    #[test]
    fn the_legend_lists_only_what_is_drawn() {
        let g = graph(FEED);
        let l = laid_out(&g);
        let mut kinds: Vec<EdgeKind> = l.routes.iter().map(|r| r.kind).collect();
        kinds.sort();
        kinds.dedup();
        let texts: Vec<&str> = legend_items(&g, &kinds).iter().map(|i| i.text).collect();
        assert_eq!(
            texts,
            [
                "service",
                "relay",
                "sink to a relay",
                "direct sink to a service",
                "subscription"
            ]
        );
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            xml("a<b>&\"c'\u{7}"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}"
        );
    }
}
