//! The bridge to the jobs of `rill_workloads::jobs`: command-line arguments to `JobOptions` and
//! `Input`, and a finished job's `JobReport` to the harness's own [`JobResult`].
//!
//! This is the only module that knows the jobs API; the rest of the harness works on
//! [`JobResult`].

use std::time::Duration;

use rill_workloads::jobs::{self, Input, JobOptions, JobReport};

use crate::cli::{InputSpec, RunArgs, Workload};
use crate::results::OperatorFigures;

/// The job parameters a run used, after defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedOptions {
    /// Tumbling window length, ms.
    pub window_ms: u64,
    /// Sources' bounded out-of-orderness, ms.
    pub max_out_of_orderness_ms: u64,
    /// Allowed lateness, ms.
    pub allowed_lateness_ms: u64,
}

/// What a finished job reported, in the harness's terms.
#[derive(Debug, Clone)]
pub struct JobResult {
    /// Events read by the sources.
    pub events_in: u64,
    /// Result rows.
    pub rows_out: u64,
    /// Late records.
    pub late_rows: u64,
    /// Wall-clock time of the job.
    pub elapsed: Duration,
    /// Per-operator metrics.
    pub operators: Vec<OperatorFigures>,
    /// One sample per window result: ns from the watermark passing the window's end to the
    /// row leaving the job.
    pub window_latency_ns: Vec<u64>,
    /// Sampled rows: ns from a source first reading an event at or after the row's newest
    /// contributing event time to the row leaving the job (an upper bound).
    pub event_latency_ns: Vec<u64>,
    /// What checkpointing did, for a checkpointed run.
    pub checkpoints: Option<rill::snapshot::CheckpointSummaryReport>,
    /// Set when `--resume` found a finished job's final checkpoint: `(epoch, directory)`.
    pub already_finished: Option<(u64, std::path::PathBuf)>,
}

/// The job options for `args`: the job's defaults where a flag is absent.
pub fn options(args: &RunArgs) -> JobOptions {
    // Field by field, so that options the jobs API adds later keep their defaults.
    let mut o = JobOptions::default();
    o.workers = args.workers;
    o.window_ms = args.window_ms.unwrap_or(o.window_ms);
    let max_ooo_default = match args.workload {
        Workload::Nexmark => jobs::nexmark::WATERMARK_DELAY_MS,
        Workload::Sensors | Workload::Fraud => o.max_out_of_orderness_ms,
    };
    o.max_out_of_orderness_ms = args.max_out_of_orderness_ms.unwrap_or(max_ooo_default);
    o.allowed_lateness_ms = args.allowed_lateness_ms.unwrap_or(o.allowed_lateness_ms);
    o.output.clone_from(&args.output);
    o.late_output.clone_from(&args.late_output);
    o.rate = args.rate;
    if let Some(us) = args.idle_spin_us {
        o.idle_spin = std::time::Duration::from_micros(us);
    }
    o.checkpoint = args.checkpoint.config();
    o
}

/// The window parameters `options(args)` resolves to.
pub fn resolved(args: &RunArgs) -> ResolvedOptions {
    let o = options(args);
    ResolvedOptions {
        window_ms: o.window_ms,
        max_out_of_orderness_ms: o.max_out_of_orderness_ms,
        allowed_lateness_ms: o.allowed_lateness_ms,
    }
}

/// The job input for `spec` (the generator's late fraction when none was given).
pub fn input(workload: Workload, spec: &InputSpec) -> Input {
    match spec {
        InputSpec::Generate { events, seed, late_fraction } => Input::Generate {
            events: *events,
            seed: *seed,
            late_fraction: late_fraction.unwrap_or_else(|| crate::workload::default_late_fraction(workload)),
        },
        InputSpec::Csv(path) => Input::Csv(path.clone()),
    }
}

/// Checks the flags that depend on the workload: `--query` is required for nexmark and refused
/// otherwise; nexmark refuses the window, lateness and sensors-shape flags.
pub fn check_flags(workload: Workload, args: &RunArgs) -> rill::Result<()> {
    let refuse = |flag: &str| Err(rill::Error::Config(format!("{flag} does not apply to nexmark")));
    match (workload, args.query) {
        (Workload::Nexmark, None) => Err(rill::Error::Config("nexmark needs --query (q0, q1 or q2)".into())),
        (Workload::Nexmark, Some(_)) if args.input.late_fraction.is_some() => refuse("--late-fraction"),
        (Workload::Nexmark, Some(_)) if args.window_ms.is_some() => refuse("--window-ms"),
        (Workload::Nexmark, Some(_)) if args.allowed_lateness_ms.is_some() => refuse("--allowed-lateness-ms"),
        (Workload::Nexmark, Some(_)) if args.late_output.is_some() => refuse("--late-output"),
        (Workload::Nexmark, Some(_)) if args.shape.is_set() => refuse("--rooms/--zipf-exponent"),
        (Workload::Nexmark, Some(_)) => Ok(()),
        (_, Some(_)) => Err(rill::Error::Config(format!("--query applies to nexmark, not {}", workload.name()))),
        (_, None) => Ok(()),
    }
}

/// The name a run is recorded under: the workload's, with the query for nexmark (`nexmark-q1`).
pub fn run_name(workload: Workload, args: &RunArgs) -> String {
    match (workload, args.query) {
        (Workload::Nexmark, Some(q)) => format!("{}-{}", workload.name(), q.name()),
        _ => workload.name().to_owned(),
    }
}

/// Runs `workload`'s job as `args` describe.
pub fn run(workload: Workload, args: &RunArgs) -> rill::Result<JobResult> {
    check_flags(workload, args)?;
    let opts = options(args);
    let mut input = input(workload, &args.input.resolve());
    if args.shape.is_set() {
        input = match (workload, input) {
            (Workload::Sensors, Input::Generate { events, seed, late_fraction }) => {
                let mut config = crate::workload::sensors_config(events, seed, Some(late_fraction));
                args.shape.apply(&mut config);
                Input::Sensors(config)
            }
            _ => {
                return Err(rill::Error::Config("--rooms and --zipf-exponent apply to generated sensors input".into()));
            }
        };
    }
    let report = match workload {
        Workload::Sensors => jobs::run_sensors(&opts, &input)?,
        Workload::Fraud => jobs::run_fraud(&opts, &input)?,
        Workload::Nexmark => {
            let query = args.query.ok_or_else(|| rill::Error::Config("nexmark needs --query".into()))?;
            jobs::nexmark::run_nexmark(&opts, &input, query)?
        }
    };
    Ok(from_report(report))
}

fn from_report(r: JobReport) -> JobResult {
    JobResult {
        events_in: r.events_in,
        rows_out: r.rows_out,
        late_rows: r.late_rows,
        elapsed: r.elapsed,
        operators: r.metrics,
        window_latency_ns: r.window_latency_ns,
        event_latency_ns: r.event_latency_ns,
        checkpoints: r.checkpoints,
        already_finished: r.already_finished,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use rill::csv::{CsvRecord, CsvRow};
    use rill_workloads::jobs::sensors::{RoomWindow, average_milli};

    use super::*;
    use crate::baseline::reference;
    use crate::baseline::window::WindowParams;
    use crate::cli::{Cli, Command};
    use crate::workload::{SensorsSource, sensors_config};

    fn run_args(args: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(["rill-bench", "run"].iter().chain(args)).expect("valid command line");
        let Command::Run(r) = cli.command else { panic!("expected run") };
        *r
    }

    #[test]
    fn flags_become_job_options() {
        let d = JobOptions::default();
        let o = options(&run_args(&["sensors"]));
        assert_eq!(o, JobOptions { workers: 1, ..d.clone() });
        let o = options(&run_args(&[
            "sensors",
            "--workers",
            "2",
            "--window-ms",
            "5000",
            "--max-out-of-orderness-ms",
            "10",
            "--allowed-lateness-ms",
            "20",
            "--rate",
            "1000",
            "--output",
            "o.csv",
        ]));
        assert_eq!((o.workers, o.window_ms, o.max_out_of_orderness_ms, o.allowed_lateness_ms), (2, 5000, 10, 20));
        assert_eq!((o.rate, o.output.as_deref(), o.late_output.as_deref()), (Some(1000), Some("o.csv".as_ref()), None));
        assert_eq!(
            input(Workload::Sensors, &run_args(&["sensors", "--events", "9"]).input.resolve()),
            Input::Generate {
                events: 9,
                seed: 42,
                late_fraction: crate::workload::default_late_fraction(Workload::Sensors)
            }
        );
    }

    #[test]
    fn query_flag_is_checked_per_workload() {
        let err = run(Workload::Sensors, &run_args(&["sensors", "--query", "q0", "--events", "10"]))
            .expect_err("--query is refused for sensors");
        assert!(err.to_string().contains("--query"), "{err}");
        let err = run(Workload::Nexmark, &run_args(&["nexmark", "--events", "10"])).expect_err("--query is required");
        assert!(err.to_string().contains("--query"), "{err}");
        for extra in [["--late-fraction", "0.1"], ["--window-ms", "10"], ["--late-output", "l.csv"]] {
            let mut args = vec!["nexmark", "--query", "q1", "--events", "10"];
            args.extend(extra);
            assert!(run(Workload::Nexmark, &run_args(&args)).is_err(), "{args:?} is refused");
        }
        let a = run_args(&["nexmark", "--query", "q1"]);
        assert_eq!(
            (options(&a).max_out_of_orderness_ms, run_name(Workload::Nexmark, &a).as_str()),
            (4_000, "nexmark-q1")
        );
    }

    /// `run nexmark` on generated input and on `gen nexmark`'s directory: same rows, counts.
    #[test]
    fn nexmark_runs_from_generator_and_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let bids = crate::workload::export(Workload::Nexmark, 50_000, 42, None, &data).expect("gen nexmark");
        assert_eq!(bids, 50_000);
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        let (a_arg, b_arg) = (a.to_str().expect("utf-8"), b.to_str().expect("utf-8"));
        let data_arg = data.to_str().expect("utf-8");
        let r1 =
            run(Workload::Nexmark, &run_args(&["nexmark", "--query", "q2", "--events", "50000", "--output", a_arg]))
                .expect("generated q2 runs");
        let r2 = run(
            Workload::Nexmark,
            &run_args(&["nexmark", "--query", "q2", "--input", data_arg, "--workers", "2", "--output", b_arg]),
        )
        .expect("csv q2 runs");
        assert_eq!((r1.events_in, r2.events_in), (50_000, 50_000 / 50 * 46));
        assert_eq!((r1.late_rows, r2.late_rows), (0, 0));
        assert!(r1.rows_out > 0);
        assert_eq!(r1.rows_out, r2.rows_out);
        let sorted = |p: &std::path::Path| {
            let mut v: Vec<String> = std::fs::read_to_string(p).expect("output").lines().map(str::to_owned).collect();
            v[1..].sort();
            v
        };
        let rows = sorted(&a);
        assert_eq!(rows[0], "auction,price");
        assert_eq!(rows, sorted(&b));
    }

    /// The engine's sensors job and the baselines' naive reference compute the same windows
    /// (on-time input, so the lateness model does not enter).
    #[test]
    fn engine_rows_equal_the_reference() {
        let n = 300_000;
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("rows.csv");
        let out_arg = out.to_str().expect("utf-8 temp path");
        let r = run(Workload::Sensors, &run_args(&["sensors", "--events", "300000", "--output", out_arg]))
            .expect("sensors job runs");
        assert_eq!((r.events_in, r.late_rows), (n, 0));

        let src = SensorsSource::new(sensors_config(n, 42, None)).expect("valid config");
        let mut events = Vec::new();
        crate::baseline::SensorSource::fill(&src, 0..n, &mut events);
        let events: Vec<_> = events.iter().map(<SensorsSource as crate::baseline::SensorSource>::fields).collect();
        let (want, late) = reference::window_rows(&events, 1, &WindowParams::default());
        assert_eq!(late, 0);
        assert_eq!(r.rows_out, want.len() as u64);

        let text = std::fs::read_to_string(&out).expect("job output");
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(RoomWindow::header().as_str()));
        let mut got: Vec<RoomWindow> =
            lines.map(|l| RoomWindow::parse_csv(&mut CsvRow::new(l.as_bytes())).expect("valid row")).collect();
        got.sort();
        let want: Vec<RoomWindow> = want
            .iter()
            .map(|w| RoomWindow {
                room: w.room,
                window_start_ms: w.window_start,
                window_end_ms: w.window_start + 10_000,
                count: w.count,
                avg_milli: average_milli(w.sum, w.count),
                min_dc: w.min,
                max_dc: w.max,
            })
            .collect();
        assert_eq!(got, want);

        let r2 = run(Workload::Sensors, &run_args(&["sensors", "--events", "300000", "--workers", "2"]))
            .expect("sensors job runs on 2 workers");
        assert_eq!((r2.events_in, r2.rows_out, r2.late_rows), (n, want.len() as u64, 0));
    }
}
