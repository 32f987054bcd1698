//! CRC32C (Castagnoli, the checksum of iSCSI, ext4 and RocksDB), table-driven, slicing by 8.
//!
//! Every chunk payload and every manifest carries a CRC32C. The eight 256-entry tables are built
//! at compile time; [`crc32c`] processes eight bytes per step with eight table lookups. The
//! result matches the standard's check value (`crc32c(b"123456789") == 0xE306_9283`).

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82F6_3B78;

/// `TABLES[k][b]` is the CRC of byte `b` followed by `k` zero bytes.
static TABLES: [[u32; 256]; 8] = build_tables();

const fn build_tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev >> 8) ^ tables[0][(prev & 0xFF) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
}

/// The CRC32C of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c_append(0, data)
}

/// Extends `crc` (the CRC32C of some prefix) with `data`: `crc32c_append(crc32c(a), b)` equals
/// the CRC32C of `a` followed by `b`.
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the CPU has SSE4.2, the only feature `append_sse42` is compiled for.
        return unsafe { append_sse42(crc, data) };
    }
    let mut crc = !crc;
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        let lo = u32::from_le_bytes([block[0], block[1], block[2], block[3]]) ^ crc;
        let hi = u32::from_le_bytes([block[4], block[5], block[6], block[7]]);
        crc = TABLES[7][(lo & 0xFF) as usize]
            ^ TABLES[6][((lo >> 8) & 0xFF) as usize]
            ^ TABLES[5][((lo >> 16) & 0xFF) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][(hi & 0xFF) as usize]
            ^ TABLES[2][((hi >> 8) & 0xFF) as usize]
            ^ TABLES[1][((hi >> 16) & 0xFF) as usize]
            ^ TABLES[0][(hi >> 24) as usize];
    }
    for &byte in blocks.remainder() {
        crc = (crc >> 8) ^ TABLES[0][((crc ^ u32::from(byte)) & 0xFF) as usize];
    }
    !crc
}

/// [`crc32c_append`] with the SSE4.2 `crc32` instruction (the same polynomial), eight bytes per
/// instruction: an order of magnitude faster than the tables.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn append_sse42(crc: u32, data: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u64};
    let mut wide = u64::from(!crc);
    let mut blocks = data.chunks_exact(8);
    for block in &mut blocks {
        wide = _mm_crc32_u64(wide, u64::from_le_bytes(block.try_into().expect("chunks_exact(8) yields 8 bytes")));
    }
    let mut crc = wide as u32;
    for &byte in blocks.remainder() {
        crc = _mm_crc32_u8(crc, byte);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time reference, straight from the definition.
    fn reference(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ POLY } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn standard_check_values() {
        // RFC 3720 (iSCSI) appendix B.4 test vectors and the catalogue check value.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0u8..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
        let descending: Vec<u8> = (0u8..32).rev().collect();
        assert_eq!(crc32c(&descending), 0x113F_DB5C);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn sse42_matches_tables() {
        if !std::arch::is_x86_feature_detected!("sse4.2") {
            return;
        }
        let data: Vec<u8> = (0u32..5000).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
        let tables = |crc: u32, data: &[u8]| {
            let mut crc = !crc;
            for &byte in data {
                crc = (crc >> 8) ^ TABLES[0][((crc ^ u32::from(byte)) & 0xFF) as usize];
            }
            !crc
        };
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 4095, 4096, 5000] {
            for seed in [0, 0xE306_9283, u32::MAX] {
                // SAFETY: SSE4.2 was detected above.
                let fast = unsafe { append_sse42(seed, &data[..len]) };
                assert_eq!(fast, tables(seed, &data[..len]), "len {len}, seed {seed:#x}");
            }
        }
    }

    #[test]
    fn matches_bitwise_reference_and_appends() {
        let data: Vec<u8> = (0u32..1000).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 999, 1000] {
            assert_eq!(crc32c(&data[..len]), reference(&data[..len]), "len {len}");
        }
        for split in [0, 3, 8, 500, 1000] {
            let (a, b) = data.split_at(split);
            assert_eq!(crc32c_append(crc32c(a), b), crc32c(&data), "split {split}");
        }
    }
}
