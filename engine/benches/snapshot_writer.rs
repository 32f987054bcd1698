//! The snapshot writer writing one 256 MiB checkpoint in 1 MiB chunks (on disk: 64-byte header
//! and payload fill exactly 1 MiB), durable on return from `finish`, with each backend:
//!
//! * `io_uring`: the default writes in flight and staging buffers (8 x 4 MiB, registered),
//!   `O_DIRECT`, fsync in the ring;
//! * `plain_direct`: `pwrite` + `fdatasync` on the writer thread, `O_DIRECT`;
//! * `plain_buffered`: the same through the page cache.
//!
//! Building the chunks (the operators' serialization) is outside the timing; submitting them,
//! every write, the fsyncs and the manifest are inside. The mean time the caller spends in
//! `submit` for the 256 chunks is printed to stderr. Compare with
//! `dd if=/dev/zero of=FILE bs=1M count=256 conv=fsync` on the same disk. The checkpoints go to
//! a temporary directory, or under `RILL_BENCH_DIR` when set.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rill::Epoch;
use rill::snapshot::{Backend, Chunk, ChunkBuf, ChunkName, SnapshotWriter, WriterOptions, checkpoint_dir_name};
use rill::state::KeyGroup;

const CHUNK_DISK_BYTES: usize = 1 << 20;
const CHUNKS: usize = 256;

fn chunks(epoch: Epoch) -> Vec<Chunk> {
    let payload: Vec<u8> = (0..CHUNK_DISK_BYTES - 64).map(|i| (i * 31 % 251) as u8).collect();
    (0..CHUNKS)
        .map(|i| Chunk {
            epoch,
            name: ChunkName::new("bench", "state", KeyGroup(i as u32 % 128)),
            data: ChunkBuf::from_payload(&payload),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let base = std::env::var_os("RILL_BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let root = tempfile::tempdir_in(base).expect("bench directory");
    let mut group = c.benchmark_group("snapshot_writer");
    group.throughput(Throughput::Bytes((CHUNK_DISK_BYTES * CHUNKS) as u64));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(12));
    let variants = [
        ("io_uring", Backend::IoUring, true),
        ("plain_direct", Backend::Plain, true),
        ("plain_buffered", Backend::Plain, false),
    ];
    for (label, backend, direct_io) in variants {
        let dir = root.path().join(label);
        let options = WriterOptions { backend, direct_io, ..WriterOptions::default() };
        let writer = match SnapshotWriter::new(&dir, options) {
            Ok(writer) => writer,
            Err(e) => {
                eprintln!("snapshot_writer/{label}: skipped, {e}");
                continue;
            }
        };
        let mut epoch = 0u64;
        let mut submit_time = Duration::ZERO;
        let mut submits = 0u32;
        let mut last_report = None;
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    epoch += 1;
                    let batch = chunks(Epoch(epoch));
                    let start = Instant::now();
                    for chunk in batch {
                        writer.submit(chunk).expect("writer running");
                    }
                    submit_time += start.elapsed();
                    submits += 1;
                    let report = writer.finish(Epoch(epoch)).expect("checkpoint");
                    total += start.elapsed();
                    last_report = Some(report);
                    std::fs::remove_dir_all(dir.join(checkpoint_dir_name(Epoch(epoch)))).expect("cleanup");
                }
                total
            });
        });
        if let Some(r) = last_report {
            eprintln!(
                "snapshot_writer/{label}: backend {}, registered buffers {}, O_DIRECT {}; last run: writes {:?}, \
                 fsyncs {:?}, finish {:?}; mean caller time in submit for {CHUNKS} chunks: {:?}",
                r.backend,
                r.registered_buffers,
                r.direct_io,
                r.write_time,
                r.sync_time,
                r.finish_time,
                submit_time / submits.max(1),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
