//! The `sinkgen` command.

fn main() {}
