//! Nexmark q11, user sessions: per bidder, the bids of each session with a 10 s gap.
//!
//! ```sql
//! SELECT B.bidder, count(*) AS bid_count,
//!        SESSION_START(B.dateTime, INTERVAL '10' SECOND) AS starttime,
//!        SESSION_END(B.dateTime, INTERVAL '10' SECOND) AS endtime
//! FROM bid B
//! GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND);
//! ```
//!
//! Output `bidder,bid_count,session_start_ms,session_end_ms`.
//!
//! * A bid at most 10 s after the bidder's previous bid (`t <= previous + 10 000`, inclusive)
//!   continues its session, as Flink's session windows, which merge windows that touch. A
//!   session starts at its first bid and ends at its last bid + 10 000 ms (exclusive end).
//! * Plan: Rill's session window (keyed by bidder) with a count; a session is emitted once the
//!   watermark passes its end (a bid at exactly the end still extends it).
//! * A bid below its source's watermark is late (counted, dropped; allowed lateness 0); none is
//!   with in-order input.

use crate::nexmark::u64_field;
use rill::api::stream::{RillStream, StreamExt};
use rill::csv::{CsvRecord, CsvRow, FieldError, write_u64};
use rill::time::window::WindowSpec;
use rill::{Dataflow, Event, EventTime};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::Map;

use super::{QueryInput, QueryOutput, units};
use crate::nexmark::Bid;

/// Session gap (ms).
pub const GAP_MS: u64 = 10_000;

/// What q11 keeps of a bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidderTime {
    /// Bidder id.
    pub bidder: u64,
    /// Event time, ms since the Unix epoch.
    pub date_time: u64,
}

impl Event for BidderTime {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.date_time)
    }
}

impl QueryInput for BidderTime {
    const PERSONS: bool = false;
    const AUCTIONS: bool = false;
    const BIDS: bool = true;

    #[inline]
    fn bid(b: Bid) -> Option<Self> {
        Some(BidderTime { bidder: b.bidder, date_time: b.date_time })
    }

    type CsvBid = Bid;

    #[inline]
    fn csv_bid(b: Bid) -> Option<Self> {
        Self::bid(b)
    }
}

/// A q11 row: `bidder,bid_count,session_start_ms,session_end_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Q11Row {
    /// Bidder id.
    pub bidder: u64,
    /// Bids in the session.
    pub bid_count: u64,
    /// The session's first bid, ms.
    pub session_start_ms: u64,
    /// The session's last bid + 10 000, ms (exclusive).
    pub session_end_ms: u64,
}

impl CsvRecord for Q11Row {
    const COLUMNS: &'static [&'static str] = &["bidder", "bid_count", "session_start_ms", "session_end_ms"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = Q11Row {
            bidder: row.u64()?,
            bid_count: row.u64()?,
            session_start_ms: row.u64()?,
            session_end_ms: row.u64()?,
        };
        row.finish()?;
        Ok(r)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.bidder);
        u64_field(out, self.bid_count);
        u64_field(out, self.session_start_ms);
        u64_field(out, self.session_end_ms);
    }
}

/// q11 on a stream of bids.
pub fn q11<'s>(df: &Dataflow<'s>, bids: RillStream<'s, BidderTime>) -> QueryOutput<'s, Q11Row> {
    let sessions = bids.key_by(df, |b: &BidderTime| b.bidder).window(WindowSpec::session(GAP_MS)).count("q11-sessions");
    let rows = sessions.results.map(|r| Q11Row {
        bidder: r.key,
        bid_count: r.value,
        session_start_ms: r.window.start.0,
        session_end_ms: r.window.end.0,
    });
    QueryOutput { rows, late: units(sessions.late) }
}
