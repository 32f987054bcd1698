//! The keyed state store against plain hash maps doing the same work.
//!
//! For `ValueState<u64>` and `ValueState<[u64; 4]>` with 1 K, 100 K and 1 M keys: `get` (read
//! every key once), `update` (read-modify-write every key once), `insert` (fill an empty store)
//! and `iterate` (visit every entry, key group by key group for the store). The store pays for
//! the current-key step (hash, key group, local index) and one downcast per access; the maps
//! use foldhash (hashbrown) and the standard SipHash (std).
//!
//! `state_store_paged/...`: the same work on one [`PagedTable`] (the store's zero-copy table)
//! with `[u64; 2]` and `[u64; 4]` values and 1 K, 64 K and 1 M keys, against hashbrown's
//! `HashTable` given the same precomputed hash, hashbrown's `HashMap` and the standard map, plus
//! lookups of absent keys, `get_mut`, and the synchronous part of snapshots at 1 M keys.

use std::collections::HashMap as StdMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rill::state::{KeyedStateBackend, PagedTable, SnapshotKind, ValueState, hash_key};

const MAXP: u32 = 128;

fn keys(n: u64) -> Vec<u64> {
    // Scattered keys in a fixed pseudo-random order.
    (0..n).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 8).collect()
}

fn filled<T: Copy + serde::Serialize + serde::de::DeserializeOwned + 'static>(
    keys: &[u64],
    v: T,
) -> (KeyedStateBackend<u64>, ValueState<T>) {
    let mut b = KeyedStateBackend::new(0, 1, MAXP);
    let h = b.registry().value::<T>("v");
    for k in keys {
        b.set_current_key(*k);
        b.set_value(&h, v);
    }
    (b, h)
}

macro_rules! suite {
    ($c:expr, $label:literal, $ty:ty, $val:expr, $bump:expr) => {{
        let mut g = $c.benchmark_group(concat!("state_store/", $label));
        for n in [1_000u64, 100_000, 1_000_000] {
            let ks = keys(n);
            g.throughput(Throughput::Elements(n));
            if n >= 1_000_000 {
                g.sample_size(10);
            }
            let (mut store, h) = filled::<$ty>(&ks, $val);
            let mut std_map: StdMap<u64, $ty> = ks.iter().map(|k| (*k, $val)).collect();
            let mut fold: hashbrown::HashMap<u64, $ty, foldhash::fast::FixedState> =
                ks.iter().map(|k| (*k, $val)).collect();

            g.bench_function(BenchmarkId::new("get/rill", n), |b| {
                b.iter(|| {
                    let mut acc = 0u64;
                    for k in &ks {
                        store.set_current_key(*k);
                        acc = acc.wrapping_add(($bump)(store.value(&h).copied().unwrap_or($val)));
                    }
                    black_box(acc)
                })
            });
            g.bench_function(BenchmarkId::new("get/hashbrown", n), |b| {
                b.iter(|| {
                    let mut acc = 0u64;
                    for k in &ks {
                        acc = acc.wrapping_add(($bump)(fold.get(k).copied().unwrap_or($val)));
                    }
                    black_box(acc)
                })
            });
            g.bench_function(BenchmarkId::new("get/std", n), |b| {
                b.iter(|| {
                    let mut acc = 0u64;
                    for k in &ks {
                        acc = acc.wrapping_add(($bump)(std_map.get(k).copied().unwrap_or($val)));
                    }
                    black_box(acc)
                })
            });

            g.bench_function(BenchmarkId::new("update/rill", n), |b| {
                b.iter(|| {
                    for k in &ks {
                        store.set_current_key(*k);
                        let v = store.value_or_insert_with(&h, || $val);
                        *v = black_box(*v);
                    }
                })
            });
            g.bench_function(BenchmarkId::new("update/hashbrown", n), |b| {
                b.iter(|| {
                    for k in &ks {
                        let v = fold.entry(*k).or_insert($val);
                        *v = black_box(*v);
                    }
                })
            });
            g.bench_function(BenchmarkId::new("update/std", n), |b| {
                b.iter(|| {
                    for k in &ks {
                        let v = std_map.entry(*k).or_insert($val);
                        *v = black_box(*v);
                    }
                })
            });

            g.bench_function(BenchmarkId::new("insert/rill", n), |b| {
                b.iter(|| black_box(filled::<$ty>(&ks, $val).0.total_stats()))
            });
            g.bench_function(BenchmarkId::new("insert/hashbrown", n), |b| {
                b.iter(|| {
                    let mut m: hashbrown::HashMap<u64, $ty, foldhash::fast::FixedState> = Default::default();
                    for k in &ks {
                        m.insert(*k, $val);
                    }
                    black_box(m.len())
                })
            });
            g.bench_function(BenchmarkId::new("insert/std", n), |b| {
                b.iter(|| {
                    let mut m: StdMap<u64, $ty> = StdMap::new();
                    for k in &ks {
                        m.insert(*k, $val);
                    }
                    black_box(m.len())
                })
            });

            let groups: Vec<_> = store.owned_groups().collect();
            g.bench_function(BenchmarkId::new("iterate/rill", n), |b| {
                b.iter(|| {
                    let mut acc = 0u64;
                    for kg in &groups {
                        store.for_each_value_in_group(&h, *kg, |k, v| acc = acc.wrapping_add(k ^ ($bump)(*v)));
                    }
                    black_box(acc)
                })
            });
            g.bench_function(BenchmarkId::new("iterate/hashbrown", n), |b| {
                b.iter(|| black_box(fold.iter().fold(0u64, |a, (k, v)| a.wrapping_add(k ^ ($bump)(*v)))))
            });
            g.bench_function(BenchmarkId::new("iterate/std", n), |b| {
                b.iter(|| black_box(std_map.iter().fold(0u64, |a, (k, v)| a.wrapping_add(k ^ ($bump)(*v)))))
            });
        }
        g.finish();
    }};
}

fn value_u64(c: &mut Criterion) {
    suite!(c, "value_u64", u64, 1u64, |v: u64| v);
}

fn value_u64x4(c: &mut Criterion) {
    suite!(c, "value_u64x4", [u64; 4], [1u64; 4], |v: [u64; 4]| v[0] ^ v[3]);
}

/// `PagedTable` (one key group's table, the hash computed by the caller as the engine does)
/// against hashbrown's `HashTable` given the same precomputed hash (`hb_table`), hashbrown's
/// `HashMap` with foldhash (`hashbrown`) and the standard map (`std`), the same work as above.
/// `update` is `get_or_insert_with` on existing keys (`entry().or_insert` for the maps),
/// `update_mut` is `get_mut`.
macro_rules! paged_suite {
    ($c:expr, $label:literal, $ty:ty, $val:expr, $bump:expr) => {{
        type HbTable = hashbrown::HashTable<(u64, $ty)>;
        let mut g = $c.benchmark_group(concat!("state_store_paged/", $label));
        for n in [1_000u64, 65_536, 1_000_000] {
            let ks = keys(n);
            g.throughput(Throughput::Elements(n));
            if n >= 1_000_000 {
                g.sample_size(10);
            }
            let mut paged: PagedTable<u64, $ty> = PagedTable::new();
            let mut table = HbTable::new();
            for k in &ks {
                paged.insert(hash_key(k), *k, $val);
                table.insert_unique(hash_key(k), (*k, $val), |e| hash_key(&e.0));
            }
            let mut std_map: StdMap<u64, $ty> = ks.iter().map(|k| (*k, $val)).collect();
            let mut fold: hashbrown::HashMap<u64, $ty, foldhash::fast::FixedState> =
                ks.iter().map(|k| (*k, $val)).collect();

            g.bench_function(BenchmarkId::new("get/paged", n), |b| {
                b.iter(|| {
                    let mut acc = 0u64;
                    for k in &ks {
                        acc = acc.wrapping_add(($bump)(paged.get(hash_key(k), k).copied().unwrap_or($val)));
                    }
                    black_box(acc)
                })
            });
            g.bench_function(BenchmarkId::new("get/hb_table", n), |b| {
                b.iter(|| {
                    let mut acc = 0u64;
                    for k in &ks {
                        let v = table.find(hash_key(k), |e| e.0 == *k).map(|e| e.1);
                        acc = acc.wrapping_add(($bump)(v.unwrap_or($val)));
                    }
                    black_box(acc)
                })
            });
            g.bench_function(BenchmarkId::new("get/hashbrown", n), |b| {
                b.iter(|| {
                    let mut acc = 0u64;
                    for k in &ks {
                        acc = acc.wrapping_add(($bump)(fold.get(k).copied().unwrap_or($val)));
                    }
                    black_box(acc)
                })
            });
            g.bench_function(BenchmarkId::new("get/std", n), |b| {
                b.iter(|| {
                    let mut acc = 0u64;
                    for k in &ks {
                        acc = acc.wrapping_add(($bump)(std_map.get(k).copied().unwrap_or($val)));
                    }
                    black_box(acc)
                })
            });
            // Misses: keys that are not in the table (a lookup that ends at an empty slot).
            let absent: Vec<u64> = ks.iter().map(|k| k ^ 0x5555_5555_5555_5555).collect();
            g.bench_function(BenchmarkId::new("get_absent/paged", n), |b| {
                b.iter(|| absent.iter().filter(|k| paged.contains_key(hash_key(*k), k)).count())
            });
            g.bench_function(BenchmarkId::new("get_absent/hb_table", n), |b| {
                b.iter(|| absent.iter().filter(|k| table.find(hash_key(*k), |e| e.0 == **k).is_some()).count())
            });
            g.bench_function(BenchmarkId::new("get_absent/hashbrown", n), |b| {
                b.iter(|| absent.iter().filter(|k| fold.contains_key(*k)).count())
            });

            g.bench_function(BenchmarkId::new("update/paged", n), |b| {
                b.iter(|| {
                    for k in &ks {
                        let v = paged.get_or_insert_with(hash_key(k), *k, || $val);
                        *v = black_box(*v);
                    }
                })
            });
            g.bench_function(BenchmarkId::new("update/hb_table", n), |b| {
                b.iter(|| {
                    for k in &ks {
                        let e = table.entry(hash_key(k), |e| e.0 == *k, |e| hash_key(&e.0));
                        let v = &mut e.or_insert((*k, $val)).into_mut().1;
                        *v = black_box(*v);
                    }
                })
            });
            g.bench_function(BenchmarkId::new("update/hashbrown", n), |b| {
                b.iter(|| {
                    for k in &ks {
                        let v = fold.entry(*k).or_insert($val);
                        *v = black_box(*v);
                    }
                })
            });
            g.bench_function(BenchmarkId::new("update/std", n), |b| {
                b.iter(|| {
                    for k in &ks {
                        let v = std_map.entry(*k).or_insert($val);
                        *v = black_box(*v);
                    }
                })
            });
            g.bench_function(BenchmarkId::new("update_mut/paged", n), |b| {
                b.iter(|| {
                    for k in &ks {
                        if let Some(v) = paged.get_mut(hash_key(k), k) {
                            *v = black_box(*v);
                        }
                    }
                })
            });
            g.bench_function(BenchmarkId::new("update_mut/hb_table", n), |b| {
                b.iter(|| {
                    for k in &ks {
                        if let Some(e) = table.find_mut(hash_key(k), |e| e.0 == *k) {
                            e.1 = black_box(e.1);
                        }
                    }
                })
            });
            g.bench_function(BenchmarkId::new("update_mut/hashbrown", n), |b| {
                b.iter(|| {
                    for k in &ks {
                        if let Some(v) = fold.get_mut(k) {
                            *v = black_box(*v);
                        }
                    }
                })
            });

            g.bench_function(BenchmarkId::new("insert/paged", n), |b| {
                b.iter(|| {
                    let mut t: PagedTable<u64, $ty> = PagedTable::new();
                    for k in &ks {
                        t.insert(hash_key(k), *k, $val);
                    }
                    black_box(t.len())
                })
            });
            g.bench_function(BenchmarkId::new("insert/hb_table", n), |b| {
                b.iter(|| {
                    let mut t = HbTable::new();
                    for k in &ks {
                        let h = hash_key(k);
                        match t.entry(h, |e| e.0 == *k, |e| hash_key(&e.0)) {
                            hashbrown::hash_table::Entry::Occupied(mut o) => o.get_mut().1 = $val,
                            hashbrown::hash_table::Entry::Vacant(v) => {
                                v.insert((*k, $val));
                            }
                        }
                    }
                    black_box(t.len())
                })
            });
            g.bench_function(BenchmarkId::new("insert/hashbrown", n), |b| {
                b.iter(|| {
                    let mut m: hashbrown::HashMap<u64, $ty, foldhash::fast::FixedState> = Default::default();
                    for k in &ks {
                        m.insert(*k, $val);
                    }
                    black_box(m.len())
                })
            });
            g.bench_function(BenchmarkId::new("insert/std", n), |b| {
                b.iter(|| {
                    let mut m: StdMap<u64, $ty> = StdMap::new();
                    for k in &ks {
                        m.insert(*k, $val);
                    }
                    black_box(m.len())
                })
            });

            g.bench_function(BenchmarkId::new("iterate/paged", n), |b| {
                b.iter(|| black_box(paged.iter().fold(0u64, |a, (k, v)| a.wrapping_add(k ^ ($bump)(*v)))))
            });
            g.bench_function(BenchmarkId::new("iterate/hb_table", n), |b| {
                b.iter(|| black_box(table.iter().fold(0u64, |a, (k, v)| a.wrapping_add(k ^ ($bump)(*v)))))
            });
            g.bench_function(BenchmarkId::new("iterate/hashbrown", n), |b| {
                b.iter(|| black_box(fold.iter().fold(0u64, |a, (k, v)| a.wrapping_add(k ^ ($bump)(*v)))))
            });
            g.bench_function(BenchmarkId::new("iterate/std", n), |b| {
                b.iter(|| black_box(std_map.iter().fold(0u64, |a, (k, v)| a.wrapping_add(k ^ ($bump)(*v)))))
            });
        }
        g.finish();
    }};
}

fn paged_u64x2(c: &mut Criterion) {
    paged_suite!(c, "value_u64x2", [u64; 2], [1u64; 2], |v: [u64; 2]| v[0] ^ v[1]);
}

fn paged_u64x4(c: &mut Criterion) {
    paged_suite!(c, "value_u64x4", [u64; 4], [1u64; 4], |v: [u64; 4]| v[0] ^ v[3]);
}

/// The synchronous part of snapshots of a 1 M-key table: full (freeze every page) and
/// incremental after 1 % of the keys changed (pages frozen too: 1 % is above the copy threshold). Before each measured
/// snapshot the same 1 % of the keys are updated (which also takes the pages back from the
/// previous, dropped snapshot), outside the measurement; dropping the snapshot is not measured
/// either (the snapshot writer does it).
fn paged_snapshot(c: &mut Criterion) {
    let mut g = c.benchmark_group("state_store_paged/snapshot");
    let ks = keys(1_000_000);
    let mut t: PagedTable<u64, [u64; 2]> = PagedTable::new();
    for k in &ks {
        t.insert(hash_key(k), *k, [*k, 1]);
    }
    let changed: Vec<u64> = ks.iter().step_by(100).copied().collect();
    let sync_part = |t: &mut PagedTable<u64, [u64; 2]>, iters: u64, kind: SnapshotKind| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            for k in &changed {
                if let Some(v) = t.get_mut(hash_key(k), k) {
                    v[1] += 1;
                }
            }
            let start = Instant::now();
            let snap = t.snapshot(kind);
            total += start.elapsed();
            black_box(snap.encoded_len());
        }
        total
    };
    g.bench_function(BenchmarkId::new("full_sync", 1_000_000), |b| {
        b.iter_custom(|iters| sync_part(&mut t, iters, SnapshotKind::Full))
    });
    g.bench_function(BenchmarkId::new("incremental_1pct_sync", 1_000_000), |b| {
        b.iter_custom(|iters| sync_part(&mut t, iters, SnapshotKind::Incremental))
    });
    let snap = t.snapshot(SnapshotKind::Full);
    g.throughput(Throughput::Bytes(snap.encoded_len() as u64));
    g.bench_function(BenchmarkId::new("full_encode", 1_000_000), |b| {
        let mut out = Vec::with_capacity(snap.encoded_len());
        b.iter(|| {
            out.clear();
            snap.encode(&mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, value_u64, value_u64x4, paged_u64x2, paged_u64x4, paged_snapshot);
criterion_main!(benches);
