//! Keyed state: keys, key groups, and the state store behind typed handles.
//!
//! Operators keep their keyed state here, organised by key group so that it can be
//! snapshotted, restored and redistributed group by group.

mod key;

pub use key::{Key, KeyGroup, hash_key};
