//! Savepoints through the library API: a keyed process job stops with a savepoint; the same job
//! resumed from it ends with the output of an uninterrupted run; a job whose state changed type
//! is refused with an error naming the operator and the state; a job with an extra state starts
//! that state empty.

use std::path::Path;
use std::time::Duration;

use rill::operators::source::SourceOptions;
use rill::process::{KeyedProcessFunction, ProcessContext, ProcessKeyed};
use rill::snapshot::{CheckpointConfig, RestoreFrom};
use rill::state::{StateRegistry, ValueState};
use rill::{Error, Event, EventTime, JobConfig, execute};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Ev {
    key: u64,
    ts: u64,
}

impl Event for Ev {
    fn event_time(&self) -> EventTime {
        EventTime(self.ts)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Row {
    key: u64,
    count: u64,
}

impl rill::csv::CsvRecord for Row {
    const COLUMNS: &'static [&'static str] = &["key", "count"];
    fn write_csv(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{},{}", self.key, self.count).as_bytes());
    }
    fn parse_csv(row: &mut rill::csv::CsvRow<'_>) -> Result<Self, rill::csv::FieldError> {
        let r = Row { key: row.u64()?, count: row.u64()? };
        row.finish()?;
        Ok(r)
    }
}

/// Counts events per key and emits the running count every 100th event of a key.
struct Counter<T> {
    count: ValueState<T>,
    extra: Option<ValueState<u64>>,
}

impl KeyedProcessFunction<u64, Ev> for Counter<u64> {
    type Out = Row;
    type Side = ();
    fn open(&mut self, state: &mut StateRegistry<'_, u64>) {
        self.count = state.value("count");
        if self.extra.is_some() {
            self.extra = Some(state.value("extra"));
        }
    }
    fn process_element(&mut self, _ev: &Ev, ctx: &mut ProcessContext<'_, u64, Row, ()>) {
        let c = ctx.value_or_insert_with(&self.count, || 0);
        *c += 1;
        let c = *c;
        if c.is_multiple_of(100) {
            let key = *ctx.key();
            ctx.emit(Row { key, count: c });
        }
    }
}

/// The same operator name and state name, with the count held as a string.
struct StringCounter {
    count: ValueState<String>,
}

impl KeyedProcessFunction<u64, Ev> for StringCounter {
    type Out = Row;
    type Side = ();
    fn open(&mut self, state: &mut StateRegistry<'_, u64>) {
        self.count = state.value("count");
    }
    fn process_element(&mut self, _ev: &Ev, ctx: &mut ProcessContext<'_, u64, Row, ()>) {
        ctx.set_value(&self.count, "x".to_owned());
    }
}

const EVENTS: u64 = 400_000;

fn fill(r: std::ops::Range<u64>, out: &mut Vec<Ev>) {
    out.extend(r.map(|i| Ev { key: i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 97, ts: i / 10 }));
}

fn config(workers: usize, checkpoint: Option<CheckpointConfig>) -> JobConfig {
    JobConfig { workers, checkpoint, ..JobConfig::default() }
}

fn run_counter(workers: usize, checkpoint: Option<CheckpointConfig>, out: &Path, extra: bool) -> rill::Result<()> {
    let out = out.to_owned();
    execute(config(workers, checkpoint), move |df| {
        let input = df.generator_source("events", EVENTS, SourceOptions::default(), fill);
        let counter = Counter::<u64> { count: ValueState::default(), extra: extra.then(ValueState::default) };
        let o = input.process_keyed(df, "counter", |e: &Ev| e.key, counter);
        rill::Sink::sink_csv(o.output, df, &out);
    })
    .map(|_| ())
}

fn sorted_rows(p: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(p).expect("output");
    let mut rows: Vec<String> = text.lines().skip(1).map(str::to_owned).collect();
    rows.sort();
    rows
}

fn savepoint_config(sp: &Path) -> CheckpointConfig {
    CheckpointConfig {
        savepoint_at_event: Some(EVENTS / 3),
        savepoint_dir: Some(sp.to_owned()),
        interval: Duration::from_millis(20),
        ..CheckpointConfig::default()
    }
}

fn from_savepoint(sp: &Path) -> CheckpointConfig {
    CheckpointConfig { restore: RestoreFrom::Savepoint(sp.to_owned()), ..CheckpointConfig::default() }
}

#[test]
fn a_keyed_job_resumed_from_a_savepoint_ends_like_an_uninterrupted_one_on_1_2_and_4_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reference = dir.path().join("reference.csv");
    run_counter(1, None, &reference, false).expect("reference run");
    let expected = sorted_rows(&reference);
    assert!(expected.len() > 1000, "too little output: {}", expected.len());
    for (stop_workers, resume_workers) in [(1, 1), (2, 4), (4, 2)] {
        let sp = dir.path().join(format!("sp-{stop_workers}-{resume_workers}"));
        let out = dir.path().join(format!("out-{stop_workers}-{resume_workers}.csv"));
        run_counter(stop_workers, Some(savepoint_config(&sp)), &out, false).expect("run to the savepoint");
        let prefix = sorted_rows(&out).len();
        assert!(prefix > 0 && prefix < expected.len(), "the cut kept {prefix} of {} rows", expected.len());
        run_counter(resume_workers, Some(from_savepoint(&sp)), &out, false).expect("resume");
        assert_eq!(sorted_rows(&out), expected, "stopped on {stop_workers}, resumed on {resume_workers} workers");
    }
}

#[test]
fn a_changed_state_type_is_refused_and_a_new_state_starts_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sp = dir.path().join("sp");
    let out = dir.path().join("out.csv");
    run_counter(2, Some(savepoint_config(&sp)), &out, false).expect("run to the savepoint");

    let other = dir.path().join("other.csv");
    let other2 = other.clone();
    let err = execute(config(2, Some(from_savepoint(&sp))), move |df| {
        let input = df.generator_source("events", EVENTS, SourceOptions::default(), fill);
        let o = input.process_keyed(df, "counter", |e: &Ev| e.key, StringCounter { count: ValueState::default() });
        rill::Sink::sink_csv(o.output, df, &other2);
    })
    .expect_err("a state whose type changed must be refused");
    match &err {
        Error::IncompatibleState { operator, state, reason } => {
            assert_eq!((operator.as_str(), state.as_str()), ("counter", "count"));
            assert!(reason.contains("String") && reason.contains("u64"), "{reason}");
        }
        e => panic!("expected IncompatibleState, got {e}"),
    }

    // An added state: restored jobs start it empty and the rest of the state is restored.
    let reference = dir.path().join("reference.csv");
    run_counter(1, None, &reference, false).expect("reference run");
    let forked = dir.path().join("forked.csv");
    run_counter(3, Some(from_savepoint(&sp)), &forked, true).expect("a job with one more state");
    let mut all = sorted_rows(&out);
    all.extend(sorted_rows(&forked));
    all.sort();
    assert_eq!(all, sorted_rows(&reference));
}
