//! Job configuration, worker launch and the per-worker dataflow context.
//!
//! [`execute`] starts `workers` timely worker threads in this process. On each, the user's
//! builder receives a [`Dataflow`]: the timely scope plus what Rill's operators need (the job's
//! key-group count, metrics registry and failure slot). The job ends when every source has
//! finished and every operator has drained; a failure anywhere (a malformed input row, an I/O
//! error) is recorded once, makes every source stop, and is returned by [`execute`].

pub mod latency;
pub mod metrics;

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use timely::dataflow::Scope;

use crate::error::{Error, Result};
use crate::snapshot::{CheckpointConfig, CheckpointSummaryReport, Coordinator, Start};
use crate::time::Time;
use metrics::{MetricsRegistry, OperatorSnapshot};

/// Default number of key groups (the job's maximum parallelism).
pub const DEFAULT_MAX_PARALLELISM: u32 = 128;

/// How a job runs.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Worker threads in this process.
    pub workers: usize,
    /// Number of key groups, fixed for the life of the job and its snapshots.
    pub max_parallelism: u32,
    /// How long an idle worker polls before parking its thread. Parking lets the core sleep,
    /// and a sleeping core wakes with cold caches and a lower clock: a job that waits for input
    /// many times a millisecond (open-loop, low-latency) keeps its latency low by spinning
    /// longer, at the price of the CPU it burns while idle.
    pub idle_spin: Duration,
    /// Checkpoints, restore and savepoints; `None` runs without any.
    pub checkpoint: Option<CheckpointConfig>,
}

/// Default [`JobConfig::idle_spin`]: timely's.
pub const DEFAULT_IDLE_SPIN: Duration = Duration::from_micros(timely::WorkerConfig::DEFAULT_IDLE_SPIN_MICROS);

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            workers: 1,
            max_parallelism: DEFAULT_MAX_PARALLELISM,
            idle_spin: DEFAULT_IDLE_SPIN,
            checkpoint: None,
        }
    }
}

impl JobConfig {
    /// A configuration with `workers` workers and the default key-group count.
    pub fn with_workers(workers: usize) -> Self {
        JobConfig { workers, ..JobConfig::default() }
    }

    fn validate(&self) -> Result<()> {
        if self.workers == 0 {
            return Err(Error::Config("workers must be at least 1".into()));
        }
        if (self.max_parallelism as usize) < self.workers {
            return Err(Error::Config(format!(
                "max parallelism {} is below the number of workers {}",
                self.max_parallelism, self.workers
            )));
        }
        Ok(())
    }
}

/// State shared by all workers of a job.
#[derive(Default)]
pub struct JobShared {
    metrics: MetricsRegistry,
    failure: Mutex<Option<Error>>,
    aborted: AtomicBool,
    objects: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
    coordinator: OnceLock<Arc<Coordinator>>,
}

impl std::fmt::Debug for JobShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobShared").field("aborted", &self.aborted()).finish_non_exhaustive()
    }
}

impl JobShared {
    /// Records the job's first failure and asks every source to stop.
    pub fn fail(&self, error: Error) {
        let mut slot = self.failure.lock().expect("failure lock");
        if slot.is_none() {
            *slot = Some(error);
        }
        self.aborted.store(true, Ordering::Release);
    }

    /// Whether the job has failed and sources should stop.
    #[inline]
    pub fn aborted(&self) -> bool {
        self.aborted.load(Ordering::Relaxed)
    }

    /// The job's checkpoint coordinator, if it takes checkpoints.
    #[inline]
    pub fn coordinator(&self) -> Option<&Arc<Coordinator>> {
        self.coordinator.get()
    }

    /// The job's metrics.
    pub fn metrics(&self) -> &MetricsRegistry {
        &self.metrics
    }

    /// The object every worker of the job shares under `key` (a sink's file, a source's
    /// watermark board): the first caller creates it with `init`, later callers get the same
    /// one. Panics if `key` was registered with another type (a programming error).
    pub fn shared_object<T: Any + Send + Sync>(&self, key: &str, init: impl FnOnce() -> T) -> Arc<T> {
        let mut objects = self.objects.lock().expect("objects lock");
        let entry = objects.entry(key.to_owned()).or_insert_with(|| Arc::new(init()) as Arc<dyn Any + Send + Sync>);
        Arc::clone(entry)
            .downcast::<T>()
            .unwrap_or_else(|_| panic!("shared object `{key}` was registered with another type"))
    }
}

/// What a worker's builder gets: the scope to build in and the job's shared context.
#[derive(Clone)]
pub struct Dataflow<'s> {
    scope: Scope<'s, Time>,
    shared: Arc<JobShared>,
    max_parallelism: u32,
}

impl<'s> Dataflow<'s> {
    /// The timely scope, for operators of your own.
    pub fn scope(&self) -> Scope<'s, Time> {
        self.scope
    }

    /// This worker's index.
    pub fn worker_index(&self) -> usize {
        self.scope.index()
    }

    /// Number of workers in the job.
    pub fn peers(&self) -> usize {
        self.scope.peers()
    }

    /// The job's number of key groups.
    pub fn max_parallelism(&self) -> u32 {
        self.max_parallelism
    }

    /// The job's shared context (metrics, failure reporting).
    pub fn shared(&self) -> &Arc<JobShared> {
        &self.shared
    }
}

/// What a finished job reports.
#[derive(Debug)]
pub struct JobOutcome<R> {
    /// What the builder returned, one per worker, in worker order.
    pub results: Vec<R>,
    /// Per-operator metrics summed over workers.
    pub metrics: Vec<OperatorSnapshot>,
    /// Wall-clock time from start to the last worker finishing.
    pub elapsed: Duration,
    /// What checkpointing did (restore, checkpoints completed), if the job took checkpoints.
    pub checkpoints: Option<CheckpointSummaryReport>,
}

/// How [`execute_checkpointed`] ended.
#[derive(Debug)]
pub enum Execution<R> {
    /// The job ran (to the end of its input, or to its savepoint).
    Ran(JobOutcome<R>),
    /// The checkpoint it was asked to resume is a finished job's final one: nothing was run.
    AlreadyFinished {
        /// That checkpoint's epoch.
        epoch: u64,
        /// Where it is.
        from: std::path::PathBuf,
    },
}

/// Runs a job: builds the dataflow on every worker with `build`, runs it to completion.
///
/// `build` is called once per worker with that worker's [`Dataflow`]; what it returns (handles
/// to captured output, counters) comes back in [`JobOutcome::results`].
pub fn execute<R, F>(config: JobConfig, build: F) -> Result<JobOutcome<R>>
where
    R: Send + 'static,
    F: Fn(&mut Dataflow<'_>) -> R + Send + Sync + 'static,
{
    execute_with(config, Arc::new(JobShared::default()), build)
}

/// Like [`execute`], with a [`JobShared`] the caller keeps (to read metrics while it runs).
pub fn execute_with<R, F>(config: JobConfig, shared: Arc<JobShared>, build: F) -> Result<JobOutcome<R>>
where
    R: Send + 'static,
    F: Fn(&mut Dataflow<'_>) -> R + Send + Sync + 'static,
{
    match execute_checkpointed(config, shared, build)? {
        Execution::Ran(outcome) => Ok(outcome),
        Execution::AlreadyFinished { epoch, from } => Err(Error::Config(format!(
            "checkpoint {epoch} in {} is the final checkpoint of a finished job: nothing to resume",
            from.display()
        ))),
    }
}

/// Like [`execute_with`], and says when a resumed job had already finished instead of failing.
pub fn execute_checkpointed<R, F>(config: JobConfig, shared: Arc<JobShared>, build: F) -> Result<Execution<R>>
where
    R: Send + 'static,
    F: Fn(&mut Dataflow<'_>) -> R + Send + Sync + 'static,
{
    config.validate()?;
    if let Some(mut ck) = config.checkpoint.clone() {
        ck.writer.max_parallelism = config.max_parallelism;
        match Coordinator::start(ck, config.workers, &shared)? {
            Start::Run(c) => {
                let _ = shared.coordinator.set(c);
            }
            Start::AlreadyFinished { epoch, from } => return Ok(Execution::AlreadyFinished { epoch: epoch.0, from }),
        }
    }
    let timely_config =
        if config.workers == 1 { timely::Config::thread() } else { timely::Config::process(config.workers) };
    let max_parallelism = config.max_parallelism;
    let worker_shared = Arc::clone(&shared);
    let start = Instant::now();
    let guards = timely::execute(timely_config, move |worker| {
        let shared = Arc::clone(&worker_shared);
        let result = worker.dataflow::<Time, _, _>(|scope| {
            let mut df = Dataflow { scope, shared, max_parallelism };
            build(&mut df)
        });
        if let Some(c) = worker_shared.coordinator() {
            c.built();
        }
        while worker.step_or_park(None) {}
        result
    })
    .map_err(Error::Worker)?;
    let mut results = Vec::with_capacity(config.workers);
    let mut panic = None;
    for r in guards.join() {
        match r {
            Ok(r) => results.push(r),
            Err(e) => panic = Some(e),
        }
    }
    let checkpoints = shared.coordinator().map(|c| c.shutdown());
    let elapsed = start.elapsed();
    if let Some(err) = shared.failure.lock().expect("failure lock").take() {
        return Err(err);
    }
    if let Some(p) = panic {
        return Err(Error::Worker(p));
    }
    if let (Some(c), Some(report)) = (shared.coordinator(), &checkpoints) {
        // A job that ran to its end must have completed its final checkpoint (and published
        // its output with it); one stopped at a savepoint must have written the savepoint.
        let done = report.completed.last().is_some_and(|l| l.finished || l.savepoint);
        if !done {
            return Err(Error::Config(format!(
                "the job ended but its final checkpoint (epoch {}) did not complete",
                c.final_epoch().0
            )));
        }
    }
    Ok(Execution::Ran(JobOutcome { results, metrics: shared.metrics.snapshot(), elapsed, checkpoints }))
}
