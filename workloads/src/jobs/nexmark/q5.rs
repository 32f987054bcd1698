//! Nexmark q5, hot items: per 10 s window sliding by 2 s, the auctions with the most bids.
//!
//! ```sql
//! CREATE VIEW AuctionBids AS
//!   SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
//!   FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
//!   GROUP BY auction, window_start, window_end;
//! CREATE VIEW MaxBids AS
//!   SELECT max(num) AS maxn, starttime, endtime FROM AuctionBids GROUP BY starttime, endtime;
//! SELECT AuctionBids.auction, AuctionBids.num, AuctionBids.starttime, AuctionBids.endtime
//! FROM AuctionBids JOIN MaxBids
//!   ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
//!   AND AuctionBids.num >= MaxBids.maxn;
//! ```
//!
//! Output `auction,num,window_start_ms,window_end_ms`: for every window, every auction whose
//! count equals the window's maximum (ties all kept), once the watermark passes the window's end.
//!
//! * Windows are half-open `[start, start + 10 000)` with `start` a multiple of 2 000 ms (epoch
//!   aligned, as Flink's HOP): a bid at `t` counts in the five windows with `start` in
//!   `(t - 10 000, t]`, including windows that start before the first bid.
//! * Plan: a sliding-window count per auction (Rill's window operator, panes of 2 s), then a
//!   keyed process function per window start that keeps the running maximum and the auctions
//!   reaching it, and emits them from an event-time timer at the window's end. Window results
//!   carry the event time `end - 1` and are stamped no later, so a watermark at `end` means
//!   every count of the window has arrived.
//! * A bid below its source's watermark is late (counted, dropped); none is with in-order input.

use crate::nexmark::u64_field;
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

use super::{Q2Bid, QueryInput, QueryOutput, units};
use crate::nexmark::Bid;

/// Window length (ms).
pub const WINDOW_MS: u64 = 10_000;
/// Window slide (ms).
pub const SLIDE_MS: u64 = 2_000;

/// What q5 keeps of a bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionTime {
    /// Auction id.
    pub auction: u64,
    /// Event time, ms since the Unix epoch.
    pub date_time: u64,
}

impl Event for AuctionTime {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.date_time)
    }
}

impl QueryInput for AuctionTime {
    const PERSONS: bool = false;
    const AUCTIONS: bool = false;
    const BIDS: bool = true;

    #[inline]
    fn bid(b: Bid) -> Option<Self> {
        Some(AuctionTime { auction: b.auction, date_time: b.date_time })
    }

    /// From CSV, only a bid's numbers are parsed ([`Q2Bid`]: `auction`, `price`, `date_time`);
    /// its strings are skipped, not kept.
    type CsvBid = Q2Bid;

    #[inline]
    fn csv_bid(b: Q2Bid) -> Option<Self> {
        Some(AuctionTime { auction: b.auction, date_time: b.date_time })
    }
}

/// A q5 row: `auction,num,window_start_ms,window_end_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Q5Row {
    /// Auction id.
    pub auction: u64,
    /// Its bids in the window (the window's maximum).
    pub num: u64,
    /// Window start, ms.
    pub window_start_ms: u64,
    /// Window end (exclusive), ms.
    pub window_end_ms: u64,
}

impl CsvRecord for Q5Row {
    const COLUMNS: &'static [&'static str] = &["auction", "num", "window_start_ms", "window_end_ms"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = Q5Row { auction: row.u64()?, num: row.u64()?, window_start_ms: row.u64()?, window_end_ms: row.u64()? };
        row.finish()?;
        Ok(r)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.auction);
        u64_field(out, self.num);
        u64_field(out, self.window_start_ms);
        u64_field(out, self.window_end_ms);
    }
}

/// The running maximum of one window and the auctions that reach it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Hottest {
    max: u64,
    auctions: Vec<u64>,
}

/// Per window start: keeps the auctions with the maximal count, emits them at the window's end.
#[derive(Default)]
struct HotItems {
    hottest: ValueState<Hottest>,
}

impl KeyedProcessFunction<u64, WindowResult<u64, u64>> for HotItems {
    type Out = Q5Row;
    type Side = ();

    fn open(&mut self, state: &mut StateRegistry<'_, u64>) {
        self.hottest = state.value("hottest");
    }

    fn process_element(&mut self, r: &WindowResult<u64, u64>, ctx: &mut ProcessContext<'_, u64, Q5Row, ()>) {
        let h = ctx.value_or_insert_with(&self.hottest, Hottest::default);
        if r.value > h.max || h.auctions.is_empty() {
            h.max = r.value;
            h.auctions.clear();
            h.auctions.push(r.key);
        } else if r.value == h.max {
            h.auctions.push(r.key);
        }
        ctx.register_event_time_timer(r.window.end);
    }

    fn on_timer(&mut self, end: EventTime, _: TimeDomain, ctx: &mut ProcessContext<'_, u64, Q5Row, ()>) {
        let start = *ctx.key();
        if let Some(h) = ctx.clear_value(&self.hottest) {
            for auction in h.auctions {
                ctx.emit(Q5Row { auction, num: h.max, window_start_ms: start, window_end_ms: end.0 });
            }
        }
    }
}

/// q5 on a stream of bids.
pub fn q5<'s>(df: &Dataflow<'s>, bids: RillStream<'s, AuctionTime>) -> QueryOutput<'s, Q5Row> {
    let counts = bids
        .key_by(df, |b: &AuctionTime| b.auction)
        .window(WindowSpec::sliding(WINDOW_MS, SLIDE_MS))
        .count("q5-auction-counts");
    let ProcessOutput { output, late, .. } = counts.results.process_keyed(
        df,
        "q5-hot-items",
        |r: &WindowResult<u64, u64>| r.window.start.0,
        HotItems::default(),
    );
    QueryOutput { rows: output, late: units(counts.late).concat(units(late)) }
}
