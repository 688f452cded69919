//! Load + validate of a generated topology (SPEC section 9 scale): 1,000 services and
//! 5,000 sinks over 50 relays; target at most 50 ms.
//!
//! Run with `cargo bench -p sinkgen --bench load`.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    divan::main();
}

/// `services` services with five sinks each: two relay sinks (one to a torq relay), a
/// direct sink to the next service, an endpoint outside the registry, and a broadcast
/// over the two relay sinks; every service listens and subscribes to two relays.
fn topology(services: usize) -> String {
    let relays = 50;
    let mut s = String::from(
        "[defaults]\nconnect_timeout = \"250ms\"\nqueue = 1024\n\
         backoff = { initial = \"5ms\", max = \"2s\" }\n\n",
    );
    for r in 0..relays {
        let _ = write!(
            s,
            "[relays.relay_{r}]\nendpoint = \"unix:///tmp/sinkgen-bench/relay_{r}.sock\"\n"
        );
        if r < 10 {
            let _ = write!(s, "framing = \"torq\"\ndomain = {r}\n");
        }
        let _ = writeln!(s, "message = \"protocol::Event{}\"\n", r % 5);
    }
    for i in 0..services {
        let next = (i + 1) % services;
        let a = i % relays;
        let _ = write!(
            s,
            "[services.service_{i}]\nlisten = \"unix:///tmp/sinkgen-bench/service_{i}.sock\"\n\
             subscribes = [\"relay_{}\", \"relay_{}\"]\n",
            (i + 1) % relays,
            (i + 2) % relays
        );
        if i < 256 {
            let _ = writeln!(s, "source = {i}");
        }
        // Only services with a torq source id send to the torq relays (0..10).
        let a = if i < 256 { a } else { 10 + a % 40 };
        // Same `message` as `a` (r % 5), so that the broadcast over both is well typed.
        let b = 10 + (a + 5) % 40;
        let _ = write!(
            s,
            "\n[services.service_{i}.sinks]\n\
             first = {{ relay = \"relay_{a}\" }}\n\
             second = {{ relay = \"relay_{b}\", send_timeout = \"200ms\" }}\n\
             next = {{ service = \"service_{next}\" }}\n\
             outside = {{ endpoint = \"tcp://127.0.0.1:{}\" }}\n\
             both = {{ broadcast = [\"first\", \"second\"] }}\n\n",
            10_000 + i
        );
    }
    s
}

#[divan::bench(args = [100, 1_000])]
fn load_and_validate(bencher: divan::Bencher, services: usize) {
    let text = topology(services);
    let loaded = sinkgen::load_str(Path::new("services.toml"), &text);
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(err) => panic!("the generated topology must be valid:\n{err}"),
    };
    let sinks: usize = loaded.topology.services.iter().map(|s| s.sinks.len()).sum();
    assert_eq!(sinks, services * 5);
    bencher
        .counter(divan::counter::BytesCount::new(text.len()))
        .bench(|| sinkgen::load_str(Path::new("services.toml"), divan::black_box(&text)));
}

#[divan::bench]
fn render_100_errors(bencher: divan::Bencher) {
    let mut text = topology(1_000);
    // A hundred sinks naming a relay that does not exist.
    for i in 0..100 {
        text = text.replacen(
            &format!("[services.service_{i}.sinks]\nfirst = {{ relay = \"relay_"),
            &format!("[services.service_{i}.sinks]\nfirst = {{ relay = \"rely_"),
            1,
        );
    }
    let err = sinkgen::load_str(Path::new("services.toml"), &text).expect_err("invalid");
    assert_eq!(err.error_count(), 100);
    bencher.bench(|| divan::black_box(&err).render());
}
