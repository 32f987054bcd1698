//! Rill's dataflow operators, one per file, each an extension trait on timely streams.

pub mod source;
