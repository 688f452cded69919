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
//! use sinkgen::model::{Codec, Endpoint, Framing, Policy, Relay, Service, Sink, SinkTarget, Topology};
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
//!         codec: Codec::Raw,
//!         backlog: 65_536,
//!         socket_mode: 0o600,
//!         durable: None,
//!         credentials: None,
//!         tls: None,
//!         line: 1,
//!     }],
//!     services: vec![Service {
//!         name: "feed".into(),
//!         source: Some(1),
//!         listen: None,
//!         message: None,
//!         codec: Codec::Raw,
//!         framing: Framing::LengthPrefixed,
//!         subscribes: vec![],
//!         sinks: vec![Sink {
//!             name: "ticks".into(),
//!             target: SinkTarget::Relay("ticks".into()),
//!             policy: Policy::default(),
//!             line: 8,
//!         }],
//!         tls: None,
//!         line: 6,
//!     }],
//! };
//! let mermaid = render(&topology, Format::Mermaid);
//! assert!(mermaid.contains("service_feed -->|ticks| relay_ticks"));
//! assert!(render(&topology, Format::Svg).starts_with("<svg"));
//! ```

use sinkgen::model::Topology;

mod dot;
mod mermaid;
mod model;
mod svg;

use model::Graph;

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
        Format::Mermaid => mermaid::render(&graph),
        Format::Dot => dot::render(&graph),
        Format::Svg => svg::render(&graph),
    }
}

#[cfg(test)]
mod tests;
