//! The practical ceiling for Nexmark q5 and q7: single-threaded hand-written loops, no engine,
//! over the same bids Rill's queries read, producing the same rows.
//!
//! * Input: the Nexmark generator (every event index whose kind is a bid, generated the way
//!   `run nexmark` generates it) or the bid file of a `gen nexmark` directory.
//! * Semantics are those of `rill_workloads::jobs::nexmark::{q5, q7}`: half-open, epoch-aligned
//!   windows (q5: 10 s sliding by 2 s, every auction at the window's maximal count; q7: 10 s
//!   tumbling, every bid at the window's maximal price); a window is emitted once the watermark
//!   (`max event time seen - 4 s`, Nexmark's delay) passes its end, so state stays as small as
//!   in a streaming engine; the rest at the end of the input.
//! * Lateness: a bid below the watermark is counted and dropped. The loops' watermark advances
//!   per record where Rill's advances per batch, so on out-of-order input the late counts may
//!   differ; on the generator's in-order input (and its CSV export) nothing is late and the
//!   rows are exactly Rill's, which the tests check against the job's output.
//!
//! The rows are returned as the CSV lines Rill's sink writes (header excluded), unordered.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use foldhash::HashMap;
use rill::csv::{CsvRecord, CsvRow};
use rill_workloads::jobs::nexmark::{
    Kind, Q5Row, Q7Bid, Query, WATERMARK_DELAY_MS, bids_file, generator as nexmark_generator,
};
use rill_workloads::nexmark::{Bid, Nexmark, NexmarkEvent};

use crate::cli::{BaselineArgs, InputSpec};
use crate::machine::Resources;
use crate::results::{BaselineFigure, BaselineFigures, Configuration, Figures, ResultFile, rate};

/// q5's window length and slide, ms.
const Q5_WINDOW_MS: u64 = 10_000;
const Q5_SLIDE_MS: u64 = 2_000;
/// q7's window length, ms.
const Q7_WINDOW_MS: u64 = 10_000;

/// The queries that have a hand-written loop.
pub const QUERIES: [Query; 2] = [Query::Q5, Query::Q7];

/// Where the bids come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BidInput {
    /// The Nexmark generator with default parameters: `events` events of all kinds.
    Generate {
        /// Events of all kinds.
        events: u64,
        /// Generator seed.
        seed: u64,
    },
    /// A `gen nexmark` directory (its `bid.csv`) or a bid file.
    Csv(PathBuf),
}

/// What one loop run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopRun {
    /// Events of the stream: all kinds for generated input, bid rows read for CSV.
    pub events: u64,
    /// The result rows as CSV lines, unordered.
    pub lines: Vec<String>,
    /// Bids dropped as late.
    pub late: u64,
    /// Wall-clock time of the loop (generation or reading, and the query).
    pub elapsed: Duration,
    /// CPU seconds of the process during the loop.
    pub cpu_s: f64,
}

/// Event time reached by the watermark once `max_seen` has been read.
#[inline]
fn watermark(max_seen: u64) -> u64 {
    max_seen.saturating_sub(WATERMARK_DELAY_MS)
}

/// Streaming q5: per window start, the bid count of each auction.
#[derive(Default)]
struct Q5Loop {
    windows: BTreeMap<u64, HashMap<u64, u64>>,
    max_seen: u64,
    late: u64,
    rows: Vec<Q5Row>,
}

impl Q5Loop {
    #[inline]
    fn add(&mut self, auction: u64, t: u64) {
        let wm = watermark(self.max_seen);
        if t < wm {
            self.late += 1;
            return;
        }
        let last = t - t % Q5_SLIDE_MS;
        for k in 0..Q5_WINDOW_MS / Q5_SLIDE_MS {
            let Some(start) = last.checked_sub(k * Q5_SLIDE_MS) else { break };
            *self.windows.entry(start).or_default().entry(auction).or_default() += 1;
        }
        if t > self.max_seen {
            self.max_seen = t;
            self.fire(watermark(t));
        }
    }

    /// Emits the windows whose end is at or below `wm`.
    fn fire(&mut self, wm: u64) {
        while let Some(entry) = self.windows.first_entry() {
            if *entry.key() + Q5_WINDOW_MS > wm {
                break;
            }
            let start = *entry.key();
            Self::emit(&mut self.rows, start, &entry.remove());
        }
    }

    fn emit(rows: &mut Vec<Q5Row>, start: u64, counts: &HashMap<u64, u64>) {
        let max = counts.values().copied().max().unwrap_or(0);
        rows.extend(counts.iter().filter(|&(_, &n)| n == max).map(|(&auction, &num)| Q5Row {
            auction,
            num,
            window_start_ms: start,
            window_end_ms: start + Q5_WINDOW_MS,
        }));
    }

    fn finish(mut self) -> (Vec<Q5Row>, u64) {
        for (start, counts) in std::mem::take(&mut self.windows) {
            Self::emit(&mut self.rows, start, &counts);
        }
        (self.rows, self.late)
    }
}

/// Streaming q7: per window start, the maximal price and every bid at it.
#[derive(Default)]
struct Q7Loop {
    windows: BTreeMap<u64, (u64, Vec<Q7Bid>)>,
    max_seen: u64,
    late: u64,
    rows: Vec<Q7Bid>,
}

impl Q7Loop {
    #[inline]
    fn add(&mut self, b: Bid) {
        let t = b.date_time;
        if t < watermark(self.max_seen) {
            self.late += 1;
            return;
        }
        let (max, bids) = self.windows.entry(t - t % Q7_WINDOW_MS).or_default();
        if bids.is_empty() || b.price > *max {
            *max = b.price;
            bids.clear();
            bids.push(q7_row(b));
        } else if b.price == *max {
            bids.push(q7_row(b));
        }
        if t > self.max_seen {
            self.max_seen = t;
            let wm = watermark(t);
            while let Some(entry) = self.windows.first_entry() {
                if *entry.key() + Q7_WINDOW_MS > wm {
                    break;
                }
                self.rows.extend(entry.remove().1);
            }
        }
    }

    fn finish(mut self) -> (Vec<Q7Bid>, u64) {
        for (_, (_, bids)) in std::mem::take(&mut self.windows) {
            self.rows.extend(bids);
        }
        (self.rows, self.late)
    }
}

#[inline]
fn q7_row(b: Bid) -> Q7Bid {
    Q7Bid { auction: b.auction, price: b.price, bidder: b.bidder, date_time: b.date_time, extra: b.extra }
}

/// The CSV lines of `rows`, as Rill's sink writes them.
fn lines<R: CsvRecord>(rows: &[R]) -> Vec<String> {
    let mut buf = Vec::new();
    rows.iter()
        .map(|r| {
            buf.clear();
            r.write_csv(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
        .collect()
}

/// The bids of events `0..events` of `g`, in index order (only bid indices are generated).
fn generated_bids(g: &Nexmark, events: u64) -> impl Iterator<Item = Bid> + '_ {
    (0..events).filter(|&i| Kind::of_event_id(g.event_id(i)) == Kind::Bid).filter_map(|i| match g.event(i) {
        NexmarkEvent::Bid(b) => Some(b),
        _ => None,
    })
}

/// The bids of a CSV file, in file order; stops at the first unreadable line and keeps the
/// error in `error`.
struct CsvBids<'e> {
    reader: std::io::BufReader<std::fs::File>,
    line: Vec<u8>,
    line_no: u64,
    error: &'e mut Option<anyhow::Error>,
}

impl Iterator for CsvBids<'_> {
    type Item = Bid;

    fn next(&mut self) -> Option<Bid> {
        loop {
            self.line.clear();
            match self.reader.read_until(b'\n', &mut self.line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    *self.error = Some(anyhow::Error::new(e).context(format!("reading line {}", self.line_no + 1)));
                    return None;
                }
            }
            self.line_no += 1;
            let mut l = self.line.as_slice();
            while let Some((b'\n' | b'\r', rest)) = l.split_last() {
                l = rest;
            }
            if self.line_no == 1 || l.is_empty() {
                continue; // the header, or an empty last line
            }
            return match Bid::parse_csv(&mut CsvRow::new(l)) {
                Ok(b) => Some(b),
                Err(e) => {
                    *self.error = Some(anyhow::anyhow!("line {}: {e:?}", self.line_no));
                    None
                }
            };
        }
    }
}

/// Runs `query`'s loop over `bids`: its rows as CSV lines and its late count.
fn query_loop(query: Query, bids: impl Iterator<Item = Bid>) -> anyhow::Result<(Vec<String>, u64)> {
    match query {
        Query::Q5 => {
            let mut q = Q5Loop::default();
            for b in bids {
                q.add(b.auction, b.date_time);
            }
            let (rows, late) = q.finish();
            Ok((lines(&rows), late))
        }
        Query::Q7 => {
            let mut q = Q7Loop::default();
            for b in bids {
                q.add(b);
            }
            let (rows, late) = q.finish();
            Ok((lines(&rows), late))
        }
        q => anyhow::bail!("no hand-written loop for Nexmark {q} (only q5 and q7)"),
    }
}

/// Runs `query`'s hand-written loop over `input`, timed.
pub fn run_loop(query: Query, input: &BidInput) -> anyhow::Result<LoopRun> {
    let before = Resources::of_this_process();
    let start = Instant::now();
    let (events, (lines, late)) = match input {
        BidInput::Generate { events, seed } => {
            let g = nexmark_generator(*events, *seed, 0.0).context("configuring the Nexmark generator")?;
            (*events, query_loop(query, generated_bids(&g, *events))?)
        }
        BidInput::Csv(path) => {
            let file = bids_file(path);
            let f = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
            let mut error = None;
            let mut read = 0u64;
            let bids = CsvBids {
                reader: std::io::BufReader::with_capacity(1 << 20, f),
                line: Vec::new(),
                line_no: 0,
                error: &mut error,
            };
            let r = query_loop(query, bids.inspect(|_| read += 1))?;
            if let Some(e) = error {
                return Err(e.context(format!("reading {}", file.display())));
            }
            (read, r)
        }
    };
    let elapsed = start.elapsed();
    let cpu_s = Resources::of_this_process().since(&before).cpu_s();
    Ok(LoopRun { events, lines, late, elapsed, cpu_s })
}

/// Time to generate the bids of events `0..events` (the load alone, no query).
pub fn generator_only(events: u64, seed: u64) -> anyhow::Result<(Duration, f64)> {
    let g = nexmark_generator(events, seed, 0.0).context("configuring the Nexmark generator")?;
    let before = Resources::of_this_process();
    let start = Instant::now();
    for b in generated_bids(&g, events) {
        black_box(b);
    }
    Ok((start.elapsed(), Resources::of_this_process().since(&before).cpu_s()))
}

/// Order-independent checksum of CSV lines (FNV-1a per line, mixed, summed).
pub fn checksum(lines: &[String]) -> u64 {
    lines.iter().fold(0u64, |acc, l| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in l.as_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        acc.wrapping_add(h ^ (h >> 33))
    })
}

/// `baseline nexmark --query q5|q7`: the generator alone (generated input) and the loop.
pub fn command(args: &BaselineArgs) -> anyhow::Result<()> {
    let query = args.query.context("baseline nexmark needs --query q5 or q7")?;
    if !QUERIES.contains(&query) {
        anyhow::bail!("baseline nexmark has loops for q5 and q7, not {query}");
    }
    if args.input.late_fraction.is_some() {
        anyhow::bail!("--late-fraction does not apply to nexmark");
    }
    let spec = args.input.resolve();
    let input = match &spec {
        InputSpec::Generate { events, seed, .. } => BidInput::Generate { events: *events, seed: *seed },
        InputSpec::Csv(p) => BidInput::Csv(p.clone()),
    };
    let name = format!("nexmark-{query}");
    let spinner = crate::progress::Spinner::start(format!("running the {name} baselines"));
    let mut figures = Vec::new();
    if let BidInput::Generate { events, seed } = input {
        let (elapsed, cpu_s) = generator_only(events, seed)?;
        figures.push(BaselineFigure {
            name: "generator".into(),
            events,
            workers: 1,
            elapsed_s: elapsed.as_secs_f64(),
            events_per_s: rate(events, elapsed),
            rows_out: 0,
            late_rows: 0,
            checksum: 0,
            cpu_s,
        });
    }
    let r = run_loop(query, &input);
    spinner.finish();
    let r = r?;
    figures.push(BaselineFigure {
        name: if matches!(input, BidInput::Csv(_)) { "loop_csv" } else { "loop_generated" }.into(),
        events: r.events,
        workers: 1,
        elapsed_s: r.elapsed.as_secs_f64(),
        events_per_s: rate(r.events, r.elapsed),
        rows_out: r.lines.len() as u64,
        late_rows: r.late,
        checksum: checksum(&r.lines),
        cpu_s: r.cpu_s,
    });
    print!("{}", crate::summary::baseline_summary(&name, &figures));
    if let Some(json) = &args.json {
        let (input_kind, input_path, events, seed) = match &spec {
            InputSpec::Generate { events, seed, .. } => ("generate", None, Some(*events), Some(*seed)),
            InputSpec::Csv(p) => ("csv", Some(p.display().to_string()), None, None),
        };
        let configuration = Configuration {
            input_kind: input_kind.into(),
            input_path,
            events,
            seed,
            late_fraction: None,
            workers: 1,
            window_ms: Some(if query == Query::Q5 { Q5_WINDOW_MS } else { Q7_WINDOW_MS }),
            max_out_of_orderness_ms: Some(WATERMARK_DELAY_MS),
            allowed_lateness_ms: Some(0),
            rate: None,
            output: None,
            late_output: None,
        };
        let dir = json.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let file = ResultFile::new(
            "baseline",
            &name,
            dir,
            configuration,
            Figures::Baseline(BaselineFigures { baselines: figures }),
        );
        file.write(json).with_context(|| format!("writing {}", json.display()))?;
        println!("result written to {}", json.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use rill_workloads::jobs::nexmark::reference;

    use super::*;
    use crate::cli::{Cli, Command, Workload};

    const EVENTS: u64 = 400_000;

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort_unstable();
        v
    }

    /// Rill's rows for `query` (the job's output file, header dropped), sorted.
    fn rill_rows(query: Query, input: &[&str], out: &Path) -> Vec<String> {
        let out_arg = out.to_str().expect("utf-8 temp path");
        let args = ["rill-bench", "run", "nexmark", "--query", query.name(), "--output", out_arg];
        let cli = Cli::try_parse_from(args.iter().chain(input)).expect("valid command line");
        let Command::Run(r) = cli.command else { panic!("expected run") };
        let report = crate::job::run(Workload::Nexmark, &r).expect("the Rill job runs");
        assert_eq!(report.late_rows, 0);
        let text = std::fs::read_to_string(out).expect("job output");
        let mut lines = text.lines().map(str::to_owned);
        assert_eq!(lines.next().as_deref(), Some(query.columns().join(",").as_str()));
        sorted(lines.collect())
    }

    #[test]
    fn q5_and_q7_loops_equal_rill_and_the_reference() {
        let dir = tempfile::tempdir().expect("temp dir");
        let g = nexmark_generator(EVENTS, 42, 0.0).expect("generator");
        let mut events = Vec::new();
        g.fill(0..EVENTS, &mut events);
        let data = dir.path().join("data");
        crate::workload::export(Workload::Nexmark, EVENTS, 42, None, &data).expect("gen nexmark");
        for query in QUERIES {
            let generated = run_loop(query, &BidInput::Generate { events: EVENTS, seed: 42 }).expect("loop runs");
            assert_eq!((generated.events, generated.late), (EVENTS, 0));
            let got = sorted(generated.lines);
            // 40 s of event time: 4 windows of q7 (a row each, barring ties), 20 of q5.
            let least = if query == Query::Q7 { 4 } else { 20 };
            assert!(got.len() >= least, "{query}: too few rows to compare ({})", got.len());
            assert_eq!(got, sorted(reference::rows(query, &events)), "{query}: loop vs naive reference");
            let out = dir.path().join(format!("{query}.csv"));
            assert_eq!(got, rill_rows(query, &["--events", "400000", "--workers", "2"], &out), "{query}: loop vs Rill");

            let csv = run_loop(query, &BidInput::Csv(data.clone())).expect("loop over CSV runs");
            assert_eq!(csv.events, EVENTS / 50 * 46, "{query}: every bid row read");
            assert_eq!(sorted(csv.lines), got, "{query}: CSV input vs generated input");
        }
    }

    #[test]
    fn loops_emit_ties_and_drop_late_bids() {
        let bid = |auction: u64, price: u64, date_time: u64| Bid {
            auction,
            bidder: 1,
            price,
            channel: String::new(),
            url: String::new(),
            date_time,
            extra: String::new(),
        };
        // Window [0, 10 000): auctions 1 and 2 tie at 2 bids, prices 5 and 5 tie; the bid at
        // 30 000 moves the watermark to 26 000, so the one at 1 000 after it is late.
        let bids =
            vec![bid(1, 5, 100), bid(2, 3, 200), bid(2, 5, 300), bid(1, 1, 400), bid(3, 9, 30_000), bid(1, 9, 1_000)];
        let (q5, late) = query_loop(Query::Q5, bids.clone().into_iter()).expect("q5");
        assert_eq!(late, 1);
        let q5 = sorted(q5);
        assert!(q5.contains(&"1,2,0,10000".to_owned()) && q5.contains(&"2,2,0,10000".to_owned()), "{q5:?}");
        let (q7, late) = query_loop(Query::Q7, bids.into_iter()).expect("q7");
        assert_eq!(late, 1);
        assert_eq!(sorted(q7), vec!["1,5,1,100,", "2,5,1,300,", "3,9,1,30000,"]);
        assert!(query_loop(Query::Q0, std::iter::empty()).is_err());
    }
}
