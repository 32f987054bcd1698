//! Per-operator metrics, readable while and after a job runs.
//!
//! Each operator instance (one per worker) owns an [`OperatorMetrics`] of atomics. Operators
//! count into plain locals on the hot path and [`OperatorMetrics::flush`] them once per
//! activation, so the cost per record is nil. [`MetricsRegistry::snapshot`] sums the
//! instances of each operator across workers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// The live counters of one operator on one worker.
#[derive(Debug)]
pub struct OperatorMetrics {
    name: String,
    worker: usize,
    records_in: AtomicU64,
    records_out: AtomicU64,
    late_records: AtomicU64,
    /// Event-time watermark at the operator's input, `u64::MAX` once the input has ended.
    watermark: AtomicU64,
    /// Largest event time the operator has seen.
    max_event_time: AtomicU64,
    state_bytes: AtomicU64,
    state_keys: AtomicU64,
    peak_state_bytes: AtomicU64,
    peak_state_keys: AtomicU64,
}

/// Counts gathered by an operator during one activation, added to its [`OperatorMetrics`] by
/// [`OperatorMetrics::flush`].
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalCounts {
    /// Records received.
    pub records_in: u64,
    /// Records emitted.
    pub records_out: u64,
    /// Records sent to the late output.
    pub late_records: u64,
    /// Largest event time seen in this activation (0 if none).
    pub max_event_time: u64,
}

impl OperatorMetrics {
    fn new(name: &str, worker: usize) -> Self {
        OperatorMetrics {
            name: name.to_owned(),
            worker,
            records_in: AtomicU64::new(0),
            records_out: AtomicU64::new(0),
            late_records: AtomicU64::new(0),
            watermark: AtomicU64::new(0),
            max_event_time: AtomicU64::new(0),
            state_bytes: AtomicU64::new(0),
            state_keys: AtomicU64::new(0),
            peak_state_bytes: AtomicU64::new(0),
            peak_state_keys: AtomicU64::new(0),
        }
    }

    /// Adds an activation's counts and resets them.
    pub fn flush(&self, counts: &mut LocalCounts) {
        if counts.records_in != 0 {
            self.records_in.fetch_add(counts.records_in, Ordering::Relaxed);
        }
        if counts.records_out != 0 {
            self.records_out.fetch_add(counts.records_out, Ordering::Relaxed);
        }
        if counts.late_records != 0 {
            self.late_records.fetch_add(counts.late_records, Ordering::Relaxed);
        }
        if counts.max_event_time != 0 {
            self.max_event_time.fetch_max(counts.max_event_time, Ordering::Relaxed);
        }
        *counts = LocalCounts::default();
    }

    /// Records the operator's current input watermark.
    pub fn set_watermark(&self, watermark_ms: u64) {
        self.watermark.store(watermark_ms, Ordering::Relaxed);
    }

    /// Records the operator's current state size.
    pub fn set_state(&self, bytes: u64, keys: u64) {
        self.state_bytes.store(bytes, Ordering::Relaxed);
        self.state_keys.store(keys, Ordering::Relaxed);
        if bytes > self.peak_state_bytes.load(Ordering::Relaxed) {
            self.peak_state_bytes.store(bytes, Ordering::Relaxed);
            self.peak_state_keys.store(keys, Ordering::Relaxed);
        }
    }

    /// The operator's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The worker this instance runs on.
    pub fn worker(&self) -> usize {
        self.worker
    }
}

/// All operator metrics of a job.
#[derive(Debug, Default)]
pub struct MetricsRegistry {
    operators: Mutex<Vec<Arc<OperatorMetrics>>>,
}

/// The metrics of one operator summed over its workers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OperatorSnapshot {
    /// The operator's name.
    pub name: String,
    /// Number of worker instances.
    pub instances: usize,
    /// Records received, all workers.
    pub records_in: u64,
    /// Records emitted, all workers.
    pub records_out: u64,
    /// Records sent to the late output, all workers.
    pub late_records: u64,
    /// Least input watermark over the workers (ms); `None` once every input has ended.
    pub watermark_ms: Option<u64>,
    /// Largest event time seen (ms).
    pub max_event_time_ms: u64,
    /// How far the watermark trails the newest event time (ms); 0 once the input has ended.
    pub watermark_lag_ms: u64,
    /// Bytes of state held, all workers.
    pub state_bytes: u64,
    /// Keys in state, all workers.
    pub state_keys: u64,
    /// Largest state an instance held, summed over workers (bytes).
    #[serde(default)]
    pub peak_state_bytes: u64,
    /// Keys in state when those peaks were reached, summed over workers.
    #[serde(default)]
    pub peak_state_keys: u64,
}

impl MetricsRegistry {
    /// Registers an operator instance and returns its counters.
    pub fn register(&self, name: &str, worker: usize) -> Arc<OperatorMetrics> {
        let m = Arc::new(OperatorMetrics::new(name, worker));
        self.operators.lock().expect("metrics lock").push(Arc::clone(&m));
        m
    }

    /// Sums every operator's instances, in order of first registration.
    pub fn snapshot(&self) -> Vec<OperatorSnapshot> {
        let ops = self.operators.lock().expect("metrics lock");
        let mut out: Vec<OperatorSnapshot> = Vec::new();
        for m in ops.iter() {
            let wm = m.watermark.load(Ordering::Relaxed);
            let idx = match out.iter().position(|s| s.name == m.name) {
                Some(i) => i,
                None => {
                    out.push(OperatorSnapshot {
                        name: m.name.clone(),
                        instances: 0,
                        records_in: 0,
                        records_out: 0,
                        late_records: 0,
                        watermark_ms: None,
                        max_event_time_ms: 0,
                        watermark_lag_ms: 0,
                        state_bytes: 0,
                        state_keys: 0,
                        peak_state_bytes: 0,
                        peak_state_keys: 0,
                    });
                    out.len() - 1
                }
            };
            let s = &mut out[idx];
            s.instances += 1;
            s.records_in += m.records_in.load(Ordering::Relaxed);
            s.records_out += m.records_out.load(Ordering::Relaxed);
            s.late_records += m.late_records.load(Ordering::Relaxed);
            s.max_event_time_ms = s.max_event_time_ms.max(m.max_event_time.load(Ordering::Relaxed));
            if wm != u64::MAX {
                s.watermark_ms = Some(s.watermark_ms.map_or(wm, |w| w.min(wm)));
            }
            s.state_bytes += m.state_bytes.load(Ordering::Relaxed);
            s.state_keys += m.state_keys.load(Ordering::Relaxed);
            s.peak_state_bytes += m.peak_state_bytes.load(Ordering::Relaxed);
            s.peak_state_keys += m.peak_state_keys.load(Ordering::Relaxed);
        }
        for s in &mut out {
            s.watermark_lag_ms = s.watermark_ms.map_or(0, |w| s.max_event_time_ms.saturating_sub(w));
        }
        out
    }
}
