//! Value state of fixed-layout values ([`PodValueState`]), kept in the paged store.
//!
//! One [`PagedTable`] per local key group: values are read and written in place in pages that
//! snapshots freeze instead of copying, so a snapshot's synchronous part is O(pages) (plus the
//! changed slots when they are few) and its encoding runs later on the coordinator's encoder
//! thread ([`Payload::Deferred`]), while the operator goes on (copy-on-write of what it changes
//! meanwhile).
//!
//! Snapshots are incremental per entry. A key group's checkpointed form is a *chain*: part 0
//! holds the whole table, parts `1..=n` the entries changed and the keys removed since the part
//! before. A group starts a new chain (a complete part) when the snapshot must be complete
//! (the first of a run, a savepoint), after [`MAX_DELTAS`] deltas, when a delta would be at
//! least half the size of a complete part (changes since the last snapshot >= half the table's
//! slots), or after the group was empty.
//!
//! Invariants:
//! * `chain[g]` is the part number of the last snapshot handed over for group `g`, `None` when
//!   the next one must be complete; it is set only when a chunk was handed over;
//! * the hash passed for a key is always the backend's table hash of it, in every call
//!   (the table stores it as the slot's tag).

use bytemuck::Pod;

use crate::snapshot::Payload;
use crate::state::Key;
use crate::state::store::{PagedTable, SnapshotKind};
use crate::state::table::{ErasedState, GroupSnapshot};

/// Deltas a key group's chain holds at most before the next snapshot writes the group whole
/// again (restore applies each one; old chunks become deletable once no chain needs them).
pub const MAX_DELTAS: u32 = 8;

/// The storage of one [`PodValueState`](crate::state::PodValueState): a paged table per local
/// key group and each group's place in its snapshot chain.
pub(crate) struct PodTable<K, T> {
    pub(crate) groups: Vec<PagedTable<K, T>>,
    chain: Vec<Option<u32>>,
}

impl<K: Key + Pod, T: Pod> PodTable<K, T> {
    pub(crate) fn new(groups: usize) -> Self {
        PodTable { groups: (0..groups).map(|_| PagedTable::new()).collect(), chain: vec![None; groups] }
    }
}

impl<K: Key + Pod, T: Pod> ErasedState<K> for PodTable<K, T> {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn group_keys(&self, group: usize) -> usize {
        self.groups[group].len()
    }
    fn group_bytes(&self, group: usize) -> usize {
        self.groups[group].bytes()
    }
    fn clear_group(&mut self, group: usize) {
        self.groups[group].clear();
    }
    fn remove_key(&mut self, group: usize, hash: u64, key: &K) {
        self.groups[group].remove(hash, key);
    }

    fn snapshot_group(&mut self, group: usize, full: bool) -> GroupSnapshot {
        let t = &mut self.groups[group];
        let (changed, removed) = t.changes();
        if t.is_empty() {
            // Nothing to write: an absent group restores empty. Change tracking restarts with
            // a new chain.
            if changed + removed > 0 || self.chain[group].is_some() {
                drop(t.snapshot(SnapshotKind::Full));
            }
            self.chain[group] = None;
            return GroupSnapshot::Empty;
        }
        let delta_part = match self.chain[group] {
            // A delta holds one slot per change where a complete part holds every slot of the
            // table: a delta only while it is under half of that.
            Some(n) if !full && n < MAX_DELTAS && 2 * (changed + removed) < t.capacity() => Some(n + 1),
            _ => None,
        };
        if delta_part.is_some() && changed + removed == 0 {
            return GroupSnapshot::Unchanged;
        }
        let (kind, part) = match delta_part {
            Some(n) => (SnapshotKind::Incremental, n),
            None => (SnapshotKind::Full, 0),
        };
        let snap = t.snapshot(kind);
        self.chain[group] = Some(part);
        let payload = Payload::Deferred(Box::new(move || {
            let mut out = Vec::with_capacity(snap.encoded_len());
            snap.encode(&mut out);
            out
        }));
        GroupSnapshot::Chunk { part, payload }
    }

    fn restore_group(&mut self, group: usize, parts: &[Vec<u8>]) -> Result<(), String> {
        let Some((first, deltas)) = parts.split_first() else { return Ok(()) };
        let table = PagedTable::restore(first, deltas.iter().map(Vec::as_slice)).map_err(|e| e.to_string())?;
        self.groups[group] = table;
        // The next snapshot starts a new chain: the restored one belongs to another checkpoint
        // directory, or to a savepoint.
        self.chain[group] = None;
        Ok(())
    }
}
