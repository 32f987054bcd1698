//! The sensors workload: temperature readings of IoT sensors, grouped into rooms of very
//! different sizes, arriving slightly out of order with optional late events.
//!
//! Every reading is a pure function of `(config, i)`; [`Sensors::fill`] and [`Sensors::event`]
//! agree exactly, so any worker can generate any slice of indices and replay from any offset.
//!
//! # Semantics of event `i`
//!
//! * **Nominal time** `n(i) = base_time_ms + i * 1000 / event_rate_per_s` (integer, monotone).
//! * **Timestamp**. On time: `ts = max(n(i) - jitter, base_time_ms)`, `jitter` uniform in
//!   `[0, max_jitter_ms]`, so `n(i) - max_jitter_ms <= ts <= n(i)`. Late (probability
//!   `late_fraction`, decided by the mixer, and only when `n(i) >= base_time_ms +
//!   2 * late_delay_ms`): `ts = n(i) - late_delay_ms - u`, `u` uniform in `[0, late_delay_ms)`.
//!   [`Sensors::is_late`] tells which events are late.
//! * **Sensor**. Event time is cut into periods of [`IDLE_PERIOD_MS`] (aligned on multiples of
//!   60 s since the Unix epoch). In each period `p` exactly `idle = min(floor(idle_fraction *
//!   sensors), sensors - 1)` sensors are idle: those whose id lies in the cyclic interval
//!   `[start(p), start(p) + idle)` modulo `sensors`, with `start(p)` drawn from the mixer, so
//!   each sensor is idle in about `idle_fraction` of the periods, at sensor-dependent times.
//!   The sensor of an event is drawn uniformly among the sensors active in the period of its
//!   timestamp `ts / 60000` (equivalently: an event drawn for an idle sensor is given to another
//!   sensor, chosen deterministically, that is active). An idle sensor therefore has *no*
//!   reading stamped in its idle period, late readings included ([`Sensors::is_idle`]).
//! * **Room**. Each sensor belongs to one fixed room ([`Sensors::room_of`]), drawn from a Zipf
//!   distribution of exponent `zipf_exponent` over rooms (an alias table over a hash of the
//!   sensor): room 0 is the largest, and with the defaults the largest 1% of the rooms hold
//!   about half of the sensors. Rooms are tabulated per sensor at construction (up to 2^22
//!   sensors), so the per-event cost is one table lookup.
//! * **Temperature** (tenths of a degree C, exact integers): the room's baseline (uniform in
//!   18.0..=24.0 C) + the room's drift (knots every 2^20 ms, about 17.5 minutes, of event time,
//!   each uniform in -3.0..=3.0 C, linearly interpolated and rounded down in between, repeating
//!   every 128 knots, about 37 hours) + the sensor's calibration offset (-0.5..=0.5 C) +
//!   per-reading noise (-0.3..=0.3 C).
//!
//! # The lateness guarantee
//!
//! A late event `i` has `ts_i <= n(i) - late_delay_ms`; an on-time event `j` with
//! `n(j) >= n(i)` has `ts_j >= n(i) - max_jitter_ms`. So a late event trails every on-time event
//! generated at or after its nominal time by at least `late_delay_ms - max_jitter_ms`. A reader
//! that has read, before `i`, any on-time event `j` with `n(j) >= n(i) - d` holds a bounded
//! out-of-orderness watermark (`B >= max_jitter_ms`) of at least `n(i) - d - max_jitter_ms - B`,
//! which passes the end of every window plus allowed lateness `W` containing `ts_i` as soon as
//! `d + max_jitter_ms + B + W < late_delay_ms`. With `max_jitter_ms <= 1000` (enforced),
//! `B` = 1 s, and `W < late_delay_ms - 2 s`, any reader that has seen an on-time event of the
//! same millisecond (`d = 0`, e.g. its previous event at rates >= 1000/s) classifies event `i`
//! as late, whichever worker it is.

use std::ops::Range;
use std::path::Path;

use rill::csv::{CsvRecord, CsvRow, FieldError, write_fixed, write_u64};
use rill::{Event, EventTime};
use serde::{Deserialize, Serialize};

use crate::mix::{AliasTable, Mixer, bounded32, hi};
use crate::timing::{Timing, TimingConfig, check_fraction};

/// Length of the periods in which a fixed set of sensors is idle, in milliseconds.
pub const IDLE_PERIOD_MS: u64 = 60_000;

/// Largest number of rooms (the per-room tables stay small).
const MAX_ROOMS: u32 = 1 << 24;

/// One temperature reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensorReading {
    /// Event time, ms since the Unix epoch.
    pub ts_ms: u64,
    /// The sensor, in `0..sensors`.
    pub sensor_id: u32,
    /// The sensor's room, in `0..rooms`.
    pub room: u32,
    /// Temperature in tenths of a degree Celsius (`215` is 21.5 C).
    pub temp_dc: i32,
}

impl Event for SensorReading {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.ts_ms)
    }
}

impl CsvRecord for SensorReading {
    const COLUMNS: &'static [&'static str] = &["ts_ms", "sensor_id", "room", "temp"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let ts_ms = row.u64()?;
        let sensor_id = row.u32()?;
        let room = row.u32()?;
        let column = row.column();
        let tenths = row.fixed(1)?;
        let temp_dc = i32::try_from(tenths).map_err(|_| FieldError {
            column,
            message: format!("temperature {tenths} tenths does not fit in 32 bits"),
        })?;
        row.finish()?;
        Ok(SensorReading { ts_ms, sensor_id, room, temp_dc })
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.ts_ms);
        out.push(b',');
        write_u64(out, u64::from(self.sensor_id));
        out.push(b',');
        write_u64(out, u64::from(self.room));
        out.push(b',');
        write_fixed(out, i64::from(self.temp_dc), 1);
    }
}

/// The parameters of the sensors workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensorsConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of events (`0..events`).
    pub events: u64,
    /// Events per second of event time (default 100 000).
    pub event_rate_per_s: u64,
    /// Number of sensors (default 100 000).
    pub sensors: u32,
    /// Number of rooms (default 1 000, at most 2^24).
    pub rooms: u32,
    /// Zipf exponent of room sizes (default 1.1; 0 gives rooms of equal expected size).
    pub zipf_exponent: f64,
    /// Largest on-time jitter in ms (default 500, at most 1000).
    pub max_jitter_ms: u64,
    /// Share of late events (default 0).
    pub late_fraction: f64,
    /// Least delay of a late event behind its nominal time, in ms (default 20 000).
    pub late_delay_ms: u64,
    /// Share of sensors idle in each 60 s period (default 0.02, below 1).
    pub idle_fraction: f64,
    /// Nominal time of event 0, ms since the Unix epoch (default 1 700 000 000 000).
    pub base_time_ms: u64,
}

impl Default for SensorsConfig {
    fn default() -> Self {
        SensorsConfig {
            seed: 42,
            events: 1_000_000,
            event_rate_per_s: 100_000,
            sensors: 100_000,
            rooms: 1_000,
            zipf_exponent: 1.1,
            max_jitter_ms: 500,
            late_fraction: 0.0,
            late_delay_ms: 20_000,
            idle_fraction: 0.02,
            base_time_ms: 1_700_000_000_000,
        }
    }
}

impl SensorsConfig {
    /// Checks the parameters; the message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        self.timing().validate()?;
        if self.sensors == 0 {
            return Err("sensors must be > 0".into());
        }
        if self.rooms == 0 || self.rooms > MAX_ROOMS {
            return Err(format!("rooms must be in 1..={MAX_ROOMS}, got {}", self.rooms));
        }
        if !(0.0..=10.0).contains(&self.zipf_exponent) {
            return Err(format!("zipf_exponent must be in [0, 10], got {}", self.zipf_exponent));
        }
        check_fraction("idle_fraction", self.idle_fraction)?;
        if self.idle_fraction >= 1.0 {
            return Err("idle_fraction must be < 1: some sensor must be active in every period".into());
        }
        Ok(())
    }

    fn timing(&self) -> TimingConfig {
        TimingConfig {
            events: self.events,
            base_time_ms: self.base_time_ms,
            event_rate_per_s: self.event_rate_per_s,
            max_jitter_ms: self.max_jitter_ms,
            late_fraction: self.late_fraction,
            late_delay_ms: self.late_delay_ms,
        }
    }
}

/// Mixer stream numbers: one per independent choice.
mod stream {
    pub(super) const JITTER_SENSOR_NOISE: u64 = 1;
    pub(super) const LATE: u64 = 2;
    pub(super) const IDLE: u64 = 4;
    pub(super) const ROOM: u64 = 5;
    pub(super) const CALIBRATION: u64 = 6;
    pub(super) const DRIFT: u64 = 7;
    pub(super) const BASELINE: u64 = 8;
}

/// log2 of the spacing of drift knots in ms (2^20 ms, about 17.5 minutes).
const DRIFT_KNOT_SHIFT: u32 = 20;
/// Drift knots per room before the drift repeats (128 knots: about 37 hours).
const DRIFT_KNOTS: u64 = 128;
/// Largest number of sensors whose room and static temperature are tabulated.
const MAX_TABULATED_SENSORS: u64 = 1 << 22;
/// Largest number of rooms whose drift knots are tabulated.
const MAX_TABULATED_ROOMS: u64 = 1 << 16;

/// The idle interval of the last period seen: generation of consecutive events reuses it.
#[derive(Clone, Copy)]
struct PeriodCache {
    /// First millisecond of the period.
    from: u64,
    /// First idle sensor of the period.
    start: u64,
}

impl PeriodCache {
    /// No period cached (no timestamp is within 60 s after `u64::MAX`).
    const EMPTY: PeriodCache = PeriodCache { from: u64::MAX, start: 0 };
}

/// The sensors generator: a validated [`SensorsConfig`] and its precomputed tables.
///
/// The tables are caches of pure functions of the seed (a sensor's room and static
/// temperature, a room's drift knots), filled at construction when they are small enough;
/// beyond that the same functions are evaluated per event, with identical results.
#[derive(Clone, Debug)]
pub struct Sensors {
    config: SensorsConfig,
    timing: Timing,
    event_mix: Mixer,
    idle_mix: Mixer,
    room_mix: Mixer,
    calibration_mix: Mixer,
    drift_mix: Mixer,
    sensors: u64,
    rooms: u64,
    idle: u64,
    room_table: AliasTable,
    /// Baseline temperature of each room, in tenths.
    room_baseline: Vec<i32>,
    /// Per sensor `room << 8 | static temperature` (baseline + calibration, in 175..=245
    /// tenths), if `sensors <= 2^22`; empty otherwise.
    sensor_info: Vec<u32>,
    /// Drift knots, knot-major (`k * rooms + room`, so the two knots around one time are
    /// contiguous over all rooms and stay in L1), `DRIFT_KNOTS + 1` rows (the last repeats the
    /// first), if `rooms <= 2^16`; empty otherwise.
    drift_knots: Vec<i8>,
}

impl Sensors {
    /// The generator for `config`, or [`rill::Error::Config`] if it is invalid.
    pub fn new(config: SensorsConfig) -> rill::Result<Sensors> {
        config.validate().map_err(rill::Error::Config)?;
        let seed = config.seed;
        let weights: Vec<f64> = (0..config.rooms).map(|r| (f64::from(r) + 1.0).powf(-config.zipf_exponent)).collect();
        let baseline_mix = Mixer::new(seed, stream::BASELINE);
        let room_baseline =
            (0..config.rooms).map(|r| 180 + bounded32(hi(baseline_mix.at(u64::from(r))), 61) as i32).collect();
        let sensors = u64::from(config.sensors);
        let idle = ((config.idle_fraction * sensors as f64) as u64).min(sensors - 1);
        let mut generator = Sensors {
            timing: config.timing().build(seed, stream::LATE),
            event_mix: Mixer::new(seed, stream::JITTER_SENSOR_NOISE),
            idle_mix: Mixer::new(seed, stream::IDLE),
            room_mix: Mixer::new(seed, stream::ROOM),
            calibration_mix: Mixer::new(seed, stream::CALIBRATION),
            drift_mix: Mixer::new(seed, stream::DRIFT),
            sensors,
            rooms: u64::from(config.rooms),
            idle,
            room_table: AliasTable::new(&weights),
            room_baseline,
            sensor_info: Vec::new(),
            drift_knots: Vec::new(),
            config,
        };
        if sensors <= MAX_TABULATED_SENSORS {
            generator.sensor_info = (0..sensors)
                .map(|s| {
                    let (room, temp) = generator.compute_sensor_info(s);
                    room << 8 | temp as u32
                })
                .collect();
        }
        if generator.rooms <= MAX_TABULATED_ROOMS {
            let rooms = generator.rooms;
            generator.drift_knots = (0..=DRIFT_KNOTS)
                .flat_map(|k| (0..rooms).map(move |room| (room, k % DRIFT_KNOTS)))
                .map(|(room, k)| generator.compute_knot(room as u32, k) as i8)
                .collect();
        }
        Ok(generator)
    }

    /// The configuration.
    pub fn config(&self) -> &SensorsConfig {
        &self.config
    }

    /// The nominal time `n(i)` of event `i`.
    pub fn nominal_time(&self, i: u64) -> u64 {
        self.timing.nominal(i)
    }

    /// Event `i`.
    #[inline]
    pub fn event(&self, i: u64) -> SensorReading {
        let mut cache = PeriodCache::EMPTY;
        let mut reading = self.place(i, self.timing.nominal(i), &mut cache);
        self.complete(&mut reading);
        reading
    }

    /// Appends events `range` to `out`, in index order; equal to calling [`Sensors::event`] on
    /// each index, but cheaper.
    pub fn fill(&self, range: Range<u64>, out: &mut Vec<SensorReading>) {
        // Two passes per block: placing events (hash arithmetic) and then completing them (table
        // lookups) keeps many independent cache misses in flight in the second pass.
        const BLOCK: u64 = 1024;
        let mut steps = self.timing.steps(range.start);
        let mut cache = PeriodCache::EMPTY;
        out.reserve(range.end.saturating_sub(range.start) as usize);
        let mut i = range.start;
        while i < range.end {
            let end = range.end.min(i.saturating_add(BLOCK));
            let block_start = out.len();
            for i in i..end {
                out.push(self.place(i, steps.next_n(), &mut cache));
            }
            for reading in &mut out[block_start..] {
                self.complete(reading);
            }
            i = end;
        }
    }

    /// Whether event `i` is late (see the module docs).
    pub fn is_late(&self, i: u64) -> bool {
        self.timing.is_late(i, self.timing.nominal(i))
    }

    /// The room of `sensor` (fixed for the whole stream).
    #[inline]
    pub fn room_of(&self, sensor: u32) -> u32 {
        self.sensor_info(u64::from(sensor)).0
    }

    /// Whether `sensor` is idle in period `period` (event times `period * 60000 ..
    /// (period + 1) * 60000`): no reading of it is stamped in that period.
    pub fn is_idle(&self, sensor: u32, period: u64) -> bool {
        let start = self.idle_start(period);
        (u64::from(sensor) + self.sensors - start) % self.sensors < self.idle
    }

    #[inline(always)]
    fn idle_start(&self, period: u64) -> u64 {
        bounded32(hi(self.idle_mix.at(period)), self.sensors)
    }

    /// The room and static temperature (room baseline + calibration) of sensor `s`.
    #[inline(always)]
    fn sensor_info(&self, s: u64) -> (u32, i32) {
        match self.sensor_info.get(s as usize) {
            Some(&info) => (info >> 8, (info & 0xff) as i32),
            None => self.compute_sensor_info(s),
        }
    }

    fn compute_sensor_info(&self, s: u64) -> (u32, i32) {
        let room = self.room_table.sample(self.room_mix.at(s));
        let calibration = bounded32(hi(self.calibration_mix.at(s)), 11) as i32 - 5;
        (room, self.room_baseline[room as usize] + calibration)
    }

    /// Drift knot `k` (in `0..DRIFT_KNOTS`) of `room`, in tenths.
    fn compute_knot(&self, room: u32, k: u64) -> i32 {
        bounded32(hi(self.drift_mix.at(k * self.rooms + u64::from(room))), 61) as i32 - 30
    }

    /// The drift of `room` at event time `ts`, in tenths: linear between the knots around `ts`
    /// (rounded down), repeating every `DRIFT_KNOTS` knots.
    #[inline(always)]
    fn drift(&self, room: u32, ts: u64) -> i32 {
        let k = (ts >> DRIFT_KNOT_SHIFT) % DRIFT_KNOTS;
        let into = (ts & ((1 << DRIFT_KNOT_SHIFT) - 1)) as i64;
        let (v0, v1) = if self.drift_knots.is_empty() {
            (self.compute_knot(room, k), self.compute_knot(room, (k + 1) % DRIFT_KNOTS))
        } else {
            let at = (k * self.rooms + u64::from(room)) as usize;
            (i32::from(self.drift_knots[at]), i32::from(self.drift_knots[at + self.rooms as usize]))
        };
        v0 + ((i64::from(v1 - v0) * into) >> DRIFT_KNOT_SHIFT) as i32
    }

    /// Event `i` whose nominal time is `n`, but for its room and temperature: `room` is 0 and
    /// `temp_dc` holds only the noise until [`Sensors::complete`].
    #[inline(always)]
    fn place(&self, i: u64, n: u64, cache: &mut PeriodCache) -> SensorReading {
        let word = self.event_mix.at(i);
        let (ts_ms, _) = self.timing.stamp(i, n, word);
        if ts_ms.wrapping_sub(cache.from) >= IDLE_PERIOD_MS {
            let period = ts_ms / IDLE_PERIOD_MS;
            *cache = PeriodCache { from: period * IDLE_PERIOD_MS, start: self.idle_start(period) };
        }
        let mut sensor = cache.start + self.idle + bounded32(hi(word), self.sensors - self.idle);
        if sensor >= self.sensors {
            sensor -= self.sensors;
        }
        // Noise from the low 16 bits of the word (the jitter uses its bits 16..32).
        let noise = (((word & 0xffff) * 7) >> 16) as i32 - 3;
        SensorReading { ts_ms, sensor_id: sensor as u32, room: 0, temp_dc: noise }
    }

    /// Adds the room and the rest of the temperature to a placed reading.
    #[inline(always)]
    fn complete(&self, reading: &mut SensorReading) {
        let (room, static_temp) = self.sensor_info(u64::from(reading.sensor_id));
        reading.room = room;
        reading.temp_dc += static_temp + self.drift(room, reading.ts_ms);
    }
}

impl crate::Generator for Sensors {
    type Event = SensorReading;

    fn events(&self) -> u64 {
        self.config.events
    }

    fn event(&self, i: u64) -> SensorReading {
        Sensors::event(self, i)
    }

    fn fill(&self, range: Range<u64>, out: &mut Vec<SensorReading>) {
        Sensors::fill(self, range, out)
    }
}

/// Writes events `0..config.events` to the CSV file `path` (header included), generating in
/// parallel; returns the number of rows written.
pub fn export_csv(config: &SensorsConfig, path: &Path) -> rill::Result<u64> {
    crate::export::export_generated(&Sensors::new(config.clone())?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperatures_are_written_with_one_decimal() {
        let mut out = Vec::new();
        for (t, s) in [(215, "21.5"), (-5, "-0.5"), (0, "0.0"), (-215, "-21.5"), (i32::MIN, "-214748364.8")] {
            out.clear();
            SensorReading { ts_ms: 1, sensor_id: 2, room: 3, temp_dc: t }.write_csv(&mut out);
            assert_eq!(out, format!("1,2,3,{s}").as_bytes());
            let back = SensorReading::parse_csv(&mut CsvRow::new(&out)).unwrap();
            assert_eq!(back.temp_dc, t);
        }
    }

    #[test]
    fn parse_rejects_out_of_range_and_bad_fields() {
        let e = SensorReading::parse_csv(&mut CsvRow::new(b"1,2,3,214748364.8")).unwrap_err();
        assert_eq!(e.column, 4, "{e:?}");
        let e = SensorReading::parse_csv(&mut CsvRow::new(b"1,2,3,21.55")).unwrap_err();
        assert_eq!(e.column, 4, "{e:?}");
        let e = SensorReading::parse_csv(&mut CsvRow::new(b"1,x,3,21.5")).unwrap_err();
        assert_eq!(e.column, 2, "{e:?}");
        let e = SensorReading::parse_csv(&mut CsvRow::new(b"1,2,3,21.5,9")).unwrap_err();
        assert_eq!(e.column, 5, "{e:?}");
        assert_eq!(SensorReading::parse_csv(&mut CsvRow::new(b"1,2,3,21")).unwrap().temp_dc, 210);
    }

    #[test]
    fn drift_is_continuous_between_knots() {
        let s = Sensors::new(SensorsConfig::default()).unwrap();
        for room in [0, 17, 999] {
            let mut prev = s.drift(room, 0);
            for ts in (1_700_000_000_000..1_700_010_000_000).step_by(1000) {
                let d = s.drift(room, ts);
                assert!((-30..=30).contains(&d));
                // 60 tenths at most per 900 s: at most 1 tenth per second (+ rounding).
                assert!((d - prev).abs() <= 1 || ts == 1_700_000_000_000, "jump {prev} -> {d} at {ts}");
                prev = d;
            }
        }
    }

    #[test]
    fn tables_cache_the_computed_values() {
        let s = Sensors::new(SensorsConfig::default()).unwrap();
        assert!(!s.sensor_info.is_empty() && !s.drift_knots.is_empty());
        let mut untabulated = s.clone();
        untabulated.sensor_info.clear();
        untabulated.drift_knots.clear();
        for sensor in (0..100_000).step_by(97) {
            assert_eq!(s.sensor_info(sensor), untabulated.sensor_info(sensor));
        }
        for room in [0, 1, 500, 999] {
            for ts in (1_700_000_000_000..1_700_000_000_000 + 300_000_000).step_by(7_777_777) {
                assert_eq!(s.drift(room, ts), untabulated.drift(room, ts));
            }
        }
        assert_eq!(s.event(123_456), untabulated.event(123_456));
        let mut a = Vec::new();
        let mut b = Vec::new();
        s.fill(5_000_000..5_003_000, &mut a);
        untabulated.fill(5_000_000..5_003_000, &mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |f: fn(&mut SensorsConfig)| {
            let mut c = SensorsConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(bad(|c| c.sensors = 0).contains("sensors"));
        assert!(bad(|c| c.rooms = 0).contains("rooms"));
        assert!(bad(|c| c.zipf_exponent = f64::NAN).contains("zipf_exponent"));
        assert!(bad(|c| c.idle_fraction = 1.0).contains("idle_fraction"));
        assert!(bad(|c| c.idle_fraction = -0.1).contains("idle_fraction"));
        assert!(bad(|c| c.event_rate_per_s = 0).contains("event_rate_per_s"));
        assert!(bad(|c| c.max_jitter_ms = 2000).contains("max_jitter_ms"));
        assert!(matches!(
            Sensors::new(SensorsConfig { sensors: 0, ..SensorsConfig::default() }),
            Err(rill::Error::Config(_))
        ));
        assert_eq!(SensorsConfig::default().validate(), Ok(()));
    }
}
