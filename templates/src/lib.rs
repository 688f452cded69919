//! The shape of the code sinkgen generates.
