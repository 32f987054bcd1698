//! The JSON result file: one per `run` or `baseline` invocation (schema in `results/README.md`).
//!
//! Invariants: [`SCHEMA_VERSION`] changes whenever a field is renamed, removed or changes
//! meaning (adding an optional field does not); every file carries the git revision, the
//! machine, the configuration and the figures, so that a number never travels without the
//! context it was measured in. Figures only come from runs; nothing here computes or
//! extrapolates them.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::machine::{GitRevision, Machine, Resources};

/// Version of the result-file schema.
pub const SCHEMA_VERSION: u32 = 1;

/// One result file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultFile {
    /// Always [`SCHEMA_VERSION`] when written by this harness.
    pub schema_version: u32,
    /// The subcommand: `"run"` or `"baseline"`.
    pub command: String,
    /// The full command line, for reproduction.
    pub argv: Vec<String>,
    /// The workload: `"sensors"`, `"fraud"`.
    pub workload: String,
    /// When the run finished: UTC, RFC 3339 (`2025-01-31T12:34:56Z`).
    pub timestamp: String,
    /// Source revision of the harness and engine.
    pub git: GitRevision,
    /// The machine.
    pub machine: Machine,
    /// How the run was configured.
    pub configuration: Configuration,
    /// What was measured.
    pub figures: Figures,
}

/// A run's configuration. Fields that do not apply to a command are `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    /// `"generate"` or `"csv"`.
    pub input_kind: String,
    /// The CSV input file, when `input_kind` is `"csv"`.
    pub input_path: Option<String>,
    /// Events requested from the generator (generated input only).
    pub events: Option<u64>,
    /// Generator seed (generated input only).
    pub seed: Option<u64>,
    /// Late fraction given to the generator; `null` means the generator's default.
    pub late_fraction: Option<f64>,
    /// Worker threads.
    pub workers: usize,
    /// Tumbling window length, ms.
    pub window_ms: Option<u64>,
    /// Sources' bounded out-of-orderness, ms.
    pub max_out_of_orderness_ms: Option<u64>,
    /// Allowed lateness of windows, ms.
    pub allowed_lateness_ms: Option<u64>,
    /// Open-loop offered rate (events/s over all workers); `null` = as fast as possible.
    pub rate: Option<u64>,
    /// Result rows CSV, if written.
    pub output: Option<String>,
    /// Late records CSV, if written.
    pub late_output: Option<String>,
}

impl Configuration {
    /// The configuration of a measurement that runs no job on an input (`writer`, `state-cost`);
    /// the commands that run jobs fill in their input on top of it.
    pub fn without_input() -> Configuration {
        Configuration {
            input_kind: "none".to_owned(),
            input_path: None,
            events: None,
            seed: None,
            late_fraction: None,
            workers: 1,
            window_ms: None,
            max_out_of_orderness_ms: None,
            allowed_lateness_ms: None,
            rate: None,
            output: None,
            late_output: None,
        }
    }
}

/// The figures of a run, by command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Figures {
    /// An engine job (`run`).
    Run(RunFigures),
    /// The reference points (`baseline`).
    Baseline(BaselineFigures),
    /// The snapshot writer and restore read against `dd` (`writer`).
    Writer(crate::writer_bench::WriterFigures),
    /// Checkpoint costs of paged keyed state (`state-cost`).
    StateCost(crate::state_cost::StateCostFigures),
}

/// What a `run` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    /// Events read by the job's sources.
    pub events_in: u64,
    /// Result rows written.
    pub rows_out: u64,
    /// Late records diverted to the late output.
    pub late_rows: u64,
    /// Wall-clock time of the job, seconds.
    pub elapsed_s: f64,
    /// `events_in / elapsed_s`.
    pub throughput_events_per_s: f64,
    /// Throughput divided by the number of workers.
    pub throughput_per_worker_events_per_s: f64,
    /// Window latency (watermark passing a window's end to its row leaving the job), if sampled.
    pub window_latency: Option<LatencySummary>,
    /// Event latency (a source first reading, open loop: being scheduled to send, an event at or
    /// after a sampled row's newest contributing event time, to the row leaving the job), if
    /// sampled. Absent in files written before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_latency: Option<LatencySummary>,
    /// Process resources during the job.
    pub resources: Resources,
    /// Per-operator metrics at the end of the job.
    pub operators: Vec<OperatorFigures>,
    /// What checkpointing did, for a run with `--checkpoint-dir` or savepoint flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<Box<CheckpointFigures>>,
    /// What `rill-bench recovery` measured, for its resumed run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Box<RecoveryFigures>>,
}

/// Recovery figures: a checkpointed job killed with SIGKILL and resumed (`rill-bench recovery`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryFigures {
    /// When the first run was killed, ms after its start.
    pub kill_after_ms: u64,
    /// Bytes of published output when it was killed.
    pub output_bytes_at_kill: u64,
    /// The checkpoint the resumed run restored (`None`: none was complete, a fresh start).
    pub restored_epoch: Option<u64>,
    /// From starting the resumed process to its output growing past `output_bytes_at_kill`
    /// (its first new published row), ms; `None` if it never did.
    pub first_new_output_ms: Option<f64>,
    /// Wall-clock time of the resumed process, start to exit, seconds.
    pub resumed_total_s: f64,
    /// Wall-clock time of an uninterrupted run of the same job (no checkpoints, no rate), seconds.
    pub uninterrupted_s: f64,
    /// Rows of the final output.
    pub output_rows: u64,
    /// Whether the final output equals the uninterrupted run's as a multiset of rows.
    pub output_matches: bool,
}

/// Checkpoint figures of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointFigures {
    /// The interval between checkpoints, ms.
    pub interval_ms: u64,
    /// The checkpoint the run restored, if any.
    pub restored_epoch: Option<u64>,
    /// Checkpoints completed.
    pub completed: u64,
    /// From a checkpoint's trigger to its manifest being durable and its output published
    /// (nanoseconds in the fields' unit, as latencies).
    pub duration: Option<LatencySummary>,
    /// The longest synchronous pause of an operator instance per checkpoint.
    pub sync_pause: Option<LatencySummary>,
    /// Payload bytes written over all checkpoints.
    pub bytes_written: u64,
    /// Payload bytes referenced from earlier checkpoints (incremental), over all checkpoints.
    pub bytes_referenced: u64,
    /// Records held back by alignment, over all checkpoints.
    pub aligned_records: u64,
    /// Every checkpoint as the engine reported it.
    pub each: Vec<rill::snapshot::CompletedCheckpoint>,
}

impl CheckpointFigures {
    /// The figures of a run's checkpoint report.
    pub fn from_report(r: &rill::snapshot::CheckpointSummaryReport, interval_ms: u64) -> CheckpointFigures {
        let durations: Vec<u64> = r.completed.iter().map(|c| c.duration_micros * 1000).collect();
        let pauses: Vec<u64> = r.completed.iter().map(|c| c.max_sync_pause_micros * 1000).collect();
        CheckpointFigures {
            interval_ms,
            restored_epoch: r.restored_epoch,
            completed: r.completed.len() as u64,
            duration: LatencySummary::from_samples(&durations),
            sync_pause: LatencySummary::from_samples(&pauses),
            bytes_written: r.completed.iter().map(|c| c.bytes_written).sum(),
            bytes_referenced: r.completed.iter().map(|c| c.bytes_referenced).sum(),
            aligned_records: r.completed.iter().map(|c| c.aligned_records).sum(),
            each: r.completed.clone(),
        }
    }
}

impl RunFigures {
    /// Derives the rates from the raw counts; latency, resources and operators are to be
    /// filled in by the caller.
    pub fn new(events_in: u64, rows_out: u64, late_rows: u64, elapsed: Duration, workers: usize) -> Self {
        let elapsed_s = elapsed.as_secs_f64();
        let throughput = rate(events_in, elapsed);
        RunFigures {
            events_in,
            rows_out,
            late_rows,
            elapsed_s,
            throughput_events_per_s: throughput,
            throughput_per_worker_events_per_s: throughput / workers.max(1) as f64,
            window_latency: None,
            event_latency: None,
            resources: Resources::default(),
            operators: Vec::new(),
            checkpoints: None,
            recovery: None,
        }
    }
}

/// Events per second, 0 for a zero duration.
pub fn rate(events: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s > 0.0 { events as f64 / s } else { 0.0 }
}

/// Percentiles of a latency distribution, nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub samples: u64,
    /// Median.
    pub p50_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest sample.
    pub max_ns: u64,
}

impl LatencySummary {
    /// Summarises samples through an HDR histogram (3 significant digits); `None` without
    /// samples.
    pub fn from_samples(samples: &[u64]) -> Option<LatencySummary> {
        if samples.is_empty() {
            return None;
        }
        // Auto-resizing with 3 significant digits: `record` grows the range as needed.
        let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("3 significant digits is a valid precision");
        for &s in samples {
            if h.record(s.max(1)).is_err() {
                // Only values beyond what a resize can represent fail; keep them at the top.
                h.saturating_record(s);
            }
        }
        Some(LatencySummary {
            samples: h.len(),
            p50_ns: h.value_at_quantile(0.50),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
        })
    }
}

/// Per-operator metrics of a run: the engine's own snapshot type, which (de)serializes as is.
pub use rill::runtime::metrics::OperatorSnapshot as OperatorFigures;

/// What a `baseline` measured: one entry per reference point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineFigures {
    /// The reference points, in the order they ran.
    pub baselines: Vec<BaselineFigure>,
}

/// One reference point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineFigure {
    /// `"generator"`, `"timely"`, `"loop_generated"`, `"loop_csv"`.
    pub name: String,
    /// Events processed.
    pub events: u64,
    /// Worker threads.
    pub workers: usize,
    /// Wall-clock time, seconds.
    pub elapsed_s: f64,
    /// `events / elapsed_s`.
    pub events_per_s: f64,
    /// Window result rows (0 for the generator alone).
    pub rows_out: u64,
    /// Records dropped as late.
    pub late_rows: u64,
    /// Order-independent checksum of the result rows (0 for the generator alone).
    pub checksum: u64,
    /// CPU seconds (user + system) the process spent during this point.
    pub cpu_s: f64,
}

/// Writes the result of a measurement that runs no job (`writer`, `state-cost`) to `json`,
/// describing the machine and disk of `json`'s directory, and says where it went.
pub fn write_without_input(json: &Path, command: &str, workload: &str, figures: Figures) -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = json.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file = ResultFile::new(command, workload, dir, Configuration::without_input(), figures);
    file.write(json).with_context(|| format!("writing {}", json.display()))?;
    println!("result written to {}", json.display());
    Ok(())
}

impl ResultFile {
    /// A result stamped now, on this machine, at this revision; `results_dir` names the
    /// directory whose disk is described.
    pub fn new(
        command: &str,
        workload: &str,
        results_dir: &Path,
        configuration: Configuration,
        figures: Figures,
    ) -> ResultFile {
        ResultFile {
            schema_version: SCHEMA_VERSION,
            command: command.to_owned(),
            argv: std::env::args().collect(),
            workload: workload.to_owned(),
            timestamp: rfc3339_utc(SystemTime::now()),
            git: GitRevision::detect(),
            machine: Machine::detect(results_dir),
            configuration,
            figures,
        }
    }

    /// Writes the file (pretty JSON, trailing newline), creating its directory.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(path, text)
    }

    /// Reads a result file.
    pub fn read(path: &Path) -> std::io::Result<ResultFile> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

/// Formats a time as RFC 3339 in UTC with second precision, e.g. `2025-01-31T12:34:56Z`.
/// Times before 1970 are clamped to the Unix epoch.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_run() -> ResultFile {
        let mut figures = RunFigures::new(1_000_000, 720, 12, Duration::from_millis(250), 2);
        figures.window_latency = LatencySummary::from_samples(&[1_000, 2_000, 3_000, 1_000_000]);
        figures.event_latency = LatencySummary::from_samples(&[5_000, 7_000, 2_000_000]);
        figures.resources = Resources { peak_rss_bytes: Some(50 << 20), cpu_user_s: 0.4, cpu_system_s: 0.05 };
        figures.operators = vec![OperatorFigures {
            name: "window".into(),
            instances: 2,
            records_in: 1_000_000,
            records_out: 720,
            late_records: 12,
            watermark_ms: None,
            max_event_time_ms: 3_600_000,
            watermark_lag_ms: 0,
            state_bytes: 0,
            state_keys: 0,
            peak_state_bytes: 0,
            peak_state_keys: 0,
        }];
        let configuration = Configuration {
            input_kind: "generate".into(),
            input_path: None,
            events: Some(1_000_000),
            seed: Some(42),
            late_fraction: Some(0.01),
            workers: 2,
            window_ms: Some(10_000),
            max_out_of_orderness_ms: Some(1_000),
            allowed_lateness_ms: Some(0),
            rate: None,
            output: None,
            late_output: None,
        };
        ResultFile::new("run", "sensors", Path::new("."), configuration, Figures::Run(figures))
    }

    #[test]
    fn result_round_trips_through_json_with_machine_and_git() {
        let r = sample_run();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub").join("r.json");
        r.write(&path).expect("write result");
        let back = ResultFile::read(&path).expect("read result");
        assert_eq!(back, r);

        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["command"], "run");
        assert_eq!(v["figures"]["kind"], "run");
        assert_eq!(v["figures"]["throughput_events_per_s"], 4_000_000.0);
        assert_eq!(v["figures"]["throughput_per_worker_events_per_s"], 2_000_000.0);
        assert_eq!(v["figures"]["event_latency"]["samples"], 3);
        let max = v["figures"]["event_latency"]["max_ns"].as_u64().expect("event_latency.max_ns");
        assert!(max.abs_diff(2_000_000) * 1000 <= 2_000_000, "{max}: 3 significant digits");
        for field in ["cpu_model", "logical_cores", "memory_bytes", "kernel", "disk"] {
            assert!(v["machine"].get(field).is_some(), "machine.{field} missing");
        }
        let commit = v["git"]["commit"].as_str().expect("git.commit is a string");
        assert!(
            commit == "unknown" || (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
            "{commit}"
        );
        assert!(v["git"].get("dirty").is_some());
        let ts = v["timestamp"].as_str().expect("timestamp");
        assert_eq!(ts.len(), 20);
        assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T');
    }

    #[test]
    fn event_latency_is_optional_in_json() {
        let mut r = sample_run();
        let Figures::Run(f) = &mut r.figures else { unreachable!("sample_run is a run") };
        f.event_latency = None;
        let mut v: serde_json::Value = serde_json::to_value(&r).expect("serialize");
        assert!(v["figures"].get("event_latency").is_none(), "absent, not null, without samples");
        // A file written before event latency was measured reads back as "not measured".
        v["figures"].as_object_mut().expect("figures object").remove("event_latency");
        let back: ResultFile = serde_json::from_value(v).expect("deserialize");
        assert_eq!(back, r);
    }

    #[test]
    fn baseline_round_trips() {
        let figures = Figures::Baseline(BaselineFigures {
            baselines: vec![BaselineFigure {
                name: "timely".into(),
                events: 10,
                workers: 1,
                elapsed_s: 0.5,
                events_per_s: 20.0,
                rows_out: 3,
                late_rows: 0,
                checksum: u64::MAX,
                cpu_s: 0.5,
            }],
        });
        let mut r = sample_run();
        r.command = "baseline".into();
        r.figures = figures;
        let text = serde_json::to_string(&r).expect("serialize");
        assert!(text.contains("\"kind\":\"baseline\""));
        let back: ResultFile = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back, r);
    }

    #[test]
    fn rfc3339_known_instants() {
        let at = |s: u64| rfc3339_utc(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(at(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn latency_percentiles() {
        assert_eq!(LatencySummary::from_samples(&[]), None);
        let samples: Vec<u64> = (1..=10_000).map(|i| i * 1_000).collect();
        let l = LatencySummary::from_samples(&samples).expect("samples");
        assert_eq!(l.samples, 10_000);
        // 3 significant digits: within 0.1% of the exact order statistics.
        let close = |got: u64, want: u64| got.abs_diff(want) * 1000 <= want;
        assert!(close(l.p50_ns, 5_000_000), "{l:?}");
        assert!(close(l.p99_ns, 9_900_000), "{l:?}");
        assert!(close(l.p999_ns, 9_990_000), "{l:?}");
        assert!(close(l.max_ns, 10_000_000), "{l:?}");
    }
}
