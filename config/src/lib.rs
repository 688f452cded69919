//! The rules of `services.toml` that both the compile-time front end (`sinkgen`) and
//! the runtime (`sinkgen-runtime`) apply.
//!
//! The two crates do not depend on each other: the runtime stays light, and `sinkgen`
//! is a build dependency. A rule both need lives here, once, so that a value the build
//! accepts is exactly a value the runtime accepts (an endpoint written in the file, or
//! one given at run time in a `SINKGEN_<SINK>_ENDPOINT` override).
//!
//! Today this is the endpoint grammar: [`parse_endpoint`] turns `unix:///path`,
//! `tcp://host:port`, `nats://host:port/subject` or `ws://host:port/path` (and `wss://`)
//! into an [`Endpoint`] in canonical
//! form, or says what is wrong with an [`EndpointError`] that points at the offending
//! bytes. [`policy`] holds the connection policy defaults (`connect_timeout`,
//! `send_timeout`, `queue`, `backoff`) and the relay and service defaults (`framing`,
//! `backlog`), and [`RUST_KEYWORDS`] and
//! [`RESERVED_SINK_NAMES`] the names a file cannot use. [`secret`] is how a file names a
//! secret it must not hold (`{ env = "VAR" }` or `{ file = "path" }`) and how the
//! runtime reads it. The crate has no dependencies.
//!
//! # Examples
//!
//! ```
//! use sinkgen_config::{Endpoint, Host, parse_endpoint};
//!
//! let e = parse_endpoint("tcp://LocalHost:9100").unwrap();
//! assert_eq!(e, Endpoint::Tcp { host: Host::Name("localhost".into()), port: 9100 });
//! // Two spellings of one address are one endpoint.
//! assert_eq!(parse_endpoint("tcp://[0:0::1]:80"), parse_endpoint("tcp://[::1]:80"));
//! assert_eq!(e.to_string(), "tcp://localhost:9100");
//!
//! let err = parse_endpoint("tcp://user@host:80").unwrap_err();
//! assert_eq!(err.message, "credentials in tcp endpoints are not supported");
//! assert_eq!(&"tcp://user@host:80"[err.at.clone()], "user@");
//! ```

#![forbid(unsafe_code)]

mod endpoint;
mod endpoint_error;
mod host;
mod names;
pub mod policy;
pub mod secret;
mod text;

pub use endpoint::{Endpoint, MAX_NATS_SUBJECT, MAX_UNIX_PATH, parse_endpoint};
pub use endpoint_error::EndpointError;
pub use host::Host;
pub use names::{RESERVED_SINK_NAMES, RUST_KEYWORDS, is_keyword};
pub use policy::DurationLiteral;
pub use text::{closest, printable};
