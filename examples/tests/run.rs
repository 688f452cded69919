//! The example system runs end to end (shortened: the feed publishes for two
//! seconds) and accounts for every frame.

use std::process::Command;

#[test]
fn the_example_system_delivers_every_frame() {
    let output = Command::new(env!("CARGO_BIN_EXE_sinkgen-example"))
        .args(["--seconds", "2"])
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
    // The producers started before the relay: their sinks had to wake up.
    assert!(stdout.contains("starting the relay"), "{stdout}");
    for sink in ["market_data", "signals", "orders"] {
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(sink) && l.trim_end().ends_with("yes"))
            .unwrap_or_else(|| panic!("no accounted row for {sink}:\n{stdout}"));
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
