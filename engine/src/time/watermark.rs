//! Watermark strategies: how a source turns the event times it reads into a watermark.
//!
//! A source's watermark is `max event time seen - max_out_of_orderness`, rounded down to a
//! multiple of the granularity (bounded out-of-orderness; `0` makes it monotonous). The
//! granularity is the latency/batching trade-off: a source creates a new timely timestamp only
//! when its watermark crosses a granularity step, so a coarser step means larger batches and
//! fewer progress messages, a finer one means windows close sooner after their end.
//!
//! Idleness: a source that has had no input for `idle_timeout` of processing time stops
//! holding the job's watermark back (see [`crate::operators::source`]).

use std::time::Duration;

use crate::time::EventTime;

/// How a source derives its watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatermarkStrategy {
    /// How far (ms) an event may trail the newest event seen and still be on time.
    pub max_out_of_orderness_ms: u64,
    /// The watermark only advances in multiples of this many ms (at least 1).
    pub granularity_ms: u64,
    /// After this long without input, a live source is idle and stops holding the watermark.
    pub idle_timeout: Option<Duration>,
}

impl Default for WatermarkStrategy {
    fn default() -> Self {
        WatermarkStrategy { max_out_of_orderness_ms: 1_000, granularity_ms: 10, idle_timeout: None }
    }
}

impl WatermarkStrategy {
    /// Bounded out-of-orderness of `ms` milliseconds, default granularity.
    pub fn bounded_out_of_orderness(ms: u64) -> Self {
        WatermarkStrategy { max_out_of_orderness_ms: ms, ..Self::default() }
    }

    /// Events arrive in event-time order (out-of-orderness 0).
    pub fn monotonous() -> Self {
        Self::bounded_out_of_orderness(0)
    }

    /// The same strategy with another granularity.
    pub fn with_granularity(mut self, ms: u64) -> Self {
        self.granularity_ms = ms.max(1);
        self
    }

    /// The same strategy with an idle timeout.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// The watermark implied by having seen `max_seen` as the newest event time.
    #[inline]
    pub fn watermark_for(&self, max_seen: EventTime) -> EventTime {
        let g = self.granularity_ms.max(1);
        let w = max_seen.0.saturating_sub(self.max_out_of_orderness_ms);
        EventTime(w - w % g)
    }
}

/// Tracks one source's watermark as it reads events.
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    strategy: WatermarkStrategy,
    max_seen: u64,
    current: EventTime,
}

impl WatermarkTracker {
    /// A tracker that has seen nothing (watermark at [`EventTime::MIN`]).
    pub fn new(strategy: WatermarkStrategy) -> Self {
        WatermarkTracker { strategy, max_seen: 0, current: EventTime::MIN }
    }

    /// A tracker resuming from a checkpoint: it had seen `max_seen` and emitted `current`.
    pub fn restored(strategy: WatermarkStrategy, max_seen: EventTime, current: EventTime) -> Self {
        let mut t = WatermarkTracker::new(strategy);
        t.max_seen = max_seen.0;
        t.current = current;
        t
    }

    /// Notes an event time; cheap enough for every record.
    #[inline]
    pub fn observe(&mut self, t: EventTime) {
        if t.0 > self.max_seen {
            self.max_seen = t.0;
        }
    }

    /// The largest event time observed.
    pub fn max_seen(&self) -> EventTime {
        EventTime(self.max_seen)
    }

    /// Recomputes the watermark from what was observed; returns it if it advanced.
    #[inline]
    pub fn advance(&mut self) -> Option<EventTime> {
        let w = self.strategy.watermark_for(EventTime(self.max_seen));
        if w > self.current {
            self.current = w;
            Some(w)
        } else {
            None
        }
    }

    /// Moves the watermark to at least `t` (an explicit "no data before `t`" declaration).
    pub fn advance_to(&mut self, t: EventTime) -> Option<EventTime> {
        let g = self.strategy.granularity_ms.max(1);
        let t = EventTime(t.0 - t.0 % g);
        if t > self.current {
            self.current = t;
            Some(t)
        } else {
            None
        }
    }

    /// The current watermark.
    pub fn current(&self) -> EventTime {
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The watermark never decreases, never passes `max_seen - ooo`, and is a multiple of
        /// the granularity; an event no older than `ooo` behind the newest is never below it.
        #[test]
        fn watermark_properties(ooo in 0u64..5_000, g in 1u64..1_000,
                                times in proptest::collection::vec(0u64..1_000_000, 1..200)) {
            let s = WatermarkStrategy::bounded_out_of_orderness(ooo).with_granularity(g);
            let mut t = WatermarkTracker::new(s);
            let mut last = EventTime::MIN;
            let mut max = 0;
            for x in times {
                // On time w.r.t. the current watermark if within ooo of the newest so far.
                if x + ooo >= max { prop_assert!(x >= t.current().0); }
                t.observe(EventTime(x));
                max = max.max(x);
                t.advance();
                let w = t.current();
                prop_assert!(w >= last);
                prop_assert!(w.0 <= max.saturating_sub(ooo));
                prop_assert_eq!(w.0 % g, 0);
                last = w;
            }
        }
    }

    #[test]
    fn advance_reports_only_changes() {
        let mut t = WatermarkTracker::new(WatermarkStrategy::bounded_out_of_orderness(100).with_granularity(10));
        t.observe(EventTime(50));
        assert_eq!(t.advance(), None);
        t.observe(EventTime(1_234));
        assert_eq!(t.advance(), Some(EventTime(1_130)));
        assert_eq!(t.advance(), None);
        assert_eq!(t.advance_to(EventTime(1_125)), None);
        assert_eq!(t.advance_to(EventTime(2_005)), Some(EventTime(2_000)));
    }
}
