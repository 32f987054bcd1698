//! Keyed state: keys, key groups, and the state store behind typed handles.
//!
//! Operators keep their keyed state here, organised by key group so that it can be
//! snapshotted, restored and redistributed group by group.
//!
//! * [`KeyedStateBackend`]: all named states of one operator instance. Each state is a hash
//!   table per local key group (`KeyGroup::local_index`), reached through a typed, `Copy`
//!   handle ([`ValueState`], [`ListState`], [`MapState`], [`ReducingState`]) declared once
//!   through a [`StateRegistry`] when the operator is built. Access is for the *current key*,
//!   set by the operator before it calls user code; the key is hashed once per record.
//! * [`TimerService`]: event-time and processing-time timers, per key group as well, in
//!   copy-on-write leaves that a snapshot freezes and hands over for encoding off the worker.
//! * [`PodValueState`]: fixed-layout values in the paged store ([`PagedTable`]), snapshotted
//!   asynchronously (frozen copy-on-write pages) and incrementally per entry.
//! * Snapshots: [`KeyedStateBackend::snapshot`] hands over each state's key groups
//!   ([`GroupSnapshot`]): hash-table states encode changed groups with bincode on the worker,
//!   paged states hand over deferred payloads (complete parts or deltas).
//! * Accounting: entries and estimated bytes per state and key group ([`StateStats`]), see
//!   the size estimate in the backend's docs.
//!
//! Not yet here: TTL.

mod backend;
mod key;
mod pod;
mod store;
mod table;
mod timers;

pub use backend::{
    GroupSnapshot, KeyedStateBackend, ListState, MapState, PodValueState, ReducingState, StateId, StateKind, StateMap,
    StateRegistry, StateStats, ValueState,
};
pub use key::{Key, KeyGroup, hash_key};
pub use pod::MAX_DELTAS;
pub use store::{Iter as PagedIter, PagedTable, SnapshotKind, TableSnapshot};
pub use timers::{TimeDomain, TimerQueue, TimerService};

#[cfg(test)]
mod tests;
