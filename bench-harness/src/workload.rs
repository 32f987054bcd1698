//! The bridge to the workload generators of `rill-workloads`: configurations from the command
//! line, CSV export, and the sensors generator as a [`SensorSource`] for the baselines.
//!
//! Only the seed, the number of events and the late fraction come from the command line; every
//! other generator parameter keeps its default, so `gen`, `run` and `baseline` with the same
//! flags see the very same events.

use std::ops::Range;
use std::path::Path;

use rill_workloads::fraud::FraudConfig;
use rill_workloads::nexmark::NexmarkConfig;
use rill_workloads::sensors::{SensorReading, Sensors, SensorsConfig};

use crate::baseline::SensorSource;
use crate::cli::Workload;

/// The sensors configuration for `events`, `seed` and an optional late fraction.
pub fn sensors_config(events: u64, seed: u64, late_fraction: Option<f64>) -> SensorsConfig {
    let mut c = SensorsConfig { events, seed, ..SensorsConfig::default() };
    if let Some(f) = late_fraction {
        c.late_fraction = f;
    }
    c
}

/// The fraud configuration for `events`, `seed` and an optional late fraction.
pub fn fraud_config(events: u64, seed: u64, late_fraction: Option<f64>) -> FraudConfig {
    let mut c = FraudConfig { events, seed, ..FraudConfig::default() };
    if let Some(f) = late_fraction {
        c.late_fraction = f;
    }
    c
}

/// The Nexmark configuration for `events` (of all kinds) and `seed`.
pub fn nexmark_config(events: u64, seed: u64) -> NexmarkConfig {
    NexmarkConfig { events, seed, ..NexmarkConfig::default() }
}

/// The generator's default late fraction for `workload` (Nexmark has none: 0).
pub fn default_late_fraction(workload: Workload) -> f64 {
    match workload {
        Workload::Sensors => SensorsConfig::default().late_fraction,
        Workload::Fraud => FraudConfig::default().late_fraction,
        Workload::Nexmark => 0.0,
    }
}

/// Writes `events` generated events of `workload` to the CSV file `out` (Nexmark: to
/// `out/person.csv`, `out/auction.csv` and `out/bid.csv`, creating the directory `out`); returns
/// the rows written. Nexmark refuses a late fraction.
pub fn export(workload: Workload, events: u64, seed: u64, late_fraction: Option<f64>, out: &Path) -> rill::Result<u64> {
    match workload {
        Workload::Sensors => rill_workloads::sensors::export_csv(&sensors_config(events, seed, late_fraction), out),
        Workload::Fraud => rill_workloads::fraud::export_csv(&fraud_config(events, seed, late_fraction), out),
        Workload::Nexmark => {
            if late_fraction.is_some() {
                return Err(rill::Error::Config("--late-fraction does not apply to nexmark".into()));
            }
            std::fs::create_dir_all(out).map_err(|e| rill::Error::io(format!("creating {}", out.display()), e))?;
            let (persons, auctions, bids) = rill_workloads::nexmark::export_csv(&nexmark_config(events, seed), out)?;
            Ok(persons + auctions + bids)
        }
    }
}

/// The sensors generator as a baseline source.
#[derive(Debug)]
pub struct SensorsSource(Sensors);

impl SensorsSource {
    /// A generator for `config` (validated).
    pub fn new(config: SensorsConfig) -> rill::Result<SensorsSource> {
        Ok(SensorsSource(Sensors::new(config)?))
    }
}

impl SensorSource for SensorsSource {
    type Event = SensorReading;

    #[inline]
    fn fill(&self, range: Range<u64>, out: &mut Vec<SensorReading>) {
        self.0.fill(range, out);
    }

    #[inline]
    fn fields(e: &SensorReading) -> (u64, u32, i32) {
        (e.ts_ms, e.room, e.temp_dc)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::baseline::window::WindowParams;
    use crate::baseline::{loops, reference, timely};

    fn events_of(src: &SensorsSource, n: u64) -> Vec<(u64, u32, i32)> {
        let mut v = Vec::new();
        src.fill(0..n, &mut v);
        v.iter().map(SensorsSource::fields).collect()
    }

    /// The baselines over the real generator, with late events, agree with the reference, and
    /// the CSV loop over `gen`'s export agrees with the loop over generated events.
    #[test]
    fn baselines_agree_on_the_sensors_workload() {
        let n = 100_000;
        // 1000 events/s of event time: late events (>= 20 s behind) start after 40 s.
        let config = SensorsConfig { event_rate_per_s: 1_000, ..sensors_config(n, 7, Some(0.02)) };
        let src = SensorsSource::new(config.clone()).expect("valid config");
        let events = events_of(&src, n);
        let params = WindowParams::default();

        let want = reference::digest(&events, 1, &params);
        assert!(want.late > 0, "late events are generated: {want:?}");
        assert_eq!(loops::over_generated(&src, 0..n, params), want);

        let src = Arc::new(src);
        for workers in [1, 2] {
            let (got, _) = timely::run(Arc::clone(&src), n, workers, params).expect("timely run");
            assert_eq!(got, reference::digest(&events, workers, &params), "{workers} workers");
        }

        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sensors.csv");
        assert_eq!(rill_workloads::sensors::export_csv(&config, &path).expect("export"), n);
        let (got, read) = loops::over_csv(&path, params).expect("csv loop");
        assert_eq!(read, n);
        assert_eq!(got, want);
    }

    #[test]
    fn export_writes_the_requested_events() {
        let dir = tempfile::tempdir().expect("temp dir");
        for w in [Workload::Sensors, Workload::Fraud] {
            let path = dir.path().join(format!("{}.csv", w.name()));
            assert_eq!(export(w, 1_000, 3, None, &path).expect("export"), 1_000);
            let text = std::fs::read_to_string(&path).expect("read back");
            assert_eq!(text.lines().count(), 1_001, "header and one line per event");
        }
    }

    #[test]
    fn nexmark_export_writes_three_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("nexmark");
        assert_eq!(export(Workload::Nexmark, 1_000, 3, None, &out).expect("export"), 1_000);
        let lines = |f: &str| std::fs::read_to_string(out.join(f)).expect("read back").lines().count() as u64;
        assert_eq!(lines("person.csv") + lines("auction.csv") + lines("bid.csv"), 1_003, "headers and events");
        assert_eq!(lines("bid.csv"), 1 + 1_000 / 50 * 46, "46 bids per 50 events");
        assert!(export(Workload::Nexmark, 10, 3, Some(0.1), &out).is_err(), "no late fraction");
    }

    #[test]
    fn flags_reach_the_generator() {
        let c = sensors_config(123, 9, None);
        assert_eq!((c.events, c.seed, c.late_fraction), (123, 9, SensorsConfig::default().late_fraction));
        assert_eq!(sensors_config(1, 1, Some(0.5)).late_fraction, 0.5);
        let f = fraud_config(5, 6, Some(0.25));
        assert_eq!((f.events, f.seed, f.late_fraction), (5, 6, 0.25));
    }
}
