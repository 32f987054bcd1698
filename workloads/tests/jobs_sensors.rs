//! The sensors job against a naive batch computation over the same seeded input, on 1, 2 and
//! 4 workers, from generated input and from CSV, with late events.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rill::operators::source::SourceOptions;
use rill::time::watermark::WatermarkStrategy;
use rill::{Captured, JobConfig, Sink};
use rill_workloads::jobs::sensors::{RoomWindow, TempAcc, room_windows};
use rill_workloads::jobs::{Input, JobOptions, run_sensors};
use rill_workloads::sensors::{SensorReading, Sensors, SensorsConfig};

type Row = (u64, u32, u32, i32);

fn row(r: &SensorReading) -> Row {
    (r.ts_ms, r.sensor_id, r.room, r.temp_dc)
}

fn config(events: u64, late_fraction: f64) -> SensorsConfig {
    SensorsConfig {
        seed: 7,
        events,
        late_fraction,
        late_delay_ms: 5_000,
        rooms: 50,
        sensors: 2_000,
        ..SensorsConfig::default()
    }
}

/// Naive reference: every event not generated late counts in its tumbling window.
fn reference(sensors: &Sensors, window_ms: u64) -> (BTreeSet<RoomWindow>, BTreeSet<Row>) {
    let mut acc: BTreeMap<(u32, u64), TempAcc> = BTreeMap::new();
    let mut late = BTreeSet::new();
    for i in 0..sensors.config().events {
        let r = sensors.event(i);
        if sensors.is_late(i) {
            late.insert(row(&r));
            continue;
        }
        let start = r.ts_ms - r.ts_ms % window_ms;
        let a =
            acc.entry((r.room, start)).or_insert(TempAcc { count: 0, sum_dc: 0, min_dc: i32::MAX, max_dc: i32::MIN });
        a.count += 1;
        a.sum_dc += i64::from(r.temp_dc);
        a.min_dc = a.min_dc.min(r.temp_dc);
        a.max_dc = a.max_dc.max(r.temp_dc);
    }
    let rows = acc.iter().map(|(&(room, start), a)| RoomWindow::from_acc(room, start, start + window_ms, a)).collect();
    (rows, late)
}

fn run_engine(sensors: &Arc<Sensors>, workers: usize, window_ms: u64) -> (Vec<RoomWindow>, Vec<SensorReading>) {
    let rows = Captured::new();
    let late = Captured::new();
    let (rows2, late2, sensors2) = (rows.clone(), late.clone(), Arc::clone(sensors));
    let total = sensors.config().events;
    rill::execute(JobConfig::with_workers(workers), move |df| {
        let g = Arc::clone(&sensors2);
        let options =
            SourceOptions { strategy: WatermarkStrategy::bounded_out_of_orderness(1_000), watermark_log: None };
        let readings = df.generator_source("readings", total, options, move |r, out| g.fill(r, out));
        let (windows, late) = room_windows(df, readings, window_ms, 0);
        windows.capture_into(df, &rows2);
        late.capture_into(df, &late2);
    })
    .expect("job runs");
    (rows.take(), late.take())
}

#[test]
fn sensors_job_matches_reference_on_1_2_4_workers() {
    let sensors = Arc::new(Sensors::new(config(1_500_000, 0.01)).unwrap());
    let (expected, expected_late) = reference(&sensors, 1_000);
    assert!(expected_late.len() > 1_000, "the input has late events: {}", expected_late.len());
    for workers in [1, 2, 4] {
        let (rows, late) = run_engine(&sensors, workers, 1_000);
        // Allowed lateness 0: each window exactly once.
        assert_eq!(rows.len(), expected.len(), "{workers} workers: one row per window");
        let rows: BTreeSet<RoomWindow> = rows.into_iter().collect();
        assert_eq!(rows, expected, "{workers} workers: window rows");
        let late_n = late.len();
        let late: BTreeSet<Row> = late.iter().map(row).collect();
        assert_eq!(late_n, late.len(), "no late record twice");
        assert_eq!(late, expected_late, "{workers} workers: late records");
    }
}

#[test]
fn run_sensors_csv_equals_generated_and_conserves_rows() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let cfg = SensorsConfig { seed: 11, events: 200_000, ..SensorsConfig::default() };
    rill_workloads::sensors::export_csv(&cfg, &input).unwrap();
    let mut outputs = Vec::new();
    for (i, (workers, source)) in [
        (1, Input::Csv(input.clone())),
        (3, Input::Csv(input.clone())),
        (2, Input::Generate { events: 200_000, seed: 11, late_fraction: 0.0 }),
    ]
    .into_iter()
    .enumerate()
    {
        let out = dir.path().join(format!("out{i}.csv"));
        let opts = JobOptions { workers, window_ms: 500, output: Some(out.clone()), ..JobOptions::default() };
        let report = run_sensors(&opts, &source).unwrap();
        assert_eq!(report.events_in, 200_000);
        assert_eq!(report.late_rows, 0);
        let text = std::fs::read_to_string(&out).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "room,window_start_ms,window_end_ms,count,avg_temp,min_temp,max_temp");
        lines.remove(0);
        assert_eq!(lines.len() as u64, report.rows_out);
        // Every input row is counted in exactly one output row.
        let counted: u64 = lines.iter().map(|l| l.split(',').nth(3).unwrap().parse::<u64>().unwrap()).sum();
        assert_eq!(counted, 200_000);
        lines.sort_unstable();
        outputs.push(lines.join("\n"));
        assert!(!report.window_latency_ns.is_empty());
    }
    assert_eq!(outputs[0], outputs[1], "CSV on 1 and 3 workers");
    assert_eq!(outputs[0], outputs[2], "CSV and generated input");
}

/// A malformed row stops the job with an error naming the file, line and column, and no output
/// file is left behind as if it were complete.
#[test]
fn malformed_csv_row_fails_the_run_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.csv");
    let mut text = String::from("ts_ms,sensor_id,room,temp\n");
    for i in 0..50_000u64 {
        if i == 40_000 {
            text.push_str("1700000400000,12,room-7,21.5\n");
        } else {
            text.push_str(&format!("{},{},{},21.5\n", 1_700_000_000_000 + i * 10, i % 97, i % 13));
        }
    }
    std::fs::write(&input, text).unwrap();
    for workers in [1, 2] {
        let out = dir.path().join(format!("out{workers}.csv"));
        let late = dir.path().join(format!("late{workers}.csv"));
        let opts =
            JobOptions { workers, output: Some(out.clone()), late_output: Some(late.clone()), ..JobOptions::default() };
        let err = run_sensors(&opts, &Input::Csv(input.clone())).expect_err("a malformed row fails the run");
        let msg = err.to_string();
        // The header is line 1, so row 40 000 (0-based) is line 40 002; `room` is column 3.
        assert!(msg.contains("bad.csv") && msg.contains("line 40002") && msg.contains("column 3"), "{msg}");
        assert!(msg.contains("room"), "{msg}");
        assert!(!out.exists() && !late.exists(), "no output file after a failed run");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}
