//! `sinkgen relay` serving a tcp:// relay with a `tls` table, as a real process: a
//! sink and a subscription connect with TLS and client certificates, and a key the
//! relay cannot read stops it at the start with the key and line named. Certificates
//! are made at test time.

mod relay_peers;

use std::time::Duration;

use relay_peers::{PATIENCE, TempDir, spawn, start};
use sinkgen_runtime::tls::Tls;
use sinkgen_runtime::{
    Bytes, Framing, Received, RelaySink, Secret, SinkBuilder, SubscriptionBuilder,
};

/// A CA and a server certificate for `localhost`, a client certificate, all signed by
/// it, written as PEM files into `dir`.
fn certificates(dir: &TempDir) {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "relay test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    for (name, purpose, file) in [
        (
            "localhost",
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            "relay",
        ),
        ("feed", rcgen::ExtendedKeyUsagePurpose::ClientAuth, "client"),
    ] {
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.extended_key_usages = vec![purpose];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join(&format!("{file}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(&format!("{file}.key")), key.serialize_pem()).unwrap();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The file: one sinkgen relay over TLS requiring client certificates.
fn file(dir: &TempDir, port: u16, key: &str) -> std::path::PathBuf {
    let p = |f: &str| dir.join(f).display().to_string();
    dir.services(&format!(
        "[relays.ticks]\nendpoint = \"tcp://127.0.0.1:{port}\"\nframing = \"sinkgen\"\n\n\
         [relays.ticks.tls]\nca = {{ file = {:?} }}\nserver_name = \"localhost\"\n\
         cert = {{ file = {:?} }}\nkey = {{ file = {:?} }}\n\
         client_cert = {{ file = {:?} }}\nclient_key = {{ file = {:?} }}\n\n\
         [services.feed]\nsinks = [\"ticks\"]\n\n\
         [services.desk]\nsubscribes = [\"ticks\"]\n",
        p("ca.pem"),
        p("relay.pem"),
        p(key),
        p("client.pem"),
        p("client.key"),
    ))
}

/// What a client of the relay presents, as generated code would build it.
fn client_tls(dir: &TempDir) -> Tls {
    let s = |f: &str, key: &'static str, line| {
        Secret::file(
            dir.join(f).display().to_string(),
            key,
            "services.toml",
            line,
        )
    };
    Tls::new()
        .ca(s("ca.pem", "relays.ticks.tls.ca", 6))
        .server_name("localhost")
        .client_identity(
            s("client.pem", "relays.ticks.tls.client_cert", 10),
            s("client.key", "relays.ticks.tls.client_key", 11),
        )
}

#[test]
fn a_sink_and_a_subscription_meet_through_a_relay_served_over_tls() {
    const FRAMES: u64 = 2_000;
    let dir = TempDir::new("relay-tls");
    certificates(&dir);
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let relay = start(&file(&dir, port, "relay.key"), &["--status-interval", "0"]);

    let rt = relay_peers::runtime();
    rt.block_on(async {
        let mut sub = SubscriptionBuilder::new(url.as_str())
            .identity("desk", "ticks")
            .tls(client_tls(&dir))
            .build::<Bytes>()
            .unwrap();
        let sink: RelaySink<Bytes> = SinkBuilder::new(url.as_str())
            .name("ticks")
            .identity("feed", "ticks")
            .framing(Framing::Sinkgen)
            .tls(client_tls(&dir))
            .relay()
            .unwrap();
        // The subscription is connected (and declared) before the first frame.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !sub.status().connected {
            assert!(tokio::time::Instant::now() < deadline, "{:?}", sub.status());
            let _ = tokio::time::timeout(Duration::from_millis(20), sub.recv()).await;
        }
        // The subscription reads (and acknowledges) while the sink sends.
        let receiver = tokio::spawn(async move {
            for i in 0..FRAMES {
                match tokio::time::timeout(PATIENCE, sub.recv()).await.unwrap() {
                    Some(Received::Message { message, .. }) => {
                        assert_eq!(message.as_ref(), i.to_le_bytes(), "frame {i}");
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        });
        for i in 0..FRAMES {
            sink.send(Bytes::copy_from_slice(&i.to_le_bytes()))
                .await
                .unwrap();
        }
        receiver.await.expect("every frame received, in order");
        // Acknowledged through TLS: the relay has every frame.
        tokio::time::timeout(PATIENCE, sink.flush())
            .await
            .expect("flushed in time")
            .expect("every frame acknowledged");
        assert_eq!(sink.status().frames_sent, FRAMES);
        sink.close().await;
    });
    relay.terminate();
    let (status, out, _) = relay.wait();
    assert!(status.success(), "{out}");
    assert!(out.contains("ticks: in 2000 out 2000 dropped 0"), "{out}");
}

#[test]
fn a_relay_whose_key_cannot_be_read_stops_naming_the_key_and_line() {
    let dir = TempDir::new("relay-tls-nokey");
    certificates(&dir);
    let relay = spawn(&file(&dir, free_port(), "absent.key"), &[]);
    let (status, out, err) = relay.wait();
    assert!(!status.success(), "{out}");
    let all = format!("{out}\n{err}");
    assert!(
        all.contains("`relays.ticks.tls.key` (services.toml:9): cannot read file"),
        "{all}"
    );
}
