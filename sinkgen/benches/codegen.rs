//! Code generation benchmarks (SPEC section 9):
//!
//! - build-script generation (find, load and check the whole file, lower one service,
//!   render, prettyplease) for a file of 1,000 services and 5,000 sinks: budget 100 ms;
//! - `#[derive(Sinks)]` expansion over a file of 100 services: budget 10 ms;
//! - a service whose composites nest 5,000 deep against a flat service of as many
//!   sinks (generation, then check and render of a cycle through 5,000 composites against
//!   checking the flat file): nesting must cost about what the same number of sinks does,
//!   reported as ratios (target at most 2x).
//!
//! Run with `cargo bench -p sinkgen --bench codegen`. Each case reports the median and
//! the fastest of its runs and says whether the median is within the budget.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use quote::quote;

/// A topology of `services` services with five sinks each (two relay sinks, a direct
/// sink to the next service, an endpoint sink and a broadcast over the relay sinks),
/// over 50 relays, the first 10 with torq framing (only services with a `source`, the
/// first 256, send to those).
fn topology(services: usize) -> String {
    use std::fmt::Write as _;
    let relays = 50;
    let mut s = String::from(
        "[defaults]\nconnect_timeout = \"250ms\"\nqueue = 1024\n\
         backoff = { initial = \"5ms\", max = \"2s\" }\n\n",
    );
    let torq = 10;
    for r in 0..relays {
        let _ = write!(
            s,
            "[relays.relay_{r}]\nendpoint = \"unix:///tmp/sinkgen-bench/relay_{r}.sock\"\n"
        );
        if r < torq {
            let _ = write!(s, "framing = \"torq\"\ndomain = {}\n", r + 1);
        }
        s.push('\n');
    }
    let relay = |service: usize, k: usize| {
        if service < 256 {
            (service + k) % relays
        } else {
            torq + (service + k) % (relays - torq)
        }
    };
    for i in 0..services {
        let _ = writeln!(s, "[services.service_{i}]");
        if i < 256 {
            let _ = writeln!(s, "source = {i}");
        }
        let _ = write!(
            s,
            "listen = \"unix:///tmp/sinkgen-bench/service_{i}.sock\"\n\
             subscribes = [\"relay_{}\"]\n\n\
             [services.service_{i}.sinks]\n\
             ticks = {{ relay = \"relay_{}\" }}\n\
             fills = {{ relay = \"relay_{}\", send_timeout = \"200ms\" }}\n\
             next = {{ service = \"service_{}\" }}\n\
             hedge = {{ endpoint = \"tcp://127.0.0.1:{}\" }}\n\
             fanout = {{ broadcast = [\"ticks\", \"fills\"] }}\n\n",
            relay(i, 7),
            relay(i, 0),
            relay(i, 1),
            (i + 1) % services,
            10_000 + i,
        );
    }
    s
}

/// One service `app` with `sinks` sinks: a leaf `c0`, then `c<i>` broadcasting to
/// `c<i-1>` (`Nesting::Chain`), to `c<i+1>` and the last to `c0` (`Nesting::Cycle`), or
/// every sink a leaf (`Nesting::Flat`).
fn nested(sinks: usize, nesting: Nesting) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("[services.app.sinks]\n");
    for i in 0..sinks {
        let _ = match nesting {
            Nesting::Flat => writeln!(s, "c{i} = {{ endpoint = \"tcp://127.0.0.1:7000\" }}"),
            Nesting::Chain if i == 0 => {
                writeln!(s, "c0 = {{ endpoint = \"tcp://127.0.0.1:7000\" }}")
            }
            Nesting::Chain => writeln!(s, "c{i} = {{ broadcast = [\"c{}\"] }}", i - 1),
            Nesting::Cycle => writeln!(s, "c{i} = {{ broadcast = [\"c{}\"] }}", (i + 1) % sinks),
        };
    }
    s
}

#[derive(Clone, Copy)]
enum Nesting {
    Flat,
    Chain,
    Cycle,
}

/// Runs `f` `runs` times after one warm-up run; returns (median, fastest).
fn measure(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[0])
}

fn report(name: &str, (median, fastest): (Duration, Duration), budget: Duration) {
    let verdict = if median <= budget {
        "within budget"
    } else {
        "OVER BUDGET"
    };
    println!(
        "{name:<58} median {:>8.2} ms  fastest {:>8.2} ms  budget {:>6.1} ms  {verdict}",
        median.as_secs_f64() * 1e3,
        fastest.as_secs_f64() * 1e3,
        budget.as_secs_f64() * 1e3,
    );
}

fn write_fixture(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Err(e) = std::fs::write(&path, text) {
        panic!("cannot write {}: {e}", path.display());
    }
    path
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let dir = std::env::temp_dir().join(format!("sinkgen-bench-codegen-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }

    let big = write_fixture(&dir, "services-1000.toml", &topology(1000));
    let small = write_fixture(&dir, "services-100.toml", &topology(100));

    // Sanity: both files load and generate.
    let code = sinkgen::Builder::new()
        .config(&big)
        .service("service_500")
        .generate()
        .unwrap_or_else(|e| panic!("the benchmark topology must be valid:\n{e}"));
    assert!(code.contains("pub fn fanout()"));

    println!(
        "sinkgen code generation ({} bytes of services.toml for 1,000 services)",
        std::fs::metadata(&big).map_or(0, |m| m.len())
    );

    let generation = measure(30, || {
        let code = sinkgen::Builder::new()
            .config(black_box(&big))
            .service("service_500")
            .generate();
        black_box(code.map(|c| c.len()).unwrap_or_default());
    });
    report(
        "build script: 1,000 services / 5,000 sinks -> sinks.rs",
        generation,
        Duration::from_millis(100),
    );

    let load = measure(30, || {
        black_box(
            sinkgen::load(black_box(&big))
                .map(|l| l.topology.services.len())
                .ok(),
        );
    });
    report(
        "  of which load + check (1,000 services)",
        load,
        Duration::from_millis(100),
    );

    let config = small.to_string_lossy().into_owned();
    let input = quote! {
        #[sinks(config = #config, service = "service_50")]
        pub struct Sinks;
    };
    let expanded = sinkgen::expand_derive(input.clone());
    assert!(
        !expanded.to_string().contains("compile_error"),
        "the derive must expand without errors: {expanded}"
    );
    let derive = measure(100, || {
        black_box(sinkgen::expand_derive(black_box(input.clone())));
    });
    report(
        "derive: #[derive(Sinks)] over 100 services",
        derive,
        Duration::from_millis(10),
    );

    nesting(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Deep nesting against a flat file of as many sinks, in one run.
fn nesting(dir: &Path) {
    const SINKS: usize = 5_000;
    let flat = write_fixture(dir, "flat.toml", &nested(SINKS, Nesting::Flat));
    let chain = write_fixture(dir, "chain.toml", &nested(SINKS, Nesting::Chain));
    let cycle = nested(SINKS, Nesting::Cycle);
    let generate = |path: &Path| {
        let code = sinkgen::Builder::new()
            .config(black_box(path))
            .service("app")
            .generate();
        black_box(code.map(|c| c.len()).unwrap_or_default());
    };
    let flat_time = measure(5, || generate(&flat));
    let chain_time = measure(5, || generate(&chain));
    timing("flat service of 5,000 sinks -> sinks.rs", flat_time);
    timing("5,000 composites nested -> sinks.rs", chain_time);
    ratio("  nested / flat generation", chain_time.0, flat_time.0);
    let flat_text = nested(SINKS, Nesting::Flat);
    let check_flat = measure(5, || {
        black_box(sinkgen::load_str(Path::new("flat.toml"), black_box(&flat_text)).is_ok());
    });
    let check_cycle = measure(5, || {
        let err = sinkgen::load_str(Path::new("cycle.toml"), black_box(&cycle));
        black_box(err.err().map(|e| e.render().len()));
    });
    timing("check flat service of 5,000 sinks", check_flat);
    timing("check + render a cycle of 5,000 composites", check_cycle);
    ratio("  cycle error / flat check", check_cycle.0, check_flat.0);
}

fn timing(name: &str, (median, fastest): (Duration, Duration)) {
    println!(
        "{name:<58} median {:>8.2} ms  fastest {:>8.2} ms",
        median.as_secs_f64() * 1e3,
        fastest.as_secs_f64() * 1e3,
    );
}

fn ratio(name: &str, this: Duration, baseline: Duration) {
    let r = this.as_secs_f64() / baseline.as_secs_f64().max(1e-9);
    let verdict = if r <= 2.0 { "within 2x" } else { "OVER 2x" };
    println!("{name:<58} {r:>6.2}x  {verdict}");
}
