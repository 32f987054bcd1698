//! The source operator: reads batches from a [`SourceReader`], stamps them with the source's
//! watermark, and advances its capability as the watermark advances.
//!
//! Every worker runs one instance with its own reader over its own slice of the input (no
//! single-thread bottleneck). The capability is held at `(epoch, watermark)`; records keep their
//! own event times. A batch is stamped with the watermark *before* the batch was read, so a
//! record below its batch's stamp was read after its source's watermark had passed it: that is
//! what "late" means in Rill, decided at the source and so independent of scheduling.
//!
//! Idleness: a live source whose reader reports [`ReadStatus::Pending`] for longer than the
//! strategy's `idle_timeout` is *idle*: its capability then follows the source's combined
//! watermark, the least over the active instances (the furthest instance's once all are idle,
//! as in Flink), so an idle partition does not stall windows forever. A reader may also declare "no data before `t`" explicitly
//! ([`SourceReader::declared_watermark`]). Data arriving after idleness resumes normal tracking
//! (records older than the advanced watermark are then late, as in Flink).
//!
//! Each activation reads a bounded amount (a few batches, at most about a millisecond) and then
//! yields to the operators downstream on the same worker thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::operators::generic::operator::source as timely_source;

use crate::error::Result;
use crate::runtime::Dataflow;
use crate::runtime::latency::WatermarkLog;
use crate::runtime::metrics::LocalCounts;
use crate::snapshot::{Participant, SourceCheckpoint, SourceInstanceState};
use crate::time::watermark::{WatermarkStrategy, WatermarkTracker};
use crate::time::{Epoch, Event, EventTime, Time};

/// Records per batch handed to timely.
const BATCH: usize = 1024;
/// Batches per activation at most.
const BATCHES_PER_ACTIVATION: usize = 64;
/// Processing time per activation at most.
const ACTIVATION_BUDGET: Duration = Duration::from_millis(1);
/// How often a source stopped at a savepoint's cut checks whether the savepoint is complete.
const STOP_POLL: Duration = Duration::from_millis(1);
/// How soon a pending (live, empty) source polls again.
const PENDING_POLL: Duration = Duration::from_micros(200);

/// What a [`SourceReader::read`] call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStatus {
    /// Records may have been appended and more may follow at once.
    Ready,
    /// Nothing is available now, but the input has not ended (a live or rate-limited source).
    Pending,
    /// The input has ended; no record will follow.
    Done,
}

/// One worker's slice of a source's input.
pub trait SourceReader: 'static {
    /// The records it produces.
    type Item: Event + Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static;

    /// Appends up to `max` records to `out`. An error (malformed input, I/O) fails the job.
    fn read(&mut self, out: &mut Vec<Self::Item>, max: usize) -> Result<ReadStatus>;

    /// The reader's position (records or bytes consumed), recorded in checkpoints.
    fn position(&self) -> u64;

    /// An explicit watermark declared by the input ("no data before `t`"), if any since the
    /// last call.
    fn declared_watermark(&mut self) -> Option<EventTime> {
        None
    }

    /// The reader's state at a checkpoint's cut (default: its [`position`](Self::position)).
    fn checkpoint(&self) -> Vec<u64> {
        vec![self.position()]
    }

    /// Moves a freshly opened reader (worker `worker` of `workers`) past everything the
    /// checkpointed instances had read (`source.instances[i].position` is what instance `i`'s
    /// [`checkpoint`](Self::checkpoint) returned; `source.workers` may differ from `workers`
    /// when the job is rescaled). The default refuses: such a reader cannot resume.
    fn restore(&mut self, source: &SourceCheckpoint, worker: usize, workers: usize) -> Result<()> {
        let _ = (source, worker, workers);
        Err(crate::Error::Config("this source cannot resume from a checkpoint".into()))
    }

    /// For rate-limited readers: when the first record of the last read was scheduled to
    /// arrive. Watermark-to-output latency is measured from this instant (the earliest at which
    /// the read's watermark advance could have happened), not from when it was read, so a
    /// stall is never hidden.
    fn scheduled_time(&self) -> Option<Instant> {
        None
    }

    /// For rate-limited readers that reported [`ReadStatus::Pending`]: when the next record
    /// becomes readable, so the source wakes exactly then instead of polling.
    fn next_ready(&self) -> Option<Instant> {
        None
    }
}

/// The watermarks of all instances of one source, for idleness.
///
/// `combined` is the source's watermark as the job sees it with idle instances left out: the
/// highest value reached by the least watermark of the active instances, or, while every
/// instance is idle, by the furthest instance's watermark (as Flink's watermark valve does).
/// Instances republish it whenever one of them advances, goes idle or finishes, and idle
/// instances follow it; keeping it on the board rather than reading the others' watermarks
/// makes following it independent of when they poll.
#[derive(Debug)]
struct SourceBoard {
    watermarks: Vec<AtomicU64>,
    idle: Vec<AtomicBool>,
    combined: AtomicU64,
}

impl SourceBoard {
    fn new(instances: usize) -> Self {
        SourceBoard {
            watermarks: (0..instances).map(|_| AtomicU64::new(0)).collect(),
            idle: (0..instances).map(|_| AtomicBool::new(false)).collect(),
            combined: AtomicU64::new(0),
        }
    }

    /// Records `worker`'s watermark (or its end, `u64::MAX`) and republishes the combined one.
    fn set(&self, worker: usize, watermark: u64, idle: bool) {
        self.watermarks[worker].store(watermark, Ordering::Release);
        self.idle[worker].store(idle, Ordering::Release);
        let active_min = (0..self.watermarks.len())
            .filter(|&i| !self.idle[i].load(Ordering::Acquire))
            .map(|i| self.watermarks[i].load(Ordering::Acquire))
            .filter(|&w| w != u64::MAX)
            .min();
        // With every instance idle, the furthest one sets the pace (Flink's watermark valve does
        // the same when its last active channel goes idle).
        let m = active_min
            .or_else(|| self.watermarks.iter().map(|w| w.load(Ordering::Acquire)).filter(|&w| w != u64::MAX).max());
        if let Some(m) = m {
            self.combined.fetch_max(m, Ordering::AcqRel);
        }
    }

    /// The watermark an idle instance may follow.
    fn combined(&self) -> u64 {
        self.combined.load(Ordering::Acquire)
    }
}

/// Options of a source beyond its reader.
#[derive(Debug, Clone, Default)]
pub struct SourceOptions {
    /// How the watermark follows the event times read.
    pub strategy: WatermarkStrategy,
    /// Where to record watermark advances (for watermark-to-output latency), if anywhere.
    pub watermark_log: Option<Arc<WatermarkLog>>,
}

/// Builds a source named `name`; every worker opens its own reader with `open(worker, workers)`.
///
/// If `open` or a later read fails, the job fails with that error (every source then stops).
pub fn source<'s, R, O>(
    df: &Dataflow<'s>,
    name: &str,
    options: SourceOptions,
    open: O,
) -> Stream<'s, Time, Vec<R::Item>>
where
    R: SourceReader,
    O: FnOnce(usize, usize) -> Result<R>,
{
    let worker = df.worker_index();
    let peers = df.peers();
    let shared = Arc::clone(df.shared());
    let board = shared.shared_object(&format!("source-board:{name}"), || SourceBoard::new(peers));
    let metrics = shared.metrics().register(name, worker);
    let scope = df.scope();
    let participant: Option<Participant> = shared.coordinator().and_then(|c| match c.participant(name, worker, true) {
        Ok(p) => Some(p),
        Err(e) => {
            shared.fail(e);
            None
        }
    });
    let restored: Option<SourceCheckpoint> = participant.as_ref().and_then(|p| p.restored_source().cloned());
    let mut reader = match open(worker, peers) {
        Ok(mut r) => match restored.as_ref().map_or(Ok(()), |rs| r.restore(rs, worker, peers)) {
            Ok(()) => Some(r),
            Err(e) => {
                shared.fail(crate::Error::Config(format!("source `{name}`: {e}")));
                None
            }
        },
        Err(e) => {
            shared.fail(e);
            None
        }
    };
    let SourceOptions { strategy, watermark_log } = options;
    let resumed_tracker = restored.as_ref().map(|rs| resumed_tracker(strategy, rs, worker, peers));
    timely_source::<_, CapacityContainerBuilder<Vec<R::Item>>, _, _>(scope, name, move |mut cap, info| {
        let activator = scope.activator_for(info.address);
        let mut epoch = participant.as_ref().map_or(Epoch(0), Participant::current);
        let mut tracker = resumed_tracker.unwrap_or_else(|| WatermarkTracker::new(strategy));
        cap.downgrade(&Time { epoch, event: tracker.current() });
        if restored.is_some() {
            board.set(worker, tracker.current().0, false);
        }
        let mut cap = Some(cap);
        let mut batch: Vec<R::Item> = Vec::with_capacity(BATCH);
        let mut counts = LocalCounts::default();
        let mut last_data = Instant::now();
        let mut idle = false;
        move |output| {
            let Some(capability) = cap.as_mut() else { return };
            let finish = |cap: &mut Option<_>, log: &Option<Arc<WatermarkLog>>| {
                board.set(worker, u64::MAX, false);
                if let Some(log) = log {
                    log.record(worker, u64::MAX, Instant::now());
                }
                *cap = None;
            };
            let Some(rd) = reader.as_mut() else {
                finish(&mut cap, &watermark_log);
                return;
            };
            let started = Instant::now();
            let mut status = ReadStatus::Ready;
            for _ in 0..BATCHES_PER_ACTIVATION {
                if shared.aborted() {
                    status = ReadStatus::Done;
                    break;
                }
                if let Some(p) = &participant {
                    match epoch_boundary(p, &mut epoch, rd, &tracker, capability) {
                        Boundary::Read => {}
                        Boundary::Wait => {
                            activator.activate_after(STOP_POLL);
                            return;
                        }
                        Boundary::Stop => {
                            finish(&mut cap, &watermark_log);
                            return;
                        }
                    }
                }
                batch.clear();
                // Timely may have taken the previous buffer: give the new one its full size.
                batch.reserve(BATCH);
                // Before the read, so the event-time log never dates a record later than it was read.
                let read_at = watermark_log.as_ref().map(|_| Instant::now());
                status = match rd.read(&mut batch, BATCH) {
                    Ok(s) => s,
                    Err(e) => {
                        shared.fail(e);
                        ReadStatus::Done
                    }
                };
                if !batch.is_empty() {
                    for r in &batch {
                        tracker.observe(r.event_time());
                    }
                    if let (Some(log), Some(at)) = (&watermark_log, read_at) {
                        log.events().record(worker, tracker.max_seen().0, rd.scheduled_time().unwrap_or(at));
                    }
                    if let Some(p) = &participant {
                        p.coordinator().count_events(batch.len() as u64);
                    }
                    counts.records_out += batch.len() as u64;
                    output.session(&*capability).give_container(&mut batch);
                    last_data = Instant::now();
                    if idle {
                        idle = false;
                        board.set(worker, tracker.current().0, false);
                    }
                }
                let mut advanced = tracker.advance();
                if let Some(t) = rd.declared_watermark() {
                    advanced = tracker.advance_to(t).or(advanced);
                }
                if let Some(w) = advanced {
                    board.set(worker, w.0, idle);
                    if let Some(log) = &watermark_log {
                        log.record(worker, w.0, rd.scheduled_time().unwrap_or_else(Instant::now));
                    }
                    capability.downgrade(&Time { epoch, event: w });
                }
                if status != ReadStatus::Ready || started.elapsed() >= ACTIVATION_BUDGET {
                    break;
                }
            }
            counts.max_event_time = tracker.max_seen().0;
            metrics.set_watermark(tracker.current().0);
            metrics.flush(&mut counts);
            match status {
                ReadStatus::Done => {
                    if let Some(p) = &participant
                        && !shared.aborted()
                    {
                        // The final state: this instance acknowledges its last epoch as
                        // finished (and, implicitly, every later one).
                        p.ack_source(epoch, instance_state(rd, &tracker, true));
                    }
                    finish(&mut cap, &watermark_log)
                }
                ReadStatus::Ready => activator.activate(),
                ReadStatus::Pending => {
                    if let Some(timeout) = strategy.idle_timeout
                        && last_data.elapsed() >= timeout
                    {
                        if !idle {
                            idle = true;
                            board.set(worker, tracker.current().0, true);
                        }
                        if let Some(w) = tracker.advance_to(EventTime(board.combined())) {
                            board.set(worker, w.0, true);
                            if let Some(log) = &watermark_log {
                                log.record(worker, w.0, Instant::now());
                            }
                            capability.downgrade(&Time { epoch, event: w });
                        }
                    }
                    let wait = rd
                        .next_ready()
                        .map_or(PENDING_POLL, |at| at.saturating_duration_since(Instant::now()).min(PENDING_POLL));
                    activator.activate_after(wait);
                }
            }
        }
    })
}

/// What a source does at an epoch boundary check.
enum Boundary {
    /// Go on reading.
    Read,
    /// Stopped at the savepoint's cut, which is not complete yet: read nothing, check again.
    Wait,
    /// The savepoint is complete: end.
    Stop,
}

/// The state of a source instance at a cut.
fn instance_state<R: SourceReader>(rd: &R, tracker: &WatermarkTracker, finished: bool) -> SourceInstanceState {
    SourceInstanceState {
        position: rd.checkpoint(),
        max_seen: tracker.max_seen().0,
        watermark: tracker.current().0,
        finished,
    }
}

/// Moves the source into the requested epoch (acknowledging each epoch it leaves with its
/// state at the cut), and stops it after the savepoint's cut.
fn epoch_boundary<R: SourceReader>(
    p: &Participant,
    epoch: &mut Epoch,
    rd: &R,
    tracker: &WatermarkTracker,
    cap: &mut timely::dataflow::operators::Capability<Time>,
) -> Boundary {
    let c = p.coordinator();
    let requested = c.requested();
    if requested > *epoch {
        let state = instance_state(rd, tracker, false);
        for e in epoch.0..requested.0 {
            p.ack_source(Epoch(e), state.clone());
        }
        *epoch = requested;
        cap.downgrade(&Time { epoch: *epoch, event: tracker.current() });
    }
    match c.stop_after() {
        Some(cut) if *epoch > cut => {
            if c.stop_complete() {
                Boundary::Stop
            } else {
                Boundary::Wait
            }
        }
        _ => Boundary::Read,
    }
}

/// The watermark tracker of a restored instance: its own state when the job kept its worker
/// count; after a rescale, the least watermark of the old instances (nothing on time for any of
/// them becomes late).
fn resumed_tracker(
    strategy: WatermarkStrategy,
    rs: &SourceCheckpoint,
    worker: usize,
    workers: usize,
) -> WatermarkTracker {
    if rs.workers as usize == workers
        && let Some(i) = rs.instances.get(worker)
    {
        return WatermarkTracker::restored(strategy, EventTime(i.max_seen), EventTime(i.watermark));
    }
    let live = rs.instances.iter().filter(|i| !i.finished);
    let wm = live.clone().map(|i| i.watermark).min().unwrap_or(0);
    let seen = live.map(|i| i.max_seen).min().unwrap_or(0);
    WatermarkTracker::restored(strategy, EventTime(seen.max(wm)), EventTime(wm))
}
