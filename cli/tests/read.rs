//! `sinkgen check` and `sinkgen graph` refuse what is no regular file or too large
//! (exit 2, without blocking) and locate the first bad byte of a file that is not UTF-8
//! (exit 1), like the build script and the derive do.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../sinkgen/tests/support/hostile.rs"]
mod hostile;

/// Runs `sinkgen <command> <file>`; kills it and fails after 20 s.
fn run(command: &str, file: &Path) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sinkgen"))
        .args([command, &file.to_string_lossy()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sinkgen {command} {} did not return within 20 s",
                file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// What is no regular file or too large is trouble (exit 2); a file that is not UTF-8
/// is a mistake in the file (exit 1), located like the build script locates it.
#[test]
fn hostile_files_are_refused_or_located() {
    let files = hostile::hostile_files("sinkgen-cli-read");
    for file in &files {
        for command in ["check", "graph"] {
            let (code, out) = run(command, &file.path);
            let want = if file.refused_unread { 2 } else { 1 };
            assert_eq!(code, want, "{command}, {}:\n{out}", file.name);
            for expected in file.says {
                assert!(
                    out.contains(expected),
                    "{command}, {}: expected {expected:?} in:\n{out}",
                    file.name
                );
            }
        }
    }
    hostile::remove(&files);
}
