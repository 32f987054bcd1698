//! The `rill` command line: looking into checkpoints.
//!
//! ```text
//! rill checkpoint list DIR                       every checkpoint under DIR and its state
//! rill checkpoint inspect DIR [--epoch E] [--json]
//!                                                what the newest complete (or epoch E's)
//!                                                checkpoint holds and cost, per operator and state
//! ```
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use mimalloc::MiMalloc;
use rill::snapshot::{CheckpointStatus, Snapshot, list, summarize, with_restore_estimate};
use rill::time::Epoch;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// Rill: stateful event-time stream processing.
#[derive(Parser)]
#[command(name = "rill", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checkpoints written by a job (`rill-bench run ... --checkpoint-dir DIR`).
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
}

#[derive(Subcommand)]
enum CheckpointCommand {
    /// Lists every checkpoint under DIR: epoch, status, chunks, bytes, write and sync time.
    List {
        /// The checkpoint directory.
        dir: PathBuf,
    },
    /// Shows what a checkpoint holds and cost, per operator and state.
    Inspect {
        /// The checkpoint directory.
        dir: PathBuf,
        /// The epoch to inspect (default: the newest complete checkpoint).
        #[arg(long)]
        epoch: Option<u64>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Checkpoint(CheckpointCommand::List { dir }) => {
            let infos = list(&dir).with_context(|| format!("listing checkpoints in {}", dir.display()))?;
            if infos.is_empty() {
                println!("no checkpoints in {}", dir.display());
                return Ok(());
            }
            println!(
                "{:>8}  {:<10}  {:>7}  {:>14}  {:>14}  {:>10}  {:>10}",
                "epoch", "status", "chunks", "bytes", "bytes written", "write ms", "sync ms"
            );
            for info in infos {
                let status = match &info.status {
                    CheckpointStatus::Complete => "complete".to_owned(),
                    CheckpointStatus::Incomplete => "incomplete".to_owned(),
                    CheckpointStatus::Corrupt(why) => format!("corrupt ({why})"),
                    CheckpointStatus::NewerVersion(why) => format!("newer format ({why})"),
                };
                match info.manifest.as_ref().map(summarize) {
                    Some(s) => println!(
                        "{:>8}  {:<10}  {:>7}  {:>14}  {:>14}  {:>10.1}  {:>10.1}",
                        s.epoch,
                        status,
                        s.states.iter().map(|st| st.chunks).sum::<u64>(),
                        s.bytes,
                        s.bytes_written,
                        s.write_micros as f64 / 1e3,
                        s.sync_micros as f64 / 1e3
                    ),
                    None => println!("{:>8}  {status}", info.epoch.0),
                }
            }
        }
        Command::Checkpoint(CheckpointCommand::Inspect { dir, epoch, json }) => {
            let snapshot = match epoch {
                Some(e) => Snapshot::open_epoch(&dir, Epoch(e)),
                None => Snapshot::open(&dir),
            }
            .with_context(|| format!("opening the checkpoint in {}", dir.display()))?;
            // Reading and verifying every chunk is the I/O of a restore: time it for the estimate.
            let started = std::time::Instant::now();
            snapshot
                .verify()
                .with_context(|| format!("verifying checkpoint {} in {}", snapshot.epoch().0, dir.display()))?;
            let s = with_restore_estimate(summarize(snapshot.manifest()), started.elapsed().as_micros() as u64);
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
                return Ok(());
            }
            if s.states.is_empty() && s.source_positions.is_empty() && s.operators.is_empty() {
                bail!("checkpoint {} in {} holds nothing", s.epoch, dir.display());
            }
            println!("checkpoint {} ({} key groups), written by {}", s.epoch, s.max_parallelism, s.backend);
            println!(
                "  {} bytes of state, {} written by this checkpoint ({} on disk), write {:.1} ms, sync {:.1} ms",
                s.bytes,
                s.bytes_written,
                s.disk_bytes_written,
                s.write_micros as f64 / 1e3,
                s.sync_micros as f64 / 1e3
            );
            println!(
                "{:<24}  {:<16}  {:>10}  {:>7}  {:>14}  {:>14}",
                "operator", "state", "key groups", "chunks", "bytes", "bytes written"
            );
            for st in &s.states {
                println!(
                    "{:<24}  {:<16}  {:>10}  {:>7}  {:>14}  {:>14}",
                    st.operator, st.state, st.key_groups, st.chunks, st.bytes, st.bytes_written
                );
            }
            if !s.operators.is_empty() {
                println!(
                    "{:<24}  {:>10}  {:>12}  {:>12}  {:>13}  {:>10}  {:>11}  {:>12}",
                    "operator", "keys", "state bytes", "bytes", "bytes written", "sync µs", "async µs", "restore µs"
                );
                for o in &s.operators {
                    println!(
                        "{:<24}  {:>10}  {:>12}  {:>12}  {:>13}  {:>10}  {:>11}  {:>12}",
                        o.operator,
                        o.keys,
                        o.state_bytes,
                        o.bytes,
                        o.bytes_written,
                        o.sync_pause_micros,
                        o.async_write_micros,
                        o.restore_estimate_micros.unwrap_or(0)
                    );
                }
            }
            if s.finished {
                println!("  the final checkpoint of a finished job");
            }
            if s.savepoint {
                println!("  a savepoint");
            }
            for (source, positions) in &s.source_positions {
                println!("source {source}: positions {positions:?}");
            }
        }
    }
    Ok(())
}
