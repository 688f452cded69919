//! `sinkgen check` and `sinkgen graph` refuse what is no regular file or too large
//! (exit 2, without blocking) and locate the first bad byte of a file that is not UTF-8
//! (exit 1), like the build script and the derive do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sinkgen-cli-read-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

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

fn assert_refused(file: &Path, expected: &str) {
    for command in ["check", "graph"] {
        let (code, out) = run(command, file);
        assert_eq!(code, 2, "{command}:\n{out}");
        assert!(
            out.contains(expected),
            "{command}: expected {expected:?}:\n{out}"
        );
    }
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = dir("fifo");
    let fifo = dir.join("services.toml");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    assert_refused(&fifo, "is not a regular file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_symlink_to_dev_zero_is_refused() {
    let dir = dir("zero");
    let link = dir.join("services.toml");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    assert_refused(&link, "is not a regular file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_huge_sparse_file_is_refused_by_size() {
    let dir = dir("sparse");
    let path = dir.join("services.toml");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(64 * 1024 * 1024 + 1)
        .unwrap();
    assert_refused(&path, "reads at most 67108864 bytes (64 MiB)");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_that_is_not_utf8_is_located() {
    let dir = dir("utf8");
    let path = dir.join("services.toml");
    std::fs::write(&path, b"[services.app]\nx = \"a\xffb\"\n").unwrap();
    for command in ["check", "graph"] {
        let (code, out) = run(command, &path);
        assert_eq!(code, 1, "{command}:\n{out}");
        assert!(out.contains("is not valid UTF-8"), "{command}:\n{out}");
        assert!(out.contains("services.toml:2:7"), "{command}:\n{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
