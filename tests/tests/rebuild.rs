//! Cargo reruns code generation when `services.toml` changes, and only then.
//!
//! Two tiny crates are written to a temporary directory, pointing at this workspace's
//! crates by absolute path: one generates through `sinkgen::build()` in its build
//! script, the other through `#[derive(Sinks)]`. Each is built, its `services.toml` is
//! broken (cargo must rebuild and report the new error) and fixed again. The build-script
//! crate also checks that rewriting an unchanged file leaves `sinks.rs` untouched.
//!
//! The crates build in trybuild's target directory, so the dependencies compiled for the
//! ui tests are reused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

const GOOD: &str = r#"[relays.ticks]
endpoint = "unix:///tmp/sinkgen-rebuild/ticks.sock"

[services.probe]
sinks = ["ticks"]
"#;

const BAD: &str = r#"[relays.ticks]
endpoint = "unix:///tmp/sinkgen-rebuild/ticks.sock"

[services.probe]
sinks = ["tikcs"]
"#;

fn workspace() -> PathBuf {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests
        .parent()
        .map_or_else(|| tests.to_path_buf(), Path::to_path_buf)
}

fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`; trybuild builds in `<target>/tests/trybuild`.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("tests").join("trybuild")
}

/// A fresh crate directory with `services.toml`, a manifest and the given files.
fn probe(name: &str, build_script: bool, files: &[(&str, &str)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rebuild-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let ws = workspace();
    let runtime = ws.join("runtime");
    let sinkgen = ws.join("sinkgen");
    let mut manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nsinkgen-runtime = {{ path = {runtime:?} }}\n"
    );
    if build_script {
        manifest.push_str(&format!(
            "\n[build-dependencies]\nsinkgen = {{ path = {sinkgen:?} }}\n"
        ));
    }
    manifest.push_str("\n[workspace]\n");
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    // The workspace's lock file pins the same versions and lets cargo work offline.
    std::fs::copy(ws.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(dir.join("services.toml"), GOOD).unwrap();
    for (path, text) in files {
        std::fs::write(dir.join(path), text).unwrap();
    }
    dir
}

fn cargo_build(dir: &Path) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(cargo)
        .args(["build", "--offline", "-v", "--message-format=short"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("SINKGEN_CONFIG")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_ok(output: &Output, step: &str) {
    assert!(
        output.status.success(),
        "{step}: the build should succeed:\n{}",
        stderr(output)
    );
}

fn assert_fails_with_new_error(output: &Output, step: &str) {
    let err = stderr(output);
    assert!(
        !output.status.success(),
        "{step}: the build should fail:\n{err}"
    );
    assert!(
        err.contains("error: sink `tikcs`"),
        "{step}: the new error should be reported:\n{err}"
    );
    assert!(
        err.contains("services.toml:5:10"),
        "{step}: file:line:column expected:\n{err}"
    );
    assert!(
        err.contains("did you mean `ticks`?"),
        "{step}: did-you-mean expected:\n{err}"
    );
    assert!(
        !err.contains("panicked"),
        "{step}: no panic expected:\n{err}"
    );
}

/// The build script's generated file, in whichever `build/<crate>-<hash>/out` holds it.
fn generated(name: &str) -> PathBuf {
    let build = target_dir().join("debug").join("build");
    let mut found: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(&build)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}-"))
        })
        .map(|e| e.path().join("out").join("sinks.rs"))
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("no sinks.rs for {name} under {}", build.display()))
}

fn mtime(path: &Path) -> SystemTime {
    path.metadata().and_then(|m| m.modified()).unwrap()
}

/// Both front ends, one after the other: they share the target directory.
#[test]
fn changing_services_toml_reruns_generation() {
    build_script_front_end();
    derive_front_end();
}

fn build_script_front_end() {
    let name = "sinkgen_rebuild_build_script";
    let dir = probe(
        name,
        true,
        &[
            ("build.rs", "fn main() {\n    sinkgen::build();\n}\n"),
            (
                "src/main.rs",
                "#![deny(warnings, missing_docs)]\n//! Probe.\n\n\
                 include!(concat!(env!(\"OUT_DIR\"), \"/sinks.rs\"));\n\n\
                 fn main() {\n    let _ = Sinks::ticks();\n}\n",
            ),
        ],
    );
    // The service is the package name unless told otherwise: rename it in the file.
    let good = GOOD.replace("probe", name);
    let bad = BAD.replace("probe", name);
    std::fs::write(dir.join("services.toml"), &good).unwrap();

    assert_ok(&cargo_build(&dir), "first build");
    let sinks_rs = generated(name);
    let first = mtime(&sinks_rs);
    let code = std::fs::read_to_string(&sinks_rs).unwrap();
    assert!(code.starts_with("// @generated by sinkgen"), "{code}");

    // Same content, new mtime: the build script reruns but leaves sinks.rs alone.
    std::fs::write(dir.join("services.toml"), &good).unwrap();
    let output = cargo_build(&dir);
    assert_ok(&output, "unchanged file");
    assert!(
        stderr(&output).contains("build-script-build"),
        "the build script should rerun when services.toml is touched:\n{}",
        stderr(&output)
    );
    assert_eq!(
        mtime(&sinks_rs),
        first,
        "an unchanged file must not rewrite sinks.rs"
    );

    std::fs::write(dir.join("services.toml"), &bad).unwrap();
    let output = cargo_build(&dir);
    let err = stderr(&output).replace(name, "probe");
    assert!(
        !output.status.success(),
        "broken file: the build should fail:\n{err}"
    );
    assert_fails_with_new_error(
        &Output {
            stderr: err.into_bytes(),
            ..output
        },
        "build script, broken file",
    );

    std::fs::write(dir.join("services.toml"), &good).unwrap();
    assert_ok(&cargo_build(&dir), "build script, fixed file");
}

fn derive_front_end() {
    let name = "sinkgen_rebuild_derive";
    let dir = probe(
        name,
        false,
        &[(
            "src/lib.rs",
            "#![deny(warnings, missing_docs)]\n//! Probe.\n\n\
             /// The probe's sinks.\n\
             #[derive(sinkgen_runtime::Sinks)]\n\
             #[sinks(config = \"services.toml\", service = \"probe\")]\n\
             pub struct Sinks;\n",
        )],
    );
    assert_ok(&cargo_build(&dir), "derive, first build");
    std::fs::write(dir.join("services.toml"), BAD).unwrap();
    assert_fails_with_new_error(&cargo_build(&dir), "derive, broken file");
    std::fs::write(dir.join("services.toml"), GOOD).unwrap();
    assert_ok(&cargo_build(&dir), "derive, fixed file");
}
