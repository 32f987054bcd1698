//! Reading checkpoints back: listing, opening, reading and verifying chunks, and recovery's
//! choice of checkpoint.
//!
//! Invariants:
//!
//! * a checkpoint is **complete** only if its `MANIFEST` exists, verifies (checksum, version,
//!   epoch) and every file it references is long enough for its chunks; directories without a
//!   manifest are crash leftovers and are never read;
//! * [`Snapshot::read_chunk`] returns a payload only after its header and CRC32C have been
//!   checked against the manifest; damage is an [`Error::CorruptSnapshot`] naming file and offset;
//! * [`Snapshot::open`] never falls back silently: a damaged manifest newer than the newest
//!   complete checkpoint is an error. [`Snapshot::open_newest_valid`] falls back and reports every
//!   checkpoint it passed over, and why.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Component, Path, PathBuf};

use super::chunk::{CHUNK_HEADER_LEN, ChunkRef, decode_header, header_mismatch};
use super::crc32c::crc32c;
use super::manifest::{MANIFEST_FILE, Manifest, checkpoint_dir_name, parse_checkpoint_dir_name};
use crate::time::Epoch;
use crate::{Error, Result};

/// The state of one checkpoint directory, as [`list`] finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointStatus {
    /// The manifest exists and verifies, and the files it references are long enough.
    Complete,
    /// No manifest: the checkpoint was never finished (or is being written). Ignored on recovery.
    Incomplete,
    /// A manifest exists but cannot be trusted; the reason names file and offset.
    Corrupt(String),
    /// The manifest was written by a newer Rill with a format this build cannot read.
    NewerVersion(String),
}

/// One checkpoint directory under a snapshot root.
#[derive(Clone, Debug)]
pub struct CheckpointInfo {
    /// The checkpoint's epoch, from its directory name.
    pub epoch: Epoch,
    /// The directory name (`chk-<epoch:020>`), relative to the root.
    pub dir: String,
    /// Complete, incomplete or corrupt.
    pub status: CheckpointStatus,
    /// The manifest, when the checkpoint is complete.
    pub manifest: Option<Manifest>,
    /// Every file in the directory, relative to the root (`chk-…/data.chunks`), sorted.
    pub files: Vec<String>,
}

/// Lists the checkpoint directories under `root`, oldest first, and classifies each. A missing
/// `root` lists nothing. Chunk payloads are not read (see [`Snapshot::verify`]).
pub fn list(root: &Path) -> Result<Vec<CheckpointInfo>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", root.display()), e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", root.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(epoch) = parse_checkpoint_dir_name(&name)
            && entry.file_type().is_ok_and(|t| t.is_dir())
        {
            found.push((epoch, name));
        }
    }
    found.sort();
    found.into_iter().map(|(epoch, dir)| inspect(root, epoch, dir)).collect()
}

/// Classifies one checkpoint directory.
fn inspect(root: &Path, epoch: Epoch, dir: String) -> Result<CheckpointInfo> {
    let path = root.join(&dir);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&path).map_err(|e| Error::io(format!("listing {}", path.display()), e))? {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", path.display()), e))?;
        files.push(format!("{dir}/{}", entry.file_name().to_string_lossy()));
    }
    files.sort();
    let manifest_path = path.join(MANIFEST_FILE);
    let (status, manifest) = if !manifest_path.exists() {
        (CheckpointStatus::Incomplete, None)
    } else {
        match Manifest::read(&manifest_path).and_then(|m| check_manifest(root, &manifest_path, epoch, m)) {
            Ok(m) => (CheckpointStatus::Complete, Some(m)),
            Err(e @ Error::SnapshotVersion { .. }) => (CheckpointStatus::NewerVersion(e.to_string()), None),
            Err(e) => (CheckpointStatus::Corrupt(e.to_string()), None),
        }
    };
    Ok(CheckpointInfo { epoch, dir, status, manifest, files })
}

/// Checks a parsed manifest against its directory and the files it references (lengths only).
fn check_manifest(root: &Path, manifest_path: &Path, epoch: Epoch, manifest: Manifest) -> Result<Manifest> {
    let corrupt =
        |path: &Path, offset: u64, reason: String| Error::CorruptSnapshot { path: path.to_path_buf(), offset, reason };
    if manifest.epoch != epoch {
        let reason = format!("manifest is for epoch {}, its directory for epoch {}", manifest.epoch.0, epoch.0);
        return Err(corrupt(manifest_path, 0, reason));
    }
    for chunk in &manifest.chunks {
        let file = chunk_path(root, manifest_path, chunk)?;
        if chunk.epoch > manifest.epoch {
            return Err(corrupt(
                manifest_path,
                0,
                format!("chunk of {} claims later epoch {}", chunk.file, chunk.epoch.0),
            ));
        }
        let len = std::fs::metadata(&file).map(|m| m.len()).map_err(|e| {
            corrupt(&file, chunk.offset, format!("referenced by {} but cannot be read: {e}", manifest_path.display()))
        })?;
        let end = chunk_end(chunk);
        if len < end {
            return Err(corrupt(&file, chunk.offset, format!("truncated: file is {len} bytes, chunk ends at {end}")));
        }
    }
    Ok(manifest)
}

/// The path of a chunk's file, refusing names that leave the snapshot root.
fn chunk_path(root: &Path, manifest_path: &Path, chunk: &ChunkRef) -> Result<PathBuf> {
    let relative = Path::new(&chunk.file);
    if chunk.file.is_empty() || !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(Error::CorruptSnapshot {
            path: manifest_path.to_path_buf(),
            offset: 0,
            reason: format!("chunk file `{}` is not a plain path inside the snapshot root", chunk.file),
        });
    }
    Ok(root.join(relative))
}

/// One past the chunk's last payload byte in its file (saturating: absurd manifest values read
/// as a truncated file, never as an overflow).
fn chunk_end(chunk: &ChunkRef) -> u64 {
    chunk.offset.saturating_add(CHUNK_HEADER_LEN as u64).saturating_add(chunk.length)
}

/// A checkpoint chosen by recovery, with the newer ones it passed over.
#[derive(Debug)]
pub struct Recovered {
    /// The checkpoint to restore from; fully verified.
    pub snapshot: Snapshot,
    /// Checkpoints newer than the chosen one that were not usable, newest first, with why.
    pub skipped: Vec<SkippedCheckpoint>,
}

/// A checkpoint recovery did not use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedCheckpoint {
    /// Its epoch.
    pub epoch: Epoch,
    /// Why it was not used.
    pub reason: String,
}

/// An open, complete checkpoint: its manifest and access to its chunks.
#[derive(Clone, Debug)]
pub struct Snapshot {
    root: PathBuf,
    manifest: Manifest,
}

impl Snapshot {
    /// Opens the newest complete checkpoint under `root`, reading only its manifest.
    ///
    /// Incomplete checkpoints (no manifest) are ignored. A corrupt or newer-version manifest
    /// newer than the newest complete checkpoint is an error: recovery that may fall back uses
    /// [`open_newest_valid`](Self::open_newest_valid).
    pub fn open(root: &Path) -> Result<Snapshot> {
        let infos = list(root)?;
        for info in infos.into_iter().rev() {
            match info.status {
                CheckpointStatus::Complete => {
                    let manifest = info.manifest.expect("complete checkpoints carry their manifest");
                    return Ok(Snapshot { root: root.to_path_buf(), manifest });
                }
                CheckpointStatus::Incomplete => {}
                CheckpointStatus::Corrupt(reason) | CheckpointStatus::NewerVersion(reason) => {
                    let reason = format!("newest checkpoint {} is not usable: {reason}", info.dir);
                    return Err(Error::NoSnapshot { dir: root.to_path_buf(), reason });
                }
            }
        }
        Err(Error::NoSnapshot { dir: root.to_path_buf(), reason: "no complete checkpoint".into() })
    }

    /// Opens the checkpoint of `epoch` under `root`, reading only its manifest.
    pub fn open_epoch(root: &Path, epoch: Epoch) -> Result<Snapshot> {
        let dir = checkpoint_dir_name(epoch);
        let manifest_path = root.join(&dir).join(MANIFEST_FILE);
        if !manifest_path.exists() {
            let reason = format!("checkpoint {dir} has no {MANIFEST_FILE}: it is incomplete or absent");
            return Err(Error::NoSnapshot { dir: root.to_path_buf(), reason });
        }
        let manifest = check_manifest(root, &manifest_path, epoch, Manifest::read(&manifest_path)?)?;
        Ok(Snapshot { root: root.to_path_buf(), manifest })
    }

    /// Recovery's choice: the newest checkpoint whose manifest and every chunk verify. Newer
    /// checkpoints that are incomplete, corrupt or unreadable are passed over and listed in
    /// [`Recovered::skipped`]. Reads every chunk of the candidates. Fails with
    /// [`Error::NoSnapshot`] (never a silent fresh start) when no checkpoint is usable.
    pub fn open_newest_valid(root: &Path) -> Result<Recovered> {
        let mut skipped = Vec::new();
        for info in list(root)?.into_iter().rev() {
            let reason = match info.status {
                CheckpointStatus::Complete => {
                    let manifest = info.manifest.expect("complete checkpoints carry their manifest");
                    let snapshot = Snapshot { root: root.to_path_buf(), manifest };
                    match snapshot.verify() {
                        Ok(()) => return Ok(Recovered { snapshot, skipped }),
                        Err(e) => e.to_string(),
                    }
                }
                CheckpointStatus::Incomplete => format!("no {MANIFEST_FILE}: the checkpoint was not finished"),
                CheckpointStatus::Corrupt(reason) | CheckpointStatus::NewerVersion(reason) => reason,
            };
            tracing::warn!(epoch = info.epoch.0, %reason, "skipping checkpoint");
            skipped.push(SkippedCheckpoint { epoch: info.epoch, reason });
        }
        let reason = if skipped.is_empty() {
            "no checkpoints".to_string()
        } else {
            skipped.iter().map(|s| format!("epoch {}: {}", s.epoch.0, s.reason)).collect::<Vec<_>>().join("; ")
        };
        Err(Error::NoSnapshot { dir: root.to_path_buf(), reason })
    }

    /// The checkpoint's epoch.
    pub fn epoch(&self) -> Epoch {
        self.manifest.epoch
    }

    /// The checkpoint's manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The snapshot root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every chunk of the checkpoint.
    pub fn chunks(&self) -> &[ChunkRef] {
        &self.manifest.chunks
    }

    /// Reads one chunk's payload, checking header and checksum against `chunk`.
    pub fn read_chunk(&self, chunk: &ChunkRef) -> Result<Vec<u8>> {
        let manifest_path = self.root.join(checkpoint_dir_name(self.epoch())).join(MANIFEST_FILE);
        let path = chunk_path(&self.root, &manifest_path, chunk)?;
        let corrupt = |reason: String| Error::CorruptSnapshot { path: path.clone(), offset: chunk.offset, reason };
        let file = File::open(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        let file_len = file.metadata().map_err(|e| Error::io(format!("reading {}", path.display()), e))?.len();
        let end = chunk_end(chunk);
        if file_len < end {
            return Err(corrupt(format!("truncated: file is {file_len} bytes, chunk ends at {end}")));
        }
        let mut header = [0u8; CHUNK_HEADER_LEN];
        file.read_exact_at(&mut header, chunk.offset)
            .map_err(|e| Error::io(format!("reading {} at {}", path.display(), chunk.offset), e))?;
        let header = decode_header(&header, &path, chunk.offset)?;
        if let Some(reason) = header_mismatch(&header, chunk) {
            return Err(corrupt(reason));
        }
        let mut payload = vec![0u8; chunk.length as usize];
        file.read_exact_at(&mut payload, chunk.offset + CHUNK_HEADER_LEN as u64)
            .map_err(|e| Error::io(format!("reading {} at {}", path.display(), chunk.offset), e))?;
        let actual = crc32c(&payload);
        if actual != chunk.checksum {
            return Err(corrupt(format!("payload checksum {actual:#010x}, expected {:#010x}", chunk.checksum)));
        }
        Ok(payload)
    }

    /// Reads and checks every chunk of the checkpoint.
    pub fn verify(&self) -> Result<()> {
        self.manifest.chunks.iter().try_for_each(|chunk| self.read_chunk(chunk).map(drop))
    }
}
