//! The Nexmark queries q0, q1, q2, q3, q4, q5, q7, q8, q9 and q11 (`/work/shared/NEXMARK.md`
//! section 8), over the Nexmark generator or the CSV files written by `rill-bench gen nexmark`.
//! One file per query, its SQL as the header comment; [`reference`] computes every query naively
//! over a vector of events, for tests.
//!
//! # Input
//!
//! * Generated input: every worker generates its share of the event indices
//!   (`generator_source`) and keeps only the event kinds the query reads, projected onto the
//!   query's own input record (a bid for q5 is `(auction, date_time)`, no strings). An event's
//!   kind follows from its index alone (`event_id mod 50`, NEXMARK.md section 4), so the kinds a
//!   query does not read are never generated (q3 and q8 generate no bids). `events_in` is the
//!   number of events of the stream (all kinds), as for q0-q2.
//! * CSV input: `DIR/person.csv`, `DIR/auction.csv`, `DIR/bid.csv` as needed, each read by its
//!   own source (split across workers) and merged; `events_in` is the rows read. For a query on
//!   bids only, `--input` may also name the bid file itself. q0-q2 parse `bid.csv` straight into
//!   their own input record ([`Q0Bid`], [`Q2Bid`]): the columns they do not read are skipped,
//!   still checked to be well-formed fields of a row with the right number of columns.
//! * Watermark: `max event time seen - opts.max_out_of_orderness_ms` per source instance, which
//!   `rill-bench` sets to Nexmark's `dateTime - INTERVAL '4' SECOND` ([`WATERMARK_DELAY_MS`]) for
//!   generated and CSV input alike. With several CSV sources each has its own watermark; an
//!   operator sees the least of them.
//!
//! # Output and time
//!
//! Every query writes final results once its input is exhausted (CSV with a header, RFC 4180
//! quoting, times in epoch ms). Windowed queries emit a window once the watermark passes its
//! end; the updating queries (q3's join emits incrementally, q4 and q9) emit their final state:
//! q4 and q9 when the watermark passes an auction's `expires` and, for q4's averages, at the end
//! of the input.
//!
//! Lateness: a record below the watermark of its source when it was read (its batch's stamp)
//! is late for every stateful operator, counted in `late_rows` and otherwise dropped (Nexmark
//! has no late output: `--late-output` is refused). With in-order input (the generator with
//! `out_of_order_group_size = 1`, and its CSV export) no record is ever late, whatever the
//! number of workers, so the results are exactly the reference's.

mod latency;
mod q0;
mod q1;
mod q11;
mod q2;
mod q3;
mod q4;
mod q5;
mod q7;
mod q8;
mod q9;
pub mod reference;
mod winning;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use rill::api::stream::{Data, RillStream};
use rill::csv::CsvRecord;
use rill::operators::source::SourceOptions;
use rill::time::watermark::WatermarkStrategy;
use rill::{Counter, Dataflow, Event, Sink};
use timely::dataflow::operators::Concat;
use timely::dataflow::operators::vec::Map;

pub use q0::{BidRow, Q0Bid, q0};
pub use q1::{EuroBidRow, euro_milli, q1, write_milli};
pub use q2::{AuctionPrice, Q2_MODULUS, Q2Bid, q2};
pub use q3::{Q3In, Q3Row, q3};
pub use q4::{Q4Row, q4};
pub use q5::{AuctionTime, Q5Row, q5};
pub use q7::{Q7Bid, q7};
pub use q8::{Q8In, Q8Row, q8};
pub use q9::{Q9Row, q9};
pub use q11::{BidderTime, Q11Row, q11};
pub use winning::{AuctionBid, AuctionLite, BidLite, Winner};

use super::{Input, JobOptions, JobReport, Latency, Source, job_config, resolve, rows_out, sink_rows, source_count};
use crate::nexmark::{Auction, Bid, Nexmark, NexmarkConfig, NexmarkEvent, Person};
use latency::RowTimes;

/// The name of the bid source of q0-q2 (generated or CSV), and of the bid-file source of the
/// other queries' CSV input.
pub const SOURCE: &str = "nexmark-bids";
/// The name of the generated source of q3-q11 (all event kinds).
pub const EVENTS_SOURCE: &str = "nexmark-events";
/// The name of the person-file source of a CSV input.
pub const PERSONS_SOURCE: &str = "nexmark-persons";
/// The name of the auction-file source of a CSV input.
pub const AUCTIONS_SOURCE: &str = "nexmark-auctions";

/// Nexmark's watermark delay: `WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND`.
pub const WATERMARK_DELAY_MS: u64 = 4_000;

/// A Nexmark query this module implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Query {
    /// Pass-through.
    Q0,
    /// Currency conversion.
    Q1,
    /// Selection.
    Q2,
    /// Local item suggestion (incremental join).
    Q3,
    /// Average winning price per category.
    Q4,
    /// Hot items (sliding windows).
    Q5,
    /// Highest bid (tumbling windows).
    Q7,
    /// Monitor new users (windowed join).
    Q8,
    /// Winning bids.
    Q9,
    /// User sessions.
    Q11,
}

impl Query {
    /// Every implemented query.
    pub const ALL: [Query; 10] =
        [Query::Q0, Query::Q1, Query::Q2, Query::Q3, Query::Q4, Query::Q5, Query::Q7, Query::Q8, Query::Q9, Query::Q11];

    /// The query's name: `q0`, `q1`, ...
    pub fn name(self) -> &'static str {
        match self {
            Query::Q0 => "q0",
            Query::Q1 => "q1",
            Query::Q2 => "q2",
            Query::Q3 => "q3",
            Query::Q4 => "q4",
            Query::Q5 => "q5",
            Query::Q7 => "q7",
            Query::Q8 => "q8",
            Query::Q9 => "q9",
            Query::Q11 => "q11",
        }
    }

    /// The query's output columns (the CSV header).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Query::Q0 => BidRow::COLUMNS,
            Query::Q1 => EuroBidRow::COLUMNS,
            Query::Q2 => AuctionPrice::COLUMNS,
            Query::Q3 => Q3Row::COLUMNS,
            Query::Q4 => Q4Row::COLUMNS,
            Query::Q5 => Q5Row::COLUMNS,
            Query::Q7 => Q7Bid::COLUMNS,
            Query::Q8 => Q8Row::COLUMNS,
            Query::Q9 => Q9Row::COLUMNS,
            Query::Q11 => Q11Row::COLUMNS,
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
        Query::ALL.into_iter().find(|q| q.name().eq_ignore_ascii_case(s)).ok_or_else(|| {
            rill::Error::Config(format!(
                "unknown Nexmark query {s:?} (implemented: q0, q1, q2, q3, q4, q5, q7, q8, q9, q11)"
            ))
        })
    }
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
/// [`Input::Csv`]). `opts.window_ms` and `opts.allowed_lateness_ms` do not apply (the windows
/// are the queries' own); a late output is refused.
pub fn run_nexmark(opts: &JobOptions, input: &Input, query: Query) -> rill::Result<JobReport> {
    if opts.late_output.is_some() {
        return Err(rill::Error::Config("the Nexmark queries have no late output: drop --late-output".into()));
    }
    if opts.checkpoint.is_some() {
        return Err(rill::Error::Config("the Nexmark queries do not checkpoint yet".into()));
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
        Query::Q3 => run_stateful(opts, source, q3),
        Query::Q4 => run_stateful(opts, source, q4),
        Query::Q5 => run_stateful(opts, source, q5),
        Query::Q7 => run_stateful(opts, source, q7),
        Query::Q8 => run_stateful(opts, source, q8),
        Query::Q9 => run_stateful(opts, source, q9),
        Query::Q11 => run_stateful(opts, source, q11),
    }
}

/// A query from bids (what it keeps of them, `I`) to rows.
type QueryFn<I, O> = for<'s> fn(RillStream<'s, I>) -> RillStream<'s, O>;

/// The source of bids (generated, or CSV read straight into the query's own record `I`),
/// `query`, the output sink and a row counter.
fn run_query<I, O>(opts: &JobOptions, source: Source<Nexmark>, query: QueryFn<I, O>) -> rill::Result<JobReport>
where
    I: Data + Event + CsvRecord + From<Bid>,
    O: Data + CsvRecord + RowTimes,
{
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
    let (opts2, rows2, latency) = (opts.clone(), rows.clone(), Latency::new(opts));
    let latency2 = latency.clone();
    let outcome = rill::execute(job_config(opts), move |df: &mut Dataflow<'_>| {
        let options = latency2.source_options(strategy);
        let bids = match &source {
            Source::Generated(g) => {
                let (g, total) = (Arc::clone(g), g.config().events);
                let mut scratch: Vec<NexmarkEvent> = Vec::new();
                let fill = move |r: std::ops::Range<u64>, out: &mut Vec<I>| {
                    scratch.clear();
                    g.fill(r, &mut scratch);
                    out.extend(scratch.drain(..).filter_map(|e| match e {
                        NexmarkEvent::Bid(b) => Some(I::from(b)),
                        _ => None,
                    }));
                };
                match opts2.rate {
                    Some(rate) => df.generator_source_at_rate(SOURCE, total, rate, start, options, fill),
                    None => df.generator_source(SOURCE, total, options, fill),
                }
            }
            Source::Csv(path) => df.csv_source::<I>(SOURCE, path, options),
        };
        sink_rows(df, latency2.probe(O::probe(), query(bids)), opts2.output.as_ref(), &rows2);
    })?;
    let events_in = generated.unwrap_or_else(|| source_count(&outcome.metrics, SOURCE));
    let samples = latency.take();
    Ok(JobReport {
        events_in,
        rows_out: rows_out(&outcome.metrics, opts.output.as_ref(), &rows),
        late_rows: 0,
        elapsed: outcome.elapsed,
        metrics: outcome.metrics,
        window_latency_ns: samples.window_ns,
        event_latency_ns: samples.event_ns,
        checkpoints: None,
        already_finished: None,
    })
}

/// The kind of a Nexmark event, from its event id alone (NEXMARK.md section 4: `id mod 50`,
/// below 1 a person, below 4 an auction, else a bid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A person.
    Person,
    /// An auction.
    Auction,
    /// A bid.
    Bid,
}

impl Kind {
    /// The kind of event id `event_id`.
    #[inline]
    pub fn of_event_id(event_id: u64) -> Kind {
        match event_id % 50 {
            0 => Kind::Person,
            1..=3 => Kind::Auction,
            _ => Kind::Bid,
        }
    }
}

/// The record a query reads: what it keeps of each event kind it needs.
pub trait QueryInput: Data + Event {
    /// Reads persons.
    const PERSONS: bool;
    /// Reads auctions.
    const AUCTIONS: bool;
    /// Reads bids.
    const BIDS: bool;

    /// The query's record for a person, if it keeps this one.
    fn person(p: Person) -> Option<Self> {
        let _ = p;
        None
    }

    /// The query's record for an auction, if it keeps this one.
    fn auction(a: Auction) -> Option<Self> {
        let _ = a;
        None
    }

    /// The query's record for a bid, if it keeps this one.
    fn bid(b: Bid) -> Option<Self> {
        let _ = b;
        None
    }

    /// What the query reads each row of a CSV bid file into: [`Bid`] (every column), or a
    /// projection that parses only the columns the query reads and skips the others (still
    /// checked to be well-formed fields, in a row of seven).
    type CsvBid: Data + Event + CsvRecord;

    /// The query's record for a row of a CSV bid file, if it keeps this one.
    fn csv_bid(b: Self::CsvBid) -> Option<Self>;

    /// The query's record for any event.
    #[inline]
    fn of_event(e: NexmarkEvent) -> Option<Self> {
        match e {
            NexmarkEvent::Person(p) => Self::person(p),
            NexmarkEvent::Auction(a) => Self::auction(a),
            NexmarkEvent::Bid(b) => Self::bid(b),
        }
    }

    /// Whether the query reads events of `kind`.
    #[inline]
    fn reads(kind: Kind) -> bool {
        match kind {
            Kind::Person => Self::PERSONS,
            Kind::Auction => Self::AUCTIONS,
            Kind::Bid => Self::BIDS,
        }
    }
}

/// What a stateful query's dataflow produces.
pub struct QueryOutput<'s, O> {
    /// The result rows.
    pub rows: RillStream<'s, O>,
    /// One unit per record dropped as late, by any of the query's operators.
    pub late: RillStream<'s, ()>,
}

/// A stateful query's dataflow.
type StatefulFn<I, O> = for<'s> fn(&Dataflow<'s>, RillStream<'s, I>) -> QueryOutput<'s, O>;

/// One unit per record of `stream` (for late counts).
pub(crate) fn units<'s, D: Data>(stream: RillStream<'s, D>) -> RillStream<'s, ()> {
    stream.map(|_| ())
}

/// The query's input from a CSV directory (or, for bid-only queries, a bid file): one source
/// per file it needs, projected and merged.
fn csv_input<'s, I: QueryInput>(df: &Dataflow<'s>, path: &Path, options: &SourceOptions) -> RillStream<'s, I> {
    let mut streams: Vec<RillStream<'s, I>> = Vec::new();
    if I::PERSONS {
        streams.push(
            df.csv_source::<Person>(PERSONS_SOURCE, path.join("person.csv"), options.clone()).flat_map(I::person),
        );
    }
    if I::AUCTIONS {
        streams.push(
            df.csv_source::<Auction>(AUCTIONS_SOURCE, path.join("auction.csv"), options.clone()).flat_map(I::auction),
        );
    }
    if I::BIDS {
        let file = if I::PERSONS || I::AUCTIONS { path.join("bid.csv") } else { bids_file(path) };
        streams.push(df.csv_source::<I::CsvBid>(SOURCE, file, options.clone()).flat_map(I::csv_bid));
    }
    let mut streams = streams.into_iter();
    let first = streams.next().expect("a query reads at least one kind of event");
    streams.fold(first, |all, s| all.concat(s))
}

/// Runs a stateful query: its source (generated, or one CSV source per file it reads), its
/// dataflow, the output sink, and row and late counters.
fn run_stateful<I: QueryInput, O: Data + CsvRecord + RowTimes>(
    opts: &JobOptions,
    source: Source<Nexmark>,
    dataflow: StatefulFn<I, O>,
) -> rill::Result<JobReport> {
    let strategy = WatermarkStrategy::bounded_out_of_orderness(opts.max_out_of_orderness_ms);
    let generated = match &source {
        Source::Generated(g) => Some(g.config().events),
        Source::Csv(_) => None,
    };
    let (rows, late) = (Counter::new(), Counter::new());
    let start = Instant::now();
    let (opts2, rows2, late2, latency) = (opts.clone(), rows.clone(), late.clone(), Latency::new(opts));
    let latency2 = latency.clone();
    let outcome = rill::execute(job_config(opts), move |df: &mut Dataflow<'_>| {
        let options = latency2.source_options(strategy);
        let input: RillStream<'_, I> = match &source {
            Source::Generated(g) => {
                let (g, total) = (Arc::clone(g), g.config().events);
                let fill = move |r: std::ops::Range<u64>, out: &mut Vec<I>| {
                    for i in r {
                        if I::reads(Kind::of_event_id(g.event_id(i)))
                            && let Some(x) = I::of_event(g.event(i))
                        {
                            out.push(x);
                        }
                    }
                };
                match opts2.rate {
                    Some(rate) => df.generator_source_at_rate(EVENTS_SOURCE, total, rate, start, options, fill),
                    None => df.generator_source(EVENTS_SOURCE, total, options, fill),
                }
            }
            Source::Csv(path) => csv_input::<I>(df, path, &latency::csv_options::<I>(&options)),
        };
        let out = dataflow(df, input);
        sink_rows(df, latency2.probe(O::probe(), out.rows), opts2.output.as_ref(), &rows2);
        out.late.count_into(df, &late2);
    })?;
    let events_in = generated.unwrap_or_else(|| {
        [PERSONS_SOURCE, AUCTIONS_SOURCE, SOURCE].iter().map(|s| source_count(&outcome.metrics, s)).sum()
    });
    let samples = latency.take();
    Ok(JobReport {
        events_in,
        rows_out: rows_out(&outcome.metrics, opts.output.as_ref(), &rows),
        late_rows: late.get(),
        elapsed: outcome.elapsed,
        metrics: outcome.metrics,
        window_latency_ns: samples.window_ns,
        event_latency_ns: samples.event_ns,
        checkpoints: None,
        already_finished: None,
    })
}
