//! Names that could inject code never reach code generation: each is rejected at the
//! name itself, wherever it is written (relay, service, sink, shorthand entry).

use std::path::Path;

/// Names that must never become identifiers.
const HOSTILE: &[&str] = &[
    "a\"b",
    "x\"); std::process::exit(1); (\"",
    "a{b}",
    "}",
    "a::b",
    "::a",
    "crate::x",
    "a b",
    "a\nb",
    "a\\u0000b",
    "a'b",
    "a#b",
    "r#type",
    "a;b",
    "a/b",
    "mаrket",         // Cyrillic а
    "ｍarket",        // fullwidth m
    "mar\u{200d}ket", // zero-width joiner
    "ma\u{202e}rket", // right-to-left override
    "market\u{301}",  // combining accent
    "ß",
    "🦀",
    "type",
    "fn",
    "match",
    "self",
    "Self",
    "super",
    "crate",
    "async",
    "await",
    "dyn",
    "gen",
    "try",
    "union",
    "_",
    "_x",
    "1x",
    "Market",
    "market-data",
    "",
];

/// TOML basic-string escaping of a name (the quotes are added by the caller).
fn quoted(name: &str) -> String {
    let mut out = String::from("\"");
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Loads `text`, which must fail with an error whose span is exactly `at`, a name.
fn rejected_at(text: &str, at: std::ops::Range<usize>, what: &str) {
    let err = match sinkgen::load_str(Path::new("services.toml"), text) {
        Ok(_) => panic!("{what} loaded:\n{text}"),
        Err(err) => err,
    };
    assert!(
        err.iter()
            .any(|d| d.is_error() && d.span.as_ref() == Some(&at)),
        "{what}: no error at the name {:?} ({at:?}):\n{err}",
        &text[at.clone()]
    );
}

#[test]
fn hostile_relay_names_are_rejected_at_the_name() {
    for name in HOSTILE {
        let key = quoted(name);
        let text = format!("[relays.{key}]\nendpoint = \"unix:///tmp/sinkgen-i.sock\"\n");
        let start = "[relays.".len();
        rejected_at(&text, start..start + key.len(), &format!("relay {name:?}"));
    }
}

#[test]
fn hostile_service_names_are_rejected_at_the_name() {
    for name in HOSTILE {
        let key = quoted(name);
        let text = format!("[services.{key}]\n");
        let start = "[services.".len();
        rejected_at(
            &text,
            start..start + key.len(),
            &format!("service {name:?}"),
        );
    }
}

#[test]
fn hostile_sink_names_are_rejected_at_the_name() {
    for name in HOSTILE {
        let key = quoted(name);
        let head = "[services.app.sinks]\n";
        let text = format!("{head}{key} = {{ endpoint = \"tcp://127.0.0.1:7000\" }}\n");
        rejected_at(
            &text,
            head.len()..head.len() + key.len(),
            &format!("sink {name:?}"),
        );
    }
}

#[test]
fn hostile_shorthand_names_are_rejected_at_the_entry() {
    for name in HOSTILE {
        let key = quoted(name);
        // The relay exists under the hostile name too, so only the name check can fail.
        let relay = format!("[relays.{key}]\nendpoint = \"unix:///tmp/sinkgen-i.sock\"\n\n");
        let head = format!("{relay}[services.app]\nsinks = [");
        let text = format!("{head}{key}]\n");
        rejected_at(
            &text,
            head.len()..head.len() + key.len(),
            &format!("shorthand {name:?}"),
        );
    }
}

#[test]
fn hostile_message_types_are_rejected_at_the_value() {
    for message in [
        "Event); std::process::exit(1); (",
        "Vec<u8>",
        "a::b c",
        "{ a }",
        "a\"b",
        "r#type",
        "Evеnt", // Cyrillic е
        "a::type::B",
        "Self",
        "",
    ] {
        let value = quoted(message);
        let head = "[relays.bus]\nendpoint = \"unix:///tmp/sinkgen-i.sock\"\nmessage = ";
        let text = format!("{head}{value}\n");
        let err = sinkgen::load_str(Path::new("services.toml"), &text)
            .expect_err(&format!("message {message:?} loaded"));
        let d = err
            .iter()
            .find(|d| d.message.contains("not a Rust type path"))
            .unwrap_or_else(|| panic!("message {message:?}: no type path error:\n{err}"));
        let span = d.span.clone().expect("a span");
        assert!(
            span.start >= head.len() && span.end <= head.len() + value.len(),
            "message {message:?}: span {span:?} outside the value"
        );
    }
}

#[test]
fn keywords_get_a_usable_suggestion() {
    let text = "[relays.type]\nendpoint = \"unix:///tmp/sinkgen-k.sock\"\n";
    let err = sinkgen::load_str(Path::new("services.toml"), text).expect_err("keyword");
    let help = err
        .iter()
        .next()
        .and_then(|d| d.help.clone())
        .expect("help");
    assert!(help.contains("`type_`"), "{help}");
    assert!(!help.contains("r#"), "{help}");
}
