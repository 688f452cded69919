//! Compile-fail and pass tests of `#[derive(Sinks)]` (trybuild).
//!
//! Cases live in `ui/<category>/<case>.rs` with the expected `<case>.stderr` next to them
//! (regenerate with `TRYBUILD=overwrite cargo test -p sinkgen-tests --test ui`, then read
//! every changed file). The configuration files they name (`config = "ui/..."`) sit next
//! to them as well.
//!
//! trybuild compiles the cases in a project of its own under the target directory, so
//! the derive's `CARGO_MANIFEST_DIR` is that project (trybuild #202): the `.toml` files
//! are copied there first, keeping their paths relative to this crate, so that the same
//! `config = "ui/..."` resolves and messages show short relative paths.

use std::path::{Path, PathBuf};

/// trybuild's project directory: `<target>/tests/trybuild/<crate name>/`.
fn trybuild_project() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .unwrap_or(tmp)
        .join("tests")
        .join("trybuild")
        .join(env!("CARGO_PKG_NAME"))
}

/// Copies every `.toml` under `from` to the same relative place under `to`.
fn copy_configs(from: &Path, to: &Path) {
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_configs(&path, &dest);
        } else if path.extension().is_some_and(|e| e == "toml") {
            std::fs::create_dir_all(to).unwrap();
            std::fs::copy(&path, &dest).unwrap();
        }
    }
}

#[test]
fn ui() {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    copy_configs(&ui, &trybuild_project().join("ui"));

    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/attributes/*.rs");
    t.compile_fail("ui/files/*.rs");
    t.compile_fail("ui/services/*.rs");
    t.compile_fail("ui/fields/*.rs");
    t.compile_fail("ui/types/*.rs");
    t.compile_fail("ui/topology/*.rs");
}
