//! The keyed state backend of one operator instance, and the typed handles into it.
//!
//! A [`KeyedStateBackend`] holds the operator's *named* states. Each state is one
//! [`Table`](crate::state::table) per local key group, so that the store can report, iterate,
//! clear (and later snapshot, restore and hand over) state key group by key group.
//!
//! Access is always for the **current key**, which the operator sets with
//! [`KeyedStateBackend::set_current_key`] before it calls user code (as in Flink). Setting it
//! hashes the key once ([`hash_key`], the same hash that routed the record); every state access
//! for that record reuses the hash. A handle ([`ValueState`], [`ListState`], [`MapState`],
//! [`ReducingState`]) is a `Copy` index into the backend's state vector; an access downcasts the
//! erased table once (`Any::downcast_mut`, a type-id comparison) and probes one hash table.
//!
//! Invariants:
//! * a state's name is unique in its backend and stable: it will name the state in snapshots.
//!   Registering a name again with the same kind and type returns the same handle; with another
//!   kind or type it panics (a programming error, found when the operator is built);
//! * a key lives only in the table of its own key group, and only keys owned by this worker
//!   (`key_group % workers == worker`) are ever set as current (checked, panics otherwise);
//! * an empty list or map is never stored: emptying one removes the key's entry, so key counts
//!   and byte figures drop back to zero when a function clears its state (a key group's
//!   table is freed when its last key goes).
//!
//! ## Size estimate
//! Bytes of a state in a key group = the hash table's allocation (`buckets * size_of::<(K, V)>()`
//! plus control bytes, i.e. inline sizes of keys and values at the table's capacity) + the heap
//! bytes owned by list values (`capacity * size_of::<T>()`) and map values (their tables'
//! allocation). Heap memory owned by keys and by the elements themselves (a `String` inside a
//! value) is not known to the store and not counted.

use std::any::{TypeId, type_name};
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::state::pod::PodTable;
pub use crate::state::table::GroupSnapshot;
use crate::state::table::{ErasedState, Plain, Stored, Table, table_hash};
use crate::state::{Key, KeyGroup, hash_key};
use bytemuck::Pod;

/// A map stored as the value of a [`MapState`] for one key.
pub type StateMap<MK, V> = hashbrown::HashMap<MK, V, foldhash::fast::FixedState>;

/// The identifier of a named state inside its backend (its registration index).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct StateId(pub u32);

impl StateId {
    const UNREGISTERED: StateId = StateId(u32::MAX);
}

/// Entries and estimated bytes of some state (see the module docs for what the bytes count).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct StateStats {
    /// Number of `(key, value)` entries.
    pub entries: u64,
    /// Estimated bytes.
    pub bytes: u64,
}

impl std::ops::AddAssign for StateStats {
    fn add_assign(&mut self, o: StateStats) {
        self.entries += o.entries;
        self.bytes += o.bytes;
    }
}

/// The kind of a named state.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// [`ValueState`].
    Value,
    /// [`ListState`].
    List,
    /// [`MapState`].
    Map,
    /// [`ReducingState`].
    Reducing,
    /// [`PodValueState`].
    PodValue,
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident < $($p:ident),+ >) => {
        $(#[$doc])*
        ///
        /// A handle is a cheap `Copy` index, obtained from a [`StateRegistry`] when the operator
        /// is built. Its `Default` is an unregistered handle: using it panics with a message.
        pub struct $name<$($p),+> {
            id: StateId,
            _types: PhantomData<fn() -> ($($p,)+)>,
        }
        impl<$($p),+> Clone for $name<$($p),+> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<$($p),+> Copy for $name<$($p),+> {}
        impl<$($p),+> Default for $name<$($p),+> {
            fn default() -> Self {
                $name { id: StateId::UNREGISTERED, _types: PhantomData }
            }
        }
        impl<$($p),+> std::fmt::Debug for $name<$($p),+> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.id.0)
            }
        }
        impl<$($p),+> $name<$($p),+> {
            /// The state's identifier in its backend.
            pub fn id(&self) -> StateId {
                self.id
            }
            fn new(id: StateId) -> Self {
                $name { id, _types: PhantomData }
            }
        }
    };
}

handle!(
    /// A single value per key.
    ValueState<T>
);
handle!(
    /// A list of values per key (appended to, read or taken whole).
    ListState<T>
);
handle!(
    /// A map from user keys `MK` to values `V`, per key.
    MapState<MK, V>
);
handle!(
    /// A value per key that new values are folded into with the state's reduce function.
    ReducingState<T>
);
handle!(
    /// A fixed-layout value per key (`bytemuck::Pod`), kept in the paged state store: read and
    /// updated in place, snapshotted without a pause proportional to its size (pages are frozen,
    /// copy-on-write, and encoded off the worker), incrementally per entry. Prefer it to
    /// [`ValueState`] for counters, accumulators and other plain structs; it needs a `Pod` key.
    PodValueState<T>
);

/// The fold of a [`ReducingState`]: `acc = reduce(acc, value)` in place.
type ReduceFn<T> = Box<dyn Fn(&mut T, T)>;

/// The storage of a [`ReducingState`]: a value table plus its reduce function.
struct ReducingTable<K, T> {
    table: Table<K, Plain<T>>,
    reduce: ReduceFn<T>,
}

impl<K: Key, T: Serialize + DeserializeOwned + 'static> ErasedState<K> for ReducingTable<K, T> {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
    fn group_keys(&self, group: usize) -> usize {
        self.table.groups[group].len()
    }
    fn group_bytes(&self, group: usize) -> usize {
        self.table.group_bytes(group)
    }
    fn clear_group(&mut self, group: usize) {
        self.table.clear_group(group);
    }
    fn remove_key(&mut self, group: usize, hash: u64, key: &K) {
        self.table.remove(group, hash, key);
    }
    fn snapshot_group(&mut self, group: usize, full: bool) -> GroupSnapshot {
        self.table.snapshot_group(group, full)
    }
    fn restore_group(&mut self, group: usize, parts: &[Vec<u8>]) -> Result<(), String> {
        self.table.restore_group(group, parts)
    }
}

struct StateEntry<K> {
    name: &'static str,
    kind: StateKind,
    type_id: TypeId,
    type_name: &'static str,
    table: Box<dyn ErasedState<K>>,
}

/// The current key: the key, its table hash, its key group and that group's local index.
struct Current<K> {
    key: K,
    hash: u64,
    key_group: KeyGroup,
    group: usize,
}

/// All keyed state of one operator instance (one worker), by name and key group.
pub struct KeyedStateBackend<K: Key> {
    worker: usize,
    workers: usize,
    max_parallelism: u32,
    local_groups: usize,
    /// For every key group of the job: its local index here, or `u32::MAX` if another worker
    /// owns it (one load per record instead of a division and a remainder).
    local_of: Vec<u32>,
    states: Vec<StateEntry<K>>,
    current: Option<Current<K>>,
}

/// Panics for a handle that no registry produced.
#[cold]
#[inline(never)]
fn unregistered(id: StateId) -> ! {
    panic!("state handle {} used before it was registered (declare it in `open`)", id.0)
}

#[cold]
#[inline(never)]
fn no_current_key() -> ! {
    panic!("keyed state accessed with no current key (only inside process_element / on_timer)")
}

#[cold]
#[inline(never)]
fn wrong_table(name: &str) -> ! {
    panic!("state `{name}` accessed through a handle of another kind or type")
}

impl<K: Key> KeyedStateBackend<K> {
    /// An empty backend for `worker` of `workers`, in a job with `max_parallelism` key groups.
    pub fn new(worker: usize, workers: usize, max_parallelism: u32) -> Self {
        assert!(worker < workers && max_parallelism as usize >= workers, "invalid worker/key-group layout");
        KeyedStateBackend {
            worker,
            workers,
            max_parallelism,
            local_groups: KeyGroup::count_owned(worker, workers, max_parallelism),
            local_of: (0..max_parallelism)
                .map(|g| {
                    let kg = KeyGroup(g);
                    if kg.worker(workers) == worker { kg.local_index(workers) as u32 } else { u32::MAX }
                })
                .collect(),
            states: Vec::new(),
            current: None,
        }
    }

    /// A registry that declares named states in this backend.
    pub fn registry(&mut self) -> StateRegistry<'_, K> {
        StateRegistry { backend: self }
    }

    /// Number of key groups this worker owns.
    pub fn local_groups(&self) -> usize {
        self.local_groups
    }

    /// The key groups this worker owns, in local-index order.
    pub fn owned_groups(&self) -> impl Iterator<Item = KeyGroup> + '_ {
        (0..self.local_groups).map(move |i| KeyGroup((i * self.workers + self.worker) as u32))
    }

    /// The job's number of key groups.
    pub fn max_parallelism(&self) -> u32 {
        self.max_parallelism
    }

    /// Makes `key` the current key and returns its key group. Hashes the key once.
    ///
    /// Panics if the key's group is not owned by this worker (the input was not exchanged by
    /// key group).
    #[inline]
    pub fn set_current_key(&mut self, key: K) -> KeyGroup {
        let h = hash_key(&key);
        let key_group = KeyGroup::of_hash(h, self.max_parallelism);
        let group = self.local_of[key_group.0 as usize];
        if group == u32::MAX {
            panic!(
                "key of group {} reached worker {} of {}: the input was not exchanged by key group",
                key_group.0, self.worker, self.workers
            );
        }
        let group = group as usize;
        self.current = Some(Current { key, hash: table_hash(h), key_group, group });
        key_group
    }

    /// The current key, if one is set.
    #[inline]
    pub fn current_key(&self) -> Option<&K> {
        self.current.as_ref().map(|c| &c.key)
    }

    /// The key group of the current key, if one is set.
    #[inline]
    pub fn current_key_group(&self) -> Option<KeyGroup> {
        self.current.as_ref().map(|c| c.key_group)
    }

    /// Unsets the current key.
    pub fn clear_current_key(&mut self) {
        self.current = None;
    }

    fn local(&self, kg: KeyGroup) -> usize {
        assert_eq!(kg.worker(self.workers), self.worker, "key group {} is not owned by this worker", kg.0);
        kg.local_index(self.workers)
    }

    #[inline]
    fn parts<V: Stored>(&self, id: StateId) -> (&Table<K, V>, &Current<K>) {
        let Some(cur) = self.current.as_ref() else { no_current_key() };
        (self.table(id), cur)
    }

    #[inline]
    fn parts_mut<V: Stored>(&mut self, id: StateId) -> (&mut Table<K, V>, &Current<K>) {
        self.state_mut::<Table<K, V>>(id)
    }

    #[inline]
    fn table<V: Stored>(&self, id: StateId) -> &Table<K, V> {
        self.state::<Table<K, V>>(id)
    }

    /// State `id` as its concrete table type `S` (a hash table or a paged table).
    #[inline]
    fn state<S: 'static>(&self, id: StateId) -> &S {
        let Some(entry) = self.states.get(id.0 as usize) else { unregistered(id) };
        match entry.table.as_any().downcast_ref::<S>() {
            Some(t) => t,
            None => wrong_table(entry.name),
        }
    }

    /// State `id` as its concrete table type `S`, writable, and the current key.
    #[inline]
    fn state_mut<S: 'static>(&mut self, id: StateId) -> (&mut S, &Current<K>) {
        let Some(cur) = self.current.as_ref() else { no_current_key() };
        let Some(entry) = self.states.get_mut(id.0 as usize) else { unregistered(id) };
        match entry.table.as_any_mut().downcast_mut::<S>() {
            Some(t) => (t, cur),
            None => wrong_table(entry.name),
        }
    }

    // ----- value state -----

    /// The current key's value.
    #[inline]
    pub fn value<T: 'static>(&self, h: &ValueState<T>) -> Option<&T> {
        let (t, c) = self.parts::<Plain<T>>(h.id);
        t.get(c.group, c.hash, &c.key).map(|p| &p.0)
    }

    /// The current key's value, mutably.
    #[inline]
    pub fn value_mut<T: 'static>(&mut self, h: &ValueState<T>) -> Option<&mut T> {
        let (t, c) = self.parts_mut::<Plain<T>>(h.id);
        t.get_mut(c.group, c.hash, &c.key).map(|p| &mut p.0)
    }

    /// The current key's value, inserted with `init` if absent.
    #[inline]
    pub fn value_or_insert_with<T: 'static>(&mut self, h: &ValueState<T>, init: impl FnOnce() -> T) -> &mut T {
        let (t, c) = self.parts_mut::<Plain<T>>(h.id);
        &mut t.get_or_insert_with(c.group, c.hash, &c.key, || Plain(init())).0
    }

    /// Sets the current key's value.
    #[inline]
    pub fn set_value<T: 'static>(&mut self, h: &ValueState<T>, value: T) {
        let (t, c) = self.parts_mut::<Plain<T>>(h.id);
        t.insert(c.group, c.hash, &c.key, Plain(value));
    }

    /// Removes the current key's value and returns it.
    #[inline]
    pub fn clear_value<T: 'static>(&mut self, h: &ValueState<T>) -> Option<T> {
        let (t, c) = self.parts_mut::<Plain<T>>(h.id);
        t.remove(c.group, c.hash, &c.key).map(|p| p.0)
    }

    // ----- pod value state -----

    #[inline]
    fn pod_table<T: Pod>(&self, id: StateId) -> (&PodTable<K, T>, &Current<K>)
    where
        K: Pod,
    {
        let Some(cur) = self.current.as_ref() else { no_current_key() };
        (self.state::<PodTable<K, T>>(id), cur)
    }

    #[inline]
    fn pod_table_mut<T: Pod>(&mut self, id: StateId) -> (&mut PodTable<K, T>, &Current<K>)
    where
        K: Pod,
    {
        self.state_mut::<PodTable<K, T>>(id)
    }

    /// The current key's value.
    #[inline]
    pub fn pod_value<T: Pod>(&self, h: &PodValueState<T>) -> Option<&T>
    where
        K: Pod,
    {
        let (t, c) = self.pod_table::<T>(h.id);
        t.groups[c.group].get(c.hash, &c.key)
    }

    /// The current key's value, mutably (the entry counts as changed for the next snapshot).
    #[inline]
    pub fn pod_value_mut<T: Pod>(&mut self, h: &PodValueState<T>) -> Option<&mut T>
    where
        K: Pod,
    {
        let (t, c) = self.pod_table_mut::<T>(h.id);
        t.groups[c.group].get_mut(c.hash, &c.key)
    }

    /// The current key's value, inserted with `init` if absent.
    #[inline]
    pub fn pod_value_or_insert_with<T: Pod>(&mut self, h: &PodValueState<T>, init: impl FnOnce() -> T) -> &mut T
    where
        K: Pod,
    {
        let (t, c) = self.pod_table_mut::<T>(h.id);
        t.groups[c.group].get_or_insert_with(c.hash, c.key, init)
    }

    /// Sets the current key's value.
    #[inline]
    pub fn set_pod_value<T: Pod>(&mut self, h: &PodValueState<T>, value: T)
    where
        K: Pod,
    {
        let (t, c) = self.pod_table_mut::<T>(h.id);
        t.groups[c.group].insert(c.hash, c.key, value);
    }

    /// Removes the current key's value and returns it.
    #[inline]
    pub fn clear_pod_value<T: Pod>(&mut self, h: &PodValueState<T>) -> Option<T>
    where
        K: Pod,
    {
        let (t, c) = self.pod_table_mut::<T>(h.id);
        t.groups[c.group].remove(c.hash, &c.key)
    }

    // ----- list state -----

    /// The current key's list (empty if none).
    #[inline]
    pub fn list<T: 'static>(&self, h: &ListState<T>) -> &[T] {
        let (t, c) = self.parts::<Vec<T>>(h.id);
        t.get(c.group, c.hash, &c.key).map_or(&[], |v| v.as_slice())
    }

    /// Appends to the current key's list.
    #[inline]
    pub fn list_push<T: 'static>(&mut self, h: &ListState<T>, value: T) {
        let (t, c) = self.parts_mut::<Vec<T>>(h.id);
        t.update(c.group, c.hash, &c.key, Vec::new, |v| v.push(value), |_| false);
    }

    /// Removes the current key's list and returns it (empty if none).
    #[inline]
    pub fn list_take<T: 'static>(&mut self, h: &ListState<T>) -> Vec<T> {
        let (t, c) = self.parts_mut::<Vec<T>>(h.id);
        t.remove(c.group, c.hash, &c.key).unwrap_or_default()
    }

    /// Keeps the elements of the current key's list for which `keep` is true (removing the list
    /// if none remains).
    pub fn list_retain<T: 'static>(&mut self, h: &ListState<T>, keep: impl FnMut(&T) -> bool) {
        let (t, c) = self.parts_mut::<Vec<T>>(h.id);
        t.update_existing(c.group, c.hash, &c.key, |v| v.retain(keep), Vec::is_empty);
    }

    /// Replaces the current key's list (an empty list removes it).
    pub fn list_set<T: 'static>(&mut self, h: &ListState<T>, values: Vec<T>) {
        let (t, c) = self.parts_mut::<Vec<T>>(h.id);
        if values.is_empty() {
            t.remove(c.group, c.hash, &c.key);
        } else {
            t.insert(c.group, c.hash, &c.key, values);
        }
    }

    // ----- map state -----

    /// The value of `mk` in the current key's map.
    #[inline]
    pub fn map_get<MK: Key, V: 'static>(&self, h: &MapState<MK, V>, mk: &MK) -> Option<&V> {
        let (t, c) = self.parts::<StateMap<MK, V>>(h.id);
        t.get(c.group, c.hash, &c.key).and_then(|m| m.get(mk))
    }

    /// The current key's whole map, if it has one.
    #[inline]
    pub fn map<MK: Key, V: 'static>(&self, h: &MapState<MK, V>) -> Option<&StateMap<MK, V>> {
        let (t, c) = self.parts::<StateMap<MK, V>>(h.id);
        t.get(c.group, c.hash, &c.key)
    }

    /// Inserts into the current key's map, returning the previous value of `mk`.
    #[inline]
    pub fn map_insert<MK: Key, V: 'static>(&mut self, h: &MapState<MK, V>, mk: MK, value: V) -> Option<V> {
        let (t, c) = self.parts_mut::<StateMap<MK, V>>(h.id);
        t.update(c.group, c.hash, &c.key, StateMap::default, |m| m.insert(mk, value), |_| false)
    }

    /// Removes `mk` from the current key's map (removing the map when it becomes empty).
    #[inline]
    pub fn map_remove<MK: Key, V: 'static>(&mut self, h: &MapState<MK, V>, mk: &MK) -> Option<V> {
        let (t, c) = self.parts_mut::<StateMap<MK, V>>(h.id);
        t.update_existing(c.group, c.hash, &c.key, |m| m.remove(mk), StateMap::is_empty).flatten()
    }

    /// Removes the current key's map and returns it (empty if none).
    #[inline]
    pub fn map_take<MK: Key, V: 'static>(&mut self, h: &MapState<MK, V>) -> StateMap<MK, V> {
        let (t, c) = self.parts_mut::<StateMap<MK, V>>(h.id);
        t.remove(c.group, c.hash, &c.key).unwrap_or_default()
    }

    // ----- reducing state -----

    /// The current key's reduced value.
    #[inline]
    pub fn reduced<T: 'static>(&self, h: &ReducingState<T>) -> Option<&T> {
        let Some(c) = self.current.as_ref() else { no_current_key() };
        let t = self.reducing_table::<T>(h.id);
        t.table.get(c.group, c.hash, &c.key).map(|p| &p.0)
    }

    /// Folds `value` into the current key's reduced value (or stores it, if there is none).
    #[inline]
    pub fn reduce<T: 'static>(&mut self, h: &ReducingState<T>, value: T) {
        let Some(c) = self.current.as_ref() else { no_current_key() };
        let Some(entry) = self.states.get_mut(h.id.0 as usize) else { unregistered(h.id) };
        let Some(t) = entry.table.as_any_mut().downcast_mut::<ReducingTable<K, T>>() else { wrong_table(entry.name) };
        match t.table.get_mut(c.group, c.hash, &c.key) {
            Some(acc) => (t.reduce)(&mut acc.0, value),
            None => t.table.insert(c.group, c.hash, &c.key, Plain(value)),
        }
    }

    /// Removes the current key's reduced value and returns it.
    #[inline]
    pub fn clear_reduced<T: 'static>(&mut self, h: &ReducingState<T>) -> Option<T> {
        let Some(c) = self.current.as_ref() else { no_current_key() };
        let Some(entry) = self.states.get_mut(h.id.0 as usize) else { unregistered(h.id) };
        let Some(t) = entry.table.as_any_mut().downcast_mut::<ReducingTable<K, T>>() else { wrong_table(entry.name) };
        t.table.remove(c.group, c.hash, &c.key).map(|p| p.0)
    }

    fn reducing_table<T: 'static>(&self, id: StateId) -> &ReducingTable<K, T> {
        let Some(entry) = self.states.get(id.0 as usize) else { unregistered(id) };
        match entry.table.as_any().downcast_ref::<ReducingTable<K, T>>() {
            Some(t) => t,
            None => wrong_table(entry.name),
        }
    }

    // ----- whole key / key group -----

    /// Removes the current key from every state of this backend.
    pub fn clear_all_for_current_key(&mut self) {
        let Some(c) = self.current.as_ref() else { no_current_key() };
        for s in &mut self.states {
            s.table.remove_key(c.group, c.hash, &c.key);
        }
    }

    /// Drops all state of key group `kg` (every named state).
    pub fn clear_group(&mut self, kg: KeyGroup) {
        let g = self.local(kg);
        for s in &mut self.states {
            s.table.clear_group(g);
        }
    }

    /// Calls `f` with every `(key, value)` of a value state in key group `kg`.
    pub fn for_each_value_in_group<T: 'static>(&self, h: &ValueState<T>, kg: KeyGroup, mut f: impl FnMut(&K, &T)) {
        let g = self.local(kg);
        self.table::<Plain<T>>(h.id).groups[g].iter().for_each(|(k, v)| f(k, &v.0));
    }

    /// Calls `f` with every `(key, list)` of a list state in key group `kg`.
    pub fn for_each_list_in_group<T: 'static>(&self, h: &ListState<T>, kg: KeyGroup, mut f: impl FnMut(&K, &[T])) {
        let g = self.local(kg);
        self.table::<Vec<T>>(h.id).groups[g].iter().for_each(|(k, v)| f(k, v));
    }

    /// Calls `f` with every `(key, map)` of a map state in key group `kg`.
    pub fn for_each_map_in_group<MK: Key, V: 'static>(
        &self,
        h: &MapState<MK, V>,
        kg: KeyGroup,
        mut f: impl FnMut(&K, &StateMap<MK, V>),
    ) {
        let g = self.local(kg);
        self.table::<StateMap<MK, V>>(h.id).groups[g].iter().for_each(|(k, v)| f(k, v));
    }

    // ----- snapshots -----

    /// Calls `f(state name, key group, snapshot)` for every state and owned key group (`full`:
    /// no group may be [`GroupSnapshot::Unchanged`] or a delta). Hash-table states encode their
    /// changed groups right here (bincode, complete); [`PodValueState`]s freeze their pages and
    /// hand over a deferred payload of the changed entries (or of the whole group, every few
    /// snapshots or when most of it changed).
    pub fn snapshot(&mut self, full: bool, mut f: impl FnMut(&'static str, KeyGroup, GroupSnapshot)) {
        let (workers, worker) = (self.workers, self.worker);
        for s in &mut self.states {
            for g in 0..self.local_groups {
                let kg = KeyGroup((g * workers + worker) as u32);
                match s.table.snapshot_group(g, full) {
                    GroupSnapshot::Empty => {}
                    snap => f(s.name, kg, snap),
                }
            }
        }
    }

    /// Loads a snapshot's chain of payloads (complete part, then deltas) of state `name` for key
    /// group `kg` (owned by this worker). A state the backend does not declare is ignored (the
    /// job no longer has it).
    pub fn restore(&mut self, name: &str, kg: KeyGroup, parts: &[Vec<u8>]) -> Result<(), String> {
        let g = self.local(kg);
        match self.states.iter_mut().find(|s| s.name == name) {
            Some(s) => s.table.restore_group(g, parts),
            None => Ok(()),
        }
    }

    /// Every declared state: name, kind and value type (for the snapshot's type check).
    pub fn declared(&self) -> impl Iterator<Item = (&'static str, StateKind, &'static str)> + '_ {
        self.states.iter().map(|s| (s.name, s.kind, s.type_name))
    }

    // ----- accounting -----

    /// The registered states: identifier, name and kind, in registration order.
    pub fn states(&self) -> impl Iterator<Item = (StateId, &'static str, StateKind)> + '_ {
        self.states.iter().enumerate().map(|(i, s)| (StateId(i as u32), s.name, s.kind))
    }

    /// Entries and bytes of state `id` in key group `kg`.
    pub fn group_stats(&self, id: StateId, kg: KeyGroup) -> StateStats {
        let g = self.local(kg);
        let Some(s) = self.states.get(id.0 as usize) else { unregistered(id) };
        StateStats { entries: s.table.group_keys(g) as u64, bytes: s.table.group_bytes(g) as u64 }
    }

    /// Entries and bytes of state `id` over all local key groups.
    pub fn state_stats(&self, id: StateId) -> StateStats {
        let Some(s) = self.states.get(id.0 as usize) else { unregistered(id) };
        let mut st = StateStats::default();
        for g in 0..self.local_groups {
            st += StateStats { entries: s.table.group_keys(g) as u64, bytes: s.table.group_bytes(g) as u64 };
        }
        st
    }

    /// Entries and bytes of every state in key group `kg`.
    pub fn key_group_stats(&self, kg: KeyGroup) -> StateStats {
        let mut st = StateStats::default();
        for i in 0..self.states.len() {
            st += self.group_stats(StateId(i as u32), kg);
        }
        st
    }

    /// Entries and bytes of the whole backend. `entries` counts `(state, key)` pairs: a key
    /// present in two states counts twice. Costs `O(states * key groups)`.
    pub fn total_stats(&self) -> StateStats {
        let mut st = StateStats::default();
        for i in 0..self.states.len() {
            st += self.state_stats(StateId(i as u32));
        }
        st
    }

    fn register(
        &mut self,
        name: &'static str,
        kind: StateKind,
        type_id: TypeId,
        type_name: &'static str,
    ) -> Option<StateId> {
        for (i, s) in self.states.iter().enumerate() {
            if s.name == name {
                if s.kind == kind && s.type_id == type_id {
                    return Some(StateId(i as u32));
                }
                panic!(
                    "state `{name}` is already registered as {:?} of `{}`; it cannot also be {kind:?} of `{type_name}`",
                    s.kind, s.type_name
                );
            }
        }
        None
    }

    fn push(
        &mut self,
        name: &'static str,
        kind: StateKind,
        type_id: TypeId,
        type_name: &'static str,
        table: Box<dyn ErasedState<K>>,
    ) -> StateId {
        let id = StateId(u32::try_from(self.states.len()).expect("too many states"));
        self.states.push(StateEntry { name, kind, type_id, type_name, table });
        id
    }
}

/// Declares named states of a [`KeyedStateBackend`] and hands out their typed handles.
pub struct StateRegistry<'a, K: Key> {
    backend: &'a mut KeyedStateBackend<K>,
}

impl<K: Key> StateRegistry<'_, K> {
    /// Declares (or finds) the fixed-layout value state `name` holding a `T`, kept in the
    /// paged store (see [`PodValueState`]).
    pub fn pod_value<T: Pod>(&mut self, name: &'static str) -> PodValueState<T>
    where
        K: Pod,
    {
        let b = &mut *self.backend;
        let (tid, tn) = (TypeId::of::<T>(), type_name::<T>());
        let id = b.register(name, StateKind::PodValue, tid, tn).unwrap_or_else(|| {
            let t: PodTable<K, T> = PodTable::new(b.local_groups);
            b.push(name, StateKind::PodValue, tid, tn, Box::new(t))
        });
        PodValueState::new(id)
    }

    /// Declares (or finds) the value state `name` holding a `T`.
    pub fn value<T: Serialize + DeserializeOwned + 'static>(&mut self, name: &'static str) -> ValueState<T> {
        let b = &mut *self.backend;
        let (tid, tn) = (TypeId::of::<T>(), type_name::<T>());
        let id = b.register(name, StateKind::Value, tid, tn).unwrap_or_else(|| {
            let t: Table<K, Plain<T>> = Table::new(b.local_groups);
            b.push(name, StateKind::Value, tid, tn, Box::new(t))
        });
        ValueState::new(id)
    }

    /// Declares (or finds) the list state `name` of `T` elements.
    pub fn list<T: Serialize + DeserializeOwned + 'static>(&mut self, name: &'static str) -> ListState<T> {
        let b = &mut *self.backend;
        let (tid, tn) = (TypeId::of::<T>(), type_name::<T>());
        let id = b.register(name, StateKind::List, tid, tn).unwrap_or_else(|| {
            let t: Table<K, Vec<T>> = Table::new(b.local_groups);
            b.push(name, StateKind::List, tid, tn, Box::new(t))
        });
        ListState::new(id)
    }

    /// Declares (or finds) the map state `name` from `MK` to `V`.
    pub fn map<MK: Key, V: Serialize + DeserializeOwned + 'static>(&mut self, name: &'static str) -> MapState<MK, V> {
        let b = &mut *self.backend;
        let (tid, tn) = (TypeId::of::<(MK, V)>(), type_name::<(MK, V)>());
        let id = b.register(name, StateKind::Map, tid, tn).unwrap_or_else(|| {
            let t: Table<K, StateMap<MK, V>> = Table::new(b.local_groups);
            b.push(name, StateKind::Map, tid, tn, Box::new(t))
        });
        MapState::new(id)
    }

    /// Declares the reducing state `name`: values added with
    /// [`KeyedStateBackend::reduce`] are folded into the stored one with `reduce`.
    /// Registering the name again returns the first handle and keeps the first function.
    pub fn reducing<T: Serialize + DeserializeOwned + 'static>(
        &mut self,
        name: &'static str,
        reduce: impl Fn(&mut T, T) + 'static,
    ) -> ReducingState<T> {
        let b = &mut *self.backend;
        let (tid, tn) = (TypeId::of::<T>(), type_name::<T>());
        let id = b.register(name, StateKind::Reducing, tid, tn).unwrap_or_else(|| {
            let t: ReducingTable<K, T> = ReducingTable { table: Table::new(b.local_groups), reduce: Box::new(reduce) };
            b.push(name, StateKind::Reducing, tid, tn, Box::new(t))
        });
        ReducingState::new(id)
    }
}
