//! `rill_bench::recovery::measure` on a tiny sensors job with the dev binary: the first run is
//! killed with SIGKILL mid-way, the resumed run restores a checkpoint, publishes new rows, and
//! its final output equals the uninterrupted run's.

use std::path::Path;

use rill_bench::cli::Workload;
use rill_bench::recovery::{RecoveryPlan, measure};

#[test]
fn killed_and_resumed_sensors_output_equals_the_uninterrupted_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = RecoveryPlan {
        workload: Workload::Sensors,
        events: 3_000_000,
        seed: 7,
        rate: 1_500_000,
        kill_after_ms: 1_000,
        workers: 1,
        checkpoint_interval_ms: 100,
    };
    let r = measure(Path::new(env!("CARGO_BIN_EXE_rill-bench")), &plan, &dir.path().join("m")).expect("measures");
    assert!(r.output_matches, "{r:?}");
    assert!(r.output_rows > 100, "too little output to compare: {r:?}");
    assert!(r.restored_epoch.is_some(), "the resumed run restored no checkpoint: {r:?}");
    assert!(r.output_bytes_at_kill > 0, "nothing was published before the kill: {r:?}");
    let first = r.first_new_output_ms.expect("the resumed run published new rows");
    assert!(first > 0.0 && first <= r.resumed_total_s * 1e3, "{r:?}");
}
