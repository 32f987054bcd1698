//! Nexmark q7, highest bid: per 10 s tumbling window, the bids whose price is the window's
//! maximum.
//!
//! ```sql
//! SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
//! FROM bid B
//! JOIN (SELECT MAX(price) AS maxprice, window_end AS dateTime
//!       FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//!       GROUP BY window_start, window_end) B1
//! ON B.price = B1.maxprice
//! WHERE B.dateTime BETWEEN B1.dateTime - INTERVAL '10' SECOND AND B1.dateTime;
//! ```
//!
//! Output `auction,price,bidder,date_time,extra` (the SELECT's order: Flink's sink swaps price
//! and bidder positionally, NEXMARK.md section 7.6; Rill writes what the SELECT names). Every
//! bid whose price equals its window's maximum is a row (ties all kept).
//!
//! * Windows are half-open `[start, start + 10 000)`, epoch aligned: a bid belongs to exactly
//!   the window that contains it. The SQL's `BETWEEN` is inclusive at `window_end`, so Flink
//!   would also pair a bid at exactly `window_end` (the first millisecond of the next window)
//!   with the previous window when its price equals that window's maximum; Rill does not: a
//!   row is a bid of its own window.
//! * Plan, two phases so that no single worker sees every bid: the bids are spread over
//!   [`BUCKETS`] keys (`date_time mod BUCKETS`, balanced whatever the auction or bidder skew),
//!   and a tumbling window per bucket keeps its maximal bids (the aggregate [`MaxBids`]: only a
//!   bid at or above the running maximum is copied). Then a keyed process function per window
//!   start merges the buckets' candidates and emits the window's maximal bids from an
//!   event-time timer at the window's end (the buckets' results are stamped at most `end - 1`).
//! * A bid below its source's watermark is late (counted, dropped); none is with in-order input.

use crate::nexmark::{str_field, u64_field};
use rill::api::aggregate::AggregateFunction;
use rill::api::process::{KeyedProcessFunction, ProcessContext};
use rill::api::stream::{RillStream, StreamExt};
use rill::csv::{CsvRecord, CsvRow, FieldError, write_u64};
use rill::operators::process::{ProcessKeyed, ProcessOutput};
use rill::operators::window::WindowResult;
use rill::state::{StateRegistry, TimeDomain, ValueState};
use rill::time::window::WindowSpec;
use rill::{Dataflow, Event, EventTime};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::Concat;

use super::{QueryInput, QueryOutput, units};
use crate::nexmark::Bid;

/// Window length (ms).
pub const WINDOW_MS: u64 = 10_000;
/// Keys of the first phase.
pub const BUCKETS: u64 = 128;

/// What q7 keeps of a bid, and its row: `auction,price,bidder,date_time,extra`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Q7Bid {
    /// Auction id.
    pub auction: u64,
    /// Price, cents.
    pub price: u64,
    /// Bidder id.
    pub bidder: u64,
    /// Event time, ms since the Unix epoch.
    pub date_time: u64,
    /// Padding.
    pub extra: String,
}

impl Event for Q7Bid {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.date_time)
    }
}

impl QueryInput for Q7Bid {
    const PERSONS: bool = false;
    const AUCTIONS: bool = false;
    const BIDS: bool = true;

    #[inline]
    fn bid(b: Bid) -> Option<Self> {
        Some(Q7Bid { auction: b.auction, price: b.price, bidder: b.bidder, date_time: b.date_time, extra: b.extra })
    }

    type CsvBid = Bid;

    #[inline]
    fn csv_bid(b: Bid) -> Option<Self> {
        Self::bid(b)
    }
}

impl CsvRecord for Q7Bid {
    const COLUMNS: &'static [&'static str] = &["auction", "price", "bidder", "date_time", "extra"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = Q7Bid {
            auction: row.u64()?,
            price: row.u64()?,
            bidder: row.u64()?,
            date_time: row.u64()?,
            extra: row.str()?.into_owned(),
        };
        row.finish()?;
        Ok(r)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.auction);
        u64_field(out, self.price);
        u64_field(out, self.bidder);
        u64_field(out, self.date_time);
        str_field(out, &self.extra);
    }
}

/// The bids at the maximal price seen so far (empty: none seen).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MaxBidsAcc {
    /// The maximal price (meaningless while `bids` is empty).
    pub max: u64,
    /// Every bid at `max`.
    pub bids: Vec<Q7Bid>,
}

impl MaxBidsAcc {
    /// Folds in a bid given by reference (copied only if it is at or above the maximum).
    #[inline]
    fn add_ref(&mut self, b: &Q7Bid) {
        if self.bids.is_empty() || b.price > self.max {
            self.max = b.price;
            self.bids.clear();
            self.bids.push(b.clone());
        } else if b.price == self.max {
            self.bids.push(b.clone());
        }
    }

    /// Folds in another accumulator.
    fn merge(&mut self, other: &MaxBidsAcc) {
        if other.bids.is_empty() {
            return;
        }
        if self.bids.is_empty() || other.max > self.max {
            self.max = other.max;
            self.bids.clear();
            self.bids.extend_from_slice(&other.bids);
        } else if other.max == self.max {
            self.bids.extend_from_slice(&other.bids);
        }
    }
}

/// The aggregate "every bid at the maximal price".
#[derive(Debug, Clone, Copy, Default)]
pub struct MaxBids;

impl AggregateFunction<Q7Bid> for MaxBids {
    type Acc = MaxBidsAcc;
    type Out = MaxBidsAcc;

    fn create(&self) -> MaxBidsAcc {
        MaxBidsAcc::default()
    }

    #[inline]
    fn add(&self, acc: &mut MaxBidsAcc, b: &Q7Bid) {
        acc.add_ref(b);
    }

    fn merge(&self, acc: &mut MaxBidsAcc, other: &MaxBidsAcc) {
        acc.merge(other);
    }

    fn result(&self, acc: &MaxBidsAcc) -> MaxBidsAcc {
        acc.clone()
    }
}

/// Per window start: merges the buckets' maximal bids, emits them at the window's end.
#[derive(Default)]
struct WindowMax {
    best: ValueState<MaxBidsAcc>,
}

impl KeyedProcessFunction<u64, WindowResult<u64, MaxBidsAcc>> for WindowMax {
    type Out = Q7Bid;
    type Side = ();

    fn open(&mut self, state: &mut StateRegistry<'_, u64>) {
        self.best = state.value("best");
    }

    fn process_element(&mut self, r: &WindowResult<u64, MaxBidsAcc>, ctx: &mut ProcessContext<'_, u64, Q7Bid, ()>) {
        ctx.value_or_insert_with(&self.best, MaxBidsAcc::default).merge(&r.value);
        ctx.register_event_time_timer(r.window.end);
    }

    fn on_timer(&mut self, _: EventTime, _: TimeDomain, ctx: &mut ProcessContext<'_, u64, Q7Bid, ()>) {
        if let Some(best) = ctx.clear_value(&self.best) {
            for b in best.bids {
                ctx.emit(b);
            }
        }
    }
}

/// q7 on a stream of bids.
pub fn q7<'s>(df: &Dataflow<'s>, bids: RillStream<'s, Q7Bid>) -> QueryOutput<'s, Q7Bid> {
    let local = bids
        .key_by(df, |b: &Q7Bid| b.date_time % BUCKETS)
        .window(WindowSpec::tumbling(WINDOW_MS))
        .aggregate("q7-bucket-max", MaxBids);
    let ProcessOutput { output, late, .. } = local.results.process_keyed(
        df,
        "q7-window-max",
        |r: &WindowResult<u64, MaxBidsAcc>| r.window.start.0,
        WindowMax::default(),
    );
    QueryOutput { rows: output, late: units(local.late).concat(units(late)) }
}
