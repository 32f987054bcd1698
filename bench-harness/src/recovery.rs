//! `rill-bench recovery sensors|fraud`: how long a checkpointed job takes to recover from a
//! crash, measured from outside, the way an operator would see it.
//!
//! The harness runs its own binary as child processes:
//!
//! 1. an **uninterrupted** run (`run W --events N --output REF`, no checkpoints, no rate): the
//!    reference output and time;
//! 2. a **checkpointed** open-loop run (`--rate R --output OUT --checkpoint-dir CK
//!    --checkpoint-interval-ms MS`) killed with SIGKILL `--kill-after-ms` after its start (no
//!    destructor, no flush: a crash);
//! 3. the **resumed** run (the same arguments and `--resume`), during which `OUT`'s size is
//!    polled every millisecond.
//!
//! Figures: the time from starting the resumed process to `OUT` growing past the size it had
//! when the first run was killed (rows are published only when a checkpoint completes, so this
//! is restart + restore + replay + the first new checkpoint; a torn append at the kill, which
//! recovery truncates, only delays this moment), the resumed process's total time, and whether
//! the final `OUT` equals `REF` as a multiset of rows (exactly-once output). A mismatch is
//! recorded in the result and makes the command fail.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use crate::cli::{DEFAULT_SEED, Workload};
use crate::results::{Configuration, Figures, RecoveryFigures, ResultFile, RunFigures};

/// Arguments of `recovery`.
#[derive(Debug, Clone, Args)]
pub struct RecoveryArgs {
    /// The job: sensors or fraud (the Nexmark queries do not checkpoint yet).
    pub workload: Workload,
    /// Events (default: sensors 40,000,000; fraud 1,500,000).
    #[arg(long)]
    pub events: Option<u64>,
    /// Generator seed.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Offered rate of the checkpointed runs, events/s (default: sensors 10,000,000; fraud 300,000).
    #[arg(long)]
    pub rate: Option<u64>,
    /// When to kill the first run, ms after its start (default: at 40% of its expected time).
    #[arg(long)]
    pub kill_after_ms: Option<u64>,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Time between checkpoints, ms.
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_interval_ms: u64,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// A recovery measurement, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryPlan {
    /// The job.
    pub workload: Workload,
    /// Events.
    pub events: u64,
    /// Seed.
    pub seed: u64,
    /// Offered rate of the checkpointed runs, events/s.
    pub rate: u64,
    /// Kill moment, ms after the first run's start.
    pub kill_after_ms: u64,
    /// Worker threads.
    pub workers: usize,
    /// Checkpoint interval, ms.
    pub checkpoint_interval_ms: u64,
}

impl RecoveryArgs {
    /// The plan with defaults applied; refuses Nexmark and zero values.
    pub fn plan(&self) -> anyhow::Result<RecoveryPlan> {
        let (events, rate) = match self.workload {
            Workload::Sensors => (40_000_000, 10_000_000),
            Workload::Fraud => (1_500_000, 300_000),
            Workload::Nexmark => bail!("the Nexmark queries do not checkpoint yet: recovery runs sensors or fraud"),
        };
        let events = self.events.unwrap_or(events);
        let rate = self.rate.unwrap_or(rate);
        if events == 0 || rate == 0 || self.workers == 0 {
            bail!("--events, --rate and --workers must be positive");
        }
        let expected_ms = events.saturating_mul(1000) / rate;
        Ok(RecoveryPlan {
            workload: self.workload,
            events,
            seed: self.seed,
            rate,
            kill_after_ms: self.kill_after_ms.unwrap_or(expected_ms * 2 / 5),
            workers: self.workers,
            checkpoint_interval_ms: self.checkpoint_interval_ms,
        })
    }
}

fn s(x: impl ToString) -> String {
    x.to_string()
}

impl RecoveryPlan {
    /// The job's arguments shared by every run.
    fn job(&self) -> Vec<String> {
        let w = self.workload.name();
        vec![s("run"), s(w), s("--events"), s(self.events), s("--seed"), s(self.seed), s("--workers"), s(self.workers)]
    }

    /// The uninterrupted run's arguments.
    pub fn reference_args(&self, out: &Path) -> Vec<String> {
        let mut a = self.job();
        a.extend([s("--output"), s(out.display())]);
        a
    }

    /// The checkpointed run's arguments (`resume`: with `--resume`).
    pub fn checkpointed_args(&self, out: &Path, ck: &Path, resume: bool) -> Vec<String> {
        let mut a = self.job();
        a.extend([
            s("--rate"),
            s(self.rate),
            s("--output"),
            s(out.display()),
            s("--checkpoint-dir"),
            s(ck.display()),
            s("--checkpoint-interval-ms"),
            s(self.checkpoint_interval_ms),
        ]);
        if resume {
            a.push(s("--resume"));
        }
        a
    }
}

/// Runs `exe args` to completion (stdout to `log`), failing on a nonzero exit.
fn run_to_end(exe: &Path, args: &[String], log: &Path) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let status = Command::new(exe)
        .args(args)
        .stdout(File::create(log).with_context(|| format!("creating {}", log.display()))?)
        .stderr(Stdio::inherit())
        .status()
        .with_context(|| format!("starting {}", exe.display()))?;
    if !status.success() {
        bail!("rill-bench {} failed ({status}); its output is in {}", args.join(" "), log.display());
    }
    Ok(start.elapsed())
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The rows of a CSV file: the header first, then the data rows sorted.
pub fn sorted_rows(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if let Some(rows) = lines.get_mut(1..) {
        rows.sort_unstable();
    }
    Ok(lines)
}

/// The checkpoint a run's summary says it restored (`restored checkpoint N`).
fn restored_epoch(stdout: &str) -> Option<u64> {
    stdout.lines().find_map(|l| l.trim().strip_prefix("restored checkpoint ")?.split_whitespace().next()?.parse().ok())
}

/// Measures `plan` with the binary `exe`, in the (empty or absent) directory `dir`.
pub fn measure(exe: &Path, plan: &RecoveryPlan, dir: &Path) -> anyhow::Result<RecoveryFigures> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (reference, out, ck) = (dir.join("reference.csv"), dir.join("out.csv"), dir.join("checkpoints"));
    let uninterrupted = run_to_end(exe, &plan.reference_args(&reference), &dir.join("reference.log"))?;

    let mut first = Command::new(exe)
        .args(plan.checkpointed_args(&out, &ck, false))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    std::thread::sleep(Duration::from_millis(plan.kill_after_ms));
    if let Some(status) = first.try_wait()? {
        bail!(
            "the checkpointed run ended ({status}) before the kill at {} ms: raise --events or lower --kill-after-ms",
            plan.kill_after_ms
        );
    }
    // SIGKILL: no destructor, no flush, like a crash.
    first.kill().context("killing the first run")?;
    first.wait().context("waiting for the killed run")?;
    let at_kill = size(&out);

    let log = dir.join("resumed.log");
    let start = Instant::now();
    let mut resumed = Command::new(exe)
        .args(plan.checkpointed_args(&out, &ck, true))
        .stdout(File::create(&log).with_context(|| format!("creating {}", log.display()))?)
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let mut first_new = None;
    let status = loop {
        if first_new.is_none() && size(&out) > at_kill {
            first_new = Some(start.elapsed());
        }
        if let Some(status) = resumed.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let resumed_total = start.elapsed();
    if !status.success() {
        bail!("the resumed run failed ({status}); its output is in {}", log.display());
    }
    if first_new.is_none() && size(&out) > at_kill {
        first_new = Some(resumed_total);
    }
    let stdout = std::fs::read_to_string(&log).unwrap_or_default();
    let (got, want) = (sorted_rows(&out)?, sorted_rows(&reference)?);
    Ok(RecoveryFigures {
        kill_after_ms: plan.kill_after_ms,
        output_bytes_at_kill: at_kill,
        restored_epoch: restored_epoch(&stdout),
        first_new_output_ms: first_new.map(|d| d.as_secs_f64() * 1e3),
        resumed_total_s: resumed_total.as_secs_f64(),
        uninterrupted_s: uninterrupted.as_secs_f64(),
        output_rows: got.len().saturating_sub(1) as u64,
        output_matches: got == want,
    })
}

/// A fresh scratch directory under the system's temporary directory.
pub fn scratch_dir(what: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("rill-bench-{what}-{}-{nanos}", std::process::id()))
}

/// `recovery`: measures, prints, optionally writes the result JSON; fails if the output differs.
pub fn command(args: &RecoveryArgs) -> anyhow::Result<()> {
    let plan = args.plan()?;
    let exe = std::env::current_exe().context("locating the rill-bench binary")?;
    let dir = scratch_dir("recovery");
    println!(
        "recovery of {}: {} events at {} events/s, killed after {} ms, checkpoints every {} ms",
        plan.workload.name(),
        crate::summary::thousands(plan.events),
        crate::summary::thousands(plan.rate),
        plan.kill_after_ms,
        plan.checkpoint_interval_ms
    );
    let r = measure(&exe, &plan, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let r = r?;
    let ms = |v: Option<f64>| v.map_or_else(|| "never".to_owned(), |v| format!("{v:.1} ms"));
    println!("restored checkpoint:        {}", r.restored_epoch.map_or_else(|| "none".to_owned(), |e| e.to_string()));
    println!("first new output row after: {}", ms(r.first_new_output_ms));
    println!("resumed run, total:         {:.3} s", r.resumed_total_s);
    println!("uninterrupted run:          {:.3} s (no checkpoints, no rate)", r.uninterrupted_s);
    println!("output equals uninterrupted: {} ({} rows)", r.output_matches, r.output_rows);

    if let Some(json) = &args.json {
        let mut figures =
            RunFigures::new(plan.events, r.output_rows, 0, Duration::from_secs_f64(r.resumed_total_s), plan.workers);
        figures.recovery = Some(Box::new(r.clone()));
        let configuration = Configuration {
            input_kind: "generate".into(),
            input_path: None,
            events: Some(plan.events),
            seed: Some(plan.seed),
            late_fraction: None,
            workers: plan.workers,
            window_ms: None,
            max_out_of_orderness_ms: None,
            allowed_lateness_ms: None,
            rate: Some(plan.rate),
            output: None,
            late_output: None,
        };
        let results_dir = json.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        ResultFile::new("recovery", plan.workload.name(), results_dir, configuration, Figures::Run(figures))
            .write(json)
            .with_context(|| format!("writing {}", json.display()))?;
        println!("result written to {}", json.display());
    }
    if !r.output_matches {
        bail!("the resumed output differs from the uninterrupted run's");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_defaults_and_arguments() {
        let args = RecoveryArgs {
            workload: Workload::Sensors,
            events: None,
            seed: 42,
            rate: None,
            kill_after_ms: None,
            workers: 1,
            checkpoint_interval_ms: 1000,
            json: None,
        };
        let p = args.plan().expect("sensors plans");
        assert_eq!((p.events, p.rate, p.kill_after_ms), (40_000_000, 10_000_000, 1600));
        let a = p.checkpointed_args(Path::new("o.csv"), Path::new("ck"), true);
        assert_eq!(
            a.join(" "),
            "run sensors --events 40000000 --seed 42 --workers 1 --rate 10000000 --output o.csv \
             --checkpoint-dir ck --checkpoint-interval-ms 1000 --resume"
        );
        assert!(RecoveryArgs { workload: Workload::Nexmark, ..args }.plan().is_err());
    }

    #[test]
    fn restored_epoch_is_read_from_the_summary() {
        assert_eq!(restored_epoch("sensors\n  restored checkpoint 7\nthroughput: 1"), Some(7));
        assert_eq!(restored_epoch("throughput: 1"), None);
    }
}
