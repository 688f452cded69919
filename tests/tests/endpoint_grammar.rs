//! One endpoint grammar: the front end (an endpoint in `services.toml`) and the
//! runtime (a `SINKGEN_<SINK>_ENDPOINT` override, a `SinkBuilder`) accept exactly the
//! same endpoints, and refuse the others for the same reason. Checked over every
//! endpoint written in the fixtures, plus probes of the corners of the grammar.

use std::path::Path;

use sinkgen_runtime::{Bytes, SinkBuilder};

/// Endpoints at the corners of the grammar (the ones probed in issue 10 among them).
const PROBES: &[&str] = &[
    "tcp://user@host:80",
    "tcp://exa mple:80",
    "tcp://[nope]:80",
    "tcp://[::1]x:80",
    "tcp://h:+80",
    "tcp://h:080",
    "tcp://h:80/x",
    "tcp://h:80?x",
    "tcp://a..b:80",
    "tcp://-h:80",
    "tcp://h_1:80",
    "tcp://hé:80",
    "tcp://999.999.999.999:80",
    "tcp://1.2.3:80",
    "tcp://127.1:80",
    "tcp://127.0.0.01:80",
    "tcp://LOCALHOST:80",
    "tcp://[0:0::1]:80",
    "tcp://[::ffff:127.0.0.1]:80",
    "tcp://[fe80::1%eth0]:80",
    "unix://",
    "unix://relative.sock",
    "unix:///tmp/a\u{0}b",
    "unix:///tmp/ok.sock",
    "nats://user:pw@h:4222/x",
    "nats://h:4222/a..b",
    "nats://h:4222/a b",
    "nats://h:4222/a.*",
    "nats://h/x",
    "nats://Nats.Local:4222/market.data",
    "ws://h:80",
    "ws://H:80/a/b%20c",
    "wss://[::1]:443/x",
    "ws://h/x",
    "ws://h:80/x?token=1",
    "wss://h:80/#x",
    "ws://u:p@h:80/",
    "ws://h:80/a b",
    "TCP://h:80",
    "h:80",
    "",
];

/// What the front end says about `endpoint` as a relay's endpoint (as an endpoint
/// sink's for WebSocket endpoints, which relays refuse): `None` when it is accepted,
/// else the message after "invalid `endpoint` of <owner>: ".
fn front_end(endpoint: &str) -> Option<String> {
    let escaped = toml_escape(endpoint);
    let (file, prefix) = if endpoint.starts_with("ws://") || endpoint.starts_with("wss://") {
        (
            format!("[services.s.sinks]\nk = {{ endpoint = \"{escaped}\" }}\n"),
            "invalid `endpoint` of sink `k` of service `s`: ",
        )
    } else {
        (
            format!("[relays.r]\nendpoint = \"{escaped}\"\n"),
            "invalid `endpoint` of relay `r`: ",
        )
    };
    match sinkgen::load_str(Path::new("probe.toml"), &file) {
        Ok(_) => None,
        Err(err) => {
            let first = err.iter().find(|d| d.is_error()).expect("an error");
            let message = first
                .message
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{endpoint:?}: unexpected error {}", first.message));
            Some(message.to_owned())
        }
    }
}

/// What the runtime says: `None` when a sink builds, else the builder's error.
fn runtime(endpoint: &str) -> Option<String> {
    SinkBuilder::new(endpoint)
        .relay::<Bytes>()
        .err()
        .map(|e| e.to_string())
}

fn toml_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The endpoints written in a fixture (`endpoint = "..."` and `listen = "..."`
/// lines with a plain basic string).
fn written_endpoints(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            if !matches!(key.trim(), "endpoint" | "listen") {
                return None;
            }
            let inner = value.trim().strip_prefix('"')?.strip_suffix('"')?;
            (!inner.contains('\\')).then(|| inner.to_owned())
        })
        .collect()
}

fn fixture_endpoints() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    for dir in ["ok", "err"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("fixtures")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read fixture");
            out.extend(written_endpoints(&text));
        }
    }
    out
}

#[test]
fn front_end_and_runtime_accept_the_same_endpoints() {
    let mut endpoints = fixture_endpoints();
    assert!(
        endpoints.len() >= 40,
        "only {} endpoints found",
        endpoints.len()
    );
    endpoints.extend(PROBES.iter().map(|s| (*s).to_owned()));
    let (mut accepted, mut refused) = (0, 0);
    for endpoint in &endpoints {
        let (front, run) = (front_end(endpoint), runtime(endpoint));
        match (&front, &run) {
            (None, None) => accepted += 1,
            (Some(message), Some(error)) => {
                refused += 1;
                assert!(
                    error.contains(message.as_str()),
                    "{endpoint:?}: the runtime says {error:?}, the front end {message:?}"
                );
            }
            // Without the `nats` feature the runtime refuses every NATS endpoint the
            // grammar accepts, and says why.
            (None, Some(error)) if error.contains("enable the `nats` feature") => accepted += 1,
            // So does it refuse WebSocket endpoints without the `ws` feature.
            (None, Some(error)) if error.contains("enable the `ws` feature") => accepted += 1,
            _ => panic!("{endpoint:?}: the front end says {front:?}, the runtime {run:?}"),
        }
    }
    assert!(
        accepted >= 10 && refused >= 20,
        "{accepted} accepted, {refused} refused"
    );
}
