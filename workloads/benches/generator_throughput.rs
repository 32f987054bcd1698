//! Generation throughput of each workload: events per second of `fill` over one batch, on one
//! core, so that the load generator is never what limits the engine (target: sensors under
//! 5 ns per event).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rill_workloads::fraud::{Fraud, FraudConfig};
use rill_workloads::sensors::{Sensors, SensorsConfig};

/// Events per measured `fill` call: the chunk size of the engine's generator source.
const BATCH: u64 = 4096;

fn generators(c: &mut Criterion) {
    let mut group = c.benchmark_group("generator");
    group.throughput(Throughput::Elements(BATCH));

    let sensors = Sensors::new(SensorsConfig { late_fraction: 0.01, ..SensorsConfig::default() })
        .expect("default sensors config is valid");
    let mut out = Vec::with_capacity(BATCH as usize);
    let mut start = 0u64;
    group.bench_function("sensors_fill", |b| {
        b.iter(|| {
            out.clear();
            sensors.fill(start..start + BATCH, &mut out);
            start += BATCH;
            black_box(&out);
        })
    });

    let fraud = Fraud::new(FraudConfig { late_fraction: 0.01, ..FraudConfig::default() })
        .expect("default fraud config is valid");
    let mut out = Vec::with_capacity(BATCH as usize);
    let mut start = 0u64;
    group.bench_function("fraud_fill", |b| {
        b.iter(|| {
            out.clear();
            fraud.fill(start..start + BATCH, &mut out);
            start += BATCH;
            black_box(&out);
        })
    });
    group.finish();
}

criterion_group!(benches, generators);
criterion_main!(benches);
