//! The JSON Schema's endpoint pattern agrees with the endpoint grammar of `sinkgen
//! check`: an editor flags exactly the endpoints the build refuses, except for what a
//! regular expression does not state (lengths of host names, the inside of IPv6
//! brackets).

use std::path::Path;

/// (endpoint, whether the build accepts it).
const CASES: &[(&str, bool)] = &[
    ("tcp://127.0.0.1:9100", true),
    ("tcp://localhost:1", true),
    ("tcp://LOCALHOST:65535", true),
    ("tcp://market_data-1.internal:080", true),
    ("tcp://1a:80", true),
    ("tcp://a-1.2:80", true),
    ("tcp://[::1]:80", true),
    ("nats://nats.local:4222/market.data", true),
    ("unix:///tmp/a.sock", true),
    ("tcp://user@host:80", false),
    ("tcp://exa mple:80", false),
    ("tcp://h:0", false),
    ("tcp://h:65536", false),
    ("tcp://h:+80", false),
    ("tcp://h:80/x", false),
    ("tcp://a..b:80", false),
    ("tcp://-h:80", false),
    ("tcp://h-:80", false),
    ("tcp://hé:80", false),
    ("tcp://999.999.999.999:80", false),
    ("tcp://1.2.3:80", false),
    ("tcp://127.1:80", false),
    ("tcp://127.0.0.01:80", false),
    ("nats://h:4222/a..b", false),
    ("nats://user:pw@h:4222/x", false),
    ("unix://relative.sock", false),
];

/// (endpoint of an endpoint sink, whether the build accepts it): WebSocket servers,
/// which relays refuse.
const SINK_CASES: &[(&str, bool)] = &[
    ("ws://127.0.0.1:9100", true),
    ("ws://127.0.0.1:9100/", true),
    ("wss://feed.example:443/a/b-c_d.e~f%20g;h=i:j@k", true),
    ("ws://[::1]:80/x", true),
    ("tcp://127.0.0.1:9100", true),
    ("ws://h/x", false),
    ("ws://h:0/", false),
    ("ws://h:80/x?token=1", false),
    ("ws://h:80/x#top", false),
    ("wss://user:pw@h:443/", false),
    ("ws://h:80/a b", false),
    ("ws://h:80/a\"b", false),
];

#[test]
fn schema_sink_endpoint_pattern_follows_the_grammar() {
    let schema = sinkgen_cli::schema::schema();
    let validator =
        jsonschema::draft202012::new(&schema).expect("the schema is valid draft 2020-12");
    for &(endpoint, accepted) in SINK_CASES {
        let file = format!(
            "[services.s.sinks]\nk = {{ endpoint = {} }}\n",
            toml_string(endpoint)
        );
        let built = sinkgen::load_str(Path::new("probe.toml"), &file).is_ok();
        assert_eq!(built, accepted, "{endpoint}: the build");
        let value: toml::Value = toml::from_str(&file).unwrap();
        let json = serde_json::to_value(&value).unwrap();
        assert_eq!(
            validator.is_valid(&json),
            accepted,
            "{endpoint}: the schema"
        );
    }
    // A relay refuses WebSocket endpoints, in the build and in the schema.
    let file = "[relays.r]\nendpoint = \"ws://127.0.0.1:9100/\"\n";
    assert!(sinkgen::load_str(Path::new("probe.toml"), file).is_err());
    let json = serde_json::to_value(toml::from_str::<toml::Value>(file).unwrap()).unwrap();
    assert!(!validator.is_valid(&json));
}

#[test]
fn schema_endpoint_pattern_follows_the_grammar() {
    let schema = sinkgen_cli::schema::schema();
    let validator =
        jsonschema::draft202012::new(&schema).expect("the schema is valid draft 2020-12");
    for &(endpoint, accepted) in CASES {
        let file = format!("[relays.r]\nendpoint = {}\n", toml_string(endpoint));
        let built = sinkgen::load_str(Path::new("probe.toml"), &file).is_ok();
        assert_eq!(built, accepted, "{endpoint}: the build");
        let value: toml::Value = toml::from_str(&file).unwrap();
        let json = serde_json::to_value(&value).unwrap();
        assert_eq!(
            validator.is_valid(&json),
            accepted,
            "{endpoint}: the schema"
        );
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
