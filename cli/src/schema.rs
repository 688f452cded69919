//! The JSON Schema (draft 2020-12) of `services.toml`, version 1.
//!
//! Editors that understand the `#:schema ./services.schema.json` comment (Taplo,
//! Even Better TOML, JetBrains IDEs) use it to complete keys and flag mistakes as
//! you type. The schema describes every key, its default and the constraints
//! that can be stated per value; the checks that need the whole file (unknown
//! references, duplicate endpoints, composite cycles, ...) remain the job of
//! `sinkgen check` and of the build.
//!
//! # Examples
//!
//! ```
//! let schema = sinkgen_cli::schema::schema();
//! assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
//! assert!(sinkgen_cli::schema::to_pretty_string().ends_with("}\n"));
//! ```

use std::time::Duration;

use serde_json::{Value, json};
use sinkgen_config::policy::{CodecKind, FramingKind};
use sinkgen_config::{DurationLiteral, RUST_KEYWORDS, policy};

/// The URL the schema is published under (its `$id`).
pub const SCHEMA_ID: &str =
    "https://raw.githubusercontent.com/sinkgen/sinkgen/main/services.schema.json";

/// A duration: an unsigned integer followed by a unit.
const DURATION_PATTERN: &str = "^[0-9]+(ns|us|ms|s|m)$";
/// A duration that is not zero.
const NONZERO_DURATION_PATTERN: &str = "^[0-9]*[1-9][0-9]*(ns|us|ms|s|m)$";
/// A lowercase snake_case Rust identifier (keywords are excluded separately).
const NAME_PATTERN: &str = "^(?:[a-z][a-z0-9_]*|_[a-z0-9_]+)$";
/// The grammar of endpoints (`sinkgen_config`), as far as a regular expression
/// states it: everything but the lengths of host names and the inside of IPv6
/// brackets. A Unix path of at most 107 bytes, no NUL.
const UNIX: &str = "unix:///[^\\u0000]{0,106}";
/// A port from 1 to 65535 (leading zeros allowed, as the grammar allows them).
const PORT: &str =
    "0*(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";
/// One number of an IPv4 address: 0 to 255, no leading zeros.
const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
/// One `.`-separated part of a host name: letters, digits, `_` and `-`, no `-` at
/// either end.
const LABEL: &str = "[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?";
/// A part of a host name that is not all digits (a host of digits and dots only is
/// an IPv4 address).
const WORD: &str = "(?:[A-Za-z_]|[A-Za-z_][A-Za-z0-9_-]*[A-Za-z0-9_]|[A-Za-z0-9_][A-Za-z0-9_-]*[A-Za-z_]|[A-Za-z0-9_][A-Za-z0-9_-]*[A-Za-z_-][A-Za-z0-9_-]*[A-Za-z0-9_])";
/// A NATS subject: `.`-separated tokens without whitespace or wildcards.
const SUBJECT: &str = "[^.*>\\s]+(?:\\.[^.*>\\s]+)*";

/// A default duration as the file writes it (`"500ms"`).
fn duration(d: Duration) -> String {
    DurationLiteral(d).to_string()
}

/// `host:port`: a host name, an IPv4 address or an IPv6 address in brackets.
fn authority() -> String {
    format!(
        "(?:\\[[0-9A-Fa-f:.]+\\]|{OCTET}(?:\\.{OCTET}){{3}}|(?:{LABEL}\\.)*{WORD}(?:\\.{LABEL})*):{PORT}"
    )
}

/// `unix://<absolute path>`, `tcp://<host>:<port>` (IPv6 in brackets) or
/// `nats://<host>:<port>/<subject>`.
fn endpoint_pattern() -> String {
    let authority = authority();
    format!("^(?:{UNIX}|tcp://{authority}|nats://{authority}/{SUBJECT})$")
}

/// `ws://` or `wss://<host>:<port>[/<path>]`: a path of URI path characters, no
/// query, fragment or credentials.
fn ws_pattern() -> String {
    format!("wss?://{}(?:/{WS_PATH})?", authority())
}

/// The characters of a WebSocket endpoint's path (after its first `/`).
const WS_PATH: &str = "[A-Za-z0-9._~!$&'()*+,;=:@/%-]*";

/// An endpoint sink's endpoint: any relay endpoint, or a WebSocket server.
fn sink_endpoint_pattern() -> String {
    let authority = authority();
    format!(
        "^(?:{UNIX}|tcp://{authority}|nats://{authority}/{SUBJECT}|{})$",
        ws_pattern()
    )
}

/// A `listen` endpoint: Unix, TCP or WebSocket.
fn listen_pattern() -> String {
    format!("^(?:{UNIX}|tcp://{}|{})$", authority(), ws_pattern())
}

/// A Rust type path such as `protocol::MarketEvent` or `::proto::v1::Tick`.
const TYPE_PATH_PATTERN: &str =
    "^(?:::)?[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*(?:<.*>)?$";

/// What `codec` means, on a relay or a service.
const CODEC_DESCRIPTION: &str = "How the `message` type goes on the wire: \"raw\" (the type implements `sinkgen_runtime::Encode` itself), \"postcard\" (serde types, postcard's compact format), \"prost\" (protobuf messages) or \"zerocopy\" (plain structs as their bytes). Every codec but \"raw\" needs a `message` and the runtime feature of the same name.";

/// The names of the codecs, as the file writes them.
fn codec_names() -> Vec<&'static str> {
    CodecKind::ALL.iter().map(|c| c.name()).collect()
}

/// The names of these framings, as the file writes them.
fn framing_names(framings: &[FramingKind]) -> Vec<&'static str> {
    framings.iter().map(|f| f.name()).collect()
}

/// The schema as a JSON value.
#[must_use]
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "sinkgen services.toml",
        "description": "A service topology for sinkgen, version 1: the relays, the services, and the sinks each service sends through. sinkgen turns it into typed, lazily connecting sinks at compile time; `sinkgen check` reports every mistake with its line and column.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "defaults": {
                "description": "Connection policy applied to every sink that does not set the key itself.",
                "$ref": "#/$defs/policy"
            },
            "relays": {
                "description": "Relays: broker processes, one per message domain, that fan frames out to their subscribers. The key is the relay's name.",
                "type": "object",
                "propertyNames": { "$ref": "#/$defs/name" },
                "additionalProperties": { "$ref": "#/$defs/relay" },
                "default": {}
            },
            "services": {
                "description": "Services: processes that send through sinks and may accept direct connections. The key is the service's name; a generated `Sinks` type belongs to one service.",
                "type": "object",
                "propertyNames": { "$ref": "#/$defs/name" },
                "additionalProperties": { "$ref": "#/$defs/service" },
                "default": {}
            }
        },
        "$defs": {
            "name": {
                "description": "A lowercase snake_case Rust identifier that is not a Rust keyword (it becomes a method name in generated code). Two names that become the same identifier collide.",
                "type": "string",
                "pattern": NAME_PATTERN,
                "not": { "enum": RUST_KEYWORDS }
            },
            "duration": {
                "description": "An unsigned integer followed by a unit: ns, us, ms, s or m (minutes), for example \"500ms\".",
                "type": "string",
                "pattern": DURATION_PATTERN
            },
            "timeout": {
                "description": "A duration that is not zero, for example \"1s\".",
                "type": "string",
                "pattern": NONZERO_DURATION_PATTERN
            },
            "endpoint": {
                "description": "Where to connect: `unix://<absolute path>` (at most 107 bytes, no NUL), `tcp://<host>:<port>` with a port from 1 to 65535 (IPv6 hosts in brackets), or `nats://<host>:<port>/<subject>` (dot-separated tokens, no wildcards or spaces).",
                "type": "string",
                "pattern": endpoint_pattern()
            },
            "sink_endpoint": {
                "description": "Where an endpoint sink connects: any relay endpoint (`unix://`, `tcp://`, `nats://`), or a WebSocket server, `ws://<host>:<port>/<path>` or `wss://...` (port required, path optional, no query, fragment or credentials; one binary message per frame; runtime feature `ws`, and `tls` for wss://, which trusts the platform's roots).",
                "type": "string",
                "pattern": sink_endpoint_pattern()
            },
            "listen_endpoint": {
                "description": "Where to accept connections: `unix://<absolute path>` (at most 107 bytes, no NUL), `tcp://<host>:<port>` with a port from 1 to 65535 (IPv6 hosts in brackets), or `ws://<host>:<port>/<path>` (`wss://`) for a service that runs its own WebSocket server (with `framing = \"length-prefixed\"`).",
                "type": "string",
                "pattern": listen_pattern()
            },
            "policy": {
                "description": "How a sink connects, queues and retries.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "connect_timeout": {
                        "description": "Longest one connect attempt may take. Must not be zero.",
                        "$ref": "#/$defs/timeout",
                        "default": duration(policy::CONNECT_TIMEOUT)
                    },
                    "send_timeout": {
                        "description": "Longest a send waits for room in the queue or for a connection before it fails and hands the message back. Must not be zero.",
                        "$ref": "#/$defs/timeout",
                        "default": duration(policy::SEND_TIMEOUT)
                    },
                    "queue": {
                        "description": "Frames held per sink while it (re)connects. A full queue makes `send` wait up to `send_timeout`. Must not be zero.",
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 4294967295_u64,
                        "default": policy::QUEUE
                    },
                    "when_down": {
                        "description": "What a send does while the peer is down (the sink is not connected after a failed connect attempt): `\"queue\"` holds the frame for the next connection; `\"fail\"` fails the send at once with the message handed back (error kind `Down`), until the sink connects again.",
                        "enum": policy::WhenDown::ALL.map(policy::WhenDown::name),
                        "default": policy::WHEN_DOWN.name()
                    },
                    "max_frame": {
                        "description": "The largest payload, in bytes, a sink sends in one frame; a larger message is refused by `send` and handed back (error kind `TooLarge`). The default, 16 MiB, is what receivers and `sinkgen relay` accept. From 1 to 4294967295.",
                        "type": "integer",
                        "minimum": 1,
                        "maximum": policy::MAX_FRAME_LIMIT,
                        "default": policy::MAX_FRAME
                    },
                    "backoff": {
                        "description": "Delay between connect attempts: the first retry waits up to `initial`, each later one up to twice as long, capped at `max`, with full jitter. `initial` must not be above `max`.",
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "initial": {
                                "description": "Upper bound of the first delay.",
                                "$ref": "#/$defs/duration",
                                "default": duration(policy::BACKOFF_INITIAL)
                            },
                            "max": {
                                "description": "Largest delay between two attempts.",
                                "$ref": "#/$defs/duration",
                                "default": duration(policy::BACKOFF_MAX)
                            }
                        },
                        "default": {
                            "initial": duration(policy::BACKOFF_INITIAL),
                            "max": duration(policy::BACKOFF_MAX)
                        }
                    }
                }
            },
            "relay": {
                "description": "A relay. Sinks to it are `RelaySink<M>` where `M` is its `message` type (bytes when none is declared).",
                "type": "object",
                "additionalProperties": false,
                "required": ["endpoint"],
                "properties": {
                    "endpoint": {
                        "description": "Where the relay accepts producers. No service may listen on it.",
                        "$ref": "#/$defs/endpoint"
                    },
                    "framing": {
                        "description": "How frames are laid out on the wire: \"sinkgen\", sinkgen's own protocol (sequence numbers, checksums, acknowledgements, resend; not for nats:// relays); \"length-prefixed\", a u32 little-endian length then the payload; or \"torq\", the 32-byte torq header then the payload. A nats:// relay without `framing` publishes each payload as one message.",
                        "enum": framing_names(&FramingKind::ALL),
                        "default": policy::RELAY_FRAMING.name()
                    },
                    "domain": {
                        "description": "The relay domain byte written into every torq header. Required with torq framing and not allowed without it; unique among relays. Services that send to a torq relay need a `source`.",
                        "type": "integer",
                        "minimum": 0,
                        "maximum": 255
                    },
                    "message": {
                        "description": "The Rust type of the relay's messages, as a path resolved in the crate that uses the sinks (for example \"protocol::MarketEvent\"); it must implement `sinkgen_runtime::Encode`. Sinks to this relay accept only this type.",
                        "type": "string",
                        "pattern": TYPE_PATH_PATTERN
                    },
                    "codec": {
                        "description": CODEC_DESCRIPTION,
                        "enum": codec_names(),
                        "default": policy::CODEC.name()
                    },
                    "backlog": {
                        "description": "Frames `sinkgen relay` holds per declared subscriber that is absent or slow; past it the oldest are dropped, counted, and the subscriber is told how many it missed. Any unix:// or tcp:// relay; not on a nats:// relay (the NATS server keeps its messages).",
                        "type": "integer",
                        "minimum": 1,
                        "maximum": policy::BACKLOG_MAX,
                        "default": policy::BACKLOG
                    },
                    "socket_mode": {
                        "description": "Permission bits `sinkgen relay` gives the socket file of a unix:// relay, as an octal integer (e.g. 0o660 lets the relay's group connect); they must include read and write for the owner. unix:// relays only.",
                        "type": "integer",
                        "minimum": 0,
                        "maximum": 0o777,
                        "default": policy::SOCKET_MODE
                    },
                    "durable": {
                        "description": "A durable relay (nats:// only): sinks publish through JetStream to the relay's stream (created if missing), each message with an id of its producer session and sequence; the server's acknowledgement is the sink's, unacknowledged messages are published again after a reconnect and dropped by the server if already stored. Subscriptions read it through a durable consumer named after the subscribing service.",
                        "type": "boolean",
                        "default": false
                    },
                    "duplicate_window": {
                        "description": "How long the JetStream server remembers message ids of a durable relay, so a resend after a reconnect is not stored twice. Only with `durable = true`.",
                        "$ref": "#/$defs/duration",
                        "default": duration(policy::DUPLICATE_WINDOW)
                    },
                    "storage": {
                        "description": "Where the JetStream server keeps a durable relay's stream: \"file\" (survives a server restart) or \"memory\". Only with `durable = true`.",
                        "enum": ["file", "memory"],
                        "default": "file"
                    },
                    "credentials": {
                        "description": "What the relay's sinks and subscriptions present to the NATS server (nats:// relays only): exactly one of `token`, `user` with `password`, `nkey` (an nkey user seed) or `creds` (a `.creds` file: user JWT and seed). Each secret is named, never written here; it is read at every connect attempt, and a secret that cannot be read or that the server refuses fails the attempt, retried under backoff.",
                        "$ref": "#/$defs/credentials"
                    },
                    "tls": {
                        "description": "Secures the relay's tcp:// or nats:// endpoint with TLS: its sinks and subscriptions connect with TLS, and `sinkgen relay` serves a tcp:// relay with `cert` and `key`. Needs sinkgen-runtime's `tls` feature. Not on unix:// relays.",
                        "$ref": "#/$defs/tls"
                    }
                },
                "allOf": [
                    { "$ref": "#/$defs/codec_needs_message" },
                    {
                        "if": {
                            "required": ["framing"],
                            "properties": { "framing": { "const": "torq" } }
                        },
                        "then": { "required": ["domain"] },
                        "else": { "not": { "required": ["domain"] } }
                    },
                    {
                        "if": {
                            "required": ["endpoint"],
                            "properties": { "endpoint": { "pattern": "^nats://" } }
                        },
                        "then": {
                            "not": {
                                "anyOf": [
                                    { "required": ["backlog"] },
                                    {
                                        "required": ["framing"],
                                        "properties": { "framing": { "const": "sinkgen" } }
                                    }
                                ]
                            }
                        }
                    },
                    {
                        "if": {
                            "required": ["endpoint"],
                            "properties": { "endpoint": { "not": { "pattern": "^unix://" } } }
                        },
                        "then": { "not": { "required": ["socket_mode"] } }
                    },
                    {
                        "if": { "required": ["credentials"] },
                        "then": {
                            "required": ["endpoint"],
                            "properties": { "endpoint": { "pattern": "^nats://" } }
                        }
                    },
                    {
                        "if": {
                            "required": ["endpoint"],
                            "properties": { "endpoint": { "pattern": "^unix://" } }
                        },
                        "then": { "not": { "required": ["tls"] } }
                    },
                    {
                        "if": {
                            "required": ["durable"],
                            "properties": { "durable": { "const": true } }
                        },
                        "then": {
                            "required": ["endpoint"],
                            "properties": { "endpoint": { "pattern": "^nats://" } }
                        },
                        "else": {
                            "not": {
                                "anyOf": [
                                    { "required": ["duplicate_window"] },
                                    { "required": ["storage"] }
                                ]
                            }
                        }
                    }
                ]
            },
            "secret": {
                "description": "Where a secret lives: `{ env = \"VARIABLE\" }` (the variable holds the secret itself) or `{ file = \"path\" }` (read at run time; a relative path is relative to the process's working directory). Never the secret itself.",
                "type": "object",
                "additionalProperties": false,
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {
                    "env": {
                        "description": "An environment variable whose value is the secret.",
                        "type": "string",
                        "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"
                    },
                    "file": {
                        "description": "A file whose contents are the secret.",
                        "type": "string",
                        "pattern": "\\S"
                    }
                }
            },
            "credentials": {
                "description": "NATS credentials: exactly one kind.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "token": {
                        "description": "A token (the server's `authorization { token }`).",
                        "$ref": "#/$defs/secret"
                    },
                    "user": {
                        "description": "The user's name, written here (not a secret); with `password`.",
                        "type": "string",
                        "pattern": "\\S"
                    },
                    "password": {
                        "description": "The user's password; with `user`.",
                        "$ref": "#/$defs/secret"
                    },
                    "nkey": {
                        "description": "An nkey user seed (`SU...`); the server knows its public key.",
                        "$ref": "#/$defs/secret"
                    },
                    "creds": {
                        "description": "A `.creds` file (a user JWT and its nkey seed), for a server in operator mode.",
                        "$ref": "#/$defs/secret"
                    }
                },
                "oneOf": [
                    { "required": ["token"], "not": { "anyOf": [{ "required": ["user"] }, { "required": ["password"] }, { "required": ["nkey"] }, { "required": ["creds"] }] } },
                    { "required": ["user", "password"], "not": { "anyOf": [{ "required": ["token"] }, { "required": ["nkey"] }, { "required": ["creds"] }] } },
                    { "required": ["nkey"], "not": { "anyOf": [{ "required": ["token"] }, { "required": ["user"] }, { "required": ["password"] }, { "required": ["creds"] }] } },
                    { "required": ["creds"], "not": { "anyOf": [{ "required": ["token"] }, { "required": ["user"] }, { "required": ["password"] }, { "required": ["nkey"] }] } }
                ]
            },
            "service": {
                "description": "A service.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "source": {
                        "description": "The service's torq source id, written into the header of every torq frame it sends. Unique among services.",
                        "type": "integer",
                        "minimum": 0,
                        "maximum": 255
                    },
                    "listen": {
                        "description": "Where the service accepts direct connections: generated code has its inbox, which accepts the services with a direct sink to it. Required for a service that other services send to directly; unique among services and relays.",
                        "$ref": "#/$defs/listen_endpoint"
                    },
                    "message": {
                        "description": "The Rust type the service accepts on `listen`, as a path resolved in the crate that uses the sinks (for example \"protocol::Order\"); it must implement `sinkgen_runtime::Encode`. Direct sinks to this service accept only this type. Only with `listen`.",
                        "type": "string",
                        "pattern": TYPE_PATH_PATTERN
                    },
                    "codec": {
                        "description": CODEC_DESCRIPTION,
                        "enum": codec_names(),
                        "default": policy::CODEC.name()
                    },
                    "framing": {
                        "description": "What direct sinks to this service speak: \"sinkgen\", sinkgen's own acknowledged protocol, or \"length-prefixed\", a u32 little-endian length then the payload, without acknowledgements (for a `listen` served by hand-written code). Only with `listen`.",
                        "enum": framing_names(&FramingKind::SERVICE),
                        "default": policy::SERVICE_FRAMING.name()
                    },
                    "subscribes": {
                        "description": "Names of the relays the service reads: generated code has a typed subscription to each (and the topology graph and the reachability warnings use them). A subscribed relay cannot be named `inbox` or `with_endpoints`.",
                        "type": "array",
                        "items": { "$ref": "#/$defs/name" },
                        "uniqueItems": true,
                        "default": []
                    },
                    "sinks": {
                        "description": "The service's sinks: either a list of relay or service names (each becomes a sink of the same name with the default policy), or a table of named sinks.",
                        "type": ["array", "object"],
                        "items": { "$ref": "#/$defs/name" },
                        "uniqueItems": true,
                        "propertyNames": { "$ref": "#/$defs/name" },
                        "additionalProperties": { "$ref": "#/$defs/sink" },
                        "default": []
                    },
                    "tls": {
                        "description": "Secures the service's tcp:// `listen` endpoint with TLS: its inbox serves with `cert` and `key`, and the direct sinks to it connect with TLS; or, with a wss:// `listen`, how the direct sinks to it check its certificate (`ca`, `server_name`) and which they present (`client_cert`, `client_key`). Needs sinkgen-runtime's `tls` feature. Only with a tcp:// or wss:// `listen`.",
                        "$ref": "#/$defs/tls"
                    }
                },
                "dependentRequired": {
                    "message": ["listen"],
                    "framing": ["listen"],
                    "tls": ["listen"]
                },
                "if": {
                    "required": ["listen"],
                    "properties": { "listen": { "pattern": "^(unix|ws)://" } }
                },
                "then": { "not": { "required": ["tls"] } },
                "$ref": "#/$defs/codec_needs_message"
            },
            "tls": {
                "description": "How an endpoint is secured with TLS (rustls). Every certificate and key is a secret, named by variable or file and read when a connection is made, never written here.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "ca": {
                        "description": "PEM bundle of the CAs clients trust (and, with `client_cert`, the CAs the server verifies client certificates against). Absent: the platform's trusted roots.",
                        "$ref": "#/$defs/secret"
                    },
                    "server_name": {
                        "description": "The name clients check the server's certificate against. Absent: the endpoint's host.",
                        "type": "string",
                        "minLength": 1
                    },
                    "cert": {
                        "description": "PEM certificate chain the server of the endpoint presents (`sinkgen relay`, a service's inbox). With `key`.",
                        "$ref": "#/$defs/secret"
                    },
                    "key": {
                        "description": "PEM private key of `cert`. With `cert`.",
                        "$ref": "#/$defs/secret"
                    },
                    "client_cert": {
                        "description": "PEM certificate chain sinks and subscriptions present; when set, the server requires and verifies client certificates against `ca`. With `client_key`.",
                        "$ref": "#/$defs/secret"
                    },
                    "client_key": {
                        "description": "PEM private key of `client_cert`. With `client_cert`.",
                        "$ref": "#/$defs/secret"
                    }
                },
                "dependentRequired": {
                    "cert": ["key"],
                    "key": ["cert"],
                    "client_cert": ["client_key"],
                    "client_key": ["client_cert"]
                }
            },
            "codec_needs_message": {
                "description": "A codec other than \"raw\" encodes a declared `message` type: it needs one.",
                "if": {
                    "required": ["codec"],
                    "properties": { "codec": { "not": { "const": "raw" } } }
                },
                "then": { "required": ["message"] }
            },
            "sink": {
                "description": "One named sink: exactly one of `relay`, `service`, `endpoint`, `broadcast`, `round_robin` or `failover`, plus, for the first three (leaf sinks), optional policy keys that override `[defaults]`.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "relay": {
                        "description": "Send to the named relay.",
                        "$ref": "#/$defs/name"
                    },
                    "service": {
                        "description": "Send directly to the named service, at its `listen` endpoint (which it must have). A service cannot send directly to itself.",
                        "$ref": "#/$defs/name"
                    },
                    "endpoint": {
                        "description": "Send to an endpoint outside the registry.",
                        "$ref": "#/$defs/sink_endpoint"
                    },
                    "broadcast": {
                        "description": "Send every frame to every member (sibling sink names); a slow or dead member stalls no other.",
                        "$ref": "#/$defs/members"
                    },
                    "round_robin": {
                        "description": "Send each frame to the next ready member (sibling sink names).",
                        "$ref": "#/$defs/members"
                    },
                    "failover": {
                        "description": "Send to the first healthy member, in order (sibling sink names); sticky, fails back once the preferred member has stayed healthy.",
                        "$ref": "#/$defs/members"
                    },
                    "connect_timeout": { "$ref": "#/$defs/policy/properties/connect_timeout" },
                    "send_timeout": { "$ref": "#/$defs/policy/properties/send_timeout" },
                    "queue": { "$ref": "#/$defs/policy/properties/queue" },
                    "backoff": { "$ref": "#/$defs/policy/properties/backoff" },
                    "when_down": { "$ref": "#/$defs/policy/properties/when_down" },
                    "max_frame": { "$ref": "#/$defs/policy/properties/max_frame" }
                },
                "oneOf": [
                    { "required": ["relay"] },
                    { "required": ["service"] },
                    { "required": ["endpoint"] },
                    { "required": ["broadcast"], "$ref": "#/$defs/no_policy" },
                    { "required": ["round_robin"], "$ref": "#/$defs/no_policy" },
                    { "required": ["failover"], "$ref": "#/$defs/no_policy" }
                ]
            },
            "no_policy": {
                "description": "Composite sinks take no policy keys: each member keeps its own.",
                "not": {
                    "anyOf": [
                        { "required": ["connect_timeout"] },
                        { "required": ["send_timeout"] },
                        { "required": ["queue"] },
                        { "required": ["backoff"] },
                        { "required": ["when_down"] },
                        { "required": ["max_frame"] }
                    ]
                }
            },
            "members": {
                "description": "Names of sibling sinks of the same service: not empty, no duplicates, no cycles through nested composites, never the composite itself. All members must carry the same message type.",
                "type": "array",
                "items": { "$ref": "#/$defs/name" },
                "minItems": 1,
                "uniqueItems": true
            }
        }
    })
}

/// The schema as pretty-printed JSON with a trailing newline: the exact content
/// of `services.schema.json` and of `sinkgen schema`'s output.
#[must_use]
pub fn to_pretty_string() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).expect("a JSON value always serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_property_is_described() {
        fn walk(v: &Value, at: &str, missing: &mut Vec<String>) {
            if let Some(props) = v.get("properties").and_then(Value::as_object) {
                for (k, p) in props {
                    let described = p.get("description").is_some()
                        || p.get("$ref")
                            .and_then(Value::as_str)
                            .is_some_and(|r| r.contains("/properties/"));
                    if !described {
                        missing.push(format!("{at}/{k}"));
                    }
                    walk(p, &format!("{at}/{k}"), missing);
                }
            }
            if let Some(defs) = v.get("$defs").and_then(Value::as_object) {
                for (k, d) in defs {
                    walk(d, &format!("{at}/$defs/{k}"), missing);
                }
            }
        }
        let mut missing = Vec::new();
        walk(&schema(), "", &mut missing);
        assert!(missing.is_empty(), "undescribed keys: {missing:?}");
    }

    #[test]
    fn defaults_match_the_model() {
        let s = schema();
        let p = &s["$defs"]["policy"]["properties"];
        let d = sinkgen::model::Policy::default();
        assert_eq!(p["queue"]["default"], d.queue);
        assert_eq!(
            p["connect_timeout"]["default"],
            format!("{}ms", d.connect_timeout.as_millis())
        );
        assert_eq!(
            p["send_timeout"]["default"],
            format!("{}s", d.send_timeout.as_secs())
        );
        assert_eq!(
            p["backoff"]["properties"]["initial"]["default"],
            format!("{}ms", d.backoff_initial.as_millis())
        );
        assert_eq!(
            p["backoff"]["properties"]["max"]["default"],
            format!("{}s", d.backoff_max.as_secs())
        );
    }
}
