//! The diagnostics of every fixture under `fixtures/`: each `err/*.toml` must fail to
//! load with at least one error, and its rendered diagnostics are snapshotted; each
//! `ok/*.toml` must load, and its warnings and a summary of its topology are
//! snapshotted.

use std::fmt::Write as _;
use std::path::Path;

use sinkgen::model::{Framing, SinkTarget, Topology};

/// The path shown in messages: relative, so snapshots do not depend on the checkout.
fn shown(path: &Path) -> std::path::PathBuf {
    let dir = path
        .parent()
        .and_then(Path::file_name)
        .expect("fixture in a directory");
    Path::new("fixtures")
        .join(dir)
        .join(path.file_name().expect("fixture file name"))
}

#[test]
fn err_fixtures_fail_with_rendered_diagnostics() {
    let mut count = 0;
    insta::glob!("../fixtures/err", "*.toml", |path| {
        count += 1;
        let text = std::fs::read_to_string(path).expect("read fixture");
        let err = match sinkgen::load_str(&shown(path), &text) {
            Ok(_) => panic!("{} loaded, but it must fail", path.display()),
            Err(err) => err,
        };
        assert!(
            err.has_errors(),
            "{}: no error among the diagnostics",
            path.display()
        );
        for d in err.iter() {
            let message = &d.message;
            assert!(!message.ends_with('.'), "trailing period: {message}");
            assert!(
                !message.starts_with(|c: char| c.is_uppercase()),
                "message starts with a capital: {message}"
            );
            if d.is_error() {
                assert!(d.help.is_some(), "error without a help line: {message}");
            }
            if let Some(span) = &d.span {
                assert!(span.end <= text.len(), "span outside the file: {message}");
                assert!(!d.label.is_empty(), "span without a label: {message}");
            }
        }
        insta::assert_snapshot!(err.render());
    });
    assert!(count >= 35, "only {count} err fixtures");
}

#[test]
fn ok_fixtures_load() {
    let mut count = 0;
    insta::glob!("../fixtures/ok", "*.toml", |path| {
        count += 1;
        let text = std::fs::read_to_string(path).expect("read fixture");
        let loaded = match sinkgen::load_str(&shown(path), &text) {
            Ok(loaded) => loaded,
            Err(err) => panic!("{} must load:\n{err}", path.display()),
        };
        assert!(!loaded.warnings.has_errors());
        let mut out = summary(&loaded.topology);
        if !loaded.warnings.is_empty() {
            out.push('\n');
            out.push_str(&loaded.warnings.render());
        }
        insta::assert_snapshot!(out);
    });
    assert!(count >= 5, "only {count} ok fixtures");
}

/// The example of SPEC section 2, verbatim, is a valid file.
#[test]
fn spec_example_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ok/spec_example.toml");
    let loaded = sinkgen::load(&path).expect("the spec example loads");
    let flash = loaded.service("flash_arbitrage").expect("service exists");
    assert_eq!(flash.sinks.len(), 6);
    assert_eq!(
        flash.sink("orders").map(|s| &s.target),
        Some(&SinkTarget::Failover(vec![
            "executor".into(),
            "hedge".into()
        ]))
    );
    let md = loaded.topology.relay("market_data").expect("relay exists");
    assert_eq!(md.framing, Framing::Torq { domain: 1 });
    assert_eq!(md.message.as_deref(), Some("protocol::MarketEvent"));
    assert_eq!(md.line, 9);
}

/// A relay that does not set `backlog` gets the one default of `sinkgen_config`.
#[test]
fn relays_without_backlog_get_the_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ok/backlog.toml");
    let loaded = sinkgen::load(&path).expect("the backlog fixture loads");
    let backlog = |name: &str| loaded.topology.relay(name).map(|r| r.backlog);
    assert_eq!(backlog("quotes"), Some(1024));
    assert_eq!(backlog("ticks"), Some(16_777_216));
    assert_eq!(backlog("fills"), Some(sinkgen_config::policy::BACKLOG));
}

#[test]
fn selected_service_missing_lists_the_services() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ok/trading.toml");
    let text = std::fs::read_to_string(&path).expect("read fixture");
    let loaded = sinkgen::load_str(Path::new("fixtures/ok/trading.toml"), &text).expect("loads");
    let err = loaded
        .service("flash_arbitrge")
        .expect_err("no such service");
    assert!(err.has_errors());
    insta::assert_snapshot!("selected_service_typo", err.render());
    let err = loaded.service("web_frontend").expect_err("no such service");
    insta::assert_snapshot!("selected_service_unknown", err.render());
}

#[test]
fn missing_file_lists_every_place_looked_at() {
    let root = std::env::temp_dir().join(format!("sinkgen-lookup-{}", std::process::id()));
    let krate = root.join("crates/feed");
    std::fs::create_dir_all(&krate).expect("create the crate dir");
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"crates/*\"]\n",
    )
    .expect("write the workspace manifest");
    std::fs::write(krate.join("Cargo.toml"), "[package]\nname = \"feed\"\n")
        .expect("write the crate manifest");
    let walk = sinkgen::find_config(None, &krate, None).expect_err("nothing there");
    let explicit = sinkgen::find_config(Some(Path::new("config/services.toml")), &krate, None)
        .expect_err("nothing there");
    let env = sinkgen::find_config(None, &krate, Some("../elsewhere.toml".into()))
        .expect_err("nothing there");
    // Once the file exists, the walk finds it at the workspace root.
    std::fs::write(root.join("services.toml"), "").expect("write services.toml");
    let found = sinkgen::find_config(None, &krate, None).expect("found at the root");
    std::fs::remove_dir_all(&root).expect("clean up");
    assert_eq!(found, root.join("services.toml"));

    let root = root.display().to_string();
    let shown = |d: &sinkgen::Diagnostics| d.render().replace(&root, "[WORKSPACE]");
    insta::assert_snapshot!("missing_file_walk", shown(&walk));
    insta::assert_snapshot!("missing_file_explicit", shown(&explicit));
    insta::assert_snapshot!("missing_file_env", shown(&env));
}

#[test]
fn file_lookup_order() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The explicit path wins over the environment and the walk.
    let explicit = sinkgen::find_config(
        Some(Path::new("fixtures/ok/trading.toml")),
        manifest,
        Some("fixtures/ok/empty.toml".into()),
    )
    .expect("explicit path exists");
    assert_eq!(explicit, manifest.join("fixtures/ok/trading.toml"));
    // Then SINKGEN_CONFIG, relative to the crate.
    let env = sinkgen::find_config(None, manifest, Some("fixtures/ok/empty.toml".into()))
        .expect("env path exists");
    assert_eq!(env, manifest.join("fixtures/ok/empty.toml"));
    // An empty SINKGEN_CONFIG counts as unset; the walk then stops at the workspace
    // root, which has no services.toml.
    let err = sinkgen::find_config(None, manifest, Some("".into())).expect_err("not found");
    let rendered = err.render();
    assert!(rendered.contains(&manifest.join("services.toml").display().to_string()));
    let root = manifest.parent().expect("workspace root");
    assert!(rendered.contains(&root.join("services.toml").display().to_string()));
    let above = root.parent().expect("above the root").join("services.toml");
    assert!(!rendered.contains(&above.display().to_string()));
}

#[test]
fn errors_and_warnings_render_the_same_way() {
    let text = "[relays.quiet]\nendpoint = \"unix:///tmp/sinkgen-q.sock\"\n\n[services.a.sinks]\nx = { relay = \"quiet\", queue = 0 }\n";
    let err = sinkgen::load_str(Path::new("services.toml"), text).expect_err("queue 0");
    // The relay has no subscribers, but warnings wait until the errors are fixed.
    assert_eq!(err.error_count(), 1);
    assert_eq!(err.warning_count(), 0);
    let first = err.iter().next().expect("one diagnostic");
    assert_eq!(err.location(first), Some((5, 32)));
    let fixed = text.replace("queue = 0", "queue = 1");
    let loaded = sinkgen::load_str(Path::new("services.toml"), &fixed).expect("loads");
    assert_eq!(loaded.warnings.warning_count(), 1);
    let warning = loaded.warnings.iter().next().expect("one warning");
    assert_eq!(loaded.warnings.location(warning), Some((1, 9)));
    insta::assert_snapshot!(
        "error_then_warning",
        format!("{}\n{}", err.render(), loaded.warnings.render())
    );
    let styled = err.render_styled();
    assert!(styled.contains("\u{1b}["), "styled output has ANSI colours");
    assert_eq!(err.to_string(), err.render());
}

/// `when_down` and `max_frame`, only where they differ from `base` (so fixtures
/// without them read as before).
fn surface_keys(p: &sinkgen::model::Policy, base: &sinkgen::model::Policy) -> String {
    let mut out = String::new();
    if p.when_down != base.when_down {
        let _ = write!(out, ", when_down {}", p.when_down.name());
    }
    if p.max_frame != base.max_frame {
        let _ = write!(out, ", max_frame {}", p.max_frame);
    }
    out
}

fn summary(t: &Topology) -> String {
    let mut out = String::new();
    let d = &t.defaults;
    let _ = writeln!(
        out,
        "defaults: connect {:?}, send {:?}, queue {}, backoff {:?}..{:?}",
        d.connect_timeout, d.send_timeout, d.queue, d.backoff_initial, d.backoff_max
    );
    out.truncate(out.len() - 1);
    out.push_str(&surface_keys(d, &sinkgen::model::Policy::default()));
    out.push('\n');
    for r in &t.relays {
        let framing = match r.framing {
            Framing::Sinkgen => "sinkgen".to_owned(),
            Framing::LengthPrefixed => "length-prefixed".to_owned(),
            Framing::Torq { domain } => format!("torq domain {domain}"),
            other => format!("{other:?}"),
        };
        let message = r.message.as_deref().unwrap_or("bytes");
        let _ = write!(
            out,
            "relay {} (line {}): {} {framing} {message}",
            r.name, r.line, r.endpoint
        );
        if r.codec != sinkgen::model::Codec::Raw {
            let _ = write!(out, " codec {}", r.codec.name());
        }
        // Only a backlog the file sets: every other relay has the default (checked below).
        if r.backlog != sinkgen_config::policy::BACKLOG {
            let _ = write!(out, " backlog {}", r.backlog);
        }
        if r.socket_mode != sinkgen_config::policy::SOCKET_MODE {
            let _ = write!(out, " socket_mode {:#o}", r.socket_mode);
        }
        if let Some(c) = &r.credentials {
            use sinkgen::model::Credentials;
            let (kind, secret) = match c {
                Credentials::Token(s) => ("token".to_owned(), s),
                Credentials::UserPassword { user, password } => (format!("user {user}"), password),
                Credentials::Nkey(s) => ("nkey".to_owned(), s),
                Credentials::Creds(s) => ("creds".to_owned(), s),
            };
            let _ = write!(
                out,
                " credentials {kind} {} ({} line {})",
                secret.source, secret.key, secret.line
            );
        }
        out.push('\n');
    }
    for s in &t.services {
        let _ = write!(out, "service {} (line {})", s.name, s.line);
        if let Some(source) = s.source {
            let _ = write!(out, " source {source}");
        }
        if let Some(listen) = &s.listen {
            let _ = write!(out, " listen {listen}");
            // What direct sinks to it take and speak, only when not bytes and the default.
            if let Some(message) = &s.message {
                let _ = write!(out, " message {message} codec {}", s.codec.name());
            }
            if s.framing != Framing::LengthPrefixed {
                let _ = write!(
                    out,
                    " framing {}",
                    format!("{:?}", s.framing).to_lowercase()
                );
            }
        }
        if !s.subscribes.is_empty() {
            let _ = write!(out, " subscribes {}", s.subscribes.join(", "));
        }
        out.push('\n');
        for k in &s.sinks {
            let target = match &k.target {
                SinkTarget::Relay(r) => format!("relay {r}"),
                SinkTarget::Service(s) => format!("service {s}"),
                SinkTarget::Endpoint(e) => format!("endpoint {e}"),
                SinkTarget::Broadcast(m) => format!("broadcast [{}]", m.join(", ")),
                SinkTarget::RoundRobin(m) => format!("round_robin [{}]", m.join(", ")),
                SinkTarget::Failover(m) => format!("failover [{}]", m.join(", ")),
                other => format!("{other:?}"),
            };
            let _ = write!(out, "  sink {} (line {}) -> {target}", k.name, k.line);
            if k.policy != t.defaults {
                let p = &k.policy;
                let _ = write!(
                    out,
                    " [connect {:?}, send {:?}, queue {}, backoff {:?}..{:?}{}]",
                    p.connect_timeout,
                    p.send_timeout,
                    p.queue,
                    p.backoff_initial,
                    p.backoff_max,
                    surface_keys(p, &t.defaults)
                );
            }
            out.push('\n');
        }
    }
    out
}

/// A `domain` or `source` that is no byte-sized integer at all (beyond 2^128, a float)
/// is one error at the value, not also a "missing `domain`" or "no `source`".
#[test]
fn a_number_that_is_no_byte_is_one_error() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/err/torq_numbers_not_bytes.toml");
    let text = std::fs::read_to_string(&path).expect("read fixture");
    let err = sinkgen::load_str(&shown(&path), &text).expect_err("must fail");
    assert_eq!(err.error_count(), 4, "{err}");
    assert!(
        err.iter()
            .all(|d| !d.message.contains("without a `domain`")
                && !d.message.contains("has no `source`")),
        "{err}"
    );
}
