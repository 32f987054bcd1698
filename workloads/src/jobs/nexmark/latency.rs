//! What the latency probes read of each Nexmark query's rows (see [`super::super::Probe`] for
//! the two latencies and how they are measured).
//!
//! Event to output needs `t`, the event time of a row's newest contributing event:
//!
//! * q0, q1: the bid's `date_time`. q2's rows carry no time: `t` is the greatest event time the
//!   source had read before the row's batch (the batch's stamp plus the watermark delay), which
//!   is at most the bid's, so the latency stays an upper bound.
//! * Windowed queries (q5, q7, q8): the window's last millisecond, `end - 1`, the newest event
//!   time a contributing event can have. The latency runs from the first read of an event at or
//!   past it, so it includes the wait for the watermark (its delay of event time) to pass `end`.
//! * q11: the session's last bid, `end - GAP_MS`, exactly. q9: the auction's `expires`, the
//!   last moment a bid counts.
//! * q3 and q4 have neither latency: q3's join rows carry no time and are not windowed, q4's
//!   averages are emitted at the end of the input.
//!
//! Watermark to output: the windowed queries' window ends (q11's session end + 1: a bid at the
//! end still extends the session), q9's `expires + 1`.
//!
//! Stateless queries sample about one row per source batch (their rows are as many as the
//! bids); the others sample every row.

use rill::operators::source::SourceOptions;

use super::{AuctionPrice, Q3Row, Q4Row, Q5Row, Q7Bid, Q8Row, Q9Row, Q11Row};
use super::{BidRow, EuroBidRow, QueryInput};
use crate::jobs::Probe;

/// Rows sampled for event latency in stateless queries: about one per source batch.
const STATELESS_EVERY: usize = 1024;

/// The probe of a query's rows.
pub(super) type RowProbe<O> = Probe<fn(&O) -> u64, fn(&O, u64) -> Option<u64>>;

/// The times of a query's result row the latency probes read.
pub(super) trait RowTimes: Sized + 'static {
    /// Whether every row has a watermark crossing.
    const CROSSES: bool = false;

    /// Rows sampled for event latency: every `EVERY`-th row of a batch.
    const EVERY: usize = 1;

    /// The event time whose watermark crossing makes the row final, if any.
    fn crossing(&self) -> Option<u64> {
        None
    }

    /// `t`, given the greatest event time read before the row's batch (see the module docs).
    fn newest(&self, read_bound: u64) -> Option<u64>;

    /// The probe for this query's rows.
    fn probe() -> RowProbe<Self> {
        fn crossing<O: RowTimes>(o: &O) -> u64 {
            o.crossing().expect("a row of a query with watermark crossings has one")
        }
        fn newest<O: RowTimes>(o: &O, read_bound: u64) -> Option<u64> {
            o.newest(read_bound)
        }
        Probe { crossing: Self::CROSSES.then_some(crossing::<Self>), newest: newest::<Self>, every: Self::EVERY }
    }
}

/// The source options for a CSV input of `I`: no latency log when the query reads several files
/// (their sources would share each worker's entry of one log).
pub(super) fn csv_options<I: QueryInput>(options: &SourceOptions) -> SourceOptions {
    let files = [I::PERSONS, I::AUCTIONS, I::BIDS].into_iter().filter(|&b| b).count();
    SourceOptions { strategy: options.strategy, watermark_log: options.watermark_log.clone().filter(|_| files == 1) }
}

impl RowTimes for BidRow {
    const EVERY: usize = STATELESS_EVERY;
    fn newest(&self, _: u64) -> Option<u64> {
        Some(self.date_time)
    }
}

impl RowTimes for EuroBidRow {
    const EVERY: usize = STATELESS_EVERY;
    fn newest(&self, _: u64) -> Option<u64> {
        Some(self.date_time)
    }
}

impl RowTimes for AuctionPrice {
    const EVERY: usize = STATELESS_EVERY;
    fn newest(&self, read_bound: u64) -> Option<u64> {
        Some(read_bound)
    }
}

impl RowTimes for Q3Row {
    fn newest(&self, _: u64) -> Option<u64> {
        None
    }
}

impl RowTimes for Q4Row {
    fn newest(&self, _: u64) -> Option<u64> {
        None
    }
}

impl RowTimes for Q5Row {
    const CROSSES: bool = true;
    fn crossing(&self) -> Option<u64> {
        Some(self.window_end_ms)
    }
    fn newest(&self, _: u64) -> Option<u64> {
        Some(self.window_end_ms - 1)
    }
}

/// The end of q7's tumbling window holding `date_time`.
fn q7_end(date_time: u64) -> u64 {
    date_time - date_time % super::q7::WINDOW_MS + super::q7::WINDOW_MS
}

impl RowTimes for Q7Bid {
    const CROSSES: bool = true;
    fn crossing(&self) -> Option<u64> {
        Some(q7_end(self.date_time))
    }
    fn newest(&self, _: u64) -> Option<u64> {
        Some(q7_end(self.date_time) - 1)
    }
}

impl RowTimes for Q8Row {
    const CROSSES: bool = true;
    fn crossing(&self) -> Option<u64> {
        Some(self.window_start_ms + super::q8::WINDOW_MS)
    }
    fn newest(&self, _: u64) -> Option<u64> {
        Some(self.window_start_ms + super::q8::WINDOW_MS - 1)
    }
}

impl RowTimes for Q9Row {
    const CROSSES: bool = true;
    fn crossing(&self) -> Option<u64> {
        Some(self.expires.saturating_add(1))
    }
    fn newest(&self, _: u64) -> Option<u64> {
        Some(self.expires)
    }
}

impl RowTimes for Q11Row {
    const CROSSES: bool = true;
    fn crossing(&self) -> Option<u64> {
        Some(self.session_end_ms.saturating_add(1))
    }
    fn newest(&self, _: u64) -> Option<u64> {
        Some(self.session_end_ms.saturating_sub(super::q11::GAP_MS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q7_windows_are_epoch_aligned() {
        assert_eq!(q7_end(0), 10_000);
        assert_eq!(q7_end(9_999), 10_000);
        assert_eq!(q7_end(10_000), 20_000);
    }

    #[test]
    fn stateless_rows_have_no_crossing() {
        assert!(BidRow::probe().crossing.is_none());
        assert!(Q5Row::probe().crossing.is_some());
        let q2 = AuctionPrice { auction: 123, price: 5 };
        assert_eq!(q2.newest(77), Some(77));
    }
}
