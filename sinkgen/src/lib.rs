//! sinkgen: compile-time checked, lazily connecting message sinks generated from
//! `services.toml`.

pub mod model;
