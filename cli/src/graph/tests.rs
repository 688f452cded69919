//! The graph in every format: escaping, edge kinds, cycles, large topologies.

use super::*;
use sinkgen::model::{Codec, Endpoint, Framing, SinkTarget};
use sinkgen::model::{Policy, Relay, Service, Sink};

fn relay(name: &str, domain: Option<u8>, message: Option<&str>) -> Relay {
    Relay {
        name: name.into(),
        endpoint: Endpoint::Unix(format!("/tmp/{name}.sock").into()),
        framing: domain.map_or(Framing::LengthPrefixed, |domain| Framing::Torq { domain }),
        message: message.map(Into::into),
        codec: Codec::Raw,
        backlog: sinkgen_config::policy::BACKLOG,
        socket_mode: sinkgen_config::policy::SOCKET_MODE,
        durable: None,
        credentials: None,
        tls: None,
        line: 1,
    }
}

fn service(name: &str, subscribes: &[&str], sinks: Vec<(&str, SinkTarget)>) -> Service {
    Service {
        name: name.into(),
        source: None,
        listen: Some(Endpoint::Unix(format!("/tmp/{name}.sock").into())),
        message: None,
        codec: Codec::Raw,
        framing: Framing::LengthPrefixed,
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
        tls: None,
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
