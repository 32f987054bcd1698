//! Exactly-once recovery of `rill-bench run` as a user sees it: `kill -9` at random moments,
//! `--resume` with the same arguments, and the output file compared, as a multiset of rows,
//! with the output of a run that was never killed. Also: resuming a finished job, a damaged
//! newest checkpoint, savepoints, rescaling and forking from a savepoint.
//!
//! The runs are open-loop (`--rate`) so that each takes about a second and a kill lands in the
//! middle of the work; the kill moments come from a fixed seed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_rill-bench");

fn run<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> Output {
    let out = Command::new(BIN).args(args).output().expect("rill-bench runs");
    assert!(
        out.status.success(),
        "rill-bench {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The rows of a CSV file (header first, then the data rows sorted).
fn rows(path: &Path) -> Vec<String> {
    let lines = rill_bench::recovery::sorted_rows(path).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!lines.is_empty(), "{} has no header", path.display());
    lines
}

/// xorshift: kill moments from a fixed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

/// Starts `args`, kills it with SIGKILL after `after`, and waits for it.
fn run_and_kill(args: &[String], after: Duration) {
    let mut child =
        Command::new(BIN).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("rill-bench starts");
    std::thread::sleep(after);
    // SIGKILL on Unix: no destructor, no flush, like a crash.
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `job` once without checkpoints into `dir/reference.csv` and returns that path.
fn reference_output(dir: &Path, job: &[&str]) -> PathBuf {
    let reference = dir.join("reference.csv");
    let mut plain = owned(job);
    plain.extend(owned(&["--output", &path_str(&reference)]));
    run(&plain);
    reference
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// Kills `job` `kills` times at random moments, resumes until it finishes, and checks the output
/// against an uninterrupted run of the same job without checkpoints.
fn kill_and_resume(job: &[&str], rate: &str, kills: usize, seed: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let reference = reference_output(dir.path(), job);

    let out = dir.path().join("out.csv");
    let ck = dir.path().join("checkpoints");
    let mut args = owned(job);
    args.extend(owned(&[
        "--rate",
        rate,
        "--output",
        &path_str(&out),
        "--checkpoint-dir",
        &path_str(&ck),
        "--checkpoint-interval-ms",
        "50",
        "--resume",
    ]));
    let mut rng = Rng(seed);
    for _ in 0..kills {
        run_and_kill(&args, Duration::from_millis(rng.next(150, 900)));
    }
    let last = run(&args);
    let text = stdout(&last);
    assert!(text.contains("restored checkpoint"), "the last run did not restore a checkpoint:\n{text}");
    assert_eq!(rows(&out), rows(&reference), "output after {kills} kills differs from the uninterrupted run");
    assert!(rows(&reference).len() > 100, "the job produced too little output to compare");

    // The job is finished: resuming does nothing and says so; the output stays as it is.
    let again = run(&args);
    assert!(stdout(&again).contains("nothing to resume"), "{}", stdout(&again));
    assert_eq!(rows(&out), rows(&reference));
    assert!(
        !dir.path().join("out.csv.rill-staging").exists() || staged_is_empty(&dir.path().join("out.csv.rill-staging"))
    );
}

fn staged_is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|d| d.count() == 0).unwrap_or(true)
}

#[test]
fn sensors_killed_at_random_moments_resumes_to_the_uninterrupted_output() {
    let job = ["run", "sensors", "--events", "2000000", "--workers", "2", "--window-ms", "1000"];
    kill_and_resume(&job, "2000000", 5, 0x5EED_0001);
}

#[test]
fn fraud_killed_at_random_moments_resumes_to_the_uninterrupted_output() {
    let job = ["run", "fraud", "--events", "300000", "--workers", "2"];
    kill_and_resume(&job, "300000", 4, 0x5EED_0002);
}

/// The newest checkpoint is damaged (a flipped byte in its data): resuming passes it over,
/// restores the previous one, says so, and the output is still exact.
#[test]
fn a_damaged_newest_checkpoint_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = ["run", "sensors", "--events", "1500000", "--window-ms", "1000"];
    let reference = reference_output(dir.path(), &job);

    let out = dir.path().join("out.csv");
    let ck = dir.path().join("checkpoints");
    let mut args = owned(&job);
    args.extend(owned(&[
        "--rate",
        "1500000",
        "--output",
        &path_str(&out),
        "--checkpoint-dir",
        &path_str(&ck),
        "--checkpoint-interval-ms",
        "50",
        "--retain-checkpoints",
        "3",
        "--resume",
    ]));
    run_and_kill(&args, Duration::from_millis(700));
    let complete: Vec<PathBuf> = {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&ck)
            .expect("checkpoint dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.join("MANIFEST").exists())
            .collect();
        v.sort();
        v
    };
    assert!(complete.len() >= 2, "need two complete checkpoints, found {complete:?}");
    let newest = complete.last().expect("a checkpoint");
    let data = newest.join("data.chunks");
    let mut bytes = std::fs::read(&data).expect("data file");
    if bytes.len() > 4096 + 64 {
        // Inside the first chunk's payload.
        bytes[100] ^= 0xFF;
        std::fs::write(&data, bytes).expect("damage");
        let res = run(&args);
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(err.contains("skipping checkpoint"), "the damaged checkpoint was not reported:\n{err}");
    } else {
        // The newest checkpoint holds no state (nothing pending at its cut): damage its manifest.
        let manifest = newest.join("MANIFEST");
        let mut m = std::fs::read(&manifest).expect("manifest");
        m[10] ^= 0x01;
        std::fs::write(&manifest, m).expect("damage");
        let res = run(&args);
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(err.contains("skipping checkpoint"), "the damaged checkpoint was not reported:\n{err}");
    }
    assert_eq!(rows(&out), rows(&reference));
}

/// Stop with a savepoint on 2 workers; the output then holds exactly the rows up to the cut.
/// Continue the same file from the savepoint on 1 worker, and fork two more jobs from the same
/// savepoint on 3 and 2 workers into new files: each ends with the uninterrupted output.
#[test]
fn savepoint_stop_resume_rescale_and_fork() {
    let dir = tempfile::tempdir().expect("tempdir");
    let job = ["run", "sensors", "--events", "1500000", "--window-ms", "1000"];
    let reference = reference_output(dir.path(), &job);
    let expected = rows(&reference);

    let out = dir.path().join("out.csv");
    let sp = dir.path().join("savepoint");
    let mut stop = owned(&job);
    stop.extend(owned(&[
        "--workers",
        "2",
        "--output",
        &path_str(&out),
        "--savepoint-at-event",
        "700000",
        "--savepoint-dir",
        &path_str(&sp),
    ]));
    let stopped = run(&stop);
    assert!(stdout(&stopped).contains("stopped with a savepoint"), "{}", stdout(&stopped));
    let prefix = rows(&out);
    assert!(prefix.len() > 1 && prefix.len() < expected.len(), "the savepoint cut nothing off: {}", prefix.len());
    // The prefix is a part of the uninterrupted output.
    for r in &prefix[1..] {
        assert!(expected.binary_search(r).is_ok() || expected[1..].contains(r), "row {r} is not in the reference");
    }

    // Forks first (they must not change the savepoint), then the continuation of the same file.
    for (workers, name) in [("3", "fork-a.csv"), ("2", "fork-b.csv")] {
        let fork = dir.path().join(name);
        let mut args = owned(&job);
        args.extend(owned(&["--workers", workers, "--output", &path_str(&fork), "--from-savepoint", &path_str(&sp)]));
        let res = run(&args);
        assert!(stdout(&res).contains("restored checkpoint"), "{}", stdout(&res));
        let mut all = prefix.clone();
        all.extend(rows(&fork).into_iter().skip(1));
        all[1..].sort_unstable();
        assert_eq!(all, expected, "fork on {workers} workers");
    }
    let mut resume = owned(&job);
    resume.extend(owned(&["--workers", "1", "--output", &path_str(&out), "--from-savepoint", &path_str(&sp)]));
    run(&resume);
    assert_eq!(rows(&out), expected, "resumed from the savepoint on 1 worker");
}

/// The same from a CSV file: the file source resumes at its readers' row offsets.
#[test]
fn sensors_from_csv_killed_and_resumed_equals_the_uninterrupted_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("sensors.csv");
    run(&["gen", "sensors", "--events", "3000000", "--out", &path_str(&input)]);
    let job = ["run", "sensors", "--input", &path_str(&input), "--workers", "2", "--window-ms", "1000"];
    let reference = reference_output(dir.path(), &job);

    let out = dir.path().join("out.csv");
    let ck = dir.path().join("checkpoints");
    let mut args = owned(&job);
    args.extend(owned(&[
        "--output",
        &path_str(&out),
        "--checkpoint-dir",
        &path_str(&ck),
        "--checkpoint-interval-ms",
        "20",
        "--resume",
    ]));
    let mut rng = Rng(0x5EED_0003);
    for _ in 0..4 {
        run_and_kill(&args, Duration::from_millis(rng.next(300, 1200)));
    }
    let last = run(&args);
    let text = stdout(&last);
    assert!(
        text.contains("restored checkpoint") || text.contains("nothing to resume"),
        "the last run neither restored a checkpoint nor found the job finished:\n{text}"
    );
    assert_eq!(rows(&out), rows(&reference));
}
