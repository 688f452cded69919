//! sinkgen: compile-time checked, lazily connecting message sinks generated from
//! `services.toml`.
//!
//! # Two front ends, the same code
//!
//! A service crate gets its typed sinks one of two ways; both read the same file, run
//! the same checks, print the same diagnostics and generate the same code.
//!
//! In a build script, with `sinkgen` as a build-dependency and `sinkgen-runtime` as a
//! dependency:
//!
//! ```no_run
//! // build.rs's `main`: generates $OUT_DIR/sinks.rs for the service named after the
//! // crate, or fails the build with every diagnostic of the file
//! sinkgen::build();
//! ```
//!
//! ```text
//! // src/main.rs
//! sinkgen_runtime::include_sinks!();
//!
//! async fn publish(event: protocol::MarketEvent) {
//!     Sinks::market_data().send(event).await.expect("sent or returned");
//! }
//! ```
//!
//! Or with the derive, re-exported by `sinkgen-runtime` (no build script):
//!
//! ```text
//! #[derive(sinkgen_runtime::Sinks)]
//! #[sinks(config = "../services.toml", service = "polygon_adapter")]
//! pub struct Sinks;
//! ```
//!
//! (Those two need a build script's `OUT_DIR` or the runtime, so they are shown, not
//! run here; the repository's tests compile both.) [`Builder`] sets the file, the
//! service and the output path; the derive takes `config` and `service`. A mistake in
//! the file fails the build with every diagnostic at once, rustc-style.
//!
//! # The file
//!
//! A `services.toml` declares relays (broker processes, one per message domain) and
//! services (processes that send through named sinks):
//!
//! ```toml
//! [relays.market_data]
//! endpoint = "unix:///tmp/torq/market_data.sock"
//! framing = "torq"
//! domain = 1
//! message = "protocol::MarketEvent"
//!
//! [services.polygon_adapter]
//! source = 7
//! sinks = ["market_data"]
//!
//! [services.flash_arbitrage]
//! subscribes = ["market_data"]
//! ```
//!
//! # Loading and checking it
//!
//! [`load`] reads, parses and checks the whole file and returns the validated
//! [`model::Topology`], or every problem at once as [`Diagnostics`] rendered the way
//! rustc renders errors:
//!
//! ```
//! use std::path::Path;
//!
//! let text = r#"
//! [relays.market_data]
//! endpoint = "unix:///tmp/sinkgen-doc/market_data.sock"
//!
//! [services.feed]
//! sinks = ["market_dta"]
//! "#;
//! let err = sinkgen::load_str(Path::new("services.toml"), text).unwrap_err();
//! assert!(err.render().contains("help: did you mean `market_data`?"));
//! ```
//!
//! [`find_config`] locates the file the way the build script and the derive do:
//! an explicit path, then `SINKGEN_CONFIG`, then the first `services.toml` walking
//! up from the crate to the workspace root.
//!
//! # What is checked
//!
//! Everything that can be known without running the program, all in one run:
//!
//! - TOML syntax; unknown keys at any level (with did-you-mean); value types;
//!   durations (an integer and `ns`, `us`, `ms`, `s` or `m`);
//! - names of relays, services and sinks: lowercase snake_case identifiers, no
//!   keywords, no look-alike letters, no two names that become one identifier;
//! - every reference: sinks to relays and services, composite members to sibling
//!   sinks, `subscribes` to relays, shorthand names that are both a relay and a
//!   service;
//! - exactly one target per sink; composites that are empty, list a member twice,
//!   contain themselves or form a cycle, or mix message types;
//! - direct sinks to services without `listen`, or to the sending service itself;
//! - endpoints (`unix://` absolute paths that fit a socket address, `tcp://host:port`
//!   with IPv6 in brackets, `nats://host:port/subject` without wildcards,
//!   `ws://host:port/path` and `wss://` without query or credentials, not on a relay
//!   and not with sinkgen framing), and endpoints used twice;
//! - torq framing: a `domain` per relay and a `source` per sending service, each
//!   unique and one byte;
//! - `message` types that are plain Rust type paths;
//! - policy values: no zero queue, timeout or backoff, `backoff.initial` at most
//!   `backoff.max`.
//!
//! A valid file may still get warnings (a relay nobody sends to or reads, a listening
//! service nobody reaches); they are reported once the errors are fixed and never
//! fail a load.
//!
//! # Diagnostics
//!
//! Every problem names the file, line and column, shows the line with a caret under
//! the value, and says how to fix it:
//!
//! ```text
//! error: sink `orders` of service `strategy` names unknown service `executon`
//!  --> services.toml:6:22
//!   |
//! 6 | orders = { service = "executon" }
//!   |                      ^^^^^^^^^^ no service of this name
//!   |
//!   = help: did you mean `execution`?
//! ```

mod diagnostic;
pub mod model;
mod parse;
mod read;
mod source;
mod text;
mod validate;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};

/// A valid topology and the warnings found while checking it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated topology.
    pub topology: model::Topology,
    /// Warnings (check 12: unused relays, unreachable services); never errors.
    pub warnings: Diagnostics,
}

impl Loaded {
    /// The service named `name`, or an error listing the services that exist.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    ///
    /// let text = "[services.execution]\n[services.feed]\n";
    /// let loaded = sinkgen::load_str(Path::new("services.toml"), text).unwrap();
    /// assert_eq!(loaded.service("feed").unwrap().name, "feed");
    /// let err = loaded.service("exection").unwrap_err();
    /// assert!(err.render().contains("did you mean `execution`?"));
    /// ```
    ///
    /// # Errors
    ///
    /// Returns [`Diagnostics`] with one error when no service has this name.
    pub fn service(&self, name: &str) -> Result<&model::Service, Diagnostics> {
        if let Some(service) = self.topology.service(name) {
            return Ok(service);
        }
        let names: Vec<&str> = self
            .topology
            .services
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let shown = text::printable(name);
        let help = match text::did_you_mean(name, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if names.is_empty() => {
                format!("add `[services.{shown}]` to the file; it declares no services")
            }
            None => format!(
                "the services are {}; add `[services.{shown}]` or select one of them",
                text::list_of(&names)
            ),
        };
        let mut diagnostics = Diagnostics::from_source(self.warnings.source().clone());
        diagnostics.push(
            Diagnostic::error(format!(
                "service `{shown}` is not declared in `{}`",
                self.topology.path.display()
            ))
            .with_help(help),
        );
        Err(diagnostics)
    }
}

/// Reads, parses and checks the `services.toml` at `path`.
///
/// # Examples
///
/// ```
/// let dir = std::env::temp_dir().join(format!("sinkgen-doc-load-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("services.toml");
/// std::fs::write(&path, "[relays.ticks]\nendpoint = \"tcp://127.0.0.1:7000\"\n").unwrap();
///
/// let loaded = sinkgen::load(&path).unwrap();
/// assert_eq!(loaded.topology.relays[0].name, "ticks");
/// // Nobody sends to or reads `ticks`: a warning, not an error.
/// assert_eq!(loaded.warnings.len(), 1);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// # Errors
///
/// Returns every problem of the file as [`Diagnostics`]: the file cannot be read, is
/// not a regular file, is larger than [`MAX_CONFIG_BYTES`] or is not UTF-8 (see
/// [`read_config`]), is not valid TOML, or fails any check. Warnings found alongside
/// errors are included.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    let text = read_config(path, path)?;
    load_str(path, &text)
}

/// Parses and checks `text` as a `services.toml`; `path` is only used in messages and
/// recorded in the topology.
///
/// # Examples
///
/// ```
/// use std::path::Path;
///
/// let text = r#"
/// [relays.signals]
/// endpoint = "unix:///tmp/sinkgen-doc/signals.sock"
///
/// [services.strategy]
/// sinks = ["signals"]
///
/// [services.risk]
/// subscribes = ["signals"]
/// "#;
/// let loaded = sinkgen::load_str(Path::new("services.toml"), text).unwrap();
/// assert!(loaded.warnings.is_empty());
/// assert_eq!(loaded.topology.services.len(), 2);
///
/// let err = sinkgen::load_str(Path::new("services.toml"), "[relays.x]\nendpoint = 7\n")
///     .unwrap_err();
/// assert_eq!(err.error_count(), 1);
/// ```
///
/// # Errors
///
/// Returns every problem of the file as [`Diagnostics`]: TOML syntax errors (then
/// nothing else is checked), or all schema and topology errors together, along with
/// any warnings.
pub fn load_str(path: &Path, text: &str) -> Result<Loaded, Diagnostics> {
    let source = Arc::new(source::Source::new(path, text));
    let mut ctx = diagnostic::Ctx::default();
    let topology = match parse::parse_toml(&mut ctx, text) {
        Some(doc) => {
            let raw = parse::shape(&mut ctx, doc.get_ref());
            validate::validate(&mut ctx, raw, &source)
        }
        None => None,
    };
    let mut items = ctx.into_diagnostics();
    items.sort_by_key(|d| d.span.as_ref().map_or(0, |s| s.start));
    // Error recovery in the TOML parser can report one problem many times at one place.
    items.dedup_by(|a, b| a.span == b.span && a.message == b.message);
    let mut diagnostics = Diagnostics::from_source(source);
    diagnostics.extend(items);
    match topology {
        Some(topology) if !diagnostics.has_errors() => Ok(Loaded {
            topology,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

/// Finds the `services.toml` to use (SPEC section 3), in order:
///
/// 1. `explicit` (the builder's `.config()` or the derive's `config =`), relative to
///    `manifest_dir`;
/// 2. `env`, the value of `SINKGEN_CONFIG`, relative to `manifest_dir`;
/// 3. the first `services.toml` walking up from `manifest_dir` to the workspace root
///    (the nearest directory whose `Cargo.toml` has a `[workspace]` table; the crate
///    itself when there is none).
///
/// The caller passes the environment value so that it can also tell cargo to rerun
/// when it changes.
///
/// # Examples
///
/// ```
/// use std::path::Path;
///
/// let root = std::env::temp_dir().join(format!("sinkgen-doc-find-{}", std::process::id()));
/// let krate = root.join("crates/feed");
/// std::fs::create_dir_all(&krate).unwrap();
/// std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = [\"crates/*\"]\n").unwrap();
/// std::fs::write(root.join("services.toml"), "").unwrap();
///
/// let found = sinkgen::find_config(None, &krate, None).unwrap();
/// assert_eq!(found, root.join("services.toml"));
///
/// let err = sinkgen::find_config(Some(Path::new("nope.toml")), &krate, None).unwrap_err();
/// assert!(err.render().contains("nope.toml"));
/// # std::fs::remove_dir_all(&root).unwrap();
/// ```
///
/// # Errors
///
/// Returns [`Diagnostics`] with one error, naming every place looked at, when the
/// explicit path or `SINKGEN_CONFIG` names no file, or no `services.toml` is found.
pub fn find_config(
    explicit: Option<&Path>,
    manifest_dir: &Path,
    env: Option<OsString>,
) -> Result<PathBuf, Diagnostics> {
    if let Some(explicit) = explicit {
        let path = manifest_dir.join(explicit);
        // Whatever is there is read (or refused) by `read_config`, with its own message.
        return if path.exists() {
            Ok(path)
        } else {
            Err(not_found(
                &format!("config file `{}` not found", explicit.display()),
                &[(path, "the explicit `config` path, relative to the crate")],
                "fix the path; a relative path is resolved from the crate's directory (CARGO_MANIFEST_DIR)",
            ))
        };
    }
    if let Some(env) = env.filter(|e| !e.is_empty()) {
        let path = manifest_dir.join(PathBuf::from(env));
        return if path.exists() {
            Ok(path)
        } else {
            Err(not_found(
                &format!("`SINKGEN_CONFIG` names a missing file `{}`", path.display()),
                &[(path, "SINKGEN_CONFIG, relative to the crate")],
                "fix `SINKGEN_CONFIG` or unset it to search the workspace",
            ))
        };
    }
    let root = workspace_root(manifest_dir);
    let mut looked = Vec::new();
    for dir in manifest_dir.ancestors() {
        let candidate = dir.join("services.toml");
        if candidate.is_file() {
            return Ok(candidate);
        }
        looked.push((candidate, "walking up to the workspace root"));
        if root.as_deref() == Some(dir) || root.is_none() {
            break;
        }
    }
    Err(not_found(
        "no `services.toml` found",
        &looked,
        "create `services.toml` at the workspace root, pass an explicit path, or set `SINKGEN_CONFIG`",
    ))
}

/// The nearest directory at or above `dir` whose `Cargo.toml` has a `[workspace]` table.
fn workspace_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| {
            std::fs::read_to_string(d.join("Cargo.toml")).is_ok_and(|text| {
                toml::de::DeTable::parse(&text).is_ok_and(|t| t.get_ref().contains_key("workspace"))
            })
        })
        .map(Path::to_path_buf)
}

fn not_found(message: &str, looked: &[(PathBuf, &str)], fix: &str) -> Diagnostics {
    let mut places = String::from("looked at:");
    for (path, why) in looked {
        places.push_str(&format!("\n- {} ({why})", path.display()));
    }
    let mut d = Diagnostics::new(Path::new(""), "");
    d.push(Diagnostic::error(message).with_note(places).with_help(fix));
    d
}

mod build;
mod derive;
pub mod lower;
mod lower_receivers;
mod lower_values;

pub use build::{BuildError, Builder, build};
pub use derive::expand_derive;
pub use read::{MAX_CONFIG_BYTES, read_config};
