//! The control bytes of a [`PagedTable`](super::PagedTable): one byte per slot, kept beside the
//! pages and never part of a snapshot.
//!
//! A control byte is [`EMPTY`] (high bit set) or the occupied slot's 7-bit [`h2`] taken from its
//! tag. A probe loads the [`WIDTH`] control bytes that start at the home slot as one [`Group`]
//! (one SSE2 load on x86_64, a byte loop elsewhere), gets a bit mask of the slots whose `h2`
//! matches and of the empty ones, and reads a slot only for a matching byte before the first
//! empty one: a lookup touches one control cache line, then (a false `h2` match aside, about
//! 1 in 128 per occupied byte compared) only the slot that holds the key, and a miss usually
//! reads no slot at all. Measured (README, "Design decisions"), this made misses as fast as
//! hashbrown's; hits did not get faster.
//!
//! The array has `capacity + WIDTH` bytes: byte `capacity + j` mirrors byte `j` (`j < WIDTH`),
//! so a group that starts near the end reads the wrapped-around bytes without a second load.
//! The bytes are derived from the tags in the pages (a restore rebuilds them), so the snapshot
//! format does not see them.

/// Control byte of an empty slot.
pub(crate) const EMPTY: u8 = 0x80;

/// Control bytes in a [`Group`].
pub(crate) const WIDTH: usize = 16;

/// The 7-bit control byte of an occupied slot with `tag`: bits 1..8 of the tag. The home slot is
/// taken from the tag's high bits and bit 0 is always set, so these bits still tell apart the
/// entries of one probe run.
#[inline(always)]
pub(crate) fn h2(tag: u64) -> u8 {
    ((tag >> 1) & 0x7f) as u8
}

/// [`WIDTH`] control bytes loaded from one position.
#[derive(Copy, Clone)]
pub(crate) struct Group(imp::Bytes);

impl Group {
    /// The control bytes `ctrl[pos..pos + WIDTH]`.
    #[inline(always)]
    pub(crate) fn load(ctrl: &[u8], pos: usize) -> Group {
        let bytes: &[u8; WIDTH] = ctrl[pos..pos + WIDTH].try_into().expect("a group is WIDTH bytes");
        Group(imp::load(bytes))
    }

    /// Bit `j` set iff byte `j` equals `b` (an `h2`, never [`EMPTY`]).
    #[inline(always)]
    pub(crate) fn matching(self, b: u8) -> u32 {
        imp::matching(self.0, b)
    }

    /// Bit `j` set iff byte `j` is [`EMPTY`].
    #[inline(always)]
    pub(crate) fn empty(self) -> u32 {
        imp::high_bits(self.0)
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod imp {
    use core::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};

    pub(super) type Bytes = __m128i;

    #[inline(always)]
    pub(super) fn load(bytes: &[u8; super::WIDTH]) -> Bytes {
        // SAFETY: `bytes` is 16 readable bytes, and `_mm_loadu_si128` has no alignment
        // requirement.
        unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
    }

    #[inline(always)]
    pub(super) fn matching(g: Bytes, b: u8) -> u32 {
        // SAFETY: the module is compiled only where SSE2 is enabled (`target_feature = "sse2"`).
        unsafe { _mm_movemask_epi8(_mm_cmpeq_epi8(g, _mm_set1_epi8(b as i8))) as u32 }
    }

    #[inline(always)]
    pub(super) fn high_bits(g: Bytes) -> u32 {
        // SAFETY: the module is compiled only where SSE2 is enabled (`target_feature = "sse2"`).
        unsafe { _mm_movemask_epi8(g) as u32 }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
mod imp {
    pub(super) type Bytes = [u8; super::WIDTH];

    #[inline(always)]
    pub(super) fn load(bytes: &[u8; super::WIDTH]) -> Bytes {
        *bytes
    }

    #[inline(always)]
    pub(super) fn matching(g: Bytes, b: u8) -> u32 {
        g.iter().enumerate().fold(0, |m, (j, &c)| m | (u32::from(c == b) << j))
    }

    #[inline(always)]
    pub(super) fn high_bits(g: Bytes) -> u32 {
        g.iter().enumerate().fold(0, |m, (j, &c)| m | (u32::from(c >> 7) << j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_a_byte_loop() {
        let ctrl: Vec<u8> = (0..40u8).map(|i| if i % 5 == 0 { EMPTY } else { i % 7 }).collect();
        for pos in 0..ctrl.len() - WIDTH {
            let g = Group::load(&ctrl, pos);
            for b in 0..7u8 {
                let want = (0..WIDTH).filter(|&j| ctrl[pos + j] == b).fold(0, |m, j| m | 1 << j);
                assert_eq!(g.matching(b), want, "pos {pos} byte {b}");
            }
            let want = (0..WIDTH).filter(|&j| ctrl[pos + j] == EMPTY).fold(0, |m, j| m | 1 << j);
            assert_eq!(g.empty(), want, "pos {pos}");
        }
    }
}
