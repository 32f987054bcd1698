//! Winning bids, the core of q4 and q9: per auction, its best bid among those with
//! `auction.date_time <= bid.date_time <= auction.expires` (Flink's inclusive `BETWEEN`), decided
//! once the watermark passes `expires`.
//!
//! "Best" is the highest price, then the earlier bid, then the lower bidder id (q9's
//! `ORDER BY B.price DESC, B.dateTime ASC` made total); q4 uses only the price. There is no
//! reserve check: Flink's SQL q4 and q9 have none (NEXMARK.md section 7.8; Beam's
//! `WinningBids` requires `price >= reserve` and `dateTime < expires`). An auction without a
//! bid in its interval has no winner and no row (the SQL's inner join).
//!
//! A keyed process function per auction id over the merged auctions and bids keeps one entry
//! per auction:
//!
//! * **Open**: the auction has arrived; a bid in its interval may replace the best one. An
//!   event-time timer at `expires + 1` closes it: a watermark past `expires` means no bid at or
//!   before `expires` can still arrive. Closing emits the winner (if any) and leaves a
//!   **Closed** tombstone for [`CLOSED_TTL_MS`], so that the many bids on closed auctions (half
//!   the bids go to a "hot" auction, which expires long before its block of auctions ends) are
//!   dropped without creating state.
//! * **Pending**: bids on an auction that has not arrived yet (a random bid may name one of the
//!   next 10 auctions, NEXMARK.md section 5). Such a bid can still win if the auction arrives
//!   with `date_time <= bid.date_time`; a timer at `bid.date_time + 1` drops it once the
//!   watermark shows no such auction can arrive any more. After a tombstone expires, a bid on
//!   that auction is pending and dropped the same way: the result never depends on the TTL.
//!
//! When the input ends, every timer fires: auctions still open are closed with the bids seen.

use rill::api::process::{KeyedProcessFunction, ProcessContext};
use rill::api::stream::RillStream;
use rill::operators::process::{ProcessKeyed, ProcessOutput};
use rill::state::{StateRegistry, TimeDomain, ValueState};
use rill::{Dataflow, Event, EventTime};
use serde::{Deserialize, Serialize};

use super::{QueryInput, units};
use crate::nexmark::{Auction, Bid};

/// How long (event time) a closed auction's tombstone drops its late-coming bids.
pub const CLOSED_TTL_MS: u64 = 10_000;

/// What q4 and q9 keep of an auction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AuctionLite {
    /// Auction id.
    pub id: u64,
    /// Seller id.
    pub seller: u64,
    /// Category.
    pub category: u64,
    /// Opening time, ms.
    pub date_time: u64,
    /// Closing time, ms.
    pub expires: u64,
}

/// What q4 and q9 keep of a bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BidLite {
    /// Auction id.
    pub auction: u64,
    /// Bidder id.
    pub bidder: u64,
    /// Price, cents.
    pub price: u64,
    /// Event time, ms.
    pub date_time: u64,
}

impl BidLite {
    /// Whether this bid beats `other`: higher price, then earlier, then lower bidder id.
    #[inline]
    pub fn beats(&self, other: &BidLite) -> bool {
        (self.price, std::cmp::Reverse(self.date_time), std::cmp::Reverse(self.bidder))
            > (other.price, std::cmp::Reverse(other.date_time), std::cmp::Reverse(other.bidder))
    }
}

/// An auction or a bid (the input of q4 and q9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuctionBid {
    /// A new auction.
    Auction(AuctionLite),
    /// A bid.
    Bid(BidLite),
}

impl AuctionBid {
    /// The auction id (the join key).
    #[inline]
    fn auction_id(&self) -> u64 {
        match self {
            AuctionBid::Auction(a) => a.id,
            AuctionBid::Bid(b) => b.auction,
        }
    }
}

impl Event for AuctionBid {
    #[inline]
    fn event_time(&self) -> EventTime {
        match self {
            AuctionBid::Auction(a) => EventTime(a.date_time),
            AuctionBid::Bid(b) => EventTime(b.date_time),
        }
    }
}

impl QueryInput for AuctionBid {
    const PERSONS: bool = false;
    const AUCTIONS: bool = true;
    const BIDS: bool = true;

    #[inline]
    fn auction(a: Auction) -> Option<Self> {
        Some(AuctionBid::Auction(AuctionLite {
            id: a.id,
            seller: a.seller,
            category: a.category,
            date_time: a.date_time,
            expires: a.expires,
        }))
    }

    #[inline]
    fn bid(b: Bid) -> Option<Self> {
        Some(AuctionBid::Bid(BidLite { auction: b.auction, bidder: b.bidder, price: b.price, date_time: b.date_time }))
    }

    type CsvBid = Bid;

    #[inline]
    fn csv_bid(b: Bid) -> Option<Self> {
        Self::bid(b)
    }
}

/// An auction and its winning bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Winner {
    /// The auction.
    pub auction: AuctionLite,
    /// Its best bid in `[date_time, expires]`.
    pub bid: BidLite,
}

impl Event for Winner {
    /// `expires + 1`: the time the auction is decided (its closing timer's time, which is also
    /// the stamp the winner is emitted at, so it is never late downstream).
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.auction.expires.saturating_add(1))
    }
}

/// One auction id's entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Entry {
    Open { auction: AuctionLite, best: Option<BidLite> },
    Pending(Vec<BidLite>),
    Closed { until: u64 },
}

/// The process function; see the module docs.
#[derive(Default)]
struct WinningBids {
    entry: ValueState<Entry>,
}

impl WinningBids {
    /// Folds `b` into an open auction's best bid if it falls in the auction's interval.
    #[inline]
    fn offer(auction: &AuctionLite, best: &mut Option<BidLite>, b: &BidLite) {
        if auction.date_time <= b.date_time && b.date_time <= auction.expires && best.is_none_or(|w| b.beats(&w)) {
            *best = Some(*b);
        }
    }
}

impl KeyedProcessFunction<u64, AuctionBid> for WinningBids {
    type Out = Winner;
    type Side = ();

    fn open(&mut self, state: &mut StateRegistry<'_, u64>) {
        self.entry = state.value("auction");
    }

    fn process_element(&mut self, r: &AuctionBid, ctx: &mut ProcessContext<'_, u64, Winner, ()>) {
        let timer = match r {
            AuctionBid::Auction(a) => {
                let mut best = None;
                match ctx.clear_value(&self.entry) {
                    Some(Entry::Pending(bids)) => {
                        for b in &bids {
                            Self::offer(a, &mut best, b);
                        }
                    }
                    Some(other @ (Entry::Open { .. } | Entry::Closed { .. })) => {
                        // An auction id seen twice: the first one stands.
                        ctx.set_value(&self.entry, other);
                        return;
                    }
                    None => {}
                }
                ctx.set_value(&self.entry, Entry::Open { auction: *a, best });
                a.expires.saturating_add(1)
            }
            AuctionBid::Bid(b) => match ctx.value_mut(&self.entry) {
                Some(Entry::Open { auction, best }) => {
                    Self::offer(auction, best, b);
                    return;
                }
                Some(Entry::Closed { .. }) => return,
                Some(Entry::Pending(bids)) => {
                    bids.push(*b);
                    b.date_time + 1
                }
                None => {
                    ctx.set_value(&self.entry, Entry::Pending(vec![*b]));
                    b.date_time + 1
                }
            },
        };
        ctx.register_event_time_timer(EventTime(timer));
    }

    fn on_timer(&mut self, at: EventTime, _: TimeDomain, ctx: &mut ProcessContext<'_, u64, Winner, ()>) {
        let t = at.0;
        match ctx.value_mut(&self.entry) {
            Some(Entry::Open { auction, best }) if t > auction.expires => {
                let (auction, best) = (*auction, *best);
                let until = t.saturating_add(CLOSED_TTL_MS);
                ctx.set_value(&self.entry, Entry::Closed { until });
                ctx.register_event_time_timer(EventTime(until));
                if let Some(bid) = best {
                    ctx.emit(Winner { auction, bid });
                }
            }
            Some(Entry::Pending(bids)) => {
                // An auction arriving from now on opens at or after `t`.
                bids.retain(|b| b.date_time >= t);
                if bids.is_empty() {
                    ctx.clear_value(&self.entry);
                }
            }
            Some(Entry::Closed { until }) if t >= *until => {
                ctx.clear_value(&self.entry);
            }
            _ => {}
        }
    }
}

/// The winning bid of every auction that has one, and one unit per late record.
pub fn winning_bids<'s>(
    df: &Dataflow<'s>,
    input: RillStream<'s, AuctionBid>,
) -> (RillStream<'s, Winner>, RillStream<'s, ()>) {
    let ProcessOutput { output, late, .. } =
        input.process_keyed(df, "winning-bids", AuctionBid::auction_id, WinningBids::default());
    (output, units(late))
}
