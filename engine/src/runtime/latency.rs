//! When each source's watermark crossed each point of event time: the clock behind Rill's
//! "watermark to output" latency.
//!
//! A source records `(watermark, instant)` every time it advances its capability, *before*
//! advancing it. An operator that emits a result because its input watermark passed `t`
//! (a window end) can therefore always look up, in [`WatermarkLog::crossing`], the moment the
//! job's watermark (the least over all source instances) first reached `t`: the latest of the
//! sources' own crossing times. For rate-limited (open-loop) sources the instant recorded is the
//! *scheduled* time of the record that moved the watermark, so a stalled worker does not hide
//! its own delay (no coordinated omission).

use std::sync::Mutex;
use std::time::Instant;

/// Watermark advances of one source, per worker instance.
#[derive(Debug)]
pub struct WatermarkLog {
    start: Instant,
    /// Per source instance: `(watermark, ns since start)`, both non-decreasing.
    instances: Vec<Mutex<Vec<(u64, u64)>>>,
}

impl WatermarkLog {
    /// A log for a source with `instances` workers.
    pub fn new(instances: usize) -> Self {
        WatermarkLog { start: Instant::now(), instances: (0..instances).map(|_| Mutex::new(Vec::new())).collect() }
    }

    /// Records that instance `worker`'s watermark reached `watermark` at `at`.
    pub fn record(&self, worker: usize, watermark: u64, at: Instant) {
        let ns = at.saturating_duration_since(self.start).as_nanos() as u64;
        let mut log = self.instances[worker].lock().expect("watermark log lock");
        let ns = log.last().map_or(ns, |&(_, last)| ns.max(last));
        log.push((watermark, ns));
    }

    /// The instant at which every instance's watermark had reached `t`, if all have.
    pub fn crossing(&self, t: u64) -> Option<Instant> {
        let mut latest = 0u64;
        for inst in &self.instances {
            let log = inst.lock().expect("watermark log lock");
            let i = log.partition_point(|&(w, _)| w < t);
            latest = latest.max(log.get(i)?.1);
        }
        Some(self.start + std::time::Duration::from_nanos(latest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn crossing_is_latest_instance() {
        let log = WatermarkLog::new(2);
        let t0 = log.start;
        log.record(0, 100, t0 + Duration::from_millis(1));
        log.record(1, 50, t0 + Duration::from_millis(2));
        assert_eq!(log.crossing(100), None);
        log.record(1, 120, t0 + Duration::from_millis(5));
        assert_eq!(log.crossing(100), Some(t0 + Duration::from_millis(5)));
        assert_eq!(log.crossing(40), Some(t0 + Duration::from_millis(2)));
    }
}
