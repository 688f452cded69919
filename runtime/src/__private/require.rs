//! The macros generated code calls to require a runtime feature (`nats`, `ws`,
//! `tls`, the codecs): nothing when the feature is on, a compile error naming the sink
//! and the fix when it is off.

/// `require_nats!("sink", "nats://..")`: nothing when the `nats` feature is on, a
/// compile error naming the sink and the fix when it is off.
pub use crate::__sinkgen_require_nats as require_nats;

#[cfg(feature = "nats")]
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_require_nats {
    ($sink:literal, $endpoint:literal) => {};
    (receive $who:literal, $endpoint:literal) => {};
}

#[cfg(not(feature = "nats"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_require_nats {
    ($sink:literal, $endpoint:literal) => {
        ::core::compile_error!(::core::concat!(
            "sink `",
            $sink,
            "` publishes to the NATS relay at `",
            $endpoint,
            "`, but sinkgen-runtime is built without NATS support: enable its `nats` feature ",
            "(sinkgen-runtime = { version = \"0.1\", features = [\"nats\"] })"
        ));
    };
    (receive $who:literal, $endpoint:literal) => {
        ::core::compile_error!(::core::concat!(
            $who,
            " reads the NATS relay at `",
            $endpoint,
            "`, but sinkgen-runtime is built without NATS support: enable its `nats` feature ",
            "(sinkgen-runtime = { version = \"0.1\", features = [\"nats\"] })"
        ));
    };
}

/// `require_ws!("sink", "ws://..")`: nothing when the `ws` feature is on, a compile
/// error naming the sink and the fix when it is off.
pub use crate::__sinkgen_require_ws as require_ws;

#[cfg(feature = "ws")]
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_require_ws {
    ($sink:literal, $endpoint:literal) => {};
}

#[cfg(not(feature = "ws"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_require_ws {
    ($sink:literal, $endpoint:literal) => {
        ::core::compile_error!(::core::concat!(
            "sink `",
            $sink,
            "` sends to the WebSocket server at `",
            $endpoint,
            "`, but sinkgen-runtime is built without WebSocket support: enable its `ws` feature ",
            "(sinkgen-runtime = { version = \"0.1\", features = [\"ws\"] })"
        ));
    };
}

/// `require_tls!("sink", "tcp://..")`: nothing when the `tls` feature is on, a compile
/// error naming the sink and the fix when it is off; `require_tls!(wss "sink",
/// "wss://..")` for a `wss://` endpoint (TLS with or without a `tls` table).
pub use crate::__sinkgen_require_tls as require_tls;

#[cfg(feature = "tls")]
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_require_tls {
    ($sink:literal, $endpoint:literal) => {};
    (wss $sink:literal, $endpoint:literal) => {};
    (receive $who:literal, $endpoint:literal) => {};
}

#[cfg(not(feature = "tls"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_require_tls {
    ($sink:literal, $endpoint:literal) => {
        ::core::compile_error!(::core::concat!(
            "sink `",
            $sink,
            "` connects to `",
            $endpoint,
            "` with TLS (a `tls` table in services.toml), but sinkgen-runtime is built without TLS support: enable its `tls` feature ",
            "(sinkgen-runtime = { version = \"0.1\", features = [\"tls\"] })"
        ));
    };
    (wss $sink:literal, $endpoint:literal) => {
        ::core::compile_error!(::core::concat!(
            "sink `",
            $sink,
            "` sends to the WebSocket server at `",
            $endpoint,
            "` over TLS, but sinkgen-runtime is built without TLS support: enable its `tls` feature ",
            "(sinkgen-runtime = { version = \"0.1\", features = [\"ws\", \"tls\"] })"
        ));
    };
    (receive $who:literal, $endpoint:literal) => {
        ::core::compile_error!(::core::concat!(
            $who,
            " connects to `",
            $endpoint,
            "` with TLS (a `tls` table in services.toml), but sinkgen-runtime is built without TLS support: enable its `tls` feature ",
            "(sinkgen-runtime = { version = \"0.1\", features = [\"tls\"] })"
        ));
    };
}

/// `require_postcard!("sink", "a::B")` and its siblings for the other codecs: nothing
/// when the codec's feature is on, a compile error naming the sink, the type and the
/// feature when it is off. `require_postcard!(receive "subscription `x`", "a::B")` is
/// the same check for a receiver (and `require_nats!(receive ..)` for NATS).
pub use crate::__sinkgen_require_postcard as require_postcard;
pub use crate::__sinkgen_require_prost as require_prost;
pub use crate::__sinkgen_require_zerocopy as require_zerocopy;

/// The compile error of a codec whose feature is off.
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_codec_missing {
    ($codec:literal, $sink:literal, $message:literal) => {
        ::core::compile_error!(::core::concat!(
            "sink `",
            $sink,
            "` sends `",
            $message,
            "` with the ",
            $codec,
            " codec, but sinkgen-runtime is built without it: enable its `",
            $codec,
            "` feature (sinkgen-runtime = { version = \"0.1\", features = [\"",
            $codec,
            "\"] })"
        ));
    };
    (receive $codec:literal, $who:literal, $message:literal) => {
        ::core::compile_error!(::core::concat!(
            $who,
            " receives `",
            $message,
            "` with the ",
            $codec,
            " codec, but sinkgen-runtime is built without it: enable its `",
            $codec,
            "` feature (sinkgen-runtime = { version = \"0.1\", features = [\"",
            $codec,
            "\"] })"
        ));
    };
}

#[cfg(feature = "postcard")]
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_require_postcard {
    ($sink:literal, $message:literal) => {};
    (receive $who:literal, $message:literal) => {};
}

#[cfg(not(feature = "postcard"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_require_postcard {
    ($sink:literal, $message:literal) => {
        $crate::__sinkgen_codec_missing!("postcard", $sink, $message);
    };
    (receive $who:literal, $message:literal) => {
        $crate::__sinkgen_codec_missing!(receive "postcard", $who, $message);
    };
}

#[cfg(feature = "prost")]
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_require_prost {
    ($sink:literal, $message:literal) => {};
    (receive $who:literal, $message:literal) => {};
}

#[cfg(not(feature = "prost"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_require_prost {
    ($sink:literal, $message:literal) => {
        $crate::__sinkgen_codec_missing!("prost", $sink, $message);
    };
    (receive $who:literal, $message:literal) => {
        $crate::__sinkgen_codec_missing!(receive "prost", $who, $message);
    };
}

#[cfg(feature = "zerocopy")]
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_require_zerocopy {
    ($sink:literal, $message:literal) => {};
    (receive $who:literal, $message:literal) => {};
}

#[cfg(not(feature = "zerocopy"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __sinkgen_require_zerocopy {
    ($sink:literal, $message:literal) => {
        $crate::__sinkgen_codec_missing!("zerocopy", $sink, $message);
    };
    (receive $who:literal, $message:literal) => {
        $crate::__sinkgen_codec_missing!(receive "zerocopy", $who, $message);
    };
}
