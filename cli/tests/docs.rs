//! The README's picture of the example system, `docs/topology.svg`, is what
//! `sinkgen graph examples/services.toml --format svg` draws. Refresh it with
//! `SNAPSHOTS=overwrite cargo test -p sinkgen-cli --test docs`.

use snapbox::cmd::{Command, cargo_bin};

#[test]
fn docs_topology_svg_is_up_to_date() {
    Command::new(cargo_bin!("sinkgen"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["graph", "examples/services.toml", "--format", "svg"])
        .assert()
        .success()
        .stdout_eq(snapbox::file!["../../docs/topology.svg"].raw());
}
