//! Every path that reads `services.toml` (`load`, the build script, the derive) refuses
//! what is no regular file or too large, in bounded time, and reports a file that is not
//! UTF-8 at the line and column of its first bad byte, with the same message.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

#[path = "support/hostile.rs"]
mod hostile;

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

#[test]
fn hostile_files_are_refused_or_located_on_every_path() {
    let files = hostile::hostile_files("sinkgen-read");
    for file in &files {
        for (reader, out) in every_path(&file.path) {
            for expected in file.says {
                assert!(
                    out.contains(expected),
                    "{reader}, {}: expected {expected:?} in:\n{out}",
                    file.name
                );
            }
        }
    }
    hostile::remove(&files);
}

#[test]
fn a_file_of_the_limit_is_read() {
    let dir = hostile::fresh_dir("sinkgen-read", "limit");
    let path = dir.join("services.toml");
    let mut text = String::from("[services.app]\n");
    let pad = usize::try_from(sinkgen::MAX_CONFIG_BYTES).unwrap() - text.len();
    text.push_str(&"#".repeat(pad));
    std::fs::write(&path, text).unwrap();
    let text = sinkgen::read_config(&path, Path::new("services.toml")).expect("at the limit");
    assert_eq!(text.len() as u64, sinkgen::MAX_CONFIG_BYTES);
    let _ = std::fs::remove_dir_all(&dir);
}
