//! Event-time placement shared by all workloads: the nominal clock, on-time jitter and late
//! events.
//!
//! * Nominal time: `n(i) = base_time_ms + i * 1000 / event_rate_per_s` (integer division), so
//!   `n` is monotone and `n(i + 1) - n(i) <= ceil(1000 / rate)`.
//! * On-time event: `ts = max(n(i) - jitter, base_time_ms)` with `jitter` uniform in
//!   `[0, max_jitter_ms]`, hence `n(i) - max_jitter_ms <= ts <= n(i)`.
//! * Late event: decided by its own mixer stream with probability `late_fraction`, and only when
//!   `n(i) >= base_time_ms + 2 * late_delay_ms`: `ts = n(i) - late_delay_ms - u` with `u` uniform
//!   in `[0, late_delay_ms)`, hence `n(i) - 2 * late_delay_ms < ts <= n(i) - late_delay_ms`.
//!
//! [`NominalSteps`] walks `n(i)` over a range without dividing per event; it yields exactly
//! [`Timing::nominal`] (checked by the tests below).

use crate::mix::{Mixer, Threshold, bounded32, hi, lo};

/// Largest `max_jitter_ms` any workload accepts.
pub(crate) const MAX_JITTER_MS: u64 = 1_000;

/// The validated event-time parameters of a workload.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    base: u64,
    rate: u64,
    max_jitter: u64,
    late: Threshold,
    /// The stream that decides lateness (and the late delay) per event index.
    late_mix: Mixer,
    late_delay: u64,
    /// Least nominal time at which an event may be late: `base + 2 * late_delay`, or
    /// `u64::MAX` when no event is late (then the lateness hash is never computed).
    late_from: u64,
}

/// The event-time parameters as configured, before validation.
pub(crate) struct TimingConfig {
    pub(crate) events: u64,
    pub(crate) base_time_ms: u64,
    pub(crate) event_rate_per_s: u64,
    pub(crate) max_jitter_ms: u64,
    pub(crate) late_fraction: f64,
    pub(crate) late_delay_ms: u64,
}

impl TimingConfig {
    /// Checks the parameters; the message names the offending field.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.event_rate_per_s == 0 {
            return Err("event_rate_per_s must be > 0".into());
        }
        if self.max_jitter_ms > MAX_JITTER_MS {
            return Err(format!("max_jitter_ms must be <= {MAX_JITTER_MS}, got {}", self.max_jitter_ms));
        }
        check_fraction("late_fraction", self.late_fraction)?;
        if self.late_delay_ms > u64::from(u32::MAX) {
            return Err(format!("late_delay_ms must be < 2^32, got {}", self.late_delay_ms));
        }
        if self.late_fraction > 0.0 && self.late_delay_ms <= self.max_jitter_ms {
            return Err(format!(
                "late_delay_ms ({}) must exceed max_jitter_ms ({}) when late_fraction > 0",
                self.late_delay_ms, self.max_jitter_ms
            ));
        }
        let span = u128::from(self.events) * 1000 / u128::from(self.event_rate_per_s);
        if u128::from(self.base_time_ms) + span >= u128::from(u64::MAX / 2) {
            return Err("base_time_ms + events * 1000 / event_rate_per_s overflows event time".into());
        }
        Ok(())
    }

    /// The timing of validated parameters; lateness is drawn from stream `late_stream` of
    /// `seed`.
    pub(crate) fn build(&self, seed: u64, late_stream: u64) -> Timing {
        let late = Threshold::new(self.late_fraction);
        Timing {
            base: self.base_time_ms,
            rate: self.event_rate_per_s,
            max_jitter: self.max_jitter_ms,
            late,
            late_mix: Mixer::new(seed, late_stream),
            late_delay: self.late_delay_ms,
            late_from: if late.fires(0) {
                self.base_time_ms.saturating_add(self.late_delay_ms.saturating_mul(2))
            } else {
                u64::MAX
            },
        }
    }
}

/// Checks that `value` is a probability.
pub(crate) fn check_fraction(name: &str, value: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&value) { Ok(()) } else { Err(format!("{name} must be in [0, 1], got {value}")) }
}

impl Timing {
    /// The nominal time `n(i)`.
    #[inline]
    pub(crate) fn nominal(&self, i: u64) -> u64 {
        let off = match i.checked_mul(1000) {
            Some(x) => x / self.rate,
            None => (u128::from(i) * 1000 / u128::from(self.rate)) as u64,
        };
        self.base + off
    }

    /// A walker over `n(i)` for consecutive `i` from `start`.
    pub(crate) fn steps(&self, start: u64) -> NominalSteps {
        let num = u128::from(start) * 1000;
        let rate = u128::from(self.rate);
        NominalSteps {
            n: self.base + (num / rate) as u64,
            rem: (num % rate) as u64,
            rate: self.rate,
            step_q: 1000 / self.rate,
            step_r: 1000 % self.rate,
        }
    }

    /// The base time.
    #[cfg(test)]
    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    /// The largest on-time jitter.
    #[inline]
    pub(crate) fn max_jitter(&self) -> u64 {
        self.max_jitter
    }

    /// Whether event `i`, at nominal time `n`, is late.
    #[inline(always)]
    pub(crate) fn is_late(&self, i: u64, n: u64) -> bool {
        n >= self.late_from && self.late.fires(hi(self.late_mix.at(i)))
    }

    /// The on-time timestamp at nominal `n` for the jitter word `jitter_word` (its low half).
    #[inline(always)]
    pub(crate) fn on_time(&self, n: u64, jitter_word: u64) -> u64 {
        let jitter = bounded32(lo(jitter_word), self.max_jitter + 1);
        n.saturating_sub(jitter).max(self.base)
    }

    /// The timestamp of event `i` at nominal `n` with the jitter word given (its low half is
    /// used), and whether it is late.
    #[inline(always)]
    pub(crate) fn stamp(&self, i: u64, n: u64, jitter_word: u64) -> (u64, bool) {
        if n >= self.late_from {
            let late_word = self.late_mix.at(i);
            if self.late.fires(hi(late_word)) {
                return (n - self.late_delay - bounded32(lo(late_word), self.late_delay), true);
            }
        }
        (self.on_time(n, jitter_word), false)
    }
}

/// Walks `n(i), n(i + 1), ...` with one addition and one comparison per step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NominalSteps {
    n: u64,
    /// `(i * 1000) % rate`.
    rem: u64,
    rate: u64,
    step_q: u64,
    step_r: u64,
}

impl NominalSteps {
    /// The current nominal time; then advances to the next index.
    #[inline(always)]
    pub(crate) fn next_n(&mut self) -> u64 {
        let n = self.n;
        self.n += self.step_q;
        self.rem += self.step_r;
        if self.rem >= self.rate {
            self.rem -= self.rate;
            self.n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mix::Mixer;

    fn config(rate: u64) -> TimingConfig {
        TimingConfig {
            events: 1_000_000,
            base_time_ms: 1_700_000_000_000,
            event_rate_per_s: rate,
            max_jitter_ms: 500,
            late_fraction: 0.1,
            late_delay_ms: 20_000,
        }
    }

    #[test]
    fn steps_match_the_division() {
        for rate in [1, 3, 7, 999, 1000, 1001, 10_000, 100_000, 3_333_333] {
            let t = config(rate).build(1, 2);
            for start in [0, 1, 12_345, 1 << 40] {
                let mut s = t.steps(start);
                for i in start..start + 5_000 {
                    assert_eq!(s.next_n(), t.nominal(i), "rate {rate}, i {i}");
                }
            }
        }
        let t = config(7).build(1, 2);
        let huge = u64::MAX / 100;
        assert_eq!(t.nominal(huge), 1_700_000_000_000 + (u128::from(huge) * 1000 / 7) as u64);
    }

    #[test]
    fn stamps_respect_the_bounds() {
        let t = config(1_000).build(1, 2);
        let m = Mixer::new(1, 1);
        let mut late = 0;
        for i in 0..200_000u64 {
            let n = t.nominal(i);
            let (ts, is_late) = t.stamp(i, n, m.at(i));
            assert_eq!(is_late, t.is_late(i, n));
            if is_late {
                late += 1;
                assert!(n >= t.base() + 40_000);
                assert!(ts <= n - 20_000 && ts > n - 40_000, "late ts {ts} at n {n}");
            } else {
                assert!(ts <= n && ts + 500 >= n && ts >= t.base(), "on-time ts {ts} at n {n}");
            }
        }
        // Eligible from n >= base + 40 s, i.e. i >= 40k at 1k/s: 160k eligible, 10% late.
        assert!((15_000..17_000).contains(&late), "{late} late");
        let never = TimingConfig { late_fraction: 0.0, ..config(1_000) }.build(1, 2);
        assert!((0..100_000).all(|i| !never.stamp(i, never.nominal(i), m.at(i)).1));
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = config(0);
        assert!(c.validate().unwrap_err().contains("event_rate_per_s"));
        c.event_rate_per_s = 10;
        c.max_jitter_ms = 1001;
        assert!(c.validate().unwrap_err().contains("max_jitter_ms"));
        c.max_jitter_ms = 10;
        c.late_fraction = 1.5;
        assert!(c.validate().unwrap_err().contains("late_fraction"));
        c.late_fraction = f64::NAN;
        assert!(c.validate().unwrap_err().contains("late_fraction"));
        c.late_fraction = 0.5;
        c.late_delay_ms = 10;
        assert!(c.validate().unwrap_err().contains("late_delay_ms"));
        c.late_delay_ms = 11;
        assert_eq!(c.validate(), Ok(()));
        c.base_time_ms = u64::MAX - 5;
        assert!(c.validate().is_err());
    }
}
