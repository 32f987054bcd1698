//! Sinks: the ends of a dataflow. CSV files, stdout, and in-memory capture and counting for
//! tests and benchmarks.
//!
//! Every sink is a timely operator (named `CsvSink`, `StdoutSink`, `Capture`, `CountSink`) that
//! consumes its input where it is produced (no exchange), registers [`OperatorMetrics`]
//! (`records_in`, input watermark) and flushes them once per activation.
//!
//! # CSV files: one file per job
//!
//! [`Sink::sink_csv`] makes all workers of the job (of this process) write ONE file. The first
//! worker to build its sink creates the file and writes the header; the instances find each
//! other through [`JobShared::shared_object`], keyed by the absolute path. Each worker formats
//! an activation's input into a local buffer and appends it under a mutex with one write, so
//! rows one worker writes keep their order (rows of one key, which live on one worker, stay in
//! order) while rows of different workers interleave by batch.
//!
//! Atomicity: rows go to `<path>.tmp`. When every worker's sink has seen its input end and the
//! job has not failed, the file is fsynced and renamed onto `path` (and the directory fsynced),
//! so `path` appears complete or not at all. If the job failed (a [`JobShared::fail`] anywhere,
//! or this sink's own I/O error), the temporary file is removed instead; if a worker panics,
//! it is removed when the sink's shared state is dropped. A failed run leaves neither a
//! temporary file nor a `path` that looks complete; an older file at `path` is left untouched.
//! One caveat: the rename happens when the sink's inputs end, so a failure of an unrelated part
//! of the job *after* that moment leaves a complete (all of its input) output file.
//!
//! Append mode ([`CsvSinkOptions::append`]) writes in place into an existing `path` (created if
//! missing; the header is written only if the file is empty, and an existing header must match
//! the record type). It is not atomic: rows written before a failure remain. It exists for
//! checkpoint recovery, which truncates the file to the offset recorded in the checkpoint and
//! appends from there; the file must then end with a line end.
//!
//! In a job spanning several processes, each process writes its own file at `path`.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;

use crate::csv::CsvRecord;
use crate::error::Error;
use crate::runtime::metrics::{LocalCounts, OperatorMetrics};
use crate::runtime::{Dataflow, JobShared};
use crate::snapshot::{CommitHook, EpochOutput, OperatorCost, Participant};
use crate::time::{Epoch, Time, watermark};

/// A worker writes its buffered rows once it holds this many bytes, even mid-activation.
const WRITE_BYTES: usize = 1 << 20;

/// After this many bytes written to a CSV file, the sink asks the kernel to start writing them
/// to disk (without waiting), so that the fsync at the end finds little left to do.
const WRITEBACK_BYTES: u64 = 8 << 20;

/// Options of [`Sink::sink_csv_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsvSinkOptions {
    /// Append to an existing file in place (not atomic), writing the header only if the file is
    /// new or empty; see the [module docs](self).
    pub append: bool,
}

/// Records captured by [`Sink::capture_into`]: a cheap handle shared by the caller and every
/// worker of the job.
#[derive(Debug)]
pub struct Captured<D>(Arc<Mutex<Vec<D>>>);

impl<D> Clone for Captured<D> {
    fn clone(&self) -> Self {
        Captured(Arc::clone(&self.0))
    }
}

impl<D> Default for Captured<D> {
    fn default() -> Self {
        Captured(Arc::new(Mutex::new(Vec::new())))
    }
}

impl<D> Captured<D> {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the records captured so far (all workers, batches in arrival order).
    pub fn take(&self) -> Vec<D> {
        std::mem::take(&mut *self.0.lock().expect("capture lock"))
    }

    /// Number of records captured so far.
    pub fn len(&self) -> usize {
        self.0.lock().expect("capture lock").len()
    }

    /// Whether nothing has been captured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A record count filled by [`Sink::count_into`], shared by the caller and every worker.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The records counted so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Sinks on Rill streams; see the [module docs](self).
pub trait Sink<'s, D> {
    /// Writes the stream as CSV to `path`, one file for all workers, renamed into place when
    /// the job completes without failure. Every worker of the job builds this sink (as a job
    /// builder does when it builds the same dataflow on each worker): the file is committed when
    /// all of them have seen their input end.
    fn sink_csv(self, df: &Dataflow<'s>, path: impl AsRef<Path>)
    where
        D: CsvRecord;

    /// Like [`sink_csv`](Sink::sink_csv) with options (append mode).
    fn sink_csv_with(self, df: &Dataflow<'s>, path: impl AsRef<Path>, options: CsvSinkOptions)
    where
        D: CsvRecord;

    /// Writes the stream as CSV rows to stdout, the header once per job.
    fn sink_stdout(self, df: &Dataflow<'s>)
    where
        D: CsvRecord;

    /// Appends every record to `out`.
    fn capture_into(self, df: &Dataflow<'s>, out: &Captured<D>)
    where
        D: Send;

    /// Adds the number of records to `counter`.
    fn count_into(self, df: &Dataflow<'s>, counter: &Counter);
}

impl<'s, D: 'static> Sink<'s, D> for Stream<'s, Time, Vec<D>> {
    fn sink_csv(self, df: &Dataflow<'s>, path: impl AsRef<Path>)
    where
        D: CsvRecord,
    {
        self.sink_csv_with(df, path, CsvSinkOptions::default());
    }

    fn sink_csv_with(self, df: &Dataflow<'s>, path: impl AsRef<Path>, options: CsvSinkOptions)
    where
        D: CsvRecord,
    {
        let path = path.as_ref();
        let key = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        if let Some(coordinator) = df.shared().coordinator() {
            // Checkpointed job: exactly-once output, published per completed checkpoint.
            let shared = Arc::clone(df.shared());
            let output =
                shared.shared_object(&format!("epoch-csv-sink:{}", key.display()), || {
                    match EpochOutput::open(path, &D::header(), coordinator.restored_epoch()) {
                        Ok(out) => {
                            let out = Arc::new(out);
                            coordinator.register_output(Arc::clone(&out) as Arc<dyn CommitHook>);
                            Some(out)
                        }
                        Err(e) => {
                            shared.fail(e);
                            None
                        }
                    }
                });
            let name = format!("CsvSink:{}", key.display());
            match (output.as_ref(), coordinator.participant(&name, df.worker_index(), false)) {
                (Some(out), Ok(p)) => build_epoch_csv_sink::<D>(self, df, Arc::clone(out), p),
                (_, Err(e)) => shared.fail(e),
                (None, Ok(_)) => {}
            }
            return;
        }
        let file = df
            .shared()
            .shared_object(&format!("csv-sink:{}", key.display()), || CsvFile::new(path, options.append, df.peers()));
        file.register::<D>(df.shared(), df.worker_index());
        let logic = CsvLogic { file, shared: Arc::clone(df.shared()), buf: Vec::new(), _record: PhantomData::<D> };
        build_sink(self, df, "CsvSink", logic);
    }

    fn sink_stdout(self, df: &Dataflow<'s>)
    where
        D: CsvRecord,
    {
        let header = D::header();
        let stdout = df.shared().shared_object(&format!("stdout-sink:{header}"), || StdoutShared {
            header: Mutex::new(Some(header.clone())),
        });
        let logic = StdoutLogic { stdout, shared: Arc::clone(df.shared()), buf: Vec::new(), _record: PhantomData::<D> };
        build_sink(self, df, "StdoutSink", logic);
    }

    fn capture_into(self, df: &Dataflow<'s>, out: &Captured<D>)
    where
        D: Send,
    {
        build_sink(self, df, "Capture", CaptureLogic { out: out.clone(), local: Vec::new() });
    }

    fn count_into(self, df: &Dataflow<'s>, counter: &Counter) {
        build_sink(self, df, "CountSink", CountLogic { counter: counter.clone(), local: 0 });
    }
}

/// What one worker's instance of a sink does.
trait SinkLogic<D>: 'static {
    /// Consumes one input batch.
    fn batch(&mut self, data: &mut Vec<D>);
    /// Ends an activation: write out what was buffered.
    fn activation_end(&mut self);
    /// The input has ended (called once, after the last `activation_end`).
    fn input_end(&mut self);
}

/// Builds the timely operator shared by every sink: batches, metrics, end of input.
fn build_sink<D: 'static, L: SinkLogic<D>>(
    stream: Stream<'_, Time, Vec<D>>,
    df: &Dataflow<'_>,
    name: &str,
    mut logic: L,
) {
    let metrics: Arc<OperatorMetrics> = df.shared().metrics().register(name, df.worker_index());
    let mut counts = LocalCounts::default();
    let mut ended = false;
    stream.sink(Pipeline, name, move |(input, frontier)| {
        input.for_each(|_cap, data| {
            counts.records_in += data.len() as u64;
            logic.batch(data);
        });
        logic.activation_end();
        metrics.flush(&mut counts);
        let frontier = frontier.frontier();
        metrics.set_watermark(watermark(&frontier).ms());
        if frontier.is_empty() && !ended {
            ended = true;
            logic.input_end();
        }
    });
}

/// The file every worker's CSV sink for one path appends to.
#[derive(Debug)]
struct CsvFile {
    /// Where the finished file goes.
    target: PathBuf,
    /// Where rows are written: `<target>.tmp`, or `target` itself in append mode.
    write_path: PathBuf,
    append: bool,
    /// The job's workers: the file is committed once this many sinks have seen their input end.
    workers: usize,
    state: Mutex<CsvFileState>,
}

#[derive(Debug, Default)]
struct CsvFileState {
    /// The open file; `None` before it is opened and after a failure or the end.
    file: Option<File>,
    opened: bool,
    /// Workers whose sink writes here.
    workers: Vec<usize>,
    /// Workers whose input has ended.
    finished: usize,
    /// The temporary file has been renamed or removed.
    closed: bool,
    /// Bytes written since writeback was last started.
    unsynced: u64,
}

impl CsvFile {
    fn new(target: &Path, append: bool, workers: usize) -> Self {
        let write_path = if append {
            target.to_owned()
        } else {
            let mut name = target.file_name().map(|n| n.to_os_string()).unwrap_or_default();
            name.push(".tmp");
            target.with_file_name(name)
        };
        CsvFile { target: target.to_owned(), write_path, append, workers, state: Mutex::new(CsvFileState::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CsvFileState> {
        self.state.lock().expect("CSV sink lock")
    }

    /// Adds `worker`'s sink; the first one creates the file and writes the header.
    fn register<D: CsvRecord>(&self, shared: &JobShared, worker: usize) {
        let mut st = self.lock();
        if st.workers.contains(&worker) {
            shared.fail(Error::Config(format!("two CSV sinks write to {}", self.target.display())));
            return;
        }
        st.workers.push(worker);
        if !st.opened {
            st.opened = true;
            match self.open(&D::header()) {
                Ok(file) => st.file = Some(file),
                Err(e) => shared.fail(e),
            }
        }
    }

    fn open(&self, header: &str) -> Result<File, Error> {
        let io = |what: &str, e| Error::io(format!("{what} {}", self.write_path.display()), e);
        let mut file = if self.append {
            let mut file = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&self.write_path)
                .map_err(|e| io("opening", e))?;
            if file.metadata().map_err(|e| io("opening", e))?.len() > 0 {
                let mut first = String::new();
                BufReader::new(&mut file).read_line(&mut first).map_err(|e| io("reading", e))?;
                let found = first.trim_end_matches(['\n', '\r']);
                if found != header {
                    return Err(Error::CsvHeader {
                        path: self.write_path.clone(),
                        expected: header.to_owned(),
                        found: found.to_owned(),
                    });
                }
                return Ok(file);
            }
            file
        } else {
            File::create(&self.write_path).map_err(|e| io("creating", e))?
        };
        file.write_all(format!("{header}\n").as_bytes()).map_err(|e| io("writing", e))?;
        Ok(file)
    }

    /// Appends `rows`; on an I/O error, closes the file and fails the job.
    fn write(&self, rows: &[u8], shared: &JobShared) {
        let mut st = self.lock();
        let Some(file) = st.file.as_mut() else { return };
        if let Err(e) = file.write_all(rows) {
            st.file = None;
            shared.fail(Error::io(format!("writing {}", self.write_path.display()), e));
            return;
        }
        st.unsynced += rows.len() as u64;
        if st.unsynced >= WRITEBACK_BYTES {
            st.unsynced = 0;
            if let Some(file) = st.file.as_ref() {
                start_writeback(file);
            }
        }
    }

    /// One worker's input has ended; the last one commits or discards the file.
    fn finish(&self, shared: &JobShared) {
        let mut st = self.lock();
        st.finished += 1;
        // Each of the job's workers builds one sink on this file; the last to finish commits.
        if st.finished < self.workers || st.closed {
            return;
        }
        st.closed = true;
        match st.file.take() {
            Some(file) if !shared.aborted() => {
                if let Err(e) = self.commit(file) {
                    shared.fail(e);
                    self.discard();
                }
            }
            file => {
                drop(file);
                self.discard();
            }
        }
    }

    /// Makes the file durable and, unless appending, renames it onto the target.
    fn commit(&self, file: File) -> Result<(), Error> {
        file.sync_all().map_err(|e| Error::io(format!("syncing {}", self.write_path.display()), e))?;
        drop(file);
        if !self.append {
            std::fs::rename(&self.write_path, &self.target).map_err(|e| {
                Error::io(format!("renaming {} to {}", self.write_path.display(), self.target.display()), e)
            })?;
        }
        sync_parent_dir(&self.target);
        Ok(())
    }

    /// Removes the temporary file (never the target of an append).
    fn discard(&self) {
        if !self.append {
            let _ = std::fs::remove_file(&self.write_path);
        }
    }
}

impl Drop for CsvFile {
    fn drop(&mut self) {
        // A sink whose inputs never all ended (a worker panicked): the output is incomplete.
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if st.opened && !st.closed {
            st.file = None;
            self.discard();
        }
    }
}

/// Starts writing `file`'s dirty pages to disk without waiting for them, so that the disk
/// writes overlap with the job instead of all waiting for the fsync that commits the file.
/// Best effort: it changes no durability guarantee. A no-op off Linux.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: `file` is an open file, so its descriptor is valid for the duration of the call;
    // sync_file_range only reads its integer arguments and touches no memory of ours.
    let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}

/// Starts writing `file`'s dirty pages to disk; a no-op off Linux.
#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File) {}

/// Makes a rename in `path`'s directory durable; best effort (not every platform can open a
/// directory).
fn sync_parent_dir(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Formats `data` as CSV rows, each ending in `\n`.
fn format_rows<D: CsvRecord>(data: &[D], buf: &mut Vec<u8>) {
    for d in data {
        d.write_csv(buf);
        buf.push(b'\n');
    }
}

struct CsvLogic<D> {
    file: Arc<CsvFile>,
    shared: Arc<JobShared>,
    buf: Vec<u8>,
    _record: PhantomData<D>,
}

impl<D: CsvRecord + 'static> SinkLogic<D> for CsvLogic<D> {
    fn batch(&mut self, data: &mut Vec<D>) {
        format_rows(data, &mut self.buf);
        if self.buf.len() >= WRITE_BYTES {
            self.activation_end();
        }
    }

    fn activation_end(&mut self) {
        if !self.buf.is_empty() {
            self.file.write(&self.buf, &self.shared);
            self.buf.clear();
        }
    }

    fn input_end(&mut self) {
        self.file.finish(&self.shared);
    }
}

/// The job's stdout sink state: the header, until it has been written.
#[derive(Debug)]
struct StdoutShared {
    header: Mutex<Option<String>>,
}

struct StdoutLogic<D> {
    stdout: Arc<StdoutShared>,
    shared: Arc<JobShared>,
    buf: Vec<u8>,
    _record: PhantomData<D>,
}

impl<D> StdoutLogic<D> {
    /// Writes the header if no worker has yet, then the buffered rows.
    fn write_out(&mut self) {
        let mut header = self.stdout.header.lock().expect("stdout sink lock");
        let mut out = std::io::stdout().lock();
        let result = (|| {
            if let Some(h) = header.take() {
                out.write_all(h.as_bytes())?;
                out.write_all(b"\n")?;
            }
            out.write_all(&self.buf)?;
            out.flush()
        })();
        self.buf.clear();
        if let Err(e) = result {
            self.shared.fail(Error::io("writing to stdout", e));
        }
    }
}

impl<D: CsvRecord + 'static> SinkLogic<D> for StdoutLogic<D> {
    fn batch(&mut self, data: &mut Vec<D>) {
        format_rows(data, &mut self.buf);
    }

    fn activation_end(&mut self) {
        if !self.buf.is_empty() {
            self.write_out();
        }
    }

    fn input_end(&mut self) {
        // Output without rows still gets its header.
        self.write_out();
    }
}

struct CaptureLogic<D> {
    out: Captured<D>,
    local: Vec<D>,
}

impl<D: Send + 'static> SinkLogic<D> for CaptureLogic<D> {
    fn batch(&mut self, data: &mut Vec<D>) {
        self.local.append(data);
    }

    fn activation_end(&mut self) {
        if !self.local.is_empty() {
            self.out.0.lock().expect("capture lock").append(&mut self.local);
        }
    }

    fn input_end(&mut self) {}
}

struct CountLogic {
    counter: Counter,
    local: u64,
}

impl<D: 'static> SinkLogic<D> for CountLogic {
    fn batch(&mut self, data: &mut Vec<D>) {
        self.local += data.len() as u64;
    }

    fn activation_end(&mut self) {
        if self.local != 0 {
            self.counter.0.fetch_add(self.local, Ordering::Relaxed);
            self.local = 0;
        }
    }

    fn input_end(&mut self) {}
}

/// The CSV sink of a checkpointed job: rows are staged per epoch and fsynced before the sink
/// acknowledges the epoch; [`EpochOutput`] publishes them when the checkpoint completes.
fn build_epoch_csv_sink<D: CsvRecord + 'static>(
    stream: Stream<'_, Time, Vec<D>>,
    df: &Dataflow<'_>,
    output: Arc<EpochOutput>,
    mut participant: Participant,
) {
    let worker = df.worker_index();
    let shared = Arc::clone(df.shared());
    let metrics: Arc<OperatorMetrics> = shared.metrics().register("CsvSink", worker);
    let mut counts = LocalCounts::default();
    let mut buffers: std::collections::BTreeMap<Epoch, Vec<u8>> = std::collections::BTreeMap::new();
    let mut files: std::collections::BTreeMap<Epoch, File> = std::collections::BTreeMap::new();
    let mut failed = false;
    stream.sink(Pipeline, "CsvSink", move |(input, frontier)| {
        input.for_each(|cap, data| {
            counts.records_in += data.len() as u64;
            let epoch = cap.stamp().iter().map(|t| t.epoch).min().unwrap_or_default();
            format_rows(data, buffers.entry(epoch).or_default());
        });
        let mut write = |epoch: Epoch, buf: &mut Vec<u8>, files: &mut std::collections::BTreeMap<Epoch, File>| {
            if buf.is_empty() || failed {
                return;
            }
            let file = match files.entry(epoch) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => match output.stage(epoch, worker) {
                    Ok(f) => v.insert(f),
                    Err(e) => {
                        failed = true;
                        shared.fail(e);
                        return;
                    }
                },
            };
            if let Err(e) = file.write_all(buf) {
                failed = true;
                shared.fail(Error::io(format!("writing {}", output.staged_path(epoch, worker).display()), e));
            }
            buf.clear();
        };
        for (&epoch, buf) in buffers.iter_mut() {
            if buf.len() >= WRITE_BYTES {
                write(epoch, buf, &mut files);
            }
        }
        let frontier = frontier.frontier();
        let frontier_epoch = Participant::min_epoch(frontier.as_ref());
        while let Some(e) = participant.due(frontier_epoch, shared.aborted()) {
            // Everything of epochs <= e is here: stage it durably, then acknowledge.
            let ready: Vec<Epoch> = buffers.keys().copied().filter(|&b| b <= e).collect();
            let mut staged = 0u64;
            for b in ready {
                let mut buf = buffers.remove(&b).unwrap_or_default();
                staged += buf.len() as u64;
                write(b, &mut buf, &mut files);
            }
            let done: Vec<Epoch> = files.keys().copied().filter(|&b| b <= e).collect();
            for b in done {
                if let Some(f) = files.remove(&b)
                    && let Err(err) = f.sync_data()
                {
                    shared.fail(Error::io(format!("fsyncing {}", output.staged_path(b, worker).display()), err));
                }
            }
            let cost = OperatorCost {
                operator: participant.operator().to_owned(),
                bytes_written: staged,
                ..OperatorCost::default()
            };
            participant.ack(e, Vec::new(), cost);
        }
        metrics.flush(&mut counts);
        metrics.set_watermark(watermark(&frontier).ms());
    });
}
