//! The build-script front end: [`build`] and [`Builder`].
//!
//! ```no_run
//! // build.rs: `fn main() { sinkgen::build(); }`
//! sinkgen::build();
//! ```
//!
//! ```text
//! // src/main.rs or src/lib.rs (needs the OUT_DIR of a build script, so not a doctest)
//! sinkgen_runtime::include_sinks!();
//! ```
//!
//! [`Builder::compile`] prints `cargo:rerun-if-changed=<file>` for the configuration file
//! it read and `cargo:rerun-if-env-changed=SINKGEN_CONFIG`. Once a build script prints
//! any `rerun-if-changed` line, cargo reruns it only when a listed input changes (not on
//! every change of the package): a build script that reads other inputs must print
//! their lines too.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use proc_macro2::{Ident, Span};

use crate::diagnostic::Diagnostics;

/// The environment variable that names the configuration file (SPEC: finding the file).
pub(crate) const CONFIG_ENV: &str = "SINKGEN_CONFIG";

/// Generates `$OUT_DIR/sinks.rs` for this crate's service with every default; on errors,
/// prints every diagnostic and exits the build script with a failure status.
///
/// The same as `Builder::new().compile()`, with errors reported instead of returned:
/// the configuration file is found as `SINKGEN_CONFIG` or the first `services.toml`
/// walking up from the crate, and the service is the crate's name with `-` as `_`.
/// Warnings are printed as `cargo:warning` lines.
///
/// Exits the process (status 1) instead of panicking, so that the build output shows
/// the diagnostics and no panic message or backtrace.
pub fn build() {
    if let Err(error) = Builder::new().compile() {
        eprintln!("{error}");
        std::process::exit(1);
    }
}

/// Settings for generating one service's sinks from a build script.
///
/// # Examples
///
/// ```no_run
/// // in build.rs's `main`
/// if let Err(e) = sinkgen::Builder::new()
///     .config("../services.toml")
///     .service("flash_arbitrage")
///     .compile()
/// {
///     eprintln!("{e}");
///     std::process::exit(1);
/// }
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Builder {
    config: Option<PathBuf>,
    service: Option<String>,
    out_file: Option<PathBuf>,
    without_receivers: bool,
    runtime_path: Option<String>,
}

/// Why [`Builder::compile`] or [`Builder::generate`] failed.
///
/// [`Display`](fmt::Display) renders it for a terminal: every diagnostic rustc-style.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration file was not found, has errors, or lacks the service.
    Config(Diagnostics),
    /// A variable cargo sets for build scripts is missing.
    MissingEnv(&'static str),
    /// [`Builder::runtime_path`] is not a Rust path.
    RuntimePath(String),
    /// Writing the generated file failed.
    Write {
        /// The file being written.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(diagnostics) => {
                write!(f, "{}", relative_paths(diagnostics.render().trim_end()))
            }
            BuildError::MissingEnv(name) => write!(
                f,
                "error: environment variable `{name}` is not set\n  \
                 = help: run from a build script, or set the value on the `sinkgen::Builder`"
            ),
            BuildError::RuntimePath(path) => write!(
                f,
                "error: `runtime_path` is not a Rust path: `{path}`\n  \
                 = help: name the runtime crate by a path, e.g. `::sinkgen_runtime` or \
                 `::my_platform::sinkgen_runtime`"
            ),
            BuildError::Write { path, source } => {
                write!(f, "error: cannot write `{}`: {source}", path.display())
            }
        }
    }
}

/// No `source()`: a build script prints `{error}`, so the message carries every cause
/// (the diagnostics, the I/O error); the variants' fields give them to code.
impl std::error::Error for BuildError {}

impl From<Diagnostics> for BuildError {
    fn from(d: Diagnostics) -> Self {
        BuildError::Config(d)
    }
}

/// What one generation produced.
struct Generated {
    code: String,
    warnings: Diagnostics,
}

impl Builder {
    /// A builder with every default (see [`build`]).
    pub fn new() -> Self {
        Builder::default()
    }

    /// The configuration file, relative to the crate's directory (`CARGO_MANIFEST_DIR`).
    /// Without it, `SINKGEN_CONFIG` or the first `services.toml` walking up is used.
    pub fn config(mut self, path: impl AsRef<Path>) -> Self {
        self.config = Some(path.as_ref().to_path_buf());
        self
    }

    /// The service whose sinks are generated; defaults to `CARGO_PKG_NAME` with `-` as `_`.
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }

    /// Whether the receiving half is generated too (default `true`): for a service
    /// that subscribes or listens, a `Subscriptions` type beside `Sinks` with
    /// `Subscriptions::<relay>() -> Subscription<M>` per relay in `subscribes` and
    /// `Subscriptions::inbox() -> Inbox<M>` for its `listen`, whose message types must
    /// implement `Decode`. `false` generates the sinks only, for a crate that receives
    /// by other means.
    pub fn receivers(mut self, generate: bool) -> Self {
        self.without_receivers = !generate;
        self
    }

    /// The path generated code names the runtime crate by (default
    /// `::sinkgen_runtime`), like prost-build's `prost_path` and serde's `crate = ".."`:
    /// for a crate that depends on the runtime under another name, or reaches it through
    /// a crate that re-exports it (`"::my_platform::sinkgen_runtime"`).
    pub fn runtime_path(mut self, path: impl Into<String>) -> Self {
        self.runtime_path = Some(path.into());
        self
    }

    /// Where [`compile`](Builder::compile) writes; defaults to `$OUT_DIR/sinks.rs`.
    pub fn out_file(mut self, path: impl AsRef<Path>) -> Self {
        self.out_file = Some(path.as_ref().to_path_buf());
        self
    }

    /// Generates the code and writes it to the output file when its content changed,
    /// printing the `cargo:rerun-if-*` lines for the inputs read and each warning as a
    /// `cargo:warning` line. Returns the path written.
    ///
    /// # Errors
    ///
    /// [`BuildError::Config`] with every diagnostic of the file (the rerun lines are
    /// printed first, so that fixing the file reruns the build script);
    /// [`BuildError::MissingEnv`] outside a build script without an explicit setting;
    /// [`BuildError::Write`] when the output cannot be written.
    pub fn compile(self) -> Result<PathBuf, BuildError> {
        let out_file = match &self.out_file {
            Some(path) => path.clone(),
            None => {
                PathBuf::from(std::env::var_os("OUT_DIR").ok_or(BuildError::MissingEnv("OUT_DIR"))?)
                    .join("sinks.rs")
            }
        };
        println!("cargo:rerun-if-env-changed={CONFIG_ENV}");
        let generated = self.run(|config| {
            println!("cargo:rerun-if-changed={}", config.display());
        })?;
        for line in warning_lines(&generated.warnings) {
            println!("cargo:warning={line}");
        }
        write_if_changed(&out_file, &generated.code)?;
        Ok(out_file)
    }

    /// Generates the code and returns it, writing and printing nothing.
    ///
    /// # Errors
    ///
    /// As [`compile`](Builder::compile), without [`BuildError::Write`].
    pub fn generate(self) -> Result<String, BuildError> {
        self.run(|_| {}).map(|g| g.code)
    }

    /// Find, load, lower, render; `found` sees the configuration file before it is read.
    fn run(&self, found: impl FnOnce(&Path)) -> Result<Generated, BuildError> {
        let manifest_dir = match std::env::var_os("CARGO_MANIFEST_DIR") {
            Some(dir) => PathBuf::from(dir),
            None if self.config.is_some() => std::env::current_dir().unwrap_or_default(),
            None => return Err(BuildError::MissingEnv("CARGO_MANIFEST_DIR")),
        };
        let config = crate::find_config(
            self.config.as_deref(),
            &manifest_dir,
            std::env::var_os(CONFIG_ENV),
        )?;
        found(&config);
        let service = match &self.service {
            Some(name) => name.clone(),
            None => default_service(std::env::var_os("CARGO_PKG_NAME"))
                .ok_or(BuildError::MissingEnv("CARGO_PKG_NAME"))?,
        };
        let loaded = load_shown(&config)?;
        loaded.service(&service)?;
        let mut plan = crate::lower::lower(
            &loaded.topology,
            &service,
            Ident::new("Sinks", Span::call_site()),
        )?;
        if self.without_receivers {
            plan.receivers = None;
        }
        if let Some(path) = &self.runtime_path {
            plan.runtime =
                syn::parse_str(path).map_err(|_| BuildError::RuntimePath(path.clone()))?;
        }
        Ok(Generated {
            code: sinkgen_templates::format(&plan),
            warnings: loaded.warnings,
        })
    }
}

/// The service a crate selects by default: its package name with `-` as `_`.
pub(crate) fn default_service(pkg_name: Option<OsString>) -> Option<String> {
    pkg_name.map(|n| n.to_string_lossy().replace('-', "_"))
}

/// Reads and loads `path`, labelling diagnostics with the path as the user sees it.
pub(crate) fn load_shown(path: &Path) -> Result<crate::Loaded, Diagnostics> {
    let shown = shown_path(path);
    let text = crate::read_config(path, &shown)?;
    crate::load_str(&shown, &text)
}

/// A path as rustc would show it: relative to the current directory when under it
/// (cargo runs rustc from the workspace root and build scripts from the crate).
pub(crate) fn shown_path(path: &Path) -> PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
}

/// Rendered diagnostics with the current directory's prefix taken off every path, as
/// rustc shows paths (the places a missing file was looked for are absolute). Lines of
/// the file's text (behind the `|` gutter) are left exactly as written.
pub(crate) fn relative_paths(rendered: &str) -> String {
    let Ok(cwd) = std::env::current_dir() else {
        return rendered.to_owned();
    };
    if cwd.parent().is_none() {
        return rendered.to_owned();
    }
    let prefix = format!("{}{}", cwd.display(), std::path::MAIN_SEPARATOR);
    let mut out = String::with_capacity(rendered.len());
    for (i, line) in rendered.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let gutter = line
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start()
            .starts_with('|');
        if gutter {
            out.push_str(line);
        } else {
            out.push_str(&line.replace(&prefix, ""));
        }
    }
    out
}

/// Warnings as lines for `cargo:warning=` (cargo shows each line as one warning line).
fn warning_lines(warnings: &Diagnostics) -> Vec<String> {
    if warnings.is_empty() {
        return Vec::new();
    }
    relative_paths(&warnings.render())
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Writes `code` to `path` unless the file already holds exactly it, so that an
/// unchanged configuration does not touch the file's mtime (and rebuild its includer).
fn write_if_changed(path: &Path, code: &str) -> Result<(), BuildError> {
    if std::fs::read(path).is_ok_and(|old| old == code.as_bytes()) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| BuildError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, code).map_err(|source| BuildError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::{BuildError, relative_paths};

    /// A build script prints `{error}`: each cause is in the message, none again as a
    /// `source()` (a reporter printing the chain would show it twice).
    #[test]
    fn build_errors_state_their_cause_once() {
        let config = crate::load_str(std::path::Path::new("services.toml"), "[relays")
            .expect_err("a broken file");
        let write = BuildError::Write {
            path: "out/sinks.rs".into(),
            source: std::io::Error::other("disk full"),
        };
        for error in [BuildError::Config(config), write] {
            let message = error.to_string();
            if let Some(source) = error.source() {
                assert!(
                    !message.contains(&source.to_string()),
                    "`{message}` repeats its source"
                );
            }
        }
        let write = BuildError::Write {
            path: "out/sinks.rs".into(),
            source: std::io::Error::other("disk full"),
        };
        assert!(write.to_string().contains("disk full"), "{write}");
    }

    #[test]
    fn paths_lose_the_working_directory_but_file_text_does_not() {
        let cwd = std::env::current_dir().unwrap();
        let abs = cwd.join("ui/x.toml").display().to_string();
        let rendered = format!(
            "error: bad\n --> {abs}:2:3\n  |\n2 | endpoint = \"unix://{abs}\"\n  |   ^\n  = note: {abs}"
        );
        let shown = relative_paths(&rendered);
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[1], " --> ui/x.toml:2:3");
        assert_eq!(lines[3], format!("2 | endpoint = \"unix://{abs}\""));
        assert_eq!(lines[5], "  = note: ui/x.toml");
    }
}
