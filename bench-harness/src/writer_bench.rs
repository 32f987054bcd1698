//! `rill-bench writer`: the snapshot writer and a restore read against `dd` on the same disk, in
//! the same run.
//!
//! Writes one checkpoint of `--bytes` (in chunks of `--chunk-bytes`, the size of a key group's
//! state) with each writer backend and times it to a durable manifest; runs
//! `dd if=/dev/zero bs=1M conv=fsync` of the same size; then reads the io_uring checkpoint back
//! the way a restore does (every chunk read and its checksum verified) and times
//! `dd of=/dev/null iflag=direct` over the same data file. Each measurement is repeated
//! `--repeat` times; the medians and their ratios are reported. The page cache is not dropped: the
//! writer uses `O_DIRECT` where it can, and the restore read is compared with a direct-I/O `dd`.
//!
//! Each round runs the io_uring writer and `dd` next to each other (alternating which goes
//! first), so that a shared disk's drifting load hits both alike; the ratio of every round and
//! their median are reported too, with the writer's own breakdown (writes, fsyncs, finish) on
//! stderr, and the CRC32C throughput of one thread is measured first (the writer checksums every
//! payload on its thread). `--write-only` skips the plain writer and the restore read;
//! `--direct-io false` writes through the page cache (both backends).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use rill::Epoch;
use rill::snapshot::{
    Backend, CheckpointReport, Chunk, ChunkBuf, ChunkName, Snapshot, SnapshotWriter, WriterOptions, crc32c,
};
use rill::state::KeyGroup;
use serde::{Deserialize, Serialize};

/// Arguments of `writer`.
#[derive(Debug, Clone, Args)]
pub struct WriterArgs {
    /// Bytes of state per checkpoint.
    #[arg(long, default_value_t = 1 << 30)]
    pub bytes: u64,
    /// Bytes per chunk (one key group's state).
    #[arg(long, default_value_t = 8 << 20)]
    pub chunk_bytes: u64,
    /// Repetitions of each measurement (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// io_uring: writes in flight.
    #[arg(long, default_value_t = WriterOptions::default().queue_depth)]
    pub queue_depth: usize,
    /// io_uring: bytes per staging buffer (a multiple of 4096).
    #[arg(long, default_value_t = WriterOptions::default().buffer_size)]
    pub buffer_size: usize,
    /// io_uring: open the data file with `O_DIRECT` (`false`: through the page cache).
    #[arg(long, default_value_t = WriterOptions::default().direct_io, action = clap::ArgAction::Set)]
    pub direct_io: bool,
    /// Measure only the io_uring writer against dd (no plain writer, no restore read).
    #[arg(long)]
    pub write_only: bool,
    /// Scratch directory on the disk to measure (default: under the results directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Write the result JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// What `writer` measured (seconds are medians over the repetitions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriterFigures {
    /// Bytes per checkpoint.
    pub bytes: u64,
    /// Bytes per chunk.
    pub chunk_bytes: u64,
    /// Repetitions.
    pub repeat: usize,
    /// io_uring writes in flight.
    #[serde(default)]
    pub queue_depth: usize,
    /// io_uring staging buffer bytes.
    #[serde(default)]
    pub buffer_size: usize,
    /// io_uring: whether the data file was asked to be opened with `O_DIRECT`.
    #[serde(default)]
    pub direct_io: bool,
    /// io_uring writer: submit to durable manifest, seconds.
    pub io_uring_s: f64,
    /// Plain pwrite writer, seconds (0 with `--write-only`).
    pub plain_s: f64,
    /// `dd bs=1M conv=fsync` of the same bytes, seconds.
    pub dd_write_s: f64,
    /// Reading and verifying every chunk of the checkpoint, seconds.
    pub restore_read_s: f64,
    /// `dd iflag=direct` over the same data file, seconds.
    pub dd_read_s: f64,
    /// `dd_write_s / io_uring_s`: the writer's share of the disk's bandwidth (target >= 0.9).
    pub io_uring_vs_dd: f64,
    /// `dd / io_uring` of each round (a writer run and the dd run next to it).
    #[serde(default)]
    pub io_uring_vs_dd_per_round: Vec<f64>,
    /// The median of `io_uring_vs_dd_per_round` (robust to the disk's load drifting).
    #[serde(default)]
    pub io_uring_vs_dd_median_of_rounds: f64,
    /// `dd_write_s / plain_s`.
    pub plain_vs_dd: f64,
    /// `restore_read_s / dd_read_s` (target < 2).
    pub restore_vs_dd_read: f64,
    /// CRC32C throughput of one thread, GB/s.
    #[serde(default)]
    pub crc32c_gb_per_s: f64,
    /// Every sample, seconds, in the order measured.
    pub samples: Vec<(String, f64)>,
}

fn median(v: Vec<f64>) -> f64 {
    crate::report::median(&v).expect("at least one repetition (checked)")
}

/// One timed checkpoint: submit of the first chunk to a durable manifest, and the writer's own
/// breakdown of it.
struct Timed {
    total: Duration,
    report: CheckpointReport,
}

/// Writes one checkpoint of `bytes` with `options` under `root`.
fn write_checkpoint(root: &Path, options: WriterOptions, bytes: u64, chunk_bytes: u64) -> anyhow::Result<Timed> {
    let _ = std::fs::remove_dir_all(root);
    let writer = SnapshotWriter::new(root, options).context("starting the snapshot writer")?;
    let chunks = bytes.div_ceil(chunk_bytes);
    // Payloads are prepared before the clock starts: the figure is the writer's, not ours.
    let payload: Vec<u8> = (0..chunk_bytes).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let bufs: Vec<ChunkBuf> = (0..chunks).map(|_| ChunkBuf::from_payload(&payload)).collect();
    let started = Instant::now();
    for (i, data) in bufs.into_iter().enumerate() {
        let name = ChunkName::new("bench", "state", KeyGroup((i % 128) as u32));
        writer.submit(Chunk { epoch: Epoch(1), name, data })?;
    }
    let report = writer.finish(Epoch(1))?;
    Ok(Timed { total: started.elapsed(), report })
}

/// Runs `dd` with `args` and returns its wall time.
pub(crate) fn dd(args: &[String]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = Command::new("dd").args(args).output().context("running dd")?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        bail!("dd {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(elapsed)
}

/// `dd if=/dev/zero bs=1M conv=fsync` of `mib` MiB into `scratch`; the file is removed after.
fn dd_write(scratch: &Path, mib: u64) -> anyhow::Result<f64> {
    let target = scratch.join("dd.bin");
    let t = dd(&[
        "if=/dev/zero".into(),
        format!("of={}", target.display()),
        "bs=1M".into(),
        format!("count={mib}"),
        "conv=fsync".into(),
    ])?
    .as_secs_f64();
    let _ = std::fs::remove_file(&target);
    Ok(t)
}

/// CRC32C throughput of this CPU on one thread, GB/s (the writer checksums every payload on
/// its thread).
fn crc32c_throughput() -> f64 {
    let data: Vec<u8> = (0u32..(64 << 20)).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut best = f64::INFINITY;
    let mut sink = 0u32;
    for _ in 0..3 {
        let started = Instant::now();
        sink ^= crc32c(&data);
        best = best.min(started.elapsed().as_secs_f64());
    }
    std::hint::black_box(sink);
    data.len() as f64 / best / 1e9
}

/// Runs the measurements; see the module docs.
pub fn measure(args: &WriterArgs, scratch: &Path) -> anyhow::Result<WriterFigures> {
    if args.bytes == 0 || args.chunk_bytes == 0 || args.repeat == 0 {
        bail!("--bytes, --chunk-bytes and --repeat must be positive");
    }
    std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let crc32c_gb_per_s = crc32c_throughput();
    eprintln!("crc32c on one thread: {crc32c_gb_per_s:.2} GB/s");
    let mib = args.bytes.div_ceil(1 << 20);
    let mut samples = Vec::new();
    let (mut uring_s, mut plain_s, mut ddw, mut restore, mut ddr) = (vec![], vec![], vec![], vec![], vec![]);
    let mut ratios = Vec::new();
    let uring_root = scratch.join("uring");
    let uring = WriterOptions {
        backend: Backend::IoUring,
        queue_depth: args.queue_depth,
        buffer_size: args.buffer_size,
        direct_io: args.direct_io,
        ..WriterOptions::default()
    };
    for round in 0..args.repeat {
        // Alternate which goes first, so that neither always meets the other's writeback.
        let (t_uring, t_dd) = if round % 2 == 0 {
            let timed = write_checkpoint(&uring_root, uring.clone(), args.bytes, args.chunk_bytes)?;
            (timed, dd_write(scratch, mib)?)
        } else {
            let t_dd = dd_write(scratch, mib)?;
            (write_checkpoint(&uring_root, uring.clone(), args.bytes, args.chunk_bytes)?, t_dd)
        };
        let t = t_uring.total.as_secs_f64();
        let r = &t_uring.report;
        eprintln!(
            "round {round}: io_uring {t:.3} s (writes {:.3} s, fsyncs {:.3} s, finish {:.3} s; registered {}, \
             O_DIRECT {}), dd {t_dd:.3} s: {:.0}% of dd",
            r.write_time.as_secs_f64(),
            r.sync_time.as_secs_f64(),
            r.finish_time.as_secs_f64(),
            r.registered_buffers,
            r.direct_io,
            100.0 * t_dd / t
        );
        samples.push(("io_uring".to_owned(), t));
        uring_s.push(t);
        samples.push(("dd_write".to_owned(), t_dd));
        ddw.push(t_dd);
        ratios.push(t_dd / t);
        if args.write_only {
            continue;
        }
        let plain = WriterOptions { backend: Backend::Plain, direct_io: args.direct_io, ..WriterOptions::default() };
        let t = write_checkpoint(&scratch.join("plain"), plain, args.bytes, args.chunk_bytes)?.total.as_secs_f64();
        samples.push(("plain".to_owned(), t));
        plain_s.push(t);
        // Restore: open, read and verify every chunk.
        let started = Instant::now();
        let snapshot = Snapshot::open(&uring_root)?;
        let mut read = 0u64;
        for c in snapshot.chunks() {
            read += snapshot.read_chunk(c)?.len() as u64;
        }
        let t = started.elapsed().as_secs_f64();
        if read < args.bytes {
            bail!("restore read {read} of {} bytes", args.bytes);
        }
        samples.push(("restore_read".to_owned(), t));
        restore.push(t);
        let data = uring_root.join("chk-00000000000000000001").join("data.chunks");
        let t = dd(&[format!("if={}", data.display()), "of=/dev/null".into(), "bs=1M".into(), "iflag=direct".into()])?
            .as_secs_f64();
        samples.push(("dd_read".to_owned(), t));
        ddr.push(t);
    }
    let _ = std::fs::remove_dir_all(scratch);
    let or_zero = |v: Vec<f64>| if v.is_empty() { 0.0 } else { median(v) };
    let (io_uring_s, dd_write_s) = (median(uring_s), median(ddw));
    let (plain_s, restore_read_s, dd_read_s) = (or_zero(plain_s), or_zero(restore), or_zero(ddr));
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Ok(WriterFigures {
        bytes: args.bytes,
        chunk_bytes: args.chunk_bytes,
        repeat: args.repeat,
        queue_depth: args.queue_depth,
        buffer_size: args.buffer_size,
        direct_io: args.direct_io,
        io_uring_s,
        plain_s,
        dd_write_s,
        restore_read_s,
        dd_read_s,
        io_uring_vs_dd: dd_write_s / io_uring_s,
        io_uring_vs_dd_per_round: ratios.clone(),
        io_uring_vs_dd_median_of_rounds: median(ratios),
        plain_vs_dd: ratio(dd_write_s, plain_s),
        restore_vs_dd_read: ratio(restore_read_s, dd_read_s),
        crc32c_gb_per_s,
        samples,
    })
}

/// `rill-bench writer`: measures, prints, optionally writes the JSON result.
pub fn command(args: &WriterArgs) -> anyhow::Result<()> {
    let results = args.json.as_deref().and_then(Path::parent).filter(|p| !p.as_os_str().is_empty());
    let base = args.dir.clone().unwrap_or_else(|| results.unwrap_or(Path::new(".")).to_path_buf());
    let scratch = base.join(format!(".rill-writer-bench-{}", std::process::id()));
    let f = measure(args, &scratch)?;
    let gb = f.bytes as f64 / 1e9;
    println!("snapshot writer, {:.2} GB in {} B chunks, medians of {}:", gb, f.chunk_bytes, f.repeat);
    println!(
        "  io_uring   {:.3} s  {:.2} GB/s  ({:.0}% of dd)",
        f.io_uring_s,
        gb / f.io_uring_s,
        100.0 * f.io_uring_vs_dd
    );
    let rounds: Vec<String> = f.io_uring_vs_dd_per_round.iter().map(|r| format!("{:.0}%", 100.0 * r)).collect();
    println!("             per round: {} (median {:.0}%)", rounds.join(" "), 100.0 * f.io_uring_vs_dd_median_of_rounds);
    if f.plain_s > 0.0 {
        println!("  plain      {:.3} s  {:.2} GB/s  ({:.0}% of dd)", f.plain_s, gb / f.plain_s, 100.0 * f.plain_vs_dd);
    }
    println!("  dd fsync   {:.3} s  {:.2} GB/s", f.dd_write_s, gb / f.dd_write_s);
    if f.restore_read_s > 0.0 {
        println!(
            "  restore    {:.3} s  (read + verify), dd direct read {:.3} s: {:.2}x",
            f.restore_read_s, f.dd_read_s, f.restore_vs_dd_read
        );
    }
    if let Some(json) = &args.json {
        crate::results::write_without_input(json, "writer", "snapshot-writer", crate::results::Figures::Writer(f))?;
    }
    Ok(())
}
