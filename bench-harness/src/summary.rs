//! Human-readable summaries of results, printed to stdout after a run.
//!
//! Pure formatting of [`crate::results`] types: nothing here measures. Numbers are printed in
//! full with thousands separators (counts) or with units (rates, durations, bytes).

use std::fmt::Write;

use crate::results::{BaselineFigure, LatencySummary, OperatorFigures, RunFigures};

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate in events/s with an SI prefix: `12.35 M events/s`.
pub fn events_per_s(rate: f64) -> String {
    let (v, unit) = if rate >= 1e9 {
        (rate / 1e9, "G ")
    } else if rate >= 1e6 {
        (rate / 1e6, "M ")
    } else if rate >= 1e3 {
        (rate / 1e3, "k ")
    } else {
        (rate, "")
    };
    format!("{v:.2} {unit}events/s")
}

/// Nanoseconds in the largest unit that keeps the value at or above 1: `1.50 ms`.
pub fn nanos(ns: u64) -> String {
    let v = ns as f64;
    if v >= 1e9 {
        format!("{:.2} s", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} ms", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.2} us", v / 1e3)
    } else {
        format!("{ns} ns")
    }
}

/// Bytes in binary units: `12.3 MiB`.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// The latency line: `p50 .. p99 .. p99.9 .. max .. (n samples)`.
pub fn latency_line(l: &LatencySummary) -> String {
    format!(
        "p50 {}  p99 {}  p99.9 {}  max {}  ({} samples)",
        nanos(l.p50_ns),
        nanos(l.p99_ns),
        nanos(l.p999_ns),
        nanos(l.max_ns),
        thousands(l.samples)
    )
}

/// The summary of a `run`.
pub fn run_summary(workload: &str, workers: usize, f: &RunFigures) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{workload}: {} events in {:.3} s", thousands(f.events_in), f.elapsed_s);
    let _ = writeln!(
        s,
        "throughput:     {}  ({} per worker, {workers} worker{})",
        events_per_s(f.throughput_events_per_s),
        events_per_s(f.throughput_per_worker_events_per_s),
        if workers == 1 { "" } else { "s" }
    );
    let _ = writeln!(s, "rows out:       {}", thousands(f.rows_out));
    let _ = writeln!(s, "late rows:      {}", thousands(f.late_rows));
    for (what, l) in [("window latency:", &f.window_latency), ("event latency: ", &f.event_latency)] {
        match l {
            Some(l) => {
                let _ = writeln!(s, "{what} {}", latency_line(l));
            }
            None => {
                let _ = writeln!(s, "{what} no samples");
            }
        }
    }
    let r = &f.resources;
    let _ = writeln!(s, "peak RSS:       {}", r.peak_rss_bytes.map_or_else(|| "unknown".to_owned(), bytes));
    let _ =
        writeln!(s, "CPU:            {:.2} s (user {:.2} s, system {:.2} s)", r.cpu_s(), r.cpu_user_s, r.cpu_system_s);
    if !f.operators.is_empty() {
        s.push('\n');
        s.push_str(&operator_table(&f.operators));
    }
    s
}

/// The per-operator metrics as an aligned text table.
pub fn operator_table(ops: &[OperatorFigures]) -> String {
    let header = [
        "operator",
        "inst",
        "records in",
        "records out",
        "late",
        "wm lag ms",
        "peak state bytes",
        "peak keys",
        "bytes/key",
    ];
    let rows: Vec<[String; 9]> = ops
        .iter()
        .map(|o| {
            [
                o.name.clone(),
                o.instances.to_string(),
                thousands(o.records_in),
                thousands(o.records_out),
                thousands(o.late_records),
                thousands(o.watermark_lag_ms),
                thousands(o.peak_state_bytes),
                thousands(o.peak_state_keys),
                if o.peak_state_keys == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.1}", o.peak_state_bytes as f64 / o.peak_state_keys as f64)
                },
            ]
        })
        .collect();
    table(&header, &rows)
}

/// The summary of a `baseline`.
pub fn baseline_summary(workload: &str, figures: &[BaselineFigure]) -> String {
    let header = ["baseline", "workers", "events", "elapsed s", "throughput", "rows", "late", "checksum"];
    let rows: Vec<[String; 8]> = figures
        .iter()
        .map(|b| {
            [
                b.name.clone(),
                b.workers.to_string(),
                thousands(b.events),
                format!("{:.3}", b.elapsed_s),
                events_per_s(b.events_per_s),
                thousands(b.rows_out),
                thousands(b.late_rows),
                format!("{:016x}", b.checksum),
            ]
        })
        .collect();
    format!("{workload} baselines\n{}", table(&header, &rows))
}

/// Left-aligns the first column, right-aligns the others.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let mut s = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        for (i, (cell, w)) in cells.zip(widths).enumerate() {
            if i == 0 {
                let _ = write!(s, "{cell:<w$}");
            } else {
                let _ = write!(s, "  {cell:>w$}");
            }
        }
        s.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    s
}

/// What checkpointing did in a run: restore, checkpoints, durations and bytes.
pub fn checkpoint_summary(ck: &rill::snapshot::CheckpointSummaryReport) -> String {
    let mut out = String::new();
    if let Some(e) = ck.restored_epoch {
        out.push_str(&format!("  restored checkpoint {e}\n"));
    }
    let n = ck.completed.len();
    if n > 0 {
        let mut durations: Vec<u64> = ck.completed.iter().map(|c| c.duration_micros).collect();
        durations.sort_unstable();
        let mut pauses: Vec<u64> = ck.completed.iter().map(|c| c.max_sync_pause_micros).collect();
        pauses.sort_unstable();
        let written: u64 = ck.completed.iter().map(|c| c.bytes_written).sum();
        out.push_str(&format!(
            "  checkpoints: {n} completed (epochs {}..={}), duration p50 {:.1} ms max {:.1} ms, sync pause p50 {} µs max {} µs, {} bytes written\n",
            ck.completed[0].epoch,
            ck.completed[n - 1].epoch,
            durations[n / 2] as f64 / 1e3,
            durations[n - 1] as f64 / 1e3,
            pauses[n / 2],
            pauses[n - 1],
            written
        ));
    }
    if ck.stopped_at_savepoint {
        let e = ck.completed.last().map_or(0, |c| c.epoch);
        out.push_str(&format!("  stopped with a savepoint at epoch {e}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
        assert_eq!(events_per_s(12_345_678.0), "12.35 M events/s");
        assert_eq!(events_per_s(950.0), "950.00 events/s");
        assert_eq!(nanos(240_000), "240.00 us");
        assert_eq!(nanos(999), "999 ns");
        assert_eq!(nanos(1_500_000_000), "1.50 s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(&["a", "bb"], &[["long name".into(), "1".into()], ["x".into(), "12345".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines, ["a             bb", "long name      1", "x          12345"]);
    }
}
