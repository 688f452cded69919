//! Composites nested thousands deep: every stage (check, lower, render, format) walks
//! them without recursion, and a long cycle's error renders.
//!
//! Each case runs on a thread with a 256 KiB stack: recursion one frame per level would
//! overflow it within a few hundred levels, so passing proves the walks are iterative.
//! How long the stages take against a flat file of the same size is measured in the
//! codegen benchmark, not here.

use std::fmt::Write as _;
use std::path::Path;

/// Levels of nesting: far beyond what a 256 KiB stack holds one frame per level.
const LEVELS: usize = 5_000;

/// Runs `f` on a thread with a small stack and returns its result.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let thread = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("spawn a thread");
    match thread.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// `c0` is a leaf, `c<i>` broadcasts to `c<i-1>`: a chain `levels` deep.
fn chain(levels: usize) -> String {
    let mut text =
        String::from("[services.app.sinks]\nc0 = { endpoint = \"tcp://127.0.0.1:7000\" }\n");
    for i in 1..levels {
        let _ = writeln!(text, "c{i} = {{ broadcast = [\"c{}\"] }}", i - 1);
    }
    text
}

/// `c<i>` broadcasts to `c<i+1>`, and the last one to `c0`: one cycle through them all.
fn cycle(levels: usize) -> String {
    let mut text = String::from("[services.app.sinks]\n");
    for i in 0..levels {
        let _ = writeln!(text, "c{i} = {{ broadcast = [\"c{}\"] }}", (i + 1) % levels);
    }
    text
}

#[test]
fn a_deep_chain_checks_and_generates() {
    let dir = std::env::temp_dir().join(format!("sinkgen-depth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("services.toml");
    std::fs::write(&path, chain(LEVELS)).unwrap();
    let code = on_small_stack({
        let path = path.clone();
        move || {
            sinkgen::Builder::new()
                .config(&path)
                .service("app")
                .generate()
                .map_err(|e| e.to_string())
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    let code = code.unwrap_or_else(|e| panic!("the chain must generate:\n{e}"));
    let top = format!("pub fn c{}()", LEVELS - 1);
    assert!(
        code.contains(&top),
        "no accessor of the outermost composite"
    );
    assert!(code.contains("pub fn c0()"));
}

#[test]
fn a_deep_chain_lowers_with_the_leaf_message_type() {
    let text = chain(LEVELS).replace(
        "c0 = { endpoint = \"tcp://127.0.0.1:7000\" }",
        "c0 = { relay = \"bus\" }",
    );
    let text = format!(
        "[relays.bus]\nendpoint = \"unix:///tmp/sinkgen-depth.sock\"\nmessage = \"a::Event\"\n\n\
         [services.reader]\nsubscribes = [\"bus\"]\n\n{text}"
    );
    on_small_stack(move || {
        let loaded = sinkgen::load_str(Path::new("services.toml"), &text)
            .unwrap_or_else(|e| panic!("the chain must check:\n{e}"));
        let ident = proc_macro2::Ident::new("Sinks", proc_macro2::Span::call_site());
        let plan = sinkgen::lower::lower(&loaded.topology, "app", ident)
            .unwrap_or_else(|e| panic!("the chain must lower:\n{e}"));
        assert_eq!(plan.sinks.len(), LEVELS);
        for sink in &plan.sinks {
            match &sink.message {
                sinkgen_templates::Message::Path { text, .. } => assert_eq!(text, "a::Event"),
                sinkgen_templates::Message::Bytes => panic!("`{}` lost the type", sink.name),
            }
        }
        let order = plan.build_order();
        assert_eq!(order.len(), LEVELS);
        assert!(order.windows(2).all(|w| w[0] < w[1]), "members come first");
    });
}

#[test]
fn a_long_cycle_is_one_short_error() {
    let rendered = on_small_stack(|| {
        let err = match sinkgen::load_str(Path::new("services.toml"), &cycle(LEVELS)) {
            Ok(_) => panic!("a cycle must not load"),
            Err(err) => err,
        };
        assert_eq!(err.error_count(), 1, "{err}");
        err.render()
    });
    let message = format!("form a cycle of {LEVELS} sinks: `c0` -> `c1` -> ");
    assert!(rendered.contains(&message), "{rendered}");
    let last = format!("-> ... -> `c{}` -> `c0`", LEVELS - 1);
    assert!(rendered.contains(&last), "{rendered}");
    // A handful of places, not one line per sink of the cycle.
    assert!(rendered.lines().count() < 60, "{rendered}");
}
