//! Exactly-once file output: rows are staged per epoch and published when the epoch's
//! checkpoint completes.
//!
//! Beside the output file `OUT` live a staging directory `OUT.rill-staging/` (one file per
//! epoch and worker, `e<epoch:020>-w<worker:04>.csv`) and a commit log `OUT.rill-commit`.
//! Invariants:
//!
//! * `OUT` holds exactly the header plus the rows of every published epoch, in epoch order
//!   (workers in index order within an epoch), followed possibly by a torn append;
//! * the commit log lists `(epoch, length of OUT after publishing it)`, newest last, written by
//!   `rename` after `OUT` was fsynced; a staged file is deleted only after the log covers it;
//! * a sink's staged file of epoch `e` is fsynced before the sink acknowledges `e`, so when
//!   checkpoint `e` is complete its rows are durable somewhere: staged, or published.
//!
//! Recovery to checkpoint `C` ([`EpochOutput::open`]): truncate `OUT` to the length the log
//! records for the newest epoch `<= C` (dropping torn appends and anything published after
//! `C`), publish staged epochs up to `C`, delete staged epochs after `C`. The file then holds
//! exactly the output up to the cut, and the resumed job appends the rest.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::coordinator::CommitHook;
use super::manifest::fsync_dir;
use crate::time::Epoch;
use crate::{Error, Result};

/// Entries kept in the commit log.
const LOG_ENTRIES: usize = 256;

/// One exactly-once output file; shared by the sinks of every worker writing it.
#[derive(Debug)]
pub struct EpochOutput {
    target: PathBuf,
    staging: PathBuf,
    log_path: PathBuf,
    state: Mutex<OutputState>,
}

#[derive(Debug)]
struct OutputState {
    /// `(epoch, length)`; `None` = before any epoch (the header alone).
    log: Vec<(Option<u64>, u64)>,
    published: Option<u64>,
}

fn sibling(target: &Path, suffix: &str) -> PathBuf {
    let mut name = target.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    target.with_file_name(name)
}

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let context = format!("{what} {}", path.display());
    move |e| Error::io(context, e)
}

/// A staged file name's epoch and worker.
fn parse_staged(name: &str) -> Option<(u64, u32)> {
    let rest = name.strip_prefix('e')?.strip_suffix(".csv")?;
    let (e, w) = rest.split_once("-w")?;
    Some((e.parse().ok()?, w.parse().ok()?))
}

impl EpochOutput {
    /// Opens `target` for a job that restored checkpoint `restored` (`None`: a fresh start,
    /// which recreates the file with `header`).
    pub fn open(target: &Path, header: &str, restored: Option<Epoch>) -> Result<EpochOutput> {
        let staging = sibling(target, ".rill-staging");
        let log_path = sibling(target, ".rill-commit");
        std::fs::create_dir_all(&staging).map_err(io("creating", &staging))?;
        let out = EpochOutput {
            target: target.to_owned(),
            staging,
            log_path,
            state: Mutex::new(OutputState { log: Vec::new(), published: None }),
        };
        let existing = match std::fs::read_to_string(&out.log_path) {
            Ok(text) => Some(parse_log(&text, &out.log_path)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("reading", &out.log_path)(e)),
        };
        let mut st = out.state.lock().expect("output lock");
        match (restored, existing) {
            (Some(c), Some(log)) => {
                // Back to the cut: the newest publication at or before it.
                let Some(&(epoch, len)) = log.iter().rev().find(|(e, _)| e.is_none_or(|e| e <= c.0)) else {
                    return Err(Error::Config(format!(
                        "{} records no publication at or before checkpoint {}: it belongs to another run",
                        out.log_path.display(),
                        c.0
                    )));
                };
                let file = OpenOptions::new().write(true).open(target).map_err(io("opening", target))?;
                let actual = file.metadata().map_err(io("reading", target))?.len();
                if actual < len {
                    return Err(Error::Config(format!(
                        "{} is {actual} bytes but {len} were published: it was changed outside Rill",
                        target.display()
                    )));
                }
                file.set_len(len).map_err(io("truncating", target))?;
                file.sync_all().map_err(io("fsyncing", target))?;
                st.log = log.into_iter().filter(|(e, _)| e.is_none_or(|e| e <= c.0)).collect();
                st.published = epoch;
                drop(st);
                out.publish_through(c)?;
                out.delete_staged(|e| e > c.0)?;
            }
            (restored, _) => {
                // A fresh file: a fresh start, or a restored job writing to a new path.
                out.delete_staged(|_| true)?;
                let mut file = File::create(target).map_err(io("creating", target))?;
                file.write_all(format!("{header}\n").as_bytes()).map_err(io("writing", target))?;
                file.sync_all().map_err(io("fsyncing", target))?;
                let len = header.len() as u64 + 1;
                st.log = vec![(restored.map(|e| e.0), len)];
                st.published = restored.map(|e| e.0);
                write_log(&out.log_path, &st.log)?;
                drop(st);
            }
        }
        if let Some(dir) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            fsync_dir(dir)?;
        }
        Ok(out)
    }

    /// The staged file of `epoch` written by `worker`.
    pub fn staged_path(&self, epoch: Epoch, worker: usize) -> PathBuf {
        self.staging.join(format!("e{:020}-w{worker:04}.csv", epoch.0))
    }

    /// Opens (creating or appending) the staged file of `epoch` for `worker`.
    pub fn stage(&self, epoch: Epoch, worker: usize) -> Result<File> {
        let path = self.staged_path(epoch, worker);
        OpenOptions::new().create(true).append(true).open(&path).map_err(io("opening", &path))
    }

    fn staged(&self) -> Result<Vec<(u64, u32, PathBuf)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.staging).map_err(io("listing", &self.staging))? {
            let entry = entry.map_err(io("listing", &self.staging))?;
            if let Some((e, w)) = entry.file_name().to_str().and_then(parse_staged) {
                out.push((e, w, entry.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    fn delete_staged(&self, which: impl Fn(u64) -> bool) -> Result<()> {
        for (e, _, path) in self.staged()? {
            if which(e) {
                std::fs::remove_file(&path).map_err(io("deleting", &path))?;
            }
        }
        Ok(())
    }

    /// Appends every staged epoch `<= c` not yet published, logs it, deletes the staged files.
    fn publish_through(&self, c: Epoch) -> Result<()> {
        let mut st = self.state.lock().expect("output lock");
        let from = st.published;
        let todo: Vec<_> =
            self.staged()?.into_iter().filter(|(e, _, _)| *e <= c.0 && from.is_none_or(|p| *e > p)).collect();
        let mut file = OpenOptions::new().append(true).open(&self.target).map_err(io("opening", &self.target))?;
        let mut len = file.metadata().map_err(io("reading", &self.target))?.len();
        // The length after each epoch, so that recovery can cut between any two of them (a
        // damaged newest checkpoint makes recovery fall back past epochs published together).
        let mut ends: Vec<(Option<u64>, u64)> = Vec::new();
        for (e, _, path) in &todo {
            let mut staged = File::open(path).map_err(io("opening", path))?;
            len += std::io::copy(&mut staged, &mut file).map_err(io("publishing", path))?;
            match ends.last_mut() {
                Some(last) if last.0 == Some(*e) => last.1 = len,
                _ => ends.push((Some(*e), len)),
            }
        }
        file.sync_all().map_err(io("fsyncing", &self.target))?;
        if ends.last().is_none_or(|l| l.0 != Some(c.0)) {
            ends.push((Some(c.0), len));
        }
        st.log.extend(ends);
        if st.log.len() > LOG_ENTRIES {
            let cut = st.log.len() - LOG_ENTRIES;
            st.log.drain(..cut);
        }
        write_log(&self.log_path, &st.log)?;
        st.published = Some(c.0);
        drop(st);
        self.delete_staged(|e| e <= c.0)
    }
}

impl CommitHook for EpochOutput {
    fn commit(&self, epoch: Epoch) -> Result<()> {
        self.publish_through(epoch)
    }

    fn discard_unpublished(&self) {
        let published = self.state.lock().expect("output lock").published;
        if let Err(e) = self.delete_staged(|e| published.is_none_or(|p| e > p)) {
            tracing::warn!(error = %e, "could not delete unpublished staged output");
        }
        let _ = std::fs::remove_dir(&self.staging);
    }
}

fn parse_log(text: &str, path: &Path) -> Result<Vec<(Option<u64>, u64)>> {
    let mut log = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = || Error::Config(format!("{}: line {}: malformed commit log entry `{line}`", path.display(), i + 1));
        let (e, len) = line.split_once(' ').ok_or_else(bad)?;
        let e = if e == "-" { None } else { Some(e.parse().map_err(|_| bad())?) };
        log.push((e, len.parse().map_err(|_| bad())?));
    }
    Ok(log)
}

fn write_log(path: &Path, log: &[(Option<u64>, u64)]) -> Result<()> {
    let mut text = String::new();
    for (e, len) in log {
        match e {
            Some(e) => text.push_str(&format!("{e} {len}\n")),
            None => text.push_str(&format!("- {len}\n")),
        }
    }
    let tmp = sibling(path, ".tmp");
    let mut f = File::create(&tmp).map_err(io("creating", &tmp))?;
    f.write_all(text.as_bytes()).map_err(io("writing", &tmp))?;
    f.sync_all().map_err(io("fsyncing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("renaming", &tmp))?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).expect("read")
    }

    fn put(out: &EpochOutput, epoch: u64, worker: usize, rows: &[u8]) {
        out.stage(Epoch(epoch), worker).expect("stage").write_all(rows).expect("write staged rows");
    }

    #[test]
    fn publishes_in_epoch_order_and_recovers_to_a_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.csv");
        let out = EpochOutput::open(&target, "a,b", None).expect("open");
        put(&out, 0, 1, b"0,1\n");
        put(&out, 0, 0, b"0,0\n");
        put(&out, 1, 0, b"1,0\n");
        out.commit(Epoch(0)).expect("commit");
        assert_eq!(read(&target), "a,b\n0,0\n0,1\n");
        put(&out, 2, 0, b"2,0\n");
        out.commit(Epoch(2)).expect("commit");
        assert_eq!(read(&target), "a,b\n0,0\n0,1\n1,0\n2,0\n");
        // A torn append after the last publication, and staged rows of a later epoch.
        std::fs::OpenOptions::new().append(true).open(&target).and_then(|mut f| f.write_all(b"3,")).expect("tear");
        put(&out, 3, 0, b"3,0\n");
        drop(out);
        // Recover to checkpoint 1: epoch 2 was published after the cut and must go.
        let out = EpochOutput::open(&target, "a,b", Some(Epoch(1))).expect("reopen");
        assert_eq!(read(&target), "a,b\n0,0\n0,1\n1,0\n");
        assert!(out.staged().expect("list").is_empty());
    }

    #[test]
    fn checkpoint_complete_but_unpublished_is_published_on_recovery() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.csv");
        let out = EpochOutput::open(&target, "h", None).expect("open");
        put(&out, 4, 0, b"x\n");
        drop(out); // crashed after checkpoint 4 completed, before publishing
        let _out = EpochOutput::open(&target, "h", Some(Epoch(4))).expect("reopen");
        assert_eq!(read(&target), "h\nx\n");
    }

    #[test]
    fn a_shortened_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("out.csv");
        let out = EpochOutput::open(&target, "h", None).expect("open");
        put(&out, 0, 0, b"row\n");
        out.commit(Epoch(0)).expect("commit");
        std::fs::write(&target, "h\n").expect("shorten");
        let err = EpochOutput::open(&target, "h", Some(Epoch(0))).expect_err("must refuse");
        assert!(err.to_string().contains("changed outside Rill"), "{err}");
    }
}
