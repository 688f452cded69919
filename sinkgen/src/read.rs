//! Reading `services.toml`: the one function every path uses (the CLI's `check` and
//! `graph`, the build script, the derive), so that each refuses the same inputs with the
//! same message.

use std::io::Read as _;
use std::path::Path;

use crate::diagnostic::{Diagnostic, Diagnostics};

/// The largest `services.toml` sinkgen reads: 64 MiB, far beyond any real topology.
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024 * 1024;

/// Reads the configuration file at `path` as UTF-8 text; `shown` is the path used in
/// messages.
///
/// Only a regular file (after following symlinks) of at most [`MAX_CONFIG_BYTES`] is
/// read: a FIFO or a device would block or never end. The read itself is bounded too,
/// so a file that grows while it is read cannot exceed the limit.
///
/// # Errors
///
/// One error without a span when the file cannot be opened or read, is not a regular
/// file, or is too large; one error pointing at the first invalid byte (line and
/// column) when the file is not UTF-8.
pub fn read_config(path: &Path, shown: &Path) -> Result<String, Diagnostics> {
    let refuse = |message: String, help: &str| {
        let mut d = Diagnostics::new(shown, "");
        d.push(Diagnostic::error(message).with_help(help));
        d
    };
    let cannot_read = |e: std::io::Error| {
        refuse(
            format!("cannot read `{}`: {e}", shown.display()),
            "check that the file exists and is readable, or point `SINKGEN_CONFIG` at it",
        )
    };
    // Checked before opening: opening a FIFO for reading blocks until a writer appears.
    let meta = std::fs::metadata(path).map_err(cannot_read)?;
    let too_large = |len: u64| {
        refuse(
            format!(
                "`{}` is too large: {len} bytes, sinkgen reads at most {MAX_CONFIG_BYTES} \
                 bytes (64 MiB)",
                shown.display()
            ),
            "point sinkgen at the services.toml file itself",
        )
    };
    let not_regular = || {
        refuse(
            format!("`{}` is not a regular file", shown.display()),
            "point sinkgen at a services.toml file, not a directory, FIFO, socket or device",
        )
    };
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(too_large(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(cannot_read)?;
    // The file opened may not be the one looked at (replaced in between).
    if !file.metadata().map_err(cannot_read)?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| not_utf8(shown, &e))
}

/// The error for a file that is not UTF-8, at its first invalid byte.
fn not_utf8(shown: &Path, e: &std::string::FromUtf8Error) -> Diagnostics {
    let valid = e.utf8_error().valid_up_to();
    // The text up to the bad byte is valid; the lossy rest only gives the snippet a line.
    let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
    let start = valid.min(text.len());
    let end = text[start..]
        .chars()
        .next()
        .map_or(start, |c| start + c.len_utf8());
    let mut d = Diagnostics::new(shown, &text);
    d.push(
        Diagnostic::error(format!("`{}` is not valid UTF-8", shown.display()))
            .with_span(start..end)
            .with_label("invalid UTF-8 here")
            .with_help("save the file as UTF-8"),
    );
    d
}
