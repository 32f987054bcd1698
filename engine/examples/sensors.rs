//! A short sensors job written against Rill's public API: readings from a generator, keyed by
//! room, averaged over tumbling 1 s event-time windows, printed as CSV.
//!
//! Run with `cargo run --release -p rill --example sensors`.

use rill::api::aggregate::{Avg, Count, Max, Min};
use rill::api::stream::StreamExt;
use rill::operators::source::SourceOptions;
use rill::time::watermark::WatermarkStrategy;
use rill::time::window::WindowSpec;
use rill::{Captured, Counter, Event, EventTime, JobConfig, Sink};
use serde::{Deserialize, Serialize};

/// One temperature reading.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Reading {
    ts_ms: u64,
    room: u32,
    temp: f64,
}

impl Event for Reading {
    fn event_time(&self) -> EventTime {
        EventTime(self.ts_ms)
    }
}

/// Reading `i`: 100 readings per second of event time, up to 300 ms out of order, 8 rooms.
fn reading(i: u64) -> Reading {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    Reading {
        ts_ms: (i * 10).saturating_sub(h % 300),
        room: (h >> 60) as u32 % 8,
        temp: 18.0 + (h >> 40) as f64 % 60.0 / 10.0,
    }
}

fn main() -> rill::Result<()> {
    let results = Captured::new();
    let sink = results.clone();
    let late = Counter::new();
    let late_sink = late.clone();
    let outcome = rill::execute(JobConfig::with_workers(2), move |df| {
        let options = SourceOptions { strategy: WatermarkStrategy::bounded_out_of_orderness(500), watermark_log: None };
        let readings = df.generator_source("readings", 10_000, options, |range, out| out.extend(range.map(reading)));
        let windows = readings.key_by(df, |r: &Reading| r.room).window(WindowSpec::tumbling(1_000)).aggregate(
            "room-stats",
            (Count, Avg::of(|r: &Reading| r.temp), Min::of(|r: &Reading| r.temp), Max::of(|r: &Reading| r.temp)),
        );
        windows.results.capture_into(df, &sink);
        windows.late.count_into(df, &late_sink);
    })?;
    let mut rows = results.take();
    rows.sort_by_key(|r| (r.window.start, r.key));
    println!("room,window_start_ms,count,avg,min,max");
    for r in &rows {
        let (count, avg, min, max) = r.value;
        println!(
            "{},{},{},{:.2},{:.1},{:.1}",
            r.key,
            r.window.start.0,
            count,
            avg.unwrap_or(f64::NAN),
            min.unwrap_or(f64::NAN),
            max.unwrap_or(f64::NAN)
        );
    }
    let counted: u64 = rows.iter().map(|r| r.value.0).sum();
    let late = late.get();
    assert_eq!(counted + late, 10_000, "every reading is counted in a window or reported late");
    eprintln!("{} windows, {counted} readings counted, {late} late, in {:?}", rows.len(), outcome.elapsed);
    Ok(())
}
