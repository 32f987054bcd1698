//! Unit tests of the state backend against plain `std` maps.

use std::collections::{BTreeMap, HashMap};

use super::*;

#[test]
fn value_list_map_reducing_match_reference() {
    let (worker, workers, maxp) = (1, 3, 16);
    let mut b: KeyedStateBackend<u64> = KeyedStateBackend::new(worker, workers, maxp);
    let mut r = b.registry();
    let sum: ValueState<u64> = r.value("sum");
    let seen: ListState<u32> = r.list("seen");
    let last: MapState<u32, u64> = r.map("last");
    let max: ReducingState<u64> = r.reducing("max", |a: &mut u64, v| *a = (*a).max(v));
    assert_eq!(r.value::<u64>("sum").id(), sum.id(), "same name and type: same handle");

    let mut ref_sum: HashMap<u64, u64> = HashMap::new();
    let mut ref_seen: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut ref_last: HashMap<u64, BTreeMap<u32, u64>> = HashMap::new();
    let mut ref_max: HashMap<u64, u64> = HashMap::new();
    let keys: Vec<u64> = (0..5_000u64).filter(|k| KeyGroup::of(k, maxp).worker(workers) == worker).collect();
    for i in 0..20_000u64 {
        let k = keys[(i * 7919 % keys.len() as u64) as usize];
        b.set_current_key(k);
        *b.value_or_insert_with(&sum, || 0) += i;
        *ref_sum.entry(k).or_default() += i;
        b.list_push(&seen, i as u32);
        ref_seen.entry(k).or_default().push(i as u32);
        b.map_insert(&last, (i % 3) as u32, i);
        ref_last.entry(k).or_default().insert((i % 3) as u32, i);
        b.reduce(&max, i % 1000);
        let m = ref_max.entry(k).or_default();
        *m = (*m).max(i % 1000);
    }
    for (k, v) in &ref_sum {
        b.set_current_key(*k);
        assert_eq!(b.value(&sum), Some(v));
        assert_eq!(b.list(&seen), ref_seen[k].as_slice());
        let m: BTreeMap<u32, u64> = b.map(&last).unwrap().iter().map(|(a, b)| (*a, *b)).collect();
        assert_eq!(m, ref_last[k]);
        assert_eq!(b.reduced(&max), Some(&ref_max[k]));
    }
    // Per-group iteration sees every key exactly once, in its own group.
    let mut n = 0;
    for kg in b.owned_groups().collect::<Vec<_>>() {
        b.for_each_value_in_group(&sum, kg, |k, v| {
            assert_eq!(KeyGroup::of(k, maxp), kg);
            assert_eq!(ref_sum[k], *v);
            n += 1;
        });
    }
    assert_eq!(n, ref_sum.len());
    let st = b.state_stats(seen.id());
    assert_eq!(st.entries as usize, ref_seen.len());
    let list_payload: usize = ref_seen.values().map(|v| v.len() * 4).sum();
    assert!(st.bytes as usize >= list_payload, "list bytes count the elements");

    // Clearing everything brings every figure back to zero.
    for k in ref_sum.keys() {
        b.set_current_key(*k);
        b.clear_value(&sum);
        assert_eq!(b.list_take(&seen), ref_seen[k]);
        for mk in 0..3 {
            b.map_remove(&last, &mk);
        }
        b.clear_reduced(&max);
    }
    // Emptied groups release their tables: every figure is back to zero.
    assert_eq!(b.total_stats(), StateStats::default());
    // Clearing whole key groups drops what is left.
    b.set_current_key(keys[0]);
    b.set_value(&sum, 1);
    assert_eq!(b.total_stats().entries, 1);
    for kg in b.owned_groups().collect::<Vec<_>>() {
        b.clear_group(kg);
    }
    assert_eq!(b.total_stats(), StateStats::default());
}

#[test]
#[should_panic(expected = "already registered")]
fn same_name_other_type_panics() {
    let mut b: KeyedStateBackend<u64> = KeyedStateBackend::new(0, 1, 8);
    let mut r = b.registry();
    let _a: ValueState<u64> = r.value("x");
    let _b: ValueState<u32> = r.value("x");
}

#[test]
#[should_panic(expected = "not exchanged by key group")]
fn foreign_key_panics() {
    let mut b: KeyedStateBackend<u64> = KeyedStateBackend::new(0, 2, 8);
    let k = (0..100u64).find(|k| KeyGroup::of(k, 8).worker(2) == 1).unwrap();
    b.set_current_key(k);
}
