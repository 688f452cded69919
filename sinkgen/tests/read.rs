//! Every path that reads `services.toml` (`load`, the build script, the derive) refuses
//! what is no regular file or too large, in bounded time, and reports a file that is not
//! UTF-8 at the line and column of its first bad byte, with the same message.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sinkgen-read-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One path that reads the file, and what it says.
type Reader = fn(PathBuf) -> String;

/// What each path says about the file at `path`, each within 20 s (a blocked read
/// fails the test instead of hanging it).
fn every_path(path: &Path) -> Vec<(&'static str, String)> {
    let runs: Vec<(&'static str, Reader)> = vec![
        ("load", |p| match sinkgen::load(&p) {
            Ok(_) => "loaded".to_owned(),
            Err(e) => e.render(),
        }),
        ("build script", |p| {
            match sinkgen::Builder::new().config(&p).service("app").generate() {
                Ok(_) => "generated".to_owned(),
                Err(e) => e.to_string(),
            }
        }),
        ("derive", |p| {
            let config = p.to_string_lossy().into_owned();
            let input = format!("#[sinks(config = {config:?}, service = \"app\")] pub struct S;");
            sinkgen::expand_derive(input.parse().unwrap()).to_string()
        }),
    ];
    runs.into_iter()
        .map(|(name, run)| {
            let (tx, rx) = mpsc::channel();
            let path = path.to_path_buf();
            std::thread::spawn(move || {
                let _ = tx.send(run(path));
            });
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(out) => (name, out),
                Err(_) => panic!("{name}: reading the file did not return within 20 s"),
            }
        })
        .collect()
}

fn assert_every_path_says(path: &Path, expected: &str) {
    for (name, out) in every_path(path) {
        assert!(
            out.contains(expected),
            "{name}: expected {expected:?} in:\n{out}"
        );
    }
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = dir("fifo");
    let fifo = dir.join("services.toml");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    assert_every_path_says(&fifo, "is not a regular file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_symlink_to_dev_zero_is_refused() {
    let dir = dir("zero");
    let link = dir.join("services.toml");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    assert_every_path_says(&link, "is not a regular file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_huge_sparse_file_is_refused_by_size() {
    let dir = dir("sparse");
    let path = dir.join("services.toml");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(sinkgen::MAX_CONFIG_BYTES + 1).unwrap();
    drop(file);
    assert_every_path_says(&path, "is too large");
    assert_every_path_says(&path, "reads at most 67108864 bytes (64 MiB)");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_of_the_limit_is_read() {
    let dir = dir("limit");
    let path = dir.join("services.toml");
    let mut text = String::from("[services.app]\n");
    let pad = usize::try_from(sinkgen::MAX_CONFIG_BYTES).unwrap() - text.len();
    text.push_str(&"#".repeat(pad));
    std::fs::write(&path, text).unwrap();
    let text = sinkgen::read_config(&path, Path::new("services.toml")).expect("at the limit");
    assert_eq!(text.len() as u64, sinkgen::MAX_CONFIG_BYTES);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_file_that_is_not_utf8_is_located_on_every_path() {
    let dir = dir("utf8");
    let path = dir.join("services.toml");
    std::fs::write(&path, b"[services.app]\nx = \"a\xffb\"\n").unwrap();
    for (name, out) in every_path(&path) {
        assert!(out.contains("is not valid UTF-8"), "{name}:\n{out}");
        assert!(
            out.contains("services.toml:2:7"),
            "{name}: no line and column:\n{out}"
        );
        assert!(out.contains("invalid UTF-8 here"), "{name}:\n{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
