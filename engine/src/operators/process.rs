//! The keyed process operator: runs a [`KeyedProcessFunction`] per key, with keyed state and
//! timers (semantics in [`crate::process`]).
//!
//! Shape in timely: one input, exchanged by key group (`Exchange` with the key group as the
//! route hash, so the owner is `key_group % workers`), and three outputs: `0` the function's
//! output, `1` late records, `2` the side output.
//!
//! Capabilities (the invariant that keeps the job both correct and terminating):
//! * element output uses the capability of the element's batch (its stamp);
//! * the operator holds a [`CapabilitySet`] per timer-capable output (0 and 2) exactly while
//!   timers are pending. A batch whose elements register a timer adds its stamp's capabilities
//!   to the sets; after every activation each held capability `c` is moved to
//!   `join(c, (least epoch of the input frontier, target))`, where `target` is the earliest
//!   pending event-time timer (or the input watermark, if processing-time timers are pending).
//!   So a capability at or below every pending timer's time is always held, and when nothing is
//!   pending nothing is held (the job can end);
//! * an event-time timer at `t` emits at `(c.epoch, max(t, c.event))` for a held `c`.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::{Capability, CapabilitySet};

use crate::api::process::{KeyedProcessFunction, ProcessContext};
use crate::runtime::Dataflow;
use crate::runtime::metrics::{LocalCounts, OperatorMetrics};
use crate::snapshot::{EpochStash, Participant, StateChunk};
use crate::state::{GroupSnapshot, Key, KeyGroup, KeyedStateBackend, TimeDomain, TimerService};
use crate::time::{Epoch, Event, EventTime, Time, min_epoch, watermark};

/// Options of a keyed process operator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessConfig {
    /// A record is late only if `event_time + allowed_lateness_ms` is below its batch's stamp.
    pub allowed_lateness_ms: u64,
}

/// The streams a keyed process operator produces.
pub struct ProcessOutput<'s, Out, Side, In> {
    /// What the function emits.
    pub output: Stream<'s, Time, Vec<Out>>,
    /// Late records, unchanged (never given to the function).
    pub late: Stream<'s, Time, Vec<In>>,
    /// What the function emits on its side output.
    pub side: Stream<'s, Time, Vec<Side>>,
}

/// Runs a [`KeyedProcessFunction`] over a stream of events.
pub trait ProcessKeyed<'s, In> {
    /// Exchanges the records by `key_fn`'s key group and runs `function` per key, with
    /// default [`ProcessConfig`]. `name` names the operator and its metrics.
    fn process_keyed<K, KF, F>(
        self,
        df: &Dataflow<'s>,
        name: &str,
        key_fn: KF,
        function: F,
    ) -> ProcessOutput<'s, F::Out, F::Side, In>
    where
        K: Key,
        KF: Fn(&In) -> K + 'static,
        F: KeyedProcessFunction<K, In>;

    /// [`ProcessKeyed::process_keyed`] with explicit options.
    fn process_keyed_with<K, KF, F>(
        self,
        df: &Dataflow<'s>,
        name: &str,
        config: ProcessConfig,
        key_fn: KF,
        function: F,
    ) -> ProcessOutput<'s, F::Out, F::Side, In>
    where
        K: Key,
        KF: Fn(&In) -> K + 'static,
        F: KeyedProcessFunction<K, In>;
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The least-epoch capability of a set, to emit timer output with.
fn pick(caps: &CapabilitySet<Time>) -> Option<Time> {
    caps.iter().map(|c| *c.time()).min()
}

/// Moves every capability of `caps` to its join with `target`.
fn advance(caps: &mut CapabilitySet<Time>, target: Time) {
    let moved: CapabilitySet<Time> = caps
        .iter()
        .map(|c| {
            let t = c.time();
            c.delayed(&Time { epoch: t.epoch.max(target.epoch), event: t.event.max(target.event) })
        })
        .collect();
    *caps = moved;
}

impl<'s, In> ProcessKeyed<'s, In> for Stream<'s, Time, Vec<In>>
where
    In: Event + Clone + Send + Serialize + DeserializeOwned + 'static,
{
    fn process_keyed<K, KF, F>(
        self,
        df: &Dataflow<'s>,
        name: &str,
        key_fn: KF,
        function: F,
    ) -> ProcessOutput<'s, F::Out, F::Side, In>
    where
        K: Key,
        KF: Fn(&In) -> K + 'static,
        F: KeyedProcessFunction<K, In>,
    {
        self.process_keyed_with(df, name, ProcessConfig::default(), key_fn, function)
    }

    fn process_keyed_with<K, KF, F>(
        self,
        df: &Dataflow<'s>,
        name: &str,
        config: ProcessConfig,
        key_fn: KF,
        mut function: F,
    ) -> ProcessOutput<'s, F::Out, F::Side, In>
    where
        K: Key,
        KF: Fn(&In) -> K + 'static,
        F: KeyedProcessFunction<K, In>,
    {
        let scope = self.scope();
        let maxp = df.max_parallelism();
        let (worker, workers) = (df.worker_index(), df.peers());
        let metrics: Arc<OperatorMetrics> = df.shared().metrics().register(name, worker);
        let key_fn = Rc::new(key_fn);
        let route = Rc::clone(&key_fn);

        let mut builder = OperatorBuilder::new(name.to_owned(), scope);
        let info = builder.operator_info();
        let activator = scope.activator_for(Rc::clone(&info.address));
        let mut input =
            builder.new_input(self, Exchange::new(move |r: &In| u64::from(KeyGroup::of(&route(r), maxp).0)));
        let (out0, output) = builder.new_output::<Vec<F::Out>>();
        let (out1, late) = builder.new_output::<Vec<In>>();
        let (out2, side) = builder.new_output::<Vec<F::Side>>();
        let mut out0 = OutputBuilder::<_, CapacityContainerBuilder<Vec<F::Out>>>::from(out0);
        let mut out1 = OutputBuilder::<_, CapacityContainerBuilder<Vec<In>>>::from(out1);
        let mut out2 = OutputBuilder::<_, CapacityContainerBuilder<Vec<F::Side>>>::from(out2);

        let mut backend = KeyedStateBackend::<K>::new(worker, workers, maxp);
        function.open(&mut backend.registry());
        let mut timers = TimerService::<K>::new(worker, workers, maxp);
        let lateness = config.allowed_lateness_ms;

        let shared = Arc::clone(df.shared());
        let participant: Option<Participant> = shared.coordinator().and_then(|c| {
            let registered = c.participant(name, worker, false).and_then(|p| {
                for (state, kind, ty) in backend.declared() {
                    c.declare_state(name, state, &format!("{kind:?}").to_lowercase(), ty)?;
                }
                c.declare_state(name, TIMERS_EVENT, "timers", std::any::type_name::<K>())?;
                c.declare_state(name, TIMERS_PROCESSING, "timers", std::any::type_name::<K>())?;
                Ok(p)
            });
            registered.map_err(|e| shared.fail(e)).ok()
        });
        if let Some(p) = &participant
            && let Err(e) = restore_process(&mut backend, &mut timers, p, maxp)
        {
            shared.fail(e);
        }

        builder.build(move |initial| {
            let mut caps_main: CapabilitySet<Time> = CapabilitySet::new();
            let mut caps_side: CapabilitySet<Time> = CapabilitySet::new();
            // Restored timers are pending: hold capabilities for them from the start.
            if let Some(p) = &participant
                && let Some(first) = timers.event.earliest().or(timers.processing.earliest().map(|_| 0))
            {
                let t = Time { epoch: p.current(), event: EventTime(first) };
                caps_main.insert(initial[0].delayed(&t));
                caps_side.insert(initial[2].delayed(&t));
            }
            drop(initial);
            let mut participant = participant;
            let mut counts = LocalCounts::default();
            let mut out_buf: Vec<F::Out> = Vec::new();
            let mut side_buf: Vec<F::Side> = Vec::new();
            let mut late_buf: Vec<In> = Vec::new();
            // Batches of epochs after the one being applied, held until it is snapshotted.
            let mut stash: EpochStash<([Capability<Time>; 3], Vec<In>)> = EpochStash::default();

            move |frontiers| {
                let frontier = frontiers[0].frontier();
                let frontier_wm = watermark(&frontier);
                let frontier_epoch = min_epoch(&frontier);
                let frontier_min = Participant::min_epoch(&frontier);
                let ended = frontier.is_empty();
                let now = now_ms();
                let mut o0 = out0.activate();
                let mut o1 = out1.activate();
                let mut o2 = out2.activate();
                let current = participant.as_ref().map(Participant::current);

                // Applies one batch with the capabilities of its stamp.
                macro_rules! apply_batch {
                    ($stamp:expr, [$s0:expr, $s1:expr, $s2:expr], $batch:expr, $wm:expr, $on_timer:block) => {{
                        let stamp: Time = $stamp;
                        let mut ctx = ProcessContext {
                            state: &mut backend,
                            timers: &mut timers,
                            out: &mut out_buf,
                            side: &mut side_buf,
                            timestamp: EventTime::MIN,
                            watermark: $wm,
                            now_ms: now,
                            registered_event: false,
                            registered_processing: false,
                        };
                        counts.records_in += $batch.len() as u64;
                        for rec in $batch.drain(..) {
                            let et = rec.event_time();
                            counts.max_event_time = counts.max_event_time.max(et.0);
                            if et.0.saturating_add(lateness) < stamp.event.0 {
                                late_buf.push(rec);
                                continue;
                            }
                            ctx.state.set_current_key(key_fn(&rec));
                            ctx.timestamp = et;
                            function.process_element(&rec, &mut ctx);
                        }
                        let registered = ctx.registered_event || ctx.registered_processing;
                        ctx.state.clear_current_key();
                        counts.records_out += (out_buf.len() + side_buf.len()) as u64;
                        counts.late_records += late_buf.len() as u64;
                        if !out_buf.is_empty() {
                            o0.session($s0).give_container(&mut out_buf);
                            out_buf.clear();
                        }
                        if !late_buf.is_empty() {
                            o1.session($s1).give_container(&mut late_buf);
                            late_buf.clear();
                        }
                        if !side_buf.is_empty() {
                            o2.session($s2).give_container(&mut side_buf);
                            side_buf.clear();
                        }
                        if registered $on_timer
                    }};
                }

                // 1. Elements (those of later epochs wait in the stash).
                let wm_in = stash.watermark(frontier_wm);
                input.for_each_stamp(|cap, data| {
                    let Some(stamp) = cap.stamp().iter().min_by_key(|t| t.event).copied() else { return };
                    if current.is_some_and(|c| stamp.epoch > c) {
                        // A later epoch: held, with capabilities of its own, until this one is done.
                        let caps = [cap.delayed(&stamp, 0), cap.delayed(&stamp, 1), cap.delayed(&stamp, 2)];
                        for batch in data {
                            stash.hold(stamp, batch.len(), (caps.clone(), std::mem::take(batch)));
                        }
                        return;
                    }
                    for batch in data {
                        apply_batch!(stamp, [&cap, &cap, &cap], batch, wm_in, {
                            for t in cap.stamp().iter() {
                                caps_main.insert(cap.delayed(t, 0));
                                caps_side.insert(cap.delayed(t, 2));
                            }
                        });
                    }
                });

                loop {
                    let wm = stash.watermark(frontier_wm);
                    // 2. Timers: event time up to the watermark, then processing time up to now.
                    for (domain, bound) in [(TimeDomain::EventTime, wm.0), (TimeDomain::ProcessingTime, now)] {
                        if timers.queue(domain).earliest().is_none_or(|t| t > bound) {
                            continue;
                        }
                        timers.queue(domain).start_firing(bound);
                        let mut at: Option<Time> = None;
                        loop {
                            let Some((t, key)) = timers.queue(domain).pop_due() else { break };
                            let held = pick(&caps_main);
                            let emit_at = held.map(|h| match domain {
                                TimeDomain::EventTime => Time { epoch: h.epoch, event: h.event.max(EventTime(t)) },
                                TimeDomain::ProcessingTime if wm != EventTime::MAX => {
                                    Time { epoch: h.epoch, event: h.event.max(wm) }
                                }
                                TimeDomain::ProcessingTime => h,
                            });
                            if at != emit_at {
                                flush(
                                    &mut o0,
                                    &mut o2,
                                    &caps_main,
                                    &caps_side,
                                    at,
                                    &mut out_buf,
                                    &mut side_buf,
                                    &mut counts,
                                );
                                at = emit_at;
                            }
                            backend.set_current_key(key);
                            let mut ctx = ProcessContext {
                                state: &mut backend,
                                timers: &mut timers,
                                out: &mut out_buf,
                                side: &mut side_buf,
                                timestamp: EventTime(t),
                                watermark: wm,
                                now_ms: now,
                                registered_event: false,
                                registered_processing: false,
                            };
                            function.on_timer(EventTime(t), domain, &mut ctx);
                        }
                        backend.clear_current_key();
                        flush(&mut o0, &mut o2, &caps_main, &caps_side, at, &mut out_buf, &mut side_buf, &mut counts);
                    }

                    // Snapshot every epoch the frontier shows complete, then apply what waited.
                    let Some(p) = participant.as_mut() else { break };
                    let Some(e) = p.due(frontier_min, shared.aborted()) else { break };
                    snapshot_process(&mut backend, &mut timers, p, e, stash.take_held_count());
                    let lift = Time { epoch: Epoch(e.0 + 1), event: EventTime::MIN };
                    advance(&mut caps_main, lift);
                    advance(&mut caps_side, lift);
                    let next = p.current();
                    let ready = stash.take_through(next);
                    for (stamp, (caps, mut batch)) in ready {
                        apply_batch!(stamp, [&caps[0], &caps[1], &caps[2]], batch, wm, {
                            caps_main.insert(caps[0].clone());
                            caps_side.insert(caps[2].clone());
                        });
                    }
                }
                if ended && !stash.is_empty() {
                    // Stopped at a savepoint or failed: what waits past the last snapshot is dropped.
                    stash.clear();
                }

                // 3. Capabilities follow the pending timers.
                let wm = stash.watermark(frontier_wm);
                if ended {
                    // Documented: processing-time timers not yet due when the input ends are dropped.
                    timers.processing.clear();
                }
                let earliest_event = timers.event.earliest();
                let proc_pending = !timers.processing.is_empty();
                if earliest_event.is_none() && !proc_pending {
                    caps_main = CapabilitySet::new();
                    caps_side = CapabilitySet::new();
                } else {
                    let mut event = earliest_event.map_or(EventTime::MAX, EventTime);
                    if proc_pending {
                        event = event.min(wm);
                    }
                    let epoch = match &participant {
                        Some(p) => p.current(),
                        None if ended => Epoch(0),
                        None => frontier_epoch,
                    };
                    let target = Time { epoch, event };
                    advance(&mut caps_main, target);
                    advance(&mut caps_side, target);
                }
                if let Some(next) = timers.processing.earliest() {
                    activator.activate_after(Duration::from_millis(next.saturating_sub(now_ms())));
                }

                // 4. Metrics, once per activation.
                let st = backend.total_stats();
                let timer_bytes = timers.event.estimated_bytes() + timers.processing.estimated_bytes();
                metrics.set_state(st.bytes + timer_bytes as u64, st.entries);
                metrics.set_watermark(frontier_wm.0);
                metrics.flush(&mut counts);
            }
        });

        ProcessOutput { output, late, side }
    }
}

/// Snapshot names of the timer queues.
const TIMERS_EVENT: &str = "timers:event";
const TIMERS_PROCESSING: &str = "timers:processing";

/// Hands epoch `e`'s keyed state and timers to the writer (unchanged key groups by reference)
/// and acknowledges it.
fn snapshot_process<K: Key>(
    backend: &mut KeyedStateBackend<K>,
    timers: &mut TimerService<K>,
    p: &Participant,
    e: Epoch,
    aligned_records: u64,
) {
    let started = std::time::Instant::now();
    let full = p.must_be_full(e);
    let mut chunks: Vec<StateChunk> = Vec::new();
    let mut unchanged: Vec<(String, KeyGroup)> = Vec::new();
    backend.snapshot(full, |state, kg, snap| match snap {
        GroupSnapshot::Empty => {}
        GroupSnapshot::Unchanged => unchanged.push((state.to_owned(), kg)),
        GroupSnapshot::Chunk { part, payload } => {
            if part > 0 {
                // A delta extends the chain the previous checkpoint holds: reference it too.
                unchanged.push((state.to_owned(), kg));
            }
            chunks.push(StateChunk { state: state.to_owned(), key_group: kg, part, payload });
        }
    });
    let groups: Vec<KeyGroup> = backend.owned_groups().collect();
    for (name, queue) in [(TIMERS_EVENT, &mut timers.event), (TIMERS_PROCESSING, &mut timers.processing)] {
        for (g, &kg) in groups.iter().enumerate() {
            let dirty = queue.take_dirty(g);
            if !dirty && !full {
                if queue.group_len(g) > 0 {
                    unchanged.push((name.to_owned(), kg));
                }
                continue;
            }
            // A frozen view of the group, encoded off the worker (see `state::timers`).
            if let Some(payload) = queue.snapshot_group(g) {
                chunks.push(StateChunk { state: name.to_owned(), key_group: kg, part: 0, payload });
            }
        }
    }
    let pause = started.elapsed();
    let st = backend.total_stats();
    p.hand_over_chunks(e, chunks, unchanged, st.entries, st.bytes, pause, aligned_records);
}

/// Loads this worker's key groups of every declared state and of the timers.
fn restore_process<K: Key>(
    backend: &mut KeyedStateBackend<K>,
    timers: &mut TimerService<K>,
    p: &Participant,
    maxp: u32,
) -> crate::Result<()> {
    if p.coordinator().restored().is_none() {
        return Ok(());
    }
    let incompatible = |state: &str, reason: String| crate::Error::IncompatibleState {
        operator: p.operator().to_owned(),
        state: state.to_owned(),
        reason,
    };
    let names: Vec<&'static str> = backend.declared().map(|(n, ..)| n).collect();
    let groups: Vec<KeyGroup> = backend.owned_groups().collect();
    debug_assert!(groups.iter().all(|g| g.0 < maxp));
    for (g, &kg) in groups.iter().enumerate() {
        for &name in &names {
            let parts = p.restored_chain(name, kg)?;
            backend.restore(name, kg, &parts).map_err(|r| incompatible(name, r))?;
        }
        for (name, queue) in [(TIMERS_EVENT, &mut timers.event), (TIMERS_PROCESSING, &mut timers.processing)] {
            if let Some(bytes) = p.restored_chunk(name, kg)? {
                queue.decode_group(g, &bytes).map_err(|r| incompatible(name, r))?;
            }
        }
    }
    Ok(())
}

/// Sends the buffered timer output at `at` (if any) on outputs 0 and 2.
#[allow(clippy::too_many_arguments)]
fn flush<Out: Clone + 'static, Side: Clone + 'static>(
    o0: &mut timely::dataflow::operators::generic::OutputBuilderSession<'_, Time, CapacityContainerBuilder<Vec<Out>>>,
    o2: &mut timely::dataflow::operators::generic::OutputBuilderSession<'_, Time, CapacityContainerBuilder<Vec<Side>>>,
    caps_main: &CapabilitySet<Time>,
    caps_side: &CapabilitySet<Time>,
    at: Option<Time>,
    out_buf: &mut Vec<Out>,
    side_buf: &mut Vec<Side>,
    counts: &mut LocalCounts,
) {
    counts.records_out += (out_buf.len() + side_buf.len()) as u64;
    match at {
        Some(t) => {
            if !out_buf.is_empty() {
                o0.session(&caps_main.delayed(&t)).give_container(out_buf);
            }
            if !side_buf.is_empty() {
                o2.session(&caps_side.delayed(&t)).give_container(side_buf);
            }
        }
        None => {
            // A timer registered under an empty stamp has no capability: its output makes no
            // progress claims (as its input did not).
            let none = CapabilitySet::new();
            if !out_buf.is_empty() {
                o0.session(&none).give_container(out_buf);
            }
            if !side_buf.is_empty() {
                o2.session(&none).give_container(side_buf);
            }
        }
    }
    out_buf.clear();
    side_buf.clear();
}
