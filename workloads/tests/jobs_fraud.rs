//! The fraud job against a naive evaluation of its rules over the same seeded input, on 1, 2
//! and 4 workers, with late events; and its state expiry.

use std::collections::BTreeMap;
use std::sync::Arc;

use rill::operators::source::SourceOptions;
use rill::time::watermark::WatermarkStrategy;
use rill::{Captured, JobConfig, Sink};
use rill_workloads::fraud::{Fraud, FraudConfig, Transaction};
use rill_workloads::jobs::fraud::{Alert, BURST_COUNT, HORIZON_MS, LARGE_ABOVE, Rule, SMALL_BELOW, alerts};

/// Naive reference: every rule straight from its definition, per card, over on-time events.
fn reference(fraud: &Fraud) -> (Vec<Alert>, Vec<Transaction>) {
    let mut per_card: BTreeMap<u64, Vec<Transaction>> = BTreeMap::new();
    let mut late = Vec::new();
    for i in 0..fraud.config().events {
        let t = fraud.event(i);
        if fraud.is_late(i) {
            late.push(t);
        } else {
            per_card.entry(t.card_id).or_default().push(t);
        }
    }
    let mut out = Vec::new();
    for txs in per_card.values() {
        for l in txs {
            let in_window = txs.iter().filter(|t| t.ts_ms + HORIZON_MS >= l.ts_ms && t.ts_ms <= l.ts_ms).count();
            if in_window >= BURST_COUNT {
                out.push(Alert { card_id: l.card_id, ts_ms: l.ts_ms, rule: Rule::Burst, amount_cents: l.amount_cents });
            }
            let small_before = txs
                .iter()
                .any(|s| s.amount_cents < SMALL_BELOW && s.ts_ms < l.ts_ms && l.ts_ms <= s.ts_ms + HORIZON_MS);
            if l.amount_cents > LARGE_ABOVE && small_before {
                out.push(Alert {
                    card_id: l.card_id,
                    ts_ms: l.ts_ms,
                    rule: Rule::SmallThenLarge,
                    amount_cents: l.amount_cents,
                });
            }
        }
    }
    out.sort_unstable();
    late.sort_unstable_by_key(|t| (t.ts_ms, t.card_id, t.merchant_id, t.amount_cents));
    (out, late)
}

#[test]
fn fraud_job_matches_reference_on_1_2_4_workers() {
    let config =
        FraudConfig { seed: 3, events: 400_000, late_fraction: 0.002, late_delay_ms: 5_000, ..FraudConfig::default() };
    let fraud = Arc::new(Fraud::new(config).unwrap());
    let (expected, expected_late) = reference(&fraud);
    assert!(expected.iter().any(|a| a.rule == Rule::Burst), "input has bursts");
    assert!(expected.iter().any(|a| a.rule == Rule::SmallThenLarge), "input has small-then-large");
    assert!(!expected_late.is_empty(), "input has late events");
    for workers in [1, 2, 4] {
        let out = Captured::new();
        let late = Captured::new();
        let (out2, late2, f) = (out.clone(), late.clone(), Arc::clone(&fraud));
        let total = fraud.config().events;
        let outcome = rill::execute(JobConfig::with_workers(workers), move |df| {
            let f = Arc::clone(&f);
            let options =
                SourceOptions { strategy: WatermarkStrategy::bounded_out_of_orderness(1_000), watermark_log: None };
            let txs = df.generator_source("transactions", total, options, move |r, o| f.fill(r, o));
            let (alerts, late) = alerts(df, txs);
            alerts.capture_into(df, &out2);
            late.capture_into(df, &late2);
        })
        .unwrap();
        let mut got: Vec<Alert> = out.take();
        got.sort_unstable();
        assert_eq!(got.len(), expected.len(), "{workers} workers: number of alerts");
        assert_eq!(got, expected, "{workers} workers: alerts");
        let mut got_late: Vec<Transaction> = late.take();
        got_late.sort_unstable_by_key(|t| (t.ts_ms, t.card_id, t.merchant_id, t.amount_cents));
        assert_eq!(got_late, expected_late, "{workers} workers: late transactions");
        // Nothing outlives the input: every card's state has expired through its timers.
        let m = outcome.metrics.iter().find(|m| m.name == "fraud-rules").unwrap();
        assert_eq!(m.state_keys, 0, "{workers} workers: state left at the end: {m:?}");
        assert!(m.peak_state_keys > 0);
    }
}
