//! The runtime behind sinkgen's generated code: lazy, bounded, honest message sinks
//! over Unix domain sockets and TCP, relays on NATS (feature `nats`), and WebSocket
//! servers (feature `ws`).
//!
//! A sink is a handle you `send` typed messages to. It connects on the first send
//! ("wake on data"), shares one connect attempt among all concurrent first senders,
//! reconnects under exponential backoff with full jitter, holds frames in a bounded
//! queue while disconnected, and writes everything that queued during the previous
//! write in one system call. It never loses a frame without counting it.
//!
//! | type | what |
//! |------|------|
//! | [`RelaySink<M>`] | to a relay (broker) process |
//! | [`DirectSink<M>`] | straight to a service, or any endpoint |
//! | [`CompositeSink<M>`] | broadcast, round robin or failover over sibling sinks |
//! | [`Encode`] | what a message type implements (byte types do already) |
//! | [`Subscription<M>`] | typed messages from a relay (connects on the first `recv`) |
//! | [`Inbox<M>`] | typed messages from direct senders to a service's `listen` endpoint |
//! | [`Decode`] | what a received message type implements (byte types and `String` do already) |
//! | [`Framing`] | length-prefixed or torq frames |
//! | [`Status`] | state, health grade and counters of a sink |
//! | [`MessageSink<M>`] | the dyn-compatible trait every sink implements (generic code, test doubles) |
//! | [`WhenDown`] | queue, or fail fast, while a sink's peer is down |
//!
//! Generated code reaches these through sinkgen's build script or derive; include the
//! build script's output with [`include_sinks!`].
//!
//! # Feature flags
//!
//! | feature | default | what |
//! |---------|---------|------|
//! | `derive` | yes | re-exports `#[derive(Sinks)]` from `sinkgen-macros` (which brings in the `sinkgen` front end at compile time) |
//! | `nats` | no | relays on NATS: `nats://host:port/subject` endpoints, published through `async-nats` (core NATS, or JetStream for a `durable` relay); the sink counts frames the server did not confirm as [`Lost::unconfirmed`]; a [`Subscription`] on a `nats://` endpoint is a core NATS subscription; both present a relay's [`NatsCredentials`] (token, user and password, nkey or `.creds` file) |
//! | `ws` | no | WebSocket endpoints: `ws://host:port/path`, one binary message per frame, through `tokio-tungstenite`; frames count as sent when the peer's pong to a later ping arrives, and as [`Lost::unconfirmed`] if the connection dies first; `wss://` needs the `tls` feature too (TLS under the WebSocket, configured like a `tcp://` endpoint's) |
//! | `tls` | no | TLS with rustls (ring provider) for `tcp://` sinks, subscriptions and inboxes, NATS relays and `wss://` endpoints, configured by a `tls::Tls` (services.toml `tls` tables) |
//! | `serde` | no | `serde::Serialize` for [`Status`] and [`CompositeStatus`] (and the state, health, error and counters in them), for health endpoints |
//! | `postcard` | no | the `codec::Postcard` codec: serde types (`Serialize` / `DeserializeOwned`) as messages, in postcard's format (services.toml `codec = "postcard"`) |
//! | `prost` | no | the `codec::Prost` codec: protobuf messages (`prost::Message`) |
//! | `zerocopy` | no | the `codec::Zerocopy` codec: plain `#[repr(C)]` structs as their bytes (zerocopy 0.8's `IntoBytes` / `FromBytes`) |
//!
//! Without `derive` (`default-features = false`), the runtime has no proc macro of its
//! own; use the build-script front end then.
//!
//! # Semantics
//!
//! * **Lazy.** No I/O before the first `send`, `try_send` or `wait_connected`.
//! * **Backoff.** The first attempt is immediate; after `k` consecutive failures the
//!   next attempt waits a uniformly random delay in `[initial, min(max, initial·2^(k-1))]`.
//!   The count resets only when a connection stayed up for `max(backoff max, 1 s)`, so
//!   a peer that accepts and closes at once cannot cause a hot loop. Each attempt is
//!   bounded by `connect_timeout`.
//! * **Bounded.** At most `queue` frames wait, plus at most one batch of up to `queue`
//!   frames being written. A full queue makes `send` wait up to `send_timeout`, then
//!   fail with the message returned; `try_send` never waits; `send_all` queues many
//!   messages under one lock and hands back those it could not. A payload over
//!   `max_frame` (16 MiB unless configured) is refused; with [`WhenDown::Fail`] so is
//!   every send while the peer is down.
//! * **Honest.** `Ok` from `send` means the frame will be written whole and in order,
//!   unless [`Status::lost`] counts it (closed, dropped or fatal). A frame counts as
//!   sent once the kernel accepted all its bytes; like any stream protocol without
//!   acknowledgements, frames already in the kernel when a peer dies are lost without
//!   the sender knowing.
//! * **Whole frames.** When a connection fails mid-frame, that frame is written again
//!   from its first byte on the next connection (the dead connection may have carried
//!   a torn prefix; the new one never does). Whole frames are never sent twice.
//! * **Fast.** One task per connection owns the socket. Senders append encoded frames
//!   to a shared buffer (one lock, no allocation per frame); the task swaps the whole
//!   buffer out and writes it with one system call per drain, no batching timer, so
//!   whatever queued during a write goes out in the next one. A sparse frame (the
//!   previous write at least 2 µs old, the task idle, nothing queued) is written by
//!   the sender itself with one non-blocking `write`, without waking the task.
//! * **Dead peers.** The connection task reads the socket while idle and while writing:
//!   EOF or an error means the peer is gone, and the sink reconnects.
//! * **Errors** are [`ErrorClass::Retryable`] (refused, missing socket file,
//!   would-block on a Unix connect, reset, broken pipe, timeout, peer closed) or
//!   [`ErrorClass::Fatal`] (bad address, protocol error).
//!
//! # Examples
//!
//! ```no_run
//! use sinkgen_runtime::{Bytes, RelaySink};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sink: RelaySink<Bytes> = RelaySink::new("tcp://127.0.0.1:9100")?;
//! sink.send(Bytes::from_static(b"ping")).await?;
//! sink.flush().await?;
//! println!("{:?}", sink.status());
//! # Ok(())
//! # }
//! ```
// Denied, not forbidden: one `ioctl` (transport/unread.rs) lifts it for itself.
#![deny(unsafe_code)]

pub mod codec;
pub mod composite;
mod connection;
mod crc;
pub mod credentials;
pub mod decode;
pub mod durable;
pub mod encode;
pub mod error;
pub mod framing;
pub(crate) mod link;
pub mod message_sink;
pub mod protocol;
pub mod receive;
pub mod sink;
pub mod status;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;

#[doc(hidden)]
pub mod __private;

pub use bytes::{self, Bytes};
pub use composite::{CompositeSink, Delivery, Member, Mode};
pub use credentials::NatsCredentials;
pub use decode::{Decode, DecodeError};
pub use encode::Encode;
pub use error::{
    BuildError, ErrorClass, SendAllError, SendError, SendErrorKind, TransportError, WaitError,
};
pub use framing::{Framing, LENGTH_PREFIX_LEN, TORQ_HEADER_LEN, TORQ_MAGIC, TORQ_VERSION};
pub use message_sink::{MessageSink, SinkStatus};
pub use receive::{
    Inbox, InboxBuilder, Producer, ReceiveStatus, Received, Refusal, Subscription,
    SubscriptionBuilder,
};
pub use sink::{DirectSink, RelaySink, SinkBuilder, WhenDown};
/// Secrets the file names by variable or file (TLS keys, NATS credentials), read when
/// a connection needs them.
pub use sinkgen_config::secret::{Secret, SecretError, SecretSource};
pub use status::{CompositeStatus, Health, Lost, State, Status};

/// Includes the sinks generated by sinkgen's build script (`$OUT_DIR/sinks.rs`).
///
/// ```text
/// sinkgen_runtime::include_sinks!();
/// ```
#[macro_export]
macro_rules! include_sinks {
    () => {
        include!(concat!(env!("OUT_DIR"), "/sinks.rs"));
    };
}

/// `#[derive(Sinks)]`: typed sinks for a service of `services.toml` (see the `sinkgen` crate).
#[cfg(feature = "derive")]
pub use sinkgen_macros::Sinks;
