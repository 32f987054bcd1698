//! One named state's storage: a hash table of `(key, value)` per local key group.
//!
//! Invariants:
//! * `groups[i]` holds exactly the keys of the `i`-th key group owned by this worker
//!   ([`crate::state::KeyGroup::local_index`]); a key never appears in another group's table.
//! * Entries are placed by [`table_hash`] of the key's [`crate::state::hash_key`], computed once
//!   per record by the operator and reused for every state it touches.
//! * `heap[i]` is the sum of the heap bytes owned by the values of group `i` for the value kinds
//!   that report them (lists and maps); it is adjusted on every mutation, never recomputed.
//!
//! The table is reached through [`ErasedState`] (a `Box<dyn ErasedState<K>>` per state in the
//! backend) and downcast to its concrete type once per access (`Any::downcast_mut`: one type-id
//! comparison).

use std::any::Any;
use std::mem::size_of;

use hashbrown::HashTable;

use crate::state::Key;

/// Mixes a key hash for placement inside a key group's table.
///
/// The key group of a key is taken from the *high* bits of its hash, so every key of one group
/// shares those bits; hashbrown takes its 7-bit tag from the high bits too, which would then be
/// identical across a group's table and defeat its probing filter. One odd multiplication
/// spreads all bits of the hash into the high ones while keeping the well-mixed low ones.
#[inline]
pub(crate) fn table_hash(key_hash: u64) -> u64 {
    key_hash.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// What a state stores per key, and the heap bytes it owns (for the size estimate).
pub(crate) trait Stored: 'static {
    /// Heap bytes owned by the value beyond its inline size (0 where unknown).
    fn heap_bytes(&self) -> usize;
}

/// A value stored as it is ([`crate::state::ValueState`], reducing state): its heap is not
/// known to the store and counted as 0.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Plain<T>(pub(crate) T);

impl<T: 'static> Stored for Plain<T> {
    #[inline]
    fn heap_bytes(&self) -> usize {
        0
    }
}

impl<T: 'static> Stored for Vec<T> {
    #[inline]
    fn heap_bytes(&self) -> usize {
        self.capacity() * size_of::<T>()
    }
}

impl<MK: Eq + std::hash::Hash + 'static, V: 'static> Stored for crate::state::StateMap<MK, V> {
    #[inline]
    fn heap_bytes(&self) -> usize {
        self.allocation_size()
    }
}

/// Applies `f` to an entry's value, keeps the group's `heap` figure right, and removes the entry
/// if `f` leaves it empty; returns `f`'s result and whether the entry was removed.
#[inline]
fn apply_to_entry<K, V: Stored, R>(
    heap: &mut usize,
    mut occupied: hashbrown::hash_table::OccupiedEntry<'_, (K, V)>,
    f: impl FnOnce(&mut V) -> R,
    is_empty: impl FnOnce(&V) -> bool,
) -> (R, bool) {
    let value = &mut occupied.get_mut().1;
    let before = value.heap_bytes();
    let r = f(value);
    let after = value.heap_bytes();
    let empty = is_empty(value);
    *heap = (*heap + after).saturating_sub(before);
    if empty {
        let v = occupied.remove().0.1;
        *heap = heap.saturating_sub(v.heap_bytes());
    }
    (r, empty)
}

/// Entries and heap accounting of one state, per local key group.
pub(crate) struct Table<K, V> {
    pub(crate) groups: Vec<HashTable<(K, V)>>,
    pub(crate) heap: Vec<usize>,
    /// Groups possibly changed since the last snapshot took them (set by every mutable access).
    pub(crate) dirty: Vec<bool>,
}

impl<K: Key, V: Stored> Table<K, V> {
    pub(crate) fn new(groups: usize) -> Self {
        Table {
            groups: (0..groups).map(|_| HashTable::new()).collect(),
            heap: vec![0; groups],
            dirty: vec![false; groups],
        }
    }

    #[inline]
    pub(crate) fn get(&self, group: usize, hash: u64, key: &K) -> Option<&V> {
        self.groups[group].find(hash, |e| e.0 == *key).map(|e| &e.1)
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, group: usize, hash: u64, key: &K) -> Option<&mut V> {
        self.dirty[group] = true;
        self.groups[group].find_mut(hash, |e| e.0 == *key).map(|e| &mut e.1)
    }

    /// The value of `key`, inserted with `init` if absent.
    #[inline]
    pub(crate) fn get_or_insert_with(&mut self, group: usize, hash: u64, key: &K, init: impl FnOnce() -> V) -> &mut V {
        self.dirty[group] = true;
        let entry = self.groups[group].entry(hash, |e| e.0 == *key, |e| table_hash(crate::state::hash_key(&e.0)));
        &mut entry.or_insert_with(|| (key.clone(), init())).into_mut().1
    }

    /// Sets the value of `key`.
    #[inline]
    pub(crate) fn insert(&mut self, group: usize, hash: u64, key: &K, value: V) {
        self.dirty[group] = true;
        match self.groups[group].entry(hash, |e| e.0 == *key, |e| table_hash(crate::state::hash_key(&e.0))) {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                let old = std::mem::replace(&mut o.get_mut().1, value);
                let heap = &mut self.heap[group];
                *heap = (*heap + o.get().1.heap_bytes()).saturating_sub(old.heap_bytes());
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                self.heap[group] += value.heap_bytes();
                v.insert((key.clone(), value));
            }
        }
    }

    /// Removes `key`'s entry and returns its value.
    #[inline]
    pub(crate) fn remove(&mut self, group: usize, hash: u64, key: &K) -> Option<V> {
        match self.groups[group].find_entry(hash, |e| e.0 == *key) {
            Ok(o) => {
                self.dirty[group] = true;
                let v = o.remove().0.1;
                self.heap[group] = self.heap[group].saturating_sub(v.heap_bytes());
                self.release_if_empty(group);
                Some(v)
            }
            Err(_) => None,
        }
    }

    /// Applies `f` to `key`'s value (inserted with `init` if absent), keeping the heap figure
    /// right; removes the entry if `f` leaves it empty (`is_empty`).
    #[inline]
    pub(crate) fn update<R>(
        &mut self,
        group: usize,
        hash: u64,
        key: &K,
        init: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
        is_empty: impl FnOnce(&V) -> bool,
    ) -> R {
        self.dirty[group] = true;
        let entry = self.groups[group].entry(hash, |e| e.0 == *key, |e| table_hash(crate::state::hash_key(&e.0)));
        let occupied = entry.or_insert_with(|| (key.clone(), init()));
        let (r, removed) = apply_to_entry(&mut self.heap[group], occupied, f, is_empty);
        if removed {
            self.release_if_empty(group);
        }
        r
    }

    /// Applies `f` to `key`'s value if present, keeping the heap figure right; removes the entry
    /// if `f` leaves it empty.
    #[inline]
    pub(crate) fn update_existing<R>(
        &mut self,
        group: usize,
        hash: u64,
        key: &K,
        f: impl FnOnce(&mut V) -> R,
        is_empty: impl FnOnce(&V) -> bool,
    ) -> Option<R> {
        let Ok(occupied) = self.groups[group].find_entry(hash, |e| e.0 == *key) else {
            return None;
        };
        self.dirty[group] = true;
        let (r, removed) = apply_to_entry(&mut self.heap[group], occupied, f, is_empty);
        if removed {
            self.release_if_empty(group);
        }
        Some(r)
    }

    /// Frees a group's table once its last key is gone, so that cleared state costs nothing.
    #[inline]
    fn release_if_empty(&mut self, group: usize) {
        if self.groups[group].is_empty() && self.groups[group].capacity() != 0 {
            self.groups[group] = HashTable::new();
        }
    }

    /// Bytes of the group's table allocation (buckets and control bytes) plus the heap bytes its
    /// values report.
    pub(crate) fn group_bytes(&self, group: usize) -> usize {
        self.groups[group].allocation_size() + self.heap[group]
    }
}

/// A state's storage with its value type erased, as the backend holds it.
pub(crate) trait ErasedState<K>: 'static {
    /// The concrete table, for the one downcast per access.
    fn as_any(&self) -> &dyn Any;
    /// The concrete table, mutably.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// Entries in one local key group.
    fn group_keys(&self, group: usize) -> usize;
    /// Estimated bytes of one local key group.
    fn group_bytes(&self, group: usize) -> usize;
    /// Drops every entry of one local key group and its allocation.
    fn clear_group(&mut self, group: usize);
    /// Removes one key's entry, if any.
    fn remove_key(&mut self, group: usize, hash: u64, key: &K);
    /// A group's part of a snapshot (`full`: nothing may be referenced from the previous
    /// one); change tracking restarts.
    fn snapshot_group(&mut self, group: usize, full: bool) -> GroupSnapshot;
    /// Loads a group from a snapshot's chain of payloads (complete part first, then deltas).
    fn restore_group(&mut self, group: usize, parts: &[Vec<u8>]) -> Result<(), String>;
}

/// What a state hands over for one key group at a snapshot.
pub enum GroupSnapshot {
    /// Nothing to write or reference: the group is empty.
    Empty,
    /// The group did not change since the previous snapshot, whose chunks still hold.
    Unchanged,
    /// A chunk of the group: part 0 holds the whole group, part `n > 0` is the `n`-th delta on
    /// top of the chain the previous snapshot holds.
    Chunk {
        /// Place in the group's chain.
        part: u32,
        /// The payload, encoded now or later.
        payload: crate::snapshot::Payload,
    },
}

impl<K: Key, V: Stored + serde::Serialize + serde::de::DeserializeOwned> Table<K, V> {
    /// A group's snapshot: bincode of its `(key, value)` entries when it changed (or `full`),
    /// encoded now: the entries are not copy-on-write, so they cannot be encoded later.
    pub(crate) fn snapshot_group(&mut self, group: usize, full: bool) -> GroupSnapshot {
        let dirty = std::mem::take(&mut self.dirty[group]);
        if !dirty && !full {
            return if self.groups[group].is_empty() { GroupSnapshot::Empty } else { GroupSnapshot::Unchanged };
        }
        match encode_entries(&self.groups[group]) {
            Some(bytes) => GroupSnapshot::Chunk { part: 0, payload: crate::snapshot::Payload::Bytes(bytes) },
            None => GroupSnapshot::Empty,
        }
    }

    /// Adds a snapshot's entries (one complete part: these states write no deltas) to a group.
    pub(crate) fn restore_group(&mut self, group: usize, parts: &[Vec<u8>]) -> Result<(), String> {
        let bytes = match parts {
            [] => return Ok(()),
            [bytes] => bytes,
            _ => return Err(format!("{} parts where this state writes one", parts.len())),
        };
        let entries: Vec<(K, V)> = bincode::deserialize(bytes).map_err(|e| e.to_string())?;
        for (k, v) in entries {
            let h = table_hash(crate::state::hash_key(&k));
            self.insert(group, h, &k, v);
        }
        self.dirty[group] = false;
        Ok(())
    }
}

/// A sequence produced on demand by `F`, serialized as a bincode list (length, then items):
/// the same bytes as a `Vec` of the items, without collecting them first.
struct SeqOf<F>(F);

impl<F, I> serde::Serialize for SeqOf<F>
where
    F: Fn() -> I,
    I: ExactSizeIterator,
    I::Item: serde::Serialize,
{
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

/// Encodes the items `items()` yields as bincode would encode a `Vec` of them, in one pass over
/// a buffer reserved for `len * item_bytes` bytes (a guess: the buffer grows if it is short).
///
/// `bincode::serialize` walks the items twice (once to size the buffer) and a collected `Vec`
/// would walk them a third time. One pass is simply less work; on the fraud job (1 M cards) it
/// did not measurably shorten the synchronous pause, which is dominated by reaching the cold
/// entries themselves (a development comparison on a loaded machine, not in `results/`).
pub(crate) fn encode_seq<F, I>(items: F, len: usize, item_bytes: usize) -> Vec<u8>
where
    F: Fn() -> I,
    I: ExactSizeIterator,
    I::Item: serde::Serialize,
{
    let mut out = Vec::with_capacity(8 + len * item_bytes);
    bincode::serialize_into(&mut out, &SeqOf(items)).expect("a sequence of serializable items encodes");
    out
}

/// Encodes a group's `(key, value)` entries.
pub(crate) fn encode_entries<K: Key, V: serde::Serialize>(table: &HashTable<(K, V)>) -> Option<Vec<u8>> {
    (!table.is_empty()).then(|| encode_seq(|| table.iter().map(|(k, v)| (k, v)), table.len(), size_of::<(K, V)>()))
}

impl<K: Key, V: Stored + serde::Serialize + serde::de::DeserializeOwned> ErasedState<K> for Table<K, V> {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn group_keys(&self, group: usize) -> usize {
        self.groups[group].len()
    }
    fn group_bytes(&self, group: usize) -> usize {
        Table::group_bytes(self, group)
    }
    fn clear_group(&mut self, group: usize) {
        self.dirty[group] |= !self.groups[group].is_empty();
        self.groups[group] = HashTable::new();
        self.heap[group] = 0;
    }
    fn remove_key(&mut self, group: usize, hash: u64, key: &K) {
        self.remove(group, hash, key);
    }
    fn snapshot_group(&mut self, group: usize, full: bool) -> GroupSnapshot {
        Table::snapshot_group(self, group, full)
    }
    fn restore_group(&mut self, group: usize, parts: &[Vec<u8>]) -> Result<(), String> {
        Table::restore_group(self, group, parts)
    }
}
