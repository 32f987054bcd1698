//! The workloads' jobs, as library functions: what `rill-bench run` executes, and what a user
//! embedding Rill would write.
//!
//! * [`sensors`]: per room, tumbling event-time windows with count, average, min and max.
//! * [`fraud`]: a keyed process function with state and event-time timers, evaluated per card
//!   in event-time order.
//!
//! Each job reads either generated events (every worker generates its own share, optionally
//! open-loop at a fixed rate) or a CSV file (split across workers), and reports throughput,
//! counts, per-operator metrics and watermark-to-output latency.

pub mod fraud;
pub mod sensors;

pub use fraud::run_fraud;
pub use sensors::run_sensors;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rill::api::stream::RillStream;
use rill::runtime::latency::WatermarkLog;
use rill::runtime::metrics::OperatorSnapshot;
use rill::time::Event;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;

/// Where a job's events come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The workload's generator with default parameters, this seed and late fraction.
    Generate {
        /// Number of events.
        events: u64,
        /// Seed of the generator.
        seed: u64,
        /// Fraction of events generated late.
        late_fraction: f64,
    },
    /// A CSV file written by `rill-bench gen` (or anything with the same header).
    Csv(PathBuf),
    /// The sensors generator with a full configuration (other jobs refuse it).
    Sensors(crate::sensors::SensorsConfig),
    /// The fraud generator with a full configuration (other jobs refuse it).
    Fraud(crate::fraud::FraudConfig),
}

/// How a job runs.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOptions {
    /// Worker threads.
    pub workers: usize,
    /// Window length (sensors).
    pub window_ms: u64,
    /// Watermark out-of-orderness bound of the sources.
    pub max_out_of_orderness_ms: u64,
    /// How long windows stay updatable after they fire.
    pub allowed_lateness_ms: u64,
    /// Where to write the job's rows (CSV with a header), if anywhere.
    pub output: Option<PathBuf>,
    /// Where to write late input records (CSV with the input's columns), if anywhere.
    pub late_output: Option<PathBuf>,
    /// Open-loop offered rate in events/s over all workers (generated input only); `None` runs
    /// as fast as possible.
    pub rate: Option<u64>,
    /// How long an idle worker spins before parking (see [`rill::JobConfig::idle_spin`]).
    pub idle_spin: std::time::Duration,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            workers: 1,
            window_ms: 10_000,
            max_out_of_orderness_ms: 1_000,
            allowed_lateness_ms: 0,
            output: None,
            late_output: None,
            rate: None,
            idle_spin: rill::runtime::DEFAULT_IDLE_SPIN,
        }
    }
}

/// What a finished job reports.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// Events read by the sources.
    pub events_in: u64,
    /// Rows emitted by the job.
    pub rows_out: u64,
    /// Input records sent to the late output.
    pub late_rows: u64,
    /// Wall-clock time of the job.
    pub elapsed: Duration,
    /// Per-operator metrics.
    pub metrics: Vec<OperatorSnapshot>,
    /// One sample per result row whose event time marks a watermark crossing (window ends,
    /// timer firings): ns from the job's watermark passing it to the row leaving the job.
    pub window_latency_ns: Vec<u64>,
}

/// Records, for each row, the time from the job's watermark passing `crossing_of(row)` to the
/// row reaching this sink, into `samples`.
pub(crate) fn latency_sink<'s, D, F>(
    stream: RillStream<'s, D>,
    log: Arc<WatermarkLog>,
    samples: Arc<Mutex<Vec<u64>>>,
    crossing_of: F,
) where
    D: Event + Clone + 'static,
    F: Fn(&D) -> u64 + 'static,
{
    let mut cache: HashMap<u64, Instant> = HashMap::new();
    let mut local: Vec<u64> = Vec::new();
    stream.sink(Pipeline, "LatencySink", move |(input, frontier)| {
        input.for_each_stamp(|_, data| {
            let now = Instant::now();
            for batch in data {
                for row in batch.iter() {
                    let t = crossing_of(row);
                    let crossed = match cache.get(&t) {
                        Some(c) => Some(*c),
                        None => log.crossing(t).inspect(|c| {
                            cache.insert(t, *c);
                        }),
                    };
                    if let Some(c) = crossed {
                        local.push(now.saturating_duration_since(c).as_nanos() as u64);
                    }
                }
            }
        });
        if cache.len() > 4096 {
            cache.clear();
        }
        if frontier.frontier().is_empty() && !local.is_empty() {
            samples.lock().expect("latency samples lock").append(&mut local);
        }
    });
}

/// The engine configuration of a job run with `opts`.
pub(crate) fn job_config(opts: &JobOptions) -> rill::JobConfig {
    rill::JobConfig { workers: opts.workers, idle_spin: opts.idle_spin, ..rill::JobConfig::default() }
}

/// The events the sources of a finished job read: the sum of `records_out` of the operator
/// named `source`.
pub(crate) fn source_count(metrics: &[OperatorSnapshot], source: &str) -> u64 {
    metrics.iter().filter(|m| m.name == source).map(|m| m.records_out).sum()
}
