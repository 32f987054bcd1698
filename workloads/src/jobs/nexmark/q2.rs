//! Nexmark q2, selection.
//!
//! ```sql
//! SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0
//! ```
//!
//! Stateless: no record is ever late.

use crate::nexmark::u64_field;
use rill::api::stream::RillStream;
use rill::csv::{CsvRecord, CsvRow, FieldError, write_u64};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::Map;

use crate::nexmark::Bid;

/// The modulus of q2's selection, `MOD(auction, 123) = 0`.
pub const Q2_MODULUS: u64 = 123;

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
    pub fn of(b: &Bid) -> Option<AuctionPrice> {
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
pub fn q2<'s>(bids: RillStream<'s, Bid>) -> RillStream<'s, AuctionPrice> {
    bids.flat_map(|b: Bid| AuctionPrice::of(&b))
}
