//! Keyed process functions on 1, 2 and 4 workers against naive sequential references.
//!
//! Input comes from a test source that replays a fixed plan of batches, one per activation, each
//! stamped `(0, w)` with a non-decreasing source watermark `w`; records keep their own
//! (out-of-order, sometimes late) event times. Every worker replays the records `id % peers ==
//! worker` of each batch, so the job's input is the same whatever the worker count.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rill::process::{KeyedProcessFunction, ProcessConfig, ProcessContext, ProcessKeyed, TimeDomain};
use rill::state::{ListState, StateRegistry, ValueState};
use rill::{Dataflow, Epoch, Event, EventTime, JobConfig, Time, execute};
use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;
use timely::dataflow::operators::Inspect;
use timely::dataflow::operators::generic::source;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Ev {
    key: u32,
    ts: u64,
    val: u64,
    id: u64,
}

impl Event for Ev {
    fn event_time(&self) -> EventTime {
        EventTime(self.ts)
    }
}

type Plan = Arc<Vec<(u64, Vec<Ev>)>>;

/// Batches with watermarks 0, 100, 200, ...; event times scattered ±250 ms around the
/// watermark, so some records are late (ts < watermark).
fn plan(seed: u64, batches: u64, per_batch: u64, keys: u32) -> Plan {
    let mut x = seed;
    let mut next = move || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut id = 0;
    let mut out = Vec::new();
    for b in 0..batches {
        let wm = b * 100;
        let evs = (0..per_batch)
            .map(|_| {
                id += 1;
                Ev {
                    key: (next() % u64::from(keys)) as u32,
                    ts: (wm + 250).saturating_sub(next() % 400),
                    val: 1 + next() % 1000,
                    id,
                }
            })
            .collect();
        out.push((wm, evs));
    }
    Arc::new(out)
}

/// Replays `plan` one batch per activation; holds its capability `linger` longer at the end.
fn test_source<'s>(df: &Dataflow<'s>, plan: Plan, linger: Duration) -> Stream<'s, Time, Vec<Ev>> {
    let (worker, peers) = (df.worker_index() as u64, df.peers() as u64);
    let scope = df.scope();
    source(scope, "TestSource", move |cap, info| {
        let activator = scope.activator_for(info.address);
        let mut cap = Some(cap);
        let mut next = 0;
        let mut finished: Option<Instant> = None;
        move |output| {
            if let Some(c) = cap.as_mut() {
                if next < plan.len() {
                    let (wm, evs) = &plan[next];
                    c.downgrade(&Time { epoch: Epoch(0), event: EventTime(*wm) });
                    let mut session = output.session(c);
                    for e in evs.iter().filter(|e| e.id % peers == worker) {
                        session.give(e.clone());
                    }
                    next += 1;
                    activator.activate();
                } else {
                    let since = *finished.get_or_insert_with(Instant::now);
                    if since.elapsed() >= linger {
                        cap = None;
                    } else {
                        activator.activate_after(Duration::from_millis(5));
                    }
                }
            }
        }
    })
}

fn late_in_reference(plan: &Plan, lateness: u64) -> BTreeSet<u64> {
    plan.iter().flat_map(|(wm, evs)| evs.iter().filter(move |e| e.ts + lateness < *wm).map(|e| e.id)).collect()
}

type Sink<T> = Arc<Mutex<Vec<(Time, T)>>>;

fn sink<'s, T: Clone + 'static>(stream: Stream<'s, Time, Vec<T>>, into: &Sink<T>) {
    let into = Arc::clone(into);
    stream.inspect_core(move |e| {
        if let Ok((stamp, data)) = e {
            let t = stamp.iter().next().copied().unwrap_or_default();
            into.lock().unwrap().extend(data.iter().map(|d| (t, d.clone())));
        }
    });
}

const WORKERS: [usize; 3] = [1, 2, 4];

// ---------------------------------------------------------------- (a) running sum

#[derive(Default)]
struct RunningSum {
    sum: ValueState<u64>,
}

impl KeyedProcessFunction<u32, Ev> for RunningSum {
    type Out = (u32, u64, u64);
    type Side = ();
    fn open(&mut self, state: &mut StateRegistry<'_, u32>) {
        self.sum = state.value("sum");
    }
    fn process_element(&mut self, e: &Ev, ctx: &mut ProcessContext<'_, u32, Self::Out, ()>) {
        assert_eq!(*ctx.key(), e.key);
        let s = ctx.value_or_insert_with(&self.sum, || 0);
        *s += e.val;
        let s = *s;
        ctx.emit((e.key, e.val, s));
    }
}

#[test]
fn running_sum_matches_reference_and_late_records_are_exact() {
    let plan = plan(7, 60, 200, 40);
    for lateness in [0, 120] {
        let late_ref = late_in_reference(&plan, lateness);
        let mut ontime_ref: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for e in plan.iter().flat_map(|b| b.1.iter()).filter(|e| !late_ref.contains(&e.id)) {
            ontime_ref.entry(e.key).or_default().push(e.val);
        }
        for workers in WORKERS {
            let out: Sink<(u32, u64, u64)> = Arc::default();
            let late: Sink<Ev> = Arc::default();
            let (p, o, l) = (Arc::clone(&plan), Arc::clone(&out), Arc::clone(&late));
            let job = execute(JobConfig::with_workers(workers), move |df| {
                let s = test_source(df, Arc::clone(&p), Duration::ZERO);
                let cfg = ProcessConfig { allowed_lateness_ms: lateness };
                let r = s.process_keyed_with(df, "sum", cfg, |e: &Ev| e.key, RunningSum::default());
                sink(r.output, &o);
                sink(r.late, &l);
            })
            .expect("job runs");

            // Per key: sorted by running sum, each step adds its value; values are the on-time ones.
            let mut got: BTreeMap<u32, Vec<(u64, u64)>> = BTreeMap::new();
            for (_, (k, v, s)) in out.lock().unwrap().iter() {
                got.entry(*k).or_default().push((*s, *v));
            }
            assert_eq!(got.len(), ontime_ref.len(), "workers {workers}");
            for (k, mut steps) in got {
                steps.sort();
                let mut acc = 0;
                for (s, v) in &steps {
                    acc += v;
                    assert_eq!(*s, acc, "key {k} workers {workers}");
                }
                let mut vals: Vec<u64> = steps.iter().map(|x| x.1).collect();
                let mut want = ontime_ref[&k].clone();
                vals.sort();
                want.sort();
                assert_eq!(vals, want, "key {k} workers {workers}");
            }
            // Late: exactly the reference set, nothing lost.
            let late_ids: BTreeSet<u64> = late.lock().unwrap().iter().map(|(_, e)| e.id).collect();
            assert_eq!(late_ids, late_ref, "workers {workers} lateness {lateness}");
            let total: usize = plan.iter().map(|b| b.1.len()).sum();
            assert_eq!(out.lock().unwrap().len() + late_ids.len(), total);
            let m = job.metrics.iter().find(|m| m.name == "sum").expect("metrics");
            assert_eq!(m.records_in as usize, total);
            assert_eq!(m.late_records as usize, late_ref.len());
            assert_eq!(m.instances, workers);
            assert!(!late_ref.is_empty() || lateness > 0);
        }
    }
}

// ---------------------------------------------------------------- (b) sort by event time

#[derive(Default)]
struct SortBuffer {
    buf: ListState<Ev>,
}

impl KeyedProcessFunction<u32, Ev> for SortBuffer {
    type Out = (Ev, u64);
    type Side = ();
    fn open(&mut self, state: &mut StateRegistry<'_, u32>) {
        self.buf = state.list("buffer");
    }
    fn process_element(&mut self, e: &Ev, ctx: &mut ProcessContext<'_, u32, Self::Out, ()>) {
        ctx.list_push(&self.buf, e.clone());
        ctx.register_event_time_timer(EventTime(e.ts));
    }
    fn on_timer(&mut self, t: EventTime, domain: TimeDomain, ctx: &mut ProcessContext<'_, u32, Self::Out, ()>) {
        assert_eq!(domain, TimeDomain::EventTime);
        assert!(ctx.watermark() >= t, "timer fired before the watermark reached it");
        let all = ctx.list_take(&self.buf);
        let (mut due, rest): (Vec<Ev>, Vec<Ev>) = all.into_iter().partition(|e| e.ts <= t.0);
        due.sort_by_key(|e| (e.ts, e.id));
        let wm = ctx.watermark().0;
        for e in due {
            ctx.emit((e, wm));
        }
        for e in rest {
            ctx.list_push(&self.buf, e);
        }
    }
}

#[test]
fn timers_emit_buffered_events_sorted_per_key() {
    let plan = plan(11, 50, 150, 25);
    let late_ref = late_in_reference(&plan, 0);
    let mut want: BTreeMap<u32, Vec<Ev>> = BTreeMap::new();
    for e in plan.iter().flat_map(|b| b.1.iter()).filter(|e| !late_ref.contains(&e.id)) {
        want.entry(e.key).or_default().push(e.clone());
    }
    for v in want.values_mut() {
        v.sort();
    }
    for workers in WORKERS {
        let out: Sink<(Ev, u64)> = Arc::default();
        let (p, o) = (Arc::clone(&plan), Arc::clone(&out));
        let job = execute(JobConfig::with_workers(workers), move |df| {
            let s = test_source(df, Arc::clone(&p), Duration::ZERO);
            let r = s.process_keyed(df, "sort", |e: &Ev| e.key, SortBuffer::default());
            sink(r.output, &o);
        })
        .expect("job runs");
        let out = out.lock().unwrap();
        let mut got: BTreeMap<u32, Vec<Ev>> = BTreeMap::new();
        for (time, (e, _)) in out.iter() {
            assert!(time.event.0 >= e.ts, "timer output stamped {time:?} before its event {}", e.ts);
            got.entry(e.key).or_default().push(e.clone());
        }
        // Per key: emitted in event-time order (ties in arrival order), exactly the on-time events.
        assert_eq!(got.len(), want.len(), "workers {workers}");
        for (k, mut evs) in got {
            assert!(evs.windows(2).all(|w| w[0].ts <= w[1].ts), "key {k} out of order, workers {workers}");
            evs.sort();
            assert!(evs == want[&k], "key {k}: emitted events differ from the reference, workers {workers}");
        }
        assert!(out.iter().any(|(_, (_, wm))| *wm != u64::MAX), "some timers fire before the input ends");
        let m = job.metrics.iter().find(|m| m.name == "sort").unwrap();
        assert_eq!((m.state_keys, m.state_bytes), (0, 0), "buffers emptied, state released");
    }
}

// ---------------------------------------------------------------- (d) delete / duplicates

#[derive(Default)]
struct TimerRules;

impl KeyedProcessFunction<u32, Ev> for TimerRules {
    type Out = (u32, u64);
    type Side = (u32, u64);
    fn open(&mut self, _: &mut StateRegistry<'_, u32>) {}
    fn process_element(&mut self, e: &Ev, ctx: &mut ProcessContext<'_, u32, Self::Out, Self::Side>) {
        // Above the event's own time, so never already due when registered (a timer registered at
        // or below the watermark fires at once, and would legitimately fire again if re-registered).
        let t = 4 * e.ts + 4;
        for _ in 0..3 {
            ctx.register_event_time_timer(EventTime(t)); // duplicates: fire once
        }
        ctx.register_event_time_timer(EventTime(t + 1));
        assert!(ctx.delete_event_time_timer(EventTime(t + 1))); // deleted at once
        ctx.register_event_time_timer(EventTime(t + 3)); // deleted by the timer at t
    }
    fn on_timer(&mut self, t: EventTime, _: TimeDomain, ctx: &mut ProcessContext<'_, u32, Self::Out, Self::Side>) {
        let k = *ctx.key();
        match t.0 % 4 {
            0 => {
                ctx.delete_event_time_timer(EventTime(t.0 + 3));
                ctx.emit((k, t.0));
            }
            _ => ctx.emit_side((k, t.0)),
        }
    }
}

#[test]
fn deleted_timers_do_not_fire_and_duplicates_fire_once() {
    let plan = plan(3, 40, 100, 10);
    let late_ref = late_in_reference(&plan, 0);
    let want: BTreeSet<(u32, u64)> = plan
        .iter()
        .flat_map(|b| b.1.iter())
        .filter(|e| !late_ref.contains(&e.id))
        .map(|e| (e.key, 4 * e.ts + 4))
        .collect();
    for workers in WORKERS {
        let out: Sink<(u32, u64)> = Arc::default();
        let side: Sink<(u32, u64)> = Arc::default();
        let (p, o, sd) = (Arc::clone(&plan), Arc::clone(&out), Arc::clone(&side));
        execute(JobConfig::with_workers(workers), move |df| {
            let s = test_source(df, Arc::clone(&p), Duration::ZERO);
            let r = s.process_keyed(df, "rules", |e: &Ev| e.key, TimerRules);
            sink(r.output, &o);
            sink(r.side, &sd);
        })
        .expect("job runs");
        let got: Vec<(u32, u64)> = out.lock().unwrap().iter().map(|x| x.1).collect();
        let set: BTreeSet<(u32, u64)> = got.iter().copied().collect();
        assert_eq!(got.len(), set.len(), "each (key, time) fires once");
        assert!(set == want, "fired timers differ from the reference, workers {workers}");
        assert_eq!(side.lock().unwrap().len(), 0, "deleted timers fired, workers {workers}");
    }
}

// ---------------------------------------------------------------- (e) state shrinks

struct Expiring {
    count: ValueState<u64>,
    seen: ListState<u64>,
    peak: Arc<AtomicU64>,
}

impl KeyedProcessFunction<u32, Ev> for Expiring {
    type Out = (u32, u64);
    type Side = ();
    fn open(&mut self, state: &mut StateRegistry<'_, u32>) {
        self.count = state.value("count");
        self.seen = state.list("seen");
    }
    fn process_element(&mut self, e: &Ev, ctx: &mut ProcessContext<'_, u32, Self::Out, ()>) {
        *ctx.value_or_insert_with(&self.count, || 0) += 1;
        ctx.list_push(&self.seen, e.id);
        ctx.register_event_time_timer(EventTime(e.ts + 500));
        let st = ctx.state().total_stats();
        self.peak.fetch_max(st.bytes, Ordering::Relaxed);
    }
    fn on_timer(&mut self, _: EventTime, _: TimeDomain, ctx: &mut ProcessContext<'_, u32, Self::Out, ()>) {
        let n = ctx.value(&self.count).copied().unwrap_or(0);
        let k = *ctx.key();
        let kg = ctx.key_group();
        let before = ctx.state().key_group_stats(kg);
        assert!(before.entries >= 2 || n == 0);
        ctx.state().clear_all_for_current_key();
        if n > 0 {
            ctx.emit((k, n));
        }
    }
}

#[test]
fn state_figures_drop_to_zero_when_cleared() {
    let plan = plan(5, 40, 200, 30);
    let late_ref = late_in_reference(&plan, 0);
    let ontime = plan.iter().map(|b| b.1.len()).sum::<usize>() - late_ref.len();
    for workers in WORKERS {
        let out: Sink<(u32, u64)> = Arc::default();
        let peak = Arc::new(AtomicU64::new(0));
        let (p, o, pk) = (Arc::clone(&plan), Arc::clone(&out), Arc::clone(&peak));
        let job = execute(JobConfig::with_workers(workers), move |df| {
            let s = test_source(df, Arc::clone(&p), Duration::ZERO);
            let f = Expiring { count: ValueState::default(), seen: ListState::default(), peak: Arc::clone(&pk) };
            let r = s.process_keyed(df, "expiring", |e: &Ev| e.key, f);
            sink(r.output, &o);
        })
        .expect("job runs");
        let counted: u64 = out.lock().unwrap().iter().map(|x| x.1.1).sum();
        assert_eq!(counted as usize, ontime, "every on-time element counted once before expiry");
        assert!(peak.load(Ordering::Relaxed) > 0, "state grew");
        let m = job.metrics.iter().find(|m| m.name == "expiring").unwrap();
        assert_eq!((m.state_keys, m.state_bytes), (0, 0), "workers {workers}");
    }
}

// ---------------------------------------------------------------- (f) processing time

struct Ping {
    delay_ms: u64,
    armed: ValueState<u64>,
}

impl KeyedProcessFunction<u32, Ev> for Ping {
    type Out = (u32, u64);
    type Side = ();
    fn open(&mut self, state: &mut StateRegistry<'_, u32>) {
        self.armed = state.value("armed");
    }
    fn process_element(&mut self, _: &Ev, ctx: &mut ProcessContext<'_, u32, Self::Out, ()>) {
        if ctx.value(&self.armed).is_none() {
            let at = ctx.current_processing_time() + self.delay_ms;
            ctx.set_value(&self.armed, at);
            ctx.register_processing_time_timer(at);
        }
    }
    fn on_timer(&mut self, t: EventTime, domain: TimeDomain, ctx: &mut ProcessContext<'_, u32, Self::Out, ()>) {
        assert_eq!(domain, TimeDomain::ProcessingTime);
        assert!(ctx.current_processing_time() >= t.0);
        assert_eq!(ctx.clear_value(&self.armed), Some(t.0));
        let k = *ctx.key();
        ctx.emit((k, t.0));
    }
}

#[test]
fn processing_time_timers_fire_and_pending_ones_are_dropped_at_end() {
    let plan = plan(9, 10, 50, 8);
    let late_ref = late_in_reference(&plan, 0);
    let keys: BTreeSet<u32> =
        plan.iter().flat_map(|b| b.1.iter()).filter(|e| !late_ref.contains(&e.id)).map(|e| e.key).collect();
    for workers in WORKERS {
        for (delay_ms, linger, expect_fire) in [(20, Duration::from_millis(400), true), (60_000, Duration::ZERO, false)]
        {
            let out: Sink<(u32, u64)> = Arc::default();
            let (p, o) = (Arc::clone(&plan), Arc::clone(&out));
            let start = Instant::now();
            execute(JobConfig::with_workers(workers), move |df| {
                let s = test_source(df, Arc::clone(&p), linger);
                let f = Ping { delay_ms, armed: ValueState::default() };
                let r = s.process_keyed(df, "ping", |e: &Ev| e.key, f);
                sink(r.output, &o);
            })
            .expect("job runs");
            let got: BTreeSet<u32> = out.lock().unwrap().iter().map(|x| x.1.0).collect();
            if expect_fire {
                assert_eq!(got, keys, "workers {workers}");
                assert_eq!(out.lock().unwrap().len(), keys.len(), "once per key");
            } else {
                assert!(got.is_empty(), "timers beyond the end are dropped");
                assert!(start.elapsed() < Duration::from_secs(30), "job did not wait for dropped timers");
            }
        }
    }
}
