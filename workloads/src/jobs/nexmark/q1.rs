//! Nexmark q1, currency conversion.
//!
//! ```sql
//! SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid
//! ```
//!
//! Follows Flink: `0.908 * price` is a `DECIMAL(23,3)`, computed exactly in integers
//! (`price * 908` thousandths, in `u128` so no `BIGINT` price overflows) and written with
//! exactly three decimals (`1` -> `0.908`, `1234` -> `1120.472`). Beam's `price * 89 / 100` is
//! not what this query computes (NEXMARK.md section 7, item 7). Stateless: no record is late.
//! Its input is q0's, [`Q0Bid`].

use crate::nexmark::{str_field, u64_field};
use rill::api::stream::RillStream;
use rill::csv::{CsvRecord, CsvRow, FieldError, write_u64};
use rill::{Event, EventTime};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::Map;

use super::Q0Bid;

/// A q1 row: `auction,bidder,price,date_time,extra` with `price = 0.908 * price` as a
/// `DECIMAL(23,3)`, held exactly in thousandths.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EuroBidRow {
    /// Auction id.
    pub auction: u64,
    /// Bidder (person) id.
    pub bidder: u64,
    /// `0.908 * price` in thousandths: `price * 908`.
    pub price_milli: u128,
    /// Event time, ms since the Unix epoch.
    pub date_time: u64,
    /// Padding.
    pub extra: String,
}

/// `0.908 * price` in thousandths, exactly.
#[inline]
pub fn euro_milli(price: u64) -> u128 {
    u128::from(price) * 908
}

/// Appends `milli / 1000` with exactly three decimals (`908` -> `0.908`).
///
/// `milli` must be below `1000 * 2^64` (true of every [`euro_milli`]); larger values are an
/// internal invariant violation.
pub fn write_milli(out: &mut Vec<u8>, milli: u128) {
    let whole = u64::try_from(milli / 1000).expect("a converted price fits 64 bits");
    let frac = (milli % 1000) as u32;
    write_u64(out, whole);
    out.extend_from_slice(&[b'.', b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8]);
}

impl EuroBidRow {
    /// q1 of one bid ([`Bid`](crate::nexmark::Bid) or [`Q0Bid`]).
    #[inline]
    pub fn of(b: impl Into<Q0Bid>) -> EuroBidRow {
        let b = b.into();
        EuroBidRow {
            auction: b.auction,
            bidder: b.bidder,
            price_milli: euro_milli(b.price),
            date_time: b.date_time,
            extra: b.extra,
        }
    }
}

impl Event for EuroBidRow {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.date_time)
    }
}

impl CsvRecord for EuroBidRow {
    const COLUMNS: &'static [&'static str] = &["auction", "bidder", "price", "date_time", "extra"];

    /// Reads prices up to `i64::MAX` thousandths (what [`CsvRow::fixed`] parses).
    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let auction = row.u64()?;
        let bidder = row.u64()?;
        let column = row.column();
        let milli = row.fixed(3)?;
        let price_milli =
            u128::try_from(milli).map_err(|_| FieldError { column, message: format!("negative price {milli}") })?;
        let r = EuroBidRow { auction, bidder, price_milli, date_time: row.u64()?, extra: row.str()?.into_owned() };
        row.finish()?;
        Ok(r)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.auction);
        u64_field(out, self.bidder);
        out.push(b',');
        write_milli(out, self.price_milli);
        u64_field(out, self.date_time);
        str_field(out, &self.extra);
    }
}

/// q1 on a stream of bids.
pub fn q1<'s>(bids: RillStream<'s, Q0Bid>) -> RillStream<'s, EuroBidRow> {
    bids.map(EuroBidRow::of)
}
