//! Secrets that `services.toml` names but never holds: TLS keys and certificates, NATS
//! tokens, passwords, nkey seeds and `.creds` files.
//!
//! The file says where a secret lives, `{ env = "VAR" }` or `{ file = "path" }`; the
//! value is read at run time, when a connection needs it. A [`Secret`] remembers the
//! key and line of the file that named it, so that a variable that is not set or a
//! file that cannot be read is an error pointing back at the file.
//!
//! ```
//! use sinkgen_config::secret::{Secret, SecretSource};
//!
//! let s = Secret::new(
//!     SecretSource::Env("SINKGEN_DOC_UNSET_VARIABLE".into()),
//!     "relays.quotes.tls.ca",
//!     "services.toml",
//!     12,
//! );
//! let err = s.read().unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "`relays.quotes.tls.ca` (services.toml:12): environment variable \
//!      `SINKGEN_DOC_UNSET_VARIABLE` is not set"
//! );
//! ```

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};

/// The largest secret read from a file or a variable: 1 MiB, far above any PEM bundle
/// or `.creds` file, and a bound on what a wrong path (a device, a log) can cost.
pub const SECRET_MAX_BYTES: u64 = 1 << 20;

/// Where a secret comes from, as the file writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretSource {
    /// `{ env = "VAR" }`: the value of an environment variable (the secret itself,
    /// e.g. a PEM text or a token, not a path).
    Env(Cow<'static, str>),
    /// `{ file = "path" }`: the contents of a file, read at run time; a relative path
    /// is relative to the process's working directory.
    File(Cow<'static, str>),
}

impl SecretSource {
    /// The key of the inline table that names this source: `"env"` or `"file"`.
    pub fn kind(&self) -> &'static str {
        match self {
            SecretSource::Env(_) => "env",
            SecretSource::File(_) => "file",
        }
    }

    /// The variable's name or the file's path.
    pub fn name(&self) -> &str {
        match self {
            SecretSource::Env(n) | SecretSource::File(n) => n,
        }
    }
}

impl fmt::Display for SecretSource {
    /// The source as the file writes it: `{ env = "VAR" }`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{ {} = {:?} }}", self.kind(), self.name())
    }
}

/// Checks the name of an environment variable as a file may write it: ASCII letters,
/// digits and `_`, not starting with a digit. Returns what is wrong, if anything.
///
/// ```
/// use sinkgen_config::secret::check_env_name;
///
/// assert_eq!(check_env_name("NATS_TOKEN"), Ok(()));
/// assert!(check_env_name("1TOKEN").is_err());
/// assert!(check_env_name("A-B").is_err());
/// assert!(check_env_name("").is_err());
/// ```
pub fn check_env_name(name: &str) -> Result<(), &'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => Err("the variable's name is empty"),
        Some(c) if c.is_ascii_digit() => Err("a variable's name cannot start with a digit"),
        _ if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Err("a variable's name holds only ASCII letters, digits and `_`")
        }
        _ => Ok(()),
    }
}

/// A secret named by `services.toml`: where it lives, and the key and line that named it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Secret {
    source: SecretSource,
    key: Cow<'static, str>,
    file: Cow<'static, str>,
    line: u32,
}

impl Secret {
    /// A secret read from `source`, named by `key` (its dotted path, e.g.
    /// `relays.quotes.tls.ca`) on `line` of `file`.
    pub fn new(
        source: SecretSource,
        key: impl Into<Cow<'static, str>>,
        file: impl Into<Cow<'static, str>>,
        line: u32,
    ) -> Secret {
        Secret {
            source,
            key: key.into(),
            file: file.into(),
            line,
        }
    }

    /// A secret read from the environment variable `name`.
    pub fn env(
        name: impl Into<Cow<'static, str>>,
        key: impl Into<Cow<'static, str>>,
        file: impl Into<Cow<'static, str>>,
        line: u32,
    ) -> Secret {
        Secret::new(SecretSource::Env(name.into()), key, file, line)
    }

    /// A secret read from the file at `path`.
    pub fn file(
        path: impl Into<Cow<'static, str>>,
        key: impl Into<Cow<'static, str>>,
        file: impl Into<Cow<'static, str>>,
        line: u32,
    ) -> Secret {
        Secret::new(SecretSource::File(path.into()), key, file, line)
    }

    /// Where the secret lives.
    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// The dotted key that named it, e.g. `relays.quotes.tls.ca`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The line of `services.toml` that named it.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// Reads the secret now: the variable's value or the file's bytes.
    ///
    /// # Errors
    ///
    /// A variable that is not set (or not UTF-8), a file that cannot be read, an empty
    /// value, or one over [`SECRET_MAX_BYTES`]; the error names the key and line.
    pub fn read(&self) -> Result<Vec<u8>, SecretError> {
        let fail = |problem| SecretError {
            secret: self.clone(),
            problem,
        };
        let bytes = match &self.source {
            SecretSource::Env(name) => match std::env::var(name.as_ref()) {
                Ok(v) => v.into_bytes(),
                Err(std::env::VarError::NotPresent) => return Err(fail(Problem::NotSet)),
                Err(std::env::VarError::NotUnicode(_)) => return Err(fail(Problem::NotUnicode)),
            },
            SecretSource::File(path) => {
                let mut buf = Vec::new();
                let read = std::fs::File::open(path.as_ref())
                    .and_then(|f| f.take(SECRET_MAX_BYTES + 1).read_to_end(&mut buf));
                if let Err(e) = read {
                    return Err(fail(Problem::Unreadable(io::Error::new(e.kind(), e))));
                }
                buf
            }
        };
        if bytes.is_empty() {
            return Err(fail(Problem::Empty));
        }
        if bytes.len() as u64 > SECRET_MAX_BYTES {
            return Err(fail(Problem::TooLarge));
        }
        Ok(bytes)
    }
}

/// A secret that could not be read: which key and line named it, and what went wrong.
///
/// An unreadable file's I/O error is the [`source`](std::error::Error::source), not
/// part of the message.
#[derive(Debug)]
pub struct SecretError {
    secret: Secret,
    problem: Problem,
}

#[derive(Debug)]
enum Problem {
    NotSet,
    NotUnicode,
    Unreadable(io::Error),
    Empty,
    TooLarge,
}

impl SecretError {
    /// The secret that could not be read.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.secret;
        write!(f, "`{}` ({}:{}): ", s.key, s.file, s.line)?;
        let name = s.source.name();
        match (&self.problem, &s.source) {
            (Problem::NotSet, _) => write!(f, "environment variable `{name}` is not set"),
            (Problem::NotUnicode, _) => {
                write!(f, "environment variable `{name}` is not valid UTF-8")
            }
            (Problem::Unreadable(_), _) => write!(f, "cannot read file `{name}`"),
            (Problem::Empty, SecretSource::Env(_)) => {
                write!(f, "environment variable `{name}` is empty")
            }
            (Problem::Empty, _) => write!(f, "file `{name}` is empty"),
            (Problem::TooLarge, _) => write!(
                f,
                "`{name}` holds more than {SECRET_MAX_BYTES} bytes, more than any secret"
            ),
        }
    }
}

impl std::error::Error for SecretError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            Problem::Unreadable(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn at(source: SecretSource) -> Secret {
        Secret::new(source, "relays.q.tls.key", "services.toml", 7)
    }

    #[test]
    fn a_file_is_read_whole() {
        let path = std::env::temp_dir().join(format!("sinkgen-secret-{}", std::process::id()));
        std::fs::write(&path, b"-----BEGIN-----\n").unwrap();
        let s = at(SecretSource::File(path.display().to_string().into()));
        assert_eq!(s.read().unwrap(), b"-----BEGIN-----\n");
        std::fs::write(&path, b"").unwrap();
        let err = s.read().unwrap_err();
        assert!(err.to_string().ends_with("is empty"), "{err}");
        std::fs::remove_file(&path).unwrap();
        let err = s.read().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`relays.q.tls.key` (services.toml:7): cannot read file"),
            "{err}"
        );
        // The cause is in source(), not repeated in the message.
        let cause = err
            .source()
            .expect("the I/O error is the source")
            .to_string();
        assert!(!err.to_string().contains(&cause), "{err} / {cause}");
    }

    #[test]
    fn an_oversized_file_is_refused_without_reading_it_all() {
        let s = at(SecretSource::File("/dev/zero".into()));
        let err = s.read().unwrap_err();
        assert!(err.to_string().contains("more than 1048576 bytes"), "{err}");
    }

    #[test]
    fn an_unset_variable_names_the_key_and_line() {
        let s = at(SecretSource::Env("SINKGEN_TEST_SURELY_UNSET_4711".into()));
        assert_eq!(
            s.read().unwrap_err().to_string(),
            "`relays.q.tls.key` (services.toml:7): environment variable \
             `SINKGEN_TEST_SURELY_UNSET_4711` is not set"
        );
    }

    #[test]
    fn sources_display_as_the_file_writes_them() {
        assert_eq!(
            SecretSource::Env("NATS_TOKEN".into()).to_string(),
            "{ env = \"NATS_TOKEN\" }"
        );
        assert_eq!(
            SecretSource::File("certs/ca.pem".into()).to_string(),
            "{ file = \"certs/ca.pem\" }"
        );
    }
}
