//! `PagedTable` against `std::collections::HashMap` as the reference model: random operation
//! sequences (growth, removal chains, colliding hashes), snapshot chains restored while the live
//! table moves on, incremental delta sizes, and damaged payloads.

use std::collections::HashMap;

use proptest::prelude::*;
use rill::Error;
use rill::state::{PagedTable, SnapshotKind, hash_key};

/// How a test derives the hash it passes for a key: the real one, or deliberately colliding
/// ones (same tag, or same home slot with distinct tags) to build long probe runs.
#[derive(Copy, Clone, Debug)]
enum Hashing {
    Real,
    /// Four distinct hashes for all keys: equal tags, keys told apart by comparison.
    FewTags,
    /// Hashes that differ only in their low bits: after mixing, many share a home slot.
    Clustered,
}

fn h(mode: Hashing, k: u64) -> u64 {
    match mode {
        Hashing::Real => hash_key(&k),
        Hashing::FewTags => k & 3,
        Hashing::Clustered => (k & 7) << 61 | (k >> 3 & 1),
    }
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u64, u64),
    Bump(u64),
    GetMut(u64, u64),
    Remove(u64),
    Get(u64),
    RetainEven,
    Clear,
}

fn op(keys: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..keys, any::<u64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        4 => (0..keys).prop_map(Op::Bump),
        2 => (0..keys, any::<u64>()).prop_map(|(k, v)| Op::GetMut(k, v)),
        6 => (0..keys).prop_map(Op::Remove),
        3 => (0..keys).prop_map(Op::Get),
        1 => Just(Op::RetainEven),
        1 => Just(Op::Clear),
    ]
}

fn hashing() -> impl Strategy<Value = Hashing> {
    prop_oneof![Just(Hashing::Real), Just(Hashing::FewTags), Just(Hashing::Clustered)]
}

/// Applies `op` to both table and model, checking every result against the model.
fn apply(t: &mut PagedTable<u64, [u64; 2]>, m: &mut HashMap<u64, [u64; 2]>, mode: Hashing, op: &Op) {
    match *op {
        Op::Insert(k, v) => assert_eq!(t.insert(h(mode, k), k, [v, k]), m.insert(k, [v, k]), "insert {k}"),
        Op::Bump(k) => {
            let v = t.get_or_insert_with(h(mode, k), k, || [0, k]);
            v[0] = v[0].wrapping_add(1);
            let r = m.entry(k).or_insert([0, k]);
            r[0] = r[0].wrapping_add(1);
            assert_eq!(*v, *r, "bump {k}");
        }
        Op::GetMut(k, v) => {
            let got = t.get_mut(h(mode, k), &k).map(|x| {
                x[1] = v;
                *x
            });
            let want = m.get_mut(&k).map(|x| {
                x[1] = v;
                *x
            });
            assert_eq!(got, want, "get_mut {k}");
        }
        Op::Remove(k) => assert_eq!(t.remove(h(mode, k), &k), m.remove(&k), "remove {k}"),
        Op::Get(k) => assert_eq!(t.get(h(mode, k), &k), m.get(&k), "get {k}"),
        Op::RetainEven => {
            t.retain(|k, v| {
                v[1] = v[1].wrapping_add(1);
                k % 2 == 0
            });
            m.retain(|k, v| {
                v[1] = v[1].wrapping_add(1);
                k % 2 == 0
            });
        }
        Op::Clear => {
            t.clear();
            m.clear();
        }
    }
    assert_eq!(t.len(), m.len());
}

fn as_map(t: &PagedTable<u64, [u64; 2]>) -> HashMap<u64, [u64; 2]> {
    let m: HashMap<u64, [u64; 2]> = t.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(m.len(), t.len(), "iteration yields each entry once");
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn operations_match_hashmap(mode in hashing(), keys in prop_oneof![Just(8u64), Just(64), Just(600)],
                                ops in prop::collection::vec(op(600), 1..600)) {
        let mut t = PagedTable::new();
        let mut m = HashMap::new();
        for (n, o) in ops.iter().enumerate() {
            let o = match o.clone() {
                Op::Insert(k, v) => Op::Insert(k % keys, v),
                Op::Bump(k) => Op::Bump(k % keys),
                Op::GetMut(k, v) => Op::GetMut(k % keys, v),
                Op::Remove(k) => Op::Remove(k % keys),
                Op::Get(k) => Op::Get(k % keys),
                // Clearing often would keep tables tiny.
                Op::Clear if n % 7 != 0 => Op::Get(0),
                o => o,
            };
            apply(&mut t, &mut m, mode, &o);
            if n % 50 == 0 {
                t.check_invariants();
            }
        }
        t.check_invariants();
        prop_assert_eq!(as_map(&t), m.clone());
        for (k, v) in &m {
            prop_assert_eq!(t.get(h(mode, *k), k), Some(v));
        }
    }

    /// full, changes, incremental, changes, incremental, changes; every payload encoded only
    /// after the live table moved on; restoring any prefix of the chain gives the model as it
    /// was at that snapshot.
    #[test]
    fn snapshot_chains_restore_the_frozen_state(mode in hashing(),
                                                 rounds in prop::collection::vec(prop::collection::vec(op(300), 0..300), 4)) {
        let mut t = PagedTable::new();
        let mut m = HashMap::new();
        let mut snaps = Vec::new();
        let mut models = Vec::new();
        for (r, ops) in rounds.iter().enumerate() {
            for (n, o) in ops.iter().enumerate() {
                let o = if matches!(o, Op::Clear) && n % 5 != 0 { Op::Get(1) } else { o.clone() };
                apply(&mut t, &mut m, mode, &o);
            }
            if r < 3 {
                let kind = if r == 0 { SnapshotKind::Full } else { SnapshotKind::Incremental };
                snaps.push(t.snapshot(kind));
                models.push(m.clone());
                prop_assert_eq!(t.changes(), (0, 0));
            }
        }
        t.check_invariants();
        let payloads: Vec<Vec<u8>> = snaps.iter().map(|s| {
            let mut out = Vec::new();
            s.encode(&mut out);
            assert_eq!(out.len(), s.encoded_len());
            out
        }).collect();
        for upto in 0..3 {
            let restored: PagedTable<u64, [u64; 2]> =
                PagedTable::restore(&payloads[0], payloads[1..=upto].iter().map(|p| p.as_slice())).unwrap();
            restored.check_invariants();
            prop_assert_eq!(as_map(&restored), models[upto].clone());
            for (k, v) in &models[upto] {
                prop_assert_eq!(restored.get(h(mode, *k), k), Some(v));
            }
        }
        // The live table is untouched by all this.
        prop_assert_eq!(as_map(&t), m);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// Long chains in which each snapshot is encoded only after the table moved on and then
    /// dropped, so that later snapshots reuse the buffers (bitmap, change list) of earlier ones,
    /// across removals (backward shifts move changed entries), growth, clearing, and snapshots
    /// dropped without being encoded (the chain then starts again): every chain restores equal
    /// to the model as it was at its last snapshot.
    #[test]
    fn chains_reusing_snapshot_buffers_restore_the_model(mode in hashing(),
            rounds in prop::collection::vec((prop::collection::vec(op(400), 0..250), 0u8..4), 10)) {
        let mut t = PagedTable::new();
        let mut m = HashMap::new();
        let mut chain: Vec<Vec<u8>> = Vec::new();
        let mut pending = None;
        let mut restart = true;
        for (ops, choice) in &rounds {
            for (n, o) in ops.iter().enumerate() {
                let o = if matches!(o, Op::Clear) && n % 5 != 0 { Op::Get(1) } else { o.clone() };
                apply(&mut t, &mut m, mode, &o);
            }
            if let Some((snap, model)) = pending.take() {
                let snap: rill::state::TableSnapshot<u64, [u64; 2]> = snap;
                if snap.kind() == SnapshotKind::Full {
                    chain.clear();
                }
                let payload = encode(&snap);
                prop_assert_eq!(payload.len(), snap.encoded_len());
                drop(snap);
                chain.push(payload);
                let restored: PagedTable<u64, [u64; 2]> =
                    PagedTable::restore(&chain[0], chain[1..].iter().map(Vec::as_slice)).unwrap();
                restored.check_invariants();
                prop_assert_eq!(as_map(&restored), model);
            }
            t.check_invariants();
            if *choice == 0 {
                drop(t.snapshot(SnapshotKind::Full));
                restart = true;
            } else {
                let kind = if restart { SnapshotKind::Full } else { SnapshotKind::Incremental };
                restart = false;
                pending = Some((t.snapshot(kind), m.clone()));
            }
            prop_assert_eq!(t.changes(), (0, 0));
            t.check_invariants();
        }
    }
}

fn filled(n: u64) -> (PagedTable<u64, u64>, HashMap<u64, u64>) {
    let mut t = PagedTable::with_capacity(n as usize);
    let mut m = HashMap::new();
    for k in 0..n {
        t.insert(hash_key(&k), k, k * 3);
        m.insert(k, k * 3);
    }
    (t, m)
}

fn encode<K, V>(s: &rill::state::TableSnapshot<K, V>) -> Vec<u8> {
    let mut out = Vec::new();
    s.encode(&mut out);
    out
}

fn to_map(t: &PagedTable<u64, u64>) -> HashMap<u64, u64> {
    t.iter().map(|(k, v)| (*k, *v)).collect()
}

#[test]
fn one_percent_changed_gives_a_small_delta() {
    let n = 1_000_000u64;
    let (mut t, mut m) = filled(n);
    let full = t.snapshot(SnapshotKind::Full);
    // 1 % of the keys changed: updates, removals and new keys.
    for k in (0..n).step_by(100) {
        match k % 3 {
            0 => {
                *t.get_mut(hash_key(&k), &k).unwrap() += 1;
                *m.get_mut(&k).unwrap() += 1;
            }
            1 => assert_eq!(t.remove(hash_key(&k), &k), m.remove(&k)),
            _ => {
                let k2 = n + k;
                t.insert(hash_key(&k2), k2, 1);
                m.insert(k2, 1);
            }
        }
    }
    let delta = t.snapshot(SnapshotKind::Incremental);
    let (full_len, delta_len) = (full.encoded_len(), delta.encoded_len());
    assert!(delta_len * 100 < full_len * 3, "delta {delta_len} bytes vs full {full_len} bytes");
    // The live table moves on before the payloads are written.
    for k in 0..1000u64 {
        t.insert(hash_key(&k), k, 0);
    }
    let (f, d) = (encode(&full), encode(&delta));
    assert_eq!((f.len(), d.len()), (full_len, delta_len));
    let r: PagedTable<u64, u64> = PagedTable::restore(&f, [d.as_slice()]).unwrap();
    assert_eq!(to_map(&r), m);
}

#[test]
fn many_changes_freeze_pages_and_stay_consistent() {
    // 40 % of the keys changed: the incremental snapshot freezes pages instead of copying.
    let n = 100_000u64;
    let (mut t, mut m) = filled(n);
    let full = t.snapshot(SnapshotKind::Full);
    for k in (0..n).filter(|k| k % 5 < 2) {
        *t.get_mut(hash_key(&k), &k).unwrap() += 7;
        *m.get_mut(&k).unwrap() += 7;
    }
    let delta = t.snapshot(SnapshotKind::Incremental);
    let model = m.clone();
    // Overwrite everything, remove half, grow: the frozen views must not see any of it.
    for k in 0..n {
        t.insert(hash_key(&k), k, 0);
    }
    for k in (0..n).step_by(2) {
        t.remove(hash_key(&k), &k);
    }
    for k in n..3 * n {
        t.insert(hash_key(&k), k, 1);
    }
    t.check_invariants();
    let r: PagedTable<u64, u64> = PagedTable::restore(&encode(&full), [encode(&delta).as_slice()]).unwrap();
    r.check_invariants();
    assert_eq!(to_map(&r), model);
    assert_eq!(r.len(), n as usize);
}

#[test]
fn restored_tables_continue_the_chain() {
    let (mut t, mut m) = filled(5000);
    let f = encode(&t.snapshot(SnapshotKind::Full));
    let mut r: PagedTable<u64, u64> = PagedTable::restore(&f, []).unwrap();
    assert_eq!(to_map(&r), m);
    for k in 0..100u64 {
        r.insert(hash_key(&k), k, 1);
        m.insert(k, 1);
    }
    for k in 100..150u64 {
        r.remove(hash_key(&k), &k);
        m.remove(&k);
    }
    assert_eq!(r.changes(), (100, 50));
    let d = encode(&r.snapshot(SnapshotKind::Incremental));
    let again: PagedTable<u64, u64> = PagedTable::restore(&f, [d.as_slice()]).unwrap();
    assert_eq!(to_map(&again), m);
}

#[test]
fn clear_is_recorded_in_the_next_delta() {
    let (mut t, _) = filled(3000);
    let f = encode(&t.snapshot(SnapshotKind::Full));
    t.clear();
    t.insert(hash_key(&7u64), 7, 70);
    let d = encode(&t.snapshot(SnapshotKind::Incremental));
    assert!(d.len() < 200, "a cleared table's delta names no key: {} bytes", d.len());
    let r: PagedTable<u64, u64> = PagedTable::restore(&f, [d.as_slice()]).unwrap();
    assert_eq!(to_map(&r), HashMap::from([(7, 70)]));
}

#[test]
fn values_wider_than_keys_and_odd_layouts_round_trip() {
    #[derive(Copy, Clone, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct Acc {
        count: u32,
        flags: u8,
        pad: [u8; 3],
        sum: u64,
    }
    let mut t: PagedTable<u32, Acc> = PagedTable::new();
    let mut m = HashMap::new();
    for k in 0..20_000u32 {
        let a = Acc { count: k, flags: (k % 7) as u8, pad: [0; 3], sum: u64::from(k) << 20 };
        t.insert(hash_key(&k), k, a);
        m.insert(k, a);
    }
    let f = encode(&t.snapshot(SnapshotKind::Full));
    for k in (0..20_000u32).step_by(3) {
        t.remove(hash_key(&k), &k);
        m.remove(&k);
    }
    let d = encode(&t.snapshot(SnapshotKind::Incremental));
    let r: PagedTable<u32, Acc> = PagedTable::restore(&f, [d.as_slice()]).unwrap();
    r.check_invariants();
    let got: HashMap<u32, Acc> = r.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(got, m);
    // Another value layout is refused.
    assert!(matches!(PagedTable::<u32, u64>::restore(&f, []), Err(Error::CorruptSnapshot { .. })));
}

#[test]
fn damaged_payloads_are_errors_not_panics() {
    let (mut t, _) = filled(200);
    let f = encode(&t.snapshot(SnapshotKind::Full));
    for k in 0..50u64 {
        t.insert(hash_key(&k), k, 9);
        t.remove(hash_key(&(k + 100)), &(k + 100));
    }
    let d1 = encode(&t.snapshot(SnapshotKind::Incremental));
    t.insert(hash_key(&1u64), 1, 1);
    let d2 = encode(&t.snapshot(SnapshotKind::Incremental));

    // Truncation anywhere.
    for cut in 0..f.len() {
        assert!(PagedTable::<u64, u64>::restore(&f[..cut], []).is_err(), "full cut at {cut}");
    }
    for cut in 0..d1.len() {
        assert!(PagedTable::<u64, u64>::restore(&f, [&d1[..cut]]).is_err(), "delta cut at {cut}");
    }
    // Wrong key or value sizes.
    assert!(matches!(PagedTable::<u32, u64>::restore(&f, []), Err(Error::CorruptSnapshot { .. })));
    assert!(matches!(PagedTable::<u64, u32>::restore(&f, []), Err(Error::CorruptSnapshot { .. })));
    assert!(matches!(PagedTable::<u64, [u64; 2]>::restore(&f, []), Err(Error::CorruptSnapshot { .. })));
    // A delta as the base, the base as a delta, deltas out of order or skipped.
    assert!(PagedTable::<u64, u64>::restore(&d1, []).is_err());
    assert!(PagedTable::<u64, u64>::restore(&f, [f.as_slice()]).is_err());
    assert!(PagedTable::<u64, u64>::restore(&f, [d2.as_slice(), d1.as_slice()]).is_err());
    assert!(PagedTable::<u64, u64>::restore(&f, [d2.as_slice()]).is_err());
    assert!(PagedTable::<u64, u64>::restore(&f, [d1.as_slice(), d2.as_slice()]).is_ok());
    // Bad magic and version.
    let mut bad = f.clone();
    bad[0] ^= 0xff;
    assert!(matches!(PagedTable::<u64, u64>::restore(&bad, []), Err(Error::CorruptSnapshot { .. })));
    let mut bad = f.clone();
    bad[8] = 99;
    assert!(matches!(PagedTable::<u64, u64>::restore(&bad, []), Err(Error::SnapshotVersion { found: 99, .. })));
    // Every slot filled: no probe run would end.
    let mut full_slots = f.clone();
    let stride = 24;
    for s in full_slots[96..].chunks_exact_mut(stride) {
        if s[..8] == [0; 8] {
            s[..8].copy_from_slice(&1u64.to_ne_bytes());
        }
    }
    assert!(PagedTable::<u64, u64>::restore(&full_slots, []).is_err());
    // Flipped bytes anywhere: an error or a table, never a panic; a table still works.
    let mut seed = 0x1234_5678_9abc_def0u64;
    for _ in 0..3000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut bad_f = f.clone();
        let mut bad_d = d1.clone();
        if seed & 1 == 0 {
            let i = (seed >> 8) as usize % bad_f.len();
            bad_f[i] ^= (seed >> 40) as u8 | 1;
        } else {
            let i = (seed >> 8) as usize % bad_d.len();
            bad_d[i] ^= (seed >> 40) as u8 | 1;
        }
        if let Ok(mut r) = PagedTable::<u64, u64>::restore(&bad_f, [bad_d.as_slice()]) {
            for k in 0..300u64 {
                r.insert(hash_key(&k), k, k);
                r.get(hash_key(&k), &k);
            }
        }
    }
}

/// The synchronous part of a snapshot of a 1 GB table, printed (not asserted: timings depend
/// on the machine). `cargo test --release -p rill --test state_store_paged -- --ignored --nocapture`
#[test]
#[ignore = "allocates 1 GB; run on demand to print the figure"]
fn snapshot_sync_part_of_a_1gb_table() {
    use std::time::Instant;
    let n = 25_000_000u64; // 32 M slots of 32 bytes: 1 GiB
    let mut t: PagedTable<u64, [u64; 2]> = PagedTable::with_capacity(n as usize);
    for k in 0..n {
        t.insert(hash_key(&k), k, [k, 1]);
    }
    println!("table: {} entries, {} MiB", t.len(), t.bytes() >> 20);
    let start = Instant::now();
    let full = t.snapshot(SnapshotKind::Full);
    println!("full snapshot, sync part: {:?}", start.elapsed());
    let start = Instant::now();
    for k in (0..n).step_by(100) {
        t.get_mut(hash_key(&k), &k).unwrap()[1] += 1;
    }
    println!("1 % updates right after (copy-on-write of every page): {:?}", start.elapsed());
    let start = Instant::now();
    let delta = t.snapshot(SnapshotKind::Incremental);
    println!("incremental snapshot of 1 % (frozen), sync part: {:?}, {} bytes", start.elapsed(), delta.encoded_len());
    drop(full);
    let start = Instant::now();
    for k in (0..n).step_by(100) {
        t.get_mut(hash_key(&k), &k).unwrap()[1] += 1;
    }
    println!("1 % updates after the snapshot was dropped: {:?}", start.elapsed());
    drop(delta);
    for k in (0..n).step_by(20_000) {
        t.get_mut(hash_key(&k), &k).unwrap()[1] += 1;
    }
    let start = Instant::now();
    let small = t.snapshot(SnapshotKind::Incremental);
    println!("incremental snapshot of 1250 entries (copied), sync part: {:?}", start.elapsed());
    drop(small);
    for k in (0..n).step_by(10) {
        t.get_mut(hash_key(&k), &k).unwrap()[1] += 1;
    }
    let start = Instant::now();
    let delta = t.snapshot(SnapshotKind::Incremental);
    println!("incremental snapshot of 10 % (frozen), sync part: {:?}, {} bytes", start.elapsed(), delta.encoded_len());
    let start = Instant::now();
    let mut out = Vec::new();
    delta.encode(&mut out);
    println!("encoding it: {:?}", start.elapsed());
}
