//! The keyed window operator: incremental aggregation over tumbling, sliding and session
//! windows in event time, with allowed lateness and a late output.
//!
//! Records are exchanged by key group, so every key's windows live on one worker.
//!
//! **Tumbling and sliding windows** are unions of aligned *panes* one slide long. A record
//! updates the accumulator of its (pane, key), however many windows contain it; a window's
//! result merges the accumulators of its `size / slide` panes when it fires. State per pane is a
//! hash table from key to accumulator: nothing is buffered per record.
//!
//! **Sessions** keep, per key, the open sessions sorted by start; a record opens
//! `[t, t + gap)` and merges every session it overlaps or touches.
//!
//! **Lateness** is judged against the stamp of the record's batch, i.e. the watermark of its
//! source when it was read (see [`crate::time`]): a record is late for a window ending at `E`
//! when `E + allowed_lateness <= stamp`. A record late for every window it belongs to goes to
//! the late output. One late for some of its sliding windows only is added to the others alone
//! (kept apart from the shared pane). Because the decision depends only on the record and its
//! stamp, results do not depend on scheduling or on how many workers run the job.
//!
//! **Firing.** A tumbling or sliding window `[s, E)` fires once the operator's input watermark
//! reaches `E`; its result is stamped `E - 1`, the window's last millisecond. A record arriving
//! within the allowed lateness of a window that has already fired updates it and the window's
//! result is emitted again at once (the newest row for a window supersedes earlier ones).
//! A session `[s, e)` fires once the watermark passes `e` (a record at exactly `e` still
//! extends it), and is late, like any session record, when its event time plus the allowed
//! lateness is below its stamp. State of a window is dropped once the watermark passes its end
//! plus the allowed lateness.
//!
//! **Capabilities.** For every pending window end the operator holds a capability no later
//! than the time it will emit at, minted from the stamp of the record that created the state;
//! they are released as windows fire, so the job ends when the input ends.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::{Capability, CapabilitySet};

use crate::api::aggregate::AggregateFunction;
use crate::runtime::Dataflow;
use crate::runtime::metrics::{LocalCounts, OperatorMetrics};
use crate::snapshot::{EpochStash, Participant};
use crate::state::{Key, KeyGroup, hash_key};
use crate::time::window::{Window, WindowSpec};
use crate::time::{Event, EventTime, Time, watermark};

/// One window's result for one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowResult<K, O> {
    /// The key.
    pub key: K,
    /// The window.
    pub window: Window,
    /// The aggregate's result.
    pub value: O,
}

impl<K, O> Event for WindowResult<K, O> {
    fn event_time(&self) -> EventTime {
        self.window.max_timestamp()
    }
}

/// Per-key accumulators of one pane (or of one window's extra records).
struct KeyTable<K, A> {
    table: HashTable<(K, A)>,
}

impl<K: Key, A> KeyTable<K, A> {
    fn new() -> Self {
        KeyTable { table: HashTable::new() }
    }

    #[inline]
    fn entry(&mut self, key: K, create: impl FnOnce() -> A) -> &mut A {
        let h = hash_key(&key);
        let entry = self.table.entry(h, |(k, _)| *k == key, |(k, _)| hash_key(k)).or_insert_with(|| (key, create()));
        &mut entry.into_mut().1
    }

    /// Sets `key`'s accumulator (restore).
    fn put(&mut self, key: K, acc: A) {
        let h = hash_key(&key);
        match self.table.entry(h, |(k, _)| *k == key, |(k, _)| hash_key(k)) {
            hashbrown::hash_table::Entry::Occupied(mut o) => o.get_mut().1 = acc,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert((key, acc));
            }
        }
    }

    fn get(&self, key: &K) -> Option<&A> {
        self.table.find(hash_key(key), |(k, _)| k == key).map(|(_, a)| a)
    }

    fn len(&self) -> usize {
        self.table.len()
    }

    fn bytes(&self) -> usize {
        self.table.capacity() * (std::mem::size_of::<(K, A)>() + 1)
    }
}

/// An open session of one key.
struct Session<A> {
    start: u64,
    end: u64,
    acc: A,
}

enum Mode<K, A> {
    Panes {
        pane_ms: u64,
        size_ms: u64,
        /// Pane index -> accumulators.
        panes: BTreeMap<u64, KeyTable<K, A>>,
        /// Window end -> accumulators of records late for some of their sliding windows only.
        extras: BTreeMap<u64, KeyTable<K, A>>,
    },
    Sessions {
        gap_ms: u64,
        sessions: HashTable<(K, Vec<Session<A>>)>,
        /// `(end, key)` of every session not fired yet: the firing order.
        ends: BTreeSet<(u64, K)>,
        /// `(end, key)` of fired sessions kept for their allowed lateness: the purge order.
        fired_ends: BTreeSet<(u64, K)>,
        /// Capabilities no later than the earliest open session's end.
        caps: CapabilitySet<Time>,
        /// Number of open sessions over all keys.
        open: usize,
    },
}

/// One key group's window state in a snapshot (bincode): the accumulators of its keys per
/// pane (and per window end for extras), or its keys' sessions; and the watermark the
/// instance had fired windows to.
#[derive(Serialize, Deserialize)]
enum GroupState<K, A> {
    Panes { fired: u64, panes: Vec<(u64, K, A)>, extras: Vec<(u64, K, A)> },
    Sessions { fired: u64, sessions: Vec<KeySessions<K, A>> },
}

/// One key's sessions in a snapshot: `(start, end, accumulator)` each.
type KeySessions<K, A> = (K, Vec<(u64, u64, A)>);

impl<K, A> GroupState<K, A> {
    fn empty<X, Y>(fired: u64, mode: &Mode<X, Y>) -> Self {
        match mode {
            Mode::Panes { .. } => GroupState::Panes { fired, panes: Vec::new(), extras: Vec::new() },
            Mode::Sessions { .. } => GroupState::Sessions { fired, sessions: Vec::new() },
        }
    }
}

/// The window operator's state and logic, apart from timely's plumbing.
struct WindowCore<K, A: AggregateFunction<D>, D> {
    agg: A,
    lateness: u64,
    mode: Mode<K, A::Acc>,
    /// For panes: last millisecond of a pending window -> capabilities to emit its result at.
    caps: BTreeMap<u64, CapabilitySet<Time>>,
    /// The watermark up to which windows have fired.
    fired: EventTime,
    _d: std::marker::PhantomData<fn(&D)>,
}

type Results<K, O> = Vec<WindowResult<K, O>>;

impl<K: Key, D, A: AggregateFunction<D>> WindowCore<K, A, D> {
    fn new(spec: WindowSpec, lateness: u64, agg: A) -> Self {
        let mode = match spec {
            WindowSpec::Tumbling { size_ms } => {
                Mode::Panes { pane_ms: size_ms, size_ms, panes: BTreeMap::new(), extras: BTreeMap::new() }
            }
            WindowSpec::Sliding { size_ms, slide_ms } => {
                Mode::Panes { pane_ms: slide_ms, size_ms, panes: BTreeMap::new(), extras: BTreeMap::new() }
            }
            WindowSpec::Session { gap_ms } => Mode::Sessions {
                gap_ms,
                sessions: HashTable::new(),
                ends: BTreeSet::new(),
                fired_ends: BTreeSet::new(),
                caps: CapabilitySet::new(),
                open: 0,
            },
        };
        WindowCore { agg, lateness, mode, caps: BTreeMap::new(), fired: EventTime::MIN, _d: std::marker::PhantomData }
    }

    /// Ensures a capability for output time `at` exists, minted by `mint` (from the stamp).
    fn hold(
        caps: &mut BTreeMap<u64, CapabilitySet<Time>>,
        at: u64,
        mint: &mut impl FnMut(u64) -> timely::dataflow::operators::Capability<Time>,
    ) {
        let set = caps.entry(at).or_default();
        if set.is_empty() {
            set.insert(mint(at));
        }
    }

    /// Applies one batch stamped `stamp`: updates state, pushes late records to `late`, and
    /// results of already-fired windows the batch updated to `refired`.
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        stamp: Time,
        batch: &mut Vec<D>,
        key_fn: &impl Fn(&D) -> K,
        mint: &mut impl FnMut(u64) -> timely::dataflow::operators::Capability<Time>,
        late: &mut Vec<D>,
        refired: &mut Results<K, A::Out>,
        counts: &mut LocalCounts,
    ) where
        D: Event,
    {
        let w = stamp.event.0;
        let lateness = self.lateness;
        let fired = self.fired.0;
        let agg = &self.agg;
        let caps = &mut self.caps;
        counts.records_in += batch.len() as u64;
        match &mut self.mode {
            Mode::Panes { pane_ms, size_ms, panes, extras } => {
                let (p_ms, size) = (*pane_ms, *size_ms);
                // A pane p is on time for some window iff p*P + size + L > w.
                let first_live_pane = if w >= size + lateness { (w - size - lateness) / p_ms + 1 } else { 0 };
                // Windows ending at or below this are late for records of this batch.
                let late_end = w.saturating_sub(lateness);
                let mut touched: Vec<(u64, K)> = Vec::new();
                // The pane of the previous record, its event-time range, and whether it is the
                // common case (on time for all its windows, none fired): no division per record.
                let mut cur: Option<(u64, &mut KeyTable<K, A::Acc>)> = None;
                let (mut cur_lo, mut cur_hi, mut cur_simple) = (1u64, 0u64, false);
                for r in batch.drain(..) {
                    let ts = r.event_time().0;
                    if ts > counts.max_event_time {
                        counts.max_event_time = ts;
                    }
                    if cur_simple
                        && ts >= cur_lo
                        && ts < cur_hi
                        && let Some((_, table)) = cur.as_mut()
                    {
                        agg.add(table.entry(key_fn(&r), || agg.create()), &r);
                        continue;
                    }
                    let p = ts / p_ms;
                    if p < first_live_pane {
                        late.push(r);
                        continue;
                    }
                    let key = key_fn(&r);
                    let first_end = (p + 1) * p_ms;
                    if first_end <= late_end {
                        // Late for its earlier windows only: add to each on-time window alone.
                        let mut end = first_end;
                        while end <= p * p_ms + size {
                            if end > late_end {
                                if end > fired {
                                    Self::hold(caps, end - 1, mint);
                                }
                                let acc =
                                    extras.entry(end).or_insert_with(KeyTable::new).entry(key.clone(), || agg.create());
                                agg.add(acc, &r);
                                if end <= fired {
                                    touched.push((end, key.clone()));
                                }
                            }
                            end += p_ms;
                        }
                        continue;
                    }
                    if first_end <= fired {
                        let mut end = first_end;
                        while end <= p * p_ms + size {
                            if end <= fired {
                                touched.push((end, key.clone()));
                            }
                            end += p_ms;
                        }
                    }
                    let table = match cur {
                        Some((cp, t)) if cp == p => t,
                        _ => panes.entry(p).or_insert_with(|| {
                            let mut end = first_end;
                            while end <= p * p_ms + size {
                                if end > fired {
                                    Self::hold(caps, end - 1, mint);
                                }
                                end += p_ms;
                            }
                            KeyTable::new()
                        }),
                    };
                    agg.add(table.entry(key, || agg.create()), &r);
                    cur = Some((p, table));
                    cur_lo = p * p_ms;
                    cur_hi = cur_lo + p_ms;
                    cur_simple = first_end > fired;
                }
                if !touched.is_empty() {
                    touched.sort_unstable();
                    touched.dedup();
                    for (end, key) in touched {
                        let window = Window::new(end - size, end);
                        if let Some(acc) = Self::window_acc(agg, panes, extras, p_ms, window, &key) {
                            refired.push(WindowResult { key, window, value: agg.result(&acc) });
                        }
                    }
                }
            }
            Mode::Sessions { gap_ms, sessions, ends, fired_ends, caps, open } => {
                let gap = *gap_ms;
                for r in batch.drain(..) {
                    let ts = r.event_time().0;
                    counts.max_event_time = counts.max_event_time.max(ts);
                    if ts.saturating_add(lateness) < w {
                        late.push(r);
                        continue;
                    }
                    let key = key_fn(&r);
                    let h = hash_key(&key);
                    let entry = sessions
                        .entry(h, |(k, _)| *k == key, |(k, _)| hash_key(k))
                        .or_insert_with(|| (key.clone(), Vec::new()));
                    let list = &mut entry.into_mut().1;
                    let mut acc = agg.create();
                    agg.add(&mut acc, &r);
                    let mut merged = Session { start: ts, end: ts.saturating_add(gap), acc };
                    // Sessions overlap or touch the new one iff start <= new.end && new.start <= end.
                    let mut i = 0;
                    while i < list.len() {
                        let s = &list[i];
                        if s.start <= merged.end && merged.start <= s.end {
                            let s = list.remove(i);
                            *open -= 1;
                            ends.remove(&(s.end, key.clone()));
                            merged.start = merged.start.min(s.start);
                            merged.end = merged.end.max(s.end);
                            agg.merge(&mut merged.acc, &s.acc);
                        } else {
                            i += 1;
                        }
                    }
                    if merged.end < fired {
                        // Within allowed lateness of a session that has fired: emit it again now.
                        refired.push(WindowResult {
                            key: key.clone(),
                            window: Window::new(merged.start, merged.end),
                            value: agg.result(&merged.acc),
                        });
                        fired_ends.insert((merged.end, key));
                    } else {
                        if !caps.iter().any(|c| c.time().event.0 <= merged.end) {
                            caps.insert(mint(merged.end));
                        }
                        ends.insert((merged.end, key));
                    }
                    let pos = list.partition_point(|s| s.start < merged.start);
                    list.insert(pos, merged);
                    *open += 1;
                }
            }
        }
    }

    /// The merged accumulator of `window` for `key`, if it has any records.
    fn window_acc(
        agg: &A,
        panes: &BTreeMap<u64, KeyTable<K, A::Acc>>,
        extras: &BTreeMap<u64, KeyTable<K, A::Acc>>,
        pane_ms: u64,
        window: Window,
        key: &K,
    ) -> Option<A::Acc> {
        let mut out: Option<A::Acc> = None;
        let first = window.start.0 / pane_ms;
        let last = window.end.0 / pane_ms;
        let parts = panes.range(first..last).map(|(_, t)| t).chain(extras.get(&window.end.0));
        for t in parts {
            if let Some(a) = t.get(key) {
                match &mut out {
                    Some(o) => agg.merge(o, a),
                    None => out = Some(a.clone()),
                }
            }
        }
        out
    }

    /// Fires every window the watermark `wm` completes, calling `emit(output time, caps,
    /// results)`, and drops state no window can use any more.
    fn advance(&mut self, wm: EventTime, emit: impl FnMut(&CapabilitySet<Time>, u64, &mut Results<K, A::Out>)) {
        self.advance_filtered(wm, |_, _| true, emit);
    }

    /// [`advance`](Self::advance), emitting a window's result for a key only if `fresh(key,
    /// window end)` (after a rescale, key groups restored from an instance that had already fired
    /// the window do not emit it again).
    fn advance_filtered(
        &mut self,
        wm: EventTime,
        fresh: impl Fn(&K, u64) -> bool,
        mut emit: impl FnMut(&CapabilitySet<Time>, u64, &mut Results<K, A::Out>),
    ) {
        if wm <= self.fired {
            return;
        }
        let wm_ms = wm.0;
        let agg = &self.agg;
        let lateness = self.lateness;
        let mut results: Results<K, A::Out> = Vec::new();
        match &mut self.mode {
            Mode::Panes { pane_ms, size_ms, panes, extras } => {
                let (p_ms, size) = (*pane_ms, *size_ms);
                // Window ends pending are exactly the capability keys + 1.
                while let Some(entry) = self.caps.first_entry() {
                    let end = *entry.key() + 1;
                    if end > wm_ms {
                        break;
                    }
                    let caps = entry.remove();
                    let window = Window::new(end.saturating_sub(size), end);
                    let first = window.start.0 / p_ms;
                    let last = end / p_ms;
                    let extra = extras.get(&end);
                    if size == p_ms && extra.is_none() {
                        // Tumbling: one pane is the whole window.
                        if let Some(t) = panes.get(&first) {
                            results.extend(t.table.iter().filter(|(k, _)| fresh(k, end)).map(|(k, a)| WindowResult {
                                key: k.clone(),
                                window,
                                value: agg.result(a),
                            }));
                        }
                    } else {
                        let mut merged: KeyTable<K, A::Acc> = KeyTable::new();
                        for t in panes.range(first..last).map(|(_, t)| t).chain(extra) {
                            for (k, a) in t.table.iter() {
                                agg.merge(merged.entry(k.clone(), || agg.create()), a);
                            }
                        }
                        results.extend(
                            merged.table.into_iter().filter(|(k, _)| fresh(k, end)).map(|(key, a)| WindowResult {
                                key,
                                window,
                                value: agg.result(&a),
                            }),
                        );
                    }
                    emit(&caps, end - 1, &mut results);
                    results.clear();
                }
                // A pane is done once its last window (ending p*P + size) is past its lateness.
                let horizon = wm_ms.saturating_sub(lateness);
                while let Some(entry) = panes.first_entry() {
                    if entry.key() * p_ms + size > horizon {
                        break;
                    }
                    entry.remove();
                }
                while let Some(entry) = extras.first_entry() {
                    if *entry.key() > horizon {
                        break;
                    }
                    entry.remove();
                }
            }
            Mode::Sessions { sessions, ends, fired_ends, caps, open, .. } => {
                // Sessions ending strictly below the watermark are complete.
                while let Some((end, _)) = ends.first() {
                    let end = *end;
                    if end >= wm_ms {
                        break;
                    }
                    while ends.first().is_some_and(|(e, _)| *e == end) {
                        let Some((_, key)) = ends.pop_first() else { break };
                        if let Some((_, list)) = sessions.find_mut(hash_key(&key), |(k, _)| *k == key)
                            && let Some(s) = list.iter().find(|s| s.end == end)
                            && fresh(&key, end)
                        {
                            results.push(WindowResult {
                                key: key.clone(),
                                window: Window::new(s.start, s.end),
                                value: agg.result(&s.acc),
                            });
                        }
                        fired_ends.insert((end, key));
                    }
                    if !results.is_empty() {
                        emit(caps, end, &mut results);
                        results.clear();
                    }
                }
                // Drop sessions past their lateness; hold capabilities only for open ones.
                let horizon = wm_ms.saturating_sub(lateness);
                while fired_ends.first().is_some_and(|(e, _)| *e < horizon) {
                    let Some((end, key)) = fired_ends.pop_first() else { break };
                    let h = hash_key(&key);
                    if let Ok(mut entry) = sessions.find_entry(h, |(k, _)| *k == key) {
                        let list = &mut entry.get_mut().1;
                        let before = list.len();
                        list.retain(|s| s.end != end);
                        *open -= before - list.len();
                        if list.is_empty() {
                            entry.remove();
                        }
                    }
                }
                match ends.first() {
                    None => *caps = CapabilitySet::new(),
                    Some(&(next, _)) => {
                        if caps.iter().all(|c| c.time().event.0 < next) {
                            let epoch = caps.iter().map(|c| c.time().epoch).min().unwrap_or_default();
                            caps.downgrade([Time { epoch, event: EventTime(next) }]);
                        }
                    }
                }
            }
        }
        self.fired = wm;
        if wm == EventTime::MAX {
            // The input has ended: every window has fired; release the memory too.
            self.caps.clear();
            if let Mode::Sessions { sessions, .. } = &mut self.mode {
                *sessions = HashTable::new();
            }
        }
    }

    /// The state of every key group with any, encoded per group (see [`GroupState`]).
    fn snapshot_groups(&self, maxp: u32) -> Vec<(KeyGroup, Vec<u8>)> {
        let fired = self.fired.0;
        let mut groups: BTreeMap<u32, GroupState<K, A::Acc>> = BTreeMap::new();
        let mode = &self.mode;
        fn group_of<'g, K: Key, A, X, Y>(
            groups: &'g mut BTreeMap<u32, GroupState<K, A>>,
            k: &K,
            maxp: u32,
            fired: u64,
            mode: &Mode<X, Y>,
        ) -> &'g mut GroupState<K, A> {
            groups.entry(KeyGroup::of(k, maxp).0).or_insert_with(|| GroupState::empty(fired, mode))
        }
        match &self.mode {
            Mode::Panes { panes, extras, .. } => {
                for (&p, t) in panes {
                    for (k, a) in t.table.iter() {
                        if let GroupState::Panes { panes, .. } = group_of(&mut groups, k, maxp, fired, mode) {
                            panes.push((p, k.clone(), a.clone()));
                        }
                    }
                }
                for (&end, t) in extras {
                    for (k, a) in t.table.iter() {
                        if let GroupState::Panes { extras, .. } = group_of(&mut groups, k, maxp, fired, mode) {
                            extras.push((end, k.clone(), a.clone()));
                        }
                    }
                }
            }
            Mode::Sessions { sessions, .. } => {
                for (k, list) in sessions.iter() {
                    if let GroupState::Sessions { sessions, .. } = group_of(&mut groups, k, maxp, fired, mode) {
                        sessions.push((k.clone(), list.iter().map(|s| (s.start, s.end, s.acc.clone())).collect()));
                    }
                }
            }
        }
        groups
            .into_iter()
            .map(|(g, st)| (KeyGroup(g), bincode::serialize(&st).expect("window state serializes")))
            .collect()
    }

    /// Adds a restored key group's state; returns the watermark its instance had fired to.
    fn restore_group(&mut self, bytes: &[u8]) -> std::result::Result<u64, String> {
        let st: GroupState<K, A::Acc> = bincode::deserialize(bytes).map_err(|e| e.to_string())?;
        match (st, &mut self.mode) {
            (GroupState::Panes { fired, panes: ps, extras: xs }, Mode::Panes { panes, extras, .. }) => {
                for (p, k, a) in ps {
                    panes.entry(p).or_insert_with(KeyTable::new).put(k, a);
                }
                for (end, k, a) in xs {
                    extras.entry(end).or_insert_with(KeyTable::new).put(k, a);
                }
                Ok(fired)
            }
            (GroupState::Sessions { fired, sessions: ss }, Mode::Sessions { sessions, ends, fired_ends, open, .. }) => {
                for (k, list) in ss {
                    let list: Vec<Session<A::Acc>> =
                        list.into_iter().map(|(start, end, acc)| Session { start, end, acc }).collect();
                    for s in &list {
                        // Sessions fire once the watermark passes their end.
                        if s.end >= fired {
                            ends.insert((s.end, k.clone()));
                        } else {
                            fired_ends.insert((s.end, k.clone()));
                        }
                    }
                    *open += list.len();
                    let h = hash_key(&k);
                    sessions.insert_unique(h, (k, list), |(k, _)| hash_key(k));
                }
                Ok(fired)
            }
            _ => Err("the window kind changed (tumbling/sliding versus session)".into()),
        }
    }

    /// After restoring: fires to `fired`, holding capabilities (minted by `mint`) for every
    /// pending window.
    fn restored(&mut self, fired: u64, mut mint: impl FnMut(u64) -> timely::dataflow::operators::Capability<Time>) {
        self.fired = EventTime(fired);
        match &mut self.mode {
            Mode::Panes { pane_ms, size_ms, panes, extras } => {
                let (p_ms, size) = (*pane_ms, *size_ms);
                for &p in panes.keys() {
                    let mut end = (p + 1) * p_ms;
                    while end <= p * p_ms + size {
                        if end > fired {
                            Self::hold(&mut self.caps, end - 1, &mut mint);
                        }
                        end += p_ms;
                    }
                }
                for &end in extras.keys() {
                    if end > fired {
                        Self::hold(&mut self.caps, end - 1, &mut mint);
                    }
                }
            }
            Mode::Sessions { ends, caps, .. } => {
                if let Some(&(next, _)) = ends.first() {
                    caps.insert(mint(next));
                }
            }
        }
    }

    /// Moves every held capability to epoch `epoch` at least (after that epoch's snapshot).
    fn caps_to_epoch(&mut self, epoch: crate::time::Epoch) {
        let lift = |set: &mut CapabilitySet<Time>| {
            let lifted: Vec<_> = set
                .iter()
                .map(|c| c.delayed(&Time { epoch: c.time().epoch.max(epoch), event: c.time().event }))
                .collect();
            *set = CapabilitySet::new();
            for c in lifted {
                set.insert(c);
            }
        };
        for set in self.caps.values_mut() {
            lift(set);
        }
        if let Mode::Sessions { caps, .. } = &mut self.mode {
            lift(caps);
        }
    }

    fn state_size(&self) -> (u64, u64) {
        match &self.mode {
            Mode::Panes { panes, extras, .. } => panes
                .values()
                .chain(extras.values())
                .fold((0, 0), |(b, k), t| (b + t.bytes() as u64, k + t.len() as u64)),
            Mode::Sessions { sessions, open, .. } => {
                let per = std::mem::size_of::<Session<A::Acc>>();
                let bytes = sessions.capacity() * (std::mem::size_of::<(K, Vec<Session<A::Acc>>)>() + 1) + open * per;
                (bytes as u64, sessions.len() as u64)
            }
        }
    }
}

/// The name of the window operator's state in snapshots.
const WINDOW_STATE: &str = "windows";

/// Sends what a batch made late (with `$c1`) or re-fired (with `$c0`).
macro_rules! flush_outputs {
    ($late_handle:expr, $results_handle:expr, $c0:expr, $c1:expr, $late:expr, $refired:expr, $counts:expr) => {
        if !$late.is_empty() {
            $counts.late_records += $late.len() as u64;
            $late_handle.give($c1, &mut $late);
            $late.clear();
        }
        if !$refired.is_empty() {
            $counts.records_out += $refired.len() as u64;
            $results_handle.give($c0, &mut $refired);
            $refired.clear();
        }
    };
}

/// Hands epoch `e`'s window state to the writer and acknowledges it.
fn snapshot_window<K: Key, D, A: AggregateFunction<D>>(
    core: &WindowCore<K, A, D>,
    p: &Participant,
    e: crate::time::Epoch,
    maxp: u32,
    aligned_records: u64,
) {
    let started = std::time::Instant::now();
    let groups = core.snapshot_groups(maxp);
    let pause = started.elapsed();
    let chunks = groups.into_iter().map(|(kg, bytes)| (WINDOW_STATE, kg, bytes)).collect();
    let (state_bytes, keys) = core.state_size();
    p.hand_over(e, chunks, Vec::new(), keys, state_bytes, pause, aligned_records);
}

/// Loads this worker's key groups from the restored checkpoint into `core` and holds
/// capabilities for its pending windows. Returns, after a rescale, the groups whose instance had
/// fired further than the others (their windows up to there must not fire again).
#[allow(clippy::type_complexity)]
fn restore_window<K: Key, D, A: AggregateFunction<D>>(
    core: &mut WindowCore<K, A, D>,
    p: &Participant,
    worker: usize,
    peers: usize,
    maxp: u32,
    initial: &mut Capability<Time>,
) -> crate::Result<Option<(u64, HashMap<u32, u64>)>> {
    if p.coordinator().restored().is_none() {
        return Ok(None);
    }
    let mut fired_by_group: HashMap<u32, u64> = HashMap::new();
    for g in (0..maxp).filter(|g| KeyGroup(*g).worker(peers) == worker) {
        if let Some(bytes) = p.restored_chunk(WINDOW_STATE, KeyGroup(g))? {
            let fired = core.restore_group(&bytes).map_err(|reason| crate::Error::IncompatibleState {
                operator: p.operator().to_owned(),
                state: WINDOW_STATE.to_owned(),
                reason,
            })?;
            fired_by_group.insert(g, fired);
        }
    }
    let low = fired_by_group.values().copied().min().unwrap_or(0);
    let high = fired_by_group.values().copied().max().unwrap_or(0);
    let epoch = p.current();
    core.restored(low, |at| initial.delayed(&Time { epoch, event: EventTime(at) }));
    Ok((high > low).then(|| (high, fired_by_group.into_iter().filter(|&(_, f)| f > low).collect())))
}

/// Builds the window operator; see the module docs.
#[allow(clippy::type_complexity)]
pub(crate) fn window_aggregate<'s, D, K, A, KF>(
    stream: Stream<'s, Time, Vec<D>>,
    df: &Dataflow<'s>,
    name: &str,
    key_fn: KF,
    spec: WindowSpec,
    lateness: u64,
    agg: A,
) -> (Stream<'s, Time, Vec<WindowResult<K, A::Out>>>, Stream<'s, Time, Vec<D>>)
where
    D: Event + Clone + Send + Serialize + for<'de> Deserialize<'de> + 'static,
    K: Key,
    A: AggregateFunction<D>,
    KF: Fn(&D) -> K + Clone + 'static,
{
    let maxp = df.max_parallelism();
    let metrics: Arc<OperatorMetrics> = df.shared().metrics().register(name, df.worker_index());
    let route = key_fn.clone();
    let single = df.peers() == 1;
    let mut builder = OperatorBuilder::new(name.to_owned(), df.scope());
    let mut input = builder.new_input(
        stream,
        Exchange::new(move |r: &D| if single { 0 } else { u64::from(KeyGroup::of(&route(r), maxp).0) }),
    );
    let (mut results_out, results_stream) = builder.new_output::<Vec<WindowResult<K, A::Out>>>();
    let (mut late_out, late_stream) = builder.new_output::<Vec<D>>();
    let worker = df.worker_index();
    let peers = df.peers();
    let shared = Arc::clone(df.shared());
    let participant: Option<Participant> = shared.coordinator().and_then(|c| {
        let declared = c.participant(name, worker, false).and_then(|p| {
            c.declare_state(name, WINDOW_STATE, "window", std::any::type_name::<(K, A::Acc)>()).map(|()| p)
        });
        declared.map_err(|e| shared.fail(e)).ok()
    });
    builder.build(move |mut initial| {
        let mut core: WindowCore<K, A, D> = WindowCore::new(spec, lateness, agg);
        let mut counts = LocalCounts::default();
        let mut late: Vec<D> = Vec::new();
        let mut refired: Results<K, A::Out> = Vec::new();
        let mut participant = participant;
        // Batches of epochs after the one being applied wait here until it is snapshotted.
        let mut stash: EpochStash<(Capability<Time>, Capability<Time>, Vec<D>)> = EpochStash::default();
        // After a rescale: key groups whose instance had fired further than the merged state.
        let mut catch_up: Option<(u64, HashMap<u32, u64>)> = None;
        if let Some(p) = &participant {
            match restore_window(&mut core, p, worker, peers, maxp, &mut initial[0]) {
                Ok(c) => catch_up = c,
                Err(e) => shared.fail(e),
            }
        }
        drop(initial);
        move |frontiers| {
            let mut results_handle = results_out.activate();
            let mut late_handle = late_out.activate();
            let current = participant.as_ref().map(Participant::current);
            input.for_each_stamp(|cap, data| {
                let Some(stamp) = cap.stamp().iter().min_by_key(|t| t.event).copied() else { return };
                if current.is_some_and(|c| stamp.epoch > c) {
                    // A later epoch: held, with capabilities of its own, until this one is done.
                    let (c0, c1) = (cap.delayed(&stamp, 0), cap.delayed(&stamp, 1));
                    for batch in data {
                        stash.hold(stamp, batch.len(), (c0.clone(), c1.clone(), std::mem::take(batch)));
                    }
                    return;
                }
                let mut mint =
                    |at: u64| cap.delayed(&Time { epoch: stamp.epoch, event: EventTime(at.max(stamp.event.0)) }, 0);
                for batch in data {
                    core.apply(stamp, batch, &key_fn, &mut mint, &mut late, &mut refired, &mut counts);
                    flush_outputs!(late_handle, results_handle, &cap, &cap, late, refired, counts);
                }
            });
            let frontier = frontiers[0].frontier();
            let frontier_wm = watermark(frontier.as_ref());
            let frontier_epoch = Participant::min_epoch(frontier.as_ref());
            loop {
                let wm = stash.watermark(frontier_wm);
                let mut emit = |caps: &CapabilitySet<Time>, at: u64, results: &mut Results<K, A::Out>| {
                    if results.is_empty() {
                        return;
                    }
                    let cap = caps.iter().min_by_key(|c| c.time().epoch).expect("a pending window holds a capability");
                    let t = Time { epoch: cap.time().epoch, event: EventTime(at.max(cap.time().event.0)) };
                    let cap = cap.delayed(&t);
                    counts.records_out += results.len() as u64;
                    results_handle.give(&cap, results);
                };
                match &catch_up {
                    Some((upto, groups)) => {
                        let fresh = |k: &K, end: u64| groups.get(&KeyGroup::of(k, maxp).0).is_none_or(|&f| end > f);
                        core.advance_filtered(wm, fresh, &mut emit);
                        if wm.0 >= *upto {
                            catch_up = None;
                        }
                    }
                    None => core.advance(wm, &mut emit),
                }
                let Some(p) = participant.as_mut() else { break };
                let Some(e) = p.due(frontier_epoch, shared.aborted()) else { break };
                snapshot_window(&core, p, e, maxp, stash.take_held_count());
                core.caps_to_epoch(crate::time::Epoch(e.0 + 1));
                // Batches of the epoch now being applied leave the stash.
                let next = p.current();
                let ready = stash.take_through(next);
                for (stamp, (c0, c1, mut batch)) in ready {
                    let mut mint =
                        |at: u64| c0.delayed(&Time { epoch: stamp.epoch, event: EventTime(at.max(stamp.event.0)) });
                    core.apply(stamp, &mut batch, &key_fn, &mut mint, &mut late, &mut refired, &mut counts);
                    flush_outputs!(late_handle, results_handle, &c0, &c1, late, refired, counts);
                }
            }
            if frontier.is_empty()
                && !stash.is_empty()
                && participant.as_mut().is_none_or(|p| p.due(None, shared.aborted()).is_none())
            {
                // Stopped at a savepoint or failed: what waits past the last snapshot is dropped.
                stash.clear();
            }
            metrics.set_watermark(frontier_wm.0);
            let (bytes, keys) = core.state_size();
            metrics.set_state(bytes, keys);
            metrics.flush(&mut counts);
        }
    });
    (results_stream, late_stream)
}
