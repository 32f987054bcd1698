//! A bit-exact port of `java.util.Random`, the generator Beam's and Flink's Nexmark use.
//!
//! The state is a 48-bit linear congruential generator: `new Random(s)` sets the state to
//! `(s ^ 0x5DEECE66D) mod 2^48`, and `next(bits)` steps `state = state * 0x5DEECE66D + 0xB
//! (mod 2^48)` and returns the top `bits` bits of the new state as a signed 32-bit integer.
//! The derived draws are Java's legacy algorithms (kept unchanged by `java.util.Random` up to
//! at least Java 21): [`JavaRandom::next_int_bounded`] with the power-of-two fast path and the
//! rejection loop, [`JavaRandom::next_long`] as `(next(32) << 32) + next(32)` (the low half
//! sign-extended), [`JavaRandom::next_double`] as `((next(26) << 27) + next(27)) * 2^-53`.
//! Any sequence of calls therefore yields exactly what the same sequence yields in Java.

/// The LCG multiplier.
const MULTIPLIER: u64 = 0x5_DEEC_E66D;
/// The LCG increment.
const ADDEND: u64 = 0xB;
/// The state is 48 bits wide.
const MASK: u64 = (1 << 48) - 1;

/// `java.util.Random`, bit for bit: a 48-bit LCG with Java's legacy derived draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JavaRandom {
    state: u64,
}

impl JavaRandom {
    /// `new Random(seed)` (the seed is Java's `long`; only its low 48 bits matter).
    #[inline]
    pub fn new(seed: u64) -> JavaRandom {
        JavaRandom { state: (seed ^ MULTIPLIER) & MASK }
    }

    /// Java's protected `next(bits)`, for `bits` in `1..=32`.
    #[inline(always)]
    pub fn next_bits(&mut self, bits: u32) -> i32 {
        debug_assert!((1..=32).contains(&bits));
        self.state = self.state.wrapping_mul(MULTIPLIER).wrapping_add(ADDEND) & MASK;
        (self.state >> (48 - bits)) as u32 as i32
    }

    /// `nextInt()`: uniform over all 32-bit integers.
    #[inline]
    pub fn next_int(&mut self) -> i32 {
        self.next_bits(32)
    }

    /// `nextInt(bound)`: uniform in `0..bound`.
    ///
    /// # Panics
    ///
    /// If `bound <= 0` (Java throws `IllegalArgumentException`); callers pass validated bounds.
    #[inline]
    pub fn next_int_bounded(&mut self, bound: i32) -> i32 {
        assert!(bound > 0, "java.util.Random.nextInt bound must be positive, got {bound}");
        let mut r = self.next_bits(31);
        let m = bound - 1;
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            // Java's overflow test `u - r + m < 0` in wrapping 32-bit arithmetic.
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next_bits(31);
        }
    }

    /// `nextLong()`: `(next(32) << 32) + next(32)`, the second half sign-extended.
    #[inline]
    pub fn next_long(&mut self) -> i64 {
        let hi = i64::from(self.next_bits(32));
        let lo = i64::from(self.next_bits(32));
        (hi << 32).wrapping_add(lo)
    }

    /// `nextDouble()`: uniform in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn next_double(&mut self) -> f64 {
        let hi = i64::from(self.next_bits(26));
        let lo = i64::from(self.next_bits(27));
        ((hi << 27) + lo) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Nexmark's `LongGenerator.nextLong(random, n)`: `nextInt(n)` when `n < 2^31 - 1`, else
    /// `abs(nextLong() % n)` (skewed, as in Beam). `n` must be positive.
    #[inline]
    pub fn next_long_bounded(&mut self, n: u64) -> u64 {
        if n < i32::MAX as u64 {
            self.next_int_bounded(n as i32) as u64
        } else {
            // `n <= i64::MAX` for every n Nexmark passes; the remainder is below n in magnitude.
            (self.next_long() % n as i64).unsigned_abs()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The LCG stepped with 128-bit arithmetic, straight from the definition.
    fn reference_next(state: &mut u128, bits: u32) -> i32 {
        *state = (*state * 0x5DEECE66D + 0xB) % (1u128 << 48);
        (*state >> (48 - bits)) as u32 as i32
    }

    #[test]
    fn steps_match_the_definition() {
        for seed in [0u64, 1, 42, u64::MAX, 0xdead_beef_cafe] {
            let mut r = JavaRandom::new(seed);
            let mut s = u128::from((seed ^ 0x5DEECE66D) & ((1 << 48) - 1));
            for bits in (1..=32).cycle().take(500) {
                assert_eq!(r.next_bits(bits), reference_next(&mut s, bits));
            }
        }
    }

    #[test]
    fn bounded_draws_stay_in_range() {
        let mut r = JavaRandom::new(7);
        for bound in [1, 2, 3, 7, 64, 1000, i32::MAX / 2 + 7, i32::MAX] {
            for _ in 0..1000 {
                assert!((0..bound).contains(&r.next_int_bounded(bound)));
            }
        }
        for n in [1u64, 5, i32::MAX as u64, 1 << 40] {
            assert!(r.next_long_bounded(n) < n);
        }
    }
}
