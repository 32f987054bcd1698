//! The on-disk snapshot format, version 1, against checked-in fixtures.
//!
//! `tests/fixtures/snapshot/` holds checkpoints written by the version-1 writer: a valid root
//! (epoch 1, and epoch 2 which reuses a chunk of epoch 1) and damaged copies. Every later build
//! must keep reading the valid one and rejecting the damaged ones the same way. The fixtures are
//! regenerated only on purpose, with
//! `cargo test -p rill --test snapshot_format -- --ignored regenerate_fixtures`.
//!
//! Header bytes and checksums are checked with a bitwise CRC32C written here from the definition,
//! independent of the engine's table-driven one; the manifest is checked as plain JSON.

use std::path::{Path, PathBuf};

use rill::Epoch;
use rill::snapshot::{
    Backend, CheckpointStatus, Chunk, ChunkBuf, ChunkName, Manifest, Snapshot, SnapshotWriter, WriterOptions, list,
};
use rill::state::KeyGroup;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshot")
}

/// CRC32C, one bit at a time, from the definition (reflected polynomial 0x82F63B78).
fn crc32c_reference(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// The payload of fixture chunk `(operator, state, key group)` written in `epoch`.
fn fixture_payload(operator: &str, state: &str, key_group: u32, epoch: u64, len: usize) -> Vec<u8> {
    format!("{operator}|{state}|{key_group}|epoch{epoch}|").bytes().cycle().take(len).collect()
}

/// The chunks of the fixture checkpoints: (operator, state, key group, payload length).
const EPOCH1: [(&str, &str, u32, usize); 3] =
    [("window", "sums", 0, 100), ("window", "sums", 5, 5000), ("dedup", "seen", 7, 0)];
const EPOCH2: [(&str, &str, u32, usize); 2] = [("window", "sums", 0, 123), ("dedup", "seen", 7, 10)];

fn dir(root: &Path, epoch: u64) -> PathBuf {
    root.join(rill::snapshot::checkpoint_dir_name(Epoch(epoch)))
}

#[test]
fn valid_fixture_reads_back() {
    let root = fixtures().join("valid");
    let snapshot = Snapshot::open(&root).expect("valid fixture opens");
    assert_eq!(snapshot.epoch(), Epoch(2));
    let m = snapshot.manifest();
    assert_eq!(m.format_version, 1);
    assert_eq!(m.max_parallelism, 128);
    assert_eq!(m.source_positions["bids"], vec![200, 201]);
    // Epoch 2: its own two chunks, then epoch 1's key group 5 chunk, reused.
    let names: Vec<_> = snapshot.chunks().iter().map(|c| (c.operator.as_str(), c.key_group.0, c.epoch.0)).collect();
    assert_eq!(names, vec![("window", 0, 2), ("dedup", 7, 2), ("window", 5, 1)]);
    for chunk in snapshot.chunks() {
        let len = chunk.length as usize;
        let expected = fixture_payload(&chunk.operator, &chunk.state, chunk.key_group.0, chunk.epoch.0, len);
        assert_eq!(snapshot.read_chunk(chunk).expect("valid chunk"), expected);
    }
    assert!(snapshot.chunks()[2].file.starts_with("chk-00000000000000000001/"));
    let recovered = Snapshot::open_newest_valid(&root).expect("recovery");
    assert_eq!((recovered.snapshot.epoch(), recovered.skipped.len()), (Epoch(2), 0));
    let epoch1 = Snapshot::open_epoch(&root, Epoch(1)).expect("epoch 1");
    epoch1.verify().expect("epoch 1 verifies");
    assert_eq!(epoch1.chunks().len(), 3);
}

#[test]
fn version_1_chunk_header_bytes() {
    let bytes = std::fs::read(dir(&fixtures().join("valid"), 1).join("data.chunks")).expect("data file");
    assert_eq!(bytes.len() % 4096, 0);
    let mut offset = 0usize;
    for (operator, state, key_group, len) in EPOCH1 {
        let h = &bytes[offset..offset + 64];
        let le16 = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        let le32 = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().expect("4 bytes"));
        let le64 = |i: usize| u64::from_le_bytes(h[i..i + 8].try_into().expect("8 bytes"));
        assert_eq!(&h[0..8], b"RILLCHNK");
        assert_eq!((le16(8), le16(10), le16(12), le16(14)), (1, 0, 1, 0), "version, flags, checksum kind, reserved");
        assert_eq!(le64(16), len as u64);
        let payload = &bytes[offset + 64..offset + 64 + len];
        assert_eq!(payload, fixture_payload(operator, state, key_group, 1, len).as_slice());
        assert_eq!(le32(24), crc32c_reference(payload));
        assert_eq!((le32(28), le64(32)), (key_group, 1));
        assert!(h[40..60].iter().all(|&b| b == 0));
        assert_eq!(le32(60), crc32c_reference(&h[..60]));
        let end = offset + 64 + len;
        let padded = end.div_ceil(4096) * 4096;
        assert!(bytes[end..padded].iter().all(|&b| b == 0), "zero padding");
        offset = padded;
    }
    assert_eq!(offset, bytes.len());
}

#[test]
fn version_1_manifest_fields() {
    let text = std::fs::read_to_string(dir(&fixtures().join("valid"), 2).join("MANIFEST")).expect("manifest");
    let (body, trailer) = text.split_at(text.len() - 18);
    assert_eq!(trailer, format!("# crc32c {:08x}\n", crc32c_reference(body.as_bytes())));
    let json: serde_json::Value = serde_json::from_str(body).expect("manifest body is JSON");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["epoch"], 2);
    assert_eq!(json["max_parallelism"], 128);
    assert_eq!(json["source_positions"]["bids"], serde_json::json!([200, 201]));
    let chunk = &json["chunks"][2];
    for field in ["file", "offset", "length", "checksum", "operator", "state", "key_group", "epoch"] {
        assert!(!chunk[field].is_null(), "chunk field {field}");
    }
    assert_eq!(chunk["file"], "chk-00000000000000000001/data.chunks");
    assert_eq!(
        (chunk["offset"].as_u64(), chunk["length"].as_u64(), chunk["epoch"].as_u64()),
        (Some(4096), Some(5000), Some(1))
    );
    for field in ["backend", "chunks_written", "bytes_written", "write_micros", "sync_micros", "chunks_referenced"] {
        assert!(!json["stats"][field].is_null(), "stats field {field}");
    }
}

#[test]
fn corrupt_payload_fixture() {
    let root = fixtures().join("corrupt_payload");
    // The manifest is intact, so the checkpoint lists as complete; reading finds the damage.
    let snapshot = Snapshot::open(&root).expect("manifest verifies");
    let chunk = &snapshot.chunks()[1];
    match snapshot.read_chunk(chunk) {
        Err(rill::Error::CorruptSnapshot { path, offset, reason }) => {
            assert_eq!(path, dir(&root, 2).join("data.chunks"));
            assert_eq!(offset, chunk.offset);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    let recovered = Snapshot::open_newest_valid(&root).expect("falls back");
    assert_eq!(recovered.snapshot.epoch(), Epoch(1));
    assert!(recovered.skipped[0].reason.contains("data.chunks") && recovered.skipped[0].reason.contains("4096"));
}

#[test]
fn truncated_fixture() {
    let root = fixtures().join("truncated");
    let infos = list(&root).expect("list");
    assert_eq!(infos[0].status, CheckpointStatus::Complete);
    assert!(
        matches!(&infos[1].status, CheckpointStatus::Corrupt(r) if r.contains("truncated")),
        "{:?}",
        infos[1].status
    );
    assert!(matches!(Snapshot::open(&root), Err(rill::Error::NoSnapshot { .. })));
    assert_eq!(Snapshot::open_newest_valid(&root).expect("falls back").snapshot.epoch(), Epoch(1));
    assert!(matches!(Snapshot::open_epoch(&root, Epoch(2)), Err(rill::Error::CorruptSnapshot { .. })));
}

#[test]
fn no_manifest_fixture() {
    let root = fixtures().join("no_manifest");
    let statuses: Vec<_> = list(&root).expect("list").into_iter().map(|i| i.status).collect();
    assert_eq!(statuses, vec![CheckpointStatus::Complete, CheckpointStatus::Incomplete]);
    assert_eq!(Snapshot::open(&root).expect("ignores incomplete").epoch(), Epoch(1));
}

#[test]
fn bad_manifest_fixture() {
    let root = fixtures().join("bad_manifest");
    let infos = list(&root).expect("list");
    assert!(
        matches!(&infos[1].status, CheckpointStatus::Corrupt(r) if r.contains("MANIFEST") && r.contains("checksum"))
    );
    assert!(matches!(Snapshot::open(&root), Err(rill::Error::NoSnapshot { .. })));
    assert_eq!(Snapshot::open_newest_valid(&root).expect("falls back").snapshot.epoch(), Epoch(1));
}

#[test]
fn future_version_fixture() {
    let root = fixtures().join("future_version");
    let infos = list(&root).expect("list");
    assert!(
        matches!(&infos[1].status, CheckpointStatus::NewerVersion(r) if r.contains("version 2")),
        "{:?}",
        infos[1].status
    );
    assert!(matches!(
        Snapshot::open_epoch(&root, Epoch(2)),
        Err(rill::Error::SnapshotVersion { found: 2, supported: 1, .. })
    ));
    assert_eq!(Snapshot::open_newest_valid(&root).expect("falls back").snapshot.epoch(), Epoch(1));
}

/// Writes the fixtures. Run on purpose only (see the module docs); the output is checked in.
#[test]
#[ignore = "regenerates checked-in fixtures"]
fn regenerate_fixtures() {
    let out = fixtures();
    let _ = std::fs::remove_dir_all(&out);
    let valid = out.join("valid");
    {
        let options = WriterOptions { backend: Backend::Plain, max_parallelism: 128, ..WriterOptions::default() };
        let writer = SnapshotWriter::new(&valid, options).expect("writer");
        let submit = |epoch: u64, chunks: &[(&str, &str, u32, usize)]| {
            for &(operator, state, kg, len) in chunks {
                let data = ChunkBuf::from_payload(&fixture_payload(operator, state, kg, epoch, len));
                let name = ChunkName::new(operator, state, KeyGroup(kg));
                writer.submit(Chunk { epoch: Epoch(epoch), name, data }).expect("running");
            }
        };
        submit(1, &EPOCH1);
        writer.set_source_positions(Epoch(1), "bids", vec![100, 101]).expect("running");
        let first = writer.finish(Epoch(1)).expect("epoch 1");
        submit(2, &EPOCH2);
        writer.reference(Epoch(2), first.manifest.chunks[1].clone()).expect("running");
        writer.set_source_positions(Epoch(2), "bids", vec![200, 201]).expect("running");
        writer.finish(Epoch(2)).expect("epoch 2");
    }
    let copy = |name: &str| {
        let target = out.join(name);
        for epoch in [1, 2] {
            std::fs::create_dir_all(dir(&target, epoch)).expect("mkdir");
            for file in ["data.chunks", "MANIFEST"] {
                std::fs::copy(dir(&valid, epoch).join(file), dir(&target, epoch).join(file)).expect("copy");
            }
        }
        target
    };
    let data2 = |root: &Path| dir(root, 2).join("data.chunks");
    let corrupt = copy("corrupt_payload");
    let mut bytes = std::fs::read(data2(&corrupt)).expect("read");
    bytes[4096 + 64 + 3] ^= 0x20; // a payload byte of the second chunk (offset 4096)
    std::fs::write(data2(&corrupt), bytes).expect("write");

    let truncated = copy("truncated");
    let len = std::fs::metadata(data2(&truncated)).expect("stat").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(data2(&truncated))
        .expect("open")
        .set_len(len - 4096 + 30)
        .expect("truncate");

    let incomplete = copy("no_manifest");
    std::fs::remove_file(dir(&incomplete, 2).join("MANIFEST")).expect("remove");

    let bad = copy("bad_manifest");
    let manifest = dir(&bad, 2).join("MANIFEST");
    let mut text = std::fs::read(&manifest).expect("read");
    let at = text.windows(6).position(|w| w == b"\"bids\"").expect("bids");
    text[at + 2] = b'x'; // "bxds": valid JSON, wrong checksum
    std::fs::write(&manifest, text).expect("write");

    let future = copy("future_version");
    let manifest = dir(&future, 2).join("MANIFEST");
    let mut m = Manifest::read(&manifest).expect("valid");
    m.format_version = 2;
    std::fs::write(&manifest, m.encode()).expect("write");
}
