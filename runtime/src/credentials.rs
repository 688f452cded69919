//! How a sink or a subscription authenticates to a NATS server: the `credentials`
//! table of a `nats://` relay in `services.toml`.
//!
//! Exactly one kind: a token, a user name with a password, an nkey seed, or a `.creds`
//! file (a user JWT and its nkey seed, as `nsc` writes it). Every secret is a
//! [`Secret`], named by the file and read when a connection is made: on every connect
//! attempt, so a rotated secret is picked up by the next connection without a restart.
//!
//! A secret that cannot be read (a variable not set, a file missing), or that is not
//! what its key says (a seed that does not decode, a `.creds` file without a JWT), is a
//! connect error naming the key and line of `services.toml`; a server that refuses the
//! credentials (`Authorization Violation`) is one too. Both are retryable: the sink
//! counts a failed connect and backs off, as for a server that is down, and tries
//! again with the secret read anew (see [`NatsCredentials`]).
//!
//! ```
//! use sinkgen_runtime::{NatsCredentials, Secret};
//!
//! let token = NatsCredentials::token(Secret::env(
//!     "QUOTES_NATS_TOKEN",
//!     "relays.quotes.credentials.token",
//!     "services.toml",
//!     14,
//! ));
//! assert_eq!(token.kind(), "token");
//! ```

use std::borrow::Cow;

use crate::Secret;

/// The credentials a NATS connection presents (see the [module docs](self)).
///
/// Why a refusal is retried rather than fatal: credentials are read again at every
/// attempt, and the usual fixes (a rotated `.creds` file, a user added to the
/// server's configuration and reloaded, a JWT pushed to the account resolver) happen
/// outside the process. A sink that gave up would need a restart to see them; one
/// that backs off recovers by itself, and its status shows the refusal meanwhile.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NatsCredentials {
    /// `token = <secret>`: the server's `authorization { token }`.
    Token(Secret),
    /// `user = "name"` and `password = <secret>`.
    UserPassword {
        /// The user name (not a secret: the file may write it).
        user: Cow<'static, str>,
        /// The password.
        password: Secret,
    },
    /// `nkey = <secret>`: an nkey user seed (`SU...`); the server knows its public key.
    Nkey(Secret),
    /// `creds = <secret>`: a `.creds` file (a user JWT and its nkey seed), for a
    /// server in operator mode.
    Creds(Secret),
}

impl NatsCredentials {
    /// A token.
    pub fn token(token: Secret) -> NatsCredentials {
        NatsCredentials::Token(token)
    }

    /// A user name and its password.
    pub fn user_password(user: impl Into<Cow<'static, str>>, password: Secret) -> NatsCredentials {
        NatsCredentials::UserPassword {
            user: user.into(),
            password,
        }
    }

    /// An nkey user seed.
    pub fn nkey(seed: Secret) -> NatsCredentials {
        NatsCredentials::Nkey(seed)
    }

    /// The contents of a `.creds` file (a `{ file = ... }` secret names the file; an
    /// `{ env = ... }` one holds its text).
    pub fn creds(creds: Secret) -> NatsCredentials {
        NatsCredentials::Creds(creds)
    }

    /// The key of the `credentials` table: `"token"`, `"user"`, `"nkey"` or `"creds"`.
    pub fn kind(&self) -> &'static str {
        match self {
            NatsCredentials::Token(_) => "token",
            NatsCredentials::UserPassword { .. } => "user",
            NatsCredentials::Nkey(_) => "nkey",
            NatsCredentials::Creds(_) => "creds",
        }
    }

    /// The secret that is read at connect time.
    pub fn secret(&self) -> &Secret {
        match self {
            NatsCredentials::Token(s)
            | NatsCredentials::Nkey(s)
            | NatsCredentials::Creds(s)
            | NatsCredentials::UserPassword { password: s, .. } => s,
        }
    }
}

/// The user JWT and the nkey seed of a `.creds` file, in the layout `nsc` writes:
/// a block between `-----BEGIN NATS USER JWT-----` and `------END NATS USER JWT------`,
/// then one between `-----BEGIN USER NKEY SEED-----` and its end line. Any other line
/// (the warning between the blocks) is ignored. `None` when either block is missing
/// or empty.
#[cfg(feature = "nats")]
pub(crate) fn parse_creds(text: &str) -> Option<(&str, &str)> {
    let mut blocks = Vec::with_capacity(2);
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line.starts_with("---") && line.contains("BEGIN") {
            let value = lines.next()?;
            let end = lines.next()?;
            if !(end.starts_with("---") && end.contains("END")) || value.is_empty() {
                return None;
            }
            blocks.push(value);
            if blocks.len() == 2 {
                break;
            }
        }
    }
    match blocks[..] {
        [jwt, seed] => Some((jwt, seed)),
        _ => None,
    }
}

#[cfg(all(test, feature = "nats"))]
mod tests {
    use super::parse_creds;

    const CREDS: &str = "-----BEGIN NATS USER JWT-----\neyJ0.eyJ1.c2ln\n------END NATS USER JWT------\n\n\
        ************************* IMPORTANT *************************\n\
        NKEY Seed printed below can be used to sign and prove identity.\n\n\
        -----BEGIN USER NKEY SEED-----\nSUAB\n------END USER NKEY SEED------\n\n\
        *************************************************************\n";

    #[test]
    fn a_creds_file_gives_its_jwt_and_seed() {
        assert_eq!(parse_creds(CREDS), Some(("eyJ0.eyJ1.c2ln", "SUAB")));
        let crlf = CREDS.replace('\n', "\r\n");
        assert_eq!(parse_creds(&crlf), Some(("eyJ0.eyJ1.c2ln", "SUAB")));
    }

    #[test]
    fn a_creds_file_without_both_blocks_is_refused() {
        assert_eq!(parse_creds(""), None);
        assert_eq!(parse_creds("SUAB"), None);
        let jwt_only = CREDS.split("\n\n").next().unwrap();
        assert_eq!(parse_creds(jwt_only), None);
        let unterminated = "-----BEGIN NATS USER JWT-----\neyJ0\n";
        assert_eq!(parse_creds(unterminated), None);
        let empty = CREDS.replace("SUAB", "");
        assert_eq!(parse_creds(&empty), None);
    }
}
