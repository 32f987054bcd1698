//! The counter-based mixer every generator draws its randomness from, and the small exact
//! helpers built on it.
//!
//! A [`Mixer`] is a keyed hash of one `u64` counter: `Mixer::new(seed, stream).at(x)` is the
//! wyrand output for state `key + x * P0`, where `key` is a splitmix64 digest of the seed and the
//! stream number. Nothing is carried between calls, so any value of any stream is available in
//! O(1) for any counter: this is what makes every event a pure function of `(config, i)`.
//! Different streams of one seed (one per purpose: jitter, lateness, sensor, ...) have unrelated
//! keys, so their values are independent for practical purposes.
//!
//! Invariants:
//! * [`bounded32`] and [`bounded64`] map a uniform word to `[0, n)` by a multiply-high
//!   (Lemire's reduction without rejection): the bias is at most `n / 2^32` (resp. `n / 2^64`),
//!   which is negligible for the ranges the generators use, and they never return `n`.
//! * [`Threshold`] turns a probability into a 32-bit threshold: `p = 0` never fires, `p = 1`
//!   always fires, otherwise it fires with probability `round(p * 2^32) / 2^32`.

/// First wyhash constant: the counter stride (odd, so `x -> key + x * P0` is a bijection).
const P0: u64 = 0xa076_1d64_78bd_642f;
/// Second wyhash constant.
const P1: u64 = 0xe703_7ed1_a0b4_28db;

/// The wyhash mixing step: the 128-bit product of `a` and `b`, folded to 64 bits.
#[inline(always)]
fn wymix(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// splitmix64's finaliser: a bijective scrambler of one word.
#[inline]
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A keyed, stateless hash of a counter: one independent stream of uniform words per
/// `(seed, stream)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mixer {
    key: u64,
}

impl Mixer {
    /// The stream number `stream` of `seed`.
    pub(crate) fn new(seed: u64, stream: u64) -> Mixer {
        Mixer { key: splitmix64(seed ^ splitmix64(stream.wrapping_mul(P1))) }
    }

    /// The uniform word of this stream at counter `x`.
    #[inline(always)]
    pub(crate) fn at(&self, x: u64) -> u64 {
        let s = self.key.wrapping_add(x.wrapping_mul(P0));
        wymix(s, s ^ P1)
    }
}

/// The high 32 bits of a word.
#[inline(always)]
pub(crate) fn hi(x: u64) -> u32 {
    (x >> 32) as u32
}

/// The low 32 bits of a word.
#[inline(always)]
pub(crate) fn lo(x: u64) -> u32 {
    x as u32
}

/// Maps a uniform `u32` to `[0, n)`; `n = 0` gives 0.
#[inline(always)]
pub(crate) fn bounded32(x: u32, n: u64) -> u64 {
    debug_assert!(n <= 1 << 32, "bounded32 range {n} exceeds 2^32");
    (u64::from(x) * n) >> 32
}

/// Maps a uniform `u64` to `[0, n)`; `n = 0` gives 0.
#[inline(always)]
pub(crate) fn bounded64(x: u64, n: u64) -> u64 {
    ((u128::from(x) * u128::from(n)) >> 64) as u64
}

/// A Bernoulli trial on a uniform `u32`, fixed at construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Threshold(u64);

impl Threshold {
    /// Fires with probability `p` (clamped to `[0, 1]`; callers validate `p` first).
    pub(crate) fn new(p: f64) -> Threshold {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        Threshold((p * 4_294_967_296.0).round() as u64)
    }

    /// Whether the trial on `x` fires.
    #[inline(always)]
    pub(crate) fn fires(self, x: u32) -> bool {
        u64::from(x) < self.0
    }
}

/// An alias table (Vose's method) for drawing from a fixed discrete distribution with one
/// uniform word: O(1) per draw, `8 * n` bytes.
#[derive(Clone, Debug)]
pub(crate) struct AliasTable {
    /// Per column: the 32-bit acceptance threshold and the alias taken above it.
    columns: Vec<(u32, u32)>,
}

impl AliasTable {
    /// The table for weights proportional to `weights` (non-negative, finite, not all zero,
    /// at most `u32::MAX` of them).
    pub(crate) fn new(weights: &[f64]) -> AliasTable {
        let n = weights.len();
        assert!(n > 0 && n <= u32::MAX as usize, "alias table needs 1..=u32::MAX weights, got {n}");
        let total: f64 = weights.iter().sum();
        assert!(total > 0.0 && total.is_finite(), "alias table weights must have a positive finite sum");
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut columns = vec![(u32::MAX, 0u32); n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            columns[s] = (prob_to_u32(scaled[s]), l as u32);
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left has probability 1 up to rounding: it always accepts itself.
        for i in small.into_iter().chain(large) {
            columns[i] = (u32::MAX, i as u32);
        }
        AliasTable { columns }
    }

    /// Draws an index from one uniform word.
    #[inline(always)]
    pub(crate) fn sample(&self, x: u64) -> u32 {
        let col = bounded32(hi(x), self.columns.len() as u64) as usize;
        let (threshold, alias) = self.columns[col];
        if lo(x) < threshold || threshold == u32::MAX { col as u32 } else { alias }
    }
}

fn prob_to_u32(p: f64) -> u32 {
    (p.clamp(0.0, 1.0) * 4_294_967_295.0).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pearson's chi-square statistic of `counts` against a uniform expectation.
    fn chi_square(counts: &[u64]) -> f64 {
        let total: u64 = counts.iter().sum();
        let expected = total as f64 / counts.len() as f64;
        counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum()
    }

    #[test]
    fn stateless_and_stream_separated() {
        let m = Mixer::new(42, 1);
        assert_eq!(m.at(7), Mixer::new(42, 1).at(7));
        assert_ne!(m.at(7), m.at(8));
        assert_ne!(m.at(7), Mixer::new(42, 2).at(7));
        assert_ne!(m.at(7), Mixer::new(43, 1).at(7));
    }

    #[test]
    fn bounded_values_are_uniform() {
        // 64 buckets, 640k draws: the chi-square statistic has 63 degrees of freedom, mean 63,
        // standard deviation ~11.2; 130 is about six standard deviations out.
        let m = Mixer::new(1, 0);
        let mut c32 = [0u64; 64];
        let mut c64 = [0u64; 64];
        let mut c32_lo = [0u64; 64];
        for i in 0..640_000 {
            let x = m.at(i);
            c32[bounded32(hi(x), 64) as usize] += 1;
            c32_lo[bounded32(lo(x), 64) as usize] += 1;
            c64[bounded64(x, 64) as usize] += 1;
        }
        for c in [&c32, &c32_lo, &c64] {
            let chi = chi_square(c);
            assert!(chi < 130.0, "chi-square {chi} over 64 buckets");
        }
    }

    #[test]
    fn consecutive_counters_are_not_correlated() {
        // Bits of at(i) and at(i + 1) agree about half of the time.
        let m = Mixer::new(9, 3);
        let agree: u64 = (0..10_000u64).map(|i| u64::from((!(m.at(i) ^ m.at(i + 1))).count_ones())).sum();
        let share = agree as f64 / (10_000.0 * 64.0);
        assert!((share - 0.5).abs() < 0.01, "bit agreement {share}");
    }

    #[test]
    fn bounded_never_reaches_n() {
        assert_eq!(bounded32(u32::MAX, 10), 9);
        assert_eq!(bounded64(u64::MAX, 10), 9);
        assert_eq!(bounded32(u32::MAX, 1 << 32), u64::from(u32::MAX));
        assert_eq!(bounded32(12345, 0), 0);
    }

    #[test]
    fn thresholds_match_probabilities() {
        assert!(!Threshold::new(0.0).fires(0));
        assert!(!Threshold::new(0.0).fires(u32::MAX));
        assert!(Threshold::new(1.0).fires(u32::MAX));
        let t = Threshold::new(0.25);
        let m = Mixer::new(5, 5);
        let hits = (0..100_000).filter(|&i| t.fires(hi(m.at(i)))).count();
        // Binomial(100k, 0.25): sd ~137.
        assert!((hits as i64 - 25_000).abs() < 800, "{hits} hits");
    }

    #[test]
    fn alias_table_follows_weights() {
        let weights = [8.0, 4.0, 2.0, 1.0, 1.0, 0.0];
        let table = AliasTable::new(&weights);
        let m = Mixer::new(3, 0);
        let mut counts = [0u64; 6];
        let draws = 160_000u64;
        for i in 0..draws {
            counts[table.sample(m.at(i)) as usize] += 1;
        }
        assert_eq!(counts[5], 0, "zero weight drawn");
        for (k, w) in weights.iter().enumerate().take(5) {
            let expected = draws as f64 * w / 16.0;
            let sd = (expected * (1.0 - w / 16.0)).sqrt();
            assert!((counts[k] as f64 - expected).abs() < 6.0 * sd, "index {k}: {} vs {expected}", counts[k]);
        }
    }
}
