//! The report's Markdown page: tables of the figures the result files hold.
//!
//! Pure formatting: [`render`] takes what was loaded and what became of the plots and returns
//! the page. A figure absent from a file is written as [`NOT_MEASURED`]; ratios are computed
//! only between two measured figures.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::plots::{LATENCY_KINDS, PlotOutcome, latency_runs};
use super::{Entry, Loaded, NOT_MEASURED, PeerFile, checkpoint_on_off, loop_baseline_for};
use crate::results::LatencySummary;
use crate::summary::{bytes, nanos, thousands};

/// The whole page; `plot_base` prefixes plot file names in links.
pub fn render(loaded: &Loaded, plots: &[PlotOutcome], plot_base: &str) -> String {
    let mut s = String::new();
    let runs = loaded.results.iter().filter(|e| e.run().is_some()).count();
    let _ = writeln!(s, "# Rill benchmark results\n");
    let _ = writeln!(
        s,
        "Written by `rill-bench report` from {runs} run files, {} baseline files and {} peer comparisons. \
         Every figure below is copied or divided from those files; \"{NOT_MEASURED}\" marks a figure a file \
         does not hold.\n",
        loaded.results.len() - runs,
        loaded.peers.len()
    );
    if !loaded.skipped.is_empty() {
        let _ = writeln!(s, "## Skipped files\n");
        for k in &loaded.skipped {
            let _ = writeln!(s, "- `{}`: {}", k.path.display(), k.reason.replace('\n', " "));
        }
        s.push('\n');
    }
    machines(&mut s, loaded);
    throughput(&mut s, loaded);
    plot(&mut s, plots, "Throughput", plot_base);
    baselines(&mut s, loaded);
    latency(&mut s, loaded);
    plot(&mut s, plots, "Latency percentiles", plot_base);
    latency_load(&mut s, loaded);
    plot(&mut s, plots, "Latency vs offered load", plot_base);
    checkpoints(&mut s, loaded);
    plot(&mut s, plots, "Checkpoint duration vs state size", plot_base);
    plot(&mut s, plots, "Checkpoint bytes vs state size", plot_base);
    flink(&mut s, loaded);
    s
}

fn plot(s: &mut String, plots: &[PlotOutcome], title: &str, base: &str) {
    let Some(p) = plots.iter().find(|p| p.title == title) else { return };
    match (&p.file, &p.reason) {
        (Some(f), _) => {
            let _ = writeln!(s, "![{title}]({base}/{f})\n");
        }
        (None, reason) => {
            let _ = writeln!(s, "*Plot \"{title}\" not drawn: {}.*\n", reason.as_deref().unwrap_or("no data"));
        }
    }
}

fn or_nm<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map_or_else(|| NOT_MEASURED.to_owned(), f)
}

fn m(rate: f64) -> String {
    format!("{:.2}", rate / 1e6)
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn revision(e: &Entry) -> String {
    let g = &e.result.git;
    let flag = match g.dirty {
        Some(true) => " (dirty)",
        Some(false) => "",
        None => " (dirty: unknown)",
    };
    format!("{}{flag}", short(&g.commit))
}

fn machines(s: &mut String, loaded: &Loaded) {
    let _ = writeln!(s, "## Machines and revisions\n");
    let mut ms: BTreeMap<String, usize> = BTreeMap::new();
    for e in &loaded.results {
        let m = &e.result.machine;
        let mem = or_nm(m.memory_bytes, bytes);
        *ms.entry(format!("| {} | {} | {mem} | {} | rill-bench |", m.cpu_model, m.logical_cores, m.kernel))
            .or_default() += 1;
    }
    for (_, p) in &loaded.peers {
        let key = match &p.machine {
            Some(m) => format!(
                "| {} | {} | {NOT_MEASURED} | {} | compare.py ({}) |",
                m.cpu_model.as_deref().unwrap_or(NOT_MEASURED),
                m.cores.map_or_else(|| NOT_MEASURED.to_owned(), |c| c.to_string()),
                m.kernel.as_deref().unwrap_or(NOT_MEASURED),
                m.java.as_deref().unwrap_or("java unknown")
            ),
            None => format!("| {NOT_MEASURED} | {NOT_MEASURED} | {NOT_MEASURED} | {NOT_MEASURED} | compare.py |"),
        };
        *ms.entry(key).or_default() += 1;
    }
    let _ = writeln!(s, "| CPU | logical cores | memory | kernel | recorded by | files |\n|---|---|---|---|---|---|");
    for (row, n) in &ms {
        let _ = writeln!(s, "{row} {n} |");
    }
    // Revision -> (files, dirty, clean, unknown).
    let mut revs: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    let mut count = |commit: &str, dirty: Option<bool>| {
        let r = revs.entry(short(commit).to_owned()).or_default();
        r[0] += 1;
        r[match dirty {
            Some(true) => 1,
            Some(false) => 2,
            None => 3,
        }] += 1;
    };
    for e in &loaded.results {
        count(&e.result.git.commit, e.result.git.dirty);
    }
    for (_, p) in &loaded.peers {
        let g = p.git.as_ref();
        count(g.and_then(|g| g.commit.as_deref()).unwrap_or("unknown"), g.and_then(|g| g.dirty));
    }
    let _ = writeln!(s, "\n| revision | files | dirty tree |\n|---|---|---|");
    for (commit, [n, dirty, _, unknown]) in &revs {
        let flag = match (dirty, unknown) {
            (0, 0) => "no".to_owned(),
            (0, u) => format!("unknown for {u}"),
            (d, _) => format!("**yes, {d} of {n} files** (uncommitted changes: figures may not match the commit)"),
        };
        let _ = writeln!(s, "| `{commit}` | {n} | {flag} |");
    }
    s.push('\n');
}

fn throughput(s: &mut String, loaded: &Loaded) {
    let _ = writeln!(s, "## Throughput\n");
    let _ = writeln!(
        s,
        "M events/s = events read / job wall time; CPU s per M events = (user + system CPU seconds of the \
         process) / millions of events, i.e. cores x time per million events. Runs with an offered rate are \
         open-loop: their throughput is the offered load, not the engine's limit.\n"
    );
    let mut labels: Vec<String> = loaded.results.iter().filter(|e| e.run().is_some()).map(Entry::label).collect();
    labels.sort();
    labels.dedup();
    if labels.is_empty() {
        let _ = writeln!(s, "No run files.\n");
    }
    for label in labels {
        let _ = writeln!(s, "### {label}\n");
        let _ = writeln!(
            s,
            "| file | input | workers | offered rate | events | M events/s | M events/s per worker | \
             CPU s per M events | peak RSS | checkpoints | revision |\n|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for e in loaded.results.iter().filter(|e| e.label() == label) {
            let Some(f) = e.run() else { continue };
            let c = &e.result.configuration;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                e.file,
                e.input(),
                c.workers,
                c.rate.map_or_else(|| "closed loop".to_owned(), |r| format!("{} M/s", m(r as f64))),
                thousands(f.events_in),
                m(f.throughput_events_per_s),
                m(f.throughput_per_worker_events_per_s),
                or_nm(e.cpu_s_per_m_events(), |v| format!("{v:.3}")),
                or_nm(f.resources.peak_rss_bytes, bytes),
                f.checkpoints.as_ref().map_or_else(|| "off".to_owned(), |k| format!("every {} ms", k.interval_ms)),
                revision(e)
            );
        }
        s.push('\n');
    }
}

fn baselines(s: &mut String, loaded: &Loaded) {
    let files: Vec<&Entry> = loaded.results.iter().filter(|e| e.baselines().is_some()).collect();
    let _ = writeln!(s, "## Reference points and Rill vs hand-written loop\n");
    if files.is_empty() {
        let _ = writeln!(s, "No baseline files: Rill vs hand-written loop {NOT_MEASURED}.\n");
        return;
    }
    let _ = writeln!(
        s,
        "| file | input | point | workers | events | M events/s | CPU s per M events | rows |\n\
         |---|---|---|---|---|---|---|---|"
    );
    for e in &files {
        for p in e.baselines().map(|b| b.baselines.as_slice()).unwrap_or_default() {
            let cpu = (p.cpu_s > 0.0 && p.events > 0).then(|| p.cpu_s / (p.events as f64 / 1e6));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                e.file,
                e.input(),
                p.name,
                p.workers,
                thousands(p.events),
                m(p.events_per_s),
                or_nm(cpu, |v| format!("{v:.3}")),
                thousands(p.rows_out)
            );
        }
    }
    let _ = writeln!(
        s,
        "\nRill vs the single-threaded hand-written loop over the same input and window (closed-loop runs \
         only; a ratio above 1 means Rill is faster):\n"
    );
    let _ = writeln!(
        s,
        "| run | workers | Rill M events/s | baseline file | loop M events/s | Rill / loop | Rill per worker / loop | same row count |\n\
         |---|---|---|---|---|---|---|---|"
    );
    let mut any = false;
    for e in loaded.results.iter().filter(|e| e.closed_loop()) {
        let Some(f) = e.run() else { continue };
        let Some((bf, p)) = loop_baseline_for(loaded, e) else { continue };
        any = true;
        let ratio =
            |v: f64| if p.events_per_s > 0.0 { format!("{:.2}", v / p.events_per_s) } else { NOT_MEASURED.into() };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {bf} ({}) | {} | {} | {} | {} |",
            e.file,
            e.result.configuration.workers,
            m(f.throughput_events_per_s),
            p.name,
            m(p.events_per_s),
            ratio(f.throughput_events_per_s),
            ratio(f.throughput_per_worker_events_per_s),
            if f.rows_out == p.rows_out { "yes" } else { "**no**" }
        );
    }
    if !any {
        let _ = writeln!(s, "| no run read the same input as a loop baseline | | | | | {NOT_MEASURED} | | |");
    }
    s.push('\n');
}

fn lat_cells(l: Option<&LatencySummary>) -> String {
    match l {
        Some(l) => format!(
            "{} | {} | {} | {} | {}",
            thousands(l.samples),
            nanos(l.p50_ns),
            nanos(l.p99_ns),
            nanos(l.p999_ns),
            nanos(l.max_ns)
        ),
        None => [NOT_MEASURED; 5].join(" | "),
    }
}

fn latency(s: &mut String, loaded: &Loaded) {
    let _ = writeln!(s, "## Latency\n");
    let _ = writeln!(
        s,
        "*Window*: from the job's watermark passing a row's window end (or timer) to the row leaving the job. \
         *Event*: from a source first reading (open loop: being scheduled to send) an event at or after a sampled \
         row's newest contributing event time to the row leaving the job, an upper bound. HDR histograms, 3 \
         significant digits. `#` numbers the runs as in the latency plot.\n"
    );
    let _ = writeln!(
        s,
        "| # | file | query | workers | offered rate | window samples | p50 | p99 | p99.9 | max | event samples | \
         p50 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let numbered = latency_runs(loaded);
    for e in loaded.results.iter().filter(|e| e.run().is_some()) {
        let n =
            numbered.iter().position(|x| std::ptr::eq(*x, e)).map_or_else(|| "-".to_owned(), |i| (i + 1).to_string());
        let c = &e.result.configuration;
        let _ = writeln!(
            s,
            "| {n} | {} | {} | {} | {} | {} | {} |",
            e.file,
            e.label(),
            c.workers,
            c.rate.map_or_else(|| "closed loop".to_owned(), |r| format!("{} M/s", m(r as f64))),
            lat_cells(e.run().and_then(|f| f.window_latency.as_ref())),
            lat_cells(e.run().and_then(|f| f.event_latency.as_ref()))
        );
    }
    s.push('\n');
}

fn latency_load(s: &mut String, loaded: &Loaded) {
    let _ = writeln!(s, "## Latency vs offered load\n");
    let mut rated: Vec<&Entry> =
        loaded.results.iter().filter(|e| e.run().is_some() && e.result.configuration.rate.is_some()).collect();
    if rated.is_empty() {
        let _ = writeln!(s, "No run with an offered rate (`--rate`): latency vs load {NOT_MEASURED}.\n");
        return;
    }
    rated.sort_by_key(|e| (e.label(), e.result.configuration.workers, e.result.configuration.rate));
    let _ = writeln!(
        s,
        "| query | workers | offered M events/s | achieved M events/s | latency | samples | p50 | p99 | p99.9 | max | file |\n\
         |---|---|---|---|---|---|---|---|---|---|---|"
    );
    for e in rated {
        let Some(f) = e.run() else { continue };
        let c = &e.result.configuration;
        for (kind, of) in LATENCY_KINDS {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {kind} | {} | {} |",
                e.label(),
                c.workers,
                or_nm(c.rate, |r| m(r as f64)),
                m(f.throughput_events_per_s),
                lat_cells(of(f)),
                e.file
            );
        }
    }
    s.push('\n');
}

fn checkpoints(s: &mut String, loaded: &Loaded) {
    let _ = writeln!(s, "## Checkpoints\n");
    let with: Vec<&Entry> =
        loaded.results.iter().filter(|e| e.run().is_some_and(|f| f.checkpoints.is_some())).collect();
    if with.is_empty() {
        let _ = writeln!(s, "No run with checkpoints: checkpoint figures {NOT_MEASURED}.\n");
        return;
    }
    let _ = writeln!(
        s,
        "| file | query | workers | interval | completed | duration p50 | duration max | sync pause p50 | sync pause max | \
         bytes written | bytes referenced | peak state | M events/s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for e in &with {
        let Some(f) = e.run() else { continue };
        let Some(k) = &f.checkpoints else { continue };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} ms | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            e.file,
            e.label(),
            e.result.configuration.workers,
            k.interval_ms,
            k.completed,
            or_nm(k.duration, |d| nanos(d.p50_ns)),
            or_nm(k.duration, |d| nanos(d.max_ns)),
            or_nm(k.sync_pause, |d| nanos(d.p50_ns)),
            or_nm(k.sync_pause, |d| nanos(d.max_ns)),
            bytes(k.bytes_written),
            bytes(k.bytes_referenced),
            or_nm(e.peak_state_bytes(), bytes),
            m(f.throughput_events_per_s)
        );
    }
    let pairs = checkpoint_on_off(loaded);
    let _ =
        writeln!(s, "\nCheckpoints on vs off (closed-loop runs, same query, input, window and workers; medians):\n");
    if pairs.is_empty() {
        let _ =
            writeln!(s, "No closed-loop run without checkpoints matches a checkpointed one: ratio {NOT_MEASURED}.\n");
        return;
    }
    let _ = writeln!(
        s,
        "| query | input | workers | on M events/s (runs) | off M events/s (runs) | on / off |\n|---|---|---|---|---|---|"
    );
    for ((label, input, _, workers), on, n_on, off, n_off) in pairs {
        let ratio = if off > 0.0 { format!("{:.3}", on / off) } else { NOT_MEASURED.to_owned() };
        let _ = writeln!(s, "| {label} | {input} | {workers} | {} ({n_on}) | {} ({n_off}) | {ratio} |", m(on), m(off));
    }
    s.push('\n');
}

fn flink(s: &mut String, loaded: &Loaded) {
    let _ = writeln!(s, "## Rill vs Apache Flink\n");
    if loaded.peers.is_empty() {
        let _ = writeln!(s, "No peer comparison in `peers/`: Rill vs Flink {NOT_MEASURED}.\n");
        return;
    }
    let _ = writeln!(
        s,
        "Per core = throughput / (Rill workers or Flink parallelism). Flink *whole* is its whole process \
         (JVM, planner, mini-cluster start-up and tear-down included); *net* subtracts the start-up measured \
         on a tiny input. Rill's figure is its job throughput (its process throughput is shown beside it). \
         A ratio above 1 means Rill does more per core.\n"
    );
    let _ = writeln!(
        s,
        "| file | query | events | outputs equal | Rill workers | Rill M events/s (process) | Flink | Flink start-up | \
         Flink whole M events/s | Flink net M events/s | Rill / Flink per core, whole | Rill / Flink per core, net |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for (file, p) in &loaded.peers {
        let _ = writeln!(s, "{}", flink_row(file, p));
    }
    s.push('\n');
}

fn flink_row(file: &str, p: &PeerFile) -> String {
    let rill = p.rill.as_ref();
    let fl = p.flink.as_ref();
    let rill_pc = rill.filter(|r| r.workers > 0).map(|r| r.throughput_events_per_s / r.workers as f64);
    let per_core = |v: Option<f64>| fl.zip(v).filter(|(f, _)| f.parallelism > 0).map(|(f, v)| v / f.parallelism as f64);
    let whole_pc = per_core(fl.and_then(|f| f.whole_throughput_events_per_s));
    let net_pc = per_core(fl.and_then(|f| f.net_throughput_events_per_s).filter(|v| *v > 0.0));
    let ratio =
        |other: Option<f64>| or_nm(rill_pc.zip(other).filter(|(_, o)| *o > 0.0), |(r, o)| format!("{:.2}", r / o));
    format!(
        "| {file} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        p.query,
        or_nm(p.events, thousands),
        match p.outputs_equal {
            Some(true) => format!("yes (against {})", p.checked_against.as_deref().unwrap_or("?")),
            Some(false) => "**no**".to_owned(),
            None => NOT_MEASURED.to_owned(),
        },
        or_nm(rill.map(|r| r.workers), |w| w.to_string()),
        or_nm(rill, |r| format!("{} ({})", m(r.throughput_events_per_s), or_nm(r.process_throughput_events_per_s, m))),
        or_nm(fl, |f| format!("{} p{}", f.version.as_deref().unwrap_or("?"), f.parallelism)),
        or_nm(fl.and_then(|f| f.startup_s), |v| format!("{v:.1} s")),
        or_nm(fl.and_then(|f| f.whole_throughput_events_per_s), m),
        or_nm(fl.and_then(|f| f.net_throughput_events_per_s), m),
        ratio(whole_pc),
        ratio(net_pc)
    )
}
