//! Timers of a keyed operator, kept per key group (they are state: a snapshot captures them
//! group by group, alongside the keyed state).
//!
//! A timer is a `(time, key)` pair in one of two [`TimeDomain`]s. Each domain keeps one ordered
//! set per local key group, so a `(time, key)` is registered at most once: registering it again
//! is a no-op, and it fires once.
//!
//! Firing (see [`TimerQueue::start_firing`] / [`TimerQueue::pop_due`]): the due timers of every
//! group (time `<=` the bound: the watermark, or the wall clock) are merged into one heap and
//! handed out in `(time, key)` order across groups. The per-group sets stay the truth while
//! firing: a due timer deleted before its turn is skipped, and a timer registered during the
//! round at or below the bound joins the heap and fires in the same round, in order.
//!
//! Storage and snapshots: a group's set is a sorted sequence of *leaves* (up to `2 * LEAF`
//! entries each), every leaf behind an `Arc`, the list of leaves behind one more `Arc`, and the
//! first entry of every leaf in a plain vector for the search. A snapshot of a group
//! ([`TimerQueue::snapshot_group`]) takes one reference to the list (O(1) per group, nothing
//! copied) and returns a deferred payload that the coordinator's encoder thread encodes later;
//! the operator goes on, and its first write to the list or to a leaf that a snapshot still
//! holds copies that list or leaf first (copy-on-write, `Arc::make_mut`). The payload's bytes
//! are those of the earlier encoding on the worker (bincode of the group's `Vec<(u64, K)>` in
//! order), so checkpoints written before and after read the same way.
//!
//! Invariants of a group: leaves are non-empty, each sorted, and every entry of a leaf is below
//! every entry of the next; `firsts[i]` is leaf `i`'s first entry; `len` is the number of
//! entries.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::mem::size_of;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeSeq, Serializer};

use crate::snapshot::Payload;
use crate::state::{Key, KeyGroup};

/// The clock a timer follows.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TimeDomain {
    /// Event time: fires when the operator's input watermark reaches the timer's time.
    EventTime,
    /// Processing time: fires when the wall clock (ms since the Unix epoch) reaches it.
    ProcessingTime,
}

/// Entries a leaf keeps after a split; a leaf splits when it would exceed twice as many. Small
/// enough that a copy-on-write copy or an insertion's shift is cheap, large enough that a
/// snapshot's reference and the search vector stay small.
const LEAF: usize = 64;

/// One sorted run of timers, shared with snapshots that hold it.
type Leaf<K> = Arc<VecDeque<(u64, K)>>;

/// The timers of one key group (see the module docs for the layout and its invariants).
struct GroupTimers<K> {
    leaves: Arc<Vec<Leaf<K>>>,
    firsts: Vec<(u64, K)>,
    len: usize,
}

impl<K: Key> GroupTimers<K> {
    fn new() -> Self {
        GroupTimers { leaves: Arc::new(Vec::new()), firsts: Vec::new(), len: 0 }
    }

    /// The leaf that holds `e` if any does (the last leaf whose first entry is `<= e`, or the
    /// first leaf).
    #[inline]
    fn leaf_of(&self, e: &(u64, K)) -> usize {
        self.firsts.partition_point(|f| f <= e).saturating_sub(1)
    }

    fn first(&self) -> Option<&(u64, K)> {
        self.firsts.first()
    }

    fn insert(&mut self, e: (u64, K)) -> bool {
        if self.firsts.is_empty() {
            self.firsts.push(e.clone());
            Arc::make_mut(&mut self.leaves).push(Arc::new(VecDeque::from([e])));
            self.len = 1;
            return true;
        }
        let i = self.leaf_of(&e);
        let Err(pos) = self.leaves[i].binary_search(&e) else { return false };
        let leaves = Arc::make_mut(&mut self.leaves);
        let leaf = Arc::make_mut(&mut leaves[i]);
        leaf.insert(pos, e);
        if pos == 0 {
            self.firsts[i] = leaf[0].clone();
        }
        if leaf.len() > 2 * LEAF {
            let right = leaf.split_off(LEAF);
            self.firsts.insert(i + 1, right[0].clone());
            leaves.insert(i + 1, Arc::new(right));
        }
        self.len += 1;
        true
    }

    fn remove(&mut self, e: &(u64, K)) -> bool {
        if self.firsts.is_empty() {
            return false;
        }
        let i = self.leaf_of(e);
        let Ok(pos) = self.leaves[i].binary_search(e) else { return false };
        let leaves = Arc::make_mut(&mut self.leaves);
        let leaf = Arc::make_mut(&mut leaves[i]);
        leaf.remove(pos);
        if leaf.is_empty() {
            leaves.remove(i);
            self.firsts.remove(i);
        } else if pos == 0 {
            self.firsts[i] = leaf[0].clone();
        }
        self.len -= 1;
        true
    }

    fn iter(&self) -> impl Iterator<Item = &(u64, K)> + '_ {
        self.leaves.iter().flat_map(|l| l.iter())
    }

    fn clear(&mut self) {
        *self = GroupTimers::new();
    }
}

/// A group's leaves as a snapshot holds them, serialized as the `Vec<(u64, K)>` of its entries.
struct Frozen<K> {
    leaves: Arc<Vec<Leaf<K>>>,
    len: usize,
}

impl<K: serde::Serialize> Serialize for Frozen<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len))?;
        for e in self.leaves.iter().flat_map(|l| l.iter()) {
            seq.serialize_element(e)?;
        }
        seq.end()
    }
}

impl<K: serde::Serialize> Frozen<K> {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.len * size_of::<(u64, K)>());
        bincode::serialize_into(&mut out, self).expect("timers encode");
        out
    }
}

/// The timers of one domain, per local key group.
pub struct TimerQueue<K> {
    groups: Vec<GroupTimers<K>>,
    len: usize,
    due: BinaryHeap<Reverse<(u64, K, usize)>>,
    bound: Option<u64>,
    /// Groups changed since the last [`take_dirty`](TimerQueue::take_dirty) (incremental
    /// snapshots).
    dirty: Vec<bool>,
}

impl<K: Key> TimerQueue<K> {
    /// An empty queue for `local_groups` key groups.
    pub fn new(local_groups: usize) -> Self {
        TimerQueue {
            groups: (0..local_groups).map(|_| GroupTimers::new()).collect(),
            len: 0,
            due: BinaryHeap::new(),
            bound: None,
            dirty: vec![false; local_groups],
        }
    }

    /// Registers a timer in local group `group`; returns whether it was new.
    pub fn register(&mut self, group: usize, time: u64, key: &K) -> bool {
        let new = self.groups[group].insert((time, key.clone()));
        if new {
            self.len += 1;
            self.dirty[group] = true;
            if self.bound.is_some_and(|b| time <= b) {
                self.due.push(Reverse((time, key.clone(), group)));
            }
        }
        new
    }

    /// Deletes a timer; returns whether it existed.
    pub fn delete(&mut self, group: usize, time: u64, key: &K) -> bool {
        let gone = self.groups[group].remove(&(time, key.clone()));
        if gone {
            self.len -= 1;
            self.dirty[group] = true;
        }
        gone
    }

    /// Number of pending timers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Time of the earliest pending timer. Costs one look per local key group.
    pub fn earliest(&self) -> Option<u64> {
        self.groups.iter().filter_map(|g| g.first().map(|t| t.0)).min()
    }

    /// Starts a firing round: every timer at or below `bound` becomes due.
    pub fn start_firing(&mut self, bound: u64) {
        self.due.clear();
        self.bound = Some(bound);
        for (g, set) in self.groups.iter().enumerate() {
            for (t, k) in set.iter() {
                if *t > bound {
                    break;
                }
                self.due.push(Reverse((*t, k.clone(), g)));
            }
        }
    }

    /// The next due timer in `(time, key)` order, removed from the queue; `None` ends the round.
    pub fn pop_due(&mut self) -> Option<(u64, K)> {
        while let Some(Reverse((t, k, g))) = self.due.pop() {
            let entry = (t, k);
            if self.groups[g].remove(&entry) {
                self.len -= 1;
                self.dirty[g] = true;
                return Some(entry);
            }
        }
        self.bound = None;
        None
    }

    /// Drops every pending timer.
    pub fn clear(&mut self) {
        for (g, d) in self.groups.iter_mut().zip(&mut self.dirty) {
            *d |= g.len > 0;
            g.clear();
        }
        self.len = 0;
        self.due.clear();
    }

    /// Number of timers in local group `group`.
    pub fn group_len(&self, group: usize) -> usize {
        self.groups[group].len
    }

    /// Calls `f` with every `(time, key)` of local group `group`, in order.
    pub fn for_each_in_group(&self, group: usize, mut f: impl FnMut(u64, &K)) {
        self.groups[group].iter().for_each(|(t, k)| f(*t, k));
    }

    /// Whether local group `group` changed since the last call (and resets that).
    pub fn take_dirty(&mut self, group: usize) -> bool {
        std::mem::take(&mut self.dirty[group])
    }

    /// The timers of local group `group` for a snapshot, `None` if it has none: a deferred
    /// payload holding the group as it is now (O(1): the group's leaves are shared, and copied
    /// by the queue's next write to them), encoded when the encoder thread calls it.
    pub fn snapshot_group(&self, group: usize) -> Option<Payload> {
        let g = &self.groups[group];
        if g.len == 0 {
            return None;
        }
        let frozen = Frozen { leaves: Arc::clone(&g.leaves), len: g.len };
        Some(Payload::Deferred(Box::new(move || frozen.encode())))
    }

    /// The timers of local group `group` encoded for a snapshot now, `None` if it has none (the
    /// bytes [`snapshot_group`](TimerQueue::snapshot_group)'s payload encodes later).
    pub fn encode_group(&self, group: usize) -> Option<Vec<u8>> {
        let g = &self.groups[group];
        (g.len > 0).then(|| Frozen { leaves: Arc::clone(&g.leaves), len: g.len }.encode())
    }

    /// Adds the timers of a snapshot's group to local group `group`.
    pub fn decode_group(&mut self, group: usize, bytes: &[u8]) -> Result<(), String> {
        let timers: Vec<(u64, K)> = bincode::deserialize(bytes).map_err(|e| e.to_string())?;
        for e in timers {
            if self.groups[group].insert(e) {
                self.len += 1;
            }
        }
        Ok(())
    }

    /// Estimated bytes: `(u64, K)` entries at an assumed leaf fill of two thirds.
    pub fn estimated_bytes(&self) -> usize {
        self.len * size_of::<(u64, K)>() * 3 / 2
    }
}

/// The event-time and processing-time timers of one keyed operator instance.
pub struct TimerService<K> {
    workers: usize,
    /// Event-time timers.
    pub event: TimerQueue<K>,
    /// Processing-time timers.
    pub processing: TimerQueue<K>,
}

impl<K: Key> TimerService<K> {
    /// Empty timers for `worker` of `workers` in a job with `max_parallelism` key groups.
    pub fn new(worker: usize, workers: usize, max_parallelism: u32) -> Self {
        let n = KeyGroup::count_owned(worker, workers, max_parallelism);
        TimerService { workers, event: TimerQueue::new(n), processing: TimerQueue::new(n) }
    }

    /// The queue of `domain`.
    pub fn queue(&mut self, domain: TimeDomain) -> &mut TimerQueue<K> {
        match domain {
            TimeDomain::EventTime => &mut self.event,
            TimeDomain::ProcessingTime => &mut self.processing,
        }
    }

    /// The local index of key group `kg`.
    pub fn local(&self, kg: KeyGroup) -> usize {
        kg.local_index(self.workers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_time_then_key_order_once_and_skips_deleted() {
        let mut q: TimerQueue<u32> = TimerQueue::new(3);
        assert!(q.register(2, 10, &7));
        assert!(!q.register(2, 10, &7), "duplicate registration is a no-op");
        q.register(0, 10, &3);
        q.register(1, 5, &9);
        q.register(1, 50, &1);
        q.register(0, 20, &4);
        assert_eq!(q.earliest(), Some(5));
        q.start_firing(20);
        assert_eq!(q.pop_due(), Some((5, 9)));
        assert!(q.delete(0, 20, &4));
        q.register(1, 7, &2); // registered while firing, below the bound: same round, in order
        q.register(1, 30, &2); // above the bound: stays pending
        assert_eq!(q.pop_due(), Some((7, 2)));
        assert_eq!(q.pop_due(), Some((10, 3)));
        assert_eq!(q.pop_due(), Some((10, 7)));
        assert_eq!(q.pop_due(), None);
        assert_eq!(q.len(), 2);
        assert_eq!(q.earliest(), Some(30));
    }

    /// A small deterministic generator (SplitMix64).
    fn next(state: &mut u64, bound: u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % bound
    }

    /// Checks a group's layout invariants and returns its entries.
    fn entries(q: &TimerQueue<u64>, g: usize) -> Vec<(u64, u64)> {
        let group = &q.groups[g];
        assert_eq!(group.leaves.len(), group.firsts.len());
        for (leaf, first) in group.leaves.iter().zip(&group.firsts) {
            assert!(!leaf.is_empty() && leaf.len() <= 2 * LEAF, "leaf of {} entries", leaf.len());
            assert_eq!(&leaf[0], first);
        }
        let all: Vec<(u64, u64)> = group.iter().cloned().collect();
        assert!(all.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
        assert_eq!(all.len(), q.group_len(g));
        all
    }

    /// Registrations, deletions and firing rounds against a `BTreeSet` per group; snapshots
    /// taken along the way encode, after the queue went on changing, exactly the bincode bytes
    /// of the group's `Vec<(u64, K)>` at the snapshot (the format of earlier checkpoints), and
    /// decode back to it.
    #[test]
    fn leaves_match_an_ordered_set_and_snapshots_stay_frozen() {
        use std::collections::BTreeSet;
        let groups = 3;
        let mut rng = 7u64;
        let mut q: TimerQueue<u64> = TimerQueue::new(groups);
        let mut model: Vec<BTreeSet<(u64, u64)>> = vec![BTreeSet::new(); groups];
        let mut frozen: Vec<(Payload, Vec<u8>)> = Vec::new();
        let mut watermark = 0;
        for round in 0..60 {
            for _ in 0..1_000 {
                let g = next(&mut rng, groups as u64) as usize;
                let (t, k) = (watermark + next(&mut rng, 5_000), next(&mut rng, 300));
                if next(&mut rng, 4) == 0 {
                    assert_eq!(q.delete(g, t, &k), model[g].remove(&(t, k)));
                } else {
                    assert_eq!(q.register(g, t, &k), model[g].insert((t, k)));
                }
            }
            if round % 7 == 0 {
                for (g, set) in model.iter().enumerate() {
                    let want: Vec<(u64, u64)> = set.iter().copied().collect();
                    if let Some(p) = q.snapshot_group(g) {
                        frozen.push((p, bincode::serialize(&want).unwrap()));
                    }
                }
            }
            watermark += 1_000;
            q.start_firing(watermark);
            let mut fired = Vec::new();
            while let Some((t, k)) = q.pop_due() {
                fired.push((t, k));
            }
            let mut want_fired: Vec<(u64, u64)> = Vec::new();
            for set in &mut model {
                while set.first().is_some_and(|e| e.0 <= watermark) {
                    want_fired.push(set.pop_first().unwrap());
                }
            }
            want_fired.sort_unstable();
            assert_eq!(fired, want_fired, "round {round}: fired in (time, key) order");
            for (g, set) in model.iter().enumerate() {
                let want: Vec<(u64, u64)> = set.iter().copied().collect();
                assert_eq!(entries(&q, g), want, "round {round}, group {g}");
            }
            assert_eq!(q.len(), model.iter().map(BTreeSet::len).sum::<usize>());
            assert_eq!(q.earliest(), model.iter().filter_map(|s| s.first().map(|e| e.0)).min());
        }
        assert!(frozen.len() > 10, "{} snapshots", frozen.len());
        let leaves: Vec<usize> = q.groups.iter().map(|g| g.leaves.len()).collect();
        assert!(leaves.iter().all(|&n| n > 4), "leaves split: {leaves:?}");
        for (payload, want) in frozen {
            let Payload::Deferred(encode) = payload else { panic!("timers snapshot off the worker") };
            let bytes = encode();
            assert_eq!(bytes, want, "the snapshot's bytes");
            let mut restored: TimerQueue<u64> = TimerQueue::new(1);
            restored.decode_group(0, &bytes).unwrap();
            let decoded: Vec<(u64, u64)> = bincode::deserialize(&want).unwrap();
            assert_eq!(entries(&restored, 0), decoded);
        }
    }
}
