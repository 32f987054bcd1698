//! `rill-bench suite [--quick] [--results DIR]`: the standard benchmark set, one child process
//! of this binary per step, each writing `DIR/<step>.json`.
//!
//! The plan ([`plan`]) is a pure function of `--quick` and the two directories, so that the
//! command lines are tested without running them. Only the open-loop latency steps depend on
//! a measurement: their rates are a percentage of the 1-worker throughput an earlier step
//! measured (read back from that step's JSON), resolved just before each open-loop step runs.
//!
//! Steps: sensors generated on 1 and 2 workers; a CSV generated into a scratch directory and
//! sensors read from it on 1 and 2 workers; fraud; every Nexmark query; the baselines (sensors,
//! Nexmark q5 and q7); sensors with checkpoints every 1000 ms and without, on the same events,
//! repeated with the order alternating (on/off, off/on, ...) so that drift of the shared machine
//! affects both; the latency sweep at 10/25/50/75% of the 1-worker maximum; Nexmark q0 and q5
//! open loop at 50% of their own 1-worker maximum (event latency, and q5's window latency); one
//! recovery measurement. A failing step is reported and the suite goes on; the command fails at the end
//! if any step failed.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;

use crate::results::{Figures, ResultFile};

/// Arguments of `suite`.
#[derive(Debug, Clone, Args)]
pub struct SuiteArgs {
    /// A short version (about 2 minutes) with small event counts.
    #[arg(long)]
    pub quick: bool,
    /// Where the result files go.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Print the plan and stop.
    #[arg(long)]
    pub dry_run: bool,
}

/// The step whose throughput the sensors latency sweep's rates are relative to.
pub const MAX_RATE_STEP: &str = "sensors_generated_w1";

/// The Nexmark queries run open loop: `(query, its closed-loop step, percentage of that step's
/// throughput)`.
const NEXMARK_LATENCY: [(&str, &str, u64); 2] = [("q0", "nexmark_q0", 50), ("q5", "nexmark_q5", 50)];

/// An open-loop step's offered load, resolved at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenLoop {
    /// The step whose measured throughput the rate is relative to.
    pub of: &'static str,
    /// Offered rate as a percentage of that step's throughput.
    pub percent: u64,
    /// Planned duration: `--events` becomes rate × seconds.
    pub seconds: u64,
}

/// One step: `rill-bench ARGS` (plus `--json RESULTS/NAME.json` when `json`).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The step's name (and result file's stem).
    pub name: String,
    /// The arguments, without `--json` and, for open-loop steps, without `--rate`/`--events`.
    pub args: Vec<String>,
    /// Whether the step writes a result file.
    pub json: bool,
    /// Open-loop load, resolved from the measured maximum.
    pub open_loop: Option<OpenLoop>,
    /// Planned duration, seconds (from throughputs measured on this 2-core machine).
    pub estimate_s: f64,
}

/// Event counts of a plan.
struct Sizes {
    sensors: u64,
    csv: u64,
    fraud: u64,
    nexmark: u64,
    checkpointed: u64,
    repetitions: usize,
    latency_s: u64,
    nexmark_latency_s: u64,
    recovery: (u64, u64),
}

const FULL: Sizes = Sizes {
    sensors: 100_000_000,
    csv: 20_000_000,
    fraud: 5_000_000,
    nexmark: 10_000_000,
    checkpointed: 200_000_000,
    repetitions: 3,
    latency_s: 10,
    nexmark_latency_s: 5,
    recovery: (40_000_000, 10_000_000),
};

const QUICK: Sizes = Sizes {
    sensors: 10_000_000,
    csv: 2_000_000,
    fraud: 500_000,
    nexmark: 1_000_000,
    checkpointed: 40_000_000,
    repetitions: 2,
    latency_s: 2,
    nexmark_latency_s: 2,
    recovery: (15_000_000, 5_000_000),
};

/// Approximate throughputs on the reference machine (events/s), for the estimate only.
const SENSORS_RATE: f64 = 30e6;
const CSV_RATE: f64 = 10e6;
const FRAUD_RATE: f64 = 0.45e6;
const NEXMARK_RATE: f64 = 1.5e6;
/// Process start, machine detection and result writing, seconds per step.
const STEP_OVERHEAD_S: f64 = 0.5;

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn step(name: &str, a: Vec<String>, events: u64, rate: f64) -> Step {
    Step {
        name: name.to_owned(),
        args: a,
        json: true,
        open_loop: None,
        estimate_s: events as f64 / rate + STEP_OVERHEAD_S,
    }
}

/// The steps of the suite; `data` is the scratch directory for the CSV and checkpoints.
pub fn plan(quick: bool, data: &Path) -> Vec<Step> {
    let z = if quick { QUICK } else { FULL };
    let n = |v: u64| v.to_string();
    let csv = data.join("sensors.csv").display().to_string();
    let mut steps = Vec::new();
    for w in ["1", "2"] {
        let a = args(&["run", "sensors", "--events", &n(z.sensors), "--workers", w]);
        steps.push(step(&format!("sensors_generated_w{w}"), a, z.sensors, SENSORS_RATE));
    }
    let gen_csv = args(&["gen", "sensors", "--events", &n(z.csv), "--out", &csv]);
    steps.push(Step { json: false, ..step("gen_sensors_csv", gen_csv, z.csv, CSV_RATE) });
    for w in ["1", "2"] {
        let a = args(&["run", "sensors", "--input", &csv, "--workers", w]);
        steps.push(step(&format!("sensors_csv_w{w}"), a, z.csv, CSV_RATE));
    }
    steps.push(step("fraud_generated_w1", args(&["run", "fraud", "--events", &n(z.fraud)]), z.fraud, FRAUD_RATE));
    for q in rill_workloads::jobs::nexmark::Query::ALL {
        let a = args(&["run", "nexmark", "--query", q.name(), "--events", &n(z.nexmark)]);
        steps.push(step(&format!("nexmark_{q}"), a, z.nexmark, NEXMARK_RATE));
    }
    let a = args(&["baseline", "sensors", "--events", &n(z.sensors)]);
    steps.push(step("baseline_sensors_generated", a, z.sensors, SENSORS_RATE / 3.0));
    for q in crate::baseline::nexmark::QUERIES {
        let a = args(&["baseline", "nexmark", "--query", q.name(), "--events", &n(z.nexmark)]);
        steps.push(step(&format!("baseline_nexmark_{q}"), a, z.nexmark, NEXMARK_RATE));
    }
    for rep in 1..=z.repetitions {
        let on = |s: &mut Vec<Step>| {
            let ck = data.join(format!("checkpoints-{rep}")).display().to_string();
            let a = args(&[
                "run",
                "sensors",
                "--events",
                &n(z.checkpointed),
                "--checkpoint-dir",
                &ck,
                "--checkpoint-interval-ms",
                "1000",
            ]);
            s.push(step(&format!("sensors_checkpoints_on_rep{rep}"), a, z.checkpointed, SENSORS_RATE));
        };
        let off = |s: &mut Vec<Step>| {
            let a = args(&["run", "sensors", "--events", &n(z.checkpointed)]);
            s.push(step(&format!("sensors_checkpoints_off_rep{rep}"), a, z.checkpointed, SENSORS_RATE));
        };
        if rep % 2 == 1 {
            on(&mut steps);
            off(&mut steps);
        } else {
            off(&mut steps);
            on(&mut steps);
        }
    }
    for percent in [10, 25, 50, 75] {
        steps.push(Step {
            name: format!("sensors_latency_{percent}pct"),
            args: args(&["run", "sensors", "--workers", "1", "--window-ms", "1000", "--idle-spin-us", "1000"]),
            json: true,
            open_loop: Some(OpenLoop { of: MAX_RATE_STEP, percent, seconds: z.latency_s }),
            estimate_s: z.latency_s as f64 + STEP_OVERHEAD_S,
        });
    }
    for (q, of, percent) in NEXMARK_LATENCY {
        steps.push(Step {
            name: format!("nexmark_{q}_latency_{percent}pct"),
            args: args(&["run", "nexmark", "--query", q, "--workers", "1", "--idle-spin-us", "1000"]),
            json: true,
            open_loop: Some(OpenLoop { of, percent, seconds: z.nexmark_latency_s }),
            estimate_s: z.nexmark_latency_s as f64 + STEP_OVERHEAD_S,
        });
    }
    let (events, rate) = z.recovery;
    let a = args(&["recovery", "sensors", "--events", &n(events), "--rate", &n(rate)]);
    // Uninterrupted run, 40% of a checkpointed run, then all of it again (replay).
    let estimate = events as f64 / SENSORS_RATE + 1.4 * events as f64 / rate as f64 + 3.0 * STEP_OVERHEAD_S;
    steps.push(Step { estimate_s: estimate, ..step("recovery_sensors", a, 0, 1.0) });
    steps
}

impl Step {
    /// The full command line for a measured maximum rate (`None`: shown as a placeholder).
    pub fn command_line(&self, results: &Path, max_rate: Option<f64>) -> Vec<String> {
        let mut a = self.args.clone();
        if let Some(o) = self.open_loop {
            match max_rate {
                Some(max) => {
                    let rate = ((max * o.percent as f64 / 100.0) as u64).max(1);
                    a.extend(["--rate".into(), rate.to_string(), "--events".into(), (rate * o.seconds).to_string()]);
                }
                None => a.extend([
                    "--rate".into(),
                    format!("<{}% of {}>", o.percent, o.of),
                    "--events".into(),
                    format!("<rate x {} s>", o.seconds),
                ]),
            }
        }
        if self.json {
            a.extend(["--json".into(), results.join(format!("{}.json", self.name)).display().to_string()]);
        }
        a
    }
}

/// The throughput recorded in a run's result file.
fn throughput(path: &Path) -> anyhow::Result<f64> {
    let file = ResultFile::read(path).with_context(|| format!("reading {}", path.display()))?;
    match file.figures {
        Figures::Run(f) if f.throughput_events_per_s > 0.0 => Ok(f.throughput_events_per_s),
        _ => bail!("{} records no run throughput", path.display()),
    }
}

/// `suite`: prints the plan and its estimate, runs every step, reports failures at the end.
pub fn command(args: &SuiteArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the rill-bench binary")?;
    let data = crate::recovery::scratch_dir("suite");
    let steps = plan(args.quick, &data);
    let total: f64 = steps.iter().map(|s| s.estimate_s).sum();
    println!(
        "suite{}: {} steps, about {:.1} min; results in {}",
        if args.quick { " --quick" } else { "" },
        steps.len(),
        total / 60.0,
        args.results.display()
    );
    for (i, s) in steps.iter().enumerate() {
        println!(
            "  {:>2}. ~{:>5.1} s  rill-bench {}",
            i + 1,
            s.estimate_s,
            s.command_line(&args.results, None).join(" ")
        );
    }
    if args.dry_run {
        return Ok(());
    }
    std::fs::create_dir_all(&args.results).with_context(|| format!("creating {}", args.results.display()))?;
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let start = Instant::now();
    let mut failed = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let mut max_rate = None;
        if let Some(o) = s.open_loop {
            match throughput(&args.results.join(format!("{}.json", o.of))) {
                Ok(r) => max_rate = Some(r),
                Err(e) => {
                    println!("[{}/{}] {}: skipped ({e:#})", i + 1, steps.len(), s.name);
                    failed.push(s.name.clone());
                    continue;
                }
            }
        }
        let line = s.command_line(&args.results, max_rate);
        let log = data.join(format!("{}.log", s.name));
        let step_start = Instant::now();
        let status = File::create(&log).and_then(|f| {
            let err = f.try_clone()?;
            Command::new(&exe).args(&line).stdout(f).stderr(Stdio::from(err)).status()
        });
        let secs = step_start.elapsed().as_secs_f64();
        match status {
            Ok(st) if st.success() => println!(
                "[{}/{}] {}: {secs:.1} s (planned {:.1} s, {:.1} min elapsed)",
                i + 1,
                steps.len(),
                s.name,
                s.estimate_s,
                start.elapsed().as_secs_f64() / 60.0
            ),
            other => {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(5).collect();
                println!("[{}/{}] {}: FAILED ({other:?}) after {secs:.1} s", i + 1, steps.len(), s.name);
                for l in tail.iter().rev() {
                    println!("      {l}");
                }
                failed.push(s.name.clone());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&data);
    println!("suite finished in {:.1} min", start.elapsed().as_secs_f64() / 60.0);
    if !failed.is_empty() {
        bail!("{} step(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_plan_runs_the_standard_set() {
        let (results, data) = (Path::new("R"), Path::new("D"));
        let steps = plan(true, data);
        let lines: Vec<String> = steps.iter().map(|s| s.command_line(results, None).join(" ")).collect();
        let has = |want: &str| assert!(lines.iter().any(|l| l == want), "missing `{want}` in {lines:#?}");
        has("run sensors --events 10000000 --workers 1 --json R/sensors_generated_w1.json");
        has("run sensors --events 10000000 --workers 2 --json R/sensors_generated_w2.json");
        has("gen sensors --events 2000000 --out D/sensors.csv");
        has("run sensors --input D/sensors.csv --workers 1 --json R/sensors_csv_w1.json");
        has("run sensors --input D/sensors.csv --workers 2 --json R/sensors_csv_w2.json");
        has("run fraud --events 500000 --json R/fraud_generated_w1.json");
        for q in ["q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q9", "q11"] {
            has(&format!("run nexmark --query {q} --events 1000000 --json R/nexmark_{q}.json"));
        }
        has("baseline sensors --events 10000000 --json R/baseline_sensors_generated.json");
        has("baseline nexmark --query q5 --events 1000000 --json R/baseline_nexmark_q5.json");
        has("baseline nexmark --query q7 --events 1000000 --json R/baseline_nexmark_q7.json");
        has("recovery sensors --events 15000000 --rate 5000000 --json R/recovery_sensors.json");
        // The CSV is generated before it is read.
        let pos = |name: &str| steps.iter().position(|s| s.name == name).expect("step exists");
        assert!(pos("gen_sensors_csv") < pos("sensors_csv_w1"));

        // Checkpoints on and off alternate, on the same events.
        let ck: Vec<&str> =
            steps.iter().filter(|s| s.name.starts_with("sensors_checkpoints_")).map(|s| s.name.as_str()).collect();
        assert_eq!(
            ck,
            [
                "sensors_checkpoints_on_rep1",
                "sensors_checkpoints_off_rep1",
                "sensors_checkpoints_off_rep2",
                "sensors_checkpoints_on_rep2"
            ]
        );
        has("run sensors --events 40000000 --checkpoint-dir D/checkpoints-1 --checkpoint-interval-ms 1000 \
             --json R/sensors_checkpoints_on_rep1.json");
        has("run sensors --events 40000000 --json R/sensors_checkpoints_off_rep2.json");

        // The latency sweep comes after the maximum is measured, at 10/25/50/75% of it.
        let sweep: Vec<&Step> = steps.iter().filter(|s| s.open_loop.is_some_and(|o| o.of == MAX_RATE_STEP)).collect();
        assert_eq!(
            sweep.iter().map(|s| s.open_loop.map(|o| o.percent)).collect::<Vec<_>>(),
            [10, 25, 50, 75].map(Some)
        );
        assert!(steps.iter().position(|s| s.open_loop.is_some()) > Some(pos(MAX_RATE_STEP)));
        assert_eq!(
            sweep[1].command_line(results, Some(30_000_000.0)).join(" "),
            "run sensors --workers 1 --window-ms 1000 --idle-spin-us 1000 --rate 7500000 --events 15000000 \
             --json R/sensors_latency_25pct.json"
        );
        // Nexmark q0 and q5 open loop at half their own closed-loop maximum, measured earlier.
        for q in ["q0", "q5"] {
            let s = &steps[pos(&format!("nexmark_{q}_latency_50pct"))];
            assert_eq!(s.open_loop.map(|o| (o.of.to_owned(), o.percent)), Some((format!("nexmark_{q}"), 50)));
            assert!(pos(&format!("nexmark_{q}_latency_50pct")) > pos(&format!("nexmark_{q}")));
            assert_eq!(
                s.command_line(results, Some(2_000_000.0)).join(" "),
                format!(
                    "run nexmark --query {q} --workers 1 --idle-spin-us 1000 --rate 1000000 --events 2000000 \
                     --json R/nexmark_{q}_latency_50pct.json"
                )
            );
            assert!(s.command_line(results, None).join(" ").contains(&format!("--rate <50% of nexmark_{q}>")));
        }
        assert_eq!(steps.iter().filter(|s| s.open_loop.is_some()).count(), 6);

        let quick: f64 = steps.iter().map(|s| s.estimate_s).sum();
        let full: f64 = plan(false, data).iter().map(|s| s.estimate_s).sum();
        assert!(quick < 150.0, "quick plan estimated at {quick} s");
        assert!(full < 15.0 * 60.0, "full plan estimated at {full} s");
    }

    #[test]
    fn suite_parses() {
        use clap::Parser;
        let cli =
            crate::cli::Cli::try_parse_from(["rill-bench", "suite", "--quick", "--results", "x"]).expect("parses");
        let crate::cli::Command::Suite(s) = cli.command else { panic!("expected suite") };
        assert!(s.quick && !s.dry_run);
        assert_eq!(s.results, PathBuf::from("x"));
    }
}
