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
pub mod nexmark;
pub mod sensors;

pub use fraud::run_fraud;
pub use sensors::run_sensors;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rill::api::stream::{Data, RillStream};
use rill::csv::CsvRecord;
use rill::operators::source::SourceOptions;
use rill::runtime::latency::WatermarkLog;
use rill::runtime::metrics::OperatorSnapshot;
use rill::time::Event;
use rill::time::watermark::WatermarkStrategy;
use rill::{Counter, Dataflow, Sink};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;

use crate::Generator;

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
    /// The Nexmark generator with a full configuration (other jobs refuse it).
    Nexmark(crate::nexmark::NexmarkConfig),
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
    /// Checkpoints, resume and savepoints (see [`rill::snapshot::CheckpointConfig`]).
    pub checkpoint: Option<rill::snapshot::CheckpointConfig>,
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
            checkpoint: None,
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
    /// What checkpointing did, for a checkpointed job.
    pub checkpoints: Option<rill::snapshot::CheckpointSummaryReport>,
    /// Set when `--resume` found the final checkpoint of a finished job (its epoch and
    /// directory): nothing was run.
    pub already_finished: Option<(u64, PathBuf)>,
}

/// A job's input once resolved: a generator shared by the workers, or a CSV file.
pub(crate) enum Source<G> {
    Generated(Arc<G>),
    Csv(PathBuf),
}

/// Resolves `input` for a job whose own generated inputs `generated` recognises (and builds).
pub(crate) fn resolve<G>(
    opts: &JobOptions,
    input: &Input,
    job: &str,
    generated: impl FnOnce(&Input) -> Option<rill::Result<G>>,
) -> rill::Result<Source<G>> {
    match input {
        Input::Csv(_) if opts.rate.is_some() => {
            Err(rill::Error::Config("a fixed rate (--rate) needs generated input, not --input".into()))
        }
        Input::Csv(path) => Ok(Source::Csv(path.clone())),
        other => match generated(other) {
            Some(g) => Ok(Source::Generated(Arc::new(g?))),
            None => Err(rill::Error::Config(format!("the {job} job cannot read {other:?}"))),
        },
    }
}

/// A job's dataflow from its input stream to its result rows and late input records.
pub(crate) type JobDataflow<T, O> =
    for<'s> fn(&Dataflow<'s>, RillStream<'s, T>, &JobOptions) -> (RillStream<'s, O>, RillStream<'s, T>);

/// Runs a job: the source named `source_name` over `source`, the job's `dataflow`, and the
/// sinks `opts` asks for, plus a row counter and a latency probe that reads each row's
/// watermark crossing with `crossing_of`.
pub(crate) fn run_job<G, T, O>(
    opts: &JobOptions,
    source_name: &'static str,
    source: Source<G>,
    dataflow: JobDataflow<T, O>,
    crossing_of: fn(&O) -> u64,
) -> rill::Result<JobReport>
where
    G: Generator<Event = T> + Send + 'static,
    T: Data + Event + CsvRecord,
    O: Data + Event + CsvRecord,
{
    let strategy = WatermarkStrategy::bounded_out_of_orderness(opts.max_out_of_orderness_ms);
    let log = Arc::new(WatermarkLog::new(opts.workers));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let (rows, late_rows) = (Counter::new(), Counter::new());
    let start = Instant::now();
    let (opts2, rows2, late2, samples2) = (opts.clone(), rows.clone(), late_rows.clone(), Arc::clone(&samples));
    let shared = Arc::new(rill::runtime::JobShared::default());
    let outcome = rill::runtime::execute_checkpointed(job_config(opts), shared, move |df| {
        let options = SourceOptions { strategy, watermark_log: Some(Arc::clone(&log)) };
        let input = match &source {
            Source::Generated(g) => {
                let (g, total) = (Arc::clone(g), g.events());
                let fill = move |r: std::ops::Range<u64>, out: &mut Vec<T>| g.fill(r, out);
                match opts2.rate {
                    Some(rate) => df.generator_source_at_rate(source_name, total, rate, start, options, fill),
                    None => df.generator_source(source_name, total, options, fill),
                }
            }
            Source::Csv(path) => df.csv_source::<T>(source_name, path, options),
        };
        let (rows, late) = dataflow(df, input, &opts2);
        if let Some(path) = &opts2.output {
            rows.clone().sink_csv(df, path);
        }
        latency_sink(rows.clone(), Arc::clone(&log), Arc::clone(&samples2), crossing_of);
        rows.count_into(df, &rows2);
        if let Some(path) = &opts2.late_output {
            late.clone().sink_csv(df, path);
        }
        late.count_into(df, &late2);
    })?;
    let outcome = match outcome {
        rill::runtime::Execution::Ran(outcome) => outcome,
        rill::runtime::Execution::AlreadyFinished { epoch, from } => {
            return Ok(JobReport {
                events_in: 0,
                rows_out: 0,
                late_rows: 0,
                elapsed: Duration::ZERO,
                metrics: Vec::new(),
                window_latency_ns: Vec::new(),
                checkpoints: None,
                already_finished: Some((epoch, from)),
            });
        }
    };
    let window_latency_ns = std::mem::take(&mut *samples.lock().expect("latency samples lock"));
    Ok(JobReport {
        events_in: source_count(&outcome.metrics, source_name),
        rows_out: rows.get(),
        late_rows: late_rows.get(),
        elapsed: outcome.elapsed,
        metrics: outcome.metrics,
        window_latency_ns,
        checkpoints: outcome.checkpoints,
        already_finished: None,
    })
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
    rill::JobConfig {
        workers: opts.workers,
        idle_spin: opts.idle_spin,
        checkpoint: opts.checkpoint.clone(),
        ..rill::JobConfig::default()
    }
}

/// The events the sources of a finished job read: the sum of `records_out` of the operator
/// named `source`.
pub(crate) fn source_count(metrics: &[OperatorSnapshot], source: &str) -> u64 {
    metrics.iter().filter(|m| m.name == source).map(|m| m.records_out).sum()
}

/// The operator name of CSV sinks in the metrics.
const CSV_SINK: &str = "CsvSink";

/// The result rows of a job with one output: written to `output` when given, else counted
/// into `counter`. One sink per row, so rows (which may carry long strings) are not cloned for
/// a second, counting sink; [`rows_out`] reads the count back.
pub(crate) fn sink_rows<'s, D: Data + CsvRecord>(
    df: &Dataflow<'s>,
    rows: RillStream<'s, D>,
    output: Option<&PathBuf>,
    counter: &Counter,
) {
    match output {
        Some(path) => rows.sink_csv(df, path),
        None => rows.count_into(df, counter),
    }
}

/// The rows [`sink_rows`] received: the CSV sink's input count (its metrics, over all workers)
/// when it wrote a file, else the counter. Only for jobs whose one CSV sink is the rows'.
pub(crate) fn rows_out(metrics: &[OperatorSnapshot], output: Option<&PathBuf>, counter: &Counter) -> u64 {
    match output {
        Some(_) => metrics.iter().filter(|m| m.name == CSV_SINK).map(|m| m.records_in).sum(),
        None => counter.get(),
    }
}
