//! The source operator: reads batches from a [`SourceReader`], stamps them with the source's
//! watermark, and advances its capability as the watermark advances.
//!
//! Every worker runs one instance with its own reader over its own slice of the input (no
//! single-thread bottleneck). The capability is held at `(epoch, watermark)`; records keep their
//! own event times. A source whose reader reports [`ReadStatus::Pending`] for longer than the
//! strategy's idle timeout is idle: its capability then follows the least watermark of the
//! job's active sources, so an idle partition does not stall windows forever.

use crate::error::Result;
use crate::time::Event;

/// What a [`SourceReader::read`] call found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStatus {
    /// Records may have been appended and more may follow at once.
    Ready,
    /// Nothing is available now, but the input has not ended (a live source).
    Pending,
    /// The input has ended; no record will follow.
    Done,
}

/// One worker's slice of a source's input.
pub trait SourceReader: 'static {
    /// The records it produces.
    type Item: Event + Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static;

    /// Appends up to `max` records to `out`. An error (malformed input, I/O) fails the job.
    fn read(&mut self, out: &mut Vec<Self::Item>, max: usize) -> Result<ReadStatus>;

    /// The reader's position (records or bytes consumed), recorded in checkpoints.
    fn position(&self) -> u64;
}
