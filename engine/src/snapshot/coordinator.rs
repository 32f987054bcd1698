//! The checkpoint coordinator: epochs, acknowledgements, completion, and what a restore loads.
//!
//! A job with checkpointing has one [`Coordinator`] (in its [`JobShared`](crate::runtime::JobShared))
//! and one coordinator thread. The protocol, on timely's progress tracking (see
//! ARCHITECTURE.md section 4):
//!
//! 1. **Epochs.** Every `interval` the thread raises the *requested* epoch. Each source instance,
//!    between two batches, sees it, records its state at the cut (reader position, watermark
//!    tracker), acknowledges every epoch it leaves, and moves its capability to the new epoch.
//!    Instances move independently: no barrier between workers.
//! 2. **Snapshots.** A stateful operator snapshots epoch `e` once its input frontier holds no
//!    time of epoch `<= e` (every record of epochs `<= e` has been applied, none of later epochs
//!    has: records of later epochs that arrive early are held back, the *aligned* mode). It hands
//!    its state to the writer (as chunks per state and key group), moves the capabilities it
//!    holds to epoch `e + 1`, and acknowledges `e`. Sinks acknowledge once their output of
//!    epoch `e` is durable in their staging area.
//! 3. **Completion.** When every participant of every worker has acknowledged `e` (a finished
//!    source instance acknowledges every later epoch implicitly), the thread completes `e` in
//!    order: unchanged key groups are referenced from the previous checkpoint, the manifest is
//!    written last and atomically, retention runs, and outputs publish what they staged for
//!    epochs `<= e` (exactly-once: output of epoch `e` becomes visible only now).
//!
//! Output emitted before an operator's snapshot of `e` carries epochs `<= e`; output after it
//! carries later epochs. So a checkpoint and the outputs published with it describe the same
//! cut: restoring it and replaying the sources from their recorded positions yields exactly the
//! rest of the output.
//!
//! **End of input.** A source instance that reaches the end of its input records the epoch it
//! is in; operators whose frontier is empty snapshot through the largest such epoch, the
//! *final* epoch. Its checkpoint is marked `finished`; resuming it has nothing to do.
//!
//! **Savepoints.** With `savepoint_at_event = N`, once the sources have read `N` events in all,
//! the next epoch boundary is the cut: its checkpoint is written, complete (no chunk referenced
//! from elsewhere), under the savepoint directory; then the job stops without publishing anything
//! later.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::chunk::{ChunkBuf, ChunkName, ChunkRef};
use super::manifest::{Manifest, OperatorCost, SourceCheckpoint, SourceInstanceState, StateMeta};
use super::reader::{CheckpointStatus, SkippedCheckpoint, Snapshot};
use super::retention::{apply as apply_retention, plan_retention};
use super::writer::{Chunk, SnapshotWriter, WriterHandle, WriterOptions};
use crate::runtime::JobShared;
use crate::state::KeyGroup;
use crate::time::{Epoch, Time};
use crate::{Error, Result};

/// Default [`CheckpointConfig::interval`].
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// Where a job's state comes from when it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RestoreFrom {
    /// A fresh start.
    #[default]
    Nothing,
    /// The newest complete checkpoint under the checkpoint directory (a fresh start where
    /// there is none).
    NewestCheckpoint,
    /// The savepoint at this directory.
    Savepoint(PathBuf),
}

/// A job's checkpointing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// Root directory of periodic checkpoints; `None` takes none (savepoints only).
    pub dir: Option<PathBuf>,
    /// Time between two epochs (checkpoints).
    pub interval: Duration,
    /// What to restore at start.
    pub restore: RestoreFrom,
    /// Stop with a savepoint once the sources have read this many events in all.
    pub savepoint_at_event: Option<u64>,
    /// Where the savepoint goes.
    pub savepoint_dir: Option<PathBuf>,
    /// Complete checkpoints kept (at least 1); older ones are deleted, except files the kept
    /// ones reference.
    pub retain: usize,
    /// The writer's options (I/O backend, queue depth).
    pub writer: WriterOptions,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            dir: None,
            interval: DEFAULT_CHECKPOINT_INTERVAL,
            restore: RestoreFrom::Nothing,
            savepoint_at_event: None,
            savepoint_dir: None,
            retain: 2,
            writer: WriterOptions::default(),
        }
    }
}

impl CheckpointConfig {
    /// Periodic checkpoints under `dir` every `interval`.
    pub fn periodic(dir: impl Into<PathBuf>, interval: Duration) -> Self {
        CheckpointConfig { dir: Some(dir.into()), interval, ..CheckpointConfig::default() }
    }

    fn validate(&self) -> Result<()> {
        if self.savepoint_at_event.is_some() != self.savepoint_dir.is_some() {
            return Err(Error::Config("a savepoint needs both the event count and the savepoint directory".into()));
        }
        if self.restore == RestoreFrom::NewestCheckpoint && self.dir.is_none() {
            return Err(Error::Config("resuming needs a checkpoint directory".into()));
        }
        if self.interval.is_zero() {
            return Err(Error::Config("the checkpoint interval must be positive".into()));
        }
        if self.retain == 0 {
            return Err(Error::Config("at least one checkpoint must be retained".into()));
        }
        Ok(())
    }
}

/// The checkpoint a job restored, and how to read its chunks.
#[derive(Debug)]
pub struct Restored {
    snapshot: Snapshot,
    /// Per `(operator, state, key group)`: its chain of chunks, in part order.
    index: HashMap<(String, String, u32), Vec<ChunkRef>>,
    /// Where it came from (checkpoint root or savepoint directory).
    pub from: PathBuf,
    /// Newer checkpoints that were damaged and skipped, with the reason.
    pub skipped: Vec<SkippedCheckpoint>,
}

impl Restored {
    fn new(snapshot: Snapshot, from: PathBuf, skipped: Vec<SkippedCheckpoint>) -> Self {
        let mut index: HashMap<(String, String, u32), Vec<ChunkRef>> = HashMap::new();
        for c in snapshot.chunks() {
            index.entry((c.operator.clone(), c.state.clone(), c.key_group.0)).or_default().push(c.clone());
        }
        for chain in index.values_mut() {
            chain.sort_by_key(|c| c.part);
        }
        Restored { snapshot, index, from, skipped }
    }

    /// The restored checkpoint's epoch.
    pub fn epoch(&self) -> Epoch {
        self.snapshot.epoch()
    }

    /// Its manifest.
    pub fn manifest(&self) -> &Manifest {
        self.snapshot.manifest()
    }

    /// The payload of `operator`'s `state` for key group `kg`, if the checkpoint has one
    /// (absent means empty). Checksums are verified. A state whose key groups are stored as
    /// chains (a complete part and deltas) is read with [`Self::chain`]; here it is an error.
    pub fn chunk(&self, operator: &str, state: &str, kg: KeyGroup) -> Result<Option<Vec<u8>>> {
        let mut chain = self.chain(operator, state, kg)?;
        match chain.len() {
            0 => Ok(None),
            1 => Ok(chain.pop()),
            n => Err(Error::IncompatibleState {
                operator: operator.to_owned(),
                state: state.to_owned(),
                reason: format!("key group {} is stored as a chain of {n} parts, which this state cannot read", kg.0),
            }),
        }
    }

    /// The payloads of `operator`'s `state` for key group `kg`: the complete part first, then
    /// its deltas in order (empty: the group is empty). Checksums are verified, and the parts
    /// must be numbered `0..n` without a gap.
    pub fn chain(&self, operator: &str, state: &str, kg: KeyGroup) -> Result<Vec<Vec<u8>>> {
        let Some(chain) = self.index.get(&(operator.to_owned(), state.to_owned(), kg.0)) else {
            return Ok(Vec::new());
        };
        if let Some((i, c)) = chain.iter().enumerate().find(|(i, c)| c.part as usize != *i) {
            return Err(Error::CorruptSnapshot {
                path: self.from.join(&c.file),
                offset: c.offset,
                reason: format!(
                    "{operator}/{state} key group {}: chunk part {} where part {i} was expected",
                    kg.0, c.part
                ),
            });
        }
        chain.iter().map(|c| self.snapshot.read_chunk(c)).collect()
    }
}

/// An acknowledgement of one participant for one epoch.
#[derive(Debug)]
struct Ack {
    epoch: Epoch,
    participant: usize,
    unchanged: Vec<ChunkName>,
    source: Option<(String, usize, SourceInstanceState)>,
    cost: OperatorCost,
}

enum Msg {
    Built,
    Ack(Ack),
    Shutdown,
}

/// A key group's snapshot payload as an operator hands it over.
pub enum Payload {
    /// Encoded already (on the worker, inside the synchronous pause).
    Bytes(Vec<u8>),
    /// Encoded later, off the worker, by the coordinator's encoder thread: the closure owns a
    /// frozen view of the state (copy-on-write pages), so the worker goes on meanwhile.
    Deferred(DeferredEncode),
}

/// Encodes a frozen snapshot of a key group when called (on the encoder thread).
pub type DeferredEncode = Box<dyn FnOnce() -> Vec<u8> + Send>;

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Payload::Deferred(_) => f.write_str("Deferred"),
        }
    }
}

/// One chunk of an operator's snapshot: state, key group, place in the group's chain, payload.
#[derive(Debug)]
pub struct StateChunk {
    /// The state's name.
    pub state: String,
    /// The key group.
    pub key_group: KeyGroup,
    /// 0: a complete snapshot of the group; `n > 0`: the `n`-th delta on top of the chain the
    /// previous checkpoint holds for this group (which the hand-over must then also name as
    /// unchanged, so that the new checkpoint references it).
    pub part: u32,
    /// The payload.
    pub payload: Payload,
}

/// Work for the encoder thread: one operator instance's deferred payloads of one epoch and the
/// acknowledgement that follows them.
struct EncodeJob {
    participant_operator: String,
    chunks: Vec<(ChunkName, DeferredEncode)>,
    ack: Ack,
}

/// Runs deferred encodings in order, submits them to the epoch's writer, then forwards the
/// acknowledgement (so a checkpoint completes only after its deferred chunks reached the writer).
fn run_encoder(coordinator: Arc<Coordinator>, rx: Receiver<EncodeJob>) {
    for job in rx {
        encode_and_ack(&coordinator, job);
    }
}

/// Encodes one job's payloads, submits them, then forwards its acknowledgement.
fn encode_and_ack(coordinator: &Coordinator, job: EncodeJob) {
    let mut ack = job.ack;
    for (name, encode) in job.chunks {
        let bytes = encode();
        ack.cost.bytes_written += bytes.len() as u64;
        if let Some(w) = coordinator.writer_for(ack.epoch)
            && let Err(err) = w.submit(Chunk { epoch: ack.epoch, name, data: ChunkBuf::from_payload(&bytes) })
        {
            tracing::error!(error = %err, operator = %job.participant_operator, "handing state to the snapshot writer");
        }
    }
    let _ = coordinator.tx.send(Msg::Ack(ack));
}

#[derive(Debug, Clone)]
struct ParticipantInfo {
    operator: String,
    worker: usize,
    is_source: bool,
}

/// One completed checkpoint, as the job reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompletedCheckpoint {
    /// Its epoch.
    pub epoch: u64,
    /// From the checkpoint's trigger (the request of the next epoch) until its manifest was
    /// durable and outputs had published it, in microseconds.
    pub duration_micros: u64,
    /// The writer's `finish` (fsyncs and manifest), in microseconds.
    pub finish_micros: u64,
    /// Payload bytes written.
    pub bytes_written: u64,
    /// Payload bytes referenced from earlier checkpoints.
    pub bytes_referenced: u64,
    /// The longest synchronous pause of any operator instance, in microseconds.
    pub max_sync_pause_micros: u64,
    /// Records held back by alignment, over all operators.
    pub aligned_records: u64,
    /// Whether it was the savepoint.
    pub savepoint: bool,
    /// Whether it is the job's final checkpoint.
    pub finished: bool,
}

/// What the coordinator did over a job.
#[derive(Debug, Clone, Default)]
pub struct CheckpointSummaryReport {
    /// The epoch the job restored, if any.
    pub restored_epoch: Option<u64>,
    /// Every checkpoint completed, in order.
    pub completed: Vec<CompletedCheckpoint>,
    /// Whether the job stopped at its savepoint.
    pub stopped_at_savepoint: bool,
}

/// Per-job checkpoint coordination; see the [module docs](self).
pub struct Coordinator {
    config: CheckpointConfig,
    workers: usize,
    restored: Option<Restored>,
    start_epoch: Epoch,
    requested: AtomicU64,
    /// The savepoint's epoch (`u64::MAX`: none).
    stop_after: AtomicU64,
    stop_complete: AtomicBool,
    final_epoch: AtomicU64,
    events_read: AtomicU64,
    /// Checkpoints completed so far.
    completed: AtomicU64,
    writer: Option<WriterHandle>,
    savepoint_writer: Option<WriterHandle>,
    participants: Mutex<Vec<ParticipantInfo>>,
    states: Mutex<BTreeMap<String, StateMeta>>,
    outputs: Mutex<Vec<Arc<dyn CommitHook>>>,
    tx: Sender<Msg>,
    thread: Mutex<Option<JoinHandle<CheckpointSummaryReport>>>,
    /// The encoder thread's queue and handle, started by the first deferred payload.
    encoder: Mutex<Option<(Sender<EncodeJob>, JoinHandle<()>)>>,
    epoch_started: Mutex<BTreeMap<u64, Instant>>,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("start_epoch", &self.start_epoch)
            .field("requested", &self.requested.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Something that publishes staged output when a checkpoint completes (an exactly-once sink).
pub trait CommitHook: Send + Sync + 'static {
    /// Checkpoint `epoch` is complete: publish everything staged for epochs `<= epoch`.
    fn commit(&self, epoch: Epoch) -> Result<()>;
    /// The job ended: drop what was staged and never published.
    fn discard_unpublished(&self);
}

/// What [`Coordinator::start`] decided before the job runs.
pub enum Start {
    /// Run the job under this coordinator.
    Run(Arc<Coordinator>),
    /// The restored checkpoint is a finished job's final one: nothing to do.
    AlreadyFinished {
        /// Its epoch.
        epoch: Epoch,
        /// Where it was found.
        from: PathBuf,
    },
}

impl Coordinator {
    /// Loads what the configuration restores and starts the writers and the coordinator thread.
    pub fn start(config: CheckpointConfig, workers: usize, shared: &Arc<JobShared>) -> Result<Start> {
        config.validate()?;
        let restored = match &config.restore {
            RestoreFrom::Nothing => None,
            RestoreFrom::NewestCheckpoint => {
                let dir = config.dir.clone().expect("validated: resume has a directory");
                // Only unfinished checkpoints (a crash before the first completed): a fresh
                // start. Anything else must yield a valid checkpoint or an error, never a
                // silent fresh start.
                let listed = super::reader::list(&dir)?;
                if listed.iter().all(|i| i.status == CheckpointStatus::Incomplete) {
                    None
                } else {
                    let rec = Snapshot::open_newest_valid(&dir)?;
                    for s in &rec.skipped {
                        tracing::warn!(epoch = s.epoch.0, reason = %s.reason, "skipping a damaged checkpoint");
                        eprintln!("rill: skipping checkpoint {} in {}: {}", s.epoch.0, dir.display(), s.reason);
                    }
                    Some(Restored::new(rec.snapshot, dir, rec.skipped))
                }
            }
            RestoreFrom::Savepoint(dir) => Some(Restored::new(Snapshot::open(dir)?, dir.clone(), Vec::new())),
        };
        if let Some(r) = &restored {
            if r.manifest().finished {
                return Ok(Start::AlreadyFinished { epoch: r.epoch(), from: r.from.clone() });
            }
            if r.manifest().max_parallelism != config.writer.max_parallelism {
                return Err(Error::Config(format!(
                    "{} was taken with {} key groups; this job has {} (the key-group count is fixed for the life of a job's state)",
                    r.from.display(),
                    r.manifest().max_parallelism,
                    config.writer.max_parallelism
                )));
            }
        }
        // New epochs continue after every checkpoint directory present (complete or not), so a
        // run never writes into a directory an earlier run left, and damaged ones stay as
        // evidence until retention removes them.
        let after_existing = match &config.dir {
            Some(d) => super::reader::list(d)?.iter().map(|i| i.epoch.0 + 1).max().unwrap_or(0),
            None => 0,
        };
        let start_epoch = Epoch(restored.as_ref().map_or(0, |r| r.epoch().0 + 1).max(after_existing));
        let writer = config.dir.as_ref().map(|d| SnapshotWriter::new(d, config.writer.clone())).transpose()?;
        let savepoint_writer =
            config.savepoint_dir.as_ref().map(|d| SnapshotWriter::new(d, config.writer.clone())).transpose()?;
        if let Some(d) = &config.savepoint_dir
            && super::reader::list(d).is_ok_and(|l| !l.is_empty())
        {
            return Err(Error::Config(format!("savepoint directory {} is not empty", d.display())));
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let coordinator = Arc::new(Coordinator {
            workers,
            restored,
            start_epoch,
            requested: AtomicU64::new(start_epoch.0),
            stop_after: AtomicU64::new(u64::MAX),
            stop_complete: AtomicBool::new(false),
            final_epoch: AtomicU64::new(start_epoch.0),
            events_read: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            writer: writer.as_ref().map(SnapshotWriter::handle),
            savepoint_writer: savepoint_writer.as_ref().map(SnapshotWriter::handle),
            participants: Mutex::new(Vec::new()),
            states: Mutex::new(BTreeMap::new()),
            outputs: Mutex::new(Vec::new()),
            tx,
            thread: Mutex::new(None),
            encoder: Mutex::new(None),
            epoch_started: Mutex::new(BTreeMap::from([(start_epoch.0, Instant::now())])),
            config,
        });
        let thread_state = CoordinatorThread {
            coordinator: Arc::clone(&coordinator),
            shared: Arc::clone(shared),
            writer,
            savepoint_writer,
            built: 0,
            acks: BTreeMap::new(),
            finished_sources: HashMap::new(),
            next: start_epoch,
            first_ack: BTreeMap::new(),
            previous: None,
            report: CheckpointSummaryReport {
                restored_epoch: coordinator.restored.as_ref().map(|r| r.epoch().0),
                ..Default::default()
            },
        };
        let handle = std::thread::Builder::new()
            .name("rill-checkpoints".into())
            .spawn(move || thread_state.run(rx))
            .map_err(|e| Error::io("starting the checkpoint coordinator thread", e))?;
        *coordinator.thread.lock().expect("coordinator lock") = Some(handle);
        Ok(Start::Run(coordinator))
    }

    /// How many checkpoints this run completed so far.
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Acquire)
    }

    /// The checkpoint this job restored, if any.
    pub fn restored(&self) -> Option<&Restored> {
        self.restored.as_ref()
    }

    /// The restored checkpoint's epoch, if any.
    pub fn restored_epoch(&self) -> Option<Epoch> {
        self.restored.as_ref().map(Restored::epoch)
    }

    /// The first epoch of this run.
    pub fn start_epoch(&self) -> Epoch {
        self.start_epoch
    }

    /// The epoch sources should be in.
    #[inline]
    pub fn requested(&self) -> Epoch {
        Epoch(self.requested.load(Ordering::Acquire))
    }

    /// The savepoint's epoch, once the savepoint has been triggered.
    #[inline]
    pub fn stop_after(&self) -> Option<Epoch> {
        match self.stop_after.load(Ordering::Acquire) {
            u64::MAX => None,
            e => Some(Epoch(e)),
        }
    }

    /// Whether the savepoint is complete (sources then end).
    #[inline]
    pub fn stop_complete(&self) -> bool {
        self.stop_complete.load(Ordering::Acquire)
    }

    /// The largest epoch a source instance was in when its input ended.
    pub fn final_epoch(&self) -> Epoch {
        Epoch(self.final_epoch.load(Ordering::Acquire))
    }

    /// Counts events read by sources, and triggers the savepoint once there are enough.
    #[inline]
    pub fn count_events(&self, n: u64) {
        let Some(at) = self.config.savepoint_at_event else { return };
        let before = self.events_read.fetch_add(n, Ordering::AcqRel);
        if before < at && before + n >= at {
            self.trigger_savepoint();
        }
    }

    fn trigger_savepoint(&self) {
        // Under the participants lock so that it is atomic with respect to other raises.
        let _guard = self.participants.lock().expect("coordinator lock");
        let cut = self.requested.load(Ordering::Acquire);
        self.stop_after.store(cut, Ordering::Release);
        self.raise(cut + 1);
    }

    fn raise(&self, to: u64) {
        let before = self.requested.fetch_max(to, Ordering::AcqRel);
        if before < to {
            let mut started = self.epoch_started.lock().expect("coordinator lock");
            for e in before + 1..=to {
                started.insert(e, Instant::now());
            }
        }
    }

    /// Registers one participant instance (an operator on one worker) and returns its handle.
    /// Names must be unique per worker: state is mapped by operator name.
    pub fn participant(self: &Arc<Self>, operator: &str, worker: usize, is_source: bool) -> Result<Participant> {
        let mut ps = self.participants.lock().expect("coordinator lock");
        if ps.iter().any(|p| p.operator == operator && p.worker == worker) {
            return Err(Error::Config(format!(
                "two operators are named `{operator}`: checkpointed operators need unique names"
            )));
        }
        let id = ps.len();
        ps.push(ParticipantInfo { operator: operator.to_owned(), worker, is_source });
        Ok(Participant {
            coordinator: Arc::clone(self),
            id,
            operator: operator.to_owned(),
            worker,
            next: self.start_epoch,
        })
    }

    /// Declares a keyed state for the manifest, and checks it against the restored checkpoint:
    /// a state whose kind or value type changed is refused.
    pub fn declare_state(&self, operator: &str, state: &str, kind: &str, value_type: &str) -> Result<()> {
        let key = format!("{operator}/{state}");
        let meta = StateMeta {
            operator: operator.to_owned(),
            state: state.to_owned(),
            kind: kind.to_owned(),
            value_type: value_type.to_owned(),
        };
        if let Some(r) = &self.restored
            && let Some(old) = r.manifest().states.get(&key)
            && (old.kind != meta.kind || old.value_type != meta.value_type)
        {
            return Err(Error::IncompatibleState {
                operator: operator.to_owned(),
                state: state.to_owned(),
                reason: format!(
                    "{} holds it as {} of `{}`, this job declares {} of `{}`",
                    r.from.display(),
                    old.kind,
                    old.value_type,
                    meta.kind,
                    meta.value_type
                ),
            });
        }
        self.states.lock().expect("coordinator lock").insert(key, meta);
        Ok(())
    }

    /// Registers an output that publishes on checkpoint completion.
    pub fn register_output(&self, hook: Arc<dyn CommitHook>) {
        self.outputs.lock().expect("coordinator lock").push(hook);
    }

    /// A worker has built its dataflow (all its participants are registered).
    pub fn built(&self) {
        let _ = self.tx.send(Msg::Built);
    }

    /// Waits for the coordinator thread after the workers ended and returns what it did.
    pub fn shutdown(&self) -> CheckpointSummaryReport {
        // Deferred payloads first: their acknowledgements must reach the coordinator thread.
        let encoder = self.encoder.lock().expect("coordinator lock").take();
        if let Some((tx, handle)) = encoder {
            drop(tx);
            let _ = handle.join();
        }
        let _ = self.tx.send(Msg::Shutdown);
        let handle = self.thread.lock().expect("coordinator lock").take();
        let report = handle.and_then(|h| h.join().ok()).unwrap_or_default();
        for o in self.outputs.lock().expect("coordinator lock").iter() {
            o.discard_unpublished();
        }
        report
    }

    /// Queues deferred payloads and their acknowledgement for the encoder thread (started on
    /// first use).
    fn encode_later(self: &Arc<Self>, job: EncodeJob) {
        let mut encoder = self.encoder.lock().expect("coordinator lock");
        if encoder.is_none() {
            let (tx, rx) = crossbeam_channel::unbounded();
            let me = Arc::clone(self);
            match std::thread::Builder::new().name("rill-snapshot-encoder".into()).spawn(move || run_encoder(me, rx)) {
                Ok(handle) => *encoder = Some((tx, handle)),
                Err(e) => {
                    // No thread: encode here, on the worker (slower, still correct).
                    tracing::warn!(error = %e, "no snapshot encoder thread; encoding on the worker");
                    drop(encoder);
                    encode_and_ack(self, job);
                    return;
                }
            }
        }
        if let Some((tx, _)) = encoder.as_ref() {
            let _ = tx.send(job);
        }
    }

    fn writer_for(&self, epoch: Epoch) -> Option<&WriterHandle> {
        if self.stop_after() == Some(epoch) { self.savepoint_writer.as_ref() } else { self.writer.as_ref() }
    }
}

/// One operator instance's part in checkpoints: what to snapshot when, and where to send it.
#[derive(Debug)]
pub struct Participant {
    coordinator: Arc<Coordinator>,
    id: usize,
    operator: String,
    worker: usize,
    /// The smallest epoch not yet snapshotted: records of epochs `<=` it are applied, later
    /// ones held back.
    next: Epoch,
}

impl Participant {
    /// The coordinator.
    pub fn coordinator(&self) -> &Arc<Coordinator> {
        &self.coordinator
    }

    /// The operator's name.
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// The epoch whose records are applied now; records of later epochs wait (alignment).
    #[inline]
    pub fn current(&self) -> Epoch {
        self.next
    }

    /// The next epoch to snapshot, given the least epoch of the input frontier (`None` when
    /// the frontier is empty), advancing past it. Returns `None` while nothing is due.
    pub fn due(&mut self, frontier_min_epoch: Option<Epoch>, aborted: bool) -> Option<Epoch> {
        if aborted {
            return None;
        }
        let c = &self.coordinator;
        let limit = match frontier_min_epoch {
            Some(m) => m.0,
            None if c.stop_after().is_some() => c.stop_after().map_or(0, |e| e.0 + 1),
            None => c.final_epoch().0 + 1,
        };
        let limit = c.stop_after().map_or(limit, |s| limit.min(s.0 + 1));
        if self.next.0 < limit {
            let e = self.next;
            self.next = Epoch(e.0 + 1);
            Some(e)
        } else {
            None
        }
    }

    /// Whether epoch `e`'s snapshot must be complete (no key group may be referenced from an
    /// earlier checkpoint): the first of a run, and savepoints.
    pub fn must_be_full(&self, e: Epoch) -> bool {
        e == self.coordinator.start_epoch || self.coordinator.stop_after() == Some(e)
    }

    /// Hands epoch `e`'s encoded key groups (`(state, key group, payload)`) to the writer and
    /// acknowledges the epoch, with `unchanged` key groups referenced from the previous
    /// checkpoint and the cost figures of the snapshot (`keys` and `state_bytes` of the state,
    /// the synchronous `pause`, records held back by alignment).
    #[allow(clippy::too_many_arguments)]
    pub fn hand_over(
        &self,
        e: Epoch,
        chunks: Vec<(&str, KeyGroup, Vec<u8>)>,
        unchanged: Vec<(String, KeyGroup)>,
        keys: u64,
        state_bytes: u64,
        pause: Duration,
        aligned_records: u64,
    ) {
        let chunks = chunks
            .into_iter()
            .map(|(state, key_group, bytes)| StateChunk {
                state: state.to_owned(),
                key_group,
                part: 0,
                payload: Payload::Bytes(bytes),
            })
            .collect();
        self.hand_over_chunks(e, chunks, unchanged, keys, state_bytes, pause, aligned_records);
    }

    /// [`Self::hand_over`] with payloads that may be encoded later ([`Payload::Deferred`]) and
    /// chunks that extend a key group's chain ([`StateChunk::part`]). Deferred payloads are
    /// encoded on the coordinator's encoder thread, which acknowledges the epoch once they are
    /// with the writer; the worker returns at once.
    #[allow(clippy::too_many_arguments)]
    pub fn hand_over_chunks(
        &self,
        e: Epoch,
        chunks: Vec<StateChunk>,
        unchanged: Vec<(String, KeyGroup)>,
        keys: u64,
        state_bytes: u64,
        pause: Duration,
        aligned_records: u64,
    ) {
        let mut bytes_written = 0u64;
        let mut deferred = Vec::new();
        for c in chunks {
            let name = ChunkName::new(self.operator.clone(), c.state, c.key_group).with_part(c.part);
            match c.payload {
                Payload::Bytes(bytes) => {
                    bytes_written += bytes.len() as u64;
                    if let Some(w) = self.coordinator.writer_for(e)
                        && let Err(err) = w.submit(Chunk { epoch: e, name, data: ChunkBuf::from_payload(&bytes) })
                    {
                        // The writer has stopped: the checkpoint cannot complete, and finishing
                        // it reports the failure.
                        tracing::error!(error = %err, operator = %self.operator, "handing state to the snapshot writer");
                    }
                }
                Payload::Deferred(encode) => deferred.push((name, encode)),
            }
        }
        let cost = OperatorCost {
            operator: self.operator.clone(),
            keys,
            state_bytes,
            bytes_written,
            chunks_referenced: unchanged.len() as u64,
            sync_pause_micros: pause.as_micros() as u64,
            aligned_records,
        };
        if deferred.is_empty() {
            self.ack(e, unchanged, cost);
        } else {
            let ack = self.ack_message(e, unchanged, cost);
            self.coordinator.encode_later(EncodeJob {
                participant_operator: self.operator.clone(),
                chunks: deferred,
                ack,
            });
        }
    }

    /// Acknowledges epoch `e`: everything of it was handed over. `unchanged` names key groups
    /// whose chunk of the previous checkpoint still holds (incremental).
    pub fn ack(&self, e: Epoch, unchanged: Vec<(String, KeyGroup)>, cost: OperatorCost) {
        let _ = self.coordinator.tx.send(Msg::Ack(self.ack_message(e, unchanged, cost)));
    }

    fn ack_message(&self, e: Epoch, unchanged: Vec<(String, KeyGroup)>, cost: OperatorCost) -> Ack {
        let unchanged = unchanged.into_iter().map(|(s, kg)| ChunkName::new(self.operator.clone(), s, kg)).collect();
        Ack { epoch: e, participant: self.id, unchanged, source: None, cost }
    }

    /// A source instance acknowledges epoch `e` with its state at the cut.
    pub fn ack_source(&self, e: Epoch, state: SourceInstanceState) {
        if state.finished {
            self.coordinator.final_epoch.fetch_max(e.0, Ordering::AcqRel);
        }
        let source = Some((self.operator.clone(), self.worker, state));
        let cost = OperatorCost { operator: self.operator.clone(), ..OperatorCost::default() };
        let _ = self.coordinator.tx.send(Msg::Ack(Ack {
            epoch: e,
            participant: self.id,
            unchanged: Vec::new(),
            source,
            cost,
        }));
    }

    /// The restored payload of `state`'s key group `kg`, if any.
    pub fn restored_chunk(&self, state: &str, kg: KeyGroup) -> Result<Option<Vec<u8>>> {
        match &self.coordinator.restored {
            Some(r) => r.chunk(&self.operator, state, kg),
            None => Ok(None),
        }
    }

    /// The restored chain of `state`'s key group `kg` (complete part, then deltas; empty if none).
    pub fn restored_chain(&self, state: &str, kg: KeyGroup) -> Result<Vec<Vec<u8>>> {
        match &self.coordinator.restored {
            Some(r) => r.chain(&self.operator, state, kg),
            None => Ok(Vec::new()),
        }
    }

    /// The restored state of this source, if this job restored one.
    pub fn restored_source(&self) -> Option<&SourceCheckpoint> {
        self.coordinator.restored.as_ref().and_then(|r| r.manifest().sources.get(&self.operator))
    }

    /// The least epoch of a frontier, `None` if it is empty.
    pub fn min_epoch(frontier: &[Time]) -> Option<Epoch> {
        frontier.iter().map(|t| t.epoch).min()
    }
}

/// The coordinator thread's state.
struct CoordinatorThread {
    coordinator: Arc<Coordinator>,
    shared: Arc<JobShared>,
    writer: Option<SnapshotWriter>,
    savepoint_writer: Option<SnapshotWriter>,
    built: usize,
    acks: BTreeMap<Epoch, Vec<Ack>>,
    /// Finished source instances: participant -> (epoch it finished in, its final state).
    finished_sources: HashMap<usize, (Epoch, String, usize, SourceInstanceState)>,
    next: Epoch,
    first_ack: BTreeMap<Epoch, Instant>,
    previous: Option<Manifest>,
    report: CheckpointSummaryReport,
}

impl CoordinatorThread {
    fn run(mut self, rx: Receiver<Msg>) -> CheckpointSummaryReport {
        let interval = self.coordinator.config.interval;
        let mut next_tick = Instant::now() + interval;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(timeout) {
                Ok(Msg::Built) => self.built += 1,
                Ok(Msg::Ack(ack)) => {
                    if let Some((name, worker, state)) = &ack.source
                        && state.finished
                    {
                        self.finished_sources
                            .insert(ack.participant, (ack.epoch, name.clone(), *worker, state.clone()));
                    }
                    self.first_ack.entry(ack.epoch).or_insert_with(Instant::now);
                    self.acks.entry(ack.epoch).or_default().push(ack);
                }
                Ok(Msg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    self.try_complete();
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {
                    next_tick += interval;
                    let c = &self.coordinator;
                    if c.stop_after().is_none() && !self.all_sources_finished() && self.coordinator.writer.is_some() {
                        c.raise(c.requested().0 + 1);
                    }
                }
            }
            self.try_complete();
        }
        self.report
    }

    fn sources(&self) -> usize {
        self.coordinator.participants.lock().expect("coordinator lock").iter().filter(|p| p.is_source).count()
    }

    fn all_sources_finished(&self) -> bool {
        let n = self.sources();
        n > 0 && self.finished_sources.len() == n
    }

    /// Completes every epoch that every participant has acknowledged, in order.
    fn try_complete(&mut self) {
        let c = Arc::clone(&self.coordinator);
        if self.built < c.workers || self.shared.aborted() && !c.stop_complete() {
            return;
        }
        loop {
            let e = self.next;
            if c.stop_after().is_some_and(|s| e > s) {
                return;
            }
            let participants = c.participants.lock().expect("coordinator lock").clone();
            let acks = self.acks.get(&e).map_or(&[][..], |v| &v[..]);
            let acked: std::collections::HashSet<usize> = acks.iter().map(|a| a.participant).collect();
            let complete = (0..participants.len())
                .all(|p| acked.contains(&p) || self.finished_sources.get(&p).is_some_and(|(fe, ..)| *fe < e));
            if !complete {
                return;
            }
            let acks = self.acks.remove(&e).unwrap_or_default();
            if let Err(err) = self.complete(e, acks) {
                self.shared.fail(err);
                return;
            }
            self.next = Epoch(e.0 + 1);
        }
    }

    fn complete(&mut self, e: Epoch, acks: Vec<Ack>) -> Result<()> {
        let c = Arc::clone(&self.coordinator);
        let savepoint = c.stop_after() == Some(e);
        // Checkpoint e was triggered when epoch e + 1 was requested (or, for the final one, by
        // the first acknowledgement of e).
        let started = {
            let mut map = c.epoch_started.lock().expect("coordinator lock");
            let t = map.remove(&(e.0 + 1));
            map.retain(|k, _| *k > e.0 + 1);
            t
        }
        .or(self.first_ack.remove(&e));
        self.first_ack.retain(|k, _| *k > e);
        let finished = self.all_sources_finished() && e >= c.final_epoch();
        // Source states at the cut: explicit acknowledgements, and finished instances.
        let mut sources: BTreeMap<String, SourceCheckpoint> = BTreeMap::new();
        let mut put = |name: &str, worker: usize, state: SourceInstanceState| {
            let s = sources.entry(name.to_owned()).or_default();
            s.workers = c.workers as u32;
            if s.instances.len() <= worker {
                s.instances.resize(worker + 1, SourceInstanceState::default());
            }
            s.instances[worker] = state;
        };
        for a in &acks {
            if let Some((name, worker, state)) = &a.source {
                put(name, *worker, state.clone());
            }
        }
        for (p, (fe, name, worker, state)) in &self.finished_sources {
            if *fe < e && !acks.iter().any(|a| a.participant == *p) {
                put(name, *worker, state.clone());
            }
        }
        // Costs per operator.
        let mut costs: BTreeMap<String, OperatorCost> = BTreeMap::new();
        for a in &acks {
            if a.source.is_some() {
                continue;
            }
            let o = costs
                .entry(a.cost.operator.clone())
                .or_insert_with(|| OperatorCost { operator: a.cost.operator.clone(), ..OperatorCost::default() });
            o.keys += a.cost.keys;
            o.state_bytes += a.cost.state_bytes;
            o.bytes_written += a.cost.bytes_written;
            o.chunks_referenced += a.cost.chunks_referenced;
            o.aligned_records += a.cost.aligned_records;
            o.sync_pause_micros = o.sync_pause_micros.max(a.cost.sync_pause_micros);
        }
        let writer = if savepoint { self.savepoint_writer.as_ref() } else { self.writer.as_ref() };
        let mut completed = CompletedCheckpoint {
            epoch: e.0,
            duration_micros: 0,
            finish_micros: 0,
            bytes_written: 0,
            bytes_referenced: 0,
            max_sync_pause_micros: costs.values().map(|o| o.sync_pause_micros).max().unwrap_or(0),
            aligned_records: costs.values().map(|o| o.aligned_records).sum(),
            savepoint,
            finished,
        };
        if let Some(writer) = writer {
            // Incremental: unchanged key groups point at the previous checkpoint's chunks (every
            // part of their chain; a delta written now extends that chain).
            let unchanged: Vec<&ChunkName> = acks.iter().flat_map(|a| a.unchanged.iter()).collect();
            if !unchanged.is_empty() {
                let prev = self.previous.as_ref().ok_or_else(|| {
                    Error::Config(format!("checkpoint {}: unchanged state but no previous checkpoint", e.0))
                })?;
                let mut index: HashMap<ChunkName, Vec<&ChunkRef>> = HashMap::new();
                for r in &prev.chunks {
                    index.entry(r.name().with_part(0)).or_default().push(r);
                }
                for name in unchanged {
                    for r in index.get(&name.clone().with_part(0)).into_iter().flatten() {
                        writer.reference(e, (*r).clone())?;
                    }
                }
            }
            let states = c.states.lock().expect("coordinator lock").clone();
            let workers = c.workers as u32;
            let operators: Vec<OperatorCost> = costs.into_values().collect();
            let positions: Vec<(String, Vec<u64>)> = sources
                .iter()
                .map(|(n, s)| {
                    (n.clone(), s.instances.iter().map(|i| i.position.first().copied().unwrap_or(0)).collect())
                })
                .collect();
            writer.handle().annotate(e, move |m| {
                m.finished = finished;
                m.savepoint = savepoint;
                m.workers = workers;
                m.sources = sources;
                m.states = states;
                m.operators = operators;
                m.source_positions = positions.into_iter().collect();
            })?;
            let report = writer.finish(e)?;
            completed.finish_micros = report.finish_time.as_micros() as u64;
            completed.bytes_written = report.manifest.stats.payload_bytes_written;
            completed.bytes_referenced = report.manifest.stats.payload_bytes_referenced;
            if !savepoint {
                self.previous = Some(report.manifest);
                if let Some(dir) = &c.config.dir {
                    retain(dir, c.config.retain)?;
                }
            }
        }
        for o in c.outputs.lock().expect("coordinator lock").iter() {
            o.commit(e)?;
        }
        completed.duration_micros = started.map_or(0, |t| t.elapsed().as_micros() as u64);
        self.report.completed.push(completed);
        self.coordinator.completed.fetch_add(1, Ordering::Release);
        if savepoint {
            self.report.stopped_at_savepoint = true;
            c.stop_complete.store(true, Ordering::Release);
        }
        Ok(())
    }
}

/// Deletes checkpoints beyond the newest `keep` complete ones (never a file a kept one uses).
fn retain(dir: &Path, keep: usize) -> Result<()> {
    let listed = super::reader::list(dir)?;
    let plan = plan_retention(&listed, keep);
    apply_retention(dir, &plan)
}
