//! Deterministic workloads for Rill: every event is a pure function of a seed and its index.
//!
//! * [`sensors`]: temperature readings, rooms of Zipf-skewed sizes, idle sensors, jitter and
//!   late events.
//! * [`fraud`]: card transactions with injected small-then-large and burst patterns.
//!
//! A generator never carries state from one event to the next: event `i` is computed from the
//! configuration and `i` alone with a counter-based mixer (a keyed wyhash of `i`), so any worker
//! can generate any slice of indices, replay from any offset costs nothing, and
//! [`Generator::fill`] over a range equals [`Generator::event`] on each index. Both workloads
//! share one event-time model: a nominal clock `n(i) = base + i * 1000 / rate`, on-time events
//! jittered at most `max_jitter_ms` before it, and late events at least `late_delay_ms` before it.
//!
//! [`write_csv`] writes any record iterator as CSV, [`export_generated`] a whole generator
//! (in parallel, identical to the sequential output), so other engines can read the very same
//! input.
//!
//! # Examples
//!
//! ```
//! use rill_workloads::sensors::{Sensors, SensorsConfig};
//!
//! let sensors = Sensors::new(SensorsConfig { seed: 7, ..SensorsConfig::default() })?;
//! let mut batch = Vec::new();
//! sensors.fill(1_000..1_010, &mut batch);
//! assert_eq!(batch[3], sensors.event(1_003));
//! # Ok::<(), rill::Error>(())
//! ```
#![deny(missing_docs)]

mod export;
mod mix;
mod timing;

pub mod fraud;
pub mod jobs;
pub mod nexmark;
pub mod sensors;

pub use export::{CHUNK_EVENTS, export_generated, write_csv};

/// A deterministic generator of events `0..events()`.
pub trait Generator: Sync {
    /// The events it generates.
    type Event;

    /// How many events the configuration asks for.
    fn events(&self) -> u64;

    /// Event `i` (defined for every `i`, also beyond [`Generator::events`]).
    fn event(&self, i: u64) -> Self::Event;

    /// Appends events `range` to `out`, in index order: equal to [`Generator::event`] on each
    /// index.
    fn fill(&self, range: std::ops::Range<u64>, out: &mut Vec<Self::Event>);
}
