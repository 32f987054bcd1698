//! The snapshot writer end to end: round trips through both backends, many chunks in flight from
//! several threads, crash simulation, corruption and truncation, fallback on recovery, and
//! retention on disk. Payloads are seeded pseudo-random bytes compared byte for byte.

use std::path::Path;

use proptest::prelude::*;
use rill::Epoch;
use rill::snapshot::{
    Backend, BackendKind, CheckpointStatus, Chunk, ChunkBuf, ChunkName, Snapshot, SnapshotWriter, WriterOptions,
    align_up, apply_retention, list, plan_retention,
};
use rill::state::KeyGroup;

/// Deterministic bytes (splitmix64 of `seed` and the position).
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ len as u64;
    (0..len)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

fn name(i: usize) -> ChunkName {
    ChunkName::new(format!("op{}", i % 3), format!("state{}", i % 2), KeyGroup(i as u32 % 128))
}

fn options(backend: Backend) -> WriterOptions {
    WriterOptions { backend, queue_depth: 4, buffer_size: 64 * 1024, ..WriterOptions::default() }
}

/// A writer with io_uring, or `None` (after saying so) where the machine cannot set it up,
/// unless `RILL_REQUIRE_IO_URING=1`.
fn uring_writer(root: &Path) -> Option<SnapshotWriter> {
    match SnapshotWriter::new(root, options(Backend::IoUring)) {
        Ok(writer) => Some(writer),
        Err(e) if std::env::var("RILL_REQUIRE_IO_URING").as_deref() == Ok("1") => {
            panic!("io_uring required (RILL_REQUIRE_IO_URING=1) but unavailable: {e}")
        }
        Err(e) => {
            eprintln!("io_uring unavailable on this machine, io_uring test NOT run: {e}");
            None
        }
    }
}

/// Writes `sizes.len()` chunks for `epoch`, finishes, and checks everything read back.
fn round_trip(writer: &SnapshotWriter, root: &Path, epoch: Epoch, sizes: &[usize]) {
    for (i, &len) in sizes.iter().enumerate() {
        let chunk = Chunk { epoch, name: name(i), data: ChunkBuf::from_payload(&payload(i as u64 + epoch.0, len)) };
        writer.submit(chunk).expect("writer running");
    }
    writer.set_source_positions(epoch, "bids", vec![epoch.0 * 10, 7]).expect("writer running");
    let report = writer.finish(epoch).expect("checkpoint written");
    let expected_bytes: u64 = sizes.iter().map(|&len| align_up(64 + len as u64)).sum();
    assert_eq!(report.bytes_written, expected_bytes);
    assert_eq!(report.backend, writer.backend());
    assert_eq!(report.manifest.stats.backend, writer.backend().to_string());
    let data_file = root.join(rill::snapshot::checkpoint_dir_name(epoch)).join("data.chunks");
    assert_eq!(std::fs::metadata(&data_file).expect("data file").len(), expected_bytes);

    let snapshot = Snapshot::open_epoch(root, epoch).expect("complete checkpoint");
    assert_eq!(snapshot.chunks().len(), sizes.len());
    assert_eq!(snapshot.manifest().source_positions["bids"], vec![epoch.0 * 10, 7]);
    for (i, (chunk, &len)) in snapshot.chunks().iter().zip(sizes).enumerate() {
        assert_eq!(chunk.name(), name(i));
        assert_eq!(chunk.epoch, epoch);
        assert_eq!(chunk.offset % 4096, 0);
        assert_eq!(snapshot.read_chunk(chunk).expect("valid chunk"), payload(i as u64 + epoch.0, len), "chunk {i}");
    }
}

const SIZES: [usize; 9] = [0, 1, 4032, 4033, 4096, 65_536 - 64, 65_536, 200_000, 1 << 20];

#[test]
fn round_trip_plain() {
    let root = tempfile::tempdir().expect("tempdir");
    let writer = SnapshotWriter::new(root.path(), options(Backend::Plain)).expect("plain writer");
    assert_eq!(writer.backend(), BackendKind::Plain);
    round_trip(&writer, root.path(), Epoch(1), &SIZES);
    round_trip(&writer, root.path(), Epoch(2), &SIZES[..3]);
    assert_eq!(Snapshot::open(root.path()).expect("newest").epoch(), Epoch(2));
}

#[test]
fn round_trip_io_uring() {
    let root = tempfile::tempdir().expect("tempdir");
    let Some(writer) = uring_writer(root.path()) else { return };
    assert_eq!(writer.backend(), BackendKind::IoUring);
    round_trip(&writer, root.path(), Epoch(1), &SIZES);
    round_trip(&writer, root.path(), Epoch(2), &SIZES[..3]);
    let report = writer.finish(Epoch(3)).expect("empty checkpoint");
    eprintln!("io_uring: registered buffers {}, O_DIRECT {}", report.registered_buffers, report.direct_io);
    assert!(report.manifest.chunks.is_empty());
    assert_eq!(Snapshot::open(root.path()).expect("newest").epoch(), Epoch(3));
}

#[test]
fn many_chunks_in_flight_from_several_threads() {
    for backend in [Backend::Auto, Backend::Plain] {
        let root = tempfile::tempdir().expect("tempdir");
        let writer = SnapshotWriter::new(root.path(), options(backend)).expect("writer");
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let handle = writer.handle();
                s.spawn(move || {
                    for i in 0..100u64 {
                        let seed = t * 1000 + i;
                        let data = ChunkBuf::from_payload(&payload(seed, (seed as usize * 7919) % 20_000));
                        let name = ChunkName::new(format!("t{t}"), format!("{i}"), KeyGroup(seed as u32));
                        handle.submit(Chunk { epoch: Epoch(5), name, data }).expect("writer running");
                    }
                });
            }
        });
        let report = writer.finish(Epoch(5)).expect("checkpoint");
        assert_eq!(report.manifest.chunks.len(), 400);
        let snapshot = Snapshot::open(root.path()).expect("complete");
        for chunk in snapshot.chunks() {
            let seed = u64::from(chunk.key_group.0);
            assert_eq!(chunk.operator, format!("t{}", seed / 1000));
            let expected = payload(seed, (seed as usize * 7919) % 20_000);
            assert_eq!(snapshot.read_chunk(chunk).expect("valid"), expected);
        }
    }
}

#[test]
fn crash_before_manifest_leaves_checkpoint_incomplete() {
    let root = tempfile::tempdir().expect("tempdir");
    {
        let writer = SnapshotWriter::new(root.path(), options(Backend::Auto)).expect("writer");
        round_trip(&writer, root.path(), Epoch(1), &[10, 20]);
        for i in 0..5 {
            let data = ChunkBuf::from_payload(&payload(i, 5000));
            writer.submit(Chunk { epoch: Epoch(2), name: name(i as usize), data }).expect("running");
        }
        // Dropped without finish: the chunks reach the disk, the manifest never does.
    }
    let infos = list(root.path()).expect("list");
    let statuses: Vec<_> = infos.iter().map(|i| (i.epoch, i.status.clone())).collect();
    assert_eq!(statuses, vec![(Epoch(1), CheckpointStatus::Complete), (Epoch(2), CheckpointStatus::Incomplete)]);
    assert!(infos[1].files.iter().any(|f| f.ends_with("data.chunks")));
    assert_eq!(Snapshot::open(root.path()).expect("newest complete").epoch(), Epoch(1));
    let recovered = Snapshot::open_newest_valid(root.path()).expect("recovery");
    assert_eq!(recovered.snapshot.epoch(), Epoch(1));
    assert_eq!(recovered.skipped.len(), 1);
    assert_eq!(recovered.skipped[0].epoch, Epoch(2));
    assert!(recovered.skipped[0].reason.contains("MANIFEST"), "{}", recovered.skipped[0].reason);
}

/// Two complete checkpoints, epochs 1 and 2.
fn two_checkpoints(root: &Path) {
    let writer = SnapshotWriter::new(root, options(Backend::Auto)).expect("writer");
    round_trip(&writer, root, Epoch(1), &[100, 9000, 30]);
    round_trip(&writer, root, Epoch(2), &[100, 9000, 30]);
}

#[test]
fn corrupt_byte_is_reported_with_file_and_offset_and_recovery_falls_back() {
    let root = tempfile::tempdir().expect("tempdir");
    two_checkpoints(root.path());
    let snapshot = Snapshot::open(root.path()).expect("newest");
    let victim = snapshot.chunks()[1].clone();
    let path = root.path().join(&victim.file);
    let mut bytes = std::fs::read(&path).expect("data file");
    bytes[(victim.offset + 64 + 4321) as usize] ^= 0x01;
    std::fs::write(&path, &bytes).expect("rewrite");

    match snapshot.read_chunk(&victim) {
        Err(rill::Error::CorruptSnapshot { path: p, offset, reason }) => {
            assert_eq!(p, path);
            assert_eq!(offset, victim.offset);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    assert_eq!(snapshot.read_chunk(&snapshot.chunks()[0]).expect("undamaged chunk"), payload(2, 100));
    let recovered = Snapshot::open_newest_valid(root.path()).expect("fallback");
    assert_eq!(recovered.snapshot.epoch(), Epoch(1));
    assert_eq!(recovered.skipped.len(), 1);
    assert!(recovered.skipped[0].reason.contains("data.chunks"), "{}", recovered.skipped[0].reason);
}

#[test]
fn truncated_data_file_is_an_error() {
    let root = tempfile::tempdir().expect("tempdir");
    two_checkpoints(root.path());
    let snapshot = Snapshot::open(root.path()).expect("newest");
    let last = snapshot.chunks().last().expect("chunks").clone();
    let path = root.path().join(&last.file);
    let file = std::fs::OpenOptions::new().write(true).open(&path).expect("open");
    file.set_len(last.offset + 40).expect("truncate");
    drop(file);

    match snapshot.read_chunk(&last) {
        Err(rill::Error::CorruptSnapshot { path: p, offset, reason }) => {
            assert_eq!((p, offset), (path.clone(), last.offset));
            assert!(reason.contains("truncated"), "{reason}");
        }
        other => panic!("expected a truncation error, got {other:?}"),
    }
    let mut absurd = snapshot.chunks()[0].clone();
    absurd.length = u64::MAX;
    assert!(matches!(snapshot.read_chunk(&absurd), Err(rill::Error::CorruptSnapshot { .. })));
    let infos = list(root.path()).expect("list");
    assert!(
        matches!(&infos[1].status, CheckpointStatus::Corrupt(r) if r.contains("truncated")),
        "{:?}",
        infos[1].status
    );
    assert!(matches!(Snapshot::open(root.path()), Err(rill::Error::NoSnapshot { .. })));
    assert_eq!(Snapshot::open_newest_valid(root.path()).expect("fallback").snapshot.epoch(), Epoch(1));
}

#[test]
fn damaged_manifest_falls_back_and_nothing_usable_is_an_error() {
    let root = tempfile::tempdir().expect("tempdir");
    two_checkpoints(root.path());
    let manifest = root.path().join(rill::snapshot::checkpoint_dir_name(Epoch(2))).join("MANIFEST");
    let bytes = std::fs::read(&manifest).expect("manifest");
    std::fs::write(&manifest, &bytes[..bytes.len() / 2]).expect("truncate manifest");
    assert_eq!(Snapshot::open_newest_valid(root.path()).expect("fallback").snapshot.epoch(), Epoch(1));

    let manifest1 = root.path().join(rill::snapshot::checkpoint_dir_name(Epoch(1))).join("MANIFEST");
    std::fs::remove_file(manifest1).expect("remove");
    match Snapshot::open_newest_valid(root.path()) {
        Err(rill::Error::NoSnapshot { reason, .. }) => {
            assert!(reason.contains("epoch 2") && reason.contains("epoch 1"), "{reason}")
        }
        other => panic!("expected NoSnapshot, got {other:?}"),
    }
    let empty = tempfile::tempdir().expect("tempdir");
    assert!(matches!(Snapshot::open_newest_valid(empty.path()), Err(rill::Error::NoSnapshot { .. })));
}

#[test]
fn a_complete_checkpoint_is_never_rewritten() {
    let root = tempfile::tempdir().expect("tempdir");
    let writer = SnapshotWriter::new(root.path(), options(Backend::Plain)).expect("writer");
    round_trip(&writer, root.path(), Epoch(1), &[10]);
    writer.submit(Chunk { epoch: Epoch(1), name: name(0), data: ChunkBuf::from_payload(b"late") }).expect("running");
    assert!(writer.finish(Epoch(1)).is_err());
    let snapshot = Snapshot::open(root.path()).expect("still complete");
    assert_eq!(snapshot.read_chunk(&snapshot.chunks()[0]).expect("intact"), payload(1, 10));
}

#[test]
fn retention_keeps_files_that_incremental_checkpoints_reference() {
    let root = tempfile::tempdir().expect("tempdir");
    let writer = SnapshotWriter::new(root.path(), options(Backend::Auto)).expect("writer");
    // Epoch 1 writes a base chunk that every later checkpoint reuses.
    round_trip(&writer, root.path(), Epoch(1), &[12_345]);
    let base = Snapshot::open(root.path()).expect("epoch 1").chunks()[0].clone();
    for epoch in 2..=5 {
        let e = Epoch(epoch);
        writer.reference(e, base.clone()).expect("running");
        let data = ChunkBuf::from_payload(&payload(100 + epoch, 777));
        writer.submit(Chunk { epoch: e, name: ChunkName::new("delta", "s", KeyGroup(1)), data }).expect("running");
        let report = writer.finish(e).expect("checkpoint");
        assert_eq!(report.manifest.stats.chunks_referenced, 1);
    }
    let plan = plan_retention(&list(root.path()).expect("list"), 2);
    assert_eq!(plan.keep, vec![Epoch(4), Epoch(5)]);
    apply_retention(root.path(), &plan).expect("apply");

    let dir = |e: u64| root.path().join(rill::snapshot::checkpoint_dir_name(Epoch(e)));
    assert!(dir(1).join("data.chunks").exists(), "referenced base file kept");
    assert!(!dir(1).join("MANIFEST").exists(), "old manifest deleted");
    assert!(!dir(2).exists() && !dir(3).exists());
    for e in [4, 5] {
        let snapshot = Snapshot::open_epoch(root.path(), Epoch(e)).expect("retained");
        snapshot.verify().expect("all chunks readable");
        assert_eq!(snapshot.read_chunk(&snapshot.chunks()[0]).expect("base"), payload(1, 12_345));
        assert_eq!(snapshot.read_chunk(&snapshot.chunks()[1]).expect("delta"), payload(100 + e, 777));
    }
    // Applying the plan again from a fresh listing deletes nothing more that is needed.
    let again = plan_retention(&list(root.path()).expect("list"), 2);
    assert!(again.delete_dirs.is_empty() && again.delete_files.is_empty(), "{again:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_chunk_sizes_round_trip(sizes in proptest::collection::vec(0usize..150_000, 1..12), uring in any::<bool>()) {
        let root = tempfile::tempdir().expect("tempdir");
        let backend = if uring { Backend::Auto } else { Backend::Plain };
        let writer = SnapshotWriter::new(root.path(), options(backend)).expect("writer");
        round_trip(&writer, root.path(), Epoch(3), &sizes);
    }
}
