//! Keys, key hashing and key groups.
//!
//! A key hashes (with a fixed seed, so every process and run agrees) to one of
//! `max_parallelism` key groups. Exchange routes a record to the worker that owns its key
//! group (`key_group % workers`, which is also what timely's exchange computes from the
//! key group), and keyed state is organised by key group, so that rescaling is a matter of
//! reassigning whole groups.

use std::hash::{BuildHasher, Hash};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The seed of the key hash. Changing it changes every key-group assignment and so
/// invalidates every snapshot: it is part of the on-disk format.
const KEY_HASH_SEED: u64 = 0x5249_4c4c_4b47_0001;

/// A key of keyed state and keyed exchange. `Sync` because a snapshot shares a key group's
/// timers, keys included, with the thread that encodes them.
pub trait Key: Hash + Eq + Ord + Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}
impl<T: Hash + Eq + Ord + Clone + Send + Sync + Serialize + DeserializeOwned + 'static> Key for T {}

/// The stable 64-bit hash of a key.
#[inline]
pub fn hash_key<K: Hash + ?Sized>(key: &K) -> u64 {
    foldhash::fast::FixedState::with_seed(KEY_HASH_SEED).hash_one(key)
}

/// One of the `max_parallelism` groups that keys hash to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyGroup(pub u32);

impl KeyGroup {
    /// The key group of a key hash, for a job with `max_parallelism` key groups.
    #[inline]
    pub fn of_hash(hash: u64, max_parallelism: u32) -> KeyGroup {
        // Multiply-shift range reduction on the high bits: uniform and division-free.
        KeyGroup((((hash >> 32) * u64::from(max_parallelism)) >> 32) as u32)
    }

    /// The key group of `key`.
    #[inline]
    pub fn of<K: Hash + ?Sized>(key: &K, max_parallelism: u32) -> KeyGroup {
        KeyGroup::of_hash(hash_key(key), max_parallelism)
    }

    /// The worker (of `workers`) that owns this key group.
    #[inline]
    pub fn worker(self, workers: usize) -> usize {
        self.0 as usize % workers
    }

    /// The position of this group among the groups owned by its worker.
    #[inline]
    pub fn local_index(self, workers: usize) -> usize {
        self.0 as usize / workers
    }

    /// How many key groups a worker owns.
    pub fn count_owned(worker: usize, workers: usize, max_parallelism: u32) -> usize {
        let m = max_parallelism as usize;
        m / workers + usize::from(worker < m % workers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_groups_cover_range_and_owners_agree() {
        let maxp = 128;
        let mut seen = vec![0usize; maxp as usize];
        for k in 0u64..100_000 {
            let g = KeyGroup::of(&k, maxp);
            assert!(g.0 < maxp);
            seen[g.0 as usize] += 1;
        }
        // Roughly uniform: every group gets at least half its fair share.
        assert!(seen.iter().all(|&c| c > 100_000 / 128 / 2), "{seen:?}");
        for workers in 1..=5 {
            let total: usize = (0..workers).map(|w| KeyGroup::count_owned(w, workers, maxp)).sum();
            assert_eq!(total, maxp as usize);
            for g in 0..maxp {
                let g = KeyGroup(g);
                assert!(g.local_index(workers) < KeyGroup::count_owned(g.worker(workers), workers, maxp));
            }
        }
    }

    #[test]
    fn hash_is_stable() {
        // Part of the snapshot format: must never change silently.
        assert_eq!(hash_key(&42u64), hash_key(&42u64));
        assert_ne!(hash_key(&1u64), hash_key(&2u64));
    }
}
