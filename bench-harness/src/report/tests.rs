//! Tests of `rill-bench report` on small synthetic result directories whose figures are chosen
//! so that every expected number can be worked out by hand.

use std::path::Path;

use serde_json::{Value, json};

use super::{NOT_MEASURED, ReportArgs, run};

fn latency(p50: u64, p99: u64, p999: u64, max: u64) -> Value {
    json!({"samples": 100, "p50_ns": p50, "p99_ns": p99, "p999_ns": p999, "max_ns": max})
}

/// A sensors `run` file: `events` generated events (seed 42) on `workers` workers.
fn run_file(events: u64, workers: usize, throughput: f64, dirty: bool) -> Value {
    json!({
        "schema_version": 1,
        "command": "run",
        "argv": ["rill-bench", "run", "sensors", "--events", events.to_string()],
        "workload": "sensors",
        "timestamp": "2026-01-01T00:00:00Z",
        "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": dirty},
        "machine": {"cpu_model": "Test CPU 9000", "logical_cores": 2, "memory_bytes": 1073741824u64,
                    "kernel": "6.0.0-test", "disk": null},
        "configuration": {"input_kind": "generate", "input_path": null, "events": events, "seed": 42,
                          "late_fraction": null, "workers": workers, "window_ms": 10000,
                          "max_out_of_orderness_ms": 1000, "allowed_lateness_ms": 0, "rate": null,
                          "output": null, "late_output": null},
        "figures": {"kind": "run", "events_in": events, "rows_out": 1000, "late_rows": 0,
                    "elapsed_s": events as f64 / throughput,
                    "throughput_events_per_s": throughput,
                    "throughput_per_worker_events_per_s": throughput / workers as f64,
                    "window_latency": latency(1_500_000, 3_000_000, 4_000_000, 9_000_000),
                    "resources": {"peak_rss_bytes": 50u64 << 20, "cpu_user_s": 0.5, "cpu_system_s": 0.1},
                    "operators": [{"name": "window", "instances": workers, "records_in": events,
                                   "records_out": 1000, "late_records": 0, "watermark_ms": null,
                                   "max_event_time_ms": 0, "watermark_lag_ms": 0, "state_bytes": 0,
                                   "state_keys": 0, "peak_state_bytes": 8u64 << 20, "peak_state_keys": 1000}]}
    })
}

fn baseline_file(events: u64, loop_rate: f64) -> Value {
    let mut v = run_file(events, 1, 1.0, false);
    v["command"] = json!("baseline");
    v["argv"] = json!(["rill-bench", "baseline", "sensors", "--events", events.to_string()]);
    v["figures"] = json!({"kind": "baseline", "baselines": [
        {"name": "generator", "events": events, "workers": 1, "elapsed_s": 0.1, "events_per_s": 1e7,
         "rows_out": 0, "late_rows": 0, "checksum": 0, "cpu_s": 0.1},
        {"name": "loop_generated", "events": events, "workers": 1, "elapsed_s": events as f64 / loop_rate,
         "events_per_s": loop_rate, "rows_out": 1000, "late_rows": 0, "checksum": 7, "cpu_s": 0.25}]});
    v
}

fn peer_file(with_rill: bool) -> Value {
    json!({
        "schema_version": 1, "kind": "peer-comparison", "timestamp": "2026-01-01T00:00:00Z",
        "workload": "nexmark", "query": "q1", "events": 1000000, "seed": 42, "window_ms": null,
        "outputs_equal": true, "checked_against": if with_rill { "rill" } else { "python-reference" },
        "rill": if with_rill { json!({"workers": 2, "events_in": 1000000, "rows_out": 5, "elapsed_s": 0.5,
            "throughput_events_per_s": 2_400_000.0, "process_s": 0.6,
            "process_throughput_events_per_s": 1_666_666.0, "peak_rss_bytes": 1000}) } else { Value::Null },
        "flink": {"version": "2.3.0", "mode": "streaming", "parallelism": 1, "events_in": 1000000,
                  "rows_out": 5, "whole_s": 10.0, "whole_throughput_events_per_s": 100_000.0,
                  "startup_s": 3.5, "startup_events_in": 100, "net_s": 6.5,
                  "net_throughput_events_per_s": 150_000.0, "job_s": 9.0, "output_s": 0.1,
                  "header_strip_s_excluded": 0.2},
        "machine": {"kernel": "6.0.0-test", "cpu_model": "Test CPU 9000", "cores": 2,
                    "java": "openjdk version \"17\"", "python": "3.11"},
        "git": {"commit": "fedcba9876543210fedcba9876543210fedcba98", "dirty": false}
    })
}

fn write(dir: &Path, name: &str, v: &Value) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, serde_json::to_string_pretty(v).expect("json")).expect("write");
}

fn report(dir: &Path) -> String {
    run(&ReportArgs { results: dir.to_path_buf(), out: None }).expect("report runs");
    std::fs::read_to_string(dir.join("SUMMARY.md")).expect("summary written")
}

/// The line of the summary that contains every needle.
fn line_with<'a>(summary: &'a str, needles: &[&str]) -> &'a str {
    summary
        .lines()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no line with {needles:?} in:\n{summary}"))
}

fn is_svg(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| {
        let t = t.trim_start();
        t.starts_with("<svg") || t.starts_with("<?xml")
    })
}

#[test]
fn throughput_loop_ratio_latency_and_flink_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // 2 M events/s on 1 worker; 0.6 CPU s over 1 M events.
    write(d, "a_run.json", &run_file(1_000_000, 1, 2_000_000.0, true));
    // 3 M events/s on 2 workers: 1.5 M per worker.
    write(d, "b_run_w2.json", &run_file(1_000_000, 2, 3_000_000.0, false));
    write(d, "base.json", &baseline_file(1_000_000, 4_000_000.0));
    let mut open_loop = run_file(1_000_000, 1, 999_000.0, false);
    open_loop["configuration"]["rate"] = json!(1_000_000);
    write(d, "c_rate.json", &open_loop);
    write(d, "peers/q1.json", &peer_file(true));

    let s = report(d);
    // Machine and revisions, dirty flagged.
    assert!(s.contains("| Test CPU 9000 | 2 | 1.0 GiB | 6.0.0-test | rill-bench | 4 |"), "{s}");
    let rev = line_with(&s, &["`0123456789ab`"]);
    assert!(rev.contains("**yes, 1 of 4 files**"), "{rev}");
    assert!(line_with(&s, &["`fedcba987654`"]).contains("| no |"));
    // Throughput rows: M events/s, per worker, CPU s per M events.
    let a = line_with(&s, &["| a_run.json |"]);
    assert!(
        a.contains("| closed loop | 1,000,000 | 2.00 | 2.00 | 0.600 | 50.0 MiB | off | 0123456789ab (dirty) |"),
        "{a}"
    );
    let b = line_with(&s, &["| b_run_w2.json |", "| 2 |"]);
    assert!(b.contains("| 3.00 | 1.50 | 0.600 |"), "{b}");
    // Rill vs loop: 2 / 4 = 0.50 (whole), and 3 / 4, 1.5 / 4 for 2 workers.
    let ra = line_with(&s, &["| a_run.json | 1 | 2.00 | base.json (loop_generated) |"]);
    assert!(ra.contains("| 4.00 | 0.50 | 0.50 | yes |"), "{ra}");
    let rb = line_with(&s, &["| b_run_w2.json | 2 | 3.00 | base.json"]);
    assert!(rb.contains("| 0.75 | 0.38 | yes |"), "{rb}");
    // The open-loop run is not compared with the loop.
    assert!(!s.contains("| c_rate.json | 1 | 1.00 | base.json"));
    // Baseline CPU: 0.25 s over 1 M events.
    assert!(line_with(&s, &["| base.json |", "| loop_generated |"]).contains("| 4.00 | 0.250 | 1,000 |"));
    // Latency percentiles.
    let l = line_with(&s, &["| a_run.json | sensors | 1 | closed loop |"]);
    assert!(l.contains("| 100 | 1.50 ms | 3.00 ms | 4.00 ms | 9.00 ms |"), "{l}");
    // Latency vs offered load.
    let lv = line_with(&s, &["| sensors | 1 | 1.00 | 1.00 |"]);
    assert!(lv.contains("c_rate.json"), "{lv}");
    // Flink: Rill 2.4 M/s over 2 workers = 1.2 M per core; Flink 0.1 (whole) and 0.15 (net).
    let f = line_with(&s, &["| q1.json | q1 |"]);
    assert!(
        f.contains(
            "| 1,000,000 | yes (against rill) | 2 | 2.40 (1.67) | 2.3.0 p1 | 3.5 s | 0.10 | 0.15 | 12.00 | 8.00 |"
        ),
        "{f}"
    );
    // No checkpoints anywhere.
    assert!(s.contains(&format!("No run with checkpoints: checkpoint figures {NOT_MEASURED}.")));

    // Plots with data are SVG files linked from the summary; those without are not drawn.
    for p in ["throughput.svg", "latency.svg", "latency_vs_load.svg"] {
        assert!(is_svg(&d.join("plots").join(p)), "{p} is not an SVG file");
        assert!(s.contains(&format!("(plots/{p})")), "{p} not linked");
    }
    // Peak state is recorded but no run has checkpoints: nothing to plot.
    assert!(!d.join("plots/checkpoint_duration.svg").exists());
    assert!(s.contains("*Plot \"Checkpoint duration vs state size\" not drawn:"));
}

#[test]
fn missing_figures_say_not_measured_and_empty_plots_are_not_drawn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut r = run_file(2_000_000, 1, 1_000_000.0, false);
    r["figures"]["window_latency"] = Value::Null;
    r["figures"]["resources"] = json!({"peak_rss_bytes": null, "cpu_user_s": 0.0, "cpu_system_s": 0.0});
    r["machine"]["memory_bytes"] = Value::Null;
    r["git"]["dirty"] = Value::Null;
    write(d, "bare.json", &r);
    write(d, "peers/q1-ref.json", &peer_file(false));
    std::fs::write(d.join("broken.json"), "{ not json").expect("write");
    std::fs::write(d.join("peers/other.json"), r#"{"kind": "something-else", "query": "x"}"#).expect("write");

    let s = report(d);
    let nm = NOT_MEASURED;
    let row = line_with(&s, &["| bare.json |", "closed loop | 2,000,000"]);
    assert!(row.contains(&format!("| 1.00 | 1.00 | {nm} | {nm} | off |")), "{row}");
    assert!(row.contains("(dirty: unknown)"), "{row}");
    let lat = line_with(&s, &["| - | bare.json |"]);
    assert!(lat.ends_with(&format!("| {nm} | {nm} | {nm} | {nm} | {nm} |")), "{lat}");
    assert!(s.contains(&format!("No baseline files: Rill vs hand-written loop {nm}.")));
    assert!(s.contains(&format!("latency vs load {nm}")));
    let f = line_with(&s, &["| q1-ref.json |"]);
    assert!(f.contains(&format!("| yes (against python-reference) | {nm} | {nm} | 2.3.0 p1 |")), "{f}");
    assert!(f.ends_with(&format!("| 0.10 | 0.15 | {nm} | {nm} |")), "{f}");
    // Unparsable files are named, and the report still covers the rest.
    assert!(line_with(&s, &["broken.json"]).starts_with("- `"));
    assert!(line_with(&s, &["other.json"]).contains("is not \"peer-comparison\""));
    // Throughput is drawn; the latency plots have no data and are not.
    assert!(is_svg(&d.join("plots/throughput.svg")));
    for (file, title) in [("latency.svg", "Latency percentiles"), ("latency_vs_load.svg", "Latency vs offered load")] {
        assert!(!d.join("plots").join(file).exists(), "{file} drawn without data");
        assert!(s.contains(&format!("*Plot \"{title}\" not drawn: ")), "{title}");
    }
}

#[test]
fn event_latency_beside_window_latency_per_run_and_per_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut both = run_file(1_000_000, 1, 999_000.0, false);
    both["configuration"]["rate"] = json!(1_000_000);
    both["figures"]["event_latency"] = latency(2_500_000, 5_000_000, 6_000_000, 7_000_000);
    write(d, "both.json", &both);
    // Stateless queries (Nexmark q0-q2) record event latency only.
    let mut event_only = run_file(1_000_000, 1, 499_000.0, false);
    event_only["configuration"]["rate"] = json!(500_000);
    event_only["figures"]["window_latency"] = Value::Null;
    event_only["figures"]["event_latency"] = latency(1_000_000, 2_000_000, 3_000_000, 4_000_000);
    write(d, "event_only.json", &event_only);
    // A file from before event latency was measured has no such field at all.
    write(d, "old.json", &run_file(1_000_000, 1, 2_000_000.0, false));

    let s = report(d);
    let nm = NOT_MEASURED;
    let b = line_with(&s, &["| 1 | both.json | sensors | 1 | 1.00 M/s |"]);
    assert!(
        b.ends_with("| 100 | 1.50 ms | 3.00 ms | 4.00 ms | 9.00 ms | 100 | 2.50 ms | 5.00 ms | 6.00 ms | 7.00 ms |"),
        "{b}"
    );
    // A run with event latency only is numbered, as it is drawn in the per-run plot.
    let e = line_with(&s, &["| 2 | event_only.json |"]);
    assert!(
        e.ends_with(&format!("| {nm} | {nm} | {nm} | {nm} | {nm} | 100 | 1.00 ms | 2.00 ms | 3.00 ms | 4.00 ms |")),
        "{e}"
    );
    let o = line_with(&s, &["| 3 | old.json |"]);
    assert!(o.ends_with(&format!("| 9.00 ms | {nm} | {nm} | {nm} | {nm} | {nm} |")), "{o}");
    // Latency vs offered load: one row per kind and run.
    assert!(line_with(&s, &["| sensors | 1 | 1.00 |", "| window |"]).contains("| 100 | 1.50 ms |"));
    assert!(line_with(&s, &["| sensors | 1 | 1.00 |", "| event |"]).contains("| 100 | 2.50 ms |"));
    assert!(line_with(&s, &["| sensors | 1 | 0.50 |", "| event |"]).contains("| 100 | 1.00 ms |"));
    assert!(line_with(&s, &["| sensors | 1 | 0.50 |", "| window |"]).contains(&format!("| window | {nm} |")));
    for p in ["latency.svg", "latency_vs_load.svg"] {
        assert!(is_svg(&d.join("plots").join(p)), "{p} is not an SVG file");
    }
}

#[test]
fn event_latency_alone_draws_the_latency_plots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut r = run_file(1_000_000, 1, 499_000.0, false);
    r["configuration"]["rate"] = json!(500_000);
    r["figures"]["window_latency"] = Value::Null;
    r["figures"]["event_latency"] = latency(1_000_000, 2_000_000, 3_000_000, 4_000_000);
    write(d, "q0.json", &r);
    let s = report(d);
    for p in ["latency.svg", "latency_vs_load.svg"] {
        assert!(is_svg(&d.join("plots").join(p)), "{p} not drawn from event latency alone");
        assert!(s.contains(&format!("(plots/{p})")), "{p} not linked");
    }
}

#[test]
fn checkpoint_figures_ratio_and_scatter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(d, "off1.json", &run_file(1_000_000, 2, 2_000_000.0, false));
    write(d, "off2.json", &run_file(1_000_000, 2, 4_000_000.0, false));
    let mut on = run_file(1_000_000, 2, 2_700_000.0, false);
    on["figures"]["checkpoints"] = json!({
        "interval_ms": 500, "restored_epoch": null, "completed": 4,
        "duration": latency(2_000_000, 7_000_000, 7_000_000, 8_000_000),
        "sync_pause": latency(100_000, 300_000, 300_000, 400_000),
        "bytes_written": 4u64 << 20, "bytes_referenced": 1024, "aligned_records": 0, "each": []});
    write(d, "on.json", &on);
    // Same query and workers but another event count: not part of the comparison.
    write(d, "other_events.json", &run_file(5_000_000, 2, 100.0, false));

    let s = report(d);
    let row = line_with(&s, &["| on.json | sensors | 2 | 500 ms | 4 |"]);
    assert!(
        row.contains("| 2.00 ms | 8.00 ms | 100.00 us | 400.00 us | 4.0 MiB | 1.0 KiB | 8.0 MiB | 2.70 |"),
        "{row}"
    );
    // Median off = 3.0 M/s; on / off = 2.7 / 3.0.
    let ratio = line_with(&s, &["| sensors | generate 1,000,000 events, seed 42 | 2 |"]);
    assert!(ratio.contains("| 2.70 (1) | 3.00 (2) | 0.900 |"), "{ratio}");
    for p in ["checkpoint_duration.svg", "checkpoint_bytes.svg"] {
        assert!(is_svg(&d.join("plots").join(p)), "{p}");
        assert!(s.contains(&format!("(plots/{p})")));
    }
}

#[test]
fn a_missing_directory_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = run(&ReportArgs { results: dir.path().join("nope"), out: None }).expect_err("no directory");
    assert!(err.to_string().contains("nope"), "{err}");
}
