//! CSV export: any [`CsvRecord`] iterator to a file, and any [`Generator`] to a file in
//! parallel.
//!
//! Files have a header line, `\n` line ends, and are written in large blocks. The parallel
//! export cuts `0..events` into chunks of [`CHUNK_EVENTS`]; worker `w` of `T` formats chunks
//! `w, w + T, ...` into byte buffers and the calling thread writes them in chunk order, so the
//! file is byte-for-byte what a sequential loop writes (each event depends on its index only).
//! Memory stays bounded: each worker has at most two finished buffers waiting.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;

use rill::csv::CsvRecord;

use crate::Generator;

/// Events per chunk of the parallel export.
pub const CHUNK_EVENTS: u64 = 1 << 16;

/// Bytes buffered before a write.
const WRITE_BLOCK: usize = 1 << 20;

fn create(path: &Path) -> rill::Result<File> {
    File::create(path).map_err(|e| rill::Error::io(format!("creating {}", path.display()), e))
}

fn write_block(file: &mut File, path: &Path, bytes: &[u8]) -> rill::Result<()> {
    file.write_all(bytes).map_err(|e| rill::Error::io(format!("writing {}", path.display()), e))
}

fn header<R: CsvRecord>() -> Vec<u8> {
    let mut h = R::header().into_bytes();
    h.push(b'\n');
    h
}

/// Writes `records` to the CSV file `path` (created or truncated): the header line, then one
/// line per record, `\n` line ends. Returns the number of records written; I/O errors name the
/// path.
pub fn write_csv<R: CsvRecord>(path: &Path, records: impl Iterator<Item = R>) -> rill::Result<u64> {
    let mut file = create(path)?;
    let mut buf = header::<R>();
    buf.reserve(WRITE_BLOCK + 4096);
    let mut rows = 0;
    for r in records {
        r.write_csv(&mut buf);
        buf.push(b'\n');
        rows += 1;
        if buf.len() >= WRITE_BLOCK {
            write_block(&mut file, path, &buf)?;
            buf.clear();
        }
    }
    write_block(&mut file, path, &buf)?;
    Ok(rows)
}

/// Formats events `range` of `generator`, one line each, into `buf` (cleared first).
fn format_chunk<G: Generator>(
    generator: &G,
    range: std::ops::Range<u64>,
    scratch: &mut Vec<G::Event>,
    buf: &mut Vec<u8>,
) where
    G::Event: CsvRecord,
{
    scratch.clear();
    generator.fill(range, scratch);
    buf.clear();
    for e in scratch.iter() {
        e.write_csv(buf);
        buf.push(b'\n');
    }
}

/// Writes events `0..generator.events()` to the CSV file `path` (header included), formatting
/// chunks on up to 8 threads; the output equals [`write_csv`] of the events in order. Returns
/// the number of rows written.
pub fn export_generated<G: Generator>(generator: &G, path: &Path) -> rill::Result<u64>
where
    G::Event: CsvRecord + Send,
{
    let events = generator.events();
    let chunks = events.div_ceil(CHUNK_EVENTS);
    let chunk = |k: u64| k * CHUNK_EVENTS..((k + 1) * CHUNK_EVENTS).min(events);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8) as u64;
    let mut file = create(path)?;
    write_block(&mut file, path, &header::<G::Event>())?;
    if threads <= 1 || chunks <= 1 {
        let (mut scratch, mut buf) = (Vec::new(), Vec::new());
        for k in 0..chunks {
            format_chunk(generator, chunk(k), &mut scratch, &mut buf);
            write_block(&mut file, path, &buf)?;
        }
        return Ok(events);
    }
    let threads = threads.min(chunks);
    std::thread::scope(|scope| {
        let mut full = Vec::new();
        let mut empty = Vec::new();
        for w in 0..threads {
            let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(2);
            let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
            full.push(full_rx);
            empty.push(empty_tx);
            scope.spawn(move || {
                let mut scratch = Vec::new();
                for k in (w..chunks).step_by(threads as usize) {
                    let mut buf = empty_rx.try_recv().unwrap_or_default();
                    format_chunk(generator, chunk(k), &mut scratch, &mut buf);
                    if full_tx.send(buf).is_err() {
                        return; // The writer stopped on an error.
                    }
                }
            });
        }
        for k in 0..chunks {
            let w = (k % threads) as usize;
            let buf = full[w].recv().expect("an export worker stopped before sending its chunk");
            write_block(&mut file, path, &buf)?;
            // The worker may have finished: then the buffer is simply dropped.
            let _ = empty[w].send(buf);
        }
        Ok(events)
    })
}
