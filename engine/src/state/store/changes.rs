//! Change tracking of a [`PagedTable`] between snapshots, and the buffers snapshots reuse.
//!
//! A table tracks the slots changed since its last snapshot twice: a bitmap (one bit per slot:
//! "is this entry already marked?" in O(1)) and a list of slot indices, pushed when a bit goes
//! from 0 to 1. The list may hold stale indices (the bit was cleared since: the entry moved or
//! was removed) and duplicates (a slot marked again after that), but the index of every set bit
//! is in it. A snapshot hands bitmap, list and removed-key list to the
//! [`TableSnapshot`](super::TableSnapshot) and continues with spare buffers: its synchronous
//! part neither scans the bitmap nor allocates (when a spare set is ready). The encoder, on the
//! snapshot writer's thread, walks the list and emits each slot whose bit is set, once; dropping
//! the snapshot zeroes the bits it holds (through the list) and returns its buffers to the
//! table's [`Spares`].
//!
//! Invariants:
//! * every set bit's slot index is in the list (checked by `PagedTable::check_invariants`);
//! * buffers in [`Spares`] are empty, their bitmap all zero;
//! * the list is compacted (stale entries and duplicates dropped) instead of growing when at
//!   least half of it is stale, so it stays within twice the changes plus its spare capacity.

use std::sync::{Arc, Mutex, PoisonError};

use bytemuck::Pod;

use super::{PageBuf, PagedTable};

/// Buffer sets a table keeps at most (one per snapshot in flight; more are freed).
const MAX_SPARE_SETS: usize = 4;

/// The buffers of one snapshot's change tracking and body, moved between a table, its
/// snapshots and its [`Spares`].
#[derive(Default)]
pub(crate) struct Buffers {
    /// The dirty bitmap (all zero in a spare set).
    pub(crate) bits: Vec<u64>,
    /// Changed slot indices (see the module docs).
    pub(crate) list: Vec<u32>,
    /// Removed keys, packed `(tag, key)` records.
    pub(crate) removed: Vec<u8>,
    /// The pages a snapshot froze.
    pub(crate) pages: Vec<Arc<PageBuf>>,
    /// The changed slots a small incremental snapshot copied.
    pub(crate) upserts: Vec<u8>,
}

impl Buffers {
    /// Empties every buffer and zeroes the bitmap through the list (the list names every set
    /// bit), keeping the capacities. A list larger than a sixteenth of the slots is freed, so
    /// that one burst of changes does not keep its memory forever.
    fn reset(&mut self) {
        if self.list.len() >= self.bits.len() {
            self.bits.fill(0);
        } else {
            for &i in &self.list {
                self.bits[i as usize >> 6] = 0;
            }
        }
        debug_assert!(self.bits.iter().all(|&w| w == 0), "a set bit was missing from the change list");
        self.list.clear();
        if self.list.capacity() > 4 * self.bits.len().max(16) {
            self.list = Vec::new();
        }
        self.removed.clear();
        self.pages.clear();
        self.upserts.clear();
    }
}

/// Spare buffer sets of one table, shared with its snapshots: a snapshot takes one and its
/// drop (on whichever thread encoded it) gives its own back.
#[derive(Default)]
pub(crate) struct Spares {
    sets: Mutex<Vec<Buffers>>,
}

impl Spares {
    /// A spare set whose bitmap has `words` zero words: one ready from the pool (no allocation
    /// when a resize already sized it), or new ones.
    pub(crate) fn take(&self, words: usize) -> Buffers {
        let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        let mut b = match sets.iter().position(|b| b.bits.len() == words) {
            Some(p) => sets.swap_remove(p),
            None => sets.pop().unwrap_or_default(),
        };
        drop(sets);
        b.bits.resize(words, 0);
        b
    }

    /// Returns a snapshot's buffers, emptied.
    pub(crate) fn put(&self, mut b: Buffers) {
        b.reset();
        let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        if sets.len() < MAX_SPARE_SETS {
            sets.push(b);
        }
    }

    /// Sizes the spare sets for a table of `words` bitmap words and `pages` pages whose small
    /// deltas copy up to `upserts` bytes (on a resize, off the snapshot path), adding one if
    /// none is spare.
    pub(crate) fn prepare(&self, words: usize, pages: usize, upserts: usize) {
        let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        if sets.is_empty() {
            sets.push(Buffers::default());
        }
        for b in sets.iter_mut() {
            b.bits.clear();
            b.bits.resize(words, 0);
            b.pages.reserve(pages);
            b.upserts.reserve(upserts);
        }
    }
}

impl<K: Pod + Eq, V: Pod> PagedTable<K, V> {
    #[inline(always)]
    pub(super) fn is_dirty(&self, i: usize) -> bool {
        self.dirty[i >> 6] & (1 << (i & 63)) != 0
    }

    /// Marks slot `i` changed; a newly set bit puts `i` on the change list.
    #[inline(always)]
    pub(super) fn mark_dirty(&mut self, i: usize) {
        let w = &mut self.dirty[i >> 6];
        let m = 1u64 << (i & 63);
        if *w & m == 0 {
            *w |= m;
            self.dirty_count += 1;
            if self.changed.len() == self.changed.capacity() && self.changed.len() >= 2 * self.dirty_count {
                self.compact_changed();
            }
            self.changed.push(i as u32);
        }
    }

    /// Clears slot `i`'s bit (its index stays on the list, stale).
    #[inline(always)]
    pub(super) fn clear_dirty(&mut self, i: usize) {
        let w = &mut self.dirty[i >> 6];
        let m = 1u64 << (i & 63);
        self.dirty_count -= usize::from(*w & m != 0);
        *w &= !m;
    }

    /// Drops the change list's stale entries and duplicates, in place. O(list), run only when
    /// at least half of the list is stale, instead of growing it.
    #[cold]
    #[inline(never)]
    fn compact_changed(&mut self) {
        let mut kept = 0;
        for r in 0..self.changed.len() {
            let i = self.changed[r] as usize;
            if self.is_dirty(i) {
                // Cleared until the list is complete, so that a duplicate further on is dropped.
                self.dirty[i >> 6] &= !(1 << (i & 63));
                self.changed[kept] = i as u32;
                kept += 1;
            }
        }
        self.changed.truncate(kept);
        for &i in &self.changed {
            self.dirty[i as usize >> 6] |= 1 << (i & 63);
        }
    }

    /// Starts change tracking afresh for the current capacity: zero bits, an empty list.
    /// O(capacity / 64); used by restore and resize, not by snapshots.
    pub(super) fn reset_changes(&mut self) {
        self.dirty.clear();
        self.dirty.resize(self.cap.div_ceil(64), 0);
        self.dirty_count = 0;
        self.changed.clear();
    }

    /// The table's spare buffers, created on first use.
    pub(super) fn spares(&mut self) -> &Arc<Spares> {
        self.spares.get_or_insert_with(Arc::default)
    }

    /// Readies, for the current capacity, what a snapshot would otherwise allocate: an empty
    /// `Arc` per page and a spare buffer set. Called where the table allocates anyway (resize,
    /// restore), never on the snapshot path.
    pub(super) fn ready_for_snapshots(&mut self) {
        let pages = self.pages.len();
        self.shells.resize_with(self.shells.len().max(pages), Arc::default);
        let upserts = super::snapshot::EAGER_ENTRIES_PER_PAGE * pages * Self::STRIDE;
        let words = self.dirty.len();
        self.spares().prepare(words, pages, upserts);
    }

    /// Checks that every set bit's slot is on the change list (tests; O(capacity + list)).
    pub(super) fn check_change_list(&self) {
        let mut listed = vec![0u64; self.dirty.len()];
        for &i in &self.changed {
            assert!((i as usize) < self.cap, "change list names slot {i} of {}", self.cap);
            listed[i as usize >> 6] |= 1 << (i & 63);
        }
        for (w, (&d, &l)) in self.dirty.iter().zip(&listed).enumerate() {
            assert_eq!(d & !l, 0, "dirty slots of word {w} missing from the change list");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::state::hash_key;
    use crate::state::store::{PagedTable, SnapshotKind};

    #[test]
    fn churn_without_snapshots_keeps_the_change_list_bounded() {
        // Removing and re-inserting moves changed entries (backward shifts) and leaves stale
        // list entries; the list is compacted instead of growing with every change.
        let mut t: PagedTable<u64, u64> = PagedTable::new();
        for k in 0..48u64 {
            t.insert(hash_key(&k), k, k);
        }
        drop(t.snapshot(SnapshotKind::Full));
        for round in 0..20_000u64 {
            let k = round % 48;
            assert_eq!(t.remove(hash_key(&k), &k), Some(k));
            t.insert(hash_key(&k), k, k);
        }
        t.check_invariants();
        assert_eq!(t.changes().0, 48);
        assert!(t.changed.capacity() <= 4 * t.capacity(), "change list of {} entries", t.changed.capacity());
    }

    #[test]
    fn snapshots_hand_over_change_tracking_and_get_their_buffers_back() {
        let mut t: PagedTable<u64, u64> = PagedTable::new();
        for k in 0..5000u64 {
            t.insert(hash_key(&k), k, k);
        }
        drop(t.snapshot(SnapshotKind::Full));
        for k in (0..5000u64).step_by(3) {
            *t.get_mut(hash_key(&k), &k).expect("present") += 1;
        }
        let spares = std::sync::Arc::clone(t.spares.as_ref().expect("a resize readied spares"));
        let before = spares.sets.lock().expect("not poisoned").len();
        let snap = t.snapshot(SnapshotKind::Incremental);
        assert_eq!(spares.sets.lock().expect("not poisoned").len(), before - 1, "the snapshot took a spare set");
        assert!(t.dirty.iter().all(|&w| w == 0) && t.changed.is_empty());
        let mut out = Vec::new();
        snap.encode(&mut out);
        assert_eq!(out.len(), snap.encoded_len());
        drop(snap);
        let sets = spares.sets.lock().expect("not poisoned");
        assert_eq!(sets.len(), before, "the dropped snapshot gave its set back");
        assert!(sets.iter().all(|b| b.bits.iter().all(|&w| w == 0) && b.list.is_empty() && b.pages.is_empty()));
    }
}
