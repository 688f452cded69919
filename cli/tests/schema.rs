//! `services.schema.json` at the repository root is what `sinkgen schema`
//! prints. Refresh it with `SNAPSHOTS=overwrite cargo test -p sinkgen-cli --test schema`
//! (or `cargo run -p sinkgen-cli -- schema > services.schema.json`).

use snapbox::cmd::{Command, cargo_bin};

#[test]
fn services_schema_json_is_up_to_date() {
    snapbox::assert_data_eq!(
        sinkgen_cli::schema::to_pretty_string(),
        snapbox::file!["../../services.schema.json"].raw()
    );
}

#[test]
fn sinkgen_schema_prints_it() {
    Command::new(cargo_bin!("sinkgen"))
        .arg("schema")
        .assert()
        .success()
        .stdout_eq(snapbox::file!["../../services.schema.json"].raw());
}
