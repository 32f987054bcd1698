//! Nexmark q0, pass-through: every bid, unchanged.
//!
//! ```sql
//! SELECT auction, bidder, price, dateTime, extra FROM bid
//! ```
//!
//! Stateless: no record is ever late.

use crate::nexmark::{str_field, u64_field};
use rill::api::stream::RillStream;
use rill::csv::{CsvRecord, CsvRow, FieldError, write_u64};
use rill::{Event, EventTime};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::Map;

use crate::nexmark::Bid;

/// A q0 row: `auction,bidder,price,date_time,extra` (price in cents).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BidRow {
    /// Auction id.
    pub auction: u64,
    /// Bidder (person) id.
    pub bidder: u64,
    /// Price, cents.
    pub price: u64,
    /// Event time, ms since the Unix epoch.
    pub date_time: u64,
    /// Padding.
    pub extra: String,
}

impl BidRow {
    /// q0 of one bid.
    pub fn of(b: Bid) -> BidRow {
        BidRow { auction: b.auction, bidder: b.bidder, price: b.price, date_time: b.date_time, extra: b.extra }
    }
}

impl Event for BidRow {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.date_time)
    }
}

impl CsvRecord for BidRow {
    const COLUMNS: &'static [&'static str] = &["auction", "bidder", "price", "date_time", "extra"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = BidRow {
            auction: row.u64()?,
            bidder: row.u64()?,
            price: row.u64()?,
            date_time: row.u64()?,
            extra: row.str()?.into_owned(),
        };
        row.finish()?;
        Ok(r)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.auction);
        u64_field(out, self.bidder);
        u64_field(out, self.price);
        u64_field(out, self.date_time);
        str_field(out, &self.extra);
    }
}

/// q0 on a stream of bids.
pub fn q0<'s>(bids: RillStream<'s, Bid>) -> RillStream<'s, BidRow> {
    bids.map(BidRow::of)
}
