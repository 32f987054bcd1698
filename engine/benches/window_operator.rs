//! Records per second of the keyed window operator, one job per iteration, through the public
//! stream API (`key_by` -> `window` -> `aggregate`) on one worker.
//!
//! Every case runs a whole job, `rill::execute` on 1 worker, over the same 1.5 M in-memory
//! records (24 bytes: event time, key, value; 25 000 records per second of event time, so
//! 60 s of event time, each record up to 200 ms behind its nominal time, a bounded
//! out-of-orderness watermark of 500 ms, so none is late), aggregated with
//! `(Count, Sum, Min, Max)` of the value; the result rows go to a counting sink. Figures are input
//! records per second of the whole job (source, window operator, sinks), so
//! `window_operator/source_only` (the same source into a counting sink) is the floor they stand on.
//!
//! * `window_operator/keys/<n>/tumbling_10s`: tumbling 10 s windows, 1 K, 100 K and 1 M keys (uniform).
//! * `window_operator/window/100000/<spec>`: 100 K keys, tumbling 1 s and 60 s windows (10 s is
//!   `keys/100000/tumbling_10s`), and sliding 10 s windows every 2 s (each record in 5 windows,
//!   one 2 s pane).
//! * `window_operator/session/<n>/gap_5s`: session windows with a 5 s gap, 10 K keys (a key every
//!   0.4 s: long sessions, about one break per key) and 100 K keys (a key every 4 s: sessions of
//!   3 to 4 records, frequent merges).
//!
//! Before the measurements each case runs once and checks that every record was counted in
//! each of its windows and none was late (the figures measure the work the case describes). The
//! groups take 10 flat samples (one job each, at least), so a plain `cargo bench` stays
//! bounded; for a quick pass:
//!
//! ```text
//! cargo bench -p rill --bench window_operator -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! One iteration is one job: thread start and dataflow construction are included (well under
//! a millisecond, against the 30 ms and more that 1.5 M windowed records take).

use std::hint::black_box;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rill::api::aggregate::{Count, Max, Min, Sum};
use rill::api::stream::StreamExt;
use rill::operators::source::SourceOptions;
use rill::time::watermark::WatermarkStrategy;
use rill::time::window::WindowSpec;
use rill::{Counter, Event, EventTime, JobConfig, Sink};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::Inspect;

/// Input records of every case.
const RECORDS: u64 = 1_500_000;
/// Records per second of event time.
const RATE_PER_S: u64 = 25_000;
/// Largest delay of a record behind its nominal time (ms).
const MAX_JITTER_MS: u64 = 200;
/// The source's bounded out-of-orderness (ms): above the jitter, so no record is late.
const OUT_OF_ORDERNESS_MS: u64 = 500;
/// Event time of record 0: a multiple of 60 s, so the windows line up with the input.
const BASE_MS: u64 = 1_700_000_040_000;

/// One input record.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Rec {
    ts: u64,
    key: u64,
    value: i64,
}

impl Event for Rec {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.ts)
    }
}

/// A 64-bit mixer (splitmix64's finaliser) of `i`.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The input: `RECORDS` records over `keys` uniform keys.
fn input(keys: u64) -> Arc<Vec<Rec>> {
    let records = (0..RECORDS)
        .map(|i| {
            let h = mix(i);
            let nominal = BASE_MS + i * 1000 / RATE_PER_S;
            Rec {
                ts: nominal - (h >> 48) % (MAX_JITTER_MS + 1),
                key: (h & 0xFFFF_FFFF) % keys,
                value: ((h >> 32) % 10_000) as i64 - 5_000,
            }
        })
        .collect();
    Arc::new(records)
}

/// What one job produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outcome {
    /// Result rows (source only: records).
    rows: u64,
    /// Records counted in the result rows (source only: records).
    counted: u64,
    /// Records late for every window.
    late: u64,
}

/// Runs one job over `data` on one worker: the window aggregate for `spec`, or the source
/// straight into a counting sink for `None`.
fn run(data: &Arc<Vec<Rec>>, spec: Option<WindowSpec>) -> Outcome {
    let rows = Counter::new();
    let late = Counter::new();
    let counted = Arc::new(AtomicU64::new(0));
    let (rows_sink, late_sink, counted_sink) = (rows.clone(), late.clone(), Arc::clone(&counted));
    let data = Arc::clone(data);
    rill::execute(JobConfig::with_workers(1), move |df| {
        let data = Arc::clone(&data);
        let options = SourceOptions {
            strategy: WatermarkStrategy::bounded_out_of_orderness(OUT_OF_ORDERNESS_MS),
            watermark_log: None,
        };
        let fill = move |range: Range<u64>, out: &mut Vec<Rec>| {
            out.extend_from_slice(&data[range.start as usize..range.end as usize]);
        };
        let records = df.generator_source("input", RECORDS, options, fill);
        let Some(spec) = spec else {
            records.count_into(df, &rows_sink);
            return;
        };
        let windows = records.key_by(df, |r: &Rec| r.key).window(spec).aggregate(
            "window",
            (Count, Sum::of(|r: &Rec| r.value), Min::of(|r: &Rec| r.value), Max::of(|r: &Rec| r.value)),
        );
        // The records counted in each batch of rows, added once per batch.
        let counted = Arc::clone(&counted_sink);
        let results = windows.results.inspect_core(move |event| {
            if let Ok((_, rows)) = event {
                counted.fetch_add(rows.iter().map(|r| r.value.0).sum(), Ordering::Relaxed);
            }
        });
        results.count_into(df, &rows_sink);
        windows.late.count_into(df, &late_sink);
    })
    .expect("the benchmark job runs");
    let counted = if spec.is_some() { counted.load(Ordering::Relaxed) } else { rows.get() };
    Outcome { rows: rows.get(), counted, late: late.get() }
}

/// Benchmarks `spec` on `data` as `id` in `group`, after checking one run.
fn case(group: &mut BenchmarkGroup<'_, WallTime>, id: &str, data: &Arc<Vec<Rec>>, spec: Option<WindowSpec>) {
    let outcome = run(data, spec);
    assert_eq!(outcome.late, 0, "{id}: no record is late");
    // Every record is in `size / slide` sliding windows, in one window of any other kind.
    let windows_per_record = match spec {
        Some(WindowSpec::Sliding { size_ms, slide_ms }) => size_ms / slide_ms,
        _ => 1,
    };
    assert_eq!(outcome.counted, RECORDS * windows_per_record, "{id}: every record is counted in each of its windows");
    eprintln!("{id}: {} result rows", outcome.rows);
    group.bench_function(id, |b| b.iter(|| black_box(run(data, spec))));
}

/// A group of whole-job cases: 10 flat samples, input records as throughput.
fn group<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(RECORDS));
    g
}

fn keys(c: &mut Criterion) {
    let mut g = group(c, "window_operator");
    let data = input(100_000);
    case(&mut g, "source_only", &data, None);
    drop(data);
    for keys in [1_000u64, 100_000, 1_000_000] {
        let data = input(keys);
        case(&mut g, &format!("keys/{keys}/tumbling_10s"), &data, Some(WindowSpec::tumbling(10_000)));
    }
    g.finish();
}

fn windows(c: &mut Criterion) {
    let mut g = group(c, "window_operator");
    let data = input(100_000);
    for (label, spec) in [
        ("tumbling_1s", WindowSpec::tumbling(1_000)),
        ("tumbling_60s", WindowSpec::tumbling(60_000)),
        ("sliding_10s_2s", WindowSpec::sliding(10_000, 2_000)),
    ] {
        case(&mut g, &format!("window/100000/{label}"), &data, Some(spec));
    }
    g.finish();
}

fn sessions(c: &mut Criterion) {
    let mut g = group(c, "window_operator");
    for keys in [10_000u64, 100_000] {
        let data = input(keys);
        case(&mut g, &format!("session/{keys}/gap_5s"), &data, Some(WindowSpec::session(5_000)));
    }
    g.finish();
}

criterion_group!(benches, keys, windows, sessions);
criterion_main!(benches);
