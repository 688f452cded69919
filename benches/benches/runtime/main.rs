//! Runtime benchmarks of SPEC section 9: sinkgen next to hand-written baselines, in
//! one process, one run.
//!
//! `cargo bench -p sinkgen-benches` runs everything (about a minute on 2 cores);
//! `SINKGEN_BENCH_QUICK=1` runs the same cases with fewer frames;
//! `cargo bench -p sinkgen-benches -- latency` runs only the sections whose name
//! contains `latency` (throughput, latency, first_frame, alloc, framing, memory,
//! acked, send_all, tls, ws).
//! `SINKGEN_BENCH_STRICT=1` makes the run exit with status 1 when a target fails.
//! `SINKGEN_BENCH_RUNTIME=current` uses a current-thread runtime instead of the
//! default multi-thread runtime with 2 workers; `SINKGEN_BENCH_WORKERS=<n>` gives
//! the multi-thread runtime `n` workers.

mod acked;
mod alloc;
mod first_frame;
mod framing;
mod latency;
mod memory;
mod report;
mod send_all;
mod sink;
mod throughput;
mod tls;
mod ws;

use std::io;
use std::process::ExitCode;

use sinkgen_benches::config::{self, Sizes};
use sinkgen_benches::host::{self, CpuTicks};

use crate::report::Verdict;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// The runtime the sections run on (and each throughput run of `acked`, on one of
/// its own), with its description for the report.
pub(crate) fn runtime() -> io::Result<(tokio::runtime::Runtime, String)> {
    let flavor = std::env::var("SINKGEN_BENCH_RUNTIME").unwrap_or_default();
    if flavor == "current" {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok((rt, "tokio current_thread".into()))
    } else {
        let workers = std::env::var("SINKGEN_BENCH_WORKERS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&w| w > 0)
            .unwrap_or(2);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?;
        Ok((rt, format!("tokio multi_thread, {workers} workers")))
    }
}

fn main() -> ExitCode {
    let sizes = Sizes::from_env();
    let filters = config::filters();
    let want = |section: &str| filters.is_empty() || filters.iter().any(|f| section.contains(f));
    let (rt, flavor) = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot build the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!("# sinkgen runtime benchmarks");
    println!(
        "{} UTC; mode: {}; {cores} cores; {flavor}; peers are blocking threads; load average {}",
        utc_now(),
        sizes.mode,
        load_average()
    );
    println!();

    let mut verdicts: Vec<Verdict> = Vec::new();
    let began = CpuTicks::now();
    // Each section's share of CPU time the host took counts from the end of the last.
    let mut since = began;
    let mut section = |name: &str, result: io::Result<Vec<Verdict>>| {
        println!(
            "({name}: the host took {} of the CPU time)\n",
            host::stolen_since(since)
        );
        since = CpuTicks::now();
        match result {
            Ok(v) => verdicts.extend(v),
            Err(e) => {
                println!("{name}: error: {e}\n");
                verdicts.push(Verdict::new(name, format!("error: {e}"), "runs", false));
            }
        }
    };
    // Each section runs as a spawned task, so the code under test runs on a worker
    // thread, as it would in a service.
    if want("throughput") {
        let r = rt.block_on(async { tokio::spawn(throughput::run(sizes)).await });
        section("throughput", r.map_err(io::Error::other));
    }
    if want("latency") {
        let r = rt.block_on(async { tokio::spawn(latency::run(sizes)).await });
        section("latency", r.map_err(io::Error::other).and_then(|r| r));
    }
    if want("first_frame") {
        let r = rt.block_on(async { tokio::spawn(first_frame::run(sizes)).await });
        section("first_frame", r.map_err(io::Error::other).and_then(|r| r));
    }
    if want("framing") {
        let r = rt.block_on(async { tokio::spawn(framing::run(sizes)).await });
        section("framing", r.map_err(io::Error::other).and_then(|r| r));
    }
    if want("memory") {
        let r = rt.block_on(async { tokio::spawn(memory::run(sizes)).await });
        section("memory", r.map_err(io::Error::other).and_then(|r| r));
    }
    if want("acked") {
        let r = rt.block_on(async { tokio::spawn(acked::run(sizes)).await });
        section("acked", r.map_err(io::Error::other).and_then(|r| r));
    }
    if want("send_all") {
        let r = rt.block_on(async { tokio::spawn(send_all::run(sizes)).await });
        section("send_all", r.map_err(io::Error::other).and_then(|r| r));
    }
    if want("tls") {
        let r = rt.block_on(async { tokio::spawn(tls::run(sizes)).await });
        section("tls", r.map_err(io::Error::other).and_then(|r| r));
    }
    if want("ws") {
        let r = rt.block_on(async { tokio::spawn(ws::run(sizes)).await });
        section("ws", r.map_err(io::Error::other).and_then(|r| r));
    }
    if want("alloc") {
        let r = rt.block_on(async { tokio::spawn(alloc::run(sizes)).await });
        section("alloc", r.map_err(io::Error::other).and_then(|r| r));
    }

    let failed = verdicts.iter().filter(|v| !v.pass).count();
    if !sizes.judge {
        // Unoptimised and tiny: the figures mean nothing, only that every case ran.
        let errors = verdicts.iter().filter(|v| v.target == "runs").count();
        println!(
            "smoke run (no --bench flag): every case ran end to end, {errors} errors; figures not judged"
        );
        return if errors == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    println!("## Summary against SPEC section 9");
    println!();
    report::print_verdicts(&verdicts);
    println!(
        "targets met: {} of {}; load average at the end {}; the host took {} of the CPU time",
        verdicts.len() - failed,
        verdicts.len(),
        load_average(),
        host::stolen_since(began)
    );
    if failed > 0 && config::flag("SINKGEN_BENCH_STRICT") {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews every figure.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// The current UTC date and time as `YYYY-MM-DD HH:MM`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3_600,
        rem % 3_600 / 60
    )
}
