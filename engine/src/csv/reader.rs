//! The CSV file reader: one worker's share of a CSV file, parsed in place.
//!
//! # Chunking
//!
//! Everything after the header line is cut into fixed-size chunks of [`CHUNK_SIZE`] bytes
//! (the last one shorter). Chunk `k` belongs to worker `k % workers`: the chunks are
//! interleaved, not contiguous ranges, so that every worker advances through the file (and so
//! through event time, for files written in time order) at the same pace, which keeps the
//! watermarks of the job's sources close together.
//!
//! A row belongs to the chunk in which it *starts*, and may end in a later chunk. A reader
//! entering a chunk that starts mid-file looks at the byte just before the chunk: if it is a
//! `\n`, the chunk starts on a row; otherwise the reader skips to just after the first `\n`
//! at or after the chunk's start. Rows are read until one starts at or past the chunk's end.
//! Every row of the file is therefore read by exactly one worker, for any number of workers.
//!
//! # Reading
//!
//! Reads are large positioned reads (`pread`) into one reusable buffer of [`BUF_SIZE`] bytes,
//! bounded by the chunk's end (plus small reads past it to finish the chunk's last row). Rows
//! are found with `memchr` and parsed in place with [`CsvRow`]: no allocation per row. Lines
//! end with `\n` or `\r\n`; a field cannot span lines. An empty line is an error, except the
//! last line of the file (a trailing empty line is ignored). A UTF-8 byte-order mark before
//! the header is ignored.
//!
//! [`SourceReader::position`] is the number of bytes of rows (with their line ends) this reader
//! has consumed. Since a worker's chunks and rows come in a fixed order, a reader reopened with
//! the same worker count could resume by skipping that many bytes of rows.
//!
//! # Errors
//!
//! A malformed row is an [`Error::Csv`] naming the file, the 1-based line (the header is line 1;
//! computed only on error, by counting line ends up to the row), the column and its name.
//! Any input bytes give either records or an error, never a panic.

use std::fs::File;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use super::{CsvRecord, CsvRow, FieldError};
use crate::error::{Error, Result};
use crate::operators::source::{ReadStatus, SourceReader};
use crate::time::Event;

/// Bytes per chunk of the file assigned to one worker (4 MiB): large enough that switching
/// chunks costs nothing, small enough that workers stay close to each other in the file.
pub const CHUNK_SIZE: u64 = 4 << 20;

/// Size of the reader's buffer (1 MiB). It grows only to hold a single row longer than this.
pub const BUF_SIZE: usize = 1 << 20;

/// Bytes of the file searched for the header line's end.
const HEADER_PROBE: usize = 64 << 10;

/// A UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One worker's share of a CSV file of `R` records; see the [module docs](self).
pub struct CsvFileReader<R> {
    path: PathBuf,
    file: File,
    /// Storage; the unparsed bytes are `buf[lo..hi]`, at file offset `buf_off + lo`.
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    /// File offset of `buf[0]`.
    buf_off: u64,
    /// File offset of the next byte to read (`buf_off + hi`).
    next_read: u64,
    /// Rows starting at or after this offset belong to a later chunk.
    chunk_end: u64,
    /// File offset of the current chunk's first row.
    chunk_first_row: u64,
    /// Index of this worker's next chunk.
    next_chunk: u64,
    workers: u64,
    chunk_size: u64,
    /// Offset of the first byte after the header line.
    data_start: u64,
    file_len: u64,
    /// Bytes of rows (with their line ends) of the chunks already finished.
    consumed_before: u64,
    /// Bytes read past a chunk's end at a time, to finish its last row.
    spill: usize,
    done: bool,
    /// Scratch: buffer offsets of the `\n`s ending the lines [`parse_rows`](Self::parse_rows)
    /// parses next.
    line_ends: Vec<usize>,
    /// What earlier runs with other worker counts read (see [`CsvLayer`]); empty unless the
    /// job was rescaled.
    layers: Vec<CsvLayer>,
    _record: PhantomData<fn() -> R>,
}

/// What one earlier run read: for each of its workers `(chunk, offset of its next row, done)`;
/// chunks of that worker before `chunk` were read whole, `chunk` up to the offset.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CsvLayer {
    workers: Vec<(u64, u64, bool)>,
}

impl CsvLayer {
    /// The file offset up to which this layer read the rows of chunk `c` spanning
    /// `[start, end)`: `end` if whole, `start` if not at all.
    fn read_up_to(&self, c: u64, start: u64, end: u64) -> u64 {
        let (k, o, done) = self.workers[(c % self.workers.len() as u64) as usize];
        if done || c < k {
            end
        } else if c == k {
            o.clamp(start, end)
        } else {
            start
        }
    }

    fn encode(&self, out: &mut Vec<u64>) {
        out.push(self.workers.len() as u64);
        for &(k, o, d) in &self.workers {
            out.extend_from_slice(&[k, o, u64::from(d)]);
        }
    }

    fn decode(pos: &mut &[u64]) -> Option<CsvLayer> {
        let (&n, rest) = pos.split_first()?;
        let n = usize::try_from(n).ok().filter(|&n| n > 0 && n * 3 <= rest.len())?;
        let workers = rest[..n * 3].chunks(3).map(|w| (w[0], w[1], w[2] != 0)).collect();
        *pos = &rest[n * 3..];
        Some(CsvLayer { workers })
    }
}

impl<R> std::fmt::Debug for CsvFileReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvFileReader")
            .field("path", &self.path)
            .field("next_chunk", &self.next_chunk)
            .field("workers", &self.workers)
            .field("position", &self.consumed())
            .field("done", &self.done)
            .finish()
    }
}

impl<R> CsvFileReader<R> {
    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of rows (with their line ends) this reader has consumed.
    fn consumed(&self) -> u64 {
        self.consumed_before + (self.buf_off + self.lo as u64).saturating_sub(self.chunk_first_row)
    }
}

impl<R: CsvRecord> CsvFileReader<R> {
    /// Opens `path`, checks its header against [`CsvRecord::header`], and prepares to read the
    /// chunks of worker `worker` out of `workers`.
    pub fn open(path: &Path, worker: usize, workers: usize) -> Result<Self> {
        Self::open_with_chunk_size(path, worker, workers, CHUNK_SIZE)
    }

    /// Like [`open`](Self::open) with chunks of `chunk_size` bytes (at least 1); tiny chunks
    /// exercise rows straddling chunk boundaries.
    pub fn open_with_chunk_size(path: &Path, worker: usize, workers: usize, chunk_size: u64) -> Result<Self> {
        if workers == 0 || worker >= workers {
            return Err(Error::Config(format!("CSV reader for worker {worker} of {workers} workers")));
        }
        if chunk_size == 0 {
            return Err(Error::Config("CSV reader chunk size must be at least 1 byte".into()));
        }
        let io_err = |e| Error::io(format!("reading {}", path.display()), e);
        let file = File::open(path).map_err(io_err)?;
        let file_len = file.metadata().map_err(io_err)?.len();

        let probe_len = usize::try_from(file_len).unwrap_or(usize::MAX).min(HEADER_PROBE);
        let mut probe = vec![0u8; probe_len];
        read_exact_at(&file, &mut probe, 0).map_err(io_err)?;
        let (line, data_start) = match memchr::memchr(b'\n', &probe) {
            Some(i) => (&probe[..i], i as u64 + 1),
            None if file_len as usize == probe_len => (&probe[..], file_len),
            None => (&probe[..], u64::MAX),
        };
        let line = line.strip_prefix(BOM).unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let expected = R::header();
        if line != expected.as_bytes() || data_start == u64::MAX {
            return Err(Error::CsvHeader {
                path: path.to_owned(),
                expected,
                found: String::from_utf8_lossy(line).into_owned(),
            });
        }

        let buf_len = usize::try_from((file_len - data_start).min(chunk_size.saturating_add(1)))
            .unwrap_or(BUF_SIZE)
            .clamp(64, BUF_SIZE);
        let mut reader = CsvFileReader {
            path: path.to_owned(),
            file,
            buf: vec![0; buf_len],
            lo: 0,
            hi: 0,
            buf_off: data_start,
            next_read: data_start,
            chunk_end: data_start,
            chunk_first_row: data_start,
            next_chunk: worker as u64,
            workers: workers as u64,
            chunk_size,
            data_start,
            file_len,
            consumed_before: 0,
            spill: usize::try_from(chunk_size).unwrap_or(usize::MAX).clamp(256, 64 << 10),
            done: false,
            line_ends: Vec::new(),
            layers: Vec::new(),
            _record: PhantomData,
        };
        reader.start_next_chunk()?;
        Ok(reader)
    }

    fn io_error(&self, e: std::io::Error) -> Error {
        Error::io(format!("reading {}", self.path.display()), e)
    }

    /// Closes the current chunk and positions the reader on the first row of its next chunk
    /// that holds the start of a row, or marks it done.
    fn start_next_chunk(&mut self) -> Result<()> {
        self.consumed_before = self.consumed();
        loop {
            let k = self.next_chunk;
            self.next_chunk = k.saturating_add(self.workers);
            let start = k.checked_mul(self.chunk_size).and_then(|o| o.checked_add(self.data_start));
            let Some(start) = start.filter(|&s| s < self.file_len) else {
                self.done = true;
                self.reset_buffer(self.file_len);
                self.chunk_first_row = self.file_len;
                return Ok(());
            };
            self.chunk_end = start.saturating_add(self.chunk_size).min(self.file_len);
            // After a rescale: skip what an earlier layout read of this chunk.
            let read = self.layers.iter().map(|l| l.read_up_to(k, start, self.chunk_end)).max().unwrap_or(start);
            if read >= self.chunk_end {
                continue;
            }
            if read > start {
                // An earlier reader stopped at a row start inside this chunk.
                self.reset_buffer(read);
                self.chunk_first_row = read;
                return Ok(());
            }
            if start == self.data_start {
                self.reset_buffer(start);
                self.chunk_first_row = start;
                return Ok(());
            }
            // The first row starts after the first `\n` at or after `start - 1`; it belongs to
            // this chunk only if that `\n` lies before `chunk_end - 1`.
            self.reset_buffer(start - 1);
            if let Some(row) = self.find_row_start()? {
                self.chunk_first_row = row;
                return Ok(());
            }
        }
    }

    /// Empties the buffer and places it at file offset `offset`.
    fn reset_buffer(&mut self, offset: u64) {
        self.lo = 0;
        self.hi = 0;
        self.buf_off = offset;
        self.next_read = offset;
    }

    /// Scans from the buffer's offset for a `\n` before `chunk_end - 1`; positions the buffer
    /// just after it and returns that offset, or `None` when the chunk holds no row start.
    fn find_row_start(&mut self) -> Result<Option<u64>> {
        let scan_end = self.chunk_end - 1;
        loop {
            let limit = usize::try_from(scan_end.saturating_sub(self.buf_off)).unwrap_or(usize::MAX).min(self.hi);
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.lo..limit.max(self.lo)]) {
                self.lo += i + 1;
                return Ok(Some(self.buf_off + self.lo as u64));
            }
            if self.next_read >= scan_end {
                return Ok(None);
            }
            self.lo = self.hi;
            self.refill(scan_end)?;
        }
    }

    /// Keeps the unparsed bytes, moved to the front, and reads more, up to file offset
    /// `want_end` (at least one byte; the caller checks `next_read < want_end <= file_len`).
    fn refill(&mut self, want_end: u64) -> Result<()> {
        if self.lo > 0 {
            self.buf.copy_within(self.lo..self.hi, 0);
            self.buf_off += self.lo as u64;
            self.hi -= self.lo;
            self.lo = 0;
        }
        if self.hi == self.buf.len() {
            let grown = (self.buf.len() * 2).max(BUF_SIZE.min(self.buf.len() * 16));
            self.buf.resize(grown, 0);
        }
        let room = self.buf.len() - self.hi;
        let n = usize::try_from(want_end - self.next_read).unwrap_or(usize::MAX).min(room);
        read_exact_at(&self.file, &mut self.buf[self.hi..self.hi + n], self.next_read).map_err(|e| self.io_error(e))?;
        self.hi += n;
        self.next_read += n as u64;
        Ok(())
    }

    /// Parses the complete lines in the buffer that start in the current chunk, up to `max`.
    ///
    /// The lines are first found (their ends kept in `line_ends`), then checked to be UTF-8 in
    /// one pass over all of them, then parsed: text fields of valid lines are not validated
    /// again. If the block is not UTF-8, or the record reads no text
    /// ([`CsvRecord::READS_TEXT`]), its rows are parsed from bytes and any text field read is
    /// validated on its own, the first bad one reported as usual.
    #[inline]
    fn parse_rows(&mut self, out: &mut Vec<R>, max: usize) -> Result<usize> {
        let buf = &self.buf[..self.hi];
        let limit = usize::try_from(self.chunk_end.saturating_sub(self.buf_off)).unwrap_or(usize::MAX).min(self.hi);
        let start = self.lo;
        self.line_ends.clear();
        if start < limit {
            for i in memchr::memchr_iter(b'\n', &buf[start..]) {
                let end = start + i;
                self.line_ends.push(end);
                if self.line_ends.len() >= max || end + 1 >= limit {
                    break;
                }
            }
        }
        let block_end = self.line_ends.last().map_or(start, |&e| e + 1);
        let text = if R::READS_TEXT { std::str::from_utf8(&buf[start..block_end]).ok() } else { None };
        let mut lo = start;
        let mut n = 0;
        for &end in &self.line_ends {
            // Lines end at `\n`, an ASCII byte: each line of valid text is a slice of it.
            let line = text.and_then(|t| t.get(lo - start..end - start));
            let mut row = match line {
                Some(l) => CsvRow::from_text(l.strip_suffix('\r').unwrap_or(l)),
                None => {
                    let l = &buf[lo..end];
                    CsvRow::new(l.strip_suffix(b"\r").unwrap_or(l))
                }
            };
            if row.is_empty_line() {
                // Only the file's last line may be empty.
                if self.buf_off + end as u64 + 1 != self.file_len {
                    self.lo = lo;
                    return Err(self.row_error(empty_line()));
                }
            } else {
                match R::parse_csv(&mut row) {
                    Ok(r) => out.push(r),
                    Err(e) => {
                        self.lo = lo;
                        return Err(self.row_error(e));
                    }
                }
                n += 1;
            }
            lo = end + 1;
        }
        self.lo = lo;
        Ok(n)
    }

    /// The error for the row at the buffer's position.
    #[cold]
    fn row_error(&self, e: FieldError) -> Error {
        let offset = self.buf_off + self.lo as u64;
        let line = match count_newlines(&self.file, offset) {
            Ok(n) => n + 1,
            Err(e) => return self.io_error(e),
        };
        let FieldError { column, message } = e;
        let field = match column.checked_sub(1).and_then(|i| R::COLUMNS.get(i)) {
            Some(name) => (*name).to_owned(),
            None => "extra field".to_owned(),
        };
        Error::Csv { path: self.path.clone(), line, column, field, message }
    }
}

impl<R> SourceReader for CsvFileReader<R>
where
    R: CsvRecord + Event + Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    type Item = R;

    fn read(&mut self, out: &mut Vec<R>, max: usize) -> Result<ReadStatus> {
        let mut n = 0;
        while n < max && !self.done {
            n += self.parse_rows(out, max - n)?;
            if n >= max {
                break;
            }
            if self.buf_off + self.lo as u64 >= self.chunk_end {
                self.start_next_chunk()?;
            } else if self.next_read >= self.file_len {
                // The file's last line has no line end.
                let line = &self.buf[self.lo..self.hi];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !line.is_empty() {
                    match R::parse_csv(&mut CsvRow::new(line)) {
                        Ok(r) => out.push(r),
                        Err(e) => return Err(self.row_error(e)),
                    }
                    n += 1;
                }
                self.lo = self.hi;
                self.start_next_chunk()?;
            } else {
                let want_end = if self.next_read < self.chunk_end {
                    self.chunk_end
                } else {
                    self.next_read.saturating_add(self.spill as u64).min(self.file_len)
                };
                self.refill(want_end)?;
            }
        }
        Ok(if self.done { ReadStatus::Done } else { ReadStatus::Ready })
    }

    fn position(&self) -> u64 {
        self.consumed()
    }

    /// `[chunk, offset of the next row, done, bytes consumed, layers...]`.
    fn checkpoint(&self) -> Vec<u64> {
        let chunk = self.next_chunk.saturating_sub(self.workers);
        let mut out = vec![chunk, self.buf_off + self.lo as u64, u64::from(self.done), self.consumed()];
        out.push(self.layers.len() as u64);
        for l in &self.layers {
            l.encode(&mut out);
        }
        out
    }

    fn restore(&mut self, source: &crate::snapshot::SourceCheckpoint, worker: usize, workers: usize) -> Result<()> {
        let bad = || Error::Config(format!("{}: malformed CSV source checkpoint", self.path.display()));
        let mut instances = Vec::with_capacity(source.instances.len());
        let mut layers: Vec<CsvLayer> = Vec::new();
        for inst in &source.instances {
            let p = &inst.position;
            if p.len() < 5 {
                return Err(bad());
            }
            instances.push((p[0], p[1], p[2] != 0, p[3]));
            let mut rest = &p[5..];
            for _ in 0..p[4] {
                let l = CsvLayer::decode(&mut rest).ok_or_else(bad)?;
                if !layers.contains(&l) {
                    layers.push(l);
                }
            }
        }
        if instances.len() != source.workers as usize || instances.is_empty() {
            return Err(bad());
        }
        if instances.len() == workers {
            // Same layout: resume this worker's own chunk at its next row.
            let (chunk, offset, done, consumed) = instances[worker];
            self.layers = layers;
            self.consumed_before = consumed;
            if done || offset >= self.file_len {
                self.done = true;
                self.reset_buffer(self.file_len);
                self.chunk_first_row = self.file_len;
                return Ok(());
            }
            let start =
                chunk.checked_mul(self.chunk_size).and_then(|o| o.checked_add(self.data_start)).ok_or_else(bad)?;
            self.next_chunk = chunk.saturating_add(self.workers);
            self.chunk_end = start.saturating_add(self.chunk_size).min(self.file_len);
            self.reset_buffer(offset);
            self.chunk_first_row = offset;
            self.done = false;
            if offset >= self.chunk_end {
                self.start_next_chunk()?;
            }
            return Ok(());
        }
        layers.push(CsvLayer { workers: instances.iter().map(|&(k, o, d, _)| (k, o, d)).collect() });
        self.layers = layers;
        self.next_chunk = worker as u64;
        self.consumed_before = 0;
        self.chunk_first_row = self.data_start;
        self.reset_buffer(self.data_start);
        self.done = false;
        self.start_next_chunk()?;
        self.consumed_before = 0;
        Ok(())
    }
}

/// The error for an empty line in the middle of a file.
#[cold]
fn empty_line() -> FieldError {
    FieldError { column: 1, message: "empty line".to_owned() }
}

/// Number of `\n` bytes in `file` before `offset`.
#[cold]
fn count_newlines(file: &File, offset: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 16];
    let mut pos = 0u64;
    let mut count = 0u64;
    while pos < offset {
        let n = usize::try_from(offset - pos).unwrap_or(usize::MAX).min(buf.len());
        read_exact_at(file, &mut buf[..n], pos)?;
        count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        pos += n as u64;
    }
    Ok(count)
}

/// Fills `buf` from `file` at `offset`; a file that shrank is an `UnexpectedEof` error.
#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from `file` at `offset`; a file that shrank is an `UnexpectedEof` error.
#[cfg(not(unix))]
fn read_exact_at(mut file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}
