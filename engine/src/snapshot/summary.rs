//! What a checkpoint holds and cost, summarised from its manifest for `rill checkpoint inspect`
//! (a pure function: reading the manifest is the caller's business).

use std::collections::BTreeMap;

use serde::Serialize;

use super::manifest::Manifest;

/// One operator's state in a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StateSummary {
    /// The operator's name.
    pub operator: String,
    /// The state's name.
    pub state: String,
    /// Key groups with a chunk of this state.
    pub key_groups: u64,
    /// Chunks of this state.
    pub chunks: u64,
    /// Payload bytes of this state, written now or referenced from earlier checkpoints.
    pub bytes: u64,
    /// Payload bytes written by this checkpoint (the rest is referenced, incrementally).
    pub bytes_written: u64,
}

/// A checkpoint's contents and costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointSummary {
    /// The checkpoint's epoch.
    pub epoch: u64,
    /// The job's number of key groups.
    pub max_parallelism: u32,
    /// Per operator and state, in name order.
    pub states: Vec<StateSummary>,
    /// Payload bytes of the whole checkpoint.
    pub bytes: u64,
    /// Payload bytes written by this checkpoint.
    pub bytes_written: u64,
    /// Bytes this checkpoint put on disk (with headers and padding).
    pub disk_bytes_written: u64,
    /// Which writer backend wrote it.
    pub backend: String,
    /// Time spent writing, in microseconds.
    pub write_micros: u64,
    /// Time spent making it durable (fsyncs), in microseconds.
    pub sync_micros: u64,
    /// Source positions recorded in it, by source.
    pub source_positions: BTreeMap<String, Vec<u64>>,
    /// Whether it is a finished job's final checkpoint.
    pub finished: bool,
    /// Whether it is a savepoint.
    pub savepoint: bool,
    /// What each operator's part cost (from the manifest's `operators`).
    pub operators: Vec<OperatorSummary>,
    /// Microseconds [`with_restore_estimate`] measured reading and verifying every chunk.
    pub read_micros: Option<u64>,
}

/// One operator's part of a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OperatorSummary {
    /// The operator's name.
    pub operator: String,
    /// Keys in its state when the checkpoint was taken (all workers).
    pub keys: u64,
    /// Bytes of its state in memory (all workers).
    pub state_bytes: u64,
    /// Payload bytes of its chunks in this checkpoint (written now or referenced).
    pub bytes: u64,
    /// Payload bytes it wrote for this checkpoint.
    pub bytes_written: u64,
    /// The longest synchronous pause of one of its instances, in microseconds.
    pub sync_pause_micros: u64,
    /// Its share (by bytes written) of the writer's asynchronous write time, in microseconds.
    pub async_write_micros: u64,
    /// Records held back by alignment (all workers).
    pub aligned_records: u64,
    /// Estimated restore time: its bytes at the read rate [`with_restore_estimate`] measured, in
    /// microseconds (`None` until measured).
    pub restore_estimate_micros: Option<u64>,
}

/// Adds the restore estimate: `read_micros` is the time reading and verifying all `bytes` took.
pub fn with_restore_estimate(mut s: CheckpointSummary, read_micros: u64) -> CheckpointSummary {
    let total = s.bytes.max(1);
    for o in &mut s.operators {
        o.restore_estimate_micros = Some((read_micros as u128 * o.bytes as u128 / total as u128) as u64);
    }
    s.read_micros = Some(read_micros);
    s
}

/// Summarises `manifest`.
pub fn summarize(manifest: &Manifest) -> CheckpointSummary {
    let mut states: BTreeMap<(&str, &str), (StateSummary, std::collections::BTreeSet<u32>)> = BTreeMap::new();
    for c in &manifest.chunks {
        let (s, groups) = states.entry((c.operator.as_str(), c.state.as_str())).or_insert_with(|| {
            (
                StateSummary { operator: c.operator.clone(), state: c.state.clone(), ..StateSummary::default() },
                Default::default(),
            )
        });
        groups.insert(c.key_group.0);
        s.chunks += 1;
        s.bytes += c.length;
        if c.epoch == manifest.epoch {
            s.bytes_written += c.length;
        }
    }
    let states: Vec<StateSummary> = states
        .into_values()
        .map(|(mut s, groups)| {
            s.key_groups = groups.len() as u64;
            s
        })
        .collect();
    let written_total: u64 = states.iter().map(|s| s.bytes_written).sum();
    let operators = manifest
        .operators
        .iter()
        .map(|o| {
            let mine = states.iter().filter(|s| s.operator == o.operator);
            let (bytes, written) = mine.fold((0, 0), |(b, w), s| (b + s.bytes, w + s.bytes_written));
            OperatorSummary {
                operator: o.operator.clone(),
                keys: o.keys,
                state_bytes: o.state_bytes,
                bytes,
                bytes_written: written,
                sync_pause_micros: o.sync_pause_micros,
                async_write_micros: (manifest.stats.write_micros as u128 * written as u128
                    / written_total.max(1) as u128) as u64,
                aligned_records: o.aligned_records,
                restore_estimate_micros: None,
            }
        })
        .collect();
    CheckpointSummary {
        finished: manifest.finished,
        savepoint: manifest.savepoint,
        operators,
        read_micros: None,
        epoch: manifest.epoch.0,
        max_parallelism: manifest.max_parallelism,
        bytes: states.iter().map(|s| s.bytes).sum(),
        bytes_written: states.iter().map(|s| s.bytes_written).sum(),
        states,
        disk_bytes_written: manifest.stats.bytes_written,
        backend: manifest.stats.backend.clone(),
        write_micros: manifest.stats.write_micros,
        sync_micros: manifest.stats.sync_micros,
        source_positions: manifest.source_positions.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::ChunkRef;
    use crate::state::KeyGroup;
    use crate::time::Epoch;

    fn chunk(operator: &str, state: &str, kg: u32, epoch: u64, length: u64) -> ChunkRef {
        ChunkRef {
            file: format!("chk-{epoch}/data.chunks"),
            offset: 0,
            length,
            checksum: 0,
            operator: operator.into(),
            state: state.into(),
            key_group: KeyGroup(kg),
            epoch: Epoch(epoch),
            part: 0,
        }
    }

    #[test]
    fn sums_per_state_and_separates_referenced_bytes() {
        let mut m = Manifest::new(Epoch(3), 128);
        m.chunks = vec![
            chunk("windows", "panes", 0, 3, 100),
            chunk("windows", "panes", 1, 2, 50),
            chunk("windows", "panes", 1, 3, 10),
            chunk("rules", "card", 5, 1, 7),
        ];
        let s = summarize(&m);
        assert_eq!(s.states.len(), 2);
        assert_eq!(
            s.states[0],
            StateSummary {
                operator: "rules".into(),
                state: "card".into(),
                key_groups: 1,
                chunks: 1,
                bytes: 7,
                bytes_written: 0
            }
        );
        assert_eq!(
            s.states[1],
            StateSummary {
                operator: "windows".into(),
                state: "panes".into(),
                key_groups: 2,
                chunks: 3,
                bytes: 160,
                bytes_written: 110
            }
        );
        assert_eq!((s.bytes, s.bytes_written, s.epoch), (167, 110, 3));
    }
}
