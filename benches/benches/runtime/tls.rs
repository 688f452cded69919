//! TLS next to plaintext on TCP, in the same run: one `tcp://` sink with
//! length-prefixed framing sending to a blocking peer that reads everything (a
//! rustls server for the TLS case), frames per second from the first send until
//! the peer has read the last byte. Certificates are made at the start with rcgen.

use std::io::{self, Read};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use sinkgen_benches::config::Sizes;
use sinkgen_benches::stats::median;
use sinkgen_runtime::tls::Tls;
use sinkgen_runtime::{Bytes, Framing, RelaySink, Secret, SinkBuilder};

use crate::report::{Table, Verdict, mfps};

/// PEM files of a self-signed server certificate for `localhost`, in a temporary
/// directory removed on drop.
pub(crate) struct Certs {
    pub(crate) dir: std::path::PathBuf,
    pub(crate) server: Arc<rustls::ServerConfig>,
}

impl Certs {
    pub(crate) fn new() -> io::Result<Certs> {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .map_err(io::Error::other)?;
        let dir = std::env::temp_dir().join(format!("sinkgen-bench-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("cert.pem"), certified.cert.pem())?;
        std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem())?;
        let certs = Certs {
            server: Arc::new(
                Certs::tls_of(&dir)
                    .server_config()
                    .map_err(io::Error::other)?,
            ),
            dir,
        };
        Ok(certs)
    }

    pub(crate) fn tls_of(dir: &std::path::Path) -> Tls {
        let file = |f: &str, key: &'static str| {
            Secret::file(dir.join(f).display().to_string(), key, "bench", 1)
        };
        Tls::new()
            .ca(file("cert.pem", "tls.ca"))
            .server_name("localhost")
            .identity(file("cert.pem", "tls.cert"), file("key.pem", "tls.key"))
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One run: `frames` frames of `size` bytes; frames per second.
async fn once(certs: Option<&Certs>, frames: u64, size: usize) -> io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let expected = frames * (4 + size as u64);
    let server = certs.map(|c| Arc::clone(&c.server));
    let peer = std::thread::spawn(move || -> io::Result<Instant> {
        let (tcp, _) = listener.accept()?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut read = 0u64;
        let mut stream: Box<dyn Read> = match server {
            None => Box::new(tcp),
            Some(config) => {
                let conn = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
                Box::new(rustls::StreamOwned::new(conn, tcp))
            }
        };
        while read < expected {
            match stream.read(&mut buf)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => read += n as u64,
            }
        }
        Ok(Instant::now())
    });
    let mut builder = SinkBuilder::new(format!("tcp://127.0.0.1:{port}"))
        .framing(Framing::LengthPrefixed)
        .queue(65_536);
    if let Some(c) = certs {
        builder = builder.tls(Certs::tls_of(&c.dir));
    }
    let sink: RelaySink<Bytes> = builder.relay().map_err(io::Error::other)?;
    let payload = Bytes::from(vec![7u8; size]);
    let start = Instant::now();
    for _ in 0..frames {
        sink.send(payload.clone()).await.map_err(io::Error::other)?;
    }
    let end = tokio::task::spawn_blocking(move || peer.join())
        .await
        .map_err(io::Error::other)?
        .map_err(|_| io::Error::other("the peer panicked"))??;
    sink.close().await;
    Ok(frames as f64 / end.duration_since(start).as_secs_f64())
}

pub async fn run(sizes: Sizes) -> io::Result<Vec<Verdict>> {
    let frames = (sizes.frames_fast / 4).max(1_000);
    println!("## TLS: one tcp:// sink, plaintext vs TLS (rustls, ring), draining peer");
    println!(
        "frames per run: {frames}; length-prefixed framing; median of {} runs each, plaintext and TLS interleaved",
        sizes.reps
    );
    println!();
    let certs = Certs::new()?;
    let mut table = Table::new(&["case", "plaintext", "TLS", "TLS / plaintext"]);
    let mut verdicts = Vec::new();
    for size in [64usize, 1024] {
        let (mut plain, mut tls) = (Vec::new(), Vec::new());
        for _ in 0..sizes.reps {
            plain.push(once(None, frames, size).await?);
            tls.push(once(Some(&certs), frames, size).await?);
        }
        let (p, t) = (median(&plain), median(&tls));
        let ratio = t / p;
        let case = format!("tcp {size} B");
        table.row(vec![case.clone(), mfps(p), mfps(t), format!("{ratio:.2}")]);
        verdicts.push(Verdict::new(
            format!("TLS vs plaintext, {case}"),
            format!("{ratio:.2}"),
            "reported",
            true,
        ));
    }
    table.print();
    println!();
    Ok(verdicts)
}
