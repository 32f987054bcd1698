//! Window operators against a naive batch computation, on 1, 2 and 4 workers.
//!
//! Each worker's input is a live channel on which the test interleaves records and explicit
//! watermark declarations, so the stamp of every record (the watermark of its source when it
//! was read) is known exactly. The reference assigns each record to its windows with the
//! documented rule — a record counts in a window ending at `E` iff `E + allowed_lateness >
//! stamp` — and compares the final row of every window (the newest row supersedes) and the
//! late output with the engine's.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rill::api::aggregate::{Count, Sum};
use rill::api::stream::StreamExt;
use rill::operators::live::LiveInput;
use rill::operators::source::SourceOptions;
use rill::operators::window::WindowResult;
use rill::time::watermark::WatermarkStrategy;
use rill::time::window::{Window, WindowSpec};
use rill::{Captured, Event, EventTime, JobConfig, Sink};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct Rec {
    ts: u64,
    key: u32,
    value: i64,
    id: u64,
}

impl Event for Rec {
    fn event_time(&self) -> EventTime {
        EventTime(self.ts)
    }
}

/// What one worker's source is fed: records and watermark declarations, in order.
#[derive(Clone, Debug)]
enum Step {
    Record(Rec),
    Watermark(u64),
}

/// A deterministic pseudo-random script per worker: event times advance with jitter, the
/// watermark is declared now and then, and some records are sent far behind it.
fn script(seed: u64, workers: usize, records: usize, late_share: u64) -> Vec<Vec<Step>> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut scripts = vec![Vec::new(); workers];
    let mut now = 10_000u64;
    let mut wm = vec![0u64; workers];
    for id in 0..records as u64 {
        let w = (next() % workers as u64) as usize;
        now += next() % 7;
        let r = next();
        let ts = match r % 100 {
            x if x < late_share => now.saturating_sub(500 + r % 4_000),
            // Exactly on either side of the current stamp: the boundary of every lateness rule.
            x if x < late_share + 4 && wm[w] > 0 => wm[w] - (x % 2),
            _ => now - r % 300,
        };
        scripts[w].push(Step::Record(Rec { ts, key: (next() % 13) as u32, value: (next() % 1000) as i64 - 300, id }));
        if next() % 16 == 0 {
            // Half of the declarations fall exactly on a window boundary.
            let t = now.saturating_sub(400);
            let t = if next() % 2 == 0 { t - t % 500 } else { t };
            if t > wm[w] {
                wm[w] = t;
                scripts[w].push(Step::Watermark(t));
            }
        }
    }
    scripts
}

/// The stamp of every record: the last watermark declared on its worker before it.
fn stamped(scripts: &[Vec<Step>]) -> Vec<(Rec, u64)> {
    let mut out = Vec::new();
    for s in scripts {
        let mut wm = 0;
        for step in s {
            match step {
                Step::Record(r) => out.push((*r, wm)),
                Step::Watermark(t) => wm = *t,
            }
        }
    }
    out
}

type Final = BTreeMap<(u32, Window), (u64, i64)>;

/// Reference for tumbling and sliding windows.
fn reference_aligned(recs: &[(Rec, u64)], spec: WindowSpec, lateness: u64) -> (Final, BTreeSet<Rec>) {
    let mut out: Final = BTreeMap::new();
    let mut late = BTreeSet::new();
    for (r, stamp) in recs {
        let mut any = false;
        spec.assign(EventTime(r.ts), |w| {
            if w.end.0 + lateness > *stamp {
                any = true;
                let e = out.entry((r.key, w)).or_default();
                e.0 += 1;
                e.1 += r.value;
            }
        });
        if !any {
            late.insert(*r);
        }
    }
    (out, late)
}

/// Reference for session windows (allowed lateness 0): records not below their stamp, grouped
/// per key into sessions closed by a gap longer than `gap`.
fn reference_sessions(recs: &[(Rec, u64)], gap: u64) -> (Final, BTreeSet<Rec>) {
    let mut per_key: BTreeMap<u32, Vec<Rec>> = BTreeMap::new();
    let mut late = BTreeSet::new();
    for (r, stamp) in recs {
        if r.ts < *stamp {
            late.insert(*r);
        } else {
            per_key.entry(r.key).or_default().push(*r);
        }
    }
    let mut out: Final = BTreeMap::new();
    for (key, mut rs) in per_key {
        rs.sort_by_key(|r| r.ts);
        let mut i = 0;
        while i < rs.len() {
            let start = rs[i].ts;
            let mut end = start + gap;
            let (mut n, mut sum) = (0, 0);
            while i < rs.len() && rs[i].ts <= end {
                end = end.max(rs[i].ts + gap);
                n += 1;
                sum += rs[i].value;
                i += 1;
            }
            out.insert((key, Window::new(start, end)), (n, sum));
        }
    }
    (out, late)
}

fn run(scripts: &[Vec<Step>], spec: WindowSpec, lateness: u64) -> (Final, Vec<Rec>, usize) {
    let workers = scripts.len();
    let (input, senders) = LiveInput::<Rec>::new(workers);
    for (sender, s) in senders.iter().zip(scripts) {
        for step in s {
            match step {
                Step::Record(r) => sender.send(*r).unwrap(),
                Step::Watermark(t) => sender.advance_watermark(EventTime(*t)).unwrap(),
            }
        }
    }
    drop(senders);
    let rows = Captured::new();
    let late = Captured::new();
    let (rows2, late2) = (rows.clone(), late.clone());
    let outcome = rill::execute(JobConfig::with_workers(workers), move |df| {
        // Only declared watermarks move the stamps: out-of-orderness beyond any event time.
        let strategy = WatermarkStrategy::bounded_out_of_orderness(u64::MAX / 2).with_granularity(1);
        let stream = df.live_source("input", &input, SourceOptions { strategy, watermark_log: None });
        let out = stream
            .key_by(df, |r: &Rec| r.key)
            .window(spec)
            .allowed_lateness(lateness)
            .aggregate("windows", (Count, Sum::of(|r: &Rec| r.value)));
        out.results.capture_into(df, &rows2);
        out.late.capture_into(df, &late2);
    })
    .unwrap();
    let m = outcome.metrics.iter().find(|m| m.name == "windows").expect("window metrics");
    assert_eq!((m.state_keys, m.state_bytes), (0, 0), "all window state is released at the end");
    assert!(m.peak_state_keys > 0 && m.peak_state_bytes > 0, "state was held: {m:?}");
    assert_eq!(m.records_in, scripts.iter().flatten().filter(|s| matches!(s, Step::Record(_))).count() as u64);
    let rows: Vec<WindowResult<u32, (u64, i128)>> = rows.take();
    let n = rows.len();
    let mut fin: Final = BTreeMap::new();
    for r in rows {
        // Rows of one key come from one worker in emission order: the last one is final.
        fin.insert((r.key, r.window), (r.value.0, r.value.1 as i64));
    }
    (fin, late.take(), n)
}

fn check(spec: WindowSpec, lateness: u64, late_share: u64, seed: u64) {
    for workers in [1, 2, 4] {
        let scripts = script(seed, workers, 6_000, late_share);
        let recs = stamped(&scripts);
        let (expected, expected_late) = match spec {
            WindowSpec::Session { gap_ms } => reference_sessions(&recs, gap_ms),
            _ => reference_aligned(&recs, spec, lateness),
        };
        let (got, late, rows) = run(&scripts, spec, lateness);
        assert_eq!(got, expected, "{spec:?} lateness {lateness} on {workers} workers: final window rows");
        let late_set: BTreeSet<Rec> = late.iter().copied().collect();
        assert_eq!(late.len(), late_set.len(), "a late record is reported once");
        assert_eq!(late_set, expected_late, "{spec:?} lateness {lateness} on {workers} workers: late records");
        if lateness == 0 {
            assert_eq!(rows, expected.len(), "allowed lateness 0: every window is emitted once");
        }
        assert!(late_share == 0 || !expected_late.is_empty(), "the script produced late records");
    }
}

#[test]
fn tumbling_matches_reference() {
    check(WindowSpec::tumbling(1_000), 0, 0, 1);
    check(WindowSpec::tumbling(1_000), 0, 5, 2);
}

#[test]
fn tumbling_with_allowed_lateness_updates_windows() {
    check(WindowSpec::tumbling(1_000), 2_000, 5, 3);
}

#[test]
fn sliding_matches_reference() {
    check(WindowSpec::sliding(2_000, 500), 0, 0, 4);
    check(WindowSpec::sliding(2_000, 500), 0, 5, 5);
    check(WindowSpec::sliding(2_000, 500), 1_500, 5, 6);
}

#[test]
fn sessions_match_reference() {
    check(WindowSpec::session(40), 0, 0, 7);
    check(WindowSpec::session(40), 0, 5, 8);
}

/// An idle source (an open channel with no data) does not hold windows back once its idle
/// timeout has passed; without a timeout, nothing could fire while it is open.
#[test]
fn idle_source_does_not_stall_windows() {
    for idle_timeout in [Some(Duration::from_millis(50)), None] {
        let (input, senders) = LiveInput::<Rec>::new(2);
        let rows: Captured<WindowResult<u32, u64>> = Captured::new();
        let rows2 = rows.clone();
        let job = std::thread::spawn(move || {
            rill::execute(JobConfig::with_workers(2), move |df| {
                let mut strategy = WatermarkStrategy::bounded_out_of_orderness(100).with_granularity(1);
                strategy.idle_timeout = idle_timeout;
                let stream = df.live_source("input", &input, SourceOptions { strategy, watermark_log: None });
                stream
                    .key_by(df, |r: &Rec| r.key)
                    .window(WindowSpec::tumbling(1_000))
                    .count("counts")
                    .results
                    .capture_into(df, &rows2);
            })
        });
        // Worker 0 sees events up to 5.5 s; worker 1's channel stays open and empty.
        for (id, ts) in (0..=5_500u64).step_by(10).enumerate() {
            senders[0].send(Rec { ts, key: 1, value: 0, id: id as u64 }).unwrap();
        }
        let deadline = Instant::now() + Duration::from_millis(if idle_timeout.is_some() { 20_000 } else { 500 });
        while rows.len() < 5 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let fired = rows.len();
        drop(senders);
        job.join().unwrap().unwrap();
        let all = rows.take();
        if idle_timeout.is_some() {
            assert!(fired >= 5, "windows [0, 5 s) fired while a source was idle: {fired}");
        } else {
            assert_eq!(fired, 0, "without idleness nothing fires while a source is open");
        }
        assert_eq!(all.iter().map(|r| r.value).sum::<u64>(), 551, "every record counted once in the end");
    }
}
