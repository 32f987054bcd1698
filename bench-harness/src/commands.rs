//! The subcommands: what `rill-bench gen|run|baseline` do, end to end.
//!
//! This is the application layer of the binary (errors are `anyhow`, with context naming the
//! file or step); measuring lives in [`crate::baseline`] and [`crate::job`], formatting in
//! [`crate::summary`], recording in [`crate::results`].

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::baseline::{self, window::WindowParams};
use crate::cli::{BaselineArgs, BaselineWorkload, Cli, Command, GenArgs, InputSpec, RunArgs, Workload};
use crate::job;
use crate::machine::Resources;
use crate::progress::Spinner;
use crate::results::{
    BaselineFigures, CheckpointFigures, Configuration, Figures, LatencySummary, ResultFile, RunFigures,
};
use crate::summary;
use crate::workload;

/// Runs a parsed command line.
pub fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Gen(args) => gen_csv(&args),
        Command::Run(args) => run(&args),
        Command::Baseline(args) => baseline(&args),
        Command::Report(args) => crate::report::run(&args),
        Command::Suite(args) => crate::suite::command(&args),
        Command::Recovery(args) => crate::recovery::command(&args),
        Command::Writer(args) => crate::writer_bench::command(&args),
        Command::StateCost(args) => crate::state_cost::command(&args),
    }
}

/// The directory whose disk a result file describes: the JSON file's directory.
fn results_dir(json: Option<&Path>) -> &Path {
    json.and_then(Path::parent).filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn check_late_fraction(f: Option<f64>) -> anyhow::Result<()> {
    match f {
        Some(f) if !(0.0..=1.0).contains(&f) => bail!("--late-fraction must be in [0, 1], got {f}"),
        _ => Ok(()),
    }
}

/// `gen`: writes a workload to CSV.
pub fn gen_csv(args: &GenArgs) -> anyhow::Result<()> {
    check_late_fraction(args.late_fraction)?;
    if args.workload == Workload::Nexmark && args.late_fraction.is_some() {
        bail!("--late-fraction does not apply to nexmark");
    }
    let start = Instant::now();
    let rows = if args.shape.is_set() {
        if args.workload != Workload::Sensors {
            bail!("--rooms and --zipf-exponent apply to the sensors workload");
        }
        let mut config = workload::sensors_config(args.events, args.seed, args.late_fraction);
        args.shape.apply(&mut config);
        rill_workloads::sensors::export_csv(&config, &args.out)
    } else {
        workload::export(args.workload, args.events, args.seed, args.late_fraction, &args.out)
    }
    .with_context(|| format!("generating {} into {}", args.workload.name(), args.out.display()))?;
    println!(
        "wrote {} {} events to {} in {:.3} s",
        summary::thousands(rows),
        args.workload.name(),
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn input_configuration(spec: &InputSpec, workers: usize) -> Configuration {
    let (input_kind, input_path, events, seed, late_fraction) = match spec {
        InputSpec::Generate { events, seed, late_fraction } => {
            ("generate", None, Some(*events), Some(*seed), *late_fraction)
        }
        InputSpec::Csv(p) => ("csv", Some(p.display().to_string()), None, None, None),
    };
    Configuration {
        input_kind: input_kind.to_owned(),
        input_path,
        events,
        seed,
        late_fraction,
        workers,
        ..Configuration::without_input()
    }
}

/// `run`: runs a job, prints its summary, optionally writes its JSON result.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    if args.workers == 0 {
        bail!("--workers must be at least 1");
    }
    let spec = args.input.resolve();
    check_late_fraction(args.input.late_fraction)?;
    job::check_flags(args.workload, args)?;
    let name = job::run_name(args.workload, args);
    let before = Resources::of_this_process();
    let spinner = Spinner::start(format!("running {name} on {} worker(s)", args.workers));
    let result = job::run(args.workload, args);
    spinner.finish();
    let r = result.with_context(|| format!("running the {name} job"))?;
    if let Some((epoch, dir)) = &r.already_finished {
        println!(
            "{name}: checkpoint {epoch} in {} is the final checkpoint of a finished job; nothing to resume",
            dir.display()
        );
        return Ok(());
    }
    if let Some(ck) = &r.checkpoints {
        print!("{}", summary::checkpoint_summary(ck));
    }
    let resources = Resources::of_this_process().since(&before);

    let mut figures = RunFigures::new(r.events_in, r.rows_out, r.late_rows, r.elapsed, args.workers);
    figures.window_latency = LatencySummary::from_samples(&r.window_latency_ns);
    figures.event_latency = LatencySummary::from_samples(&r.event_latency_ns);
    figures.resources = resources;
    figures.operators = r.operators;
    figures.checkpoints = r
        .checkpoints
        .as_ref()
        .map(|c| Box::new(CheckpointFigures::from_report(c, args.checkpoint.checkpoint_interval_ms)));
    print!("{}", summary::run_summary(&name, args.workers, &figures));

    if let Some(json) = &args.json {
        let resolved = job::resolved(args);
        // Nexmark q0-q2 have no windows.
        let windowed = args.workload != Workload::Nexmark;
        let configuration = Configuration {
            window_ms: windowed.then_some(resolved.window_ms),
            max_out_of_orderness_ms: Some(resolved.max_out_of_orderness_ms),
            allowed_lateness_ms: windowed.then_some(resolved.allowed_lateness_ms),
            rate: args.rate,
            output: args.output.as_ref().map(|p| p.display().to_string()),
            late_output: args.late_output.as_ref().map(|p| p.display().to_string()),
            ..input_configuration(&spec, args.workers)
        };
        let file = ResultFile::new("run", &name, results_dir(Some(json)), configuration, Figures::Run(figures));
        file.write(json).with_context(|| format!("writing {}", json.display()))?;
        println!("result written to {}", json.display());
    }
    Ok(())
}

/// `baseline`: runs the reference points, prints them, optionally writes the JSON result.
///
/// With generated input: generator only, plain timely (`--workers`) and the hand-written loop.
/// With `--input FILE.csv`: the hand-written loop over the file.
pub fn baseline(args: &BaselineArgs) -> anyhow::Result<()> {
    if args.workload == BaselineWorkload::Nexmark {
        return baseline::nexmark::command(args);
    }
    if args.query.is_some() {
        bail!("--query applies to baseline nexmark");
    }
    if args.workers == 0 {
        bail!("--workers must be at least 1");
    }
    check_late_fraction(args.input.late_fraction)?;
    let spec = args.input.resolve();
    let params = WindowParams::default();
    let spinner = Spinner::start("running the sensors baselines".to_owned());
    let figures = match &spec {
        InputSpec::Generate { events, seed, late_fraction } => {
            let src = workload::SensorsSource::new(workload::sensors_config(*events, *seed, *late_fraction))
                .context("configuring the sensors generator")?;
            baseline::run_generated(Arc::new(src), *events, args.workers, params)
                .map_err(|e| anyhow::anyhow!("plain timely baseline failed: {e}"))?
        }
        InputSpec::Csv(path) => {
            vec![baseline::run_csv(path, params).with_context(|| format!("reading {}", path.display()))?]
        }
    };
    spinner.finish();
    print!("{}", summary::baseline_summary("sensors", &figures));

    if let Some(json) = &args.json {
        let configuration = Configuration {
            window_ms: Some(params.window_ms),
            max_out_of_orderness_ms: Some(params.max_out_of_orderness_ms),
            allowed_lateness_ms: Some(params.allowed_lateness_ms),
            ..input_configuration(&spec, args.workers)
        };
        let file = ResultFile::new(
            "baseline",
            "sensors",
            results_dir(Some(json)),
            configuration,
            Figures::Baseline(BaselineFigures { baselines: figures }),
        );
        file.write(json).with_context(|| format!("writing {}", json.display()))?;
        println!("result written to {}", json.display());
    }
    Ok(())
}
