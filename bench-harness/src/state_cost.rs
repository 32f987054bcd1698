//! `rill-bench state-cost`: what a checkpoint of fixed-layout keyed state costs, at the size the
//! performance targets name (1 GB by default), measured on the state backend and the snapshot
//! writer that jobs use.
//!
//! One [`KeyedStateBackend`] (one worker, 128 key groups) holds a [`PodValueState`] of
//! `[u64; 4]` per `u64` key, filled to `--bytes`. Then, `--repeat` times:
//! 1. `--change-fraction` of the keys updated (as a job writes between checkpoints), then a
//!    complete checkpoint: the synchronous part (`KeyedStateBackend::snapshot`: pages frozen,
//!    nothing copied) timed alone, then the deferred encodings and the writer to a durable
//!    manifest (the asynchronous part);
//! 2. another `--change-fraction` of the keys updated, and an incremental checkpoint the same way,
//!    referencing the complete one's chunks: its bytes against the complete one's;
//! 3. a restore of the incremental checkpoint (every chain read, verified and loaded into a new
//!    backend) against `dd iflag=direct` reading the same data files.
//!
//! Medians are reported. This measures the store and the writer without a dataflow around them:
//! a job adds its own pause (the operator's alignment) and timers, which are not here.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use rill::Epoch;
use rill::snapshot::{Chunk, ChunkBuf, ChunkName, Payload, Snapshot, SnapshotWriter, WriterOptions};
use rill::state::{GroupSnapshot, KeyGroup, KeyedStateBackend, PodValueState, StateId};
use serde::{Deserialize, Serialize};

/// Key groups of the measured backend.
const MAX_PARALLELISM: u32 = 128;
const OPERATOR: &str = "state-cost";
const STATE: &str = "values";

/// Arguments of `state-cost`.
#[derive(Debug, Clone, Args)]
pub struct StateCostArgs {
    /// Bytes of state (the tables' slot arrays) to build.
    #[arg(long, default_value_t = 1 << 30)]
    pub bytes: u64,
    /// Share of the keys updated between the complete and the incremental checkpoint.
    #[arg(long, default_value_t = 0.01)]
    pub change_fraction: f64,
    /// Repetitions (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Scratch directory on the disk to measure (default: under the results directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Write the result JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// What `state-cost` measured (times are medians, seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateCostFigures {
    /// Keys in the state.
    pub keys: u64,
    /// Bytes of state (slot arrays of the tables).
    pub state_bytes: u64,
    /// Share of keys changed before the incremental checkpoint.
    pub change_fraction: f64,
    /// Repetitions.
    pub repeat: usize,
    /// Complete checkpoint: synchronous part, seconds (target: under 1 ms per GB).
    pub full_sync_s: f64,
    /// Complete checkpoint: encoding and writing to a durable manifest, seconds.
    pub full_async_s: f64,
    /// Payload bytes of the complete checkpoint.
    pub full_bytes: u64,
    /// Incremental checkpoint: synchronous part, seconds.
    pub delta_sync_s: f64,
    /// Incremental checkpoint: encoding and writing, seconds.
    pub delta_async_s: f64,
    /// Payload bytes the incremental checkpoint wrote.
    pub delta_bytes: u64,
    /// `delta_bytes / full_bytes` (target with 1 % changed: under 0.03).
    pub delta_share: f64,
    /// Reading, verifying and loading the incremental checkpoint's chains, seconds.
    pub restore_s: f64,
    /// `dd iflag=direct` over the same data files, seconds.
    pub dd_read_s: f64,
    /// `restore_s / dd_read_s` (target: under 2).
    pub restore_vs_dd_read: f64,
    /// Every sample, seconds (bytes for the `*_bytes` ones), in the order measured.
    pub samples: Vec<(String, f64)>,
}

/// A deterministic key sequence (multiplicative hashing of a counter).
fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Takes one checkpoint of `backend` into `writer` as `epoch`: the synchronous part's time, then
/// the time until the manifest is durable, and the payload bytes written.
fn checkpoint(
    backend: &mut KeyedStateBackend<u64>,
    writer: &SnapshotWriter,
    previous: Option<&Snapshot>,
    epoch: Epoch,
    full: bool,
) -> anyhow::Result<(Duration, Duration, u64)> {
    // Reserved before the clock starts: the harness's own bookkeeping is not the backend's pause.
    let mut chunks = Vec::with_capacity(MAX_PARALLELISM as usize);
    let mut kept = Vec::with_capacity(MAX_PARALLELISM as usize);
    let started = Instant::now();
    backend.snapshot(full, |_, kg, snap| match snap {
        GroupSnapshot::Empty => {}
        GroupSnapshot::Unchanged => kept.push(kg),
        GroupSnapshot::Chunk { part, payload } => {
            if part > 0 {
                kept.push(kg);
            }
            chunks.push((kg, part, payload));
        }
    });
    let sync = started.elapsed();
    let started = Instant::now();
    let mut bytes = 0;
    for (kg, part, payload) in chunks {
        let data = match payload {
            Payload::Bytes(b) => b,
            Payload::Deferred(encode) => encode(),
        };
        bytes += data.len() as u64;
        let name = ChunkName::new(OPERATOR, STATE, kg).with_part(part);
        writer.submit(Chunk { epoch, name, data: ChunkBuf::from_payload(&data) })?;
    }
    if let Some(prev) = previous {
        for c in prev.chunks().iter().filter(|c| kept.contains(&c.key_group)) {
            writer.reference(epoch, c.clone())?;
        }
    }
    writer.finish(epoch)?;
    Ok((sync, started.elapsed(), bytes))
}

/// Runs the measurements; see the module docs.
pub fn measure(args: &StateCostArgs, scratch: &Path) -> anyhow::Result<StateCostFigures> {
    if args.bytes == 0 || args.repeat == 0 || !(0.0..=1.0).contains(&args.change_fraction) {
        bail!("--bytes and --repeat must be positive and --change-fraction within 0..=1");
    }
    std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let mut backend = KeyedStateBackend::<u64>::new(0, 1, MAX_PARALLELISM);
    let h: PodValueState<[u64; 4]> = backend.registry().pod_value(STATE);
    let mut keys = 0u64;
    while backend.state_stats(StateId(0)).bytes < args.bytes {
        for i in keys..keys + 100_000 {
            backend.set_current_key(key(i));
            backend.set_pod_value(&h, [i, 0, 0, 0]);
        }
        keys += 100_000;
    }
    let state_bytes = backend.state_stats(StateId(0)).bytes;
    let changes = (keys as f64 * args.change_fraction) as u64;
    let mut samples = Vec::new();
    let mut s = |name: &str, v: f64, into: &mut Vec<f64>| {
        samples.push((name.to_owned(), v));
        into.push(v);
    };
    let (mut fs, mut fa, mut fb, mut ds, mut da, mut db, mut rs, mut dr) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    // Updates `changes` distinct keys (a different set each call), as a job does between two
    // checkpoints: the pages they touch are written again, so each snapshot below freezes
    // pages that were written since the last one (a snapshot right after another one would
    // find its pages still frozen and cost less than any job's).
    let mut batch = 0u64;
    let mut update = |backend: &mut KeyedStateBackend<u64>| -> anyhow::Result<()> {
        batch += 1;
        for j in 0..changes {
            let i = (j * 7919 + batch * 104_729) % keys;
            backend.set_current_key(key(i));
            backend.pod_value_mut(&h).context("a filled key is present")?[1] += 1;
        }
        Ok(())
    };
    for _ in 0..args.repeat {
        let root = scratch.join("chk");
        let _ = std::fs::remove_dir_all(&root);
        let writer = SnapshotWriter::new(&root, WriterOptions::default()).context("starting the snapshot writer")?;
        update(&mut backend)?;
        let (sync, write, bytes) = checkpoint(&mut backend, &writer, None, Epoch(1), true)?;
        s("full_sync", sync.as_secs_f64(), &mut fs);
        s("full_async", write.as_secs_f64(), &mut fa);
        s("full_bytes", bytes as f64, &mut fb);
        update(&mut backend)?;
        let first = Snapshot::open(&root)?;
        let (sync, write, bytes) = checkpoint(&mut backend, &writer, Some(&first), Epoch(2), false)?;
        s("delta_sync", sync.as_secs_f64(), &mut ds);
        s("delta_async", write.as_secs_f64(), &mut da);
        s("delta_bytes", bytes as f64, &mut db);
        drop(writer);
        // Restore the incremental checkpoint into a new backend.
        let started = Instant::now();
        let snap = Snapshot::open(&root)?;
        let mut restored = KeyedStateBackend::<u64>::new(0, 1, MAX_PARALLELISM);
        let _: PodValueState<[u64; 4]> = restored.registry().pod_value(STATE);
        for g in 0..MAX_PARALLELISM {
            let mut chain: Vec<_> = snap.chunks().iter().filter(|c| c.key_group == KeyGroup(g)).collect();
            chain.sort_by_key(|c| c.part);
            let parts = chain.iter().map(|c| snap.read_chunk(c)).collect::<rill::Result<Vec<_>>>()?;
            restored
                .restore(STATE, KeyGroup(g), &parts)
                .map_err(|e| anyhow::anyhow!("restoring key group {g}: {e}"))?;
        }
        s("restore", started.elapsed().as_secs_f64(), &mut rs);
        let entries = restored.state_stats(StateId(0)).entries;
        if entries != keys {
            bail!("restored {entries} keys of {keys}");
        }
        let mut read = Duration::ZERO;
        for e in ["chk-00000000000000000001", "chk-00000000000000000002"] {
            let data = root.join(e).join("data.chunks");
            read += crate::writer_bench::dd(&[
                format!("if={}", data.display()),
                "of=/dev/null".into(),
                "bs=1M".into(),
                "iflag=direct".into(),
            ])?;
        }
        s("dd_read", read.as_secs_f64(), &mut dr);
    }
    let _ = std::fs::remove_dir_all(scratch);
    let m = |v: Vec<f64>| crate::report::median(&v).expect("at least one repetition (checked)");
    let (full_bytes, delta_bytes) = (m(fb) as u64, m(db) as u64);
    let (restore_s, dd_read_s) = (m(rs), m(dr));
    Ok(StateCostFigures {
        keys,
        state_bytes,
        change_fraction: args.change_fraction,
        repeat: args.repeat,
        full_sync_s: m(fs),
        full_async_s: m(fa),
        full_bytes,
        delta_sync_s: m(ds),
        delta_async_s: m(da),
        delta_bytes,
        delta_share: delta_bytes as f64 / full_bytes as f64,
        restore_s,
        dd_read_s,
        restore_vs_dd_read: restore_s / dd_read_s,
        samples,
    })
}

/// `rill-bench state-cost`: measures, prints, optionally writes the JSON result.
pub fn command(args: &StateCostArgs) -> anyhow::Result<()> {
    let results = args.json.as_deref().and_then(Path::parent).filter(|p| !p.as_os_str().is_empty());
    let base = args.dir.clone().unwrap_or_else(|| results.unwrap_or(Path::new(".")).to_path_buf());
    let scratch = base.join(format!(".rill-state-cost-{}", std::process::id()));
    let f = measure(args, &scratch)?;
    let gb = f.state_bytes as f64 / 1e9;
    println!("state cost: {} keys, {:.2} GB of paged state, medians of {}:", f.keys, gb, f.repeat);
    println!(
        "  complete checkpoint: sync {:.3} ms ({:.3} ms per GB), encode + write {:.3} s, {} bytes",
        f.full_sync_s * 1e3,
        f.full_sync_s * 1e3 / gb,
        f.full_async_s,
        f.full_bytes
    );
    println!(
        "  after {:.1} % of the keys changed: sync {:.3} ms, encode + write {:.3} s, {} bytes ({:.2} % of complete)",
        f.change_fraction * 100.0,
        f.delta_sync_s * 1e3,
        f.delta_async_s,
        f.delta_bytes,
        f.delta_share * 100.0
    );
    println!(
        "  restore {:.3} s (read, verify, load), dd direct read {:.3} s: {:.2}x",
        f.restore_s, f.dd_read_s, f.restore_vs_dd_read
    );
    if let Some(json) = &args.json {
        crate::results::write_without_input(json, "state-cost", "paged-state", crate::results::Figures::StateCost(f))?;
    }
    Ok(())
}
