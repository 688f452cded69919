//! Command-line snapshots: every `tests/cmd/*.toml` case runs the `sinkgen`
//! binary and compares its exit code, standard output and standard error with
//! the files next to it. Refresh them with `TRYCMD=overwrite cargo test -p sinkgen-cli --test cmd`.

#[test]
fn cli() {
    trycmd::TestCases::new().case("tests/cmd/*.toml");
}
