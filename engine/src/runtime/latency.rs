//! When each source's watermark crossed each point of event time, and when each source first
//! read each point of event time: the clocks behind Rill's "watermark to output" and "event to
//! output" latencies.
//!
//! A source records `(watermark, instant)` every time it advances its capability, *before*
//! advancing it. An operator that emits a result because its input watermark passed `t`
//! (a window end) can therefore always look up, in [`WatermarkLog::crossing`], the moment the
//! job's watermark (the least over all source instances) first reached `t`: the latest of the
//! sources' own crossing times. For rate-limited (open-loop) sources the instant recorded is the
//! *scheduled* time of the record that moved the watermark, so a stalled worker does not hide
//! its own delay (no coordinated omission).
//!
//! Beside it, an [`EventTimeLog`] (reached with [`WatermarkLog::events`]) records, once per
//! batch a source instance reads, the greatest event time that instance has read so far and the
//! instant it read the batch (open loop: the batch's first record's *scheduled* time). For an
//! output row whose newest contributing event has event time `t`, [`EventTimeLog::first_read`]
//! gives the earliest instant at which *any* instance had read an event at or after `t`. The
//! event that contributed was read at that instant or later, so the time from there to the row
//! leaving the job is an upper bound on the row's true event-to-output latency, never an
//! underestimate.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Watermark advances of one source, per worker instance, and the event times it read.
#[derive(Debug)]
pub struct WatermarkLog {
    start: Instant,
    /// Per source instance: `(watermark, ns since start)`, both non-decreasing.
    instances: Vec<Mutex<Vec<(u64, u64)>>>,
    events: EventTimeLog,
}

impl WatermarkLog {
    /// A log for a source with `instances` workers.
    pub fn new(instances: usize) -> Self {
        let start = Instant::now();
        WatermarkLog {
            start,
            instances: (0..instances).map(|_| Mutex::new(Vec::new())).collect(),
            events: EventTimeLog::with_start(instances, start),
        }
    }

    /// The log of the event times the source's instances read.
    pub fn events(&self) -> &EventTimeLog {
        &self.events
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
        Some(self.start + Duration::from_nanos(latest))
    }
}

/// The greatest event time each instance of one source had read, and when: one entry per batch
/// that raised it, never one per record.
#[derive(Debug)]
pub struct EventTimeLog {
    start: Instant,
    /// Per source instance: `(max event time read, ns since start)`, the event time strictly
    /// increasing, the instant non-decreasing.
    instances: Vec<Mutex<Vec<(u64, u64)>>>,
}

impl EventTimeLog {
    /// A log for a source with `instances` workers.
    pub fn new(instances: usize) -> Self {
        Self::with_start(instances, Instant::now())
    }

    fn with_start(instances: usize, start: Instant) -> Self {
        EventTimeLog { start, instances: (0..instances).map(|_| Mutex::new(Vec::new())).collect() }
    }

    /// Records that instance `worker` had read events up to event time `max_read` at `at` (call
    /// once per batch; a batch that does not raise the maximum adds nothing).
    pub fn record(&self, worker: usize, max_read: u64, at: Instant) {
        let ns = at.saturating_duration_since(self.start).as_nanos() as u64;
        let mut log = self.instances[worker].lock().expect("event time log lock");
        match log.last() {
            Some(&(t, _)) if t >= max_read => {}
            Some(&(_, last)) => log.push((max_read, ns.max(last))),
            None => log.push((max_read, ns)),
        }
    }

    /// The earliest instant at which any instance had read an event with event time `t` or
    /// later, if one has. An event with time `t` that a row came from was read at this instant
    /// or later, so the latency measured from it is an upper bound on the row's.
    pub fn first_read(&self, t: u64) -> Option<Instant> {
        let mut earliest: Option<u64> = None;
        for inst in &self.instances {
            let log = inst.lock().expect("event time log lock");
            let i = log.partition_point(|&(m, _)| m < t);
            if let Some(&(_, ns)) = log.get(i) {
                earliest = Some(earliest.map_or(ns, |e| e.min(ns)));
            }
        }
        earliest.map(|ns| self.start + Duration::from_nanos(ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn first_read_is_earliest_instance() {
        let log = EventTimeLog::new(2);
        let t0 = log.start;
        let ms = Duration::from_millis;
        assert_eq!(log.first_read(0), None);
        log.record(0, 100, t0 + ms(1));
        log.record(0, 100, t0 + ms(3)); // no new maximum: the earlier instant stays
        log.record(1, 150, t0 + ms(2));
        log.record(0, 200, t0 + ms(4));
        log.record(1, 190, t0 + ms(5));
        // Independent reference: scan every recorded batch of every instance.
        let batches = [(100, 1), (100, 3), (150, 2), (200, 4), (190, 5)];
        let reference = |t: u64| batches.iter().filter(|&&(m, _)| m >= t).map(|&(_, at)| t0 + ms(at)).min();
        for t in [0, 99, 100, 101, 150, 151, 190, 191, 200, 201] {
            assert_eq!(log.first_read(t), reference(t), "t = {t}");
        }
        assert_eq!(log.first_read(120), Some(t0 + ms(2)));
        assert_eq!(log.first_read(195), Some(t0 + ms(4)));
        assert_eq!(log.first_read(201), None);
    }

    #[test]
    fn watermark_log_shares_its_start_with_events() {
        let log = WatermarkLog::new(1);
        let at = log.start + Duration::from_millis(7);
        log.events().record(0, 42, at);
        assert_eq!(log.events().first_read(42), Some(at));
    }
}
