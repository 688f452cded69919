//! The example system with its relays on NATS (`--nats`, shortened: the feed
//! publishes for two seconds) runs end to end against a real `nats-server` and
//! accounts for every frame.
//!
//! When `nats-server` is not on PATH the test fails if `CI` is set (CI installs it)
//! and is skipped with a loud message otherwise.

use std::process::{Command, Stdio};

/// Whether `nats-server` can be started. Its absence fails the test in CI and skips
/// it, loudly, elsewhere.
fn server_available() -> bool {
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
    if !server_available() {
        return;
    }
    let output = Command::new(env!("CARGO_BIN_EXE_sinkgen-example"))
        .args(["--nats", "--seconds", "2"])
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
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
    // The relays really were NATS subjects, and the server came after the producers.
    assert!(stdout.contains("starting nats-server"), "{stdout}");
    assert!(
        stdout.contains("nats-server started on 127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("subscribed to sinkgen.example.market_data")
            && stdout.contains("subscribed to sinkgen.example.signals"),
        "{stdout}"
    );
    for (sink, path) in [
        ("market_data", "market_feed -> NATS -> strategy"),
        ("signals", "strategy -> NATS -> executor"),
        ("orders", "strategy -> executor (direct)"),
    ] {
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(sink) && l.trim_end().ends_with("yes"))
            .unwrap_or_else(|| panic!("no accounted row for {sink}:\n{stdout}"));
        assert!(row.contains(path), "{row}");
        let sent: u64 = row
            .split_whitespace()
            .rev()
            .nth(3)
            .unwrap()
            .parse()
            .unwrap();
        assert!(sent > 0, "{sink} sent nothing:\n{stdout}");
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
