//! # Rill
//!
//! Stateful computations over unbounded event streams, in event time, on
//! [timely dataflow](https://docs.rs/timely).
//!
//! A tour of the architecture:
//!
//! * [`time`]: every timely timestamp is `(epoch, event time)`; the least event time of an
//!   operator's frontier is its watermark, the least epoch the consistent cut for snapshots.
//! * [`state`]: keys hash to key groups; keyed state lives in Rill's store, by key group.
//! * `operators`: sources, windows, process functions and sinks, each a timely operator.
//! * [`runtime`]: [`execute`] runs a job on N worker threads and reports its metrics.
//! * [`snapshot`]: the checkpoint format (checksummed chunks, a manifest written last), an
//!   asynchronous writer (io_uring, or `pwrite` on a thread), reader with fallback, retention.
//! * [`csv`]: the CSV row format shared by file sources and sinks.
//!
//! Data flows one way: sources stamp batches with their watermark, keyed operators exchange
//! records by key group, and sinks write results.
#![deny(missing_docs)]

pub mod csv;
mod error;
pub mod runtime;
pub mod snapshot;
pub mod state;
pub mod time;

pub mod api;
pub mod operators;

pub use api::process;
pub use error::{Error, Result};
pub use operators::sink::{Captured, Counter, CsvSinkOptions, Sink};
pub use runtime::{Dataflow, JobConfig, JobOutcome, execute};
pub use time::{Epoch, Event, EventTime, Time};

/// The README's Rust examples, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
