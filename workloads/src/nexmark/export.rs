//! [`export_csv`]: the events `0..events` of a configuration as three CSV files, `person.csv`,
//! `auction.csv` and `bid.csv`, each in event index order, each with its header line and `\n`
//! line ends.
//!
//! Chunks of [`CHUNK_EVENTS`] events are generated and formatted on up to 8 threads (worker `w`
//! of `T` takes chunks `w, w + T, ...`) and written by the calling thread in chunk order, so the
//! files are byte for byte what a sequential pass writes. Each worker has at most two chunks
//! waiting.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use rill::csv::CsvRecord;

use super::config::NexmarkConfig;
use super::generator::Nexmark;
use super::model::{Auction, Bid, NexmarkEvent, Person};
use crate::CHUNK_EVENTS;

/// One formatted chunk: the bytes of each file and the rows in each.
#[derive(Default)]
struct Chunk {
    bytes: [Vec<u8>; 3],
    rows: [u64; 3],
}

/// The three output files.
struct Outputs {
    files: [(File, PathBuf); 3],
}

impl Outputs {
    fn create(dir: &Path) -> rill::Result<Outputs> {
        let open = |name: &str, header: String| -> rill::Result<(File, PathBuf)> {
            let path = dir.join(name);
            let mut file =
                File::create(&path).map_err(|e| rill::Error::io(format!("creating {}", path.display()), e))?;
            file.write_all(format!("{header}\n").as_bytes())
                .map_err(|e| rill::Error::io(format!("writing {}", path.display()), e))?;
            Ok((file, path))
        };
        Ok(Outputs {
            files: [
                open("person.csv", Person::header())?,
                open("auction.csv", Auction::header())?,
                open("bid.csv", Bid::header())?,
            ],
        })
    }

    fn write(&mut self, chunk: &Chunk) -> rill::Result<()> {
        for ((file, path), bytes) in self.files.iter_mut().zip(&chunk.bytes) {
            file.write_all(bytes).map_err(|e| rill::Error::io(format!("writing {}", path.display()), e))?;
        }
        Ok(())
    }
}

/// Generates and formats events `range` into `chunk` (cleared first).
fn format_chunk(generator: &Nexmark, range: std::ops::Range<u64>, scratch: &mut Vec<NexmarkEvent>, chunk: &mut Chunk) {
    scratch.clear();
    generator.fill(range, scratch);
    for b in &mut chunk.bytes {
        b.clear();
    }
    chunk.rows = [0; 3];
    for e in scratch.iter() {
        let k = match e {
            NexmarkEvent::Person(p) => {
                p.write_csv(&mut chunk.bytes[0]);
                0
            }
            NexmarkEvent::Auction(a) => {
                a.write_csv(&mut chunk.bytes[1]);
                1
            }
            NexmarkEvent::Bid(b) => {
                b.write_csv(&mut chunk.bytes[2]);
                2
            }
        };
        chunk.bytes[k].push(b'\n');
        chunk.rows[k] += 1;
    }
}

/// Writes events `0..config.events` to `dir/person.csv`, `dir/auction.csv` and `dir/bid.csv`
/// (created or truncated; `dir` must exist). Returns the rows written to each, `(persons,
/// auctions, bids)`. Invalid configurations are [`rill::Error::Config`]; I/O errors name the
/// file.
pub fn export_csv(config: &NexmarkConfig, dir: &Path) -> rill::Result<(u64, u64, u64)> {
    let generator = Nexmark::new(config.clone())?;
    let mut out = Outputs::create(dir)?;
    let events = config.events;
    let chunks = events.div_ceil(CHUNK_EVENTS);
    let range = |k: u64| k * CHUNK_EVENTS..((k + 1) * CHUNK_EVENTS).min(events);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8) as u64;
    let mut rows = [0u64; 3];
    let mut count = |chunk: &Chunk| {
        for (total, n) in rows.iter_mut().zip(chunk.rows) {
            *total += n;
        }
    };
    if threads <= 1 || chunks <= 1 {
        let (mut scratch, mut chunk) = (Vec::new(), Chunk::default());
        for k in 0..chunks {
            format_chunk(&generator, range(k), &mut scratch, &mut chunk);
            out.write(&chunk)?;
            count(&chunk);
        }
    } else {
        let threads = threads.min(chunks);
        let generator = &generator;
        std::thread::scope(|scope| -> rill::Result<()> {
            let mut full = Vec::new();
            let mut empty = Vec::new();
            for w in 0..threads {
                let (full_tx, full_rx) = mpsc::sync_channel::<Chunk>(2);
                let (empty_tx, empty_rx) = mpsc::channel::<Chunk>();
                full.push(full_rx);
                empty.push(empty_tx);
                scope.spawn(move || {
                    let mut scratch = Vec::new();
                    for k in (w..chunks).step_by(threads as usize) {
                        let mut chunk = empty_rx.try_recv().unwrap_or_default();
                        format_chunk(generator, range(k), &mut scratch, &mut chunk);
                        if full_tx.send(chunk).is_err() {
                            return; // The writer stopped on an error.
                        }
                    }
                });
            }
            for k in 0..chunks {
                let w = (k % threads) as usize;
                let chunk = full[w].recv().expect("a Nexmark export worker stopped before sending its chunk");
                out.write(&chunk)?;
                count(&chunk);
                // The worker may have finished: then the chunk is simply dropped.
                let _ = empty[w].send(chunk);
            }
            Ok(())
        })?;
    }
    Ok((rows[0], rows[1], rows[2]))
}
