//! The asynchronous snapshot writer: a dedicated I/O thread that turns chunks into a durable
//! checkpoint.
//!
//! Callers (operators, on worker threads) build a [`ChunkBuf`], hand it over with
//! [`SnapshotWriter::submit`] (or a cloned [`WriterHandle`]) and go on processing: the hand-over
//! is a channel send of an owned buffer. The writer thread assigns each chunk a 4 KiB-aligned
//! offset in `chk-<epoch>/data.chunks`, fills in its header and checksum, and writes it with the
//! chosen [`BackendKind`]. [`SnapshotWriter::finish`] waits for the epoch's writes, fsyncs the data
//! file, the checkpoint directory and the root, then writes the manifest atomically.
//!
//! Invariants:
//!
//! * a checkpoint's `MANIFEST` is written only after every chunk it lists is durable; if any write
//!   of the epoch failed, `finish` returns the error and writes no manifest (the checkpoint stays
//!   incomplete and recovery ignores it);
//! * everything sent to the writer (from any handle) before `finish(epoch)` is called belongs to
//!   the checkpoint; requests for an epoch after its `finish` start a new attempt that fails,
//!   because a complete checkpoint is never rewritten;
//! * dropping the writer waits for in-flight writes and leaves unfinished epochs incomplete.
//!
//! Use [`BackendKind::IoUring`] where it can be set up (several writes in flight, registered
//! buffers, `O_DIRECT`, fsync through the ring); [`Backend::Auto`] falls back to
//! [`BackendKind::Plain`] (`pwrite` + `fsync` on the thread) and logs that once.
//!
//! Throughput: the writer thread checksums every payload (CRC32C, with the SSE4.2 instruction
//! where the CPU has it) and copies it into staging buffers while earlier writes are in flight,
//! so the disk stays busy as long as the thread keeps ahead of it. In development runs of
//! `rill-bench writer` on a loaded machine (1 GiB in 8 MiB chunks, against `dd bs=1M conv=fsync`
//! in the same run; the recorded run with these defaults is `results/snapshot_writer_1g.json`):
//! the table-driven checksum (about 1.3 GB/s on a loaded core) made the thread the bottleneck;
//! small writes (512 KiB) cost another 6-10%. Allocating the file ahead (`fallocate`) and
//! buffered writes with early writeback measured no better than `O_DIRECT`, so neither is used.

mod plain;
#[cfg(target_os = "linux")]
mod uring;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::buf::{ALIGN, AlignedBuf};
use super::chunk::{ChunkBuf, ChunkName, ChunkRef};
use super::manifest::{DATA_FILE, MANIFEST_FILE, Manifest, checkpoint_dir_name};
use crate::time::Epoch;
use crate::{Error, Result};

/// Which I/O backend a writer should use.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// io_uring if it can be set up, otherwise plain writes (logged once per process).
    #[default]
    Auto,
    /// io_uring or fail: [`SnapshotWriter::new`] returns the setup error.
    IoUring,
    /// Plain `pwrite` + `fsync` on the writer thread.
    Plain,
}

/// The I/O backend a writer actually runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// io_uring: several writes in flight, fsync through the ring.
    IoUring,
    /// Blocking `pwrite` and `fsync`, one at a time.
    Plain,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::IoUring => "io_uring",
            BackendKind::Plain => "plain",
        })
    }
}

/// Default io_uring writes in flight.
const DEFAULT_QUEUE_DEPTH: usize = 8;

/// Default io_uring staging buffer size: 4 MiB, the largest request a typical block device takes
/// in one piece (`max_sectors_kb`), so that every write is one device request. With
/// `DEFAULT_QUEUE_DEPTH` that keeps 32 MiB in flight: enough for the device to stay busy while
/// the writer thread checksums the next chunk. 512 KiB writes were about 6-10% slower (and far
/// more variable) in development runs on this virtual disk (not recorded in `results/`); where `RLIMIT_MEMLOCK` refuses to register 32 MiB, the
/// same buffers are written unregistered.
const DEFAULT_BUFFER_SIZE: usize = 4 << 20;

/// Options of a [`SnapshotWriter`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// The I/O backend.
    pub backend: Backend,
    /// io_uring: writes in flight at once (and staging buffers). At least 1, at most 4096;
    /// default 8.
    pub queue_depth: usize,
    /// io_uring: bytes per staging buffer (and largest single write); a positive multiple of 4096;
    /// default 4 MiB.
    pub buffer_size: usize,
    /// Open data files with `O_DIRECT` (bypassing the page cache) where the file system allows;
    /// otherwise buffered I/O is used and the report says so.
    pub direct_io: bool,
    /// The job's number of key groups, recorded in every manifest.
    pub max_parallelism: u32,
}

impl Default for WriterOptions {
    fn default() -> WriterOptions {
        WriterOptions {
            backend: Backend::Auto,
            queue_depth: DEFAULT_QUEUE_DEPTH,
            buffer_size: DEFAULT_BUFFER_SIZE,
            direct_io: true,
            max_parallelism: crate::runtime::DEFAULT_MAX_PARALLELISM,
        }
    }
}

/// One chunk handed to the writer.
#[derive(Debug)]
pub struct Chunk {
    /// The checkpoint the chunk belongs to.
    pub epoch: Epoch,
    /// What the chunk holds.
    pub name: ChunkName,
    /// The payload.
    pub data: ChunkBuf,
}

/// What [`SnapshotWriter::finish`] reports about a durable checkpoint.
#[derive(Clone, Debug)]
pub struct CheckpointReport {
    /// The checkpoint's epoch.
    pub epoch: Epoch,
    /// The backend that wrote it.
    pub backend: BackendKind,
    /// Whether io_uring wrote from registered buffers.
    pub registered_buffers: bool,
    /// Whether the data file was written with `O_DIRECT`.
    pub direct_io: bool,
    /// Bytes written to the data file (headers, payloads and padding).
    pub bytes_written: u64,
    /// From the first chunk reaching the writer thread until `finish` found every write complete
    /// (includes any wait for `finish` to be called after the last write).
    pub write_time: Duration,
    /// Time spent in fsyncs of the data file and directories (not the manifest).
    pub sync_time: Duration,
    /// From the `finish` request reaching the writer thread to the manifest being durable.
    pub finish_time: Duration,
    /// The manifest as written (its `chunks` can be referenced by a later incremental checkpoint).
    pub manifest: Manifest,
}

/// The I/O primitives a backend provides to the writer thread.
trait Io: Send {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;
    /// Whether writes use registered buffers.
    fn registered_buffers(&self) -> bool;
    /// Writes `data.padded()` at `offset` of `file`, possibly asynchronously; failures are
    /// returned by [`drain`](Io::drain) tagged with `tag`.
    fn write(&mut self, file: &Arc<File>, offset: u64, data: AlignedBuf, tag: Epoch);
    /// Waits for every write in flight; returns the failures since the last call.
    fn drain(&mut self) -> Vec<(Epoch, io::Error)>;
    /// Makes `file` durable (after every earlier write has completed).
    fn fsync(&mut self, file: &File, data_only: bool) -> io::Result<()>;
}

enum Request {
    Chunk(Chunk),
    Reference { epoch: Epoch, chunk: ChunkRef },
    SourcePositions { epoch: Epoch, operator: String, positions: Vec<u64> },
    Annotate { epoch: Epoch, annotate: Box<dyn FnOnce(&mut Manifest) + Send> },
    Finish { epoch: Epoch, reply: Sender<Result<CheckpointReport>> },
    Shutdown,
}

/// A cloneable handle that submits to a [`SnapshotWriter`] from any thread.
#[derive(Clone, Debug)]
pub struct WriterHandle {
    tx: Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Chunk(c) => write!(f, "Chunk({:?}, {:?})", c.epoch, c.name),
            Request::Reference { epoch, .. } => write!(f, "Reference({epoch:?})"),
            Request::SourcePositions { epoch, operator, .. } => write!(f, "SourcePositions({epoch:?}, {operator})"),
            Request::Annotate { epoch, .. } => write!(f, "Annotate({epoch:?})"),
            Request::Finish { epoch, .. } => write!(f, "Finish({epoch:?})"),
            Request::Shutdown => f.write_str("Shutdown"),
        }
    }
}

impl WriterHandle {
    fn send(&self, request: Request) -> Result<()> {
        self.tx.send(request).map_err(|_| Error::SnapshotWriterStopped("the writer thread has exited".into()))
    }

    /// Hands a chunk to the writer; returns at once.
    pub fn submit(&self, chunk: Chunk) -> Result<()> {
        self.send(Request::Chunk(chunk))
    }

    /// Includes a chunk written by an earlier checkpoint in checkpoint `epoch` (incremental
    /// checkpoints): nothing is written, the manifest references the chunk where it is.
    pub fn reference(&self, epoch: Epoch, chunk: ChunkRef) -> Result<()> {
        self.send(Request::Reference { epoch, chunk })
    }

    /// Amends checkpoint `epoch`'s manifest before it is written (job-level fields: sources,
    /// states, costs, whether the job finished).
    pub fn annotate(&self, epoch: Epoch, annotate: impl FnOnce(&mut Manifest) + Send + 'static) -> Result<()> {
        self.send(Request::Annotate { epoch, annotate: Box::new(annotate) })
    }

    /// Records the positions a source operator resumes from when restoring checkpoint `epoch`.
    pub fn set_source_positions(&self, epoch: Epoch, operator: impl Into<String>, positions: Vec<u64>) -> Result<()> {
        self.send(Request::SourcePositions { epoch, operator: operator.into(), positions })
    }
}

/// Writes checkpoints under a snapshot root directory on a dedicated I/O thread.
///
/// # Examples
///
/// ```
/// use rill::snapshot::{Chunk, ChunkBuf, ChunkName, Snapshot, SnapshotWriter, WriterOptions};
/// use rill::state::KeyGroup;
/// use rill::Epoch;
///
/// # fn main() -> rill::Result<()> {
/// let root = tempfile::tempdir().expect("temporary directory");
/// let writer = SnapshotWriter::new(root.path(), WriterOptions::default())?;
/// let name = ChunkName::new("counts", "per_key", KeyGroup(3));
/// writer.submit(Chunk { epoch: Epoch(1), name, data: ChunkBuf::from_payload(b"state bytes") })?;
/// writer.set_source_positions(Epoch(1), "bids", vec![1000])?;
/// let report = writer.finish(Epoch(1))?;
/// assert_eq!(report.manifest.chunks.len(), 1);
///
/// let snapshot = Snapshot::open(root.path())?;
/// assert_eq!(snapshot.read_chunk(&snapshot.chunks()[0])?, b"state bytes");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SnapshotWriter {
    handle: WriterHandle,
    backend: BackendKind,
    thread: Option<JoinHandle<()>>,
}

/// Set once the io_uring fallback has been logged in this process.
static FALLBACK_LOGGED: AtomicBool = AtomicBool::new(false);

impl SnapshotWriter {
    /// Starts a writer for checkpoints under `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>, options: WriterOptions) -> Result<SnapshotWriter> {
        let root = root.into();
        if options.queue_depth == 0 || options.queue_depth > 4096 {
            return Err(Error::Config(format!("snapshot queue_depth {} not in 1..=4096", options.queue_depth)));
        }
        if options.buffer_size == 0 || !options.buffer_size.is_multiple_of(ALIGN) || options.buffer_size > 1 << 30 {
            let size = options.buffer_size;
            return Err(Error::Config(format!(
                "snapshot buffer_size {size} is not a positive multiple of 4096 up to 1 GiB"
            )));
        }
        std::fs::create_dir_all(&root).map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
        let io = open_backend(&options)?;
        let backend = io.kind();
        let (tx, rx) = crossbeam_channel::unbounded();
        let thread_root = root.clone();
        let thread = std::thread::Builder::new()
            .name("rill-snapshot-writer".into())
            .spawn(move || WriterThread::new(thread_root, options, io).run(rx))
            .map_err(|e| Error::io("starting the snapshot writer thread", e))?;
        Ok(SnapshotWriter { handle: WriterHandle { tx }, backend, thread: Some(thread) })
    }

    /// The backend this writer runs.
    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// A handle for submitting from other threads.
    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// Hands a chunk to the writer; returns at once. See [`WriterHandle::submit`].
    pub fn submit(&self, chunk: Chunk) -> Result<()> {
        self.handle.submit(chunk)
    }

    /// See [`WriterHandle::reference`].
    pub fn reference(&self, epoch: Epoch, chunk: ChunkRef) -> Result<()> {
        self.handle.reference(epoch, chunk)
    }

    /// See [`WriterHandle::set_source_positions`].
    pub fn set_source_positions(&self, epoch: Epoch, operator: impl Into<String>, positions: Vec<u64>) -> Result<()> {
        self.handle.set_source_positions(epoch, operator, positions)
    }

    /// Completes checkpoint `epoch`: waits for its writes, makes them durable, writes the
    /// manifest atomically. Blocks until the checkpoint is complete on disk or has failed.
    pub fn finish(&self, epoch: Epoch) -> Result<CheckpointReport> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.handle.send(Request::Finish { epoch, reply })?;
        answer.recv().map_err(|_| Error::SnapshotWriterStopped("the writer thread exited during finish".into()))?
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        let _ = self.handle.send(Request::Shutdown);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the snapshot writer thread panicked");
        }
    }
}

/// Sets up the requested backend.
fn open_backend(options: &WriterOptions) -> Result<Box<dyn Io>> {
    match options.backend {
        Backend::Plain => Ok(Box::new(plain::PlainIo::default())),
        Backend::IoUring => {
            uring_backend(options).map_err(|e| Error::io("setting up io_uring for the snapshot writer", e))
        }
        Backend::Auto => uring_backend(options).or_else(|e| {
            if !FALLBACK_LOGGED.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, "io_uring unavailable; snapshots are written with pwrite + fsync");
            }
            Ok(Box::new(plain::PlainIo::default()))
        }),
    }
}

#[cfg(target_os = "linux")]
fn uring_backend(options: &WriterOptions) -> io::Result<Box<dyn Io>> {
    Ok(Box::new(uring::UringIo::new(options.queue_depth, options.buffer_size)?))
}

#[cfg(not(target_os = "linux"))]
fn uring_backend(_: &WriterOptions) -> io::Result<Box<dyn Io>> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "io_uring exists only on Linux"))
}

/// A checkpoint being written.
struct Pending {
    dir: PathBuf,
    file: Option<Arc<File>>,
    direct_io: bool,
    next_offset: u64,
    manifest: Manifest,
    first_write: Option<Instant>,
    error: Option<Error>,
}

/// The writer thread's state.
struct WriterThread {
    root: PathBuf,
    options: WriterOptions,
    io: Box<dyn Io>,
    pending: BTreeMap<Epoch, Pending>,
}

impl WriterThread {
    fn new(root: PathBuf, options: WriterOptions, io: Box<dyn Io>) -> WriterThread {
        WriterThread { root, options, io, pending: BTreeMap::new() }
    }

    fn run(mut self, rx: Receiver<Request>) {
        for request in rx {
            match request {
                Request::Chunk(chunk) => self.write_chunk(chunk),
                Request::Reference { epoch, chunk } => {
                    let stats = &mut self.pending(epoch).manifest;
                    stats.stats.chunks_referenced += 1;
                    stats.stats.payload_bytes_referenced += chunk.length;
                    stats.chunks.push(chunk);
                }
                Request::SourcePositions { epoch, operator, positions } => {
                    self.pending(epoch).manifest.source_positions.insert(operator, positions);
                }
                Request::Annotate { epoch, annotate } => annotate(&mut self.pending(epoch).manifest),
                Request::Finish { epoch, reply } => {
                    let _ = reply.send(self.finish(epoch));
                }
                Request::Shutdown => break,
            }
        }
        self.record_failures();
    }

    /// The pending checkpoint of `epoch`, created (directory and data file) on first use.
    fn pending(&mut self, epoch: Epoch) -> &mut Pending {
        let (root, options) = (&self.root, &self.options);
        self.pending.entry(epoch).or_insert_with(|| {
            let dir = root.join(checkpoint_dir_name(epoch));
            let manifest = Manifest::new(epoch, options.max_parallelism);
            let mut pending =
                Pending { dir, file: None, direct_io: false, next_offset: 0, manifest, first_write: None, error: None };
            match open_data_file(&pending.dir, options.direct_io) {
                Ok((file, direct)) => {
                    pending.file = Some(Arc::new(file));
                    pending.direct_io = direct;
                }
                Err(e) => pending.error = Some(e),
            }
            pending
        })
    }

    fn write_chunk(&mut self, chunk: Chunk) {
        let Chunk { epoch, name, data } = chunk;
        let data_file = format!("{}/{DATA_FILE}", checkpoint_dir_name(epoch));
        let pending = self.pending(epoch);
        let Some(file) = pending.file.clone().filter(|_| pending.error.is_none()) else {
            return;
        };
        pending.first_write.get_or_insert_with(Instant::now);
        let offset = pending.next_offset;
        let disk_len = data.disk_len();
        let length = data.payload_len();
        let (buf, checksum) = data.seal(name.key_group, epoch);
        pending.next_offset += disk_len;
        pending.manifest.stats.chunks_written += 1;
        pending.manifest.stats.bytes_written += disk_len;
        pending.manifest.stats.payload_bytes_written += length;
        pending.manifest.chunks.push(ChunkRef {
            file: data_file,
            offset,
            length,
            checksum,
            operator: name.operator,
            state: name.state,
            key_group: name.key_group,
            epoch,
            part: name.part,
        });
        self.io.write(&file, offset, buf, epoch);
    }

    /// Waits for all writes and attaches failures to their checkpoints.
    fn record_failures(&mut self) {
        for (epoch, e) in self.io.drain() {
            if let Some(pending) = self.pending.get_mut(&epoch)
                && pending.error.is_none()
            {
                let context = format!("writing {}", pending.dir.join(DATA_FILE).display());
                pending.error = Some(Error::io(context, e));
            }
        }
    }

    fn finish(&mut self, epoch: Epoch) -> Result<CheckpointReport> {
        let started = Instant::now();
        self.pending(epoch);
        self.record_failures();
        let mut pending = self.pending.remove(&epoch).expect("the pending checkpoint was just created");
        let write_time = pending.first_write.map_or(Duration::ZERO, |t| t.elapsed());
        if let Some(e) = pending.error.take() {
            return Err(e);
        }
        let file = pending.file.as_ref().expect("a pending checkpoint without error has its data file");
        let io_err = |what: &str, path: &Path| {
            let context = format!("{what} {}", path.display());
            move |e| Error::io(context, e)
        };
        let sync_started = Instant::now();
        self.io.fsync(file, true).map_err(io_err("fsyncing", &pending.dir.join(DATA_FILE)))?;
        for dir in [&pending.dir, &self.root] {
            let handle = File::open(dir).map_err(io_err("opening", dir))?;
            self.io.fsync(&handle, false).map_err(io_err("fsyncing directory", dir))?;
        }
        let sync_time = sync_started.elapsed();
        let mut manifest = pending.manifest;
        manifest.stats.backend = self.io.kind().to_string();
        manifest.stats.write_micros = write_time.as_micros() as u64;
        manifest.stats.sync_micros = sync_time.as_micros() as u64;
        manifest.write_atomic(&pending.dir)?;
        Ok(CheckpointReport {
            epoch,
            backend: self.io.kind(),
            registered_buffers: self.io.registered_buffers(),
            direct_io: pending.direct_io,
            bytes_written: manifest.stats.bytes_written,
            write_time,
            sync_time,
            finish_time: started.elapsed(),
            manifest,
        })
    }
}

/// Creates the checkpoint directory and its data file; refuses to touch a complete checkpoint.
/// Returns the file and whether it is open with `O_DIRECT`.
fn open_data_file(dir: &Path, direct_io: bool) -> Result<(File, bool)> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    if dir.join(MANIFEST_FILE).exists() {
        return Err(Error::Io {
            context: format!("starting checkpoint {}", dir.display()),
            source: io::Error::new(io::ErrorKind::AlreadyExists, "the checkpoint is already complete"),
        });
    }
    let path = dir.join(DATA_FILE);
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if direct_io && let Some(file) = open_direct(&options, &path) {
        return Ok((file, true));
    }
    let file = options.open(&path).map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    Ok((file, false))
}

/// Opens with `O_DIRECT`, or `None` where the file system (or OS) does not allow it.
#[cfg(target_os = "linux")]
fn open_direct(options: &OpenOptions, path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut options = options.clone();
    options.custom_flags(libc::O_DIRECT);
    match options.open(path) {
        Ok(file) => Some(file),
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "O_DIRECT refused; using buffered writes");
            None
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_: &OpenOptions, _: &Path) -> Option<File> {
    None
}
