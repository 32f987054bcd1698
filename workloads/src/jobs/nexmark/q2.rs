//! Nexmark q2, selection.
//!
//! ```sql
//! SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0
//! ```
//!
//! Stateless: no record is ever late.
//!
//! Its input is [`Q2Bid`]: from `bid.csv` only `auction`, `price` and `date_time` (the event
//! time, which the source's watermark follows) are parsed; the other columns are skipped
//! (checked to be well-formed fields, never copied or checked for UTF-8: the reader skips its
//! UTF-8 pass, [`CsvRecord::READS_TEXT`]), so a row costs no allocation.

use crate::nexmark::u64_field;
use rill::api::stream::RillStream;
use rill::csv::{CsvRecord, CsvRow, FieldError, write_u64};
use rill::{Event, EventTime};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::Map;

use crate::nexmark::Bid;

/// The modulus of q2's selection, `MOD(auction, 123) = 0`.
pub const Q2_MODULUS: u64 = 123;

/// What q2 keeps of a bid.
///
/// As a [`CsvRecord`] it reads `bid.csv` rows (the [`Bid`] columns), skipping all but
/// `auction`, `price` and `date_time`; it writes a bid row with those and the others empty
/// (`bidder` 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Q2Bid {
    /// Auction id.
    pub auction: u64,
    /// Price, cents.
    pub price: u64,
    /// Event time, ms since the Unix epoch.
    pub date_time: u64,
}

impl From<Bid> for Q2Bid {
    #[inline]
    fn from(b: Bid) -> Q2Bid {
        Q2Bid { auction: b.auction, price: b.price, date_time: b.date_time }
    }
}

impl Event for Q2Bid {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.date_time)
    }
}

impl CsvRecord for Q2Bid {
    const COLUMNS: &'static [&'static str] = Bid::COLUMNS;
    const READS_TEXT: bool = false;

    #[inline]
    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let auction = row.u64()?;
        row.skip()?; // bidder
        let price = row.u64()?;
        row.skip()?; // channel
        row.skip()?; // url
        let date_time = row.u64()?;
        row.skip()?; // extra
        row.finish()?;
        Ok(Q2Bid { auction, price, date_time })
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.auction);
        out.extend_from_slice(b",0");
        u64_field(out, self.price);
        out.extend_from_slice(b",,");
        u64_field(out, self.date_time);
        out.push(b',');
    }
}

/// A q2 row: `auction,price` (price in cents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AuctionPrice {
    /// Auction id, a multiple of [`Q2_MODULUS`].
    pub auction: u64,
    /// Price, cents.
    pub price: u64,
}

impl AuctionPrice {
    /// q2 of one bid: its row if `auction % 123 == 0`.
    #[inline]
    pub fn of(b: &Q2Bid) -> Option<AuctionPrice> {
        b.auction.is_multiple_of(Q2_MODULUS).then_some(AuctionPrice { auction: b.auction, price: b.price })
    }
}

impl CsvRecord for AuctionPrice {
    const COLUMNS: &'static [&'static str] = &["auction", "price"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = AuctionPrice { auction: row.u64()?, price: row.u64()? };
        row.finish()?;
        Ok(r)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.auction);
        u64_field(out, self.price);
    }
}

/// q2 on a stream of bids.
pub fn q2<'s>(bids: RillStream<'s, Q2Bid>) -> RillStream<'s, AuctionPrice> {
    bids.flat_map(|b: Q2Bid| AuctionPrice::of(&b))
}
