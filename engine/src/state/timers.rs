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

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::mem::size_of;

use crate::state::{Key, KeyGroup};

/// The clock a timer follows.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TimeDomain {
    /// Event time: fires when the operator's input watermark reaches the timer's time.
    EventTime,
    /// Processing time: fires when the wall clock (ms since the Unix epoch) reaches it.
    ProcessingTime,
}

/// The timers of one domain, per local key group.
pub struct TimerQueue<K> {
    groups: Vec<BTreeSet<(u64, K)>>,
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
            groups: (0..local_groups).map(|_| BTreeSet::new()).collect(),
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
        // A range lookup would avoid the clone; keys are small in practice.
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
            *d |= !g.is_empty();
            g.clear();
        }
        self.len = 0;
        self.due.clear();
    }

    /// Number of timers in local group `group`.
    pub fn group_len(&self, group: usize) -> usize {
        self.groups[group].len()
    }

    /// Calls `f` with every `(time, key)` of local group `group`, in order.
    pub fn for_each_in_group(&self, group: usize, mut f: impl FnMut(u64, &K)) {
        self.groups[group].iter().for_each(|(t, k)| f(*t, k));
    }

    /// Whether local group `group` changed since the last call (and resets that).
    pub fn take_dirty(&mut self, group: usize) -> bool {
        std::mem::take(&mut self.dirty[group])
    }

    /// The timers of local group `group` encoded for a snapshot, `None` if it has none.
    pub fn encode_group(&self, group: usize) -> Option<Vec<u8>> {
        let set = &self.groups[group];
        (!set.is_empty())
            .then(|| crate::state::table::encode_seq(|| set.iter(), set.len(), std::mem::size_of::<(u64, K)>()))
    }

    /// Adds the timers of a snapshot's group to local group `group`.
    pub fn decode_group(&mut self, group: usize, bytes: &[u8]) -> Result<(), String> {
        let timers: Vec<(u64, K)> = bincode::deserialize(bytes).map_err(|e| e.to_string())?;
        for (t, k) in timers {
            if self.groups[group].insert((t, k)) {
                self.len += 1;
            }
        }
        Ok(())
    }

    /// Estimated bytes: `(u64, K)` entries at an assumed B-tree fill of two thirds.
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
}
