//! Nexmark q0, pass-through: every bid, unchanged.
//!
//! ```sql
//! SELECT auction, bidder, price, dateTime, extra FROM bid
//! ```
//!
//! Stateless: no record is ever late.
//!
//! Its input is [`Q0Bid`], the columns of a bid it (and q1) reads: from `bid.csv` the
//! `channel` and `url` columns are skipped (checked to be well-formed fields, never copied),
//! so a row costs one allocation, for `extra`.

use crate::nexmark::{str_field, u64_field};
use rill::api::stream::RillStream;
use rill::csv::{CsvRecord, CsvRow, FieldError, write_u64};
use rill::{Event, EventTime};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::Map;

use crate::nexmark::Bid;

/// What q0 and q1 keep of a bid: every column but `channel` and `url`.
///
/// As a [`CsvRecord`] it reads `bid.csv` rows (the [`Bid`] columns), skipping `channel` and
/// `url`; it writes a bid row whose `channel` and `url` are empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Q0Bid {
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

impl From<Bid> for Q0Bid {
    #[inline]
    fn from(b: Bid) -> Q0Bid {
        Q0Bid { auction: b.auction, bidder: b.bidder, price: b.price, date_time: b.date_time, extra: b.extra }
    }
}

impl Event for Q0Bid {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.date_time)
    }
}

impl CsvRecord for Q0Bid {
    const COLUMNS: &'static [&'static str] = Bid::COLUMNS;

    #[inline]
    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let (auction, bidder, price) = (row.u64()?, row.u64()?, row.u64()?);
        row.skip()?; // channel
        row.skip()?; // url
        let r = Q0Bid { auction, bidder, price, date_time: row.u64()?, extra: row.str()?.into_owned() };
        row.finish()?;
        Ok(r)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.auction);
        u64_field(out, self.bidder);
        u64_field(out, self.price);
        out.extend_from_slice(b",,");
        u64_field(out, self.date_time);
        str_field(out, &self.extra);
    }
}

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
    /// q0 of one bid ([`Bid`] or [`Q0Bid`]).
    #[inline]
    pub fn of(b: impl Into<Q0Bid>) -> BidRow {
        let b = b.into();
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
pub fn q0<'s>(bids: RillStream<'s, Q0Bid>) -> RillStream<'s, BidRow> {
    bids.map(BidRow::of)
}
