//! Run sizes: full, quick (`SINKGEN_BENCH_QUICK=1`, for CI smoke runs) and the tiny
//! smoke mode used when the bench binary is run by `cargo test` (no `--bench` flag).

use std::env;

/// How much work each case does.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Name printed in the header.
    pub mode: &'static str,
    /// Repetitions of each throughput case; the median is reported.
    pub reps: usize,
    /// Frames per throughput run for the coalescing designs (sinkgen, baseline b).
    pub frames_fast: u64,
    /// Frames per throughput run for the one-write-per-frame baseline (c).
    pub frames_slow: u64,
    /// Round trips per design in the ping-pong latency case.
    pub pings: usize,
    /// Fresh connections per design and transport in the first-frame case.
    pub first_frames: usize,
    /// Frames sent while counting allocations.
    pub alloc_frames: u64,
    /// Connected sinks that each send one burst in the memory case.
    pub idle_sinks: usize,
    /// Whether the figures are judged against the targets (not in the smoke mode).
    pub judge: bool,
}

impl Sizes {
    /// Full run: the figures that go in BENCHMARKS.md.
    pub const FULL: Sizes = Sizes {
        mode: "full",
        reps: 15,
        frames_fast: 300_000,
        frames_slow: 30_000,
        pings: 20_000,
        first_frames: 1_000,
        alloc_frames: 200_000,
        idle_sinks: 1_000,
        judge: true,
    };
    /// Quick run for CI smoke tests: same cases, fewer frames.
    pub const QUICK: Sizes = Sizes {
        mode: "quick",
        reps: 3,
        frames_fast: 200_000,
        frames_slow: 20_000,
        pings: 2_000,
        first_frames: 100,
        alloc_frames: 20_000,
        idle_sinks: 100,
        judge: true,
    };
    /// Run by `cargo test`: proves the cases work end to end, measures nothing useful.
    pub const SMOKE: Sizes = Sizes {
        mode: "smoke (cargo test)",
        reps: 1,
        frames_fast: 2_000,
        frames_slow: 200,
        pings: 50,
        first_frames: 5,
        alloc_frames: 1_000,
        idle_sinks: 2,
        judge: false,
    };

    /// Picks the sizes from the command line and `SINKGEN_BENCH_QUICK`.
    pub fn from_env() -> Sizes {
        let bench = env::args().any(|a| a == "--bench");
        if !bench {
            Sizes::SMOKE
        } else if flag("SINKGEN_BENCH_QUICK") {
            Sizes::QUICK
        } else {
            Sizes::FULL
        }
    }
}

/// True when the environment variable is set to something other than "", "0" or "false".
pub fn flag(name: &str) -> bool {
    env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Section names given on the command line (`cargo bench -p sinkgen-benches -- latency`);
/// empty means every section.
pub fn filters() -> Vec<String> {
    env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect()
}
