//! Sinks on small dataflows with 1, 2 and 4 workers: the CSV file holds exactly the rows sent
//! (as a multiset) under one header, appears only when the job succeeds, and append mode keeps
//! what was there; capture and counting see every record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rill::csv::{CsvRecord, CsvRow, FieldError, write_escaped, write_u64};
use rill::{Captured, Counter, CsvSinkOptions, Error, JobConfig, Sink, execute};
use timely::dataflow::operators::{Inspect, ToStream};

/// A record with text that sometimes needs quoting.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    id: u64,
    worker: u64,
    text: String,
}

impl Row {
    fn new(id: u64, workers: u64) -> Row {
        let text = match id % 4 {
            0 => String::new(),
            1 => format!("plain {id}"),
            2 => format!("comma, {id}"),
            _ => format!("quote \"{id}\""),
        };
        Row { id, worker: id % workers, text }
    }
}

impl CsvRecord for Row {
    const COLUMNS: &'static [&'static str] = &["id", "worker", "text"];
    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = Row { id: row.u64()?, worker: row.u64()?, text: row.str()?.into_owned() };
        row.finish()?;
        Ok(r)
    }
    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.id);
        out.push(b',');
        write_u64(out, self.worker);
        out.push(b',');
        write_escaped(out, &self.text);
    }
}

/// The rows of a job with `workers` workers sending `n` rows in all (worker w sends the ids
/// congruent to w, in increasing order).
fn expected(n: u64, workers: u64) -> Vec<Row> {
    (0..n).map(|id| Row::new(id, workers)).collect()
}

/// Parses a sink's output independently of the engine: header line, then one row per line.
fn parse_file(path: &Path) -> (Vec<String>, Vec<Row>) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "output ends with a line end");
    let mut headers = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if line == Row::header() {
            headers.push(line.to_owned());
        } else {
            rows.push(Row::parse_csv(&mut CsvRow::new(line.as_bytes())).unwrap());
        }
    }
    assert!(text.starts_with(&Row::header()), "the header comes first");
    (headers, rows)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn write_job(workers: usize, n: u64, path: &Path, options: CsvSinkOptions) -> rill::Result<()> {
    let path = path.to_owned();
    execute(JobConfig::with_workers(workers), move |df| {
        let (w, peers) = (df.worker_index() as u64, df.peers() as u64);
        let rows: Vec<Row> = (0..n).filter(|id| id % peers == w).map(|id| Row::new(id, peers)).collect();
        rows.to_stream(df.scope()).sink_csv_with(df, &path, options);
    })
    .map(|_| ())
}

#[test]
fn csv_file_holds_every_row_once_under_one_header() {
    for workers in [1, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let n = 5000;
        write_job(workers, n, &path, CsvSinkOptions::default()).unwrap();
        let (headers, mut rows) = parse_file(&path);
        assert_eq!(headers.len(), 1, "{workers} workers");
        // Each worker's rows keep their order in the file.
        let mut last: BTreeMap<u64, u64> = BTreeMap::new();
        for r in &rows {
            if let Some(prev) = last.insert(r.worker, r.id) {
                assert!(prev < r.id, "worker {} wrote {} after {prev}", r.worker, r.id);
            }
        }
        rows.sort();
        assert_eq!(rows, expected(n, workers as u64), "{workers} workers");
        assert!(!tmp_path(&path).exists(), "the temporary file is gone");
    }
}

#[test]
fn empty_input_gives_a_header_only_file() {
    for workers in [1, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.csv");
        write_job(workers, 0, &path, CsvSinkOptions::default()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", Row::header()));
    }
}

#[test]
fn failed_job_leaves_no_file() {
    for workers in [1, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let older = dir.path().join("older.csv");
        std::fs::write(&older, "an older result\n").unwrap();
        for target in [&path, &older] {
            let target_in_job = target.clone();
            let result = execute(JobConfig::with_workers(workers), move |df| {
                let shared = Arc::clone(df.shared());
                let (w, peers) = (df.worker_index() as u64, df.peers() as u64);
                let rows: Vec<Row> = (0..3000).filter(|id| id % peers == w).map(|id| Row::new(id, peers)).collect();
                rows.to_stream(df.scope())
                    .inspect(move |r: &Row| {
                        if r.id == 1234 {
                            shared.fail(Error::Config("injected failure".into()));
                        }
                    })
                    .sink_csv(df, &target_in_job);
            });
            match result {
                Err(Error::Config(m)) => assert_eq!(m, "injected failure"),
                other => panic!("expected the injected failure, got {other:?}"),
            }
            assert!(!tmp_path(target).exists(), "{workers} workers: temporary file removed");
        }
        assert!(!path.exists(), "{workers} workers: no output after a failure");
        assert_eq!(std::fs::read_to_string(&older).unwrap(), "an older result\n", "older file untouched");
    }
}

#[test]
fn unwritable_path_fails_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no_such_dir").join("out.csv");
    for workers in [1, 2] {
        match write_job(workers, 100, &path, CsvSinkOptions::default()) {
            Err(Error::Io { context, .. }) => assert!(context.contains("out.csv.tmp"), "{context}"),
            other => panic!("expected an I/O error, got {other:?}"),
        }
    }
}

#[test]
fn append_mode_keeps_existing_rows_and_writes_the_header_once() {
    let append = CsvSinkOptions { append: true };
    for workers in [1, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.csv");
        // New file: created with its header.
        write_job(workers, 10, &path, append).unwrap();
        // Existing file: rows appended, no second header.
        write_job(workers, 25, &path, append).unwrap();
        let (headers, mut rows) = parse_file(&path);
        assert_eq!(headers.len(), 1);
        let mut want = expected(10, workers as u64);
        want.extend(expected(25, workers as u64));
        want.sort();
        rows.sort();
        assert_eq!(rows, want, "{workers} workers");
        assert!(!tmp_path(&path).exists());

        // An existing empty file gets the header.
        let empty = dir.path().join("empty.csv");
        std::fs::write(&empty, "").unwrap();
        write_job(workers, 3, &empty, append).unwrap();
        let (headers, rows) = parse_file(&empty);
        assert_eq!((headers.len(), rows.len()), (1, 3));

        // A file with another header is not appended to.
        let other = dir.path().join("other.csv");
        std::fs::write(&other, "a,b\n1,2\n").unwrap();
        assert!(matches!(write_job(workers, 3, &other, append), Err(Error::CsvHeader { .. })));
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "a,b\n1,2\n");
    }
}

#[test]
fn capture_and_count_see_every_record() {
    for workers in [1, 2, 4] {
        let out: Captured<u64> = Captured::new();
        let counter = Counter::new();
        let (out_job, counter_job) = (out.clone(), counter.clone());
        let n = 100_000u64;
        let outcome = execute(JobConfig::with_workers(workers), move |df| {
            let (w, peers) = (df.worker_index() as u64, df.peers() as u64);
            (0..n).filter(move |i| i % peers == w).to_stream(df.scope()).capture_into(df, &out_job);
            (0..n).filter(move |i| i % peers == w).to_stream(df.scope()).count_into(df, &counter_job);
        })
        .unwrap();
        let mut got = out.take();
        got.sort_unstable();
        assert_eq!(got, (0..n).collect::<Vec<_>>(), "{workers} workers");
        assert!(out.is_empty(), "take empties the capture");
        assert_eq!(counter.get(), n);
        for name in ["Capture", "CountSink"] {
            let m = outcome.metrics.iter().find(|m| m.name == name).unwrap();
            assert_eq!((m.instances, m.records_in), (workers, n), "{name}");
            assert_eq!(m.watermark_ms, None, "{name}: input ended");
        }
    }
}

#[test]
fn stdout_sink_runs_and_counts() {
    for workers in [1, 2] {
        let outcome = execute(JobConfig::with_workers(workers), move |df| {
            let (w, peers) = (df.worker_index() as u64, df.peers() as u64);
            let rows: Vec<Row> = (0..6).filter(|id| id % peers == w).map(|id| Row::new(id, peers)).collect();
            rows.to_stream(df.scope()).sink_stdout(df);
        })
        .unwrap();
        let m = outcome.metrics.iter().find(|m| m.name == "StdoutSink").unwrap();
        assert_eq!((m.instances, m.records_in), (workers, 6));
    }
}

#[test]
fn csv_sink_metrics_count_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.csv");
    let path_job = path.clone();
    let outcome = execute(JobConfig::with_workers(2), move |df| {
        let (w, peers) = (df.worker_index() as u64, df.peers() as u64);
        let rows: Vec<Row> = (0..777).filter(|id| id % peers == w).map(|id| Row::new(id, peers)).collect();
        rows.to_stream(df.scope()).sink_csv(df, &path_job);
    })
    .unwrap();
    let m = outcome.metrics.iter().find(|m| m.name == "CsvSink").unwrap();
    assert_eq!((m.instances, m.records_in), (2, 777));
    assert_eq!(parse_file(&path).1.len(), 777);
}
