//! Retention: which old checkpoints to delete, as a pure decision, and applying it.
//!
//! [`plan_retention`] keeps the `keep` newest complete checkpoints and everything newer than the
//! oldest of them (an incomplete directory there may be a checkpoint being written; a corrupt one
//! is evidence). Older directories are deleted, except files that a retained manifest references:
//! an incremental checkpoint may reuse chunks of any earlier checkpoint's data file. Invariants:
//!
//! * no file referenced by a retained manifest is ever in the plan;
//! * with no complete checkpoint, nothing is deleted;
//! * within a directory, its `MANIFEST` is deleted before its data files, so a crash while
//!   applying leaves an incomplete checkpoint, never a complete one with missing data.

use std::collections::BTreeSet;
use std::path::Path;

use super::manifest::{MANIFEST_FILE, MANIFEST_TMP_FILE, fsync_dir};
use super::reader::{CheckpointInfo, CheckpointStatus};
use crate::time::Epoch;
use crate::{Error, Result};

/// What [`apply`] will delete. All paths are relative to the snapshot root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionPlan {
    /// The retained complete checkpoints, oldest first.
    pub keep: Vec<Epoch>,
    /// Checkpoint directories to delete whole (no file in them is referenced).
    pub delete_dirs: Vec<String>,
    /// Single files to delete from directories that still hold referenced files; each
    /// directory's manifest comes before its other files.
    pub delete_files: Vec<String>,
}

/// Plans the deletion of old checkpoints, keeping the `keep` newest complete ones (at least one).
/// `checkpoints` is what [`list`](super::list) returns.
pub fn plan_retention(checkpoints: &[CheckpointInfo], keep: usize) -> RetentionPlan {
    let mut complete: Vec<&CheckpointInfo> =
        checkpoints.iter().filter(|c| c.status == CheckpointStatus::Complete && c.manifest.is_some()).collect();
    complete.sort_by_key(|c| c.epoch);
    let retained = &complete[complete.len().saturating_sub(keep.max(1))..];
    let Some(oldest_retained) = retained.first().map(|c| c.epoch) else {
        return RetentionPlan::default();
    };
    let referenced: BTreeSet<&str> = retained
        .iter()
        .flat_map(|c| c.manifest.iter().flat_map(|m| m.chunks.iter().map(|r| r.file.as_str())))
        .collect();
    let mut plan = RetentionPlan { keep: retained.iter().map(|c| c.epoch).collect(), ..RetentionPlan::default() };
    for info in checkpoints.iter().filter(|c| c.epoch < oldest_retained) {
        if info.files.iter().all(|f| !referenced.contains(f.as_str())) {
            plan.delete_dirs.push(info.dir.clone());
            continue;
        }
        let is_manifest =
            |f: &str| f.rsplit('/').next().is_some_and(|name| name == MANIFEST_FILE || name == MANIFEST_TMP_FILE);
        let unreferenced = info.files.iter().filter(|f| !referenced.contains(f.as_str()));
        let (manifests, data): (Vec<&String>, Vec<&String>) = unreferenced.partition(|f| is_manifest(f));
        plan.delete_files.extend(manifests.into_iter().chain(data).cloned());
    }
    plan
}

/// Carries out `plan` under `root`, then fsyncs the root. Files already gone are not an error.
pub fn apply(root: &Path, plan: &RetentionPlan) -> Result<()> {
    let ignore_missing = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    let mut touched = BTreeSet::new();
    for file in &plan.delete_files {
        let path = root.join(file);
        ignore_missing(std::fs::remove_file(&path))
            .map_err(|e| Error::io(format!("deleting {}", path.display()), e))?;
        if let Some(parent) = path.parent() {
            touched.insert(parent.to_path_buf());
        }
    }
    for dir in touched {
        if dir.exists() {
            fsync_dir(&dir)?;
        }
    }
    for dir in &plan.delete_dirs {
        let path = root.join(dir);
        ignore_missing(std::fs::remove_file(path.join(MANIFEST_FILE)))
            .and_then(|()| ignore_missing(std::fs::remove_dir_all(&path)))
            .map_err(|e| Error::io(format!("deleting {}", path.display()), e))?;
    }
    fsync_dir(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{ChunkRef, Manifest};
    use crate::state::KeyGroup;

    fn chunk(file: &str, epoch: u64) -> ChunkRef {
        ChunkRef {
            file: file.into(),
            offset: 0,
            length: 1,
            checksum: 0,
            operator: "op".into(),
            state: "s".into(),
            key_group: KeyGroup(0),
            epoch: Epoch(epoch),
            part: 0,
        }
    }

    fn complete(epoch: u64, refs: &[(&str, u64)]) -> CheckpointInfo {
        let dir = crate::snapshot::checkpoint_dir_name(Epoch(epoch));
        let mut m = Manifest::new(Epoch(epoch), 8);
        m.chunks = refs.iter().map(|&(f, e)| chunk(f, e)).collect();
        let files = vec![format!("{dir}/MANIFEST"), format!("{dir}/data.chunks")];
        CheckpointInfo { epoch: Epoch(epoch), dir, status: CheckpointStatus::Complete, manifest: Some(m), files }
    }

    fn data(epoch: u64) -> String {
        format!("{}/data.chunks", crate::snapshot::checkpoint_dir_name(Epoch(epoch)))
    }

    #[test]
    fn keeps_files_referenced_across_checkpoints() {
        let cps = vec![
            complete(1, &[(&data(1), 1)]),
            complete(2, &[(&data(2), 2)]),
            complete(3, &[(&data(1), 1), (&data(3), 3)]),
            complete(4, &[(&data(1), 1), (&data(4), 4)]),
        ];
        let plan = plan_retention(&cps, 2);
        assert_eq!(plan.keep, vec![Epoch(3), Epoch(4)]);
        assert_eq!(plan.delete_dirs, vec![crate::snapshot::checkpoint_dir_name(Epoch(2))]);
        assert_eq!(plan.delete_files, vec![format!("{}/MANIFEST", crate::snapshot::checkpoint_dir_name(Epoch(1)))]);
    }

    #[test]
    fn nothing_without_a_complete_checkpoint_and_newer_dirs_untouched() {
        let mut incomplete = complete(5, &[]);
        incomplete.status = CheckpointStatus::Incomplete;
        incomplete.manifest = None;
        assert_eq!(plan_retention(std::slice::from_ref(&incomplete), 1), RetentionPlan::default());
        let cps = vec![complete(1, &[(&data(1), 1)]), complete(2, &[(&data(2), 2)]), incomplete];
        let plan = plan_retention(&cps, 0);
        assert_eq!(plan.keep, vec![Epoch(2)]);
        assert_eq!(plan.delete_dirs, vec![crate::snapshot::checkpoint_dir_name(Epoch(1))]);
        assert!(plan.delete_files.is_empty());
    }
}
