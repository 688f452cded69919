//! The example system runs end to end (shortened: the feed publishes for two
//! seconds) and accounts for every frame, through `sinkgen relay` and with its
//! relays on a real `nats-server` (`--nats`), on generated code at both ends.
//!
//! When `nats-server` is not on PATH the NATS case fails if `CI` is set (CI installs
//! it) and is skipped with a loud message otherwise.

use std::process::{Command, Stdio};
use std::sync::Mutex;

/// One example system at a time: each starts five processes on a 2-core machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs the shortened example with `extra` arguments, asserts it accounted for every
/// frame, and returns its standard output.
fn run_example(extra: &[&str]) -> String {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let output = Command::new(env!("CARGO_BIN_EXE_sinkgen-example"))
        .args(["--seconds", "2"])
        .args(extra)
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "exit status {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("every frame sent was received or reported lost"),
        "{stdout}"
    );
    stdout
}

/// The summary row of `sink`, which must say the sink is accounted for and sent
/// something.
fn accounted_row<'a>(stdout: &'a str, sink: &str) -> &'a str {
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(sink) && l.trim_end().ends_with("yes"))
        .unwrap_or_else(|| panic!("no accounted row for {sink}:\n{stdout}"));
    let sent: u64 = row
        .split_whitespace()
        .rev()
        .nth(4)
        .unwrap()
        .parse()
        .unwrap();
    assert!(sent > 0, "{sink} sent nothing:\n{stdout}");
    row
}

#[test]
fn the_example_system_delivers_every_frame() {
    let stdout = run_example(&[]);
    // The producers started before the relay: their sinks had to wake up.
    assert!(
        stdout.contains("starting the relay: sinkgen relay"),
        "{stdout}"
    );
    for sink in ["market_data", "signals", "orders"] {
        accounted_row(&stdout, sink);
    }
    // The receivers are the generated ones, and they came back after the restart.
    for line in [
        "market_data subscribed (#2",
        "signals subscribed (#2",
        "inbox listening for orders (#1",
    ] {
        assert!(stdout.contains(line), "{line}:\n{stdout}");
    }
    // The relay's own counters, summed over its two runs: what came in went out.
    for relay in ["market_data", "signals"] {
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("relay {relay} ")))
            .unwrap_or_else(|| panic!("no relay row for {relay}:\n{stdout}"));
        let numbers: Vec<u64> = row
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let [frames_in, frames_out, dropped] = numbers[..] else {
            panic!("{row}");
        };
        assert!(
            frames_in > 0 && frames_in == frames_out && dropped == 0,
            "{row}"
        );
    }
}

/// Whether `nats-server` can be started. Its absence fails the test in CI and skips
/// it, loudly, elsewhere.
fn nats_server_available() -> bool {
    let found = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "nats-server is not on PATH; CI installs it (`apt-get install -y nats-server` in .ci/run)"
        );
        eprintln!(
            "\n\
             ************************************************************\n\
             *** SKIPPED: nats-server is not on PATH, so the example  ***\n\
             *** did not run with --nats. `apt-get install nats-server`***\n\
             ************************************************************\n"
        );
    }
    found
}

#[test]
fn the_example_system_on_nats_delivers_every_frame() {
    if !nats_server_available() {
        return;
    }
    let stdout = run_example(&["--nats"]);
    // The relays really were NATS subjects, and the server came after the producers.
    assert!(stdout.contains("starting nats-server"), "{stdout}");
    assert!(
        stdout.contains("nats-server started on 127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("market_data subscribed (#2") && stdout.contains("signals subscribed (#2"),
        "{stdout}"
    );
    for (sink, path) in [
        ("market_data", "market_feed -> NATS -> strategy"),
        ("signals", "strategy -> NATS -> executor"),
        ("orders", "strategy -> executor (direct)"),
    ] {
        let row = accounted_row(&stdout, sink);
        assert!(row.contains(path), "{row}");
    }
}

#[test]
fn without_nats_server_the_flag_exits_2_and_says_how_to_install_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_sinkgen-example"))
        .args(["--nats", "--seconds", "2"])
        .env("PATH", "")
        .output()
        .expect("the example runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains("nats-server"), "{stderr}");
    assert!(
        stderr.contains("apt-get install -y nats-server"),
        "{stderr}"
    );
}
