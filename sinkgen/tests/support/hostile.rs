//! Files a `services.toml` path may point at that no reader may trust: what is no
//! regular file, what is too large, what is not UTF-8. Every reader of the file (the
//! library's `load`, the build script, the derive, and the CLI's commands) is tested
//! against this one list.

use std::path::PathBuf;

/// One hostile file and what every reader must say about it.
pub struct Hostile {
    /// What it is, for test messages.
    pub name: &'static str,
    /// The file, made in the case's directory.
    pub path: PathBuf,
    /// Text every reader's message contains.
    pub says: &'static [&'static str],
    /// Whether it is refused before reading (no regular file, too large) rather than
    /// read and reported with a line and column (not UTF-8): the CLI's exit codes
    /// differ.
    #[allow(dead_code, reason = "only the CLI's test tells the two apart")]
    pub refused_unread: bool,
}

/// A fresh directory under the system's temporary directory.
pub fn fresh_dir(prefix: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Makes every hostile file, each as `services.toml` in its own directory under
/// `prefix`.
pub fn hostile_files(prefix: &str) -> Vec<Hostile> {
    let file = |name: &str| fresh_dir(prefix, name).join("services.toml");

    let fifo = file("fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");

    let zero = file("zero");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();

    let sparse = file("sparse");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(64 * 1024 * 1024 + 1)
        .unwrap();

    let utf8 = file("utf8");
    std::fs::write(&utf8, b"[services.app]\nx = \"a\xffb\"\n").unwrap();

    vec![
        Hostile {
            name: "a fifo",
            path: fifo,
            says: &["is not a regular file"],
            refused_unread: true,
        },
        Hostile {
            name: "a symlink to /dev/zero",
            path: zero,
            says: &["is not a regular file"],
            refused_unread: true,
        },
        Hostile {
            name: "a huge sparse file",
            path: sparse,
            says: &["is too large", "reads at most 67108864 bytes (64 MiB)"],
            refused_unread: true,
        },
        Hostile {
            name: "a file that is not UTF-8",
            path: utf8,
            says: &[
                "is not valid UTF-8",
                "services.toml:2:7",
                "invalid UTF-8 here",
            ],
            refused_unread: false,
        },
    ]
}

/// Removes the directories [`hostile_files`] made.
pub fn remove(files: &[Hostile]) {
    for f in files {
        if let Some(dir) = f.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
