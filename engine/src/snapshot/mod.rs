//! Snapshots on disk: the chunk and manifest formats, the asynchronous writer, the reader and
//! retention.
//!
//! # Layout
//!
//! A snapshot root directory holds one directory per checkpoint, `chk-<epoch:020>/` (names sort
//! like epochs), each with data files of chunks and a `MANIFEST` written last:
//!
//! ```text
//! ROOT/chk-00000000000000000007/data.chunks   chunks, 4 KiB-aligned
//! ROOT/chk-00000000000000000007/MANIFEST      index of the checkpoint; its presence = complete
//! ```
//!
//! A checkpoint is **complete** only when its `MANIFEST` exists and verifies. The writer makes
//! the data durable (fsync of the data file, the checkpoint directory and the root), writes
//! `MANIFEST.tmp`, fsyncs it, renames it to `MANIFEST` and fsyncs the directory. A crash at any
//! point leaves either the previous complete checkpoints only, or one more complete checkpoint.
//!
//! # Chunk header (format version 1)
//!
//! Every chunk starts at a 4 KiB-aligned file offset with a 64-byte little-endian header, followed
//! by the payload and zero padding to the next 4 KiB boundary (so `O_DIRECT` works):
//!
//! | bytes  | field                                                                    |
//! |--------|--------------------------------------------------------------------------|
//! | 0..8   | magic `RILLCHNK`                                                         |
//! | 8..10  | format version, `u16` = 1 (at this position in every version)            |
//! | 10..12 | flags, `u16` = 0 (a version-1 reader refuses unknown flags)              |
//! | 12..14 | checksum algorithm, `u16`: 1 = CRC32C (Castagnoli)                       |
//! | 14..16 | reserved, zero                                                           |
//! | 16..24 | payload length in bytes, `u64`                                           |
//! | 24..28 | CRC32C of the payload, `u32`                                             |
//! | 28..32 | key group the payload holds, `u32`                                       |
//! | 32..40 | epoch of the checkpoint that wrote the chunk, `u64`                      |
//! | 40..60 | reserved, zero                                                           |
//! | 60..64 | CRC32C of header bytes 0..60, `u32`                                      |
//!
//! The payload's meaning (operator, state) is named by the manifest entry that points at it.
//!
//! # Manifest (format version 1)
//!
//! UTF-8 JSON of [`Manifest`], then a trailer line `# crc32c <8 hex digits>\n` with the CRC32C of
//! all bytes before it. Fields:
//!
//! * `format_version` (1); `epoch`; `max_parallelism` (key groups of the job);
//! * `chunks`: for each chunk `file` (relative to the root; may be an earlier checkpoint's file,
//!   which is how incremental checkpoints reuse chunks), `offset` (of the header), `length`
//!   (payload bytes), `checksum` (payload CRC32C), `operator`, `state`, `key_group`, and `epoch`
//!   (the checkpoint that wrote the chunk);
//! * `source_positions`: per source operator, one resume offset per partition;
//! * `stats`: `backend`, `chunks_written`, `bytes_written`, `payload_bytes_written`,
//!   `chunks_referenced`, `payload_bytes_referenced`, `write_micros`, `sync_micros`.
//!
//! # Versioning
//!
//! Readers check the version before anything else and fail with [`Error::SnapshotVersion`]
//! on a newer one. A new version adds a reader path; it never drops version 1:
//! `tests/fixtures/snapshot/` holds version-1 checkpoints (valid, corrupt and truncated) that
//! every later build must keep reading (or rejecting) the same way.
//!
//! # When to use what
//!
//! * [`SnapshotWriter`] on the write path: operators hand over owned [`ChunkBuf`]s and never
//!   wait for the disk; [`SnapshotWriter::finish`] blocks until the checkpoint is durable.
//! * [`Snapshot::open_newest_valid`] on recovery: verifies every chunk and falls back past a
//!   damaged newest checkpoint, reporting why. [`Snapshot::open`] for tools and tests that
//!   must see the newest checkpoint or an error.
//! * [`plan_retention`] then [`apply_retention`] after each completed checkpoint.
//!
//! [`Error::SnapshotVersion`]: crate::Error::SnapshotVersion

mod buf;
mod chunk;
mod coordinator;
mod crc32c;
mod manifest;
mod output;
mod reader;
mod retention;
mod stash;
mod summary;
mod writer;

pub use buf::{ALIGN, AlignedBuf, align_up};
pub use chunk::{
    CHUNK_FORMAT_VERSION, CHUNK_HEADER_LEN, CHUNK_MAGIC, ChunkBuf, ChunkHeader, ChunkName, ChunkRef, decode_header,
    encode_header,
};
pub use coordinator::{
    CheckpointConfig, CheckpointSummaryReport, CommitHook, CompletedCheckpoint, Coordinator,
    DEFAULT_CHECKPOINT_INTERVAL, DeferredEncode, Participant, Payload, RestoreFrom, Restored, Start, StateChunk,
};
pub use crc32c::{crc32c, crc32c_append};
pub use manifest::{
    DATA_FILE, MANIFEST_FILE, MANIFEST_FORMAT_VERSION, MANIFEST_TMP_FILE, Manifest, OperatorCost, SourceCheckpoint,
    SourceInstanceState, StateMeta, WriteStats, checkpoint_dir_name, parse_checkpoint_dir_name,
};
pub use output::EpochOutput;
pub use reader::{CheckpointInfo, CheckpointStatus, Recovered, SkippedCheckpoint, Snapshot, list};
pub use retention::{RetentionPlan, apply as apply_retention, plan_retention};
pub use stash::EpochStash;
pub use summary::{CheckpointSummary, OperatorSummary, StateSummary, summarize, with_restore_estimate};
pub use writer::{Backend, BackendKind, CheckpointReport, Chunk, SnapshotWriter, WriterHandle, WriterOptions};
