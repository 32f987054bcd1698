//! The hand-written single-threaded loops: the sensors window query with no engine at all,
//! over generated events and over a CSV file.
//!
//! Both keep one `HashMap<(room, window_start), Acc>`, apply the lateness rule of
//! [`super::window`] with one source, and emit a window (into a [`Digest`]) as soon as the
//! watermark passes its close time, so that state stays as small as in a streaming engine.

use std::io::Read;
use std::ops::Range;
use std::path::Path;

use foldhash::HashMap;

use super::SensorSource;
use super::window::{Acc, CHUNK, Digest, SourceWatermark, WindowParams, WindowRow};

/// The streaming aggregation both loops share.
struct Aggregator {
    params: WindowParams,
    windows: HashMap<(u32, u64), Acc>,
    wm: SourceWatermark,
    /// The stamp of the current chunk.
    stamp: u64,
    /// Least close time among open windows (`u64::MAX` when none).
    next_close: u64,
    digest: Digest,
}

impl Aggregator {
    fn new(params: WindowParams) -> Self {
        Aggregator {
            params,
            windows: HashMap::default(),
            wm: SourceWatermark::new(&params),
            stamp: 0,
            next_close: u64::MAX,
            digest: Digest::default(),
        }
    }

    /// Starts a chunk: stamps it with the watermark and emits the windows that it closes.
    fn start_chunk(&mut self) {
        self.stamp = self.wm.current();
        if self.next_close <= self.stamp {
            let (params, stamp, digest) = (self.params, self.stamp, &mut self.digest);
            let mut next_close = u64::MAX;
            self.windows.retain(|&(room, start), acc| {
                let close = params.close_time(start);
                if close <= stamp {
                    digest.add_row(&WindowRow::new(room, start, acc));
                    false
                } else {
                    next_close = next_close.min(close);
                    true
                }
            });
            self.next_close = next_close;
        }
    }

    #[inline]
    fn add(&mut self, ts: u64, room: u32, temp: i32) {
        self.wm.observe(ts);
        if self.params.is_late(ts, self.stamp) {
            self.digest.late += 1;
            return;
        }
        let start = self.params.window_start(ts);
        self.windows.entry((room, start)).or_default().add(temp);
        self.next_close = self.next_close.min(self.params.close_time(start));
    }

    /// Emits every open window (end of input).
    fn finish(mut self) -> Digest {
        for (&(room, start), acc) in &self.windows {
            self.digest.add_row(&WindowRow::new(room, start, acc));
        }
        self.digest
    }
}

/// The loop over generated events `range` of `src`, generated chunk by chunk into one buffer.
pub fn over_generated<S: SensorSource>(src: &S, range: Range<u64>, params: WindowParams) -> Digest {
    let mut agg = Aggregator::new(params);
    let mut buf = Vec::with_capacity(CHUNK as usize);
    let mut first = range.start;
    while first < range.end {
        let end = (first + CHUNK).min(range.end);
        buf.clear();
        src.fill(first..end, &mut buf);
        agg.start_chunk();
        for e in &buf {
            let (ts, room, temp) = S::fields(e);
            agg.add(ts, room, temp);
        }
        first = end;
    }
    agg.finish()
}

/// Why a CSV input could not be read.
#[derive(Debug)]
pub enum CsvLoopError {
    /// Reading the file failed.
    Io(std::io::Error),
    /// A line is malformed (1-based line number, what is wrong).
    Parse(u64, String),
}

impl std::fmt::Display for CsvLoopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CsvLoopError::Io(e) => write!(f, "{e}"),
            CsvLoopError::Parse(line, msg) => write!(f, "line {line}: {msg}"),
        }
    }
}

impl std::error::Error for CsvLoopError {}

/// Where the query's columns are in a sensors CSV row.
#[derive(Debug, Clone, Copy)]
struct Columns {
    ts: usize,
    room: usize,
    temp: usize,
    count: usize,
}

impl Columns {
    fn from_header(header: &[u8]) -> Result<Columns, String> {
        let names: Vec<&[u8]> = header.split(|&b| b == b',').map(|n| n.trim_ascii()).collect();
        let find = |name: &str| {
            names
                .iter()
                .position(|n| *n == name.as_bytes())
                .ok_or_else(|| format!("header `{}` has no column `{name}`", String::from_utf8_lossy(header)))
        };
        Ok(Columns { ts: find("ts_ms")?, room: find("room")?, temp: find("temp")?, count: names.len() })
    }
}

/// Parses an optionally negative decimal integer.
#[inline]
fn parse_int(field: &[u8]) -> Option<i64> {
    let (neg, digits) = match field.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, field),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + i64::from(d);
    }
    Some(if neg { -v } else { v })
}

/// Parses a temperature in degrees with at most one decimal (`-21.5`, `20`) into tenths.
#[inline]
fn parse_tenths(field: &[u8]) -> Option<i64> {
    match memchr::memchr(b'.', field) {
        None => parse_int(field).map(|v| v * 10),
        Some(dot) => {
            let (int, frac) = (&field[..dot], &field[dot + 1..]);
            let [d] = frac else { return None };
            let d = i64::from(d.wrapping_sub(b'0'));
            if d > 9 {
                return None;
            }
            // `-0.5`: the sign belongs to the whole number.
            let v = parse_int(int)?;
            Some(if int.first() == Some(&b'-') { v * 10 - d } else { v * 10 + d })
        }
    }
}

/// Reads the events of one line: `(ts_ms, room, temp_dc)`.
#[inline]
fn parse_line(line: &[u8], cols: &Columns) -> Result<(u64, u32, i32), String> {
    let (mut ts, mut room, mut temp) = (None, None, None);
    let mut n = 0;
    for (i, field) in line.split(|&b| b == b',').enumerate() {
        n = i + 1;
        if i == cols.ts {
            ts = parse_int(field).and_then(|v| u64::try_from(v).ok());
        } else if i == cols.room {
            room = parse_int(field).and_then(|v| u32::try_from(v).ok());
        } else if i == cols.temp {
            temp = parse_tenths(field).and_then(|v| i32::try_from(v).ok());
        }
    }
    if n != cols.count {
        return Err(format!("expected {} fields, found {n}", cols.count));
    }
    match (ts, room, temp) {
        (Some(ts), Some(room), Some(temp)) => Ok((ts, room, temp)),
        _ => Err(format!("bad ts_ms, room or temp in `{}`", String::from_utf8_lossy(line))),
    }
}

/// The loop over a sensors CSV file as `gen` writes it (header naming `ts_ms`, `room` and
/// `temp`; unquoted fields; integers, and the temperature in degrees with one decimal): reads 4 MiB blocks, splits lines, parses fields, aggregates. Returns the digest and
/// the number of events read.
pub fn over_csv(path: &Path, params: WindowParams) -> Result<(Digest, u64), CsvLoopError> {
    let mut file = std::fs::File::open(path).map_err(CsvLoopError::Io)?;
    let mut agg = Aggregator::new(params);
    let mut block = vec![0u8; 4 << 20];
    // Bytes of an unfinished line carried from the previous block.
    let mut filled = 0;
    let mut cols: Option<Columns> = None;
    let mut line_no = 0u64;
    let mut events = 0u64;
    let mut in_chunk = CHUNK;
    loop {
        if filled == block.len() {
            block.resize(block.len() * 2, 0);
        }
        let n = file.read(&mut block[filled..]).map_err(CsvLoopError::Io)?;
        let eof = n == 0;
        filled += n;
        let mut pos = 0;
        while pos < filled {
            let line_end = match memchr::memchr(b'\n', &block[pos..filled]) {
                Some(i) => pos + i,
                None if eof => filled,
                None => break,
            };
            let mut line = &block[pos..line_end];
            pos = line_end + 1;
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            line_no += 1;
            let Some(c) = cols.as_ref() else {
                cols = Some(Columns::from_header(line).map_err(|m| CsvLoopError::Parse(line_no, m))?);
                continue;
            };
            if line.is_empty() {
                continue;
            }
            let (ts, room, temp) = parse_line(line, c).map_err(|m| CsvLoopError::Parse(line_no, m))?;
            if in_chunk == CHUNK {
                agg.start_chunk();
                in_chunk = 0;
            }
            in_chunk += 1;
            agg.add(ts, room, temp);
            events += 1;
        }
        if eof {
            break;
        }
        block.copy_within(pos.min(filled)..filled, 0);
        filled -= pos.min(filled);
    }
    if cols.is_none() {
        return Err(CsvLoopError::Parse(1, "empty file: no header".into()));
    }
    Ok((agg.finish(), events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integers_and_lines() {
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"-215"), Some(-215));
        assert_eq!(parse_int(b"1700000000123"), Some(1_700_000_000_123));
        assert_eq!(parse_int(b""), None);
        assert_eq!(parse_int(b"-"), None);
        assert_eq!(parse_int(b"12a"), None);
        assert_eq!(parse_tenths(b"21.5"), Some(215));
        assert_eq!(parse_tenths(b"-0.5"), Some(-5));
        assert_eq!(parse_tenths(b"-21.5"), Some(-215));
        assert_eq!(parse_tenths(b"7"), Some(70));
        assert_eq!(parse_tenths(b"1.25"), None);
        assert_eq!(parse_tenths(b"1."), None);
        let cols = Columns::from_header(b"ts_ms,sensor_id,room,temp").expect("header");
        assert_eq!(parse_line(b"1000,5,3,-1.2", &cols), Ok((1000, 3, -12)));
        assert!(parse_line(b"1000,5,3", &cols).is_err());
        assert!(parse_line(b"1000,5,3,x", &cols).is_err());
        assert!(Columns::from_header(b"ts,room,temp").is_err());
    }
}
