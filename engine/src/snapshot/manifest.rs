//! The checkpoint manifest: the index of a checkpoint, written last and atomically.
//!
//! On disk a manifest is the JSON of [`Manifest`] followed by one trailer line
//! `# crc32c <8 lowercase hex digits>\n` holding the CRC32C of every byte before the trailer.
//! A manifest that is missing, truncated (no trailer), fails its checksum, or names another epoch
//! than its directory makes the checkpoint not complete. Invariants:
//!
//! * `format_version` is read first; a newer version fails with [`Error::SnapshotVersion`] before
//!   any other field is interpreted;
//! * every [`ChunkRef::file`] is relative to the snapshot root, so an incremental checkpoint can
//!   point into an earlier checkpoint's files;
//! * it becomes visible only by `rename(MANIFEST.tmp, MANIFEST)` after the data files, the
//!   temporary manifest and the directory have been fsynced.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::chunk::ChunkRef;
use super::crc32c::crc32c;
use crate::time::Epoch;
use crate::{Error, Result};

/// The manifest format version this build writes and the newest it reads.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;
/// File name of a checkpoint's manifest.
pub const MANIFEST_FILE: &str = "MANIFEST";
/// File name the manifest is written under before its atomic rename.
pub const MANIFEST_TMP_FILE: &str = "MANIFEST.tmp";
/// File name of the data file a checkpoint's writer appends chunks to.
pub const DATA_FILE: &str = "data.chunks";
/// Prefix of the trailer line that holds the manifest's checksum.
const TRAILER_PREFIX: &[u8] = b"# crc32c ";
/// Length of the trailer line: prefix, 8 hex digits, newline.
const TRAILER_LEN: usize = TRAILER_PREFIX.len() + 9;

/// The index of one checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version ([`MANIFEST_FORMAT_VERSION`] when written by this build).
    pub format_version: u32,
    /// The checkpoint's epoch: every record of epochs `<= epoch` is reflected in its state.
    pub epoch: Epoch,
    /// The job's number of key groups; restoring with other worker counts maps key groups.
    pub max_parallelism: u32,
    /// Every chunk of the checkpoint, including chunks reused from earlier checkpoints.
    pub chunks: Vec<ChunkRef>,
    /// Per source operator, the position (offset) of each of its partitions to resume from.
    pub source_positions: BTreeMap<String, Vec<u64>>,
    /// What writing the checkpoint cost.
    pub stats: WriteStats,
    /// Whether the job had read all of its input when this checkpoint was taken (its final
    /// checkpoint): resuming from it has nothing left to do.
    #[serde(default)]
    pub finished: bool,
    /// Whether this is a savepoint (self-contained: every chunk lives under its own root).
    #[serde(default)]
    pub savepoint: bool,
    /// Worker threads of the job that wrote it (restoring with another number rescales).
    #[serde(default)]
    pub workers: u32,
    /// Per source operator: the state of each of its instances at the cut.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceCheckpoint>,
    /// Every keyed state of the job by `operator/state`, with its kind and value type, so that a
    /// changed job can be checked against it before anything is restored.
    #[serde(default)]
    pub states: BTreeMap<String, StateMeta>,
    /// What the checkpoint cost per operator (summed over workers; the pause is the largest).
    #[serde(default)]
    pub operators: Vec<OperatorCost>,
}

/// One source operator's state at a checkpoint's cut.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCheckpoint {
    /// Instances (workers) the source ran with.
    pub workers: u32,
    /// Per instance, in worker order.
    pub instances: Vec<SourceInstanceState>,
}

/// One source instance's state at a cut.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInstanceState {
    /// The reader's resume position (its meaning is the reader's: an event index, a byte
    /// offset, or several numbers for readers that were rescaled).
    pub position: Vec<u64>,
    /// Largest event time read so far (ms).
    pub max_seen: u64,
    /// The watermark the instance had emitted (ms).
    pub watermark: u64,
    /// Whether the instance had reached the end of its input.
    pub finished: bool,
}

/// What a keyed state is, as recorded in a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMeta {
    /// The operator's name.
    pub operator: String,
    /// The state's name.
    pub state: String,
    /// The state's kind (`value`, `list`, `map`, `reducing`, `window`, `timers`).
    pub kind: String,
    /// The Rust type of the stored values; a restore into another type is refused.
    pub value_type: String,
}

/// What one operator's part of a checkpoint cost.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorCost {
    /// The operator's name.
    pub operator: String,
    /// Keys (entries) in its state, over all workers.
    pub keys: u64,
    /// Bytes of its state in memory, over all workers.
    pub state_bytes: u64,
    /// Payload bytes it handed to the writer for this checkpoint.
    pub bytes_written: u64,
    /// Key groups it left unchanged (referenced from the previous checkpoint).
    pub chunks_referenced: u64,
    /// The longest synchronous pause of a worker (processing stopped while the state was
    /// captured), in microseconds.
    pub sync_pause_micros: u64,
    /// Records held back during alignment (arrived for a later epoch before this one was
    /// complete), over all workers.
    pub aligned_records: u64,
}

impl Manifest {
    /// An empty manifest of the current format version.
    pub fn new(epoch: Epoch, max_parallelism: u32) -> Manifest {
        Manifest {
            format_version: MANIFEST_FORMAT_VERSION,
            epoch,
            max_parallelism,
            chunks: Vec::new(),
            source_positions: BTreeMap::new(),
            stats: WriteStats::default(),
            finished: false,
            savepoint: false,
            workers: 0,
            sources: BTreeMap::new(),
            states: BTreeMap::new(),
            operators: Vec::new(),
        }
    }

    /// The files (relative to the snapshot root) that this checkpoint needs.
    pub fn referenced_files(&self) -> std::collections::BTreeSet<&str> {
        self.chunks.iter().map(|c| c.file.as_str()).collect()
    }

    /// Serializes to the on-disk form: JSON, then the checksum trailer.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a manifest always serializes");
        out.push(b'\n');
        let crc = crc32c(&out);
        out.extend_from_slice(TRAILER_PREFIX);
        out.extend_from_slice(format!("{crc:08x}\n").as_bytes());
        out
    }

    /// Parses and checks the on-disk form read from `path`.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let corrupt = |offset: usize, reason: String| Error::CorruptSnapshot {
            path: path.to_path_buf(),
            offset: offset as u64,
            reason,
        };
        if bytes.len() < TRAILER_LEN {
            return Err(corrupt(bytes.len(), format!("manifest is {} bytes: truncated", bytes.len())));
        }
        let (body, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
        let hex = trailer.strip_prefix(TRAILER_PREFIX).and_then(|t| t.strip_suffix(b"\n"));
        let Some(stored) = hex.and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u32::from_str_radix(h, 16).ok())
        else {
            return Err(corrupt(body.len(), "manifest has no checksum trailer (truncated?)".into()));
        };
        let actual = crc32c(body);
        if actual != stored {
            return Err(corrupt(0, format!("manifest checksum {actual:08x}, trailer says {stored:08x}")));
        }
        #[derive(Deserialize)]
        struct VersionProbe {
            format_version: u32,
        }
        let probe: VersionProbe =
            serde_json::from_slice(body).map_err(|e| corrupt(0, format!("manifest has no format_version: {e}")))?;
        if probe.format_version > MANIFEST_FORMAT_VERSION || probe.format_version == 0 {
            return Err(Error::SnapshotVersion {
                path: path.to_path_buf(),
                found: probe.format_version,
                supported: MANIFEST_FORMAT_VERSION,
            });
        }
        serde_json::from_slice(body).map_err(|e| corrupt(0, format!("manifest does not parse: {e}")))
    }

    /// Reads and checks the manifest at `path`.
    pub fn read(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Manifest::decode(&bytes, path)
    }

    /// Writes the manifest into checkpoint directory `dir` atomically: `MANIFEST.tmp`, fsync,
    /// rename to `MANIFEST`, fsync the directory. Data files must already be durable.
    pub fn write_atomic(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join(MANIFEST_TMP_FILE);
        let target = dir.join(MANIFEST_FILE);
        let io = |what: &str, path: &Path| {
            let context = format!("{what} {}", path.display());
            move |e| Error::io(context, e)
        };
        let mut file = File::create(&tmp).map_err(io("creating", &tmp))?;
        file.write_all(&self.encode()).map_err(io("writing", &tmp))?;
        file.sync_all().map_err(io("fsyncing", &tmp))?;
        drop(file);
        std::fs::rename(&tmp, &target).map_err(io("renaming to MANIFEST", &tmp))?;
        fsync_dir(dir)
    }
}

/// What writing one checkpoint cost; filled by the writer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteStats {
    /// The I/O backend that wrote the chunks (`"io_uring"` or `"plain"`).
    pub backend: String,
    /// Chunks written by this checkpoint.
    pub chunks_written: u64,
    /// Bytes written to data files by this checkpoint (headers, payloads and padding).
    pub bytes_written: u64,
    /// Payload bytes written by this checkpoint.
    pub payload_bytes_written: u64,
    /// Chunks reused from earlier checkpoints.
    pub chunks_referenced: u64,
    /// Payload bytes of the reused chunks.
    pub payload_bytes_referenced: u64,
    /// Microseconds from the first chunk reaching the writer until `finish` found every write
    /// complete.
    pub write_micros: u64,
    /// Microseconds spent making data files and the directory durable.
    pub sync_micros: u64,
}

/// The directory name of the checkpoint for `epoch`: `chk-` and 20 zero-padded digits, so that
/// names sort like epochs.
pub fn checkpoint_dir_name(epoch: Epoch) -> String {
    format!("chk-{:020}", epoch.0)
}

/// The epoch of a checkpoint directory name, if it is one.
pub fn parse_checkpoint_dir_name(name: &str) -> Option<Epoch> {
    let digits = name.strip_prefix("chk-")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Epoch)
}

/// Fsyncs a directory, making renames and new entries in it durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let context = || format!("fsyncing directory {}", dir.display());
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(context(), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::KeyGroup;

    fn sample() -> Manifest {
        let mut m = Manifest::new(Epoch(4), 128);
        m.chunks.push(ChunkRef {
            file: "chk-00000000000000000004/data.chunks".into(),
            offset: 4096,
            length: 10,
            checksum: 7,
            operator: "window".into(),
            state: "sums".into(),
            key_group: KeyGroup(5),
            epoch: Epoch(4),
            part: 0,
        });
        m.source_positions.insert("bids".into(), vec![10, 20]);
        m
    }

    #[test]
    fn encode_decode_round_trip_and_damage() {
        let m = sample();
        let bytes = m.encode();
        let path = Path::new("MANIFEST");
        assert_eq!(Manifest::decode(&bytes, path).expect("valid"), m);
        for cut in [0, 5, bytes.len() / 2, bytes.len() - 1] {
            assert!(matches!(Manifest::decode(&bytes[..cut], path), Err(Error::CorruptSnapshot { .. })), "cut {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(matches!(Manifest::decode(&flipped, path), Err(Error::CorruptSnapshot { .. })));
    }

    #[test]
    fn newer_version_is_refused() {
        let mut m = sample();
        m.format_version = 2;
        assert!(matches!(
            Manifest::decode(&m.encode(), Path::new("M")),
            Err(Error::SnapshotVersion { found: 2, supported: 1, .. })
        ));
    }

    #[test]
    fn dir_names() {
        assert_eq!(checkpoint_dir_name(Epoch(7)), "chk-00000000000000000007");
        assert_eq!(parse_checkpoint_dir_name("chk-00000000000000000007"), Some(Epoch(7)));
        assert_eq!(parse_checkpoint_dir_name("chk-7"), None);
        assert_eq!(parse_checkpoint_dir_name("chk-0000000000000000000x"), None);
        assert_eq!(parse_checkpoint_dir_name(&checkpoint_dir_name(Epoch(u64::MAX))), Some(Epoch(u64::MAX)));
    }
}
