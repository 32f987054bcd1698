//! The Nexmark jobs q0, q1 and q2 (`/work/shared/NEXMARK.md` section 8), over the bids of the
//! Nexmark generator or of a `bid.csv` written by `rill-bench gen nexmark`.
//!
//! ```sql
//! -- q0, pass-through
//! SELECT auction, bidder, price, dateTime, extra FROM bid
//! -- q1, currency conversion
//! SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid
//! -- q2, selection
//! SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0
//! ```
//!
//! * q1 follows Flink: `0.908 * price` is a `DECIMAL(23,3)`, computed exactly in integers
//!   (`price * 908` thousandths, in `u128` so no `BIGINT` price overflows) and written with
//!   exactly three decimals (`1` -> `0.908`, `1234` -> `1120.472`). Beam's `price * 89 / 100`
//!   is not what this job computes (NEXMARK.md section 7, item 7).
//! * The source's watermark is Nexmark's `dateTime - INTERVAL '4' SECOND`
//!   ([`WATERMARK_DELAY_MS`]) unless the options say otherwise; the three queries are stateless
//!   maps and filters, so no record is ever late and the job reports `late_rows = 0`.
//! * Generated input: the generator's `events` count *all* events (persons, auctions, bids, as
//!   in Nexmark); each worker generates its share and keeps only the bids. `events_in` is then
//!   the number of events generated. CSV input: `DIR/bid.csv` (or the file itself when the path
//!   is not a directory), split across workers; `events_in` is the bids read.
//! * Rows carry no watermark crossing, so the job records no window-latency samples.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use rill::api::stream::{Data, RillStream};
use rill::csv::{CsvRecord, CsvRow, FieldError, write_escaped, write_u64};
use rill::operators::source::SourceOptions;
use rill::time::watermark::WatermarkStrategy;
use rill::{Counter, Dataflow, Event, EventTime, Sink};
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::vec::Map;

use super::{Input, JobOptions, JobReport, Source, job_config, resolve, source_count};
use crate::nexmark::{Bid, Nexmark, NexmarkConfig, NexmarkEvent};

/// The name of the job's source operator.
pub const SOURCE: &str = "nexmark-bids";

/// Nexmark's watermark delay: `WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND`.
pub const WATERMARK_DELAY_MS: u64 = 4_000;

/// The modulus of q2's selection, `MOD(auction, 123) = 0`.
pub const Q2_MODULUS: u64 = 123;

/// A Nexmark query this module implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Query {
    /// Pass-through.
    Q0,
    /// Currency conversion.
    Q1,
    /// Selection.
    Q2,
}

impl Query {
    /// Every implemented query.
    pub const ALL: [Query; 3] = [Query::Q0, Query::Q1, Query::Q2];

    /// The query's name: `q0`, `q1`, `q2`.
    pub fn name(self) -> &'static str {
        match self {
            Query::Q0 => "q0",
            Query::Q1 => "q1",
            Query::Q2 => "q2",
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Query {
    type Err = rill::Error;

    fn from_str(s: &str) -> rill::Result<Query> {
        Query::ALL
            .into_iter()
            .find(|q| q.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| rill::Error::Config(format!("unknown Nexmark query {s:?} (implemented: q0, q1, q2)")))
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
        out.push(b',');
        write_u64(out, self.bidder);
        out.push(b',');
        write_u64(out, self.price);
        out.push(b',');
        write_u64(out, self.date_time);
        out.push(b',');
        write_escaped(out, &self.extra);
    }
}

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
    /// q1 of one bid.
    pub fn of(b: Bid) -> EuroBidRow {
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
        out.push(b',');
        write_u64(out, self.bidder);
        out.push(b',');
        write_milli(out, self.price_milli);
        out.push(b',');
        write_u64(out, self.date_time);
        out.push(b',');
        write_escaped(out, &self.extra);
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
        out.push(b',');
        write_u64(out, self.price);
    }
}

/// q0 on a stream of bids.
pub fn q0<'s>(bids: RillStream<'s, Bid>) -> RillStream<'s, BidRow> {
    bids.map(BidRow::of)
}

/// q1 on a stream of bids.
pub fn q1<'s>(bids: RillStream<'s, Bid>) -> RillStream<'s, EuroBidRow> {
    bids.map(EuroBidRow::of)
}

/// q2 on a stream of bids.
pub fn q2<'s>(bids: RillStream<'s, Bid>) -> RillStream<'s, AuctionPrice> {
    bids.flat_map(|b: Bid| AuctionPrice::of(&b))
}

/// The generator behind [`Input::Generate`] for Nexmark: default parameters, this seed and
/// number of events (all kinds). Nexmark has no late events: a nonzero `late_fraction` is a
/// configuration error.
pub fn generator(events: u64, seed: u64, late_fraction: f64) -> rill::Result<Nexmark> {
    if late_fraction != 0.0 {
        return Err(rill::Error::Config("the Nexmark generator has no late fraction".into()));
    }
    Nexmark::new(NexmarkConfig { seed, events, ..NexmarkConfig::default() })
}

/// The bids file of a CSV input: `path/bid.csv` for a directory, else `path` itself.
pub fn bids_file(path: &Path) -> PathBuf {
    if path.is_dir() { path.join("bid.csv") } else { path.to_owned() }
}

/// Runs Nexmark query `query` on `input` ([`Input::Generate`], [`Input::Nexmark`] or
/// [`Input::Csv`]). `opts.window_ms` and `opts.allowed_lateness_ms` do not apply; a late
/// output is refused (the queries have no late records).
pub fn run_nexmark(opts: &JobOptions, input: &Input, query: Query) -> rill::Result<JobReport> {
    if opts.late_output.is_some() {
        return Err(rill::Error::Config("Nexmark q0-q2 have no late records: drop --late-output".into()));
    }
    let source = resolve(opts, input, "nexmark", |input| match input {
        Input::Generate { events, seed, late_fraction } => Some(generator(*events, *seed, *late_fraction)),
        Input::Nexmark(config) => Some(Nexmark::new(config.clone())),
        _ => None,
    })?;
    match query {
        Query::Q0 => run_query(opts, source, q0),
        Query::Q1 => run_query(opts, source, q1),
        Query::Q2 => run_query(opts, source, q2),
    }
}

/// A query from bids to rows.
type QueryFn<O> = for<'s> fn(RillStream<'s, Bid>) -> RillStream<'s, O>;

/// The source of bids (generated or CSV), `query`, the output sink and a row counter.
fn run_query<O: Data + CsvRecord>(
    opts: &JobOptions,
    source: Source<Nexmark>,
    query: QueryFn<O>,
) -> rill::Result<JobReport> {
    let strategy = WatermarkStrategy::bounded_out_of_orderness(opts.max_out_of_orderness_ms);
    let generated = match &source {
        Source::Generated(g) => Some(g.config().events),
        Source::Csv(_) => None,
    };
    let source = match source {
        Source::Csv(path) => Source::Csv(bids_file(&path)),
        s => s,
    };
    let rows = Counter::new();
    let start = Instant::now();
    let (opts2, rows2) = (opts.clone(), rows.clone());
    let outcome = rill::execute(job_config(opts), move |df: &mut Dataflow<'_>| {
        let options = SourceOptions { strategy, watermark_log: None };
        let bids = match &source {
            Source::Generated(g) => {
                let (g, total) = (Arc::clone(g), g.config().events);
                let mut scratch: Vec<NexmarkEvent> = Vec::new();
                let fill = move |r: std::ops::Range<u64>, out: &mut Vec<Bid>| {
                    scratch.clear();
                    g.fill(r, &mut scratch);
                    out.extend(scratch.drain(..).filter_map(|e| match e {
                        NexmarkEvent::Bid(b) => Some(b),
                        _ => None,
                    }));
                };
                match opts2.rate {
                    Some(rate) => df.generator_source_at_rate(SOURCE, total, rate, start, options, fill),
                    None => df.generator_source(SOURCE, total, options, fill),
                }
            }
            Source::Csv(path) => df.csv_source::<Bid>(SOURCE, path, options),
        };
        let out = query(bids);
        if let Some(path) = &opts2.output {
            out.clone().sink_csv(df, path);
        }
        out.count_into(df, &rows2);
    })?;
    let events_in = generated.unwrap_or_else(|| source_count(&outcome.metrics, SOURCE));
    Ok(JobReport {
        events_in,
        rows_out: rows.get(),
        late_rows: 0,
        elapsed: outcome.elapsed,
        metrics: outcome.metrics,
        window_latency_ns: Vec::new(),
    })
}
