//! `rill-bench report`: every result file of a directory, summarised as one Markdown page with
//! SVG plots.
//!
//! ```text
//! rill-bench report [--results DIR (default results)] [--out FILE (default DIR/SUMMARY.md)]
//! ```
//!
//! It reads every `DIR/*.json` as a [`ResultFile`] (`run` or `baseline`) and every
//! `DIR/peers/*.json` as a peer comparison written by `scripts/peers/compare.py`, then writes the
//! summary ([`markdown`]) and the plots under `DIR/plots/` ([`plots`]).
//!
//! Invariants: the report only restates and divides figures that the files hold; a figure a
//! file does not hold is printed as "not measured", never estimated. A file that cannot be read
//! or parsed is skipped with a warning naming it (on stderr and in the summary); it never stops
//! the report. A plot without data is not drawn, and the summary says why.

mod markdown;
mod plots;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;

use crate::results::{BaselineFigures, Figures, ResultFile, RunFigures};

/// What a cell says when the files do not hold the figure.
pub const NOT_MEASURED: &str = "not measured";

/// Arguments of `report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The directory of result files (`*.json`, peer comparisons in `peers/*.json`).
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// The Markdown file to write (default: `DIR/SUMMARY.md`); plots go to `DIR/plots/`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `report`: reads the results, writes the plots and the summary.
pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let out = args.out.clone().unwrap_or_else(|| args.results.join("SUMMARY.md"));
    let loaded = load(&args.results)?;
    for s in &loaded.skipped {
        eprintln!("rill-bench report: warning: skipping {}: {}", s.path.display(), s.reason);
    }
    let plot_dir = args.results.join("plots");
    let outcomes = plots::draw_all(&loaded, &plot_dir)?;
    let text = markdown::render(&loaded, &outcomes, &plot_link_base(&out, &args.results));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    let drawn = outcomes.iter().filter(|o| o.file.is_some()).count();
    println!(
        "wrote {} ({} result files, {} peer comparisons, {} skipped) and {drawn} plots under {}",
        out.display(),
        loaded.results.len(),
        loaded.peers.len(),
        loaded.skipped.len(),
        plot_dir.display()
    );
    Ok(())
}

/// How the summary refers to `DIR/plots/NAME.svg`: relative when the summary sits in `DIR`.
fn plot_link_base(out: &Path, dir: &Path) -> String {
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let same = match (parent.canonicalize(), dir.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same { "plots".to_owned() } else { dir.join("plots").display().to_string() }
}

/// One parsed result file.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The file name (without directory), as the summary cites it.
    pub file: String,
    /// Its content.
    pub result: ResultFile,
}

/// A file that was skipped, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// The read or parse error.
    pub reason: String,
}

/// Everything a results directory holds.
#[derive(Debug, Default)]
pub struct Loaded {
    /// `DIR/*.json` result files, by file name.
    pub results: Vec<Entry>,
    /// `DIR/peers/*.json` comparisons, by file name.
    pub peers: Vec<(String, PeerFile)>,
    /// Files that could not be read or parsed.
    pub skipped: Vec<Skipped>,
}

/// Reads `dir/*.json` and `dir/peers/*.json` (sorted by name); unreadable files are skipped.
pub fn load(dir: &Path) -> anyhow::Result<Loaded> {
    if !dir.is_dir() {
        bail!("{} is not a directory of results", dir.display());
    }
    let mut loaded = Loaded::default();
    for path in json_files(dir)? {
        match read_text(&path).and_then(|t| serde_json::from_str::<ResultFile>(&t).map_err(|e| e.to_string())) {
            Ok(result) => loaded.results.push(Entry { file: file_name(&path), result }),
            Err(reason) => loaded.skipped.push(Skipped { path, reason }),
        }
    }
    let peers = dir.join("peers");
    if peers.is_dir() {
        for path in json_files(&peers)? {
            let parsed = read_text(&path)
                .and_then(|t| serde_json::from_str::<PeerFile>(&t).map_err(|e| e.to_string()))
                .and_then(|p| {
                    if p.kind == "peer-comparison" {
                        Ok(p)
                    } else {
                        Err(format!("kind {:?} is not \"peer-comparison\"", p.kind))
                    }
                });
            match parsed {
                Ok(p) => loaded.peers.push((file_name(&path), p)),
                Err(reason) => loaded.skipped.push(Skipped { path, reason }),
            }
        }
    }
    Ok(loaded)
}

fn json_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry.with_context(|| format!("listing {}", dir.display()))?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// A peer comparison (`scripts/peers/compare.py`); fields it may leave out are optional.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerFile {
    /// Always `"peer-comparison"`.
    pub kind: String,
    /// `"sensors"` or a Nexmark query (`"q1"`).
    pub query: String,
    /// Events generated.
    pub events: Option<u64>,
    /// Whether both engines wrote the same rows.
    pub outputs_equal: Option<bool>,
    /// `"rill"`, or `"python-reference"` when Rill did not run.
    pub checked_against: Option<String>,
    /// Rill's figures (`null` when Rill did not run).
    pub rill: Option<PeerRill>,
    /// Flink's figures.
    pub flink: Option<PeerFlink>,
    /// The machine.
    pub machine: Option<PeerMachine>,
    /// The revision.
    pub git: Option<PeerGit>,
}

/// Rill's side of a peer comparison.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerRill {
    /// Worker threads.
    pub workers: usize,
    /// Events read.
    pub events_in: u64,
    /// Job throughput as `rill-bench` reported it.
    pub throughput_events_per_s: f64,
    /// Throughput over the whole process's wall time.
    pub process_throughput_events_per_s: Option<f64>,
}

/// Flink's side of a peer comparison.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerFlink {
    /// Flink's version.
    pub version: Option<String>,
    /// Parallelism.
    pub parallelism: usize,
    /// Events read.
    pub events_in: u64,
    /// Start-up time (JVM, planner, cluster, submission, tear-down), seconds.
    pub startup_s: Option<f64>,
    /// Throughput over the whole process.
    pub whole_throughput_events_per_s: Option<f64>,
    /// Throughput net of start-up.
    pub net_throughput_events_per_s: Option<f64>,
}

/// The machine of a peer comparison.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerMachine {
    /// CPU model.
    pub cpu_model: Option<String>,
    /// Logical cores.
    pub cores: Option<usize>,
    /// Kernel release.
    pub kernel: Option<String>,
    /// `java -version`'s first line.
    pub java: Option<String>,
}

/// The revision of a peer comparison.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerGit {
    /// Commit.
    pub commit: Option<String>,
    /// Whether the tree had changes.
    pub dirty: Option<bool>,
}

impl Entry {
    /// The run's figures, for a `run` file.
    pub fn run(&self) -> Option<&RunFigures> {
        match &self.result.figures {
            Figures::Run(f) => Some(f),
            Figures::Baseline(_) | Figures::Writer(_) | Figures::StateCost(_) => None,
        }
    }

    /// The baselines, for a `baseline` file.
    pub fn baselines(&self) -> Option<&BaselineFigures> {
        match &self.result.figures {
            Figures::Baseline(b) => Some(b),
            Figures::Run(_) | Figures::Writer(_) | Figures::StateCost(_) => None,
        }
    }

    /// The workload and, for Nexmark, the query: `sensors`, `nexmark q1`.
    pub fn label(&self) -> String {
        match argv_value(&self.result.argv, "--query") {
            Some(q) => format!("{} {q}", self.result.workload),
            None => self.result.workload.clone(),
        }
    }

    /// The input, described: what must be equal for two files to have read the same events.
    pub fn input(&self) -> String {
        let c = &self.result.configuration;
        let mut s = match c.input_kind.as_str() {
            "csv" => format!("csv {}", c.input_path.as_deref().unwrap_or("?")),
            kind => {
                let events = c.events.map_or_else(|| "?".to_owned(), crate::summary::thousands);
                let seed = c.seed.map_or_else(|| "?".to_owned(), |s| s.to_string());
                let mut s = format!("{kind} {events} events, seed {seed}");
                if let Some(f) = c.late_fraction {
                    s.push_str(&format!(", late {f}"));
                }
                s
            }
        };
        for flag in ["--rooms", "--zipf-exponent"] {
            if let Some(v) = argv_value(&self.result.argv, flag) {
                s.push_str(&format!(", {} {v}", flag.trim_start_matches('-')));
            }
        }
        s
    }

    /// Whether a run was closed-loop (as fast as possible), so its throughput is the engine's.
    pub fn closed_loop(&self) -> bool {
        self.result.configuration.rate.is_none()
    }

    /// The run's CPU seconds per million events read; `None` when not measured.
    pub fn cpu_s_per_m_events(&self) -> Option<f64> {
        let f = self.run()?;
        let cpu = f.resources.cpu_user_s + f.resources.cpu_system_s;
        (cpu > 0.0 && f.events_in > 0).then(|| cpu / (f.events_in as f64 / 1e6))
    }

    /// The largest state the run held: the sum over operators of their peak state bytes;
    /// `None` when no operator reports state.
    pub fn peak_state_bytes(&self) -> Option<u64> {
        let total: u64 = self.run()?.operators.iter().map(|o| o.peak_state_bytes).sum();
        (total > 0).then_some(total)
    }

    /// The key under which runs are comparable: same query, input, window, workers.
    pub fn comparable_key(&self) -> ComparableKey {
        let c = &self.result.configuration;
        (self.label(), self.input(), c.window_ms, c.workers)
    }
}

/// Query, input, window length and workers: runs with equal keys are comparable.
pub type ComparableKey = (String, String, Option<u64>, usize);

/// The value following `flag` in a command line (`--flag VALUE` or `--flag=VALUE`).
pub fn argv_value(argv: &[String], flag: &str) -> Option<String> {
    let prefix = format!("{flag}=");
    argv.iter().enumerate().find_map(|(i, a)| {
        if a == flag { argv.get(i + 1).cloned() } else { a.strip_prefix(&prefix).map(str::to_owned) }
    })
}

/// The median of some values (mean of the two middle ones for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// The hand-written loop baseline for the same input and window as a run, if one was recorded:
/// (file name, the `loop_*` point).
pub fn loop_baseline_for<'a>(loaded: &'a Loaded, run: &Entry) -> Option<(&'a str, &'a crate::results::BaselineFigure)> {
    let (label, input, window, _) = run.comparable_key();
    loaded.results.iter().find_map(|b| {
        let figures = b.baselines()?;
        let (bl, bi, bw, _) = b.comparable_key();
        if bl != label || bi != input || (window.is_some() && bw.is_some() && bw != window) {
            return None;
        }
        let point = figures.baselines.iter().find(|p| p.name.starts_with("loop_"))?;
        Some((b.file.as_str(), point))
    })
}

/// Closed-loop runs with checkpoints against the same runs without, by comparable key:
/// (key, median throughput with checkpoints, runs, median without, runs).
pub fn checkpoint_on_off(loaded: &Loaded) -> Vec<(ComparableKey, f64, usize, f64, usize)> {
    let mut keys: Vec<_> = loaded
        .results
        .iter()
        .filter(|e| e.closed_loop() && e.run().is_some_and(|f| f.checkpoints.is_some()))
        .map(Entry::comparable_key)
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let pick = |on: bool| -> Vec<f64> {
                loaded
                    .results
                    .iter()
                    .filter(|e| e.closed_loop() && e.comparable_key() == key)
                    .filter_map(Entry::run)
                    .filter(|f| f.checkpoints.is_some() == on)
                    .map(|f| f.throughput_events_per_s)
                    .collect()
            };
            let (on, off) = (pick(true), pick(false));
            Some((key, median(&on)?, on.len(), median(&off)?, off.len()))
        })
        .collect()
}
