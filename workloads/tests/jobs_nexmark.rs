//! Nexmark q0, q1 and q2 against a naive computation over the generator's events, on 1, 2 and
//! 4 workers, from generated input and from the CSV files of `export_csv`.

use std::path::Path;

use rill_workloads::jobs::nexmark::{EuroBidRow, Query, euro_milli, run_nexmark, write_milli};
use rill_workloads::jobs::{Input, JobOptions};
use rill_workloads::nexmark::{Bid, Nexmark, NexmarkConfig, NexmarkEvent, export_csv};

const EVENTS: u64 = 200_000;
const SEED: u64 = 11;

fn config() -> NexmarkConfig {
    NexmarkConfig { seed: SEED, events: EVENTS, ..NexmarkConfig::default() }
}

/// RFC 4180 quoting, written independently of the engine's.
fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

fn bids() -> Vec<Bid> {
    let g = Nexmark::new(config()).expect("valid config");
    (0..EVENTS)
        .filter_map(|i| match g.event(i) {
            NexmarkEvent::Bid(b) => Some(b),
            _ => None,
        })
        .collect()
}

/// The query's result lines (header first, then rows sorted), computed naively with `f64`-free
/// decimal formatting.
fn reference(query: Query, bids: &[Bid]) -> (String, Vec<String>) {
    let mut rows: Vec<String> = match query {
        Query::Q0 => bids
            .iter()
            .map(|b| format!("{},{},{},{},{}", b.auction, b.bidder, b.price, b.date_time, quote(&b.extra)))
            .collect(),
        Query::Q1 => bids
            .iter()
            .map(|b| {
                let thousandths = u128::from(b.price) * 908;
                let price = format!("{}.{:03}", thousandths / 1000, thousandths % 1000);
                format!("{},{},{},{},{}", b.auction, b.bidder, price, b.date_time, quote(&b.extra))
            })
            .collect(),
        Query::Q2 => {
            bids.iter().filter(|b| b.auction % 123 == 0).map(|b| format!("{},{}", b.auction, b.price)).collect()
        }
    };
    rows.sort();
    let header = match query {
        Query::Q0 | Query::Q1 => "auction,bidder,price,date_time,extra",
        Query::Q2 => "auction,price",
    };
    (header.to_owned(), rows)
}

/// Runs `query` on `input` and returns the output file's header and sorted rows, and the report's
/// `(events_in, rows_out, late_rows)`.
fn run(query: Query, input: &Input, workers: usize, out: &Path) -> ((String, Vec<String>), (u64, u64, u64)) {
    let opts =
        JobOptions { workers, output: Some(out.to_owned()), max_out_of_orderness_ms: 4_000, ..Default::default() };
    let report = run_nexmark(&opts, input, query).expect("job runs");
    let text = std::fs::read_to_string(out).expect("job output");
    let mut lines = text.lines();
    let header = lines.next().expect("a header").to_owned();
    let mut rows: Vec<String> = lines.map(str::to_owned).collect();
    rows.sort();
    ((header, rows), (report.events_in, report.rows_out, report.late_rows))
}

#[test]
fn queries_match_reference_on_1_2_4_workers_generated_and_csv() {
    let bids = bids();
    assert!(bids.len() > 150_000, "46 of 50 events are bids: {}", bids.len());
    let dir = tempfile::tempdir().expect("temp dir");
    let (persons, auctions, n_bids) = export_csv(&config(), dir.path()).expect("export");
    assert_eq!((persons + auctions + n_bids, n_bids), (EVENTS, bids.len() as u64));
    let generated = Input::Generate { events: EVENTS, seed: SEED, late_fraction: 0.0 };
    let csv = Input::Csv(dir.path().to_owned());
    for query in Query::ALL {
        let want = reference(query, &bids);
        if query == Query::Q2 {
            assert!(want.1.len() > 100, "q2 selects some bids: {}", want.1.len());
            assert!(want.1.len() < bids.len() / 10, "q2 is selective: {}", want.1.len());
        }
        for workers in [1, 2, 4] {
            let out = dir.path().join(format!("{query}-{workers}.csv"));
            let (got, counts) = run(query, &generated, workers, &out);
            assert_eq!(got, want, "{query}, generated, {workers} workers");
            assert_eq!(counts, (EVENTS, want.1.len() as u64, 0), "{query}, generated, {workers} workers");

            let out = dir.path().join(format!("{query}-{workers}-csv.csv"));
            let (got, counts) = run(query, &csv, workers, &out);
            assert_eq!(got, want, "{query}, csv, {workers} workers");
            assert_eq!(counts, (bids.len() as u64, want.1.len() as u64, 0), "{query}, csv, {workers} workers");
        }
    }
    // A full configuration gives the same as the equivalent generated input.
    let out = dir.path().join("config.csv");
    let (got, _) = run(Query::Q2, &Input::Nexmark(config()), 2, &out);
    assert_eq!(got, reference(Query::Q2, &bids));
}

#[test]
fn q1_price_has_exactly_three_decimals() {
    let fmt = |price: u64| {
        let mut out = Vec::new();
        write_milli(&mut out, euro_milli(price));
        String::from_utf8(out).expect("ascii")
    };
    assert_eq!(fmt(0), "0.000");
    assert_eq!(fmt(1), "0.908");
    assert_eq!(fmt(10), "9.080");
    assert_eq!(fmt(1234), "1120.472");
    assert_eq!(fmt(1_000_000), "908000.000");
    assert_eq!(fmt(u64::MAX), "16749643618928272866.420");

    let bid = Bid {
        auction: 1007,
        bidder: 1001,
        price: 1234,
        channel: "Google".into(),
        url: "https://x".into(),
        date_time: 1_500_000_000_123,
        extra: "a,b".into(),
    };
    let mut out = Vec::new();
    rill::csv::CsvRecord::write_csv(&EuroBidRow::of(bid), &mut out);
    assert_eq!(String::from_utf8(out).expect("ascii"), "1007,1001,1120.472,1500000000123,\"a,b\"");
}

#[test]
fn invalid_inputs_are_refused() {
    let opts = JobOptions::default();
    let late = Input::Generate { events: 10, seed: 1, late_fraction: 0.1 };
    assert!(matches!(run_nexmark(&opts, &late, Query::Q0), Err(rill::Error::Config(_))));
    let sensors = Input::Sensors(rill_workloads::sensors::SensorsConfig::default());
    assert!(matches!(run_nexmark(&opts, &sensors, Query::Q0), Err(rill::Error::Config(_))));
    let with_late = JobOptions { late_output: Some("late.csv".into()), ..JobOptions::default() };
    let input = Input::Generate { events: 10, seed: 1, late_fraction: 0.0 };
    assert!(matches!(run_nexmark(&with_late, &input, Query::Q1), Err(rill::Error::Config(_))));
    assert_eq!("Q2".parse::<Query>().expect("q2 parses"), Query::Q2);
    assert!("q3".parse::<Query>().is_err());
}
