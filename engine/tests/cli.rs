//! The `rill` binary on the checked-in snapshot fixtures.

use std::process::Command;

fn rill(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rill")).args(args).output().expect("rill runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/snapshot");

#[test]
fn checkpoint_list_shows_each_checkpoint_and_its_status() {
    let (ok, out, err) = rill(&["checkpoint", "list", &format!("{FIXTURES}/valid")]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows.iter().all(|r| r.contains("complete")), "{out}");
    // Epoch 2 never got its manifest.
    let (ok, out, _) = rill(&["checkpoint", "list", &format!("{FIXTURES}/no_manifest")]);
    assert!(ok);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    assert!(rows[0].contains(" 1 ") && rows[0].contains("complete") && !rows[0].contains("incomplete"), "{out}");
    assert!(rows[1].contains(" 2 ") && rows[1].contains("incomplete"), "{out}");
}

#[test]
fn checkpoint_inspect_summarises_the_newest_and_refuses_what_is_not_there() {
    let (ok, out, err) = rill(&["checkpoint", "inspect", &format!("{FIXTURES}/valid"), "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["epoch"], 2);
    let states = v["states"].as_array().expect("states");
    assert!(!states.is_empty());
    let bytes: u64 = states.iter().map(|s| s["bytes"].as_u64().unwrap()).sum();
    assert_eq!(v["bytes"].as_u64().unwrap(), bytes);
    let (ok, out, _) = rill(&["checkpoint", "inspect", &format!("{FIXTURES}/valid"), "--epoch", "1"]);
    assert!(ok);
    assert!(out.starts_with("checkpoint 1 "), "{out}");
    // The newest *complete* checkpoint is inspected; the incomplete one cannot be.
    let (ok, out, _) = rill(&["checkpoint", "inspect", &format!("{FIXTURES}/no_manifest")]);
    assert!(ok);
    assert!(out.starts_with("checkpoint 1 "), "{out}");
    let (ok, _, err) = rill(&["checkpoint", "inspect", &format!("{FIXTURES}/no_manifest"), "--epoch", "2"]);
    assert!(!ok);
    assert!(err.contains("no_manifest"), "the error names the directory: {err}");
    let empty = tempfile::tempdir().unwrap();
    let (ok, out, _) = rill(&["checkpoint", "list", empty.path().to_str().unwrap()]);
    assert!(ok && out.contains("no checkpoints"), "{out}");
    let (ok, _, err) = rill(&["checkpoint", "inspect", empty.path().to_str().unwrap()]);
    assert!(!ok && !err.is_empty());
}
