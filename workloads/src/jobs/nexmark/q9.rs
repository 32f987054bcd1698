//! Nexmark q9, winning bids: every auction with its best bid.
//!
//! ```sql
//! SELECT id, itemName, description, initialBid, reserve, dateTime, expires, seller, category,
//!        extra, auction, bidder, price, bid_dateTime, bid_extra
//! FROM (
//!   SELECT A.*, B.auction, B.bidder, B.price, B.dateTime AS bid_dateTime, B.extra AS bid_extra,
//!     ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime ASC) AS rownum
//!   FROM auction A, bid B
//!   WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
//! )
//! WHERE rownum <= 1;
//! ```
//!
//! Output `id,seller,category,date_time,expires,bidder,price,bid_date_time` (the auction's
//! identifying columns and the winning bid's; the strings are left out).
//!
//! * A bid counts for its auction when `auction.date_time <= bid.date_time <= auction.expires`
//!   (inclusive, as the SQL's `BETWEEN`). No reserve check (Flink's SQL has none).
//! * The winner is the highest price, ties to the earlier bid, then to the lower bidder id (the
//!   SQL leaves equal `(price, dateTime)` unordered; Rill makes the choice total so the result is
//!   deterministic). An auction without a bid in its interval has no row.
//! * The result is final, not updating: an auction's row is emitted once the watermark passes
//!   its `expires` (see [`super::winning`]); auctions still open when the input ends are
//!   decided then, with the bids seen.
//! * A record below its source's watermark is late (counted, dropped); none is with in-order
//!   input.

use rill::Dataflow;
use rill::api::stream::RillStream;
use rill::csv::{CsvRecord, CsvRow, FieldError, write_u64};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::Map;

use super::QueryOutput;
use super::winning::{AuctionBid, Winner, winning_bids};

/// A q9 row: `id,seller,category,date_time,expires,bidder,price,bid_date_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Q9Row {
    /// Auction id.
    pub id: u64,
    /// Seller id.
    pub seller: u64,
    /// Category.
    pub category: u64,
    /// Auction opening time, ms.
    pub date_time: u64,
    /// Auction closing time, ms.
    pub expires: u64,
    /// Winning bidder.
    pub bidder: u64,
    /// Winning price, cents.
    pub price: u64,
    /// Winning bid's time, ms.
    pub bid_date_time: u64,
}

impl Q9Row {
    /// The row of a winner.
    pub fn of(w: Winner) -> Q9Row {
        let (a, b) = (w.auction, w.bid);
        Q9Row {
            id: a.id,
            seller: a.seller,
            category: a.category,
            date_time: a.date_time,
            expires: a.expires,
            bidder: b.bidder,
            price: b.price,
            bid_date_time: b.date_time,
        }
    }
}

impl CsvRecord for Q9Row {
    const COLUMNS: &'static [&'static str] =
        &["id", "seller", "category", "date_time", "expires", "bidder", "price", "bid_date_time"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = Q9Row {
            id: row.u64()?,
            seller: row.u64()?,
            category: row.u64()?,
            date_time: row.u64()?,
            expires: row.u64()?,
            bidder: row.u64()?,
            price: row.u64()?,
            bid_date_time: row.u64()?,
        };
        row.finish()?;
        Ok(r)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        let fields = [
            self.id,
            self.seller,
            self.category,
            self.date_time,
            self.expires,
            self.bidder,
            self.price,
            self.bid_date_time,
        ];
        for (i, v) in fields.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_u64(out, v);
        }
    }
}

/// q9 on a stream of auctions and bids.
pub fn q9<'s>(df: &Dataflow<'s>, input: RillStream<'s, AuctionBid>) -> QueryOutput<'s, Q9Row> {
    let (winners, late) = winning_bids(df, input);
    QueryOutput { rows: winners.map(Q9Row::of), late }
}
