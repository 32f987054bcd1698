//! The checkpoint flags of `run`: periodic checkpoints, resume, savepoints.
//!
//! `--checkpoint-dir DIR [--checkpoint-interval-ms MS] [--resume]`,
//! `--savepoint-at-event N --savepoint-dir DIR`, `--from-savepoint DIR`; turned into the
//! engine's [`CheckpointConfig`] by [`CheckpointArgs::config`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use rill::snapshot::{Backend, CheckpointConfig, RestoreFrom};

/// Checkpoint flags of `run`.
#[derive(Debug, Clone, Default, Args)]
pub struct CheckpointArgs {
    /// Take consistent checkpoints under this directory (and publish output exactly once, per
    /// completed checkpoint).
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Time between checkpoints (ms).
    #[arg(long, default_value_t = 1000, requires = "checkpoint_dir")]
    pub checkpoint_interval_ms: u64,
    /// Continue from the newest complete checkpoint in --checkpoint-dir (a fresh start where
    /// there is none; nothing to do when it is a finished job's final checkpoint).
    #[arg(long, requires = "checkpoint_dir", conflicts_with = "from_savepoint")]
    pub resume: bool,
    /// Stop with a savepoint once the sources have read at least this many events in all (the
    /// job stops at the next consistent cut; the output holds exactly the output up to it).
    #[arg(long, requires = "savepoint_dir")]
    pub savepoint_at_event: Option<u64>,
    /// Where --savepoint-at-event writes the savepoint (must be empty or absent).
    #[arg(long, requires = "savepoint_at_event")]
    pub savepoint_dir: Option<PathBuf>,
    /// Start from the savepoint in this directory (another --workers rescales).
    #[arg(long)]
    pub from_savepoint: Option<PathBuf>,
    /// Checkpoints kept in --checkpoint-dir.
    #[arg(long, default_value_t = 2)]
    pub retain_checkpoints: usize,
    /// Write snapshots with plain pwrite instead of io_uring.
    #[arg(long)]
    pub plain_writer: bool,
}

impl CheckpointArgs {
    /// The engine configuration, `None` when no checkpoint flag is set.
    pub fn config(&self) -> Option<CheckpointConfig> {
        if self.checkpoint_dir.is_none() && self.savepoint_dir.is_none() && self.from_savepoint.is_none() {
            return None;
        }
        let mut c = CheckpointConfig {
            dir: self.checkpoint_dir.clone(),
            interval: Duration::from_millis(self.checkpoint_interval_ms.max(1)),
            restore: RestoreFrom::Nothing,
            savepoint_at_event: self.savepoint_at_event,
            savepoint_dir: self.savepoint_dir.clone(),
            retain: self.retain_checkpoints,
            ..CheckpointConfig::default()
        };
        if self.resume {
            c.restore = RestoreFrom::NewestCheckpoint;
        } else if let Some(sp) = &self.from_savepoint {
            c.restore = RestoreFrom::Savepoint(sp.clone());
        }
        if self.plain_writer {
            c.writer.backend = Backend::Plain;
        }
        Some(c)
    }
}
