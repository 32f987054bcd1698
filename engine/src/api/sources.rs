//! Source constructors on [`Dataflow`]: generated, live and (with the CSV reader) file input.

use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use crate::api::stream::{Data, RillStream};
use crate::csv::{CsvFileReader, CsvRecord};
use crate::operators::generator::GeneratorReader;
use crate::operators::live::LiveInput;
use crate::operators::source::{SourceOptions, source};
use crate::runtime::Dataflow;
use crate::time::Event;

impl<'s> Dataflow<'s> {
    /// A source of `total` generated events: `fill(range, out)` appends events `range` (a pure
    /// function of the index). Every worker generates its own interleaved share.
    pub fn generator_source<T, G>(&self, name: &str, total: u64, options: SourceOptions, fill: G) -> RillStream<'s, T>
    where
        T: Data + Event,
        G: FnMut(Range<u64>, &mut Vec<T>) + Clone + 'static,
    {
        source(self, name, options, |worker, workers| Ok(GeneratorReader::new(fill, total, worker, workers)))
    }

    /// Like [`Dataflow::generator_source`], open-loop: event `i` is released at
    /// `start + i / events_per_sec` (all workers together offer `events_per_sec`).
    pub fn generator_source_at_rate<T, G>(
        &self,
        name: &str,
        total: u64,
        events_per_sec: u64,
        start: Instant,
        options: SourceOptions,
        fill: G,
    ) -> RillStream<'s, T>
    where
        T: Data + Event,
        G: FnMut(Range<u64>, &mut Vec<T>) + Clone + 'static,
    {
        source(self, name, options, |worker, workers| {
            Ok(GeneratorReader::new(fill, total, worker, workers).with_rate(events_per_sec, start))
        })
    }

    /// A source fed from outside the job through `input` (see [`LiveInput`]).
    pub fn live_source<T: Data + Event>(
        &self,
        name: &str,
        input: &LiveInput<T>,
        options: SourceOptions,
    ) -> RillStream<'s, T> {
        source(self, name, options, |worker, _| input.reader(worker))
    }

    /// A source reading the CSV file at `path` (with a header naming `T`'s columns); the file
    /// is split into interleaved chunks read by all workers in parallel. A malformed row fails
    /// the job with an error naming the file, line and column.
    pub fn csv_source<T>(&self, name: &str, path: impl AsRef<Path>, options: SourceOptions) -> RillStream<'s, T>
    where
        T: Data + Event + CsvRecord,
    {
        let path = path.as_ref().to_owned();
        source(self, name, options, move |worker, workers| CsvFileReader::<T>::open(&path, worker, workers))
    }
}
