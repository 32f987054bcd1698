//! Nexmark open loop (`rate`): the latency probes record samples, and the samples respect the
//! bounds the generator's schedule implies.

use rill_workloads::jobs::nexmark::{Query, run_nexmark};
use rill_workloads::jobs::{Input, JobOptions};
use rill_workloads::nexmark::{Nexmark, NexmarkConfig, NexmarkEvent};

const SEED: u64 = 5;
/// The watermark delay the harness uses for Nexmark.
const DELAY_MS: u64 = 4_000;

fn run(query: Query, events: u64, rate: u64) -> rill_workloads::jobs::JobReport {
    let opts = JobOptions { max_out_of_orderness_ms: DELAY_MS, rate: Some(rate), ..Default::default() };
    let input = Input::Nexmark(NexmarkConfig { seed: SEED, events, ..NexmarkConfig::default() });
    run_nexmark(&opts, &input, query).expect("job runs")
}

fn percentile(samples: &[u64], p: f64) -> u64 {
    let mut s = samples.to_vec();
    s.sort_unstable();
    s[((s.len() - 1) as f64 * p) as usize]
}

#[test]
fn q0_open_loop_samples_event_latency_per_batch() {
    let events = 200_000;
    let report = run(Query::Q0, events, 2_000_000);
    let g = Nexmark::new(NexmarkConfig { seed: SEED, events, ..NexmarkConfig::default() }).expect("config");
    let bids = (0..events).filter(|&i| matches!(g.event(i), NexmarkEvent::Bid(_))).count() as u64;
    assert_eq!(report.rows_out, bids);
    // A pass-through has no watermark crossings; every batch reaching the sink (at most 1024
    // rows, one source batch) gives at least one event sample, at most one per 1024 rows.
    assert!(report.window_latency_ns.is_empty());
    let n = report.event_latency_ns.len() as u64;
    assert!(n >= bids.div_ceil(1024) && n <= bids, "{n} samples for {bids} rows");
    let elapsed = report.elapsed.as_nanos() as u64;
    assert!(report.event_latency_ns.iter().all(|&l| l <= elapsed + 1_000_000_000), "sample beyond the run");
}

#[test]
fn q5_open_loop_event_latency_includes_the_watermark_delay() {
    // 1 M events at 10 000 events per second of event time: 100 s of event time, 48 of the
    // 2-s-sliding windows close by the watermark, the last few at the end of the input.
    let (events, rate) = (1_000_000, 1_000_000);
    let report = run(Query::Q5, events, rate);
    assert!(report.rows_out > 0);
    // Every q5 row is a window result: one window sample each.
    assert_eq!(report.window_latency_ns.len() as u64, report.rows_out);
    let event = &report.event_latency_ns;
    assert!(event.len() as u64 > report.rows_out / 2 && event.len() as u64 <= report.rows_out);
    // A window ending at `end` closes only once an event at `end + DELAY_MS` was read, which
    // the generator schedules (DELAY_MS + 1) ms of event time, i.e. 40 010 events, after the
    // first event at `end - 1`: at 1 M events/s, 40 ms of wall time. Rows of windows closed by
    // the watermark (most) can therefore not report less.
    let floor_ns = (DELAY_MS + 1) * 10 * 1_000_000_000 / rate;
    let p25 = percentile(event, 0.25);
    assert!(p25 >= floor_ns, "p25 {p25} ns below the schedule's {floor_ns} ns");
}
