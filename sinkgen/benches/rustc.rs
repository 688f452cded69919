//! How much the generated code costs rustc (SPEC section 9): a service with 1,000 sinks
//! builds from scratch (debug) in at most 2 s, and one with 5,000 sinks builds at all.
//!
//! Each case is a library crate written to the target directory: `services.toml` with
//! one service of N sinks (relay, direct and endpoint sinks, broadcasts and failovers
//! over them, in groups of five), the `sinks.rs` the build script would generate for
//! it, and a `lib.rs` that includes it under `#![deny(warnings, missing_docs)]`. Its
//! dependencies (the runtime) are built once first and not timed; each case is then
//! built with `cargo build` (dev profile, incremental as cargo defaults) after
//! `cargo clean -p` of the case, so only the generated crate is compiled. A crate of
//! 10 sinks is the baseline of the same run: the table shows each case's time, the time
//! above the baseline per sink, and whether the SPEC's target is met. Each size is
//! built twice: as generated (accessors are `#[inline]`, so rustc compiles those no
//! code calls only where they are called), and with a function that calls every
//! accessor and `with_endpoints` (the SPEC's target is for the first; the second is
//! the cost when every sink is used in the same crate).
//!
//! Run with `cargo bench -p sinkgen --bench rustc` (about a minute on 2 cores after
//! the runtime is built). `SINKGEN_BENCH_SINKS=1000,5000` picks the sizes. Run without
//! `--bench` (as `cargo test --all-targets` does), it only writes the crates and builds
//! nothing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `services.toml` with service `app` of `sinks` sinks (a multiple of five) and the
/// service `peer` its direct sinks send to.
fn topology(sinks: usize) -> String {
    let relays = 50;
    let mut s = String::new();
    for r in 0..relays {
        let _ = writeln!(
            s,
            "[relays.relay_{r}]\nendpoint = \"unix:///tmp/sinkgen-bench/relay_{r}.sock\"\n"
        );
    }
    s.push_str("[services.reader]\nsubscribes = [");
    for r in 0..relays {
        let _ = write!(s, "{}\"relay_{r}\"", if r == 0 { "" } else { ", " });
    }
    s.push_str("]\n\n[services.peer]\nlisten = \"unix:///tmp/sinkgen-bench/peer.sock\"\n\n");
    s.push_str("[services.app.sinks]\n");
    for g in 0..sinks / 5 {
        let _ = write!(
            s,
            "r{g} = {{ relay = \"relay_{}\" }}\n\
             d{g} = {{ service = \"peer\", send_timeout = \"200ms\" }}\n\
             e{g} = {{ endpoint = \"tcp://127.0.0.1:{}\" }}\n\
             b{g} = {{ broadcast = [\"r{g}\", \"d{g}\"] }}\n\
             f{g} = {{ failover = [\"e{g}\", \"b{g}\"] }}\n",
            g % relays,
            1024 + g,
        );
    }
    s
}

fn workspace() -> PathBuf {
    let sinkgen = Path::new(env!("CARGO_MANIFEST_DIR"));
    sinkgen
        .parent()
        .map_or_else(|| sinkgen.to_path_buf(), Path::to_path_buf)
}

/// `lib.rs` of a case: the generated code, and with `used` a function that calls every
/// process-wide accessor, `with_endpoints` and every accessor of the instance (generated
/// accessors are `#[inline]`, so rustc compiles them where they are called).
fn lib_rs(sinks: usize, used: bool) -> String {
    let mut s = String::from(
        "#![deny(warnings, missing_docs)]\n//! Generated sinks, built to measure rustc.\n\n\
         include!(\"sinks.rs\");\n",
    );
    if used {
        s.push_str(
            "\n/// Every sink, used.\npub fn used() {\n    \
             let instance = Sinks::with_endpoints(SinksEndpoints::default());\n",
        );
        for g in 0..sinks / 5 {
            for kind in ["r", "d", "e", "b", "f"] {
                let _ = writeln!(
                    s,
                    "    let _ = Sinks::{kind}{g}();\n    let _ = instance.{kind}{g}();"
                );
            }
        }
        s.push_str("}\n");
    }
    s
}

/// Writes the crate of one case; returns its directory.
fn write_case(root: &Path, name: &str, sinks: usize, used: bool) -> PathBuf {
    let dir = root.join(name);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let ws = workspace();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nsinkgen-runtime = {{ path = {:?} }}\n\n[workspace]\n",
        ws.join("runtime")
    );
    let write = |path: PathBuf, text: &str| {
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    };
    write(dir.join("Cargo.toml"), &manifest);
    // The workspace's lock file pins the same versions and lets cargo work offline.
    let lock = std::fs::read_to_string(ws.join("Cargo.lock")).unwrap_or_default();
    write(dir.join("Cargo.lock"), &lock);
    let config = dir.join("services.toml");
    write(config.clone(), &topology(sinks));
    let code = sinkgen::Builder::new()
        .config(&config)
        .service("app")
        .generate()
        .unwrap_or_else(|e| panic!("the benchmark topology must generate:\n{e}"));
    write(src.join("sinks.rs"), &code);
    write(src.join("lib.rs"), &lib_rs(sinks, used));
    dir
}

fn cargo(dir: &Path, target: &Path, args: &[&str]) -> (Duration, bool, String) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let start = Instant::now();
    let output = Command::new(cargo)
        .args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("SINKGEN_CONFIG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (elapsed, output.status.success(), stderr)
}

/// Builds the case from scratch (its dependencies already built): time and success.
fn build(dir: &Path, target: &Path, name: &str) -> (Duration, bool, String) {
    cargo(dir, target, &["clean", "-p", name]);
    cargo(dir, target, &["build"])
}

fn main() {
    let sizes: Vec<usize> = std::env::var("SINKGEN_BENCH_SINKS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 5_000]);
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sinkgen-bench-rustc");
    let target = root.join("target");
    if !std::env::args().any(|a| a == "--bench") {
        for sinks in sizes {
            write_case(&root, &format!("sinks_{sinks}"), sinks, false);
        }
        println!("smoke run: crates written, nothing built (run with `cargo bench`)");
        return;
    }

    let base = write_case(&root, "sinks_10", 10, false);
    // Builds the runtime and its dependencies once, untimed.
    let (_, ok, stderr) = cargo(&base, &target, &["build"]);
    assert!(ok, "the baseline crate must build:\n{stderr}");
    let (baseline, ok, stderr) = build(&base, &target, "sinks_10");
    assert!(ok, "the baseline crate must build:\n{stderr}");
    println!("rustc on generated code (debug build of one crate, dependencies prebuilt)");
    println!(
        "{:<34} {:>9.2} s",
        "baseline: 10 sinks",
        baseline.as_secs_f64()
    );
    // Each size as generated, then with every accessor and `with_endpoints` used.
    let cases = sizes
        .iter()
        .map(|&n| (n, false))
        .chain(sizes.iter().map(|&n| (n, true)));
    for (sinks, used) in cases {
        let name = if used {
            format!("sinks_{sinks}_used")
        } else {
            format!("sinks_{sinks}")
        };
        let dir = write_case(&root, &name, sinks, used);
        let lines = std::fs::read_to_string(dir.join("src/sinks.rs"))
            .map_or(0, |code| code.lines().count());
        let (time, ok, stderr) = build(&dir, &target, &name);
        let per_sink = time.saturating_sub(baseline).as_secs_f64() * 1e3 / sinks as f64;
        let verdict = match (ok, sinks, used) {
            (false, ..) => "FAILED TO BUILD".to_owned(),
            (true, 1_000, false) if time <= Duration::from_secs(2) => "within 2 s".to_owned(),
            (true, 1_000, false) => "OVER 2 s".to_owned(),
            (true, _, false) => "builds".to_owned(),
            (true, _, true) => "builds (all used; no target)".to_owned(),
        };
        println!(
            "{:<34} {:>9.2} s  {per_sink:>6.2} ms/sink above baseline  {:>4.1}x baseline  \
             {lines} lines  {verdict}",
            if used {
                format!("{sinks} sinks, all used")
            } else {
                format!("{sinks} sinks")
            },
            time.as_secs_f64(),
            time.as_secs_f64() / baseline.as_secs_f64().max(1e-9),
        );
        if !ok {
            let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
            for line in tail.into_iter().rev() {
                println!("    {line}");
            }
        }
    }
}
