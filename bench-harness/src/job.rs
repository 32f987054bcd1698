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
}

/// The job options for `args`: the job's defaults where a flag is absent.
pub fn options(args: &RunArgs) -> JobOptions {
    // Field by field, so that options the jobs API adds later keep their defaults.
    let mut o = JobOptions::default();
    o.workers = args.workers;
    o.window_ms = args.window_ms.unwrap_or(o.window_ms);
    o.max_out_of_orderness_ms = args.max_out_of_orderness_ms.unwrap_or(o.max_out_of_orderness_ms);
    o.allowed_lateness_ms = args.allowed_lateness_ms.unwrap_or(o.allowed_lateness_ms);
    o.output.clone_from(&args.output);
    o.late_output.clone_from(&args.late_output);
    o.rate = args.rate;
    if let Some(us) = args.idle_spin_us {
        o.idle_spin = std::time::Duration::from_micros(us);
    }
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

/// Runs `workload`'s job as `args` describe.
pub fn run(workload: Workload, args: &RunArgs) -> rill::Result<JobResult> {
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
        r
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
