//! [`PodValueState`] snapshots at the backend, against a reference map: chains of a complete
//! part and deltas (as checkpoints keep them) restore to exactly the state at the last snapshot,
//! whatever happened after it; a delta after changing 1 % of the keys is under 3 % of the state.

use std::collections::{BTreeMap, HashMap};

use rill::snapshot::Payload;
use rill::state::{GroupSnapshot, KeyGroup, KeyedStateBackend, PodValueState, StateId};

const MAXP: u32 = 16;

/// The payload's bytes (deferred payloads are encoded here, as the encoder thread would).
fn bytes(p: Payload) -> Vec<u8> {
    match p {
        Payload::Bytes(b) => b,
        Payload::Deferred(f) => f(),
    }
}

/// Per key group: the chain a checkpoint directory would hold after each snapshot.
#[derive(Default)]
struct Chains {
    chains: BTreeMap<u32, Vec<Vec<u8>>>,
    /// Bytes written by the last snapshot (complete parts and deltas).
    written: usize,
    deltas: usize,
}

impl Chains {
    fn take(&mut self, backend: &mut KeyedStateBackend<u64>, full: bool) {
        let mut seen = Vec::new();
        self.written = 0;
        self.deltas = 0;
        backend.snapshot(full, |name, kg, snap| {
            assert_eq!(name, "totals");
            seen.push(kg.0);
            match snap {
                GroupSnapshot::Empty => unreachable!("empty groups are not reported"),
                GroupSnapshot::Unchanged => assert!(self.chains.contains_key(&kg.0), "unchanged group without a chain"),
                GroupSnapshot::Chunk { part, payload } => {
                    let b = bytes(payload);
                    self.written += b.len();
                    let chain = self.chains.entry(kg.0).or_default();
                    if part == 0 {
                        chain.clear();
                    } else {
                        assert!(!full, "a complete snapshot has no deltas");
                        assert_eq!(part as usize, chain.len(), "deltas extend the chain in order");
                        self.deltas += 1;
                    }
                    chain.push(b);
                }
            }
        });
        // Groups not reported are empty: a checkpoint holds nothing for them.
        self.chains.retain(|kg, _| seen.contains(kg));
    }

    fn restore(&self, workers: usize) -> Vec<(KeyedStateBackend<u64>, PodValueState<[u64; 2]>)> {
        (0..workers)
            .map(|w| {
                let mut b = KeyedStateBackend::<u64>::new(w, workers, MAXP);
                let h = b.registry().pod_value::<[u64; 2]>("totals");
                for (&kg, chain) in &self.chains {
                    if KeyGroup(kg).worker(workers) == w {
                        b.restore("totals", KeyGroup(kg), chain).expect("chain restores");
                    }
                }
                (b, h)
            })
            .collect()
    }
}

fn check(restored: &mut [(KeyedStateBackend<u64>, PodValueState<[u64; 2]>)], reference: &HashMap<u64, [u64; 2]>) {
    let workers = restored.len();
    let mut entries = 0;
    for (b, _) in restored.iter() {
        entries += b.state_stats(StateId(0)).entries;
    }
    assert_eq!(entries as usize, reference.len(), "key count");
    for (&k, v) in reference {
        let w = KeyGroup::of(&k, MAXP).worker(workers);
        let (b, h) = &mut restored[w];
        b.set_current_key(k);
        assert_eq!(b.pod_value(h), Some(v), "key {k}");
    }
}

/// A deterministic pseudo-random sequence.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn chains_of_deltas_restore_the_state_of_the_last_snapshot_on_1_2_and_4_workers() {
    let mut b = KeyedStateBackend::<u64>::new(0, 1, MAXP);
    let h = b.registry().pod_value::<[u64; 2]>("totals");
    let mut reference: HashMap<u64, [u64; 2]> = HashMap::new();
    let mut chains = Chains::default();
    let mut rng = Lcg(7);
    let mut deltas = 0;
    for round in 0..30 {
        // Inserts, updates and removals; a larger batch every seventh round forces complete
        // parts, and round 20 clears a whole key group.
        let ops = if round % 7 == 3 { 20_000 } else { 400 + round * 37 };
        for _ in 0..ops {
            let k = rng.next() % 8_000;
            b.set_current_key(k);
            if rng.next().is_multiple_of(5) {
                assert_eq!(b.clear_pod_value(&h), reference.remove(&k), "remove {k}");
            } else {
                let v = b.pod_value_or_insert_with(&h, || [0, 0]);
                v[0] += 1;
                v[1] += k;
                let r = reference.entry(k).or_insert([0, 0]);
                r[0] += 1;
                r[1] += k;
            }
        }
        if round == 20 {
            b.clear_group(KeyGroup(5));
            reference.retain(|k, _| KeyGroup::of(k, MAXP) != KeyGroup(5));
        }
        chains.take(&mut b, round == 0);
        deltas += chains.deltas;
        // Changes after the snapshot must not leak into it.
        for k in 0..50u64 {
            b.set_current_key(k);
            b.set_pod_value(&h, [u64::MAX, round as u64]);
        }
        for workers in [1, 2, 4] {
            check(&mut chains.restore(workers), &reference);
        }
        for k in 0..50u64 {
            b.set_current_key(k);
            match reference.get(&k) {
                Some(v) => b.set_pod_value(&h, *v),
                None => {
                    b.clear_pod_value(&h);
                }
            }
        }
    }
    assert!(deltas > 100, "the rounds wrote deltas: {deltas}");
}

#[test]
fn a_delta_after_changing_one_percent_of_the_keys_is_under_three_percent_of_the_state() {
    let mut b = KeyedStateBackend::<u64>::new(0, 1, MAXP);
    let h = b.registry().pod_value::<[u64; 4]>("totals");
    let keys = 400_000u64;
    for k in 0..keys {
        b.set_current_key(k);
        b.set_pod_value(&h, [k, 1, 2, 3]);
    }
    let mut full = 0;
    b.snapshot(true, |_, _, snap| {
        if let GroupSnapshot::Chunk { payload, .. } = snap {
            full += bytes(payload).len();
        }
    });
    let mut rng = Lcg(11);
    for _ in 0..keys / 100 {
        let k = rng.next() % keys;
        b.set_current_key(k);
        b.pod_value_mut(&h).expect("present")[1] += 1;
    }
    let (mut delta, mut parts) = (0, Vec::new());
    b.snapshot(false, |_, _, snap| {
        if let GroupSnapshot::Chunk { part, payload } = snap {
            parts.push(part);
            delta += bytes(payload).len();
        }
    });
    assert!(parts.iter().all(|&p| p == 1), "every group wrote a delta: {parts:?}");
    let share = delta as f64 / full as f64;
    assert!(share < 0.03, "1 % of the keys changed: delta {delta} bytes of {full} ({:.2} %)", share * 100.0);
}
