//! The report's SVG plots (plotters' SVG backend), written to `DIR/plots/`.
//!
//! Invariants: every point drawn is a figure from a result file (or a quotient of two); a plot
//! whose data is empty is not drawn and its [`PlotOutcome`] says why, so the summary can. Each
//! series' data is computed by a pure function ([`throughput_bars`], [`latency_points`], ...)
//! that the summary's tables and the tests can check without parsing SVG.

use std::path::Path;

use anyhow::{Context, anyhow};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Entry, Loaded, median};
use crate::results::{LatencySummary, RunFigures};

/// What became of one plot.
#[derive(Debug, Clone)]
pub struct PlotOutcome {
    /// What it shows, as the summary's heading calls it.
    pub title: &'static str,
    /// The file name under `DIR/plots/`, when drawn.
    pub file: Option<String>,
    /// Why it was not drawn.
    pub reason: Option<String>,
}

/// A named series of (x, y) points.
pub type Series = (String, Vec<(f64, f64)>);

const W: u32 = 1000;
const H: u32 = 560;

/// Draws every plot into `dir` (created if needed).
pub fn draw_all(loaded: &Loaded, dir: &Path) -> anyhow::Result<Vec<PlotOutcome>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut out = Vec::new();

    let bars = throughput_bars(loaded);
    out.push(if bars.is_empty() {
        skipped("Throughput", "no closed-loop run (without `--rate`) in the results")
    } else {
        bar_chart(dir, "throughput.svg", "Rill throughput (median of closed-loop runs)", "M events/s", &bars)?;
        drawn("Throughput", "throughput.svg")
    });

    let lat = latency_points(loaded);
    out.push(if lat.iter().all(|(_, p)| p.is_empty()) {
        skipped("Latency percentiles", "no run recorded window or event latency")
    } else {
        let spec = XySpec {
            file: "latency.svg",
            caption: "Window and event latency per run (x: run # of the latency table)",
            x_desc: "run #",
            y_desc: "latency, ms (log)",
            lines: false,
            integer_x: true,
        };
        xy_chart(dir, &spec, &lat)?;
        drawn("Latency percentiles", "latency.svg")
    });

    let load = latency_vs_load(loaded);
    out.push(if load.is_empty() {
        skipped("Latency vs offered load", "no run with an offered rate (`--rate`) recorded window or event latency")
    } else {
        let spec = XySpec {
            file: "latency_vs_load.svg",
            caption: "Window and event latency vs offered load (median of the runs at each rate)",
            x_desc: "offered rate, M events/s",
            y_desc: "latency, ms (log)",
            lines: true,
            integer_x: false,
        };
        xy_chart(dir, &spec, &load)?;
        drawn("Latency vs offered load", "latency_vs_load.svg")
    });

    let (durations, bytes) = checkpoint_points(loaded);
    out.push(if durations.iter().all(|(_, p)| p.is_empty()) {
        skipped(
            "Checkpoint duration vs state size",
            "no run recorded both checkpoint durations and operator state size",
        )
    } else {
        let spec = XySpec {
            file: "checkpoint_duration.svg",
            caption: "Checkpoint duration vs peak state size",
            x_desc: "peak state, MiB",
            y_desc: "duration, ms (log)",
            lines: false,
            integer_x: false,
        };
        xy_chart(dir, &spec, &durations)?;
        drawn("Checkpoint duration vs state size", "checkpoint_duration.svg")
    });
    out.push(if bytes.iter().all(|(_, p)| p.is_empty()) {
        skipped("Checkpoint bytes vs state size", "no run recorded both checkpoint bytes and operator state size")
    } else {
        let spec = XySpec {
            file: "checkpoint_bytes.svg",
            caption: "Bytes written per checkpoint vs peak state size",
            x_desc: "peak state, MiB",
            y_desc: "written per checkpoint, MiB (log)",
            lines: false,
            integer_x: false,
        };
        xy_chart(dir, &spec, &bytes)?;
        drawn("Checkpoint bytes vs state size", "checkpoint_bytes.svg")
    });
    Ok(out)
}

fn drawn(title: &'static str, file: &str) -> PlotOutcome {
    PlotOutcome { title, file: Some(file.to_owned()), reason: None }
}

fn skipped(title: &'static str, reason: &str) -> PlotOutcome {
    PlotOutcome { title, file: None, reason: Some(reason.to_owned()) }
}

/// The bar of a closed-loop run: query, input kind, workers (and key count when set).
pub fn bar_name(e: &Entry) -> String {
    let c = &e.result.configuration;
    let kind = if c.input_kind == "generate" { "gen" } else { c.input_kind.as_str() };
    let mut s = format!("{} {kind} w{}", e.label(), c.workers);
    if let Some(r) = super::argv_value(&e.result.argv, "--rooms") {
        s.push_str(&format!(" rooms {r}"));
    }
    if e.run().is_some_and(|f| f.checkpoints.is_some()) {
        s.push_str(" ckpt");
    }
    s
}

/// One bar per [`bar_name`]: the median throughput (M events/s) of its closed-loop runs.
pub fn throughput_bars(loaded: &Loaded) -> Vec<(String, f64)> {
    let mut names: Vec<String> =
        loaded.results.iter().filter(|e| e.closed_loop() && e.run().is_some()).map(bar_name).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| {
            let v: Vec<f64> = loaded
                .results
                .iter()
                .filter(|e| e.closed_loop() && bar_name(e) == n)
                .filter_map(Entry::run)
                .map(|f| f.throughput_events_per_s / 1e6)
                .collect();
            median(&v).map(|m| (n, m))
        })
        .collect()
}

/// Reads one latency kind of a run.
pub type LatencyOf = fn(&RunFigures) -> Option<&LatencySummary>;

/// The two latency kinds a run may record: `window` (watermark to output) and `event` (event to
/// output).
pub const LATENCY_KINDS: [(&str, LatencyOf); 2] =
    [("window", |f| f.window_latency.as_ref()), ("event", |f| f.event_latency.as_ref())];

/// Runs with window or event latency, in file order (numbered from 1 as in the summary's table).
pub fn latency_runs(loaded: &Loaded) -> Vec<&Entry> {
    loaded
        .results
        .iter()
        .filter(|e| e.run().is_some_and(|f| LATENCY_KINDS.iter().any(|(_, k)| k(f).is_some())))
        .collect()
}

/// Per latency kind, four series (p50, p99, p99.9, max) of (run #, ms).
pub fn latency_points(loaded: &Loaded) -> Vec<Series> {
    let runs = latency_runs(loaded);
    type Percentile = fn(&LatencySummary) -> u64;
    let pick: [(&str, Percentile); 4] =
        [("p50", |l| l.p50_ns), ("p99", |l| l.p99_ns), ("p99.9", |l| l.p999_ns), ("max", |l| l.max_ns)];
    let mut out = Vec::new();
    for (kind, of) in LATENCY_KINDS {
        for (name, f) in &pick {
            let pts = runs
                .iter()
                .enumerate()
                .filter_map(|(i, e)| {
                    let l = of(e.run()?)?;
                    Some(((i + 1) as f64, f(l) as f64 / 1e6))
                })
                .collect();
            out.push((format!("{kind} {name}"), pts));
        }
    }
    out
}

/// Per query, worker count and latency kind, p50 and p99 of (offered M events/s, ms): at each
/// offered rate the median over the runs at that rate, sorted by rate. Series without points are
/// left out.
pub fn latency_vs_load(loaded: &Loaded) -> Vec<Series> {
    let with_rate: Vec<&Entry> =
        latency_runs(loaded).into_iter().filter(|e| e.result.configuration.rate.is_some()).collect();
    let mut groups: Vec<String> =
        with_rate.iter().map(|e| format!("{} w{}", e.label(), e.result.configuration.workers)).collect();
    groups.sort();
    groups.dedup();
    let mut out = Vec::new();
    for g in groups {
        for ((kind, of), (p, f)) in LATENCY_KINDS.into_iter().flat_map(|k| [(k, ("p50", 0usize)), (k, ("p99", 1))]) {
            let runs: Vec<(u64, f64)> = with_rate
                .iter()
                .filter(|e| format!("{} w{}", e.label(), e.result.configuration.workers) == g)
                .filter_map(|e| {
                    let l = of(e.run()?)?;
                    Some((e.result.configuration.rate?, if f == 0 { l.p50_ns } else { l.p99_ns } as f64 / 1e6))
                })
                .collect();
            if runs.is_empty() {
                continue;
            }
            let mut rates: Vec<u64> = runs.iter().map(|r| r.0).collect();
            rates.sort_unstable();
            rates.dedup();
            let pts = rates
                .into_iter()
                .filter_map(|rate| {
                    let at: Vec<f64> = runs.iter().filter(|r| r.0 == rate).map(|r| r.1).collect();
                    median(&at).map(|v| (rate as f64 / 1e6, v))
                })
                .collect();
            out.push((format!("{g} {kind} {p}"), pts));
        }
    }
    out
}

/// Checkpointed runs that report state size: duration (p50, max; ms) and bytes written per
/// checkpoint (MiB) against peak state (MiB).
pub fn checkpoint_points(loaded: &Loaded) -> (Vec<Series>, Vec<Series>) {
    let (mut p50, mut max, mut bytes) = (Vec::new(), Vec::new(), Vec::new());
    for e in &loaded.results {
        let (Some(f), Some(state)) = (e.run(), e.peak_state_bytes()) else { continue };
        let Some(c) = &f.checkpoints else { continue };
        let x = state as f64 / (1u64 << 20) as f64;
        if let Some(d) = &c.duration {
            p50.push((x, d.p50_ns as f64 / 1e6));
            max.push((x, d.max_ns as f64 / 1e6));
        }
        if c.completed > 0 && c.bytes_written > 0 {
            bytes.push((x, c.bytes_written as f64 / c.completed as f64 / (1u64 << 20) as f64));
        }
    }
    (vec![("duration p50".into(), p50), ("duration max".into(), max)], vec![("bytes written".into(), bytes)])
}

fn bar_chart(dir: &Path, file: &str, caption: &str, y_desc: &str, bars: &[(String, f64)]) -> anyhow::Result<()> {
    let path = dir.join(file);
    let width = W.max(190 * bars.len() as u32);
    let root = SVGBackend::new(&path, (width, H)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(err)?;
    let top = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(f64::MIN_POSITIVE) * 1.15;
    let n = bars.len() as u32;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((0u32..n).into_segmented(), 0.0..top)
        .map_err(err)?;
    let label = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            bars.get(*i as usize).map_or_else(String::new, |b| b.0.clone())
        }
        SegmentValue::Last => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(bars.len())
        .x_label_formatter(&label)
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let i = i as u32;
            let mut r = Rectangle::new(
                [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), *v)],
                Palette99::pick(i as usize).filled(),
            );
            r.set_margin(0, 0, 20, 20);
            r
        }))
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
            let style = TextStyle::from(("sans-serif", 15)).pos(Pos::new(HPos::Center, VPos::Bottom));
            Text::new(format!("{v:.2}"), (SegmentValue::CenterOf(i as u32), *v), style)
        }))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

struct XySpec {
    file: &'static str,
    caption: &'static str,
    x_desc: &'static str,
    y_desc: &'static str,
    lines: bool,
    integer_x: bool,
}

/// Series of (x, y) with a log y axis; empty series are left out of the legend.
fn xy_chart(dir: &Path, spec: &XySpec, series: &[Series]) -> anyhow::Result<()> {
    let path = dir.join(spec.file);
    let root = SVGBackend::new(&path, (W, H)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(err)?;
    let pts = || series.iter().flat_map(|s| s.1.iter().copied());
    let (x0, x1) = pts().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (x, _)| (a.min(x), b.max(x)));
    let (y0, y1) =
        pts().filter(|p| p.1 > 0.0).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, y)| (a.min(y), b.max(y)));
    let (y0, y1) = if y0.is_finite() { (y0 / 2.0, y1 * 2.0) } else { (0.001, 1.0) };
    let pad = if x1 > x0 { (x1 - x0) * 0.08 } else { x0.abs().max(1.0) * 0.5 };
    let mut chart = ChartBuilder::on(&root)
        .caption(spec.caption, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((x0 - pad)..(x1 + pad), (y0..y1).log_scale())
        .map_err(err)?;
    let x_label = |v: &f64| if spec.integer_x { format!("{v:.0}") } else { format!("{v:.2}") };
    chart.configure_mesh().x_desc(spec.x_desc).y_desc(spec.y_desc).x_label_formatter(&x_label).draw().map_err(err)?;
    for (i, (name, points)) in series.iter().enumerate().filter(|(_, s)| !s.1.is_empty()) {
        let color = Palette99::pick(i);
        let visible: Vec<(f64, f64)> = points.iter().copied().filter(|p| p.1 > 0.0).collect();
        let anno = if spec.lines {
            chart.draw_series(LineSeries::new(visible.clone(), color.stroke_width(2)).point_size(4)).map_err(err)?
        } else {
            // Later series get smaller points, so that equal values stay visible as rings.
            let r = 6u32.saturating_sub(i as u32).max(2);
            chart.draw_series(visible.iter().map(|&p| Circle::new(p, r, color.filled()))).map_err(err)?
        };
        anno.label(name.as_str()).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
