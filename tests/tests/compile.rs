//! Generated code compiles under `#![deny(warnings, missing_docs)]` for inputs that push
//! it: strings that are hostile to doc comments, and services too large for a naive
//! shape of generated code.
//!
//! Each case is a tiny crate written to a temporary directory that includes what the
//! build script would generate (and, where it matters, derives the same service), built
//! with `cargo check` in trybuild's target directory so that the runtime compiled for
//! the ui tests is reused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tests_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn workspace() -> PathBuf {
    let tests = tests_dir();
    tests
        .parent()
        .map_or_else(|| tests.to_path_buf(), Path::to_path_buf)
}

fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`; trybuild builds in `<target>/tests/trybuild`.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("tests").join("trybuild")
}

/// A fresh library crate `name` with these files; returns its directory.
fn probe(name: &str, files: &[(&str, &str)]) -> PathBuf {
    probe_with(name, &[], "", files)
}

/// [`probe`] with runtime `features` and more `[dependencies]` lines.
fn probe_with(name: &str, features: &[&str], deps: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("compile-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let ws = workspace();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nsinkgen-runtime = {{ path = {:?}, features = {features:?} }}\n{deps}\n\
         [workspace]\n",
        ws.join("runtime")
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    // The workspace's lock file pins the same versions and lets cargo work offline.
    std::fs::copy(ws.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    for (path, text) in files {
        std::fs::write(dir.join(path), text).unwrap();
    }
    dir
}

fn cargo(dir: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .args(args)
        .args(["--offline", "--message-format=short"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("RUSTDOCFLAGS", "-D warnings")
        .env_remove("SINKGEN_CONFIG")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap()
}

fn assert_compiles(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} should compile without warnings:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn generate(config: &Path, service: &str) -> String {
    sinkgen::Builder::new()
        .config(config)
        .service(service)
        .generate()
        .unwrap_or_else(|e| panic!("{} / {service} should generate:\n{e}", config.display()))
}

/// Endpoints with a carriage return, bidirectional-text controls, backticks, markdown
/// and HTML (`fixtures/ok/doc_escapes.toml`): the generated docs escape them, so both
/// front ends compile (rustc rejects a bare CR in a doc comment and denies
/// text-direction codepoints).
#[test]
fn endpoints_hostile_to_doc_comments_compile() {
    let config = tests_dir().join("fixtures/ok/doc_escapes.toml");
    let code = generate(&config, "producer");
    let lib = format!(
        "#![deny(warnings, missing_docs)]\n//! Probe.\n\n\
         /// The build-script front end.\n\
         pub mod generated {{\n    include!(\"sinks.rs\");\n}}\n\n\
         /// The derive front end.\n\
         #[derive(sinkgen_runtime::Sinks)]\n\
         #[sinks(config = {:?}, service = \"producer\")]\n\
         pub struct Derived;\n\n\
         /// Both, used.\n\
         pub fn endpoints() -> [&'static str; 2] {{\n    \
             let _ = Derived::ticks();\n    \
             [generated::Sinks::markup().endpoint(), Derived::bidi().endpoint()]\n}}\n",
        config.to_string_lossy()
    );
    let dir = probe(
        "sinkgen_compile_doc_escapes",
        &[("src/lib.rs", &lib), ("src/sinks.rs", &code)],
    );
    assert_compiles(&cargo(&dir, &["check"]), "docs of hostile endpoints");

    // rustdoc (its lints denied) shows the strings as text: no link, no bold.
    assert_compiles(&cargo(&dir, &["doc", "--no-deps"]), "rustdoc");
    let page = target_dir().join("doc/sinkgen_compile_doc_escapes/generated/struct.Sinks.html");
    let html = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"), "{html}");
    assert!(!html.contains("href=\"http://x\""), "{html}");
    assert!(html.contains("a\\rb.sock"), "{html}");
    assert!(html.contains("evil\\u{202e}gnp.sock"), "{html}");
}

/// The keys of the sinkgen protocol compile cleanly on both front ends
/// (`fixtures/ok/service_messages.toml`): a relay with `framing = "sinkgen"`, and
/// direct sinks typed by a service's `message`, one speaking sinkgen and one
/// length-prefixed, under composites. Checked with clippy, warnings denied.
#[test]
fn protocol_keys_compile_under_clippy() {
    let config = tests_dir().join("fixtures/ok/service_messages.toml");
    let lib = format!(
        "#![deny(warnings, missing_docs)]\n//! Probe.\n\n\
         /// Messages.\n\
         pub mod protocol {{\n    \
             /// An order.\n    \
             pub struct Order(pub u64);\n\n    \
             impl sinkgen_runtime::Encode for Order {{\n        \
                 fn encoded_len(&self) -> usize {{\n            8\n        }}\n        \
                 fn encode<B: sinkgen_runtime::bytes::BufMut>(&self, buf: &mut B) {{\n            \
                     buf.put_u64_le(self.0);\n        }}\n    }}\n}}\n\n\
         /// The build-script front end.\n\
         pub mod generated {{\n    use crate::protocol;\n    include!(\"sinks.rs\");\n}}\n\n\
         /// The derive front end.\n\
         #[derive(sinkgen_runtime::Sinks)]\n\
         #[sinks(config = {:?}, service = \"strategy\")]\n\
         pub struct Derived;\n\n\
         /// Both, used.\n\
         pub async fn send() {{\n    \
             let _ = generated::Sinks::executor().send(protocol::Order(1)).await;\n    \
             let _ = generated::Sinks::book().endpoint();\n    \
             let _ = Derived::everywhere().send(protocol::Order(2)).await;\n}}\n",
        config.to_string_lossy()
    );
    let code = generate(&config, "strategy");
    let dir = probe(
        "sinkgen_compile_protocol_keys",
        &[("src/lib.rs", &lib), ("src/sinks.rs", &code)],
    );
    assert_compiles(
        &cargo(&dir, &["clippy"]),
        "sinkgen framing and typed direct sinks",
    );
}

/// The receiving half compiles cleanly on both front ends
/// (`fixtures/ok/service_messages.toml`): `monitor` subscribes to a relay typed
/// `protocol::Order`, `execution` listens for `protocol::Order` from its senders. The
/// build-script path generates `Subscriptions`, the derive on `Derived` generates
/// the type its `receivers` key names (`DerivedSubscriptions`); both are used, with
/// `with_endpoints`. Relays named `type_` and `a1_b2__c3` (`fixtures/ok/names.toml`)
/// need their lint allows on the receivers too. Checked with clippy, warnings and
/// missing docs denied.
#[test]
fn receivers_compile_under_clippy() {
    let config = tests_dir().join("fixtures/ok/service_messages.toml");
    let lib = format!(
        "#![deny(warnings, missing_docs)]\n//! Probe.\n\n\
         /// Messages.\n\
         pub mod protocol {{\n    \
             /// An order.\n    \
             pub struct Order(pub u64);\n\n    \
             impl sinkgen_runtime::Decode for Order {{\n        \
                 fn decode(\n            bytes: sinkgen_runtime::Bytes,\n        \
                 ) -> Result<Self, sinkgen_runtime::DecodeError> {{\n            \
                     let raw: [u8; 8] = bytes[..]\n                .try_into()\n                \
                         .map_err(|_| sinkgen_runtime::DecodeError::new(\"not 8 bytes\"))?;\n            \
                     Ok(Order(u64::from_le_bytes(raw)))\n        }}\n    }}\n}}\n\n\
         /// The build-script front end (service `monitor`).\n\
         pub mod generated {{\n    use crate::protocol;\n    include!(\"sinks.rs\");\n}}\n\n\
         /// Relays named `type_` and `a1_b2__c3` (`fixtures/ok/names.toml`).\n\
         pub mod names {{\n    include!(\"names.rs\");\n}}\n\n\
         /// The derive front end (service `execution`).\n\
         #[derive(sinkgen_runtime::Sinks)]\n\
         #[sinks(config = {:?}, service = \"execution\", receivers = \"DerivedSubscriptions\")]\n\
         pub struct Derived;\n\n\
         /// Both, used.\n\
         pub async fn receive() -> Option<u64> {{\n    \
             let mut orders: sinkgen_runtime::Subscription<protocol::Order> =\n        \
                 generated::Subscriptions::orders();\n    \
             let mut inbox: sinkgen_runtime::Inbox<protocol::Order> = DerivedSubscriptions::inbox();\n    \
             let elsewhere = DerivedSubscriptions::with_endpoints(DerivedSubscriptionsEndpoints {{\n        \
                 inbox: \"unix:///tmp/elsewhere.sock\".into(),\n    \
             }})\n    .inbox();\n    \
             let _ = elsewhere.status();\n    \
             let _ = names::Subscriptions::a1_b2__c3().status();\n    \
             let _ = orders.recv().await;\n    \
             match inbox.recv().await? {{\n        \
                 sinkgen_runtime::Received::Message {{ message, .. }} => Some(message.0),\n        \
                 _ => None,\n    }}\n}}\n",
        config.to_string_lossy()
    );
    let code = generate(&config, "monitor");
    let names = generate(&tests_dir().join("fixtures/ok/names.toml"), "reader");
    let dir = probe(
        "sinkgen_compile_receivers",
        &[
            ("src/lib.rs", &lib),
            ("src/sinks.rs", &code),
            ("src/names.rs", &names),
        ],
    );
    assert_compiles(&cargo(&dir, &["clippy"]), "typed subscriptions and inboxes");
}

/// A crate that has the runtime only under another name (`rt = { package =
/// "sinkgen-runtime" }`) compiles both front ends' code when it says so:
/// `Builder::runtime_path("::rt")` and `#[sinks(crate = "::rt")]`. No item is named
/// through `::sinkgen_runtime`, which does not resolve there (sinks, composites,
/// subscriptions, the inbox, overrides; clippy, warnings and missing docs denied).
#[test]
fn generated_code_names_the_runtime_by_the_given_path() {
    let config = tests_dir().join("fixtures/ok/service_messages.toml");
    let lib = format!(
        "#![deny(warnings, missing_docs)]\n//! Probe: the runtime is the dependency `rt`.\n\n\
         /// Messages.\n\
         pub mod protocol {{\n    \
             /// An order.\n    \
             pub struct Order(pub u64);\n\n    \
             impl rt::Decode for Order {{\n        \
                 fn decode(bytes: rt::Bytes) -> Result<Self, rt::DecodeError> {{\n            \
                     let raw: [u8; 8] = bytes[..]\n                .try_into()\n                \
                         .map_err(|_| rt::DecodeError::new(\"not 8 bytes\"))?;\n            \
                     Ok(Order(u64::from_le_bytes(raw)))\n        }}\n    }}\n}}\n\n\
         /// The build-script front end (service `monitor`).\n\
         pub mod generated {{\n    use crate::protocol;\n    include!(\"sinks.rs\");\n}}\n\n\
         /// The derive front end (service `execution`).\n\
         #[derive(rt::Sinks)]\n\
         #[sinks(config = {:?}, service = \"execution\", receivers = \"DerivedSubscriptions\", crate = \"::rt\")]\n\
         pub struct Derived;\n\n\
         /// Both, used.\n\
         pub fn used() {{\n    \
             let _: rt::Subscription<protocol::Order> = generated::Subscriptions::orders();\n    \
             let _: rt::Inbox<protocol::Order> = DerivedSubscriptions::inbox();\n}}\n",
        config.to_string_lossy()
    );
    let code = sinkgen::Builder::new()
        .config(&config)
        .service("monitor")
        .runtime_path("::rt")
        .generate()
        .unwrap_or_else(|e| panic!("monitor should generate:\n{e}"));
    assert!(!code.contains("sinkgen_runtime"), "{code}");
    let dir = probe(
        "sinkgen_compile_runtime_path",
        &[("src/lib.rs", &lib), ("src/sinks.rs", &code)],
    );
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let renamed = manifest.replace(
        "sinkgen-runtime = {",
        "rt = { package = \"sinkgen-runtime\",",
    );
    assert_ne!(manifest, renamed);
    std::fs::write(dir.join("Cargo.toml"), renamed).unwrap();
    assert_compiles(&cargo(&dir, &["clippy"]), "code naming the runtime `rt`");
}

/// A `runtime_path` that is not a Rust path is an error that says so.
#[test]
fn a_runtime_path_that_is_not_a_path_is_an_error() {
    let config = tests_dir().join("fixtures/ok/service_messages.toml");
    let err = sinkgen::Builder::new()
        .config(&config)
        .service("monitor")
        .runtime_path("::rt::")
        .generate()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("error: `runtime_path` is not a Rust path: `::rt::`"),
        "{err}"
    );
}

/// Generated code for every codec compiles with the user's own types and no
/// hand-written `Encode`/`Decode` (`fixtures/ok/codecs.toml`): a serde struct on a
/// postcard relay (sent through a relay sink and a failover composite, received by a
/// subscription), a `#[repr(C)]` zerocopy struct on a torq relay, a prost message sent
/// to a service's inbox. Both front ends, the runtime's codec features on, checked with
/// clippy, warnings and missing docs denied.
#[test]
fn codecs_compile_under_clippy_with_users_types() {
    let config = tests_dir().join("fixtures/ok/codecs.toml");
    let lib = format!(
        "#![deny(warnings, missing_docs)]\n//! Probe.\n\n\
         /// Messages, with no `Encode` or `Decode` of their own.\n\
         pub mod protocol {{\n    \
             /// A quote (serde).\n    \
             #[derive(serde::Serialize, serde::Deserialize)]\n    \
             pub struct Quote {{\n        /// Bid.\n        pub bid: i64,\n    }}\n\n    \
             /// A tick (plain bytes).\n    \
             #[derive(zerocopy::IntoBytes, zerocopy::FromBytes, zerocopy::KnownLayout, zerocopy::Immutable)]\n    \
             #[repr(C)]\n    \
             pub struct Tick {{\n        /// Price.\n        pub price: i64,\n    }}\n\n    \
             /// An order (protobuf).\n    \
             #[derive(Clone, PartialEq, prost::Message)]\n    \
             pub struct Order {{\n        /// Id.\n        #[prost(uint64, tag = \"1\")]\n        pub id: u64,\n    }}\n\
         }}\n\n\
         /// Sinks of `feed`.\n\
         pub mod feed {{\n    use crate::protocol;\n    include!(\"feed.rs\");\n}}\n\n\
         /// Sinks of `fanout`, a composite.\n\
         pub mod fanout {{\n    use crate::protocol;\n    include!(\"fanout.rs\");\n}}\n\n\
         /// Receivers of `reader`.\n\
         pub mod reader {{\n    use crate::protocol;\n    include!(\"reader.rs\");\n}}\n\n\
         /// The inbox of `execution`, by the derive front end.\n\
         #[derive(sinkgen_runtime::Sinks)]\n\
         #[sinks(config = {:?}, service = \"execution\", receivers = \"Execution\")]\n\
         pub struct Derived;\n\n\
         /// All of them, used.\n\
         pub async fn run() -> Option<u64> {{\n    \
             let _ = feed::Sinks::quotes().send(protocol::Quote {{ bid: 1 }}).await;\n    \
             let _ = feed::Sinks::ticks().try_send(protocol::Tick {{ price: 2 }});\n    \
             let _ = feed::Sinks::execution().send(protocol::Order {{ id: 3 }}).await;\n    \
             let _ = fanout::Sinks::quotes().send(protocol::Quote {{ bid: 4 }}).await;\n    \
             let mut quotes = reader::Subscriptions::quotes();\n    \
             let mut ticks = reader::Subscriptions::ticks();\n    \
             let mut inbox = Execution::inbox();\n    \
             if let Some(sinkgen_runtime::Received::Message {{ message, .. }}) = quotes.recv().await {{\n        \
                 return u64::try_from(message.bid).ok();\n    }}\n    \
             if let Some(sinkgen_runtime::Received::Message {{ message, .. }}) = ticks.recv().await {{\n        \
                 return u64::try_from(message.price).ok();\n    }}\n    \
             match inbox.recv().await? {{\n        \
                 sinkgen_runtime::Received::Message {{ message, .. }} => Some(message.id),\n        \
                 _ => None,\n    }}\n}}\n",
        config.to_string_lossy()
    );
    let files: Vec<(String, String)> = ["feed", "fanout", "reader"]
        .iter()
        .map(|s| (format!("src/{s}.rs"), generate(&config, s)))
        .collect();
    let mut all = vec![("src/lib.rs", lib.as_str())];
    all.extend(files.iter().map(|(p, c)| (p.as_str(), c.as_str())));
    let dir = probe_with(
        "sinkgen_compile_codecs",
        &["postcard", "prost", "zerocopy"],
        "serde = { version = \"1\", features = [\"derive\"] }\n\
         prost = \"0.14\"\n\
         zerocopy = { version = \"0.8\", features = [\"derive\"] }\n",
        &all,
    );
    assert_compiles(&cargo(&dir, &["clippy"]), "generated code for every codec");
}

/// WebSocket sinks (`fixtures/ok/websocket.toml`: a direct sink to a service that
/// listens on `ws://`, endpoint sinks to `ws://` and `wss://`, a composite over them;
/// `fixtures/ok/wss.toml`: a direct sink to a service that listens on `wss://` with a
/// `tls` table) compile with the runtime's `ws` and `tls` features on both front
/// ends, under clippy with warnings and missing docs denied; the services that listen
/// on WebSocket get no inbox (they serve it themselves). Without `tls`, a `wss://`
/// sink is a compile error naming the sink and the feature.
#[test]
fn websocket_sinks_compile_under_clippy() {
    let config = tests_dir().join("fixtures/ok/websocket.toml");
    let producer = generate(&config, "producer");
    let gateway = generate(&config, "feed_gateway");
    assert!(!gateway.contains("inbox"), "{gateway}");
    let wss = tests_dir().join("fixtures/ok/wss.toml");
    let secured = generate(&wss, "producer");
    let secure_gateway = generate(&wss, "feed_gateway");
    assert!(!secure_gateway.contains("inbox"), "{secure_gateway}");
    let lib = format!(
        "#![deny(warnings, missing_docs)]\n//! Probe.\n\n\
         /// The build-script front end.\n\
         pub mod generated {{\n    include!(\"sinks.rs\");\n}}\n\n\
         /// The service with a WebSocket `listen`.\n\
         pub mod gateway {{\n    include!(\"gateway.rs\");\n}}\n\n\
         /// Direct sinks to a service that listens on `wss://`.\n\
         pub mod secured {{\n    include!(\"secured.rs\");\n}}\n\n\
         /// The service with a `wss://` `listen`.\n\
         pub mod secure_gateway {{\n    include!(\"secure_gateway.rs\");\n}}\n\n\
         /// The derive front end.\n\
         #[derive(sinkgen_runtime::Sinks)]\n\
         #[sinks(config = {:?}, service = \"producer\")]\n\
         pub struct Derived;\n\n\
         /// The derive front end, over TLS.\n\
         #[derive(sinkgen_runtime::Sinks)]\n\
         #[sinks(config = {:?}, service = \"producer\")]\n\
         pub struct DerivedSecure;\n\n\
         /// Both, used.\n\
         pub async fn send() {{\n    \
             let _ = generated::Sinks::browser().send(sinkgen_runtime::Bytes::from_static(b\"x\")).await;\n    \
             let _ = Derived::secure().try_send(sinkgen_runtime::Bytes::from_static(b\"y\"));\n    \
             let _ = Derived::fanout().send(sinkgen_runtime::Bytes::from_static(b\"z\")).await;\n    \
             let _ = secured::Sinks::gateway().send(sinkgen_runtime::Bytes::from_static(b\"w\")).await;\n    \
             let _ = DerivedSecure::dashboard().status();\n}}\n",
        config.to_string_lossy(),
        wss.to_string_lossy()
    );
    let files = [
        ("src/lib.rs", lib.as_str()),
        ("src/sinks.rs", producer.as_str()),
        ("src/gateway.rs", gateway.as_str()),
        ("src/secured.rs", secured.as_str()),
        ("src/secure_gateway.rs", secure_gateway.as_str()),
    ];
    let dir = probe_with("sinkgen_compile_websocket", &["ws", "tls"], "", &files);
    assert_compiles(
        &cargo(&dir, &["clippy"]),
        "generated code for WebSocket sinks",
    );

    let dir = probe_with("sinkgen_compile_websocket_no_tls", &["ws"], "", &files);
    let output = cargo(&dir, &["check"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "wss:// compiled without the tls feature"
    );
    for sink in [
        "sink `secure` sends to the WebSocket server at `wss://dashboard.example:443/ingest/v1` over TLS",
        "sink `gateway` sends to the WebSocket server at `wss://127.0.0.1:7601/feed` over TLS",
    ] {
        assert!(
            stderr.contains(sink) && stderr.contains("enable its `tls` feature"),
            "{sink}:\n{stderr}"
        );
    }
}

/// NATS `credentials` compile cleanly on both front ends
/// (`fixtures/ok/credentials.toml`): the sinks and subscriptions of relays with a
/// token, a user and password, an nkey (on a durable relay) and a `.creds` file carry
/// them in their constant specs. Checked with clippy and the runtime's `nats` feature,
/// warnings and missing docs denied.
#[test]
fn credentials_compile_under_clippy() {
    let config = tests_dir().join("fixtures/ok/credentials.toml");
    let lib = format!(
        "#![deny(warnings, missing_docs)]\n//! Probe.\n\n\
         /// The build-script front end (service `ledger`).\n\
         pub mod generated {{\n    include!(\"sinks.rs\");\n}}\n\n\
         /// The derive front end (service `desk`).\n\
         #[derive(sinkgen_runtime::Sinks)]\n\
         #[sinks(config = {:?}, service = \"desk\")]\n\
         pub struct Derived;\n\n\
         /// Both, used.\n\
         pub async fn run() {{\n    \
             let _ = Derived::orders().send(sinkgen_runtime::Bytes::from_static(b\"x\")).await;\n    \
             let _ = Derived::quotes().status();\n    \
             let mut fills: sinkgen_runtime::Subscription<sinkgen_runtime::Bytes> =\n        \
                 generated::Subscriptions::fills();\n    \
             let _ = fills.recv().await;\n}}\n",
        config.to_string_lossy()
    );
    let code = generate(&config, "ledger");
    let dir = probe_with(
        "sinkgen_compile_credentials",
        &["nats"],
        "",
        &[("src/lib.rs", &lib), ("src/sinks.rs", &code)],
    );
    assert_compiles(&cargo(&dir, &["clippy"]), "relays with NATS credentials");
}

/// Generated code for `tls` tables (`fixtures/ok/tls.toml`) compiles under clippy on
/// both front ends with the runtime's `tls` feature, and without it fails with an
/// error naming the sink and the feature to enable.
#[test]
fn tls_tables_compile_with_the_feature_and_name_it_without() {
    let config = tests_dir().join("fixtures/ok/tls.toml");
    let lib = format!(
        "#![deny(warnings, missing_docs)]\n//! Probe.\n\n\
         /// The build-script front end (service `desk`).\n\
         pub mod generated {{\n    include!(\"sinks.rs\");\n}}\n\n\
         /// Service `execution`: an inbox served over TLS.\n\
         pub mod execution {{\n    include!(\"execution.rs\");\n}}\n\n\
         /// The derive front end (service `ledger`).\n\
         #[derive(sinkgen_runtime::Sinks)]\n\
         #[sinks(config = {:?}, service = \"ledger\", receivers = \"DerivedSubscriptions\")]\n\
         pub struct Derived;\n\n\
         /// Both, used.\n\
         pub fn build() -> usize {{\n    \
             let quotes: sinkgen_runtime::Subscription<sinkgen_runtime::Bytes> =\n        \
                 DerivedSubscriptions::quotes();\n    \
             let _ = quotes.status();\n    \
             let inbox: sinkgen_runtime::Inbox<sinkgen_runtime::Bytes> =\n        \
                 execution::Subscriptions::inbox();\n    \
             let _ = inbox.status();\n    \
             generated::Sinks::quotes().status().queue_depth\n}}\n",
        config.to_string_lossy()
    );
    let code = generate(&config, "desk");
    let execution = generate(&config, "execution");
    let files = [
        ("src/lib.rs", lib.as_str()),
        ("src/sinks.rs", code.as_str()),
        ("src/execution.rs", execution.as_str()),
    ];
    let dir = probe_with("sinkgen_compile_tls", &["tls", "nats"], "", &files);
    assert_compiles(
        &cargo(&dir, &["clippy"]),
        "sinks and subscriptions with tls",
    );

    let dir = probe_with("sinkgen_compile_tls_off", &["nats"], "", &files);
    let output = cargo(&dir, &["check"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "compiled without the tls feature");
    assert!(
        stderr.contains("sink `quotes` connects to `tcp://relay.internal:7000` with TLS")
            && stderr.contains("enable its `tls` feature"),
        "{stderr}"
    );
    assert!(
        stderr.contains("subscription `quotes` of service `ledger` connects to"),
        "{stderr}"
    );
}
