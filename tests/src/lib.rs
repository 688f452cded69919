//! End-to-end tests of sinkgen live in `tests/`; this library is empty on purpose.
