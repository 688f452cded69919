//! The edge routing pass: where each edge leaves and enters its boxes, and the
//! curve it follows through its dummy points.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::layout::{Layout, Route};

/// A point of the picture.
pub(super) type Point = (f64, f64);

/// A cubic Bézier segment: start, two control points, end.
pub(super) type Segment = [Point; 4];

/// An edge's curve: the SVG path data and its segments (for placing labels).
#[derive(Debug)]
pub(super) struct Curve {
    pub(super) d: String,
    pub(super) segments: Vec<Segment>,
}

/// The curve of every route of the layout, in route order.
pub(super) fn curves(layout: &Layout) -> Vec<Curve> {
    let (start_y, end_y) = ports(layout);
    layout
        .routes
        .iter()
        .enumerate()
        .map(|(ri, r)| curve(&points(layout, r, start_y[ri], end_y[ri])))
        .collect()
}

/// Where each route leaves its first box and enters its last: spread over the box's
/// side in the order of the other ends, so that routes do not cross at a box.
/// Returns the start and end heights, by route.
fn ports(layout: &Layout) -> (Vec<f64>, Vec<f64>) {
    let vertices = &layout.vertices;
    // (vertex, on its right side) -> (y of the other end, route, is the route's start)
    type Ends = BTreeMap<(usize, bool), Vec<(f64, usize, bool)>>;
    let mut ends = Ends::new();
    for (ri, r) in layout.routes.iter().enumerate() {
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
    let mut start_y = vec![0.0; layout.routes.len()];
    let mut end_y = vec![0.0; layout.routes.len()];
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
    (start_y, end_y)
}

/// The points a route passes: its start port, both sides of each dummy's column,
/// its end port (2 units off the box, for the arrow head).
fn points(layout: &Layout, r: &Route, start_y: f64, end_y: f64) -> Vec<Point> {
    let vertices = &layout.vertices;
    let mut points = Vec::new();
    let count = r.vertices.len();
    for (k, &v) in r.vertices.iter().enumerate() {
        let vx = &vertices[v];
        if vx.dummy {
            let l = vx.layer;
            let (a, b) = (layout.column_x[l], layout.column_x[l] + layout.column_w[l]);
            let going_right = vertices[r.vertices[count - 1]].layer > vertices[r.vertices[0]].layer;
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
                layout.box_right(v)
            } else {
                layout.box_left(v)
            };
            points.push((x, start_y));
        } else {
            let prev = r.vertices[k - 1];
            let x = if vertices[prev].layer > vx.layer {
                layout.box_right(v) + 2.0
            } else {
                layout.box_left(v) - 2.0
            };
            points.push((x, end_y));
        }
    }
    points
}

/// A smooth path through the points: straight where two points are level, an S-curve
/// with horizontal tangents where they are not.
fn curve(points: &[Point]) -> Curve {
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
    Curve { d, segments }
}

/// The point at `t` (0 to 1) along a segment.
pub(super) fn bezier(s: Segment, t: f64) -> Point {
    let u = 1.0 - t;
    let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    (
        a * s[0].0 + b * s[1].0 + c * s[2].0 + d * s[3].0,
        a * s[0].1 + b * s[1].1 + c * s[2].1 + d * s[3].1,
    )
}

#[cfg(test)]
mod tests {
    use super::super::layout::tests::{FEED, THREE_RELAYS, graph, laid_out};
    use super::*;

    #[test]
    fn ports_spread_over_a_side_in_the_order_of_the_other_ends() {
        let g = graph(THREE_RELAYS);
        let l = laid_out(&g);
        let (start_y, end_y) = ports(&l);
        let feed = g.nodes.iter().position(|n| n.title == "feed").unwrap();
        let mut by_target: Vec<(f64, f64)> = l
            .routes
            .iter()
            .enumerate()
            .map(|(ri, r)| (l.vertices[*r.vertices.last().unwrap()].y, start_y[ri]))
            .collect();
        by_target.sort_by(|a, b| a.0.total_cmp(&b.0));
        for w in by_target.windows(2) {
            assert!(
                w[0].1 < w[1].1,
                "ports in the order of their targets: {by_target:?}"
            );
        }
        for &(_, y) in &by_target {
            assert!(l.box_top(feed) < y && y < l.box_bottom(feed));
        }
        // One route per target box: each enters at the middle of its side.
        for (ri, r) in l.routes.iter().enumerate() {
            let to = *r.vertices.last().unwrap();
            assert!((end_y[ri] - l.vertices[to].y).abs() < 1e-9);
        }
    }

    #[test]
    fn a_route_leaves_a_box_side_and_stops_short_of_the_next_box() {
        let g = graph(FEED);
        let l = laid_out(&g);
        let (start_y, end_y) = ports(&l);
        for (ri, r) in l.routes.iter().enumerate() {
            let p = points(&l, r, start_y[ri], end_y[ri]);
            let (from, to) = (r.vertices[0], *r.vertices.last().unwrap());
            assert_eq!(p[0], (l.box_right(from), start_y[ri]));
            assert_eq!(*p.last().unwrap(), (l.box_left(to) - 2.0, end_y[ri]));
            // Two points per dummy: it crosses the dummy's column level.
            assert_eq!(p.len(), 2 + 2 * (r.vertices.len() - 2));
        }
    }

    #[test]
    fn curves_are_straight_when_level_and_s_shaped_otherwise() {
        let straight = curve(&[(0.0, 10.0), (30.0, 10.0)]);
        assert_eq!(straight.d, "M0.0,10.0 L30.0,10.0");
        let s = curve(&[(0.0, 0.0), (40.0, 20.0)]);
        assert_eq!(s.d, "M0.0,0.0 C20.0,0.0 20.0,20.0 40.0,20.0");
        for seg in straight.segments.iter().chain(&s.segments) {
            assert_eq!(bezier(*seg, 0.0), seg[0]);
            assert_eq!(bezier(*seg, 1.0), seg[3]);
        }
        assert_eq!(bezier(s.segments[0], 0.5), (20.0, 10.0));
    }
}
