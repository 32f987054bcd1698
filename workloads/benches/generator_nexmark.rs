//! Generation throughput of the Nexmark generator: events per second of `fill` over one batch,
//! on one core, with the default configuration (target: at least 5 M events/s).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rill_workloads::nexmark::{Nexmark, NexmarkConfig};

/// Events per measured `fill` call: the chunk size of the engine's generator source.
const BATCH: u64 = 4096;

fn nexmark(c: &mut Criterion) {
    let mut group = c.benchmark_group("generator");
    group.throughput(Throughput::Elements(BATCH));
    let nexmark = Nexmark::new(NexmarkConfig::default()).expect("default Nexmark config is valid");
    let mut out = Vec::with_capacity(BATCH as usize);
    let mut start = 0u64;
    group.bench_function("nexmark_fill", |b| {
        b.iter(|| {
            out.clear();
            nexmark.fill(start..start + BATCH, &mut out);
            start += BATCH;
            black_box(&out);
        })
    });
    group.finish();
}

criterion_group!(benches, nexmark);
criterion_main!(benches);
