//! The alignment stash of a checkpointed operator: batches of epochs after the one being
//! applied, held with their capabilities until that epoch has been snapshotted.
//!
//! Invariants: every held batch's epoch is later than the operator's current epoch when it was
//! held; the operator's effective watermark is the least of its input frontier's and of the
//! held batches' stamps, so windows and timers never fire past a record not yet applied.

use crate::time::{Epoch, EventTime, Time};

/// Batches (`B`, with their capabilities) held back for alignment.
#[derive(Debug)]
pub struct EpochStash<B> {
    held: Vec<(Time, B)>,
    /// Records held since the last [`take_held_count`](Self::take_held_count).
    records: u64,
}

impl<B> Default for EpochStash<B> {
    fn default() -> Self {
        EpochStash { held: Vec::new(), records: 0 }
    }
}

impl<B> EpochStash<B> {
    /// Holds `batch` of `records` records, stamped `stamp`.
    pub fn hold(&mut self, stamp: Time, records: usize, batch: B) {
        self.records += records as u64;
        self.held.push((stamp, batch));
    }

    /// `frontier_wm` lowered to the least stamp held.
    pub fn watermark(&self, frontier_wm: EventTime) -> EventTime {
        self.held.iter().map(|(t, _)| t.event).fold(frontier_wm, EventTime::min)
    }

    /// Removes and returns the batches of epochs `<= epoch`, in arrival order.
    pub fn take_through(&mut self, epoch: Epoch) -> Vec<(Time, B)> {
        let (ready, waiting) = std::mem::take(&mut self.held).into_iter().partition(|(t, _)| t.epoch <= epoch);
        self.held = waiting;
        ready
    }

    /// Records held since the last call (the `aligned_records` of a snapshot).
    pub fn take_held_count(&mut self) -> u64 {
        std::mem::take(&mut self.records)
    }

    /// Drops everything held (a job stopped at its savepoint, or failed).
    pub fn clear(&mut self) {
        self.held.clear();
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(epoch: u64, event: u64) -> Time {
        Time { epoch: Epoch(epoch), event: EventTime(event) }
    }

    #[test]
    fn holds_releases_by_epoch_and_lowers_the_watermark() {
        let mut s = EpochStash::default();
        assert_eq!(s.watermark(EventTime(100)), EventTime(100));
        s.hold(t(3, 50), 2, 'a');
        s.hold(t(4, 40), 5, 'b');
        s.hold(t(3, 70), 1, 'c');
        assert_eq!(s.watermark(EventTime(100)), EventTime(40));
        assert_eq!(s.take_held_count(), 8);
        assert_eq!(s.take_held_count(), 0);
        let ready: Vec<char> = s.take_through(Epoch(3)).into_iter().map(|(_, b)| b).collect();
        assert_eq!(ready, vec!['a', 'c']);
        assert_eq!(s.watermark(EventTime(100)), EventTime(40));
        assert!(!s.is_empty());
        s.clear();
        assert!(s.is_empty());
    }
}
