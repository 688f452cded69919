//! `sinkgen relay` as a real process: torq and length-prefixed relays over Unix
//! sockets and TCP, socket files, refusing a bad file, and the SIGTERM drain. (The
//! sinkgen-protocol side is tested through the library in relay/tests.)

mod relay_peers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use relay_peers::{TempDir, read_torq, spawn, start, torq_frame, write_torn};

fn torq_file(dir: &TempDir) -> std::path::PathBuf {
    let sock = dir.join("ticks.sock");
    dir.services(&format!(
        "[relays.ticks]\nendpoint = \"unix://{}\"\nframing = \"torq\"\ndomain = 4\n\n\
         [services.feed]\nsource = 9\nsinks = [\"ticks\"]\n\n\
         [services.risk]\nsubscribes = [\"ticks\"]\n",
        sock.display()
    ))
}

fn connect(sock: &Path) -> UnixStream {
    let s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(relay_peers::PATIENCE)).unwrap();
    s
}

#[test]
fn torq_frames_arrive_whole_at_a_reader_even_when_written_coalesced_and_torn() {
    let dir = TempDir::new("torq");
    let file = torq_file(&dir);
    let sock = dir.join("ticks.sock");
    let mut relay = start(&file, &["--status-interval", "0"]);
    let mut reader = connect(&sock);
    relay.stderr_line(|l| l.contains("connected relay=ticks connection=1"));
    let mut writer = connect(&sock);
    relay.stderr_line(|l| l.contains("connected relay=ticks connection=2"));
    // Mixed sizes, all in one buffer, written in pieces that cut headers and payloads.
    let frames: Vec<Vec<u8>> = (1..=200u64)
        .map(|i| torq_frame(4, 9, i, &vec![i as u8; (i as usize * 37) % 700]))
        .collect();
    let all = frames.concat();
    write_torn(&mut writer, &all, &[5, 20, 31, 1000, 3, 4096]);
    assert_eq!(read_torq(&mut reader, 200), frames);
    // The writer does not get its own frames back: fan-out is to the other connections.
    drop(writer);
    relay.terminate();
    let (status, out, _) = relay.wait();
    assert!(status.success(), "{out}");
    assert!(out.contains("ticks: in 200 out 200 dropped 0"), "{out}");
}

#[test]
fn a_torq_frame_with_a_bad_crc_closes_its_connection_and_is_counted() {
    let dir = TempDir::new("badcrc");
    let file = torq_file(&dir);
    let sock = dir.join("ticks.sock");
    let mut relay = start(&file, &["--status-interval", "0"]);
    let mut reader = connect(&sock);
    relay.stderr_line(|l| l.contains("connected relay=ticks connection=1"));
    let mut writer = connect(&sock);
    relay.stderr_line(|l| l.contains("connected relay=ticks connection=2"));
    let good = torq_frame(4, 9, 1, b"good");
    let mut bad = torq_frame(4, 9, 2, b"bad!");
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    writer.write_all(&[good.clone(), bad].concat()).unwrap();
    assert_eq!(read_torq(&mut reader, 1), vec![good]);
    let line = relay.stderr_line(|l| l.contains("bad frame"));
    assert!(line.contains("CRC mismatch"), "{line}");
    // The relay closed the writer's connection.
    let mut rest = Vec::new();
    writer
        .set_read_timeout(Some(relay_peers::PATIENCE))
        .unwrap();
    assert_eq!(writer.read_to_end(&mut rest).unwrap(), 0);
    relay.terminate();
    let (_, out, _) = relay.wait();
    assert!(
        out.contains("ticks: in 1 out 1 dropped 0 dup 0 bad 1"),
        "{out}"
    );
}

#[test]
fn a_length_prefixed_relay_on_tcp_splits_by_the_prefix() {
    let dir = TempDir::new("tcp");
    // A free port: the file cannot say port 0.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = dir.services(&format!(
        "[relays.orders]\nendpoint = \"tcp://127.0.0.1:{port}\"\nframing = \"length-prefixed\"\n\n\
         [services.desk]\nsinks = [\"orders\"]\n\n[services.exec]\nsubscribes = [\"orders\"]\n"
    ));
    let mut relay = start(&file, &["--status-interval", "0"]);
    let mut reader = TcpStream::connect(("127.0.0.1", port)).unwrap();
    reader
        .set_read_timeout(Some(relay_peers::PATIENCE))
        .unwrap();
    relay.stderr_line(|l| l.contains("connected relay=orders connection=1"));
    let mut writer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    relay.stderr_line(|l| l.contains("connected relay=orders connection=2"));
    let mut wire = Vec::new();
    for i in 0..50u32 {
        let body = vec![b'x'; (i * 13 % 300) as usize];
        wire.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
        wire.extend_from_slice(&body);
    }
    write_torn(&mut writer, &wire, &[2, 3, 500]);
    let mut got = vec![0; wire.len()];
    reader.read_exact(&mut got).unwrap();
    assert_eq!(got, wire);
    relay.terminate();
    let (status, out, _) = relay.wait();
    assert!(status.success());
    assert!(out.contains("orders: in 50 out 50"), "{out}");
}

#[test]
fn a_stale_socket_file_is_replaced_and_the_new_one_is_owner_only() {
    let dir = TempDir::new("stale");
    let file = torq_file(&dir);
    let sock = dir.join("ticks.sock");
    // A socket file nobody listens on, as a killed relay leaves it.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(UnixStream::connect(&sock).is_err());
    let relay = start(&file, &["--status-interval", "0"]);
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    UnixStream::connect(&sock).unwrap();
    relay.terminate();
    let (status, _, _) = relay.wait();
    assert!(status.success());
    assert!(
        !sock.exists(),
        "the relay removes its socket file when it stops"
    );
}

#[test]
fn the_file_can_open_the_socket_to_the_relays_group() {
    let dir = TempDir::new("mode");
    let sock = dir.join("ticks.sock");
    let file = dir.services(&format!(
        "[relays.ticks]\nendpoint = \"unix://{}\"\nsocket_mode = 0o660\n\n\
         [services.feed]\nsinks = [\"ticks\"]\n",
        sock.display()
    ));
    let relay = start(&file, &["--status-interval", "0"]);
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);
    relay.terminate();
    assert!(relay.wait().0.success());
}

#[test]
fn a_live_socket_is_not_taken_over() {
    let dir = TempDir::new("live");
    let file = torq_file(&dir);
    let first = start(&file, &["--status-interval", "0"]);
    let (status, _, err) = spawn(&file, &[]).wait();
    assert_eq!(status.code(), Some(1));
    let sock = dir.join("ticks.sock");
    assert!(
        err.contains(&format!(
            "relay `ticks` cannot listen on unix://{}",
            sock.display()
        )),
        "{err}"
    );
    assert!(err.contains("another process is serving"), "{err}");
    assert!(err.contains("services.toml:1 ([relays.ticks])"), "{err}");
    // The first relay still serves.
    UnixStream::connect(&sock).unwrap();
    drop(first);
}

#[test]
fn a_file_with_errors_is_refused_with_its_diagnostics() {
    let dir = TempDir::new("errors");
    let file =
        dir.services("[relays.ticks]\nendpoint = \"unix:///tmp/x.sock\"\nframing = \"torq\"\n");
    let (status, out, err) = spawn(&file, &[]).wait();
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("domain"), "{err}");
    assert!(!out.contains("ready"), "{out}");
}

#[test]
fn sigterm_drains_and_prints_the_final_counters() {
    let dir = TempDir::new("sigterm");
    let file = torq_file(&dir);
    let sock = dir.join("ticks.sock");
    let mut relay = start(&file, &["--status-interval", "0", "--drain-timeout", "2"]);
    let mut reader = connect(&sock);
    relay.stderr_line(|l| l.contains("connection=1"));
    let mut writer = connect(&sock);
    relay.stderr_line(|l| l.contains("connection=2"));
    let frames: Vec<Vec<u8>> = (1..=20).map(|i| torq_frame(4, 9, i, b"tick")).collect();
    writer.write_all(&frames.concat()).unwrap();
    assert_eq!(read_torq(&mut reader, 20), frames);
    relay.terminate();
    let (status, out, _) = relay.wait();
    assert!(status.success(), "{out}");
    assert!(out.contains("SIGTERM: draining"), "{out}");
    assert!(out.contains("ticks: in 20 out 20 dropped 0"), "{out}");
    assert!(out.contains("every frame received was delivered"), "{out}");
    assert!(!sock.exists());
    // The relay closed the connections.
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0);
}
