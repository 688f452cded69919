//! `sinkgen relay` as a child process, and small torq / length-prefixed peers over
//! real sockets (the runtime's sinks and receivers can take their place later).

#![allow(dead_code, reason = "not every test uses every helper")]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a test waits for anything before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A directory of its own for one test, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sgc-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `services.toml` here and returns its path.
    pub fn services(&self, text: &str) -> PathBuf {
        let path = self.join("services.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `sinkgen relay`, its output read line by line.
pub struct RelayProcess {
    child: Child,
    out: mpsc::Receiver<String>,
    err: mpsc::Receiver<String>,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

fn lines(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs `sinkgen relay <file> <args>` without waiting.
pub fn spawn(file: &Path, args: &[&str]) -> RelayProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sinkgen"))
        .arg("relay")
        .arg(file)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    RelayProcess {
        child,
        out,
        err,
        stdout: Vec::new(),
        stderr: Vec::new(),
    }
}

/// A runtime with two workers, for a test's sinks and subscriptions.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A file with one sinkgen relay `ticks` at `url`, its producer `feed` and its
/// subscriber `desk` (the kill tests' topology).
pub fn ticks_file(dir: &TempDir, url: &str) -> PathBuf {
    dir.services(&format!(
        "[relays.ticks]\nendpoint = \"{url}\"\nframing = \"sinkgen\"\n\n\
         [services.feed]\nsinks = [\"ticks\"]\n\n\
         [services.desk]\nsubscribes = [\"ticks\"]\n"
    ))
}

/// The producer's sink of [`ticks_file`]: sinkgen framing, a `queue` of `frames`
/// (the kill tests' whole run), a generous send timeout.
pub fn ticks_sink(url: &str, frames: u64) -> sinkgen_runtime::SinkBuilder {
    sinkgen_runtime::SinkBuilder::new(url)
        .name("ticks")
        .identity("feed", "ticks")
        .framing(sinkgen_runtime::Framing::Sinkgen)
        .queue(frames as usize)
        .send_timeout(Duration::from_secs(30))
}

/// Runs `sinkgen relay` and waits until it says it is ready.
pub fn start(file: &Path, args: &[&str]) -> RelayProcess {
    let mut relay = spawn(file, args);
    relay.stdout_line(|l| l.contains("ready"));
    relay
}

impl RelayProcess {
    /// Waits for a line of standard output that `pick`s.
    pub fn stdout_line(&mut self, pick: impl Fn(&str) -> bool) -> String {
        Self::line(&self.out, &mut self.stdout, pick, "stdout")
    }

    /// Waits for a line of standard error (the events) that `pick`s.
    pub fn stderr_line(&mut self, pick: impl Fn(&str) -> bool) -> String {
        Self::line(&self.err, &mut self.stderr, pick, "stderr")
    }

    fn line(
        rx: &mpsc::Receiver<String>,
        seen: &mut Vec<String>,
        pick: impl Fn(&str) -> bool,
        what: &str,
    ) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    seen.push(line.clone());
                    if pick(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no such line on {what}; got:\n{}", seen.join("\n")),
            }
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the process to end; returns its status and all its output.
    pub fn wait(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the relay did not exit");
            std::thread::sleep(Duration::from_millis(10));
        };
        self.stdout.extend(self.out.iter());
        self.stderr.extend(self.err.iter());
        (status, self.stdout.join("\n"), self.stderr.join("\n"))
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One torq frame: header (domain, source, sequence) and payload.
pub fn torq_frame(domain: u8, source: u8, sequence: u64, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(32 + payload.len());
    f.extend_from_slice(&0xDEAD_BEEF_u32.to_le_bytes());
    f.extend_from_slice(&[domain, 1, source, 0]);
    f.extend_from_slice(&sequence.to_le_bytes());
    f.extend_from_slice(&1_000_u64.to_le_bytes());
    f.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&f);
    crc.update(payload);
    f.extend_from_slice(&crc.finalize().to_le_bytes());
    f.extend_from_slice(payload);
    f
}

/// Reads `n` whole torq frames from `r`, splitting by each header's payload size.
pub fn read_torq(r: &mut impl Read, n: usize) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for _ in 0..n {
        let mut header = [0; 32];
        r.read_exact(&mut header).unwrap();
        let size = u32::from_le_bytes(header[24..28].try_into().unwrap()) as usize;
        let mut frame = header.to_vec();
        frame.resize(32 + size, 0);
        r.read_exact(&mut frame[32..]).unwrap();
        frames.push(frame);
    }
    frames
}

/// Writes `bytes` in pieces of the given sizes (the rest in one write).
pub fn write_torn(w: &mut impl Write, bytes: &[u8], pieces: &[usize]) {
    let mut at = 0;
    for &p in pieces {
        let end = (at + p).min(bytes.len());
        w.write_all(&bytes[at..end]).unwrap();
        w.flush().unwrap();
        at = end;
        std::thread::sleep(Duration::from_millis(2));
    }
    w.write_all(&bytes[at..]).unwrap();
}
