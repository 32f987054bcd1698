//! Reference points for the sensors job: what the same work costs without Rill.
//!
//! 1. **generator**: the workload generator alone, one thread, filling a reused buffer: the
//!    load must never hide the engine.
//! 2. **timely**: the window query hand-written on plain timely ([`timely`]).
//! 3. **loop_generated** / **loop_csv**: a single-threaded hand-written loop with a `HashMap`,
//!    over generated events and over a CSV file ([`loops`]).
//!
//! Every point computes the query defined in [`window`] and returns a [`window::Digest`] (row
//! count, late count and an order-independent checksum), which tests compare with the naive
//! [`reference`]. Figures are measured, never derived.

pub mod loops;
pub mod nexmark;
pub mod reference;
pub mod timely;
pub mod window;

use std::hint::black_box;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::machine::Resources;
use crate::results::{BaselineFigure, rate};
use window::{CHUNK, Digest, WindowParams};

/// A deterministic, random-access source of sensor readings: event `i` is a pure function of
/// the source's configuration and `i`.
pub trait SensorSource: Send + Sync + 'static {
    /// The generator's event type.
    type Event: Send + 'static;

    /// Appends events `range` (by index) to `out`.
    fn fill(&self, range: Range<u64>, out: &mut Vec<Self::Event>);

    /// The fields the query reads: `(ts_ms, room, temp_dc)`.
    fn fields(e: &Self::Event) -> (u64, u32, i32);
}

/// Time to generate events `0..events` in chunks of [`CHUNK`] into one reused buffer.
pub fn generator_only<S: SensorSource>(src: &S, events: u64) -> Duration {
    let mut buf = Vec::with_capacity(CHUNK as usize);
    let start = Instant::now();
    let mut first = 0;
    while first < events {
        let end = (first + CHUNK).min(events);
        buf.clear();
        src.fill(first..end, &mut buf);
        black_box(&mut buf);
        first = end;
    }
    start.elapsed()
}

/// Measures `f`, returning its value, wall time and CPU seconds.
fn measured<T>(f: impl FnOnce() -> T) -> (T, Duration, f64) {
    let before = Resources::of_this_process();
    let start = Instant::now();
    let v = f();
    let elapsed = start.elapsed();
    (v, elapsed, Resources::of_this_process().since(&before).cpu_s())
}

/// A figure from a digest and its timings.
fn figure(name: &str, events: u64, workers: usize, elapsed: Duration, cpu_s: f64, d: &Digest) -> BaselineFigure {
    BaselineFigure {
        name: name.to_owned(),
        events,
        workers,
        elapsed_s: elapsed.as_secs_f64(),
        events_per_s: rate(events, elapsed),
        rows_out: d.rows,
        late_rows: d.late,
        checksum: d.checksum,
        cpu_s,
    }
}

/// The generator, timely and generated-loop points over events `0..events` of `src`.
pub fn run_generated<S: SensorSource>(
    src: Arc<S>,
    events: u64,
    workers: usize,
    params: WindowParams,
) -> Result<Vec<BaselineFigure>, String> {
    let mut out = Vec::new();

    let (elapsed, _, cpu) = measured(|| generator_only(&*src, events));
    out.push(figure("generator", events, 1, elapsed, cpu, &Digest::default()));

    let (r, _, cpu) = measured(|| timely::run(Arc::clone(&src), events, workers, params));
    let (digest, elapsed) = r?;
    out.push(figure("timely", events, workers, elapsed, cpu, &digest));

    let (digest, elapsed, cpu) = measured(|| loops::over_generated(&*src, 0..events, params));
    out.push(figure("loop_generated", events, 1, elapsed, cpu, &black_box(digest)));
    Ok(out)
}

/// The CSV loop point over `path`.
pub fn run_csv(path: &std::path::Path, params: WindowParams) -> Result<BaselineFigure, loops::CsvLoopError> {
    let (r, elapsed, cpu) = measured(|| loops::over_csv(path, params));
    let (digest, events) = r?;
    Ok(figure("loop_csv", events, 1, elapsed, cpu, &black_box(digest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic source with out-of-order and very late readings, independent of the
    /// workload crate: exercises every lateness path.
    struct Synthetic;

    impl SensorSource for Synthetic {
        type Event = (u64, u32, i32);
        fn fill(&self, range: Range<u64>, out: &mut Vec<Self::Event>) {
            for i in range {
                let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
                // ~7 ms per event (a chunk spans ~29 s), jitter up to 1.5 s, every 97th event
                // 100 s late: late even for a source that reads every third chunk.
                let mut ts = 1_000_000 + i * 7 + h % 1_500;
                if i % 97 == 0 {
                    ts = ts.saturating_sub(100_000);
                }
                out.push((ts, (h % 13) as u32, (h % 600) as i32 - 200));
            }
        }
        fn fields(e: &Self::Event) -> (u64, u32, i32) {
            *e
        }
    }

    fn synthetic_events(n: u64) -> Vec<(u64, u32, i32)> {
        let mut v = Vec::new();
        Synthetic.fill(0..n, &mut v);
        v
    }

    #[test]
    fn loop_over_generated_matches_reference() {
        let params = WindowParams::default();
        let n = 50_000;
        let want = reference::digest(&synthetic_events(n), 1, &params);
        assert!(want.late > 0 && want.rows > 13, "the input exercises lateness: {want:?}");
        assert_eq!(want.late + want.aggregated, n);
        assert_eq!(loops::over_generated(&Synthetic, 0..n, params), want);
    }

    #[test]
    fn timely_matches_reference_on_one_and_several_workers() {
        let params = WindowParams::default();
        let n = 60_000;
        let events = synthetic_events(n);
        for workers in [1, 2, 3] {
            let want = reference::digest(&events, workers, &params);
            assert_eq!(want.late + want.aggregated, n);
            assert!(want.late > 0, "{workers} workers: {want:?}");
            let (got, _) = timely::run(Arc::new(Synthetic), n, workers, params).expect("timely run");
            assert_eq!(got, want, "{workers} workers");
        }
        // With allowed lateness, fewer records are late and results change accordingly.
        let lenient = WindowParams { allowed_lateness_ms: 200_000, ..params };
        let want = reference::digest(&events, 2, &lenient);
        assert_eq!(want.late, 0);
        assert_eq!(timely::run(Arc::new(Synthetic), n, 2, lenient).expect("timely run").0, want);
    }

    #[test]
    fn loop_over_csv_matches_reference() {
        let params = WindowParams::default();
        let events = synthetic_events(20_000);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.csv");
        let mut text = String::from("ts_ms,sensor_id,room,temp\r\n");
        for (i, (ts, room, temp)) in events.iter().enumerate() {
            let sign = if *temp < 0 { "-" } else { "" };
            let t = temp.unsigned_abs();
            text.push_str(&format!("{ts},{i},{room},{sign}{}.{}\n", t / 10, t % 10));
        }
        std::fs::write(&path, text).expect("write csv");
        let (got, n) = loops::over_csv(&path, params).expect("csv loop");
        assert_eq!(n, 20_000);
        assert_eq!(got, reference::digest(&events, 1, &params));

        std::fs::write(&path, "ts_ms,sensor_id,room,temp\n1,2,3,4.0\n5,6,x,8.0\n").expect("write csv");
        match loops::over_csv(&path, params) {
            Err(loops::CsvLoopError::Parse(3, _)) => {}
            other => panic!("expected a parse error on line 3, got {other:?}"),
        }
    }

    #[test]
    fn generator_only_generates() {
        // The timing is not checked; only that it runs over a non-multiple of the chunk.
        let _ = generator_only(&Synthetic, CHUNK * 2 + 5);
    }
}
