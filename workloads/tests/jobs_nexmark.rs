//! The Nexmark queries against naive computations over the generator's events, on 1, 2 and 4
//! workers, from generated input and from the CSV files of `export_csv`: q0-q2 against the
//! reference below, q3-q11 against `jobs::nexmark::reference`.

use std::path::Path;

use std::collections::BTreeSet;

use rill_workloads::jobs::nexmark::{EuroBidRow, Query, euro_milli, reference, run_nexmark, write_milli};
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
        other => panic!("{other} is tested against `reference::rows`"),
    };
    rows.sort();
    let header = match query {
        Query::Q0 | Query::Q1 => "auction,bidder,price,date_time,extra",
        Query::Q2 => "auction,price",
        other => panic!("{other} is tested against `reference::rows`"),
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
    for query in [Query::Q0, Query::Q1, Query::Q2] {
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
    assert_eq!("Q11".parse::<Query>().expect("q11 parses"), Query::Q11);
    assert!("q6".parse::<Query>().is_err());
    assert!("q10".parse::<Query>().is_err());
}

// ----- q3, q4, q5, q7, q8, q9, q11 -----

/// Events of the stateful tests: 1 000 events/s of event time, so 200 000 events span 200 s
/// (20 tumbling windows, 100 sliding ones) while staying quick to generate.
const STATEFUL_EVENTS: u64 = 200_000;

fn stateful_config() -> NexmarkConfig {
    NexmarkConfig { seed: 7, events: STATEFUL_EVENTS, first_event_rate: 1_000, ..NexmarkConfig::default() }
}

const STATEFUL: [Query; 7] = [Query::Q3, Query::Q4, Query::Q5, Query::Q7, Query::Q8, Query::Q9, Query::Q11];

/// The reference result: the header and the sorted lines.
fn expected(query: Query, events: &[NexmarkEvent]) -> (String, Vec<String>) {
    let mut rows = reference::rows(query, events);
    rows.sort();
    (query.columns().join(","), rows)
}

/// Distinct values of column `col` among `rows` (no quoted commas in the columns asked for).
fn distinct(rows: &[String], col: usize) -> usize {
    rows.iter().map(|r| r.split(',').nth(col).expect("column").to_owned()).collect::<BTreeSet<_>>().len()
}

/// Checks that the reference output of `query` is not trivial.
fn assert_substantial(query: Query, rows: &[String]) {
    let n = rows.len();
    let ok = match query {
        Query::Q3 => n > 50 && distinct(rows, 3) == n,
        Query::Q4 => n == 5,
        Query::Q5 => distinct(rows, 2) >= 90 && distinct(rows, 0) >= 20,
        Query::Q7 => distinct(rows, 3) >= 20 && n >= 20,
        Query::Q8 => n >= 20 && distinct(rows, 2) >= 10,
        Query::Q9 => n > 1_000 && distinct(rows, 2) == 5,
        Query::Q11 => n > 1_000 && distinct(rows, 0) > 500,
        _ => unreachable!(),
    };
    assert!(ok, "{query}: reference output too small: {n} rows, e.g. {:?}", rows.first());
}

/// Events of the kinds `query` reads.
fn read_kinds(query: Query, (persons, auctions, bids): (u64, u64, u64)) -> u64 {
    match query {
        Query::Q3 | Query::Q8 => persons + auctions,
        Query::Q4 | Query::Q9 => auctions + bids,
        _ => bids,
    }
}

#[test]
fn stateful_queries_match_reference_on_1_2_4_workers_generated_and_csv() {
    let config = stateful_config();
    let g = Nexmark::new(config.clone()).expect("valid config");
    let events: Vec<NexmarkEvent> = (0..STATEFUL_EVENTS).map(|i| g.event(i)).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let counts = export_csv(&config, dir.path()).expect("export");
    let generated = Input::Nexmark(config);
    let csv = Input::Csv(dir.path().to_owned());
    for query in STATEFUL {
        let want = expected(query, &events);
        assert_substantial(query, &want.1);
        for workers in [1, 2, 4] {
            let out = dir.path().join(format!("{query}-{workers}.csv"));
            let (got, report) = run(query, &generated, workers, &out);
            assert_eq!(got.0, want.0, "{query}, generated, {workers} workers: header");
            assert_eq!(got.1.len(), want.1.len(), "{query}, generated, {workers} workers: row count");
            assert_eq!(got, want, "{query}, generated, {workers} workers");
            assert_eq!(report, (STATEFUL_EVENTS, want.1.len() as u64, 0), "{query}, generated, {workers} workers");
        }
        let workers = if matches!(query, Query::Q5 | Query::Q7) { vec![1, 3] } else { vec![2] };
        for workers in workers {
            let out = dir.path().join(format!("{query}-{workers}-csv.csv"));
            let (got, report) = run(query, &csv, workers, &out);
            assert_eq!(got, want, "{query}, csv, {workers} workers");
            let read = read_kinds(query, counts);
            assert_eq!(report, (read, want.1.len() as u64, 0), "{query}, csv, {workers} workers");
        }
    }
}

#[test]
fn winning_bids_follow_the_documented_interval_and_ties() {
    // A hand-made stream: auction 1 open [1000, 2000]; bids at its bounds, outside them, tied.
    use rill_workloads::nexmark::{Auction, Bid, Person};
    let auction = |id, category, date_time, expires| {
        NexmarkEvent::Auction(Auction {
            id,
            item_name: "item".into(),
            description: "d".into(),
            initial_bid: 1,
            reserve: 1_000_000_000,
            date_time,
            expires,
            seller: 7,
            category,
            extra: String::new(),
        })
    };
    let bid = |auction, bidder, price, date_time| {
        NexmarkEvent::Bid(Bid {
            auction,
            bidder,
            price,
            channel: "c".into(),
            url: "u".into(),
            date_time,
            extra: "x,y".into(),
        })
    };
    let events = vec![
        NexmarkEvent::Person(Person {
            id: 7,
            name: "Kate Smith".into(),
            email_address: "e".into(),
            credit_card: "c".into(),
            city: "Bend".into(),
            state: "OR".into(),
            date_time: 999,
            extra: String::new(),
        }),
        bid(1, 5, 900, 999), // before the auction opens
        auction(1, 10, 1000, 2000),
        bid(1, 4, 500, 1000), // at the opening: counts
        bid(1, 3, 800, 2000), // at the closing: counts
        bid(1, 2, 800, 2000), // same price and time, lower bidder: wins
        bid(1, 1, 900, 2001), // after the closing
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    write_events(dir.path(), &events);
    let csv = Input::Csv(dir.path().to_owned());
    let cases: [(Query, &[&str]); 5] = [
        (Query::Q9, &["1,7,10,1000,2000,2,800,2000"]),
        (Query::Q4, &["10,800.000"]),
        (Query::Q3, &["Kate Smith,Bend,OR,1"]),
        (Query::Q7, &["1,900,1,2001,\"x,y\"", "1,900,5,999,\"x,y\""]),
        (Query::Q8, &["7,Kate Smith,0"]),
    ];
    for (query, want) in cases {
        let mut reference = reference::rows(query, &events);
        reference.sort();
        assert_eq!(reference, want, "{query}: reference");
        for workers in [1, 2] {
            let out = dir.path().join(format!("{query}-{workers}.csv"));
            let ((header, rows), _) = run(query, &csv, workers, &out);
            assert_eq!(header, query.columns().join(","), "{query}: header");
            assert_eq!(rows, want, "{query}, {workers} workers");
        }
    }
}

/// Writes `events` as `gen nexmark` does: one CSV file per kind, in the given order.
fn write_events(dir: &Path, events: &[NexmarkEvent]) {
    use rill::csv::CsvRecord;
    use rill_workloads::nexmark::{Auction, Bid, Person};
    let mut files = [Person::header(), Auction::header(), Bid::header()].map(|h| format!("{h}\n").into_bytes());
    for e in events {
        let k = match e {
            NexmarkEvent::Person(p) => {
                p.write_csv(&mut files[0]);
                0
            }
            NexmarkEvent::Auction(a) => {
                a.write_csv(&mut files[1]);
                1
            }
            NexmarkEvent::Bid(b) => {
                b.write_csv(&mut files[2]);
                2
            }
        };
        files[k].push(b'\n');
    }
    for (name, bytes) in ["person.csv", "auction.csv", "bid.csv"].iter().zip(files) {
        std::fs::write(dir.join(name), bytes).expect("write CSV");
    }
}

/// A `bid.csv` of valid rows with `bad` as line 4 (the header is line 1).
fn bids_with_row(dir: &Path, bad: &str) {
    use rill::csv::CsvRecord;
    let mut text = format!("{}\n", Bid::header()).into_bytes();
    for (i, b) in bids().into_iter().take(4).enumerate() {
        if i == 2 {
            text.extend_from_slice(bad.as_bytes());
        } else {
            b.write_csv(&mut text);
        }
        text.push(b'\n');
    }
    std::fs::write(dir.join("bid.csv"), text).expect("write CSV");
}

#[test]
fn malformed_bid_rows_name_line_and_column_even_in_skipped_columns() {
    // q0 and q1 skip `channel` and `url`, q2 and q5 all but `auction`, `price` and `date_time`:
    // a skipped field must still be well-formed and the row must have all seven columns.
    let all = [Query::Q0, Query::Q1, Query::Q2, Query::Q5];
    let cases: [(&str, &[Query], usize, &str, &str); 8] = [
        (r#"1007,1001,100,Google,"https://x,1436918400000,e"#, &all, 5, "url", "unterminated"),
        (r#"1007,1001,100,"Goo"gle,u,1436918400000,e"#, &all, 4, "channel", "after closing quote"),
        ("1007,1001,100,Google,u,1436918400000", &all, 7, "extra", "missing field"),
        ("1007,1001,100,Google,u,1436918400000,e,f", &all, 8, "extra field", "extra field"),
        ("1007,1001,100,Google", &all, 5, "url", "missing field"),
        ("1007,1001,100,Google,u,14369x,e", &all, 6, "date_time", "14369x"),
        ("1007,10x1,100,Google,u,1436918400000,e", &[Query::Q0, Query::Q1], 2, "bidder", "10x1"),
        ("1007,1001,100,Google,u,1436918400000,\"e", &all, 7, "extra", "unterminated"),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    for (i, (row, queries, column, field, message)) in cases.iter().enumerate() {
        bids_with_row(dir.path(), row);
        for &query in *queries {
            for workers in [1, 2] {
                let opts = JobOptions { workers, output: Some(dir.path().join("out.csv")), ..Default::default() };
                let input = Input::Csv(dir.path().to_owned());
                match run_nexmark(&opts, &input, query) {
                    Err(rill::Error::Csv { path, line, column: c, field: f, message: m }) => {
                        assert_eq!(path, dir.path().join("bid.csv"), "case {i} {query}");
                        assert_eq!((line, c, f.as_str()), (4, *column, *field), "case {i} {query}: {row}");
                        assert!(m.contains(message), "case {i} {query}: {m}");
                    }
                    other => panic!("case {i} {query}: expected a row error, got {other:?}"),
                }
            }
        }
    }
    // q2 and q5 do not read `bidder`: a bidder that is no number is a well-formed field they skip.
    bids_with_row(dir.path(), "1007,10x1,100,Google,u,1436918400000,e");
    let opts = JobOptions { output: Some(dir.path().join("out.csv")), ..Default::default() };
    for query in [Query::Q2, Query::Q5] {
        let report = run_nexmark(&opts, &Input::Csv(dir.path().to_owned()), query).expect("query runs");
        assert_eq!(report.events_in, 4, "{query}");
    }
}
