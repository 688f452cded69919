//! Generates `$OUT_DIR/sinks.rs` for the service named after this crate.

fn main() {
    sinkgen::build();
}
