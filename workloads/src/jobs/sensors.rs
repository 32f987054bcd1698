//! The sensors job: per room, tumbling event-time windows with count, average, minimum and
//! maximum temperature.
//!
//! ```sql
//! SELECT room, TUMBLE_START(ts), TUMBLE_END(ts), COUNT(*), AVG(temp), MIN(temp), MAX(temp)
//! FROM sensors GROUP BY room, TUMBLE(ts, INTERVAL '10' SECOND)
//! ```
//!
//! Temperatures are exact integers (tenths of a degree), so every figure is exact whatever
//! the order of summation: the average is rounded once, to thousandths of a degree, half away
//! from zero. The accumulator is 24 bytes per room and window ([`TempStats`]).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rill::api::aggregate::AggregateFunction;
use rill::api::stream::{RillStream, StreamExt, WindowOutput};
use rill::csv::{CsvRecord, CsvRow, FieldError, write_i64, write_u64};
use rill::operators::source::SourceOptions;
use rill::operators::window::WindowResult;
use rill::runtime::latency::WatermarkLog;
use rill::time::watermark::WatermarkStrategy;
use rill::time::window::WindowSpec;
use rill::{Counter, Dataflow, Event, EventTime, Sink};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::Map;

use super::{Input, JobOptions, JobReport, job_config, latency_sink, source_count};
use crate::sensors::{SensorReading, Sensors, SensorsConfig};

/// The name of the job's source operator (its `records_out` are the events read).
pub const SOURCE: &str = "sensors-source";

/// Count, exact sum, minimum and maximum of temperatures (tenths of a degree).
#[derive(Debug, Clone, Copy, Default)]
pub struct TempStats;

/// The accumulator of [`TempStats`]: 24 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TempAcc {
    /// Readings.
    pub count: u64,
    /// Sum of temperatures (tenths of a degree).
    pub sum_dc: i64,
    /// Lowest temperature.
    pub min_dc: i32,
    /// Highest temperature.
    pub max_dc: i32,
}

impl AggregateFunction<SensorReading> for TempStats {
    type Acc = TempAcc;
    type Out = TempAcc;
    #[inline]
    fn create(&self) -> TempAcc {
        TempAcc { count: 0, sum_dc: 0, min_dc: i32::MAX, max_dc: i32::MIN }
    }
    #[inline]
    fn add(&self, acc: &mut TempAcc, r: &SensorReading) {
        acc.count += 1;
        acc.sum_dc += i64::from(r.temp_dc);
        acc.min_dc = acc.min_dc.min(r.temp_dc);
        acc.max_dc = acc.max_dc.max(r.temp_dc);
    }
    #[inline]
    fn merge(&self, acc: &mut TempAcc, o: &TempAcc) {
        acc.count += o.count;
        acc.sum_dc += o.sum_dc;
        acc.min_dc = acc.min_dc.min(o.min_dc);
        acc.max_dc = acc.max_dc.max(o.max_dc);
    }
    #[inline]
    fn result(&self, acc: &TempAcc) -> TempAcc {
        *acc
    }
}

/// One output row: `room,window_start_ms,window_end_ms,count,avg_temp,min_temp,max_temp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RoomWindow {
    /// The room.
    pub room: u32,
    /// Window start (ms, inclusive).
    pub window_start_ms: u64,
    /// Window end (ms, exclusive).
    pub window_end_ms: u64,
    /// Readings in the window.
    pub count: u64,
    /// Average temperature in thousandths of a degree, rounded half away from zero.
    pub avg_milli: i64,
    /// Lowest temperature (tenths).
    pub min_dc: i32,
    /// Highest temperature (tenths).
    pub max_dc: i32,
}

impl RoomWindow {
    /// The row for `room`'s window `[start, end)` with accumulator `acc` (`acc.count > 0`).
    pub fn from_acc(room: u32, start: u64, end: u64, acc: &TempAcc) -> Self {
        RoomWindow {
            room,
            window_start_ms: start,
            window_end_ms: end,
            count: acc.count,
            avg_milli: average_milli(acc.sum_dc, acc.count),
            min_dc: acc.min_dc,
            max_dc: acc.max_dc,
        }
    }
}

/// `sum_dc / count` in thousandths of a degree, rounded half away from zero, exactly.
pub fn average_milli(sum_dc: i64, count: u64) -> i64 {
    let n = i128::from(sum_dc) * 100;
    let c = i128::from(count.max(1));
    let (q, r) = (n / c, n % c);
    let q = if 2 * r.abs() >= c { q + n.signum() } else { q };
    q as i64
}

impl Event for RoomWindow {
    fn event_time(&self) -> EventTime {
        EventTime(self.window_end_ms - 1)
    }
}

fn write_fixed(out: &mut Vec<u8>, v: i64, decimals: u32) {
    let scale = 10i64.pow(decimals);
    if v < 0 {
        out.push(b'-');
    }
    let a = v.unsigned_abs();
    write_u64(out, a / scale as u64);
    out.push(b'.');
    let frac = a % scale as u64;
    let digits = frac.to_string();
    for _ in digits.len()..decimals as usize {
        out.push(b'0');
    }
    out.extend_from_slice(digits.as_bytes());
}

impl CsvRecord for RoomWindow {
    const COLUMNS: &'static [&'static str] =
        &["room", "window_start_ms", "window_end_ms", "count", "avg_temp", "min_temp", "max_temp"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = RoomWindow {
            room: row.u32()?,
            window_start_ms: row.u64()?,
            window_end_ms: row.u64()?,
            count: row.u64()?,
            avg_milli: row.fixed(3)?,
            min_dc: narrow(row, 1)?,
            max_dc: narrow(row, 1)?,
        };
        row.finish()?;
        Ok(r)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, u64::from(self.room));
        out.push(b',');
        write_u64(out, self.window_start_ms);
        out.push(b',');
        write_u64(out, self.window_end_ms);
        out.push(b',');
        write_u64(out, self.count);
        out.push(b',');
        write_fixed(out, self.avg_milli, 3);
        out.push(b',');
        write_fixed(out, i64::from(self.min_dc), 1);
        out.push(b',');
        write_fixed(out, i64::from(self.max_dc), 1);
        let _ = write_i64;
    }
}

fn narrow(row: &mut CsvRow<'_>, scale: u32) -> Result<i32, FieldError> {
    let column = row.column();
    let v = row.fixed(scale)?;
    i32::try_from(v).map_err(|_| FieldError { column, message: format!("{v} is out of range") })
}

/// The job's dataflow on a stream of readings: per-room tumbling windows of `window_ms`.
pub fn room_windows<'s>(
    df: &Dataflow<'s>,
    readings: RillStream<'s, SensorReading>,
    window_ms: u64,
    allowed_lateness_ms: u64,
) -> (RillStream<'s, RoomWindow>, RillStream<'s, SensorReading>) {
    let WindowOutput { results, late } = readings
        .key_by(df, |r: &SensorReading| r.room)
        .window(WindowSpec::tumbling(window_ms))
        .allowed_lateness(allowed_lateness_ms)
        .aggregate("room-windows", TempStats);
    let rows = results
        .map(|w: WindowResult<u32, TempAcc>| RoomWindow::from_acc(w.key, w.window.start.0, w.window.end.0, &w.value));
    (rows, late)
}

/// The generator behind [`Input::Generate`] for sensors.
pub fn generator(events: u64, seed: u64, late_fraction: f64) -> rill::Result<Sensors> {
    Sensors::new(SensorsConfig { seed, events, late_fraction, ..SensorsConfig::default() })
}

/// Runs the sensors job.
pub fn run_sensors(opts: &JobOptions, input: &Input) -> rill::Result<JobReport> {
    if opts.window_ms == 0 {
        return Err(rill::Error::Config("--window-ms must be positive".into()));
    }
    let generator = match input {
        Input::Generate { events, seed, late_fraction } => Some(Arc::new(generator(*events, *seed, *late_fraction)?)),
        Input::Sensors(config) => Some(Arc::new(Sensors::new(config.clone())?)),
        Input::Fraud(_) => return Err(rill::Error::Config("this job reads sensors events".into())),
        Input::Csv(_) if opts.rate.is_some() => {
            return Err(rill::Error::Config("a fixed rate (--rate) needs generated input, not --input".into()));
        }
        Input::Csv(_) => None,
    };
    let csv: Option<&Path> = match input {
        Input::Csv(p) => Some(p),
        _ => None,
    };
    let total = generator.as_ref().map_or(0, |g| g.config().events);
    let strategy = WatermarkStrategy::bounded_out_of_orderness(opts.max_out_of_orderness_ms);
    let log = Arc::new(WatermarkLog::new(opts.workers));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let rows = Counter::new();
    let late_rows = Counter::new();
    let start = Instant::now();
    let (opts2, csv, rows2, late2, log2, samples2) = (
        opts.clone(),
        csv.map(Path::to_owned),
        rows.clone(),
        late_rows.clone(),
        Arc::clone(&log),
        Arc::clone(&samples),
    );
    let outcome = rill::execute(job_config(opts), move |df| {
        let options = SourceOptions { strategy, watermark_log: Some(Arc::clone(&log2)) };
        let readings = match (&generator, &csv) {
            (Some(g), _) => {
                let g = Arc::clone(g);
                let fill = move |r: std::ops::Range<u64>, out: &mut Vec<SensorReading>| g.fill(r, out);
                match opts2.rate {
                    Some(rate) => df.generator_source_at_rate(SOURCE, total, rate, start, options, fill),
                    None => df.generator_source(SOURCE, total, options, fill),
                }
            }
            (None, Some(path)) => df.csv_source::<SensorReading>(SOURCE, path, options),
            (None, None) => unreachable!("input is generated or a file"),
        };
        let (windows, late) = room_windows(df, readings, opts2.window_ms, opts2.allowed_lateness_ms);
        if let Some(path) = &opts2.output {
            windows.clone().sink_csv(df, path);
        }
        latency_sink(windows.clone(), Arc::clone(&log2), Arc::clone(&samples2), |w: &RoomWindow| w.window_end_ms);
        windows.count_into(df, &rows2);
        if let Some(path) = &opts2.late_output {
            late.clone().sink_csv(df, path);
        }
        late.count_into(df, &late2);
    })?;
    let window_latency_ns = std::mem::take(&mut *samples.lock().expect("latency samples lock"));
    Ok(JobReport {
        events_in: source_count(&outcome.metrics, SOURCE),
        rows_out: rows.get(),
        late_rows: late_rows.get(),
        elapsed: outcome.elapsed,
        metrics: outcome.metrics,
        window_latency_ns,
    })
}
