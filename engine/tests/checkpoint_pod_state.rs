//! Fixed-layout value state ([`PodValueState`]) through checkpoints: snapshots are deferred and
//! incremental per entry (chains of a complete part and deltas); a job that fails after many
//! such checkpoints and resumes from the newest one, on the same or another number of workers,
//! ends with exactly the output of an uninterrupted run; its checkpoints wrote deltas, smaller
//! than the complete parts they extend.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rill::operators::source::SourceOptions;
use rill::process::{KeyedProcessFunction, ProcessContext, ProcessKeyed};
use rill::runtime::JobShared;
use rill::snapshot::{CheckpointConfig, RestoreFrom};
use rill::state::{PodValueState, StateRegistry};
use rill::{Error, Event, EventTime, JobConfig, execute};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Ev {
    key: u64,
    ts: u64,
    amount: u64,
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
    sum: u64,
}

impl rill::csv::CsvRecord for Row {
    const COLUMNS: &'static [&'static str] = &["key", "count", "sum"];
    fn write_csv(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("{},{},{}", self.key, self.count, self.sum).as_bytes());
    }
    fn parse_csv(row: &mut rill::csv::CsvRow<'_>) -> Result<Self, rill::csv::FieldError> {
        let r = Row { key: row.u64()?, count: row.u64()?, sum: row.u64()? };
        row.finish()?;
        Ok(r)
    }
}

const EVENTS: u64 = 300_000;
const KEYS: u64 = 150_000;
/// A key's count restarts after this many events (its entry is removed: deltas carry removals).
const ROUND: u64 = 3;

fn fill(r: std::ops::Range<u64>, out: &mut Vec<Ev>) {
    out.extend(r.map(|i| Ev { key: i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % KEYS, ts: i / 10, amount: i % 1000 }));
}

/// Per key `[count, sum]` in a `PodValueState`; a row at every second event of a key; the
/// entry is removed after `ROUND` events. Fails the job once `fail_at` events were processed
/// over all workers and four checkpoints completed after a fifth of the input (when set).
struct Totals {
    totals: PodValueState<[u64; 2]>,
    shared: Arc<JobShared>,
    processed: Arc<AtomicU64>,
    failed: Arc<AtomicBool>,
    populated_at: Arc<AtomicU64>,
    fail_at: Option<u64>,
}

impl KeyedProcessFunction<u64, Ev> for Totals {
    type Out = Row;
    type Side = ();
    fn open(&mut self, state: &mut StateRegistry<'_, u64>) {
        self.totals = state.pod_value("totals");
    }
    fn process_element(&mut self, ev: &Ev, ctx: &mut ProcessContext<'_, u64, Row, ()>) {
        let t = ctx.pod_value_or_insert_with(&self.totals, || [0, 0]);
        t[0] += 1;
        t[1] += ev.amount;
        let [count, sum] = *t;
        if count.is_multiple_of(2) {
            let key = *ctx.key();
            ctx.emit(Row { key, count, sum });
        }
        if count == ROUND {
            assert_eq!(ctx.clear_pod_value(&self.totals), Some([count, sum]));
        }
        let n = self.processed.fetch_add(1, Ordering::Relaxed) + 1;
        // Fail once enough input went through and four checkpoints completed after a fifth of
        // the input (so that the checkpoint the resume loads extends populated tables by deltas).
        let completed = self.shared.coordinator().map_or(0, |c| c.completed());
        if n == EVENTS / 5 {
            self.populated_at.store(completed, Ordering::Relaxed);
        }
        if self.fail_at.is_some_and(|at| n >= at) {
            if completed >= self.populated_at.load(Ordering::Relaxed).saturating_add(4) {
                if !self.failed.swap(true, Ordering::Relaxed) {
                    self.shared.fail(Error::Config("injected failure".into()));
                }
            } else if n.is_multiple_of(64) {
                // Checkpoints lag (a loaded machine): slow down until they catch up.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

fn run(workers: usize, checkpoint: Option<CheckpointConfig>, out: &Path, fail_at: Option<u64>) -> rill::Result<()> {
    let out = out.to_owned();
    let processed = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let populated_at = Arc::new(AtomicU64::new(u64::MAX));
    let start = Instant::now();
    execute(JobConfig { workers, checkpoint, ..JobConfig::default() }, move |df| {
        // Paced so that the job spans many checkpoint intervals.
        let input = df.generator_source_at_rate("events", EVENTS, 100_000, start, SourceOptions::default(), fill);
        let f = Totals {
            totals: PodValueState::default(),
            shared: Arc::clone(df.shared()),
            processed: Arc::clone(&processed),
            failed: Arc::clone(&failed),
            populated_at: Arc::clone(&populated_at),
            fail_at,
        };
        let o = input.process_keyed(df, "totals", |e: &Ev| e.key, f);
        rill::Sink::sink_csv(o.output, df, &out);
    })
    .map(|_| ())
}

fn sorted_rows(p: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(p).expect("output");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("key,count,sum"), "one header first");
    let mut rows: Vec<String> = lines.map(str::to_owned).collect();
    rows.sort();
    rows
}

fn periodic(dir: &Path, restore: RestoreFrom) -> CheckpointConfig {
    CheckpointConfig { restore, retain: 1000, ..CheckpointConfig::periodic(dir, Duration::from_millis(100)) }
}

#[test]
fn pod_state_resumes_from_delta_chains_to_the_uninterrupted_output_on_1_2_and_4_workers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let reference = dir.path().join("reference.csv");
    run(1, None, &reference, None).expect("reference run");
    let expected = sorted_rows(&reference);
    assert!(expected.len() as u64 > EVENTS / 3, "too little output: {}", expected.len());

    for (fail_workers, resume_workers) in [(1, 1), (2, 2), (2, 4), (4, 1)] {
        let chk = dir.path().join(format!("chk-{fail_workers}-{resume_workers}"));
        let out = dir.path().join(format!("out-{fail_workers}-{resume_workers}.csv"));
        match run(fail_workers, Some(periodic(&chk, RestoreFrom::Nothing)), &out, Some(EVENTS * 2 / 5)) {
            Err(Error::Config(m)) => assert_eq!(m, "injected failure"),
            other => panic!("expected the injected failure, got {other:?}"),
        }
        // Checkpoints of the run wrote deltas, smaller than the complete parts of the same key
        // groups they extend (every checkpoint is retained for this check).
        let (mut deltas, mut delta_bytes, mut base_bytes) = (0, 0, 0);
        for info in rill::snapshot::list(&chk).expect("list") {
            let Some(m) = info.manifest else { continue };
            let state: Vec<_> = m.chunks.iter().filter(|c| c.state == "totals").collect();
            for d in state.iter().filter(|c| c.part > 0 && c.epoch == m.epoch) {
                let base = state.iter().find(|c| c.key_group == d.key_group && c.part == 0).expect("chain base");
                deltas += 1;
                delta_bytes += d.length;
                base_bytes += base.length;
            }
        }
        assert!(deltas > 0, "{fail_workers} workers: no checkpoint wrote a delta");
        assert!(
            delta_bytes < base_bytes,
            "deltas ({delta_bytes} bytes) smaller than their complete parts ({base_bytes})"
        );

        run(resume_workers, Some(periodic(&chk, RestoreFrom::NewestCheckpoint)), &out, None).expect("resumed run");
        assert_eq!(sorted_rows(&out), expected, "failed on {fail_workers}, resumed on {resume_workers} workers");
    }
}
