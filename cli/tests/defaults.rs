//! The policy defaults are defined once, in `sinkgen_config::policy`; the README's
//! table of `[defaults]` keys and the JSON Schema state them too. This test fails
//! when any of the three disagree.

use sinkgen_config::{DurationLiteral, policy};

/// The `default` column of the README row for `key`, backticks removed.
fn readme_default(readme: &str, key: &str) -> String {
    readme_default_in(readme, "### `[defaults]`", key)
}

/// The `default` column of the README row for `key` in the table under `section`.
fn readme_default_in(readme: &str, section: &str, key: &str) -> String {
    let prefix = format!("| `{key}` |");
    let row = readme
        .lines()
        .skip_while(|l| !l.starts_with(section))
        .take_while(|l| !l.starts_with("## "))
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("README.md has no table row for `{key}`"));
    let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
    assert!(
        cells.len() >= 3,
        "README row for `{key}` has no default column: {row}"
    );
    cells[2].trim_matches('`').to_owned()
}

fn literal(d: std::time::Duration) -> String {
    format!("\"{}\"", DurationLiteral(d))
}

#[test]
fn readme_schema_and_code_state_the_same_policy_defaults() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md at the repository root");
    let schema = sinkgen_cli::schema::schema();
    let properties = &schema["$defs"]["policy"]["properties"];
    let backoff = format!(
        "{{ initial = {}, max = {} }}",
        literal(policy::BACKOFF_INITIAL),
        literal(policy::BACKOFF_MAX)
    );
    let expected = [
        ("connect_timeout", literal(policy::CONNECT_TIMEOUT)),
        ("send_timeout", literal(policy::SEND_TIMEOUT)),
        ("queue", policy::QUEUE.to_string()),
        ("when_down", format!("\"{}\"", policy::WHEN_DOWN.name())),
        ("max_frame", policy::MAX_FRAME.to_string()),
        ("backoff", backoff),
    ];
    for (key, code) in &expected {
        assert_eq!(
            &readme_default(&readme, key),
            code,
            "README.md default of `{key}`"
        );
    }

    let schema_literal = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    for (key, code) in &expected[..5] {
        assert_eq!(
            &schema_literal(&properties[key]["default"]),
            code,
            "schema default of `{key}`"
        );
    }
    let backoff = &properties["backoff"];
    for (key, code) in [
        ("initial", literal(policy::BACKOFF_INITIAL)),
        ("max", literal(policy::BACKOFF_MAX)),
    ] {
        assert_eq!(
            schema_literal(&backoff["properties"][key]["default"]),
            code,
            "schema default of `backoff.{key}`"
        );
        assert_eq!(
            schema_literal(&backoff["default"][key]),
            code,
            "schema default of `backoff`"
        );
    }
}

/// The relay and service defaults (`framing`, `backlog`) live in one place too.
#[test]
fn readme_schema_and_code_state_the_same_relay_and_service_defaults() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md at the repository root");
    let schema = sinkgen_cli::schema::schema();
    let relay = &schema["$defs"]["relay"]["properties"];
    let framing = format!("\"{}\"", policy::RELAY_FRAMING.name());
    assert_eq!(
        readme_default_in(&readme, "### `[relays.<name>]`", "framing"),
        framing,
        "README.md default of relay `framing`"
    );
    assert_eq!(
        relay["framing"]["default"],
        policy::RELAY_FRAMING.name(),
        "schema default of relay `framing`"
    );
    assert_eq!(
        readme_default_in(&readme, "### `[relays.<name>]`", "backlog"),
        policy::BACKLOG.to_string(),
        "README.md default of relay `backlog`"
    );
    assert_eq!(relay["backlog"]["default"], policy::BACKLOG);
    assert_eq!(
        readme_default_in(&readme, "### `[relays.<name>]`", "socket_mode"),
        format!("{:#o}", policy::SOCKET_MODE),
        "README.md default of relay `socket_mode`"
    );
    assert_eq!(relay["socket_mode"]["default"], policy::SOCKET_MODE);
    let service = &schema["$defs"]["service"]["properties"];
    let codec = format!("\"{}\"", policy::CODEC.name());
    for (section, table) in [
        ("### `[relays.<name>]`", relay),
        ("### `[services.<name>]`", service),
    ] {
        assert_eq!(
            readme_default_in(&readme, section, "codec"),
            codec,
            "{section}"
        );
        assert_eq!(table["codec"]["default"], policy::CODEC.name(), "{section}");
    }
    assert_eq!(
        readme_default_in(&readme, "### `[services.<name>]`", "framing"),
        format!("\"{}\"", policy::SERVICE_FRAMING.name()),
        "README.md default of service `framing`"
    );
    assert_eq!(
        service["framing"]["default"],
        policy::SERVICE_FRAMING.name(),
        "schema default of service `framing`"
    );
    assert_eq!(relay["backlog"]["maximum"], policy::BACKLOG_MAX);
    let window = format!(
        "\"{}\"",
        sinkgen_config::DurationLiteral(policy::DUPLICATE_WINDOW)
    );
    assert_eq!(
        readme_default_in(&readme, "### `[relays.<name>]`", "duplicate_window"),
        window,
        "README.md default of relay `duplicate_window`"
    );
    assert_eq!(
        format!(
            "\"{}\"",
            relay["duplicate_window"]["default"].as_str().unwrap_or("")
        ),
        window,
        "schema default of relay `duplicate_window`"
    );
}

/// Every key the schema gives a relay has a row in the README's `[relays.<name>]`
/// table (`credentials` among them).
#[test]
fn every_relay_key_has_a_readme_row() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md at the repository root");
    let schema = sinkgen_cli::schema::schema();
    let keys = schema["$defs"]["relay"]["properties"]
        .as_object()
        .expect("relay properties");
    assert!(keys.contains_key("credentials"));
    for key in keys.keys() {
        readme_default_in(&readme, "### `[relays.<name>]`", key);
    }
    assert_eq!(
        readme_default_in(&readme, "### `[relays.<name>]`", "credentials"),
        "none"
    );
}
