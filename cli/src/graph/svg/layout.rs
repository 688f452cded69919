//! The layout pass: where every box goes, and which points every edge passes.
//!
//! A small Sugiyama-style pipeline, one function per step: break cycles
//! (depth-first, reversing back edges), assign layers by longest path so that
//! producers sit on the left and data flows right through relays to subscribers,
//! put a dummy point in every layer a long edge crosses (so it gets room of its own
//! instead of running through a box), order each layer by barycenters, pull every
//! box towards its neighbours without letting boxes overlap, then size the columns.

use super::super::model::{EdgeKind, Graph};
use super::{COLUMN_GAP, DUMMY_GAP, MARGIN, ROW_GAP, TITLE_HEIGHT};

/// A laid-out vertex: a real node or a dummy point of a long edge.
#[derive(Clone, Debug)]
pub(super) struct Vertex {
    pub(super) layer: usize,
    /// Position within its layer.
    pub(super) order: usize,
    /// Vertical center.
    pub(super) y: f64,
    pub(super) height: f64,
    pub(super) width: f64,
    pub(super) dummy: bool,
}

/// A drawn edge: the vertices it passes, from the drawn start to the drawn end.
#[derive(Debug)]
pub(super) struct Route {
    pub(super) kind: EdgeKind,
    pub(super) label: String,
    pub(super) vertices: Vec<usize>,
}

/// Where everything goes: vertices `0..nodes` are the graph's nodes, the rest dummies.
#[derive(Debug)]
pub(super) struct Layout {
    pub(super) vertices: Vec<Vertex>,
    pub(super) routes: Vec<Route>,
    /// Left edge and width of each layer's column.
    pub(super) column_x: Vec<f64>,
    pub(super) column_w: Vec<f64>,
    /// Right edge of the last column.
    pub(super) content_right: f64,
}

impl Layout {
    pub(super) fn center_x(&self, v: usize) -> f64 {
        let l = self.vertices[v].layer;
        self.column_x[l] + self.column_w[l] / 2.0
    }

    pub(super) fn box_left(&self, v: usize) -> f64 {
        self.center_x(v) - self.vertices[v].width / 2.0
    }

    pub(super) fn box_right(&self, v: usize) -> f64 {
        self.center_x(v) + self.vertices[v].width / 2.0
    }

    pub(super) fn box_top(&self, v: usize) -> f64 {
        self.vertices[v].y - self.vertices[v].height / 2.0
    }

    pub(super) fn box_bottom(&self, v: usize) -> f64 {
        self.vertices[v].y + self.vertices[v].height / 2.0
    }
}

/// Lays out the graph's nodes, each `(width, height)` as given in `sizes`.
pub(super) fn layout(g: &Graph, sizes: &[(f64, f64)]) -> Layout {
    let mut vertices: Vec<Vertex> = sizes
        .iter()
        .map(|&(width, height)| Vertex {
            layer: 0,
            order: 0,
            y: 0.0,
            height,
            width,
            dummy: false,
        })
        .collect();
    let (reversed, discovery) = break_cycles(g);
    let layer = assign_layers(g, &reversed, &discovery);
    for (v, l) in layer.iter().enumerate() {
        vertices[v].layer = *l;
    }
    let layers = layer.iter().copied().max().unwrap_or(0) + 1;
    let routes = add_dummies(g, &reversed, &mut vertices);
    let (left, right) = neighbours(&routes, &vertices);
    let by_layer = order_layers(&discovery, layers, &left, &right, &mut vertices);
    place_rows(&by_layer, &left, &right, &mut vertices);
    let (column_x, column_w, content_right) = columns(&by_layer, &vertices);
    Layout {
        vertices,
        routes,
        column_x,
        column_w,
        content_right,
    }
}

/// Step 1: an edge to a vertex on the depth-first stack is reversed. Returns which
/// edges are, and the vertices in discovery order (roots first: vertices nothing
/// points at, so the search follows the flow).
fn break_cycles(g: &Graph) -> (Vec<bool>, Vec<usize>) {
    let n = g.nodes.len();
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, e) in g.edges.iter().enumerate() {
        out_edges[e.from].push(i);
    }
    let mut reversed = vec![false; g.edges.len()];
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut discovery = Vec::with_capacity(n);
    let roots: Vec<usize> = {
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
    (reversed, discovery)
}

/// An edge as the acyclic graph sees it.
fn dag_edge(g: &Graph, reversed: &[bool], i: usize) -> (usize, usize) {
    let e = &g.edges[i];
    if reversed[i] {
        (e.to, e.from)
    } else {
        (e.from, e.to)
    }
}

/// Step 2: longest-path layers, in an order that respects every acyclic edge.
fn assign_layers(g: &Graph, reversed: &[bool], discovery: &[usize]) -> Vec<usize> {
    let n = g.nodes.len();
    let mut indegree = vec![0usize; n];
    let mut dag_out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..g.edges.len() {
        let (a, b) = dag_edge(g, reversed, i);
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
    layer
}

/// Step 3: one route per edge, with a dummy vertex in every layer it crosses.
fn add_dummies(g: &Graph, reversed: &[bool], vertices: &mut Vec<Vertex>) -> Vec<Route> {
    let mut routes = Vec::new();
    for (i, e) in g.edges.iter().enumerate() {
        let (a, b) = dag_edge(g, reversed, i);
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
    routes
}

type Adjacency = Vec<Vec<usize>>;

/// Each vertex's neighbours in the layer to its left and to its right.
fn neighbours(routes: &[Route], vertices: &[Vertex]) -> (Adjacency, Adjacency) {
    let mut left: Adjacency = vec![Vec::new(); vertices.len()];
    let mut right: Adjacency = vec![Vec::new(); vertices.len()];
    for r in routes {
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
    (left, right)
}

/// Step 4: order within layers: discovery order, then barycenter sweeps.
fn order_layers(
    discovery: &[usize],
    layers: usize,
    left: &Adjacency,
    right: &Adjacency,
    vertices: &mut [Vertex],
) -> Vec<Vec<usize>> {
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
    for l in &by_layer {
        for (i, &v) in l.iter().enumerate() {
            vertices[v].order = i;
        }
    }
    for sweep in 0..8 {
        let downward = sweep % 2 == 0;
        let range: Vec<usize> = if downward {
            (1..layers).collect()
        } else {
            (0..layers.saturating_sub(1)).rev().collect()
        };
        for l in range {
            let neighbours = if downward { left } else { right };
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
    by_layer
}

/// Vertical room between two neighbours of a layer.
fn gap(a: &Vertex, b: &Vertex) -> f64 {
    if a.dummy || b.dummy {
        DUMMY_GAP
    } else {
        ROW_GAP
    }
}

/// Step 5: vertical positions: stack each layer, centred, then pull every vertex
/// towards its neighbours; finally shift everything below the title.
fn place_rows(
    by_layer: &[Vec<usize>],
    left: &Adjacency,
    right: &Adjacency,
    vertices: &mut [Vertex],
) {
    let column_height = |l: &Vec<usize>, vertices: &[Vertex]| {
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
        .map(|l| column_height(l, vertices))
        .fold(0.0, f64::max);
    for l in by_layer {
        let mut y = (tallest - column_height(l, vertices)) / 2.0;
        for (i, &v) in l.iter().enumerate() {
            if i > 0 {
                y += gap(&vertices[l[i - 1]], &vertices[v]);
            }
            vertices[v].y = y + vertices[v].height / 2.0;
            y += vertices[v].height;
        }
    }
    let layers = by_layer.len();
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
            place(&by_layer[l], &want, vertices);
        }
    }
    let top = vertices
        .iter()
        .map(|v| v.y - v.height / 2.0)
        .fold(f64::INFINITY, f64::min);
    let shift = MARGIN + TITLE_HEIGHT - if top.is_finite() { top } else { 0.0 };
    for v in vertices {
        v.y += shift;
    }
}

/// Places the vertices of one layer as close to `want` as their order and
/// spacing allow: a forward pass pushes down, a backward pass pulls up.
fn place(layer: &[usize], want: &[f64], vertices: &mut [Vertex]) {
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

/// Step 6: each layer's column, as wide as its widest box, left to right.
fn columns(by_layer: &[Vec<usize>], vertices: &[Vertex]) -> (Vec<f64>, Vec<f64>, f64) {
    let mut column_x = Vec::with_capacity(by_layer.len());
    let mut column_w = Vec::with_capacity(by_layer.len());
    let mut x = MARGIN;
    for l in by_layer {
        let w = l
            .iter()
            .map(|&v| vertices[v].width)
            .fold(0.0, f64::max)
            .max(40.0);
        column_x.push(x);
        column_w.push(w);
        x += w + COLUMN_GAP;
    }
    (column_x, column_w, x - COLUMN_GAP)
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::Path;

    use super::super::super::model::Graph;
    use super::*;

    /// The graph of a `services.toml` text.
    pub(in super::super) fn graph(text: &str) -> Graph {
        let loaded = sinkgen::load_str(Path::new("services.toml"), text).expect("a valid file");
        Graph::from_topology(&loaded.topology)
    }

    /// Every box the same size, so that tests see the layout alone.
    pub(in super::super) fn laid_out(g: &Graph) -> Layout {
        layout(g, &vec![(120.0, 60.0); g.nodes.len()])
    }

    const CYCLE: &str = r#"
[services.a]
listen = "unix:///tmp/a.sock"
sinks = ["b"]
[services.b]
listen = "unix:///tmp/b.sock"
sinks = ["c"]
[services.c]
listen = "unix:///tmp/c.sock"
sinks = ["a"]
"#;

    /// A feed sending to a relay and directly to a strategy that reads the relay.
    pub(in super::super) const FEED: &str = r#"
[relays.md]
endpoint = "unix:///tmp/md.sock"
[services.feed]
sinks = ["md", "strategy"]
[services.strategy]
listen = "unix:///tmp/strategy.sock"
subscribes = ["md"]
"#;

    /// A feed sending to three relays.
    pub(in super::super) const THREE_RELAYS: &str = r#"
[relays.r1]
endpoint = "unix:///tmp/r1.sock"
[relays.r2]
endpoint = "unix:///tmp/r2.sock"
[relays.r3]
endpoint = "unix:///tmp/r3.sock"
[services.feed]
sinks = ["r1", "r2", "r3"]
"#;

    #[test]
    fn a_cycle_is_broken_by_reversing_one_edge() {
        let g = graph(CYCLE);
        let (reversed, discovery) = break_cycles(&g);
        assert_eq!(reversed.iter().filter(|&&r| r).count(), 1);
        assert_eq!(discovery.len(), g.nodes.len());
        let layer = assign_layers(&g, &reversed, &discovery);
        for i in 0..g.edges.len() {
            let (a, b) = dag_edge(&g, &reversed, i);
            assert!(
                layer[a] < layer[b],
                "edge {i}: layer {} -> {}",
                layer[a],
                layer[b]
            );
        }
    }

    #[test]
    fn layers_follow_the_flow_and_a_long_edge_gets_a_dummy() {
        let g = graph(FEED);
        let l = laid_out(&g);
        let node = |title: &str| g.nodes.iter().position(|n| n.title == title).unwrap();
        let layer = |title: &str| l.vertices[node(title)].layer;
        assert_eq!((layer("feed"), layer("md"), layer("strategy")), (0, 1, 2));
        // feed -> strategy crosses the relay's layer: one dummy point there.
        let direct = l
            .routes
            .iter()
            .find(|r| r.kind == EdgeKind::Direct)
            .unwrap();
        assert_eq!(direct.vertices.len(), 3);
        let dummy = &l.vertices[direct.vertices[1]];
        assert!(dummy.dummy);
        assert_eq!(dummy.layer, 1);
    }

    #[test]
    fn boxes_in_a_column_do_not_overlap_and_columns_go_left_to_right() {
        let g = graph(
            r#"
[relays.r1]
endpoint = "unix:///tmp/r1.sock"
[relays.r2]
endpoint = "unix:///tmp/r2.sock"
[relays.r3]
endpoint = "unix:///tmp/r3.sock"
[services.feed]
sinks = ["r1", "r2", "r3"]
[services.reader]
subscribes = ["r1", "r2", "r3"]
"#,
        );
        let l = laid_out(&g);
        for a in 0..g.nodes.len() {
            assert!(
                l.box_top(a) >= MARGIN + TITLE_HEIGHT - 1e-9,
                "below the title"
            );
            for b in 0..g.nodes.len() {
                if a != b && l.vertices[a].layer == l.vertices[b].layer {
                    let apart = l.box_bottom(a) + ROW_GAP <= l.box_top(b) + 1e-9
                        || l.box_bottom(b) + ROW_GAP <= l.box_top(a) + 1e-9;
                    assert!(apart, "boxes {a} and {b} overlap");
                }
            }
        }
        for w in l.column_x.windows(2) {
            assert!(w[0] + 40.0 + COLUMN_GAP <= w[1] + 1e-9);
        }
        let last = l.column_x.len() - 1;
        assert_eq!(l.content_right, l.column_x[last] + l.column_w[last]);
    }
}
