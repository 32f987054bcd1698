//! The CSV file reader against independent references: header and row errors, quoting, line
//! ends, and exact-once coverage of every row across workers and chunk sizes.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use proptest::prelude::*;
use rill::csv::{CsvFileReader, CsvRecord, CsvRow, FieldError, write_escaped, write_i64, write_u64};
use rill::operators::source::{ReadStatus, SourceReader};
use rill::{Error, Event, EventTime};
use serde::{Deserialize, Serialize};

/// A sensor reading: `ts,sensor,room,temp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reading {
    ts: u64,
    sensor: u32,
    room: u32,
    temp: i64,
}

impl CsvRecord for Reading {
    const COLUMNS: &'static [&'static str] = &["ts", "sensor", "room", "temp"];
    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = Reading { ts: row.u64()?, sensor: row.u32()?, room: row.u32()?, temp: row.fixed(1)? };
        row.finish()?;
        Ok(r)
    }
    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.ts);
        out.push(b',');
        write_u64(out, u64::from(self.sensor));
        out.push(b',');
        write_u64(out, u64::from(self.room));
        out.push(b',');
        write_i64(out, self.temp / 10);
        out.push(b'.');
        write_u64(out, self.temp.unsigned_abs() % 10);
    }
}

impl Event for Reading {
    fn event_time(&self) -> EventTime {
        EventTime(self.ts)
    }
}

/// A record with free text: `id,name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct Named {
    id: u64,
    name: String,
}

impl CsvRecord for Named {
    const COLUMNS: &'static [&'static str] = &["id", "name"];
    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = Named { id: row.u64()?, name: row.str()?.into_owned() };
        row.finish()?;
        Ok(r)
    }
    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.id);
        out.push(b',');
        write_escaped(out, &self.name);
    }
}

impl Event for Named {
    fn event_time(&self) -> EventTime {
        EventTime(self.id)
    }
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().write_all(bytes).unwrap();
    path
}

/// Reads one worker's share to the end, in calls of varying `max`.
fn read_share<R>(path: &Path, worker: usize, workers: usize, chunk: u64) -> Result<(Vec<R>, u64), Error>
where
    R: CsvRecord + Event + Clone + Send + Serialize + serde::de::DeserializeOwned + 'static,
{
    let mut reader = CsvFileReader::<R>::open_with_chunk_size(path, worker, workers, chunk)?;
    let mut out = Vec::new();
    let mut max = 1;
    loop {
        let before = out.len();
        let status = reader.read(&mut out, max)?;
        assert!(out.len() - before <= max, "read appended more than max");
        if status == ReadStatus::Done {
            return Ok((out, reader.position()));
        }
        assert_eq!(status, ReadStatus::Ready);
        max = max % 7 + 1;
    }
}

/// Reads every worker's share; returns the union of the records and the summed positions.
fn read_all<R>(path: &Path, workers: usize, chunk: u64) -> Result<(Vec<R>, u64), Error>
where
    R: CsvRecord + Event + Clone + Send + Serialize + serde::de::DeserializeOwned + 'static,
{
    let mut all = Vec::new();
    let mut bytes = 0;
    for w in 0..workers {
        let (rows, pos) = read_share::<R>(path, w, workers, chunk)?;
        all.extend(rows);
        bytes += pos;
    }
    Ok((all, bytes))
}

/// A deterministic stream of pseudo-random numbers (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Rows of varying length, some quoted, some longer than a small chunk.
fn named_rows(n: u64, seed: u64) -> Vec<Named> {
    let mut rng = Rng(seed | 1);
    (0..n)
        .map(|id| {
            let len = match rng.next() % 10 {
                0 => 40 + rng.next() % 80,
                _ => rng.next() % 6,
            } as usize;
            let mut name: String = (0..len).map(|i| (b'a' + ((id as usize + i) % 26) as u8) as char).collect();
            if rng.next().is_multiple_of(5) {
                name.push_str(", \"quoted\"");
            }
            Named { id, name }
        })
        .collect()
}

fn csv_bytes<R: CsvRecord>(rows: &[R], line_end: &str, trailing: bool) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(R::header().as_bytes());
    for r in rows {
        out.extend_from_slice(line_end.as_bytes());
        r.write_csv(&mut out);
    }
    if trailing {
        out.extend_from_slice(line_end.as_bytes());
    }
    out
}

#[test]
fn header_mismatch_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "bad_header.csv", b"ts,sensor,room\n1,2,3\n");
    let err = CsvFileReader::<Reading>::open(&path, 0, 1).unwrap_err();
    match &err {
        Error::CsvHeader { path: p, expected, found } => {
            assert_eq!(p, &path);
            assert_eq!(expected, "ts,sensor,room,temp");
            assert_eq!(found, "ts,sensor,room");
        }
        other => panic!("expected a header error, got {other:?}"),
    }
    assert!(err.to_string().contains("bad_header.csv"), "{err}");

    let empty = write_file(dir.path(), "empty.csv", b"");
    assert!(matches!(CsvFileReader::<Reading>::open(&empty, 0, 1), Err(Error::CsvHeader { .. })));
    let missing = dir.path().join("missing.csv");
    let err = CsvFileReader::<Reading>::open(&missing, 0, 1).unwrap_err();
    assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("missing.csv"), "{err}");
}

#[test]
fn header_only_files_and_bom_read_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for (i, bytes) in [&b"ts,sensor,room,temp"[..], b"ts,sensor,room,temp\n", b"\xEF\xBB\xBFts,sensor,room,temp\r\n"]
        .iter()
        .enumerate()
    {
        let path = write_file(dir.path(), &format!("h{i}.csv"), bytes);
        for workers in 1..=3 {
            let (rows, pos) = read_all::<Reading>(&path, workers, 4).unwrap();
            assert!(rows.is_empty());
            assert_eq!(pos, 0);
        }
    }
}

/// `id,name` read without the reader's UTF-8 pass ([`CsvRecord::READS_TEXT`] false): `name` is
/// read as text, or skipped if `SKIP`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Unchecked<const SKIP: bool> {
    id: u64,
    name: Option<String>,
}

impl<const SKIP: bool> CsvRecord for Unchecked<SKIP> {
    const COLUMNS: &'static [&'static str] = &["id", "name"];
    const READS_TEXT: bool = false;
    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let id = row.u64()?;
        let name = if SKIP { row.skip().map(|()| None)? } else { Some(row.str()?.into_owned()) };
        row.finish()?;
        Ok(Unchecked { id, name })
    }
    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.id);
        out.push(b',');
        write_escaped(out, self.name.as_deref().unwrap_or(""));
    }
}

impl<const SKIP: bool> Event for Unchecked<SKIP> {
    fn event_time(&self) -> EventTime {
        EventTime(self.id)
    }
}

#[test]
fn text_read_without_the_utf8_pass_is_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "names.csv", b"id,name\n1,\"a,b\"\n2,\xff\xfe\n3,c\n");
    match read_all::<Unchecked<false>>(&path, 1, 1 << 20).unwrap_err() {
        Error::Csv { line, column, field, message, .. } => {
            assert_eq!((line, column, field.as_str(), message.as_str()), (3, 2, "name", "not UTF-8"))
        }
        other => panic!("expected a row error, got {other:?}"),
    }
    let (rows, _) = read_all::<Unchecked<true>>(&path, 1, 1 << 20).unwrap();
    assert_eq!(rows.iter().map(|r| (r.id, r.name.clone())).collect::<Vec<_>>(), [(1, None), (2, None), (3, None)]);
    let path = write_file(dir.path(), "ok.csv", "id,name\n1,\"a,b\"\n2,\u{e9}\n".as_bytes());
    let (rows, _) = read_all::<Unchecked<false>>(&path, 1, 1 << 20).unwrap();
    assert_eq!(rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>(), [Some("a,b".into()), Some("\u{e9}".into())]);
}

#[test]
fn malformed_row_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let text = "ts,sensor,room,temp\n1,1,1,20.5\n2,1,1,20.5\n3,1,1,20.5\n4,1,x7,20.5\n5,1,1,20.5\n";
    let path = write_file(dir.path(), "sensors.csv", text.as_bytes());
    for workers in 1..=3 {
        for chunk in [3, 8, 1 << 20] {
            let err = read_all::<Reading>(&path, workers, chunk).unwrap_err();
            match &err {
                Error::Csv { path: p, line, column, field, message } => {
                    assert_eq!(p, &path);
                    assert_eq!((*line, *column, field.as_str()), (5, 3, "room"));
                    assert!(message.contains("x7"), "{message}");
                }
                other => panic!("expected a row error, got {other:?}"),
            }
            let shown = err.to_string();
            assert!(shown.contains("sensors.csv") && shown.contains("line 5, column 3 (room)"), "{shown}");
        }
    }

    let cases: [(&str, u64, usize, &str); 5] = [
        ("ts,sensor,room,temp\r\n1,1,1,2.5\r\n2,1,1\r\n", 3, 4, "temp"),
        ("ts,sensor,room,temp\n1,1,1,2.5,9\n", 2, 5, "extra field"),
        ("ts,sensor,room,temp\n1,1,1,2.55\n", 2, 4, "temp"),
        ("ts,sensor,room,temp\n1,1,1,2.5\n\n2,1,1,2.5\n", 3, 1, "ts"),
        ("ts,sensor,room,temp\n1,1,1,2.5\n1,99999999999,1,2.5", 3, 2, "sensor"),
    ];
    for (i, (text, line, column, field)) in cases.iter().enumerate() {
        let path = write_file(dir.path(), &format!("case{i}.csv"), text.as_bytes());
        match read_all::<Reading>(&path, 1, 1 << 20).unwrap_err() {
            Error::Csv { line: l, column: c, field: f, .. } => {
                assert_eq!((l, c, f.as_str()), (*line, *column, *field), "case {i}: {text:?}")
            }
            other => panic!("case {i}: expected a row error, got {other:?}"),
        }
    }
}

#[test]
fn quoted_fields_and_crlf_parse_like_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let text = "id,name\r\n1,plain\r\n2,\"with, comma\"\r\n3,\"say \"\"hi\"\"\"\r\n4,\"\"\r\n5,\r\n";
    let path = write_file(dir.path(), "named.csv", text.as_bytes());
    let (rows, pos) = read_all::<Named>(&path, 1, 1 << 20).unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["plain", "with, comma", "say \"hi\"", "", ""]);
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(pos, (text.len() - "id,name\r\n".len()) as u64);

    let reading = "ts,sensor,room,temp\r\n1700000000123,48213,17,21.5\r\n1700000000124,\"7\",3,-0.5";
    let path = write_file(dir.path(), "crlf.csv", reading.as_bytes());
    let (rows, _) = read_all::<Reading>(&path, 2, 16).unwrap();
    let mut rows = rows;
    rows.sort_by_key(|r| r.ts);
    assert_eq!(
        rows,
        [
            Reading { ts: 1_700_000_000_123, sensor: 48213, room: 17, temp: 215 },
            Reading { ts: 1_700_000_000_124, sensor: 7, room: 3, temp: -5 },
        ]
    );
}

#[test]
fn every_row_is_read_by_exactly_one_worker() {
    let dir = tempfile::tempdir().unwrap();
    let rows = named_rows(600, 42);
    let reference: BTreeMap<u64, &Named> = rows.iter().map(|r| (r.id, r)).collect();
    let variants = [("\n", true), ("\n", false), ("\r\n", true), ("\r\n", false)];
    for (v, (line_end, trailing)) in variants.iter().enumerate() {
        let mut bytes = csv_bytes(&rows, line_end, *trailing);
        if v == 0 {
            // A trailing empty line is ignored.
            bytes.extend_from_slice(b"\n");
        }
        let data_len = (bytes.len() - Named::header().len() - line_end.len()) as u64;
        let path = write_file(dir.path(), &format!("rows{v}.csv"), &bytes);
        for chunk in [1, 2, 3, 7, 13, 64, 100, 1000, 1 << 22] {
            for workers in 1..=5 {
                let (got, bytes_read) = read_all::<Named>(&path, workers, chunk).unwrap();
                let mut seen = BTreeMap::new();
                for r in &got {
                    assert!(
                        seen.insert(r.id, r).is_none(),
                        "row {} read twice ({workers} workers, chunk {chunk})",
                        r.id
                    );
                }
                assert_eq!(seen, reference, "variant {v}, {workers} workers, chunk {chunk}");
                assert_eq!(bytes_read, data_len, "positions sum to the data bytes");
            }
        }
    }
}

#[test]
fn workers_share_chunks_round_robin() {
    // With 11-byte rows and 11-byte chunks, chunk k holds exactly row k.
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,name\n");
    for id in 0..10 {
        text.push_str(&format!("{id},nnnnnnnn\n"));
    }
    let path = write_file(dir.path(), "rr.csv", text.as_bytes());
    for worker in 0..3 {
        let (rows, _) = read_share::<Named>(&path, worker, 3, 11).unwrap();
        let ids: Vec<u64> = rows.iter().map(|r| r.id).collect();
        let expected: Vec<u64> = (0..10).filter(|id| id % 3 == worker as u64).collect();
        assert_eq!(ids, expected, "worker {worker}");
    }
}

#[test]
fn invalid_worker_arguments_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "w.csv", b"id,name\n1,a\n");
    assert!(matches!(CsvFileReader::<Named>::open(&path, 2, 2), Err(Error::Config(_))));
    assert!(matches!(CsvFileReader::<Named>::open(&path, 0, 0), Err(Error::Config(_))));
    assert!(matches!(CsvFileReader::<Named>::open_with_chunk_size(&path, 0, 1, 0), Err(Error::Config(_))));
}

/// Reads `body` after a valid header with 1 worker and with `workers`: neither panics, both
/// fail or both succeed, and on success they read the same rows.
fn check_consistent(body: &[u8], workers: usize, chunk: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"id,name\n".to_vec();
    bytes.extend_from_slice(body);
    let path = write_file(dir.path(), "p.csv", &bytes);
    let one = read_all::<Named>(&path, 1, 1 << 20);
    let many = read_all::<Named>(&path, workers, chunk);
    match (one, many) {
        (Ok((mut a, pa)), Ok((mut b, pb))) => {
            a.sort();
            b.sort();
            assert_eq!(a, b);
            assert_eq!(pa, pb);
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!("one worker: {a:?}, {workers} workers: {b:?}"),
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), workers in 1usize..5, chunk in 1u64..40) {
        check_consistent(&body, workers, chunk);
    }

    #[test]
    fn random_rows_read_consistently(
        body in proptest::collection::vec(prop_oneof![
            Just(b'\n'), Just(b'\r'), Just(b','), Just(b'"'), Just(b'1'), Just(b'7'), Just(b'a'), Just(b' ')
        ], 0..400),
        workers in 1usize..5,
        chunk in 1u64..40,
    ) {
        check_consistent(&body, workers, chunk);
    }

    #[test]
    fn generated_rows_are_read_exactly_once(
        rows in proptest::collection::vec((any::<u64>(), "[a-z ,\"]{0,30}"), 0..60),
        crlf in any::<bool>(),
        trailing in any::<bool>(),
        workers in 1usize..6,
        chunk in 1u64..50,
    ) {
        let mut rows: Vec<Named> = rows.into_iter().map(|(id, name)| Named { id, name }).collect();
        let bytes = csv_bytes(&rows, if crlf { "\r\n" } else { "\n" }, trailing);
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "g.csv", &bytes);
        let (mut got, _) = read_all::<Named>(&path, workers, chunk).unwrap();
        got.sort();
        rows.sort();
        prop_assert_eq!(got, rows);
    }
}

/// Reads some rows on each worker, checkpoints every reader, restores on another worker count,
/// reads on; over chains of rescales every row is read exactly once (and the same worker count
/// resumes exactly where it stopped).
#[test]
fn checkpointed_readers_resume_and_rescale_reading_every_row_once() {
    use rill::snapshot::{SourceCheckpoint, SourceInstanceState};
    let dir = tempfile::tempdir().unwrap();
    let rows = named_rows(900, 7);
    let path = write_file(dir.path(), "rows.csv", &csv_bytes(&rows, "\n", true));
    for chunk in [13u64, 100, 1 << 20] {
        for plan in [&[2usize, 2, 3, 1][..], &[1, 4, 2], &[3, 5, 2, 2, 1]] {
            let mut seen: Vec<u64> = Vec::new();
            let mut checkpoint: Option<SourceCheckpoint> = None;
            for (step, &workers) in plan.iter().enumerate() {
                let last = step + 1 == plan.len();
                let mut instances = Vec::new();
                for w in 0..workers {
                    let mut r = CsvFileReader::<Named>::open_with_chunk_size(&path, w, workers, chunk).unwrap();
                    if let Some(ck) = &checkpoint {
                        r.restore(ck, w, workers).unwrap();
                    }
                    let mut out = Vec::new();
                    // Uneven progress per worker; the last layout reads to the end.
                    let mut reads = if last { usize::MAX } else { 3 + 5 * w };
                    while reads > 0 {
                        reads -= 1;
                        if r.read(&mut out, 17).unwrap() == ReadStatus::Done {
                            break;
                        }
                    }
                    seen.extend(out.iter().map(|n| n.id));
                    instances.push(SourceInstanceState { position: r.checkpoint(), ..Default::default() });
                }
                checkpoint = Some(SourceCheckpoint { workers: workers as u32, instances });
            }
            seen.sort_unstable();
            let dups = seen.windows(2).filter(|p| p[0] == p[1]).count();
            assert_eq!(dups, 0, "rows read twice (chunk {chunk}, plan {plan:?})");
            assert_eq!(seen, (0..900).collect::<Vec<_>>(), "chunk {chunk}, plan {plan:?}");
        }
    }
}
