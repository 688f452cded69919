//! The runtime behind sinkgen's generated code.
