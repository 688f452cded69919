//! The library behind the `sinkgen` command.
//!
//! The `sinkgen` binary has four subcommands:
//!
//! - `sinkgen check [FILE]` validates a `services.toml` exactly as the build
//!   script and the derive do, and prints every error and warning rustc-style.
//!   Exit code 0 when the file is clean (warnings allowed), 1 when it has errors,
//!   2 when the file cannot be found or read or the command line is wrong.
//!   `--message-format json` prints the same diagnostics as JSON lines instead
//!   (see [`json`]).
//! - `sinkgen graph [FILE] --format mermaid|dot|svg` draws the topology: relays,
//!   services, outside endpoints, one edge per sink styled by kind, composite
//!   sinks and subscriptions. The SVG is laid out by [`graph`] itself, so no
//!   Graphviz or browser is needed.
//! - `sinkgen schema` prints the JSON Schema (draft 2020-12) of `services.toml`
//!   from [`schema`]; the repository keeps a copy as `services.schema.json` for
//!   editors (`#:schema ./services.schema.json` at the top of the file).
//! - `sinkgen relay [FILE]` serves every `unix://` and `tcp://` relay of the file
//!   until SIGTERM or Ctrl-C (the `sinkgen-relay` crate), with a status line every
//!   `--status-interval` seconds and a drain of at most `--drain-timeout` seconds.
//!
//! Without `FILE`, `check`, `graph` and `relay` look for `services.toml` the way the
//! build does: `$SINKGEN_CONFIG`, then the first `services.toml` walking up
//! from the current directory to the workspace root.
//!
//! # Examples
//!
//! ```sh
//! cargo install --path cli
//! sinkgen check                                   # finds ./services.toml
//! sinkgen graph examples/services.toml --format svg > topology.svg
//! sinkgen schema > services.schema.json
//! ```
//!
//! The same pieces as a library:
//!
//! ```
//! let schema = sinkgen_cli::schema::to_pretty_string();
//! assert!(schema.contains("\"connect_timeout\""));
//! ```

pub mod graph;
pub mod json;
pub mod schema;
