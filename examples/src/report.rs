//! How the child processes talk to the orchestrator: one line per message on
//! standard output (`event <text>`, `stats k=v ...`, `final k=v ...`), and a
//! `stop` line (or end of file) on standard input when it is time to finish.

use tokio::io::{AsyncBufReadExt, BufReader};

/// Reports something that happened (a connection, a state change).
pub fn event(text: impl std::fmt::Display) {
    println!("event {text}");
}

/// Reports the current counters.
pub fn stats<K: std::fmt::Display>(counters: &[(K, u64)]) {
    println!("stats {}", join(counters));
}

/// Reports the final counters; the process exits right after.
pub fn final_stats<K: std::fmt::Display>(counters: &[(K, u64)]) {
    println!("final {}", join(counters));
}

fn join<K: std::fmt::Display>(counters: &[(K, u64)]) -> String {
    counters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The orchestrator's commands (`stop`, `pause`, `resume`), one per line of
/// standard input; the end of standard input reads as `stop`.
pub fn commands() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if tx.send(line.trim().to_owned()).is_err() {
                return;
            }
        }
        let _ = tx.send("stop".to_owned());
    });
    rx
}

/// Resolves when the orchestrator writes `stop` or closes standard input.
pub async fn stop_requested() {
    let mut commands = commands();
    while let Some(command) = commands.recv().await {
        if command == "stop" {
            return;
        }
    }
}
