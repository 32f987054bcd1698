//! Throughput of the CSV file reader on sensor rows like `1700000000123,48213,17,21.5`:
//! one worker reading a whole file, and one of two workers reading its half.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rill::csv::{CsvFileReader, CsvRecord, CsvRow, FieldError, write_i64, write_u64};
use rill::operators::source::{ReadStatus, SourceReader};
use rill::{Event, EventTime};
use serde::{Deserialize, Serialize};

/// Rows in the generated file.
const ROWS: u64 = 400_000;

/// One sensor reading.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Reading {
    ts_ms: u64,
    sensor: u32,
    room: u32,
    /// Tenths of a degree.
    temp: i64,
}

impl CsvRecord for Reading {
    const COLUMNS: &'static [&'static str] = &["ts_ms", "sensor", "room", "temp"];

    #[inline]
    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = Reading { ts_ms: row.u64()?, sensor: row.u32()?, room: row.u32()?, temp: row.fixed(1)? };
        row.finish()?;
        Ok(r)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.ts_ms);
        out.push(b',');
        write_u64(out, u64::from(self.sensor));
        out.push(b',');
        write_u64(out, u64::from(self.room));
        out.push(b',');
        if self.temp < 0 {
            out.push(b'-');
        }
        write_i64(out, (self.temp / 10).abs());
        out.push(b'.');
        write_u64(out, self.temp.unsigned_abs() % 10);
    }
}

impl Event for Reading {
    fn event_time(&self) -> EventTime {
        EventTime(self.ts_ms)
    }
}

fn generate(path: &Path) {
    let mut out = Vec::with_capacity(ROWS as usize * 30);
    out.extend_from_slice(Reading::header().as_bytes());
    out.push(b'\n');
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..ROWS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let r = Reading {
            ts_ms: 1_700_000_000_000 + i * 3 + x % 50,
            sensor: (x % 100_000) as u32,
            room: ((x >> 20) % 1000) as u32,
            temp: ((x >> 40) % 500) as i64 - 100,
        };
        r.write_csv(&mut out);
        out.push(b'\n');
    }
    std::fs::File::create(path).and_then(|mut f| f.write_all(&out)).expect("writing the bench file");
}

/// Reads worker `worker`'s share in batches of 1024, as the source operator does.
fn read_share(path: &Path, worker: usize, workers: usize) -> u64 {
    let mut reader = CsvFileReader::<Reading>::open(path, worker, workers).expect("open");
    let mut batch = Vec::with_capacity(1024);
    let mut rows = 0;
    loop {
        let status = reader.read(&mut batch, 1024).expect("read");
        rows += batch.len() as u64;
        black_box(&batch);
        batch.clear();
        if status == ReadStatus::Done {
            return rows;
        }
    }
}

fn csv_reader(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sensors.csv");
    generate(&path);
    assert_eq!(read_share(&path, 0, 1), ROWS);

    let mut group = c.benchmark_group("csv_reader");
    group.throughput(Throughput::Elements(ROWS));
    group.bench_function("sensors_1_worker", |b| b.iter(|| read_share(&path, 0, 1)));
    // The same, timed in CPU time of this thread: on a machine shared with other work the
    // wall-clock figure above mostly measures the other work.
    if cpu_time_ns().is_some() {
        group.bench_function("sensors_1_worker_cpu_time", |b| {
            b.iter_custom(|iters| {
                let start = cpu_time_ns().unwrap_or(0);
                for _ in 0..iters {
                    black_box(read_share(&path, 0, 1));
                }
                Duration::from_nanos(cpu_time_ns().unwrap_or(0).saturating_sub(start))
            })
        });
    }
    // A 12 MB file has 3 chunks of 4 MiB: worker 0 of 2 reads chunks 0 and 2.
    let half = read_share(&path, 0, 2);
    group.throughput(Throughput::Elements(half));
    group.bench_function("sensors_worker_0_of_2", |b| b.iter(|| read_share(&path, 0, 2)));
    group.finish();
}

/// CPU time this thread has run, in ns (Linux: the first field of `/proc/thread-self/schedstat`).
fn cpu_time_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

criterion_group!(benches, csv_reader);
criterion_main!(benches);
