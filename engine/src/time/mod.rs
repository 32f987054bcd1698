//! Event time on timely's progress tracking.
//!
//! Every timely timestamp in Rill is a [`Time`] = `(epoch, event_time)` in product order (both
//! coordinates `<=`):
//!
//! * the **watermark** an operator sees is the least event-time coordinate over its input
//!   frontier ([`watermark`]): no record stamped earlier can still arrive;
//! * the **completed epoch** is the least epoch coordinate over the frontier minus one
//!   ([`min_epoch`]): the consistent cut for snapshots, with no barrier messages.
//!
//! Sources stamp each batch with their current capability `(epoch, watermark)`, not with each
//! record's own event time (which stays in the record, see [`Event`]): only a watermark advance
//! creates a new timestamp, so timely batches stay large. A record whose event time is below the
//! stamp of its batch was read after its source's watermark had passed it; operators judge
//! lateness against that stamp, which makes the decision independent of scheduling.
//!
//! Window assignment lives in [`window`], watermark strategies in [`watermark`].

pub mod watermark;
pub mod window;

use serde::{Deserialize, Serialize};
use timely::order::PartialOrder;
use timely::progress::timestamp::{PathSummary, Refines, Timestamp};

/// The timely timestamp of every Rill dataflow: `(epoch, event time in ms)`, ordered as a
/// product (`a <= b` iff both coordinates are). `Ord` (lexicographic) exists only so that times
/// can key sorted containers.
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Time {
    /// The checkpoint epoch.
    pub epoch: Epoch,
    /// The event-time coordinate: a watermark, not any one record's time.
    pub event: EventTime,
}

impl std::fmt::Debug for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.epoch.0, self.event.0)
    }
}

impl PartialOrder for Time {
    #[inline]
    fn less_equal(&self, other: &Self) -> bool {
        self.epoch <= other.epoch && self.event <= other.event
    }
}

impl Timestamp for Time {
    type Summary = TimeSummary;
    fn minimum() -> Self {
        Time::default()
    }
}

impl Refines<()> for Time {
    fn to_inner(_: ()) -> Self {
        Time::default()
    }
    fn to_outer(self) {}
    fn summarize(_: TimeSummary) {}
}

/// How a path through the dataflow advances a [`Time`]: by a fixed amount per coordinate.
/// Rill's operators never advance times along edges, so every summary in practice is zero.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimeSummary {
    /// Epochs added.
    pub epoch: u64,
    /// Milliseconds added.
    pub event: u64,
}

impl PartialOrder for TimeSummary {
    #[inline]
    fn less_equal(&self, other: &Self) -> bool {
        self.epoch <= other.epoch && self.event <= other.event
    }
}

impl PathSummary<Time> for TimeSummary {
    #[inline]
    fn results_in(&self, t: &Time) -> Option<Time> {
        Some(Time {
            epoch: Epoch(t.epoch.0.checked_add(self.epoch)?),
            event: EventTime(t.event.0.checked_add(self.event)?),
        })
    }
    #[inline]
    fn followed_by(&self, other: &Self) -> Option<Self> {
        Some(TimeSummary { epoch: self.epoch.checked_add(other.epoch)?, event: self.event.checked_add(other.event)? })
    }
}

/// Event time in milliseconds since the Unix epoch.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventTime(pub u64);

impl EventTime {
    /// The smallest event time.
    pub const MIN: EventTime = EventTime(0);
    /// The largest event time; a watermark at `MAX` means "the input has ended".
    pub const MAX: EventTime = EventTime(u64::MAX);

    /// The milliseconds as a plain integer.
    #[inline]
    pub fn ms(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for EventTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// A checkpoint epoch: all records a source emits between two checkpoints share one epoch.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epoch(pub u64);

/// Builds the timely timestamp for `epoch` and `event_time`.
#[inline]
pub fn time(epoch: Epoch, event_time: EventTime) -> Time {
    Time { epoch, event: event_time }
}

/// The watermark carried by a frontier: the least event time any future record can be stamped
/// with. An empty frontier (the input has ended) gives [`EventTime::MAX`].
#[inline]
pub fn watermark(frontier: &[Time]) -> EventTime {
    frontier.iter().map(|t| t.event).min().unwrap_or(EventTime::MAX)
}

/// The least epoch of a frontier; every epoch below it is complete upstream. An empty frontier
/// gives `Epoch(u64::MAX)`.
#[inline]
pub fn min_epoch(frontier: &[Time]) -> Epoch {
    frontier.iter().map(|t| t.epoch).min().unwrap_or(Epoch(u64::MAX))
}

/// A record that carries its own event time.
///
/// Implement it for the types that flow through event-time operators (windows, process
/// functions). Window results implement it with the window's last millisecond.
pub trait Event {
    /// The record's event time.
    fn event_time(&self) -> EventTime;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_is_least_inner_coordinate() {
        let f = [time(Epoch(1), EventTime(500)), time(Epoch(2), EventTime(300))];
        assert!(f[0].less_equal(&time(Epoch(1), EventTime(600))));
        assert!(!f[0].less_equal(&f[1]) && !f[1].less_equal(&f[0]));
        assert_eq!(watermark(&f), EventTime(300));
        assert_eq!(min_epoch(&f), Epoch(1));
        assert_eq!(watermark(&[]), EventTime::MAX);
        assert_eq!(min_epoch(&[]), Epoch(u64::MAX));
    }
}
