//! Hostile input never panics, never hangs, and every diagnostic points inside the file:
//! random text, and the valid fixtures mutated byte by byte and line by line.

use std::path::Path;

use proptest::prelude::*;

const FIXTURES: &[&str] = &[
    include_str!("../fixtures/ok/trading.toml"),
    include_str!("../fixtures/ok/spec_example.toml"),
    include_str!("../fixtures/ok/endpoints.toml"),
    include_str!("../fixtures/ok/policies.toml"),
    include_str!("../fixtures/ok/warnings.toml"),
];

/// Loads `text` and checks what must hold for any input.
fn check(text: &str) {
    let result = sinkgen::load_str(Path::new("services.toml"), text);
    let diagnostics = match &result {
        Ok(loaded) => &loaded.warnings,
        Err(err) => {
            assert!(err.has_errors(), "a failed load carries an error");
            err
        }
    };
    for d in diagnostics {
        if let Some(span) = &d.span {
            assert!(
                span.start <= span.end && span.end <= text.len(),
                "span {span:?} outside a file of {} bytes: {}",
                text.len(),
                d.message
            );
            let (line, column) = diagnostics.location(d).expect("a span has a location");
            assert!(line >= 1 && column >= 1);
        }
        assert!(!d.message.is_empty());
    }
    // Rendering must not panic either, in both styles.
    let rendered = diagnostics.render();
    let _ = diagnostics.render_styled();
    if result.is_err() {
        assert!(rendered.contains("error"));
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteBytes(usize, usize),
    InsertBytes(usize, Vec<u8>),
    DuplicateBytes(usize, usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    InsertLine(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let line = prop_oneof![
        Just("[relays.x]".to_owned()),
        Just("[services.x.sinks]".to_owned()),
        Just("sinks = [\"x\", \"x\"]".to_owned()),
        Just("x = { broadcast = [\"x\"] }".to_owned()),
        Just("endpoint = \"tcp://[::1\"".to_owned()),
        Just("framing = \"torq\"".to_owned()),
        Just("backoff = { initial = \"1m\", max = \"1ns\" }".to_owned()),
        "[ -~]{0,40}",
    ];
    prop_oneof![
        (any::<usize>(), 1..16usize).prop_map(|(at, n)| Mutation::DeleteBytes(at, n)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Mutation::InsertBytes(at, b)),
        (any::<usize>(), 1..64usize).prop_map(|(at, n)| Mutation::DuplicateBytes(at, n)),
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), line).prop_map(|(at, l)| Mutation::InsertLine(at, l)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::DeleteBytes(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            Mutation::InsertBytes(at, b) => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::DuplicateBytes(at, n) => {
                let at = at % len;
                let end = (at + n).min(bytes.len());
                if at < end {
                    let copy = bytes[at..end].to_vec();
                    bytes.splice(end..end, copy);
                }
            }
            Mutation::DeleteLine(_)
            | Mutation::DuplicateLine(_)
            | Mutation::SwapLines(..)
            | Mutation::InsertLine(..) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
                if lines.is_empty() {
                    lines.push(String::new());
                }
                let n = lines.len();
                match m {
                    Mutation::DeleteLine(i) => {
                        lines.remove(i % n);
                    }
                    Mutation::DuplicateLine(i) => {
                        let line = lines[i % n].clone();
                        lines.insert(i % n, line);
                    }
                    Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
                    Mutation::InsertLine(i, l) => lines.insert(i % (n + 1), l.clone()),
                    _ => {}
                }
                bytes = lines.join("\n").into_bytes();
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_fixtures_never_panic(
        fixture in 0..FIXTURES.len(),
        mutations in proptest::collection::vec(mutation(), 1..6),
    ) {
        check(&apply(FIXTURES[fixture], &mutations));
    }

    #[test]
    fn toml_like_text_never_panics(text in "[\\[\\]a-z_=\"'{}.,:/ \n0-9#<>*-]{0,300}") {
        check(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check(&text);
    }
}

#[test]
fn long_composite_chain_is_checked_without_recursion() {
    // 20,000 nested composites: checked with an explicit stack, not the call stack.
    use std::fmt::Write as _;
    let n = 20_000;
    let mut text =
        String::from("[services.deep.sinks]\nleaf = { endpoint = \"tcp://127.0.0.1:7000\" }\n");
    let _ = writeln!(text, "c0 = {{ failover = [\"leaf\"] }}");
    for i in 1..n {
        let _ = writeln!(text, "c{i} = {{ failover = [\"c{}\"] }}", i - 1);
    }
    let loaded =
        sinkgen::load_str(Path::new("services.toml"), &text).expect("a deep chain is valid");
    assert_eq!(loaded.topology.services[0].sinks.len(), n + 1);

    // Closing the chain into a cycle names the whole cycle once.
    let cyclic = text.replace(
        "c0 = { failover = [\"leaf\"] }",
        &format!("c0 = {{ failover = [\"c{}\"] }}", n - 1),
    );
    let err = sinkgen::load_str(Path::new("services.toml"), &cyclic).expect_err("a cycle");
    assert_eq!(err.error_count(), 1);
    let message = &err.iter().next().expect("one error").message;
    assert!(message.contains("form a cycle"), "{message}");
    assert!(message.contains("`c0`") && message.contains(&format!("`c{}`", n - 1)));
}

#[test]
fn deeply_nested_toml_is_an_error_not_a_stack_overflow() {
    let text = format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    check(&text);
    let text = format!("x = {}", "{ a = ".repeat(50_000));
    check(&text);
}

#[test]
fn invalid_utf8_is_reported_at_the_byte() {
    let dir = std::env::temp_dir().join(format!("sinkgen-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("services.toml");
    std::fs::write(&path, b"[relays.a]\nendpoint = \"unix:///tmp/\xff.sock\"\n").expect("write");
    let err = sinkgen::load(&path).expect_err("not UTF-8");
    std::fs::remove_dir_all(&dir).expect("clean up");
    let d = err.iter().next().expect("one error");
    assert!(d.message.contains("not valid UTF-8"), "{}", d.message);
    assert_eq!(err.location(d), Some((2, 25)));
}

#[test]
fn many_unknown_names_are_reported_without_quadratic_suggestions() {
    use std::fmt::Write as _;
    // 3,000 services, each naming a service that does not exist and sharing one source.
    let mut text = String::new();
    for i in 0..3_000 {
        let _ = write!(
            text,
            "[services.service_{i}]\nsource = 7\nsinks.out = {{ service = \"servce_{i}\" }}\n\n"
        );
    }
    let err = sinkgen::load_str(Path::new("services.toml"), &text).expect_err("all unknown");
    assert_eq!(err.error_count(), 3_000 + 2_999);
    // Suggestions stop after a while; every error still has a help line.
    assert!(err.iter().all(|d| d.help.is_some()));
    assert!(
        err.iter()
            .any(|d| d.help.as_deref() == Some("did you mean `service_0`?"))
    );
}
