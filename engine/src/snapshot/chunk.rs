//! Chunks: the unit of snapshot data on disk, and their manifest entries.
//!
//! A chunk is a 64-byte header, the payload, then zeros up to the next 4 KiB boundary; chunks
//! start at 4 KiB-aligned file offsets. The byte layout is documented in the
//! [module docs](super#chunk-header-format-version-1). Invariants:
//!
//! * the header's payload checksum is the CRC32C of exactly `payload length` bytes;
//! * the header checksum covers header bytes `0..60`, so a torn or overwritten header is caught
//!   before its length field is trusted;
//! * what a chunk holds (operator, state, key group) is named by its [`ChunkRef`] in the manifest;
//!   the header repeats the key group and the epoch so that a manifest pointing at the wrong chunk
//!   is caught too.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::buf::{ALIGN, AlignedBuf, align_up};
use super::crc32c::crc32c;
use crate::state::KeyGroup;
use crate::time::Epoch;
use crate::{Error, Result};

/// The first eight bytes of every chunk.
pub const CHUNK_MAGIC: [u8; 8] = *b"RILLCHNK";
/// The chunk format version this build writes and the newest it reads.
pub const CHUNK_FORMAT_VERSION: u16 = 1;
/// Size of the chunk header in bytes.
pub const CHUNK_HEADER_LEN: usize = 64;
/// Checksum algorithm id stored in the header: CRC32C.
const CHECKSUM_CRC32C: u16 = 1;
/// Header bytes covered by the header checksum.
const HEADER_CRC_COVERS: usize = 60;

/// What a chunk holds: one key group of one state of one operator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChunkName {
    /// The operator's name (stable across job versions: state is mapped by it).
    pub operator: String,
    /// The state's name within the operator.
    pub state: String,
    /// The key group whose entries the payload holds.
    pub key_group: KeyGroup,
    /// The chunk's place in its key group's chain: 0 for a complete snapshot of the group, `n`
    /// for the `n`-th delta applied on top of it (see [`ChunkRef::part`]).
    pub part: u32,
}

impl ChunkName {
    /// The name of a complete snapshot of a key group (part 0).
    pub fn new(operator: impl Into<String>, state: impl Into<String>, key_group: KeyGroup) -> ChunkName {
        ChunkName { operator: operator.into(), state: state.into(), key_group, part: 0 }
    }

    /// The same key group's chunk at `part` of its chain.
    pub fn with_part(mut self, part: u32) -> ChunkName {
        self.part = part;
        self
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A manifest entry: where one chunk lives and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChunkRef {
    /// The data file, relative to the snapshot root directory, `/`-separated
    /// (`chk-00000000000000000007/data.chunks`). It may belong to an earlier checkpoint.
    pub file: String,
    /// Byte offset of the chunk header in the file; a multiple of 4096.
    pub offset: u64,
    /// Payload length in bytes (without header and padding).
    pub length: u64,
    /// CRC32C of the payload.
    pub checksum: u32,
    /// The operator whose state this is.
    pub operator: String,
    /// The state's name within the operator.
    pub state: String,
    /// The key group the payload holds.
    pub key_group: KeyGroup,
    /// The epoch of the checkpoint that wrote the chunk (earlier than the manifest's own epoch
    /// for chunks an incremental checkpoint reuses).
    pub epoch: Epoch,
    /// The chunk's place in its key group's chain: part 0 is a complete snapshot of the group,
    /// parts `1..=n` are deltas (changed entries and removed keys) applied in order on top of it.
    /// States whose snapshots are always complete have only part 0. Absent in manifests written
    /// before chains existed, which read as 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub part: u32,
}

impl ChunkRef {
    /// Bytes the chunk occupies on disk: header, payload and padding.
    pub fn disk_len(&self) -> u64 {
        align_up(CHUNK_HEADER_LEN as u64 + self.length)
    }

    /// The chunk's name.
    pub fn name(&self) -> ChunkName {
        ChunkName::new(self.operator.clone(), self.state.clone(), self.key_group).with_part(self.part)
    }
}

/// A chunk being built: an aligned buffer with room for the header, then the payload.
///
/// Serialize state straight into it (it implements [`std::io::Write`]), then hand it to
/// [`SnapshotWriter::submit`](super::SnapshotWriter::submit). The header and checksum are filled
/// on the writer's thread.
#[derive(Clone, Debug)]
pub struct ChunkBuf {
    buf: AlignedBuf,
}

impl Default for ChunkBuf {
    fn default() -> ChunkBuf {
        ChunkBuf::with_capacity(0)
    }
}

impl ChunkBuf {
    /// An empty chunk.
    pub fn new() -> ChunkBuf {
        ChunkBuf::default()
    }

    /// An empty chunk with room for `payload_bytes` without reallocating.
    pub fn with_capacity(payload_bytes: usize) -> ChunkBuf {
        let mut buf = AlignedBuf::with_capacity(CHUNK_HEADER_LEN + payload_bytes);
        buf.extend_from_slice(&[0u8; CHUNK_HEADER_LEN]);
        ChunkBuf { buf }
    }

    /// A chunk holding a copy of `payload`.
    pub fn from_payload(payload: &[u8]) -> ChunkBuf {
        let mut chunk = ChunkBuf::with_capacity(payload.len());
        chunk.extend_from_slice(payload);
        chunk
    }

    /// Appends payload bytes.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The payload written so far.
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_slice()[CHUNK_HEADER_LEN..]
    }

    /// Payload length in bytes.
    pub fn payload_len(&self) -> u64 {
        (self.buf.len() - CHUNK_HEADER_LEN) as u64
    }

    /// Bytes the chunk will occupy on disk.
    pub fn disk_len(&self) -> u64 {
        align_up(self.buf.len() as u64)
    }

    /// Fills in the header; returns the finished on-disk bytes (see [`AlignedBuf::padded`]) and
    /// the payload checksum.
    pub(crate) fn seal(mut self, key_group: KeyGroup, epoch: Epoch) -> (AlignedBuf, u32) {
        let checksum = crc32c(self.payload());
        let header = encode_header(self.payload_len(), checksum, key_group, epoch);
        self.buf.as_mut_slice()[..CHUNK_HEADER_LEN].copy_from_slice(&header);
        debug_assert_eq!(self.buf.padded().len() % ALIGN, 0);
        (self.buf, checksum)
    }
}

impl std::io::Write for ChunkBuf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The decoded fields of a chunk header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Format version of the chunk.
    pub version: u16,
    /// Payload length in bytes.
    pub length: u64,
    /// CRC32C of the payload.
    pub checksum: u32,
    /// Key group the payload holds.
    pub key_group: KeyGroup,
    /// Epoch of the checkpoint that wrote the chunk.
    pub epoch: Epoch,
}

/// The 64 header bytes for a chunk (format version 1).
pub fn encode_header(length: u64, checksum: u32, key_group: KeyGroup, epoch: Epoch) -> [u8; CHUNK_HEADER_LEN] {
    let mut h = [0u8; CHUNK_HEADER_LEN];
    h[0..8].copy_from_slice(&CHUNK_MAGIC);
    h[8..10].copy_from_slice(&CHUNK_FORMAT_VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&0u16.to_le_bytes());
    h[12..14].copy_from_slice(&CHECKSUM_CRC32C.to_le_bytes());
    h[16..24].copy_from_slice(&length.to_le_bytes());
    h[24..28].copy_from_slice(&checksum.to_le_bytes());
    h[28..32].copy_from_slice(&key_group.0.to_le_bytes());
    h[32..40].copy_from_slice(&epoch.0.to_le_bytes());
    let header_crc = crc32c(&h[..HEADER_CRC_COVERS]);
    h[60..64].copy_from_slice(&header_crc.to_le_bytes());
    h
}

/// Decodes and checks a chunk header read from `path` at `offset`.
pub fn decode_header(h: &[u8; CHUNK_HEADER_LEN], path: &Path, offset: u64) -> Result<ChunkHeader> {
    let corrupt = |reason: String| Error::CorruptSnapshot { path: path.to_path_buf(), offset, reason };
    let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let u64_at = |i: usize| u64::from(u32_at(i)) | (u64::from(u32_at(i + 4)) << 32);
    if h[0..8] != CHUNK_MAGIC {
        return Err(corrupt(format!("bad chunk magic {:02x?}", &h[0..8])));
    }
    let version = u16_at(8);
    if version > CHUNK_FORMAT_VERSION {
        return Err(Error::SnapshotVersion {
            path: path.to_path_buf(),
            found: u32::from(version),
            supported: u32::from(CHUNK_FORMAT_VERSION),
        });
    }
    let stored_crc = u32_at(60);
    let actual_crc = crc32c(&h[..HEADER_CRC_COVERS]);
    if stored_crc != actual_crc {
        return Err(corrupt(format!("chunk header checksum {actual_crc:#010x}, header says {stored_crc:#010x}")));
    }
    if version == 0 {
        return Err(corrupt("chunk format version 0".into()));
    }
    let flags = u16_at(10);
    if flags != 0 {
        return Err(corrupt(format!("unknown chunk flags {flags:#06x}")));
    }
    let algorithm = u16_at(12);
    if algorithm != CHECKSUM_CRC32C {
        return Err(corrupt(format!("unknown checksum algorithm {algorithm}")));
    }
    Ok(ChunkHeader {
        version,
        length: u64_at(16),
        checksum: u32_at(24),
        key_group: KeyGroup(u32_at(28)),
        epoch: Epoch(u64_at(32)),
    })
}

/// How a chunk header disagrees with the manifest entry that points at it, if it does.
pub fn header_mismatch(header: &ChunkHeader, chunk: &ChunkRef) -> Option<String> {
    if header.length != chunk.length {
        Some(format!("chunk header says {} payload bytes, manifest says {}", header.length, chunk.length))
    } else if header.checksum != chunk.checksum {
        Some(format!("chunk header checksum {:#010x}, manifest says {:#010x}", header.checksum, chunk.checksum))
    } else if header.key_group != chunk.key_group {
        Some(format!("chunk holds key group {}, manifest says {}", header.key_group.0, chunk.key_group.0))
    } else if header.epoch != chunk.epoch {
        Some(format!("chunk written in epoch {}, manifest says {}", header.epoch.0, chunk.epoch.0))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_checks() {
        let h = encode_header(12345, 0xDEAD_BEEF, KeyGroup(17), Epoch(9));
        let path = Path::new("f");
        let decoded = decode_header(&h, path, 0).expect("valid header");
        assert_eq!(decoded.length, 12345);
        assert_eq!(decoded.checksum, 0xDEAD_BEEF);
        assert_eq!(decoded.key_group, KeyGroup(17));
        assert_eq!(decoded.epoch, Epoch(9));
        // Every single-byte change is caught (magic, version or header checksum).
        for i in 0..CHUNK_HEADER_LEN {
            let mut bad = h;
            bad[i] ^= 0x40;
            assert!(decode_header(&bad, path, 4096).is_err(), "flip at byte {i} accepted");
        }
        let mut newer = h;
        newer[8..10].copy_from_slice(&2u16.to_le_bytes());
        assert!(matches!(decode_header(&newer, path, 0), Err(Error::SnapshotVersion { found: 2, supported: 1, .. })));
    }

    #[test]
    fn sealed_chunk_layout() {
        let chunk = ChunkBuf::from_payload(b"hello");
        assert_eq!(chunk.disk_len(), 4096);
        let (buf, crc) = chunk.seal(KeyGroup(3), Epoch(1));
        assert_eq!(crc, crc32c(b"hello"));
        assert_eq!(&buf.padded()[..8], b"RILLCHNK");
        assert_eq!(&buf.padded()[64..69], b"hello");
        assert_eq!(buf.padded().len(), 4096);
    }
}
