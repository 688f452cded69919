//! `sinkgen check` over every fixture file: the `ok` ones pass (exit 0) and
//! validate against the JSON Schema, the `err` ones fail (exit 1), and the
//! command prints exactly what the library renders for the file.

use std::path::{Path, PathBuf};

use snapbox::cmd::{Command, cargo_bin};

/// The repository root (the parent of this crate).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// The `.toml` files of a directory under the repository root, sorted.
fn toml_files(dir: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Files that must load cleanly: the shared `ok` fixtures, the example system,
/// and this crate's own examples.
fn ok_files() -> Vec<PathBuf> {
    let mut files = toml_files("tests/fixtures/ok");
    files.push(root().join("examples/services.toml"));
    files.push(root().join("cli/tests/fixtures/spec.toml"));
    files
}

/// Files that must fail: the shared `err` fixtures and this crate's own.
fn err_files() -> Vec<PathBuf> {
    let mut files = toml_files("tests/fixtures/err");
    files.push(root().join("cli/tests/fixtures/broken.toml"));
    files
}

fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(root())
        .expect("fixtures live in the repository")
        .to_path_buf()
}

#[test]
fn ok_fixtures_check_clean() {
    let files = ok_files();
    assert!(files.len() >= 2, "no fixtures found");
    for file in files {
        let rel = relative(&file);
        let text = std::fs::read_to_string(&file).unwrap();
        let loaded = sinkgen::load_str(&rel, &text)
            .unwrap_or_else(|d| panic!("{} should load:\n{d}", rel.display()));
        let output = Command::new(cargo_bin!("sinkgen"))
            .current_dir(root())
            .arg("check")
            .arg(&rel)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let output = String::from_utf8(output).unwrap();
        if !loaded.warnings.is_empty() {
            assert!(
                output.starts_with(loaded.warnings.render().trim_end()),
                "{}: the warnings are not printed as the library renders them:\n{output}",
                rel.display()
            );
        }
        assert!(
            output.trim_end().ends_with(')') && output.contains(": ok ("),
            "{}: {output}",
            rel.display()
        );
    }
}

#[test]
fn err_fixtures_fail_with_every_diagnostic() {
    let files = err_files();
    assert!(!files.is_empty(), "no fixtures found");
    for file in files {
        let rel = relative(&file);
        let text = std::fs::read_to_string(&file).unwrap();
        let diagnostics = match sinkgen::load_str(&rel, &text) {
            Ok(_) => panic!("{} should not load", rel.display()),
            Err(d) => d,
        };
        let output = Command::new(cargo_bin!("sinkgen"))
            .current_dir(root())
            .arg("check")
            .arg(&rel)
            .assert()
            .code(1)
            .get_output()
            .stdout
            .clone();
        let output = String::from_utf8(output).unwrap();
        assert_eq!(
            output.trim_end(),
            diagnostics.render().trim_end(),
            "{}",
            rel.display()
        );
    }
}

#[test]
fn ok_fixtures_validate_against_the_schema() {
    let schema = sinkgen_cli::schema::schema();
    let validator =
        jsonschema::draft202012::new(&schema).expect("the schema is valid draft 2020-12");
    let files = ok_files();
    assert!(files.len() >= 2, "no fixtures found");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let value: toml::Value = toml::from_str(&text).unwrap();
        let json = serde_json::to_value(&value).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} does not match the schema: {errors:#?}",
            file.display()
        );
    }
}

#[test]
fn the_schema_rejects_what_it_describes() {
    let schema = sinkgen_cli::schema::schema();
    let validator =
        jsonschema::draft202012::new(&schema).expect("the schema is valid draft 2020-12");
    let cases = [
        ("[defaults]\nqueue = 0\n", "/defaults/queue"),
        ("[defaults]\nwhen_down = \"fial\"\n", "/defaults/when_down"),
        ("[defaults]\nmax_frame = 0\n", "/defaults/max_frame"),
        (
            "[defaults]\nmax_frame = 4294967296\n",
            "/defaults/max_frame",
        ),
        (
            "[defaults]\nsend_timeout = \"0s\"\n",
            "/defaults/send_timeout",
        ),
        (
            "[defaults]\nconnect_timeout = \"5 ms\"\n",
            "/defaults/connect_timeout",
        ),
        (
            "[relays.md]\nendpoint = \"http://x:1\"\n",
            "/relays/md/endpoint",
        ),
        (
            "[relays.md]\nendpoint = \"unix:///a\"\nframing = \"torq\"\n",
            "/relays/md",
        ),
        (
            "[relays.md]\nendpoint = \"unix:///a\"\nendpont = \"x\"\n",
            "/relays/md",
        ),
        ("[relays.Md]\nendpoint = \"unix:///a\"\n", "/relays"),
        ("[services.type]\n", "/services"),
        ("[services.a]\nsource = 256\n", "/services/a/source"),
        (
            "[services.a.sinks]\nx = { relay = \"r\", service = \"s\" }\n",
            "/services/a/sinks/x",
        ),
        (
            "[services.a.sinks]\nx = { broadcast = [] }\n",
            "/services/a/sinks/x/broadcast",
        ),
        (
            "[services.a.sinks]\nx = { failover = [\"b\", \"b\"] }\n",
            "/services/a/sinks/x/failover",
        ),
        (
            "[relays.md]\nendpoint = \"unix:///a\"\nmessage = \"not a type\"\n",
            "/relays/md/message",
        ),
        (
            "[relays.md]\nendpoint = \"unix:///a\"\nbacklog = 0\n",
            "/relays/md/backlog",
        ),
        (
            "[relays.md]\nendpoint = \"unix:///a\"\nbacklog = 16777217\n",
            "/relays/md/backlog",
        ),
        (
            "[relays.md]\nendpoint = \"nats://h:4222/md\"\nbacklog = 10\n",
            "/relays/md",
        ),
        (
            "[relays.md]\nendpoint = \"nats://h:4222/md\"\nframing = \"sinkgen\"\n",
            "/relays/md",
        ),
        (
            "[relays.md]\nendpoint = \"unix:///a\"\nframing = \"json\"\n",
            "/relays/md/framing",
        ),
        (
            "[services.a]\nmessage = \"protocol::Order\"\n",
            "/services/a",
        ),
        (
            "[relays.md]\nendpoint = \"unix:///a\"\ncodec = \"postcard\"\n",
            "/relays/md",
        ),
        (
            "[services.a]\nlisten = \"unix:///a\"\ncodec = \"prost\"\n",
            "/services/a",
        ),
        (
            "[relays.md]\nendpoint = \"unix:///a\"\nmessage = \"M\"\ncodec = \"bincode\"\n",
            "/relays/md/codec",
        ),
        (
            "[services.a]\nlisten = \"unix:///a\"\nframing = \"torq\"\n",
            "/services/a/framing",
        ),
        (
            "[relays.md]\nendpoint = \"unix:///a\"\ncredentials = { token = { env = \"T\" } }\n",
            "/relays/md/endpoint",
        ),
        (
            "[relays.md]\nendpoint = \"nats://h:4222/md\"\ncredentials = { token = \"inline\" }\n",
            "/relays/md/credentials/token",
        ),
        (
            "[relays.md]\nendpoint = \"nats://h:4222/md\"\ncredentials = { token = { env = \"T\" }, nkey = { env = \"N\" } }\n",
            "/relays/md/credentials",
        ),
        (
            "[relays.md]\nendpoint = \"nats://h:4222/md\"\ncredentials = { user = \"u\" }\n",
            "/relays/md/credentials",
        ),
        (
            "[relays.md]\nendpoint = \"nats://h:4222/md\"\ncredentials = { nkey = { env = \"N\", file = \"f\" } }\n",
            "/relays/md/credentials/nkey",
        ),
        (
            "[services.a]\nlisten = \"ws://h:80/\"\nframing = \"length-prefixed\"\ntls = {}\n",
            "/services/a",
        ),
        (
            "[services.a]\nlisten = \"unix:///a\"\ntls = {}\n",
            "/services/a",
        ),
    ];
    for (text, at) in cases {
        let value: toml::Value = toml::from_str(text).unwrap();
        let json = serde_json::to_value(&value).unwrap();
        let paths: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.instance_path().to_string())
            .collect();
        assert!(
            paths.iter().any(|p| p == at),
            "{text:?}: expected an error at {at}, got {paths:?}"
        );
    }
}

#[test]
fn every_services_toml_in_the_readme_loads() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut found = 0;
    for block in readme.split("```toml\n").skip(1) {
        let text = block.split("```").next().unwrap();
        // Only whole files (the Cargo.toml snippets have no relays or services).
        if !text.contains("[relays.") && !text.contains("[services.") {
            continue;
        }
        found += 1;
        if let Err(d) = sinkgen::load_str(Path::new("README.md"), text) {
            panic!("a services.toml in the README does not load:\n{d}\n{text}");
        }
    }
    assert!(found >= 1, "no services.toml in the README");
}

#[test]
fn a_missing_file_is_exit_status_2_and_names_where_it_looked() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-services-toml-here");
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new(cargo_bin!("sinkgen"))
        .current_dir(&dir)
        .env_remove("SINKGEN_CONFIG")
        .arg("check")
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(output).unwrap();
    assert!(stderr.contains("no `services.toml` found"), "{stderr}");
    assert!(
        stderr.contains(&dir.join("services.toml").display().to_string()),
        "{stderr}"
    );
}
