//! Nexmark q4, average winning price per category.
//!
//! ```sql
//! SELECT Q.category, AVG(Q.final)
//! FROM (
//!   SELECT MAX(B.price) AS final, A.category
//!   FROM auction A, bid B
//!   WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//!   GROUP BY A.id, A.category
//! ) Q
//! GROUP BY Q.category;
//! ```
//!
//! Output `category,avg_price`: per category, the mean over its auctions of the auction's
//! winning price, the highest price among the bids with
//! `auction.date_time <= bid.date_time <= auction.expires` (inclusive, as the SQL's `BETWEEN`).
//!
//! * No reserve check: Flink's SQL has none (NEXMARK.md section 7.8). Auctions without a bid
//!   in their interval do not count (the SQL's inner join).
//! * `avg_price` is the exact mean `sum / count` (sum in integers, one `f64` division) written
//!   with three decimals; Flink's `AVG` of a `BIGINT` would truncate to an integer.
//! * Updating in SQL; here the final state: an auction's winning price is decided once the
//!   watermark passes its `expires` ([`super::winning`]), and each category's average is
//!   emitted once, when the input ends (event-time timer at `EventTime::MAX`).
//! * A record below its source's watermark is late (counted, dropped); none is with in-order
//!   input.

use rill::api::process::{KeyedProcessFunction, ProcessContext};
use rill::api::stream::RillStream;
use rill::csv::{CsvRecord, CsvRow, FieldError, write_f64_fixed, write_u64};
use rill::operators::process::{ProcessKeyed, ProcessOutput};
use rill::state::{StateRegistry, TimeDomain, ValueState};
use rill::{Dataflow, EventTime};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::Concat;

use super::winning::{AuctionBid, Winner, winning_bids};
use super::{QueryOutput, units};

/// A q4 row: `category,avg_price`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Q4Row {
    /// Category.
    pub category: u64,
    /// Sum of the winning prices, cents.
    pub sum: u128,
    /// Auctions with a winner.
    pub count: u64,
}

impl Q4Row {
    /// The mean winning price, cents.
    pub fn avg_price(&self) -> f64 {
        self.sum as f64 / self.count as f64
    }
}

impl CsvRecord for Q4Row {
    const COLUMNS: &'static [&'static str] = &["category", "avg_price"];

    /// Reads back a written row: the mean as the sum over a count of 1 (rounded to cents).
    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let category = row.u64()?;
        let avg = row.f64()?;
        row.finish()?;
        Ok(Q4Row { category, sum: avg.round() as u128, count: 1 })
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.category);
        out.push(b',');
        write_f64_fixed(out, self.avg_price(), 3);
    }
}

/// Per category: the sum and count of winning prices, emitted when the input ends.
#[derive(Default)]
struct CategoryAverage {
    total: ValueState<(u128, u64)>,
}

impl KeyedProcessFunction<u64, Winner> for CategoryAverage {
    type Out = Q4Row;
    type Side = ();

    fn open(&mut self, state: &mut StateRegistry<'_, u64>) {
        self.total = state.value("total");
    }

    fn process_element(&mut self, w: &Winner, ctx: &mut ProcessContext<'_, u64, Q4Row, ()>) {
        let t = ctx.value_or_insert_with(&self.total, || (0, 0));
        t.0 += u128::from(w.bid.price);
        t.1 += 1;
        ctx.register_event_time_timer(EventTime::MAX);
    }

    fn on_timer(&mut self, _: EventTime, _: TimeDomain, ctx: &mut ProcessContext<'_, u64, Q4Row, ()>) {
        let category = *ctx.key();
        if let Some((sum, count)) = ctx.clear_value(&self.total) {
            ctx.emit(Q4Row { category, sum, count });
        }
    }
}

/// q4 on a stream of auctions and bids.
pub fn q4<'s>(df: &Dataflow<'s>, input: RillStream<'s, AuctionBid>) -> QueryOutput<'s, Q4Row> {
    let (winners, late) = winning_bids(df, input);
    let ProcessOutput { output, late: late2, .. } =
        winners.process_keyed(df, "q4-category-average", |w: &Winner| w.auction.category, CategoryAverage::default());
    QueryOutput { rows: output, late: late.concat(units(late2)) }
}
