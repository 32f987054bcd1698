//! The workloads' jobs, as library functions: what `rill-bench run` executes, and what a user
//! embedding Rill would write.
//!
//! * [`sensors`]: per room, tumbling event-time windows with count, average, min and max.
//! * [`fraud`]: a keyed process function with state and event-time timers, evaluated per card
//!   in event-time order.
//!
//! Each job reads either generated events (every worker generates its own share, optionally
//! open-loop at a fixed rate) or a CSV file (split across workers), and reports throughput,
//! counts, per-operator metrics and two latencies (see [`Probe`]): watermark to output (rows that
//! a watermark crossing made final) and event to output (every job).

pub mod fraud;
pub mod nexmark;
pub mod sensors;

pub use fraud::run_fraud;
pub use sensors::run_sensors;

use std::collections::HashMap;
use std::hash::Hash;
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
use timely::dataflow::operators::Inspect;

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
    /// Sampled result rows (see [`Probe::every`]): ns from a source first reading (open loop:
    /// being scheduled to send) an event at or after the row's newest contributing event time to
    /// the row leaving the job, an upper bound on the row's event-to-output latency.
    pub event_latency_ns: Vec<u64>,
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
/// watermark crossing with `crossing_of` and takes its event time as its newest contributing
/// event's (window ends - 1, alerts' transactions).
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
    let latency = Latency::new(opts);
    let (rows, late_rows) = (Counter::new(), Counter::new());
    let start = Instant::now();
    let (opts2, rows2, late2, latency2) = (opts.clone(), rows.clone(), late_rows.clone(), latency.clone());
    let shared = Arc::new(rill::runtime::JobShared::default());
    let outcome = rill::runtime::execute_checkpointed(job_config(opts), shared, move |df| {
        let options = latency2.source_options(strategy);
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
        let probe = Probe { crossing: Some(crossing_of), newest: |r: &O, _: u64| Some(r.event_time().0), every: 1 };
        let rows = latency2.probe(probe, rows);
        if let Some(path) = &opts2.output {
            rows.clone().sink_csv(df, path);
        }
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
                event_latency_ns: Vec::new(),
                checkpoints: None,
                already_finished: Some((epoch, from)),
            });
        }
    };
    let LatencySamples { window_ns: window_latency_ns, event_ns: event_latency_ns } = latency.take();
    Ok(JobReport {
        events_in: source_count(&outcome.metrics, source_name),
        rows_out: rows.get(),
        late_rows: late_rows.get(),
        elapsed: outcome.elapsed,
        metrics: outcome.metrics,
        window_latency_ns,
        event_latency_ns,
        checkpoints: outcome.checkpoints,
        already_finished: None,
    })
}

/// The latency samples of a job's rows, in ns (see [`JobReport`]).
#[derive(Debug, Default)]
pub(crate) struct LatencySamples {
    /// Watermark to output.
    pub(crate) window_ns: Vec<u64>,
    /// Event to output.
    pub(crate) event_ns: Vec<u64>,
}

/// A job's latency clock (its source's [`WatermarkLog`]) and what its probe recorded.
#[derive(Clone)]
pub(crate) struct Latency {
    log: Arc<WatermarkLog>,
    samples: Arc<Mutex<LatencySamples>>,
    delay_ms: u64,
}

impl Latency {
    /// The clock of a job run with `opts`.
    pub(crate) fn new(opts: &JobOptions) -> Self {
        Latency {
            log: Arc::new(WatermarkLog::new(opts.workers)),
            samples: Arc::default(),
            delay_ms: opts.max_out_of_orderness_ms,
        }
    }

    /// The options of a source that records into this clock.
    pub(crate) fn source_options(&self, strategy: WatermarkStrategy) -> SourceOptions {
        SourceOptions { strategy, watermark_log: Some(Arc::clone(&self.log)) }
    }

    /// `rows`, timed by `probe` against this clock.
    pub(crate) fn probe<'s, D, C, N>(&self, probe: Probe<C, N>, rows: RillStream<'s, D>) -> RillStream<'s, D>
    where
        D: Data,
        C: Fn(&D) -> u64 + 'static,
        N: Fn(&D, u64) -> Option<u64> + 'static,
    {
        probe.attach(rows, Arc::clone(&self.log), Arc::clone(&self.samples), self.delay_ms)
    }

    /// The samples recorded, once the job has finished.
    pub(crate) fn take(&self) -> LatencySamples {
        std::mem::take(&mut *self.samples.lock().expect("latency samples lock"))
    }
}

/// What a job's latency probe reads of its result rows. Rows are timed as they enter the job's
/// sink (the probe sits right before it on the same worker, passing batches through uncopied).
///
/// * Watermark to output: for a row that a watermark crossing made final, the time from the
///   job's watermark (the least over the source's instances) reaching `crossing(row)` to the
///   row leaving the job ([`WatermarkLog::crossing`]). Every such row is a sample.
/// * Event to output: for a sampled row whose newest contributing event has event time
///   `t = newest(row, read_bound)`, the time from the earliest moment any source instance read
///   (open loop: was scheduled to send) an event with event time `t` or later
///   ([`rill::runtime::latency::EventTimeLog::first_read`]) to the row leaving the job: an
///   upper bound on the row's latency, never an underestimate. `read_bound` is the batch's stamp
///   plus the watermark delay, the greatest event time its source had read before reading the
///   batch: a stand-in for `t` where a stateless job's rows carry no event time.
pub(crate) struct Probe<C, N> {
    /// The event time whose watermark crossing made the row final (window end, timer), for jobs
    /// whose rows have one.
    pub(crate) crossing: Option<C>,
    /// The row's `t`, if the row has one.
    pub(crate) newest: N,
    /// Sampling of event latency: rows `0, every, 2 * every, ...` of each batch reaching the
    /// sink (1: every row; a source batch's size: about one row per source batch).
    pub(crate) every: usize,
}

impl<C, N> Probe<C, N> {
    /// Records `stream`'s latencies against `log` into `samples` (once its input is exhausted)
    /// and passes the stream on unchanged.
    pub(crate) fn attach<'s, D>(
        self,
        stream: RillStream<'s, D>,
        log: Arc<WatermarkLog>,
        samples: Arc<Mutex<LatencySamples>>,
        delay_ms: u64,
    ) -> RillStream<'s, D>
    where
        D: Data,
        C: Fn(&D) -> u64 + 'static,
        N: Fn(&D, u64) -> Option<u64> + 'static,
    {
        let Probe { crossing, newest, every } = self;
        let every = every.max(1);
        let mut crossed_at = Memo::default();
        let mut read_at = Memo::default();
        let mut local = LatencySamples::default();
        stream.inspect_core(move |event| match event {
            Ok((stamp, rows)) => {
                let now = Instant::now();
                let since = |at: Instant| now.saturating_duration_since(at).as_nanos() as u64;
                if let Some(crossing) = &crossing {
                    for row in rows {
                        if let Some(at) = crossed_at.get(crossing(row), |t| log.crossing(t)) {
                            local.window_ns.push(since(at));
                        }
                    }
                }
                let read_bound = stamp.iter().map(|t| t.event.0).min().unwrap_or(0).saturating_add(delay_ms);
                for row in rows.iter().step_by(every) {
                    if let Some(t) = newest(row, read_bound)
                        && let Some(at) = read_at.get(t, |t| log.events().first_read(t))
                    {
                        local.event_ns.push(since(at));
                    }
                }
            }
            Err(frontier) => {
                if frontier.is_empty() && !(local.window_ns.is_empty() && local.event_ns.is_empty()) {
                    let mut all = samples.lock().expect("latency samples lock");
                    all.window_ns.append(&mut local.window_ns);
                    all.event_ns.append(&mut local.event_ns);
                }
            }
        })
    }
}

/// Lookups of instants by event time, kept once found (an instant, once known, never changes),
/// and forgotten in bulk when many.
struct Memo<K>(HashMap<K, Instant>);

impl<K> Default for Memo<K> {
    fn default() -> Self {
        Memo(HashMap::new())
    }
}

impl<K: Hash + Eq + Copy> Memo<K> {
    fn get(&mut self, key: K, find: impl FnOnce(K) -> Option<Instant>) -> Option<Instant> {
        if let Some(at) = self.0.get(&key) {
            return Some(*at);
        }
        let at = find(key)?;
        if self.0.len() >= 4096 {
            self.0.clear();
        }
        self.0.insert(key, at);
        Some(at)
    }
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
