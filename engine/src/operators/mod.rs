//! Rill's dataflow operators, one per file, each an extension trait on timely streams.

pub mod generator;
pub mod live;
pub mod process;
pub mod sink;
pub mod source;
pub mod window;
