//! Generation throughput of the workload generators on one core, with parameter sweeps, and of
//! the Nexmark CSV export: events per second, so that a job's figures can be checked against
//! what its load costs to make.
//!
//! * `generators/sensors/<sensors>`: `Sensors::fill` over batches of 4 096 events with 1 K,
//!   100 K and 1 M sensors (the key of the sensors jobs), 1 % late events;
//!   `generators/sensors_idle/<share>` the same at 100 K sensors with 0 % and 20 % idle
//!   sensors per minute (an event drawn for an idle sensor is reassigned).
//! * `generators/fraud/<cards>`: `Fraud::fill` with 10 K, 1 M and 100 M cards;
//!   `generators/fraud_mix/<share>` at 1 M cards with 0, 0.2 % (the default) and 1/64 (the
//!   most: one pattern in every slot of 64 events) of the events starting an injected pattern.
//! * `generators/nexmark/<extra>`: `Nexmark::fill` (1 person, 3 auctions, 46 bids per 50
//!   events) with records of Beam's average sizes (`default`: 200, 500, 100 bytes), without
//!   `extra` padding (`no_extra`), and four times Beam's sizes (`x4`).
//! * `generators/nexmark_export/250000`: `nexmark::export_csv` of 250 000 events (about 49 MB in
//!   three files) into a temporary directory, on up to 8 threads (as many as the machine has).
//!
//! Each `fill` iteration generates the next batch of the index space, as a source does. Run with
//!
//! ```text
//! cargo bench -p rill-workloads --bench generators -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rill_workloads::Generator;
use rill_workloads::fraud::{Fraud, FraudConfig, MAX_FRAUD_RATE};
use rill_workloads::nexmark::{Nexmark, NexmarkConfig, export_csv};
use rill_workloads::sensors::{Sensors, SensorsConfig};

/// Events per measured `fill` call: the chunk size of the engine's generator source.
const BATCH: u64 = 4096;

/// Events of the measured Nexmark export.
const EXPORT_EVENTS: u64 = 250_000;

/// Measures `generator.fill` over consecutive batches as `id` in `group`.
fn fill<G: Generator>(group: &mut BenchmarkGroup<'_, WallTime>, id: BenchmarkId, generator: &G) {
    let mut out = Vec::with_capacity(BATCH as usize);
    let mut start = 0u64;
    group.bench_function(id, |b| {
        b.iter(|| {
            out.clear();
            generator.fill(start..start + BATCH, &mut out);
            start += BATCH;
            black_box(&out);
        })
    });
}

fn sensors(c: &mut Criterion) {
    let mut g = c.benchmark_group("generators");
    g.throughput(Throughput::Elements(BATCH));
    for sensors in [1_000u32, 100_000, 1_000_000] {
        let config = SensorsConfig { sensors, late_fraction: 0.01, ..SensorsConfig::default() };
        let generator = Sensors::new(config).expect("valid sensors config");
        fill(&mut g, BenchmarkId::new("sensors", sensors), &generator);
    }
    for idle_fraction in [0.0, 0.2] {
        let config = SensorsConfig { idle_fraction, late_fraction: 0.01, ..SensorsConfig::default() };
        let generator = Sensors::new(config).expect("valid sensors config");
        fill(&mut g, BenchmarkId::new("sensors_idle", idle_fraction), &generator);
    }
    g.finish();
}

fn fraud(c: &mut Criterion) {
    let mut g = c.benchmark_group("generators");
    g.throughput(Throughput::Elements(BATCH));
    for cards in [10_000u64, 1_000_000, 100_000_000] {
        let config = FraudConfig { cards, late_fraction: 0.01, ..FraudConfig::default() };
        let generator = Fraud::new(config).expect("valid fraud config");
        fill(&mut g, BenchmarkId::new("fraud", cards), &generator);
    }
    for fraud_rate in [0.0, 0.002, MAX_FRAUD_RATE] {
        let config = FraudConfig { fraud_rate, late_fraction: 0.01, ..FraudConfig::default() };
        let generator = Fraud::new(config).expect("valid fraud config");
        fill(&mut g, BenchmarkId::new("fraud_mix", fraud_rate), &generator);
    }
    g.finish();
}

fn nexmark(c: &mut Criterion) {
    let mut g = c.benchmark_group("generators");
    // A batch takes milliseconds: flat sampling keeps 100 samples within a few seconds.
    g.sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(BATCH));
    let default = NexmarkConfig::default();
    let no_extra = NexmarkConfig { avg_person_bytes: 0, avg_auction_bytes: 0, avg_bid_bytes: 0, ..default.clone() };
    let x4 = NexmarkConfig {
        avg_person_bytes: 4 * default.avg_person_bytes,
        avg_auction_bytes: 4 * default.avg_auction_bytes,
        avg_bid_bytes: 4 * default.avg_bid_bytes,
        ..default.clone()
    };
    for (label, config) in [("no_extra", no_extra), ("default", default), ("x4", x4)] {
        let generator = Nexmark::new(config).expect("valid Nexmark config");
        fill(&mut g, BenchmarkId::new("nexmark", label), &generator);
    }
    g.finish();
}

fn nexmark_export(c: &mut Criterion) {
    let mut g = c.benchmark_group("generators");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(EXPORT_EVENTS));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = NexmarkConfig { events: EXPORT_EVENTS, ..NexmarkConfig::default() };
    let (persons, auctions, bids) = export_csv(&config, dir.path()).expect("the export runs");
    assert_eq!(persons + auctions + bids, EXPORT_EVENTS, "every event is exported once");
    let bytes: u64 = ["person.csv", "auction.csv", "bid.csv"]
        .iter()
        .map(|f| std::fs::metadata(dir.path().join(f)).map_or(0, |m| m.len()))
        .sum();
    eprintln!("nexmark_export: {persons} persons, {auctions} auctions, {bids} bids, {bytes} bytes");
    g.bench_function(BenchmarkId::new("nexmark_export", EXPORT_EVENTS), |b| {
        b.iter(|| black_box(export_csv(&config, dir.path()).expect("the export runs")))
    });
    g.finish();
}

criterion_group!(benches, sensors, fraud, nexmark, nexmark_export);
criterion_main!(benches);
