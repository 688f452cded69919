//! The `sinkgen` command: check a `services.toml`, draw its topology, print the
//! JSON Schema, serve its relays. See the `sinkgen_cli` library docs for details.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use sinkgen_cli::graph::{self, Format};
use sinkgen_cli::{json, schema};

mod relay;

/// Check, draw and describe sinkgen's `services.toml`.
#[derive(Debug, Parser)]
#[command(name = "sinkgen", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a services.toml and print every error and warning.
    ///
    /// Exit status: 0 when the file has no errors (warnings allowed), 1 when it
    /// has errors, 2 when it cannot be found or read.
    Check {
        /// The file to check [default: $SINKGEN_CONFIG, else the first
        /// services.toml from the current directory up to the workspace root]
        file: Option<PathBuf>,
        /// When to color the diagnostics
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
        /// How to print the diagnostics: rustc-style text, or one JSON object per
        /// line (cargo-style) for editors and CI annotations
        #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
        message_format: MessageFormat,
    },
    /// Draw the topology: relays, services, sinks by kind, subscriptions.
    Graph {
        /// The file to draw [default: found like `check` does]
        file: Option<PathBuf>,
        /// Output format
        #[arg(long, short, value_enum, default_value_t = Format::Mermaid)]
        format: Format,
        /// Write to this file instead of standard output
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Serve every unix:// and tcp:// relay of a services.toml until SIGTERM or Ctrl-C.
    ///
    /// Refuses to start on a file with errors. Exit status: 0 after the drain, 1
    /// when the file has errors or an endpoint cannot be served, 2 when the file
    /// cannot be found or read.
    Relay {
        /// The file to serve [default: found like `check` does]
        file: Option<PathBuf>,
        /// Seconds between status lines (0: none)
        #[arg(long, default_value_t = 5, value_name = "SECS")]
        status_interval: u64,
        /// Seconds a shutdown waits for subscribers to receive what is queued for them
        #[arg(long, default_value_t = 5, value_name = "SECS")]
        drain_timeout: u64,
        /// Frames held per subscriber, for every relay [default: the file's]
        #[arg(long, value_name = "FRAMES", value_parser = clap::value_parser!(u64).range(1..))]
        backlog: Option<u64>,
        /// Milliseconds after the start during which a subscriber that has not
        /// connected yet holds back acknowledgements to producers
        #[arg(long, value_name = "MS", default_value_t = grace_ms_default())]
        grace: u64,
    },
    /// Print the JSON Schema (draft 2020-12) of services.toml.
    Schema {
        /// Write to this file instead of standard output
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MessageFormat {
    Human,
    Json,
}

/// Exit status for a file with errors.
const ERRORS: u8 = 1;
/// Exit status for usage, I/O and lookup problems (clap uses 2 as well).
const TROUBLE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check {
            file,
            color,
            message_format: MessageFormat::Human,
        } => check(file.as_deref(), color),
        Command::Check {
            file,
            message_format: MessageFormat::Json,
            ..
        } => check_json(file.as_deref()),
        Command::Graph {
            file,
            format,
            output,
        } => match load(file.as_deref(), Color::Never) {
            Ok(topology) => emit(output.as_deref(), &graph::render(&topology, format)),
            Err(code) => code,
        },
        Command::Relay {
            file,
            status_interval,
            drain_timeout,
            backlog,
            grace,
        } => match load(file.as_deref(), Color::Never) {
            Ok(topology) => relay::run(
                &topology,
                &relay::Options {
                    status_interval,
                    drain_timeout,
                    backlog: backlog.map(|b| usize::try_from(b).unwrap_or(usize::MAX)),
                    grace: std::time::Duration::from_millis(grace),
                },
            ),
            Err(code) => code,
        },
        Command::Schema { output } => emit(output.as_deref(), &schema::to_pretty_string()),
    }
}

fn check(file: Option<&Path>, color: Color) -> ExitCode {
    let path = match locate(file) {
        Ok(path) => path,
        Err(code) => return code,
    };
    let text = match read(&path) {
        Ok(text) => text,
        Err(code) => return code,
    };
    let styled = match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let render = |d: &sinkgen::Diagnostics| {
        if styled {
            d.render_styled()
        } else {
            d.render()
        }
    };
    match sinkgen::load_str(&path, &text) {
        Ok(loaded) => {
            let t = &loaded.topology;
            let mut out = String::new();
            if !loaded.warnings.is_empty() {
                out.push_str(&render(&loaded.warnings));
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
            let sinks: usize = t.services.iter().map(|s| s.sinks.len()).sum();
            out.push_str(&format!(
                "{}: ok ({} {}, {} {}, {sinks} {})\n",
                path.display(),
                t.relays.len(),
                if t.relays.len() == 1 {
                    "relay"
                } else {
                    "relays"
                },
                t.services.len(),
                if t.services.len() == 1 {
                    "service"
                } else {
                    "services"
                },
                if sinks == 1 { "sink" } else { "sinks" },
            ));
            print_out(&out);
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            let mut out = render(&diagnostics);
            if !out.ends_with('\n') {
                out.push('\n');
            }
            print_out(&out);
            ExitCode::from(if diagnostics.has_errors() {
                ERRORS
            } else {
                TROUBLE
            })
        }
    }
}

/// `check --message-format json`: every diagnostic as a JSON line on standard output,
/// including a file that cannot be found or read; the exit codes of `check`.
fn check_json(file: Option<&Path>) -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_default();
    let path = match file {
        Some(file) => file.to_path_buf(),
        None => match sinkgen::find_config(None, &cwd, std::env::var_os("SINKGEN_CONFIG")) {
            Ok(found) => found
                .strip_prefix(&cwd)
                .map(Path::to_path_buf)
                .unwrap_or(found),
            Err(diagnostics) => {
                print_out(&json::lines(&diagnostics, false));
                return ExitCode::from(TROUBLE);
            }
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            let mut diagnostics = sinkgen::Diagnostics::new(&path, "");
            diagnostics.push(sinkgen::Diagnostic::error(format!(
                "cannot read `{}`: {e}",
                path.display()
            )));
            print_out(&json::lines(&diagnostics, false));
            return ExitCode::from(TROUBLE);
        }
    };
    match sinkgen::load_str(&path, &text) {
        Ok(loaded) => {
            print_out(&json::lines(&loaded.warnings, true));
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            print_out(&json::lines(&diagnostics, false));
            ExitCode::from(if diagnostics.has_errors() {
                ERRORS
            } else {
                TROUBLE
            })
        }
    }
}

/// Finds, reads and validates the file; on failure prints why and returns the exit code.
fn load(file: Option<&Path>, color: Color) -> Result<sinkgen::model::Topology, ExitCode> {
    let path = locate(file)?;
    let text = read(&path)?;
    match sinkgen::load_str(&path, &text) {
        Ok(loaded) => Ok(loaded.topology),
        Err(diagnostics) => {
            let rendered = if color == Color::Always {
                diagnostics.render_styled()
            } else {
                diagnostics.render()
            };
            eprintln!("{}", rendered.trim_end());
            Err(ExitCode::from(ERRORS))
        }
    }
}

/// The explicit file, or the one SPEC section 3 finds from the current directory.
/// Paths under the current directory are shown relative to it.
fn locate(file: Option<&Path>) -> Result<PathBuf, ExitCode> {
    if let Some(file) = file {
        return Ok(file.to_path_buf());
    }
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(e) => {
            eprintln!("error: cannot read the current directory: {e}");
            return Err(ExitCode::from(TROUBLE));
        }
    };
    match sinkgen::find_config(None, &cwd, std::env::var_os("SINKGEN_CONFIG")) {
        Ok(found) => Ok(found
            .strip_prefix(&cwd)
            .map(Path::to_path_buf)
            .unwrap_or(found)),
        Err(diagnostics) => {
            eprintln!("{}", diagnostics.render().trim_end());
            Err(ExitCode::from(TROUBLE))
        }
    }
}

/// Reads the file the way every front end does (`sinkgen::read_config`): a file that
/// cannot be read, is no regular file or is too large is trouble (2); one that is not
/// UTF-8 has an error, shown at its line and column (1).
fn read(path: &Path) -> Result<String, ExitCode> {
    sinkgen::read_config(path, path).map_err(|diagnostics| {
        let located = diagnostics.iter().any(|d| d.span.is_some());
        if located {
            print_out(&diagnostics.render());
            ExitCode::from(ERRORS)
        } else {
            for d in &diagnostics {
                eprintln!("error: {}", d.message);
            }
            ExitCode::from(TROUBLE)
        }
    })
}

fn print_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`sinkgen check | head`) is not worth a panic.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn emit(output: Option<&Path>, text: &str) -> ExitCode {
    match output {
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot write `{}`: {e}", path.display());
                ExitCode::from(TROUBLE)
            }
        },
        None => {
            print_out(text);
            ExitCode::SUCCESS
        }
    }
}

/// `sinkgen relay --grace`'s default: the relay library's.
fn grace_ms_default() -> u64 {
    u64::try_from(sinkgen_relay::GRACE.as_millis()).unwrap_or(u64::MAX)
}
