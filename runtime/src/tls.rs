//! TLS for `tcp://` endpoints, NATS relays and `wss://` endpoints (feature `tls`, SPEC
//! section 14).
//!
//! A [`Tls`] names where the pieces of a secured endpoint live: the CAs a client
//! trusts (`ca`; absent, the platform's trusted roots, read with
//! `rustls-native-certs`), the name a client checks the server's certificate against
//! (`server_name`; absent, the endpoint's host), the certificate chain and key that
//! whoever serves the endpoint presents (`cert`, `key`), and an optional certificate
//! that clients present (`client_cert`, `client_key`; when set, the server requires
//! and verifies client certificates against `ca`).
//!
//! Every piece is a [`Secret`]: an environment variable or a file, read when a
//! connection is made (a client) or a listener starts (a server), never held in the
//! program. A secret that cannot be read, or that holds no PEM of the right kind, is
//! an error naming its key and the line of `services.toml`; a sink counts it like a
//! failed connect and retries under its backoff.
//!
//! Every config is built with the ring provider named explicitly
//! ([`rustls::ClientConfig::builder_with_provider`]): the process-default provider is
//! never consulted, so nothing here can panic for want of one.
//!
//! ```
//! use sinkgen_runtime::Secret;
//! use sinkgen_runtime::tls::Tls;
//!
//! let tls = Tls::new()
//!     .ca(Secret::env("QUOTES_CA", "relays.quotes.tls.ca", "services.toml", 9))
//!     .server_name("relay.internal");
//! assert_eq!(tls.server_name_for("10.0.0.7"), "relay.internal");
//! ```

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::Secret;
use crate::error::{ErrorClass, TransportError};

/// How one endpoint is secured: the `tls` table of a relay or service (see the
/// [module docs](self)).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tls {
    ca: Option<Secret>,
    server_name: Option<String>,
    cert: Option<Secret>,
    key: Option<Secret>,
    client_cert: Option<Secret>,
    client_key: Option<Secret>,
}

impl Tls {
    /// TLS trusting the platform's roots, checking the endpoint's host, presenting no
    /// client certificate.
    pub fn new() -> Tls {
        Tls::default()
    }

    /// Trusts the CAs of this PEM bundle instead of the platform's roots (and, on a
    /// server that requires client certificates, verifies them against it).
    #[must_use]
    pub fn ca(mut self, ca: Secret) -> Tls {
        self.ca = Some(ca);
        self
    }

    /// Checks the server's certificate against `name` rather than the endpoint's host.
    #[must_use]
    pub fn server_name(mut self, name: impl Into<String>) -> Tls {
        self.server_name = Some(name.into());
        self
    }

    /// The certificate chain and private key a server of this endpoint presents
    /// (`sinkgen relay`, a service's inbox listener).
    #[must_use]
    pub fn identity(mut self, cert: Secret, key: Secret) -> Tls {
        self.cert = Some(cert);
        self.key = Some(key);
        self
    }

    /// The certificate chain and private key clients (sinks, subscriptions) present;
    /// a server with these set requires client certificates and verifies them
    /// against [`ca`](Self::ca).
    #[must_use]
    pub fn client_identity(mut self, cert: Secret, key: Secret) -> Tls {
        self.client_cert = Some(cert);
        self.client_key = Some(key);
        self
    }

    /// The name a client checks the server's certificate against when it connects to
    /// `host`: [`server_name`](Self::server_name), or `host` itself (an IPv6 address
    /// without its brackets).
    pub fn server_name_for<'a>(&'a self, host: &'a str) -> &'a str {
        match &self.server_name {
            Some(name) => name,
            None => host
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(host),
        }
    }

    /// Whether clients present a certificate (and servers require one).
    pub fn verifies_clients(&self) -> bool {
        self.client_cert.is_some()
    }

    /// The client side: reads `ca` (or the platform's roots) and the client
    /// certificate, if any, now.
    ///
    /// # Errors
    ///
    /// A secret that cannot be read or parsed (naming its key and line), no trusted
    /// root at all, or a key that does not fit its certificate.
    pub fn client_config(&self) -> Result<ClientConfig, TlsError> {
        let roots = self.roots()?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::config(&e))?
            .with_root_certificates(roots);
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(certs(cert)?, private_key(key)?)
                .map_err(|e| TlsError::mismatch(key, &e)),
            _ => Ok(builder.with_no_client_auth()),
        }
    }

    /// The client side for a transport that checks the certificate against the host
    /// of its own URL (NATS): with [`server_name`](Self::server_name) set, the
    /// certificate is checked against that name instead, by the same WebPKI
    /// verification.
    #[cfg(feature = "nats")]
    pub(crate) fn client_config_named(&self) -> Result<ClientConfig, TlsError> {
        let mut config = self.client_config()?;
        if let Some(name) = &self.server_name {
            let name = ServerName::try_from(name.clone()).map_err(|e| TlsError::config(&e))?;
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(self.roots()?),
                provider(),
            )
            .build()
            .map_err(|e| TlsError::config(&e))?;
            config
                .dangerous()
                .set_certificate_verifier(Arc::new(NamedVerifier { inner, name }));
        }
        Ok(config)
    }

    /// The server side: reads `cert` and `key` (and, when clients present
    /// certificates, `ca` to verify them against) now.
    ///
    /// # Errors
    ///
    /// No `cert` and `key`, a secret that cannot be read or parsed (naming its key
    /// and line), or a key that does not fit its certificate.
    pub fn server_config(&self) -> Result<ServerConfig, TlsError> {
        let (Some(cert), Some(key)) = (&self.cert, &self.key) else {
            return Err(TlsError {
                message: "a server of a `tls` endpoint needs `cert` and `key` (its certificate chain and private key)".into(),
                retryable: false,
            });
        };
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::config(&e))?;
        let builder = if self.verifies_clients() {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(self.roots()?), provider())
                    .build()
                    .map_err(|e| TlsError::config(&e))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        builder
            .with_single_cert(certs(cert)?, private_key(key)?)
            .map_err(|e| TlsError::mismatch(key, &e))
    }

    /// The CAs of `ca`, or the platform's roots.
    fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        match &self.ca {
            Some(ca) => {
                for cert in certs(ca)? {
                    roots.add(cert).map_err(|e| TlsError::unusable(ca, &e))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(native.certs);
                if roots.is_empty() {
                    return Err(TlsError {
                        message: "no `ca` is named and the platform has no trusted root certificates; name the CA bundle with `ca = { file = \"...\" }`".into(),
                        retryable: true,
                    });
                }
            }
        }
        Ok(roots)
    }

    /// The client side for a connection to `host`: the config and the name to check.
    pub(crate) fn connector(
        &self,
        host: &str,
    ) -> Result<(Arc<ClientConfig>, ServerName<'static>), TransportError> {
        let config = self.client_config().map_err(TlsError::into_transport)?;
        let name = ServerName::try_from(self.server_name_for(host).to_owned()).map_err(|_| {
            TransportError::new(
                ErrorClass::Fatal,
                io::ErrorKind::InvalidInput,
                format!(
                    "`{}` is not a DNS name or IP address a certificate can be checked against; set `server_name`",
                    self.server_name_for(host)
                ),
            )
        })?;
        Ok((Arc::new(config), name))
    }
}

/// WebPKI verification of the server's certificate against a fixed name, whatever
/// name the transport connected by.
#[cfg(feature = "nats")]
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: ServerName<'static>,
}

#[cfg(feature = "nats")]
impl rustls::client::danger::ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate of a PEM secret (at least one).
fn certs(secret: &Secret) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = secret.read().map_err(TlsError::secret)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::unusable(secret, &e))?;
    if certs.is_empty() {
        return Err(TlsError::unusable(secret, &"no PEM certificate in it"));
    }
    Ok(certs)
}

/// The private key of a PEM secret (PKCS#8, PKCS#1 or SEC1).
fn private_key(secret: &Secret) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = secret.read().map_err(TlsError::secret)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::unusable(secret, &e))
}

/// Why TLS settings could not be turned into a config; a secret's key and line are
/// in the message.
#[derive(Debug)]
pub struct TlsError {
    message: String,
    retryable: bool,
}

impl TlsError {
    fn secret(e: crate::SecretError) -> TlsError {
        TlsError {
            message: e.to_string(),
            retryable: true,
        }
    }

    fn unusable(secret: &Secret, e: &dyn fmt::Display) -> TlsError {
        TlsError {
            message: format!(
                "`{}` (line {}): not a usable PEM {}: {e}",
                secret.key(),
                secret.line(),
                if secret.key().ends_with("key") {
                    "private key"
                } else {
                    "certificate bundle"
                }
            ),
            retryable: true,
        }
    }

    fn mismatch(key: &Secret, e: &rustls::Error) -> TlsError {
        TlsError {
            message: format!(
                "`{}` (line {}): the key does not fit its certificate: {e}",
                key.key(),
                key.line()
            ),
            retryable: true,
        }
    }

    fn config(e: &dyn fmt::Display) -> TlsError {
        TlsError {
            message: format!("TLS settings: {e}"),
            retryable: false,
        }
    }

    /// As a sink's transport error: a secret that may yet be set or fixed is
    /// retryable (the sink backs off), settings that can never work are fatal.
    pub(crate) fn into_transport(self) -> TransportError {
        let class = if self.retryable {
            ErrorClass::Retryable
        } else {
            ErrorClass::Fatal
        };
        TransportError::new(class, io::ErrorKind::InvalidInput, self.message)
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TlsError {}
