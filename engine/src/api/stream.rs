//! The stream API: `key_by`, `window`, `aggregate` / `reduce` / `count`, as in Flink's
//! DataStream API, as extension traits on timely streams of `Vec<D>` at [`Time`].
//!
//! ```
//! use rill::api::aggregate::{Count, Max};
//! use rill::api::stream::StreamExt;
//! use rill::operators::source::SourceOptions;
//! use rill::time::window::WindowSpec;
//! use rill::{Event, EventTime, JobConfig};
//!
//! #[derive(Clone, serde::Serialize, serde::Deserialize)]
//! struct Reading { ts: u64, room: u32, temp: i32 }
//! impl Event for Reading { fn event_time(&self) -> EventTime { EventTime(self.ts) } }
//!
//! let out = rill::execute(JobConfig::with_workers(2), |df| {
//!     let readings = df.generator_source("readings", 10_000, SourceOptions::default(), |range, out| {
//!         out.extend(range.map(|i| Reading { ts: i, room: (i % 7) as u32, temp: (i % 30) as i32 }))
//!     });
//!     let windows = readings
//!         .key_by(df, |r: &Reading| r.room)
//!         .window(WindowSpec::tumbling(1_000))
//!         .aggregate("per-room", (Count, Max::of(|r: &Reading| r.temp)));
//!     windows.results.capture_into_vec()
//! })
//! .unwrap();
//! let rows: usize = out.results.iter().map(|c| c.lock().unwrap().len()).sum();
//! assert_eq!(rows, 7 * 10); // 7 rooms, 10 windows of 1 000 ms
//! ```

use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::Operator;

use crate::api::aggregate::{AggregateFunction, Count, Reduce};
use crate::operators::window::{WindowResult, window_aggregate};
use crate::runtime::Dataflow;
use crate::state::Key;
use crate::time::window::WindowSpec;
use crate::time::{Event, Time};

/// Records that can flow through Rill's keyed operators (exchanged between workers).
pub trait Data: Clone + Send + Serialize + DeserializeOwned + 'static {}
impl<T: Clone + Send + Serialize + DeserializeOwned + 'static> Data for T {}

/// A Rill stream: batches of `D` at [`Time`].
pub type RillStream<'s, D> = Stream<'s, Time, Vec<D>>;

/// Stream API entry points on a Rill stream.
pub trait StreamExt<'s, D: Data> {
    /// Partitions the stream by `key`: records with equal keys meet on one worker (the owner
    /// of the key's key group).
    fn key_by<K: Key, F: Fn(&D) -> K + Clone + 'static>(self, df: &Dataflow<'s>, key: F) -> KeyedStream<'s, D, K, F>;

    /// Collects the records into one vector per worker (for tests and examples).
    fn capture_into_vec(self) -> Arc<Mutex<Vec<D>>>;
}

impl<'s, D: Data> StreamExt<'s, D> for RillStream<'s, D> {
    fn key_by<K: Key, F: Fn(&D) -> K + Clone + 'static>(self, df: &Dataflow<'s>, key: F) -> KeyedStream<'s, D, K, F> {
        KeyedStream { stream: self, key, df: df.clone(), _k: std::marker::PhantomData }
    }

    fn capture_into_vec(self) -> Arc<Mutex<Vec<D>>> {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&out);
        self.sink(Pipeline, "CaptureVec", move |(input, _frontier)| {
            input.for_each_stamp(|_, data| {
                let mut sink = sink.lock().expect("capture lock");
                for batch in data {
                    sink.append(batch);
                }
            });
        });
        out
    }
}

/// A stream partitioned by key.
pub struct KeyedStream<'s, D, K, F> {
    stream: RillStream<'s, D>,
    key: F,
    df: Dataflow<'s>,
    _k: std::marker::PhantomData<K>,
}

impl<'s, D: Data + Event, K: Key, F: Fn(&D) -> K + Clone + 'static> KeyedStream<'s, D, K, F> {
    /// Groups each key's records into event-time windows.
    pub fn window(self, spec: WindowSpec) -> WindowedStream<'s, D, K, F> {
        WindowedStream { keyed: self, spec, allowed_lateness_ms: 0 }
    }

    /// The underlying stream, its key function and the dataflow context (for operators
    /// built elsewhere, such as process functions).
    pub fn into_parts(self) -> (RillStream<'s, D>, F, Dataflow<'s>) {
        (self.stream, self.key, self.df)
    }
}

/// A keyed stream with a window assigner, waiting for its aggregation.
pub struct WindowedStream<'s, D, K, F> {
    keyed: KeyedStream<'s, D, K, F>,
    spec: WindowSpec,
    allowed_lateness_ms: u64,
}

/// What a window aggregation produces: the results and the records too late for any window.
pub struct WindowOutput<'s, K, O, D> {
    /// One row per key and window (and again for each update within the allowed lateness).
    pub results: RillStream<'s, WindowResult<K, O>>,
    /// Records late for every window they belong to.
    pub late: RillStream<'s, D>,
}

impl<'s, D: Data + Event, K: Key, F: Fn(&D) -> K + Clone + 'static> WindowedStream<'s, D, K, F> {
    /// Keeps windows updatable for `ms` after they fire: a record arriving that late still
    /// counts, and the window's updated result is emitted again.
    pub fn allowed_lateness(mut self, ms: u64) -> Self {
        self.allowed_lateness_ms = ms;
        self
    }

    /// Aggregates each key's windows incrementally with `agg`; the operator is named `name`.
    ///
    /// # Panics
    /// If the window spec is invalid (see [`WindowSpec::validate`]).
    pub fn aggregate<A: AggregateFunction<D>>(self, name: &str, agg: A) -> WindowOutput<'s, K, A::Out, D> {
        if let Err(e) = self.spec.validate() {
            panic!("window `{name}`: {e}");
        }
        let KeyedStream { stream, key, df, .. } = self.keyed;
        let (results, late) = window_aggregate(stream, &df, name, key, self.spec, self.allowed_lateness_ms, agg);
        WindowOutput { results, late }
    }

    /// Reduces each key's windows with `f(accumulated, next)`.
    pub fn reduce<R: Fn(&D, &D) -> D + Clone + 'static>(self, name: &str, f: R) -> WindowOutput<'s, K, D, D> {
        self.aggregate(name, Reduce::new(f))
    }

    /// Counts each key's records per window.
    pub fn count(self, name: &str) -> WindowOutput<'s, K, u64, D> {
        self.aggregate(name, Count)
    }
}
