//! NATS credentials at connect time: the secret is read (on every attempt, so a
//! rotated secret is seen by the next connection), checked, and presented through the
//! client's auth callback, which signs the server's nonce for an nkey or a `.creds`
//! file.

use std::io;
use std::sync::Arc;

use nkeys::KeyPair;

use crate::credentials::{NatsCredentials, parse_creds};
use crate::error::{ErrorClass, TransportError};

/// Credentials read and ready to present.
#[derive(Clone)]
pub(crate) enum Resolved {
    Token(String),
    UserPassword(String, String),
    Nkey(Arc<KeyPair>),
    Jwt(String, Arc<KeyPair>),
}

/// A secret that could not be read or used: retryable (see [`NatsCredentials`]), so
/// the sink counts a failed connect and backs off.
fn unusable(message: String) -> TransportError {
    TransportError::new(
        ErrorClass::Retryable,
        io::ErrorKind::PermissionDenied,
        message,
    )
}

/// Reads the secret of `credentials` and checks it.
pub(crate) fn resolve(credentials: &NatsCredentials) -> Result<Resolved, TransportError> {
    let secret = credentials.secret();
    let at = || {
        format!(
            "NATS credentials: `{}` (line {}, {})",
            secret.key(),
            secret.line(),
            secret.source()
        )
    };
    let bytes = secret.read().map_err(|e| {
        let cause = std::error::Error::source(&e).map_or(String::new(), |s| format!(": {s}"));
        unusable(format!("NATS credentials: {e}{cause}"))
    })?;
    let text =
        String::from_utf8(bytes).map_err(|_| unusable(format!("{} is not UTF-8 text", at())))?;
    let text = text.trim();
    let seed = |seed: &str, what: &str| {
        KeyPair::from_seed(seed)
            .map(Arc::new)
            .map_err(|e| unusable(format!("{} does not hold {what}: {e}", at())))
    };
    Ok(match credentials {
        NatsCredentials::Token(_) => Resolved::Token(text.to_owned()),
        NatsCredentials::UserPassword { user, .. } => {
            Resolved::UserPassword(user.to_string(), text.to_owned())
        }
        NatsCredentials::Nkey(_) => Resolved::Nkey(seed(text, "an nkey seed (`SU...`)")?),
        NatsCredentials::Creds(_) => {
            let (jwt, user_seed) = parse_creds(text).ok_or_else(|| {
                unusable(format!(
                    "{} is not a .creds file (a NATS USER JWT block, then a USER NKEY SEED block)",
                    at()
                ))
            })?;
            Resolved::Jwt(
                jwt.to_owned(),
                seed(user_seed, "a valid user seed in its USER NKEY SEED block")?,
            )
        }
    })
}

/// What the CONNECT carries for `resolved`, given the server's nonce.
pub(crate) fn auth(
    resolved: Option<&Resolved>,
    nonce: &[u8],
) -> Result<async_nats::Auth, async_nats::AuthError> {
    let mut auth = async_nats::Auth::new();
    let sign = |key: &KeyPair| {
        key.sign(nonce)
            .map_err(|e| async_nats::AuthError::new(format!("signing the server's nonce: {e}")))
    };
    match resolved {
        None => {}
        Some(Resolved::Token(token)) => auth.token = Some(token.clone()),
        Some(Resolved::UserPassword(user, password)) => {
            auth.username = Some(user.clone());
            auth.password = Some(password.clone());
        }
        Some(Resolved::Nkey(key)) => {
            auth.nkey = Some(key.public_key());
            auth.signature = Some(sign(key)?);
        }
        Some(Resolved::Jwt(jwt, key)) => {
            auth.jwt = Some(jwt.clone());
            auth.signature = Some(sign(key)?);
        }
    }
    Ok(auth)
}

/// Connect options that present `resolved` (plain options without credentials), for
/// the subscriptions, whose client may authenticate on every attempt.
pub(crate) fn options(resolved: Option<Resolved>) -> async_nats::ConnectOptions {
    match resolved {
        None => async_nats::ConnectOptions::new(),
        Some(resolved) => {
            let resolved = Arc::new(resolved);
            async_nats::ConnectOptions::with_auth_callback(move |nonce| {
                let resolved = Arc::clone(&resolved);
                async move { auth(Some(&resolved), &nonce) }
            })
        }
    }
}
