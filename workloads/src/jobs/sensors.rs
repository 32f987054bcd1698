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

use rill::api::aggregate::AggregateFunction;
use rill::api::stream::{RillStream, StreamExt, WindowOutput};
use rill::csv::{CsvRecord, CsvRow, FieldError, write_fixed, write_u64};
use rill::operators::window::WindowResult;
use rill::time::window::WindowSpec;
use rill::{Dataflow, Event, EventTime};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::Map;

use super::{Input, JobOptions, JobReport, resolve, run_job};
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
    let source = resolve(opts, input, "sensors", |input| match input {
        Input::Generate { events, seed, late_fraction } => Some(generator(*events, *seed, *late_fraction)),
        Input::Sensors(config) => Some(Sensors::new(config.clone())),
        _ => None,
    })?;
    fn dataflow<'s>(
        df: &Dataflow<'s>,
        readings: RillStream<'s, SensorReading>,
        opts: &JobOptions,
    ) -> (RillStream<'s, RoomWindow>, RillStream<'s, SensorReading>) {
        room_windows(df, readings, opts.window_ms, opts.allowed_lateness_ms)
    }
    run_job(opts, SOURCE, source, dataflow, |w: &RoomWindow| w.window_end_ms)
}
