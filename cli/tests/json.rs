//! `sinkgen check --message-format json`: one JSON object per diagnostic per line,
//! then a `check-finished` line. The snapshots in `tests/json/` are compared byte for
//! byte (trycmd would rewrite the JSON's backslashes as path separators); refresh them
//! with `SNAPSHOTS=overwrite cargo test -p sinkgen-cli --test json`.

use snapbox::cmd::{Command, cargo_bin};

fn check_json(file: &str) -> Command {
    Command::new(cargo_bin!("sinkgen"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["check", "--message-format", "json", file])
}

#[test]
fn errors_are_json_lines() {
    check_json("cli/tests/fixtures/broken.toml")
        .assert()
        .code(1)
        .stdout_eq(snapbox::file!["json/errors.jsonl"].raw())
        .stderr_eq("");
}

#[test]
fn warnings_are_json_lines_and_the_check_succeeds() {
    check_json("tests/fixtures/ok/warnings.toml")
        .assert()
        .success()
        .stdout_eq(snapbox::file!["json/warnings.jsonl"].raw())
        .stderr_eq("");
}

#[test]
fn a_clean_file_prints_only_the_finished_line() {
    check_json("examples/services.toml")
        .assert()
        .success()
        .stdout_eq(snapbox::file!["json/clean.jsonl"].raw())
        .stderr_eq("");
}

#[test]
fn a_missing_file_is_a_diagnostic_without_a_place() {
    check_json("no/such/services.toml")
        .assert()
        .code(2)
        .stdout_eq(snapbox::file!["json/missing-file.jsonl"].raw())
        .stderr_eq("");
}

/// Every line is one JSON object, and the positions agree with the library's.
#[test]
fn lines_parse_and_point_where_the_library_points() {
    let path = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/broken.toml"
    ));
    let text = std::fs::read_to_string(path).unwrap();
    let diagnostics = sinkgen::load_str(path, &text).unwrap_err();
    let out = sinkgen_cli::json::lines(&diagnostics, false);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), diagnostics.len() + 1);
    for (json, d) in lines.iter().zip(&diagnostics) {
        let (line, column) = diagnostics.location(d).unwrap();
        let span = d.span.clone().unwrap();
        assert_eq!(json["reason"], "diagnostic");
        assert_eq!(json["level"], "error");
        assert_eq!(json["message"], d.message);
        assert_eq!(json["file"], path.display().to_string());
        assert_eq!(
            (json["line"].as_u64(), json["column"].as_u64()),
            (Some(line as u64), Some(column as u64))
        );
        assert_eq!(json["span"]["start"], span.start);
        assert_eq!(json["span"]["end"], span.end);
        assert_eq!(json["label"], d.label);
        assert_eq!(json["help"].as_str(), d.help.as_deref());
        assert_eq!(json["rendered"], diagnostics.render_one(d));
    }
    let finished = lines.last().unwrap();
    assert_eq!(finished["reason"], "check-finished");
    assert_eq!(finished["success"], false);
    assert_eq!(finished["errors"], diagnostics.error_count());
}
