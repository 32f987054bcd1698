//! The fraud workload: card transactions with injected fraud patterns for per-card rules.
//!
//! Every transaction is a pure function of `(config, i)`; [`Fraud::fill`] and [`Fraud::event`]
//! agree exactly.
//!
//! # Normal transactions
//!
//! Card uniform over `0..cards`, merchant uniform over `0..merchants`; amount log-uniform in
//! `[100, 20 000)` cents (through a 256-knot table), except 1% small ones (`1..=99` cents) and
//! 0.5% large ones (`50 001..=500 000` cents), so that the rules below sometimes fire by chance.
//! Timestamps follow the same nominal clock, jitter and lateness as the sensors workload
//! (see [`crate::sensors`], including its lateness guarantee): `n(i) = base_time_ms +
//! i * 1000 / event_rate_per_s`, on time `n(i) - max_jitter_ms <= ts <= n(i)`, late with
//! probability `late_fraction` once `n(i) >= base_time_ms + 2 * late_delay_ms`, then
//! `n(i) - 2 * late_delay_ms < ts <= n(i) - late_delay_ms`.
//!
//! # Injected patterns
//!
//! Indices are cut into slots of [`SLOT_EVENTS`] (64) consecutive events. Slot `s` holds one
//! pattern instance with probability `64 * fraud_rate` (so `fraud_rate` is the share of events
//! that start a pattern), decided by hashing `(seed, s)`; slots whose first nominal time is below
//! `base_time_ms + max_jitter_ms` hold none. The instance's kind, card, length, stride `d` and
//! first offset `o` in the slot are drawn from the same hash, and its events are the indices
//! `64 s + o + j d` for `j < len`: each index knows from `i` alone whether and where it belongs
//! ([`Fraud::pattern_of`]). Pattern events are never late; they use the instance's card.
//!
//! * **small_then_large** (half of the instances): `j = 0` is a transaction of `1..=99` cents
//!   at `n - js` (`js` uniform in `1..=max_jitter_ms`), followed by 1 to 3 transactions of
//!   `50 001..=300 000` cents (stride 1..=16), each at `n(i) - jl` with `jl < js`: strictly after
//!   the small one, and well within 60 s of it.
//! * **burst** (the other half): 11 to 20 transactions (stride 1..=3) with normal amounts. They
//!   come in groups of 2 to 4 consecutive pattern events; a group shares the timestamp `T` of its
//!   first event (`n - jitter` as usual) wherever that respects the on-time bound, otherwise
//!   takes `n(i) - max_jitter_ms`: equal timestamps are common.
//!
//! Both need `max_jitter_ms >= 1` and `event_rate_per_s >= 10` when `fraud_rate > 0` (a slot
//! then spans at most 6.3 s of nominal time, so each instance fits in 60 s of event time).
//!
//! With the defaults (10 000 events/s, 1 000 000 cards) a card makes 0.6 transactions per
//! minute: normal traffic practically never holds 11 transactions of one card in 60 s, and
//! about 20 small-then-large alerts per million events happen by chance, against about 2 000
//! injected ones; the injected bursts give about 7 000 burst alerts (equal timestamps at the
//! end of a burst count for every transaction that shares them).

use std::ops::Range;
use std::path::Path;

use rill::csv::{CsvRecord, CsvRow, FieldError, write_u64};
use rill::{Event, EventTime};
use serde::{Deserialize, Serialize};

use crate::mix::{Mixer, Threshold, bounded32, bounded64, hi, lo};
use crate::timing::{Timing, TimingConfig, check_fraction};

/// Events per pattern slot.
pub const SLOT_EVENTS: u64 = 64;

/// Largest `fraud_rate`: one pattern in every slot.
pub const MAX_FRAUD_RATE: f64 = 1.0 / SLOT_EVENTS as f64;

/// One card transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Event time, ms since the Unix epoch.
    pub ts_ms: u64,
    /// The card, in `0..cards`.
    pub card_id: u64,
    /// The merchant, in `0..merchants`.
    pub merchant_id: u32,
    /// Amount in cents.
    pub amount_cents: u64,
}

impl Event for Transaction {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.ts_ms)
    }
}

impl CsvRecord for Transaction {
    const COLUMNS: &'static [&'static str] = &["ts_ms", "card_id", "merchant_id", "amount_cents"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let t =
            Transaction { ts_ms: row.u64()?, card_id: row.u64()?, merchant_id: row.u32()?, amount_cents: row.u64()? };
        row.finish()?;
        Ok(t)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.ts_ms);
        out.push(b',');
        write_u64(out, self.card_id);
        out.push(b',');
        write_u64(out, u64::from(self.merchant_id));
        out.push(b',');
        write_u64(out, self.amount_cents);
    }
}

/// The parameters of the fraud workload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FraudConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of events (`0..events`).
    pub events: u64,
    /// Events per second of event time (default 10 000).
    pub event_rate_per_s: u64,
    /// Number of cards (default 1 000 000: with fewer cards per event rate, normal traffic
    /// alone triggers the burst rule).
    pub cards: u64,
    /// Number of merchants (default 1 000).
    pub merchants: u32,
    /// Largest on-time jitter in ms (default 500, at most 1000).
    pub max_jitter_ms: u64,
    /// Share of late events among normal transactions (default 0).
    pub late_fraction: f64,
    /// Least delay of a late event behind its nominal time, in ms (default 20 000).
    pub late_delay_ms: u64,
    /// Share of events that start an injected pattern (default 0.002, at most 1/64).
    pub fraud_rate: f64,
    /// Nominal time of event 0, ms since the Unix epoch (default 1 700 000 000 000).
    pub base_time_ms: u64,
}

impl Default for FraudConfig {
    fn default() -> Self {
        FraudConfig {
            seed: 42,
            events: 1_000_000,
            event_rate_per_s: 10_000,
            cards: 1_000_000,
            merchants: 1_000,
            max_jitter_ms: 500,
            late_fraction: 0.0,
            late_delay_ms: 20_000,
            fraud_rate: 0.002,
            base_time_ms: 1_700_000_000_000,
        }
    }
}

impl FraudConfig {
    /// Checks the parameters; the message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        self.timing().validate()?;
        if self.cards == 0 {
            return Err("cards must be > 0".into());
        }
        if self.merchants == 0 {
            return Err("merchants must be > 0".into());
        }
        check_fraction("fraud_rate", self.fraud_rate)?;
        if self.fraud_rate > MAX_FRAUD_RATE {
            return Err(format!("fraud_rate must be <= 1/{SLOT_EVENTS}, got {}", self.fraud_rate));
        }
        if self.fraud_rate > 0.0 && self.max_jitter_ms == 0 {
            return Err("max_jitter_ms must be >= 1 when fraud_rate > 0".into());
        }
        if self.fraud_rate > 0.0 && self.event_rate_per_s < 10 {
            return Err("event_rate_per_s must be >= 10 when fraud_rate > 0".into());
        }
        Ok(())
    }

    fn timing(&self) -> TimingConfig {
        TimingConfig {
            events: self.events,
            base_time_ms: self.base_time_ms,
            event_rate_per_s: self.event_rate_per_s,
            max_jitter_ms: self.max_jitter_ms,
            late_fraction: self.late_fraction,
            late_delay_ms: self.late_delay_ms,
        }
    }
}

/// The kinds of injected patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PatternKind {
    /// A transaction below 100 cents followed by 1 to 3 above 50 000 cents within 60 s.
    SmallThenLarge,
    /// 11 to 20 transactions of one card within 60 s.
    Burst,
}

/// Where an event sits in an injected pattern instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PatternEvent {
    /// The instance's kind.
    pub kind: PatternKind,
    /// The instance's card.
    pub card_id: u64,
    /// Index of the instance's first event: identifies the instance.
    pub first_index: u64,
    /// Position of this event in the instance, `0..len`.
    pub position: u32,
    /// Number of events in the instance.
    pub len: u32,
}

/// The pattern instance of the last slot seen: generation of consecutive events reuses it.
#[derive(Clone, Copy)]
struct SlotCache {
    slot: u64,
    instance: Option<Instance>,
}

impl SlotCache {
    /// No slot cached (`i / 64` never reaches `u64::MAX`).
    const EMPTY: SlotCache = SlotCache { slot: u64::MAX, instance: None };
}

/// An instance's layout in its slot.
#[derive(Clone, Copy, Debug)]
struct Instance {
    kind: PatternKind,
    card_id: u64,
    first_index: u64,
    stride: u64,
    len: u64,
    /// Burst: consecutive pattern events per timestamp group.
    group: u64,
}

/// Mixer stream numbers: one per independent choice.
mod stream {
    pub(super) const JITTER_AND_MERCHANT: u64 = 11;
    pub(super) const LATE: u64 = 12;
    pub(super) const CARD: u64 = 13;
    pub(super) const AMOUNT: u64 = 14;
    pub(super) const SLOT: u64 = 15;
    pub(super) const SLOT_LAYOUT: u64 = 16;
    pub(super) const PATTERN_CARD: u64 = 17;
}

/// Knots of the log-uniform amount table.
const AMOUNT_KNOTS: usize = 256;

/// The fraud generator: a validated [`FraudConfig`] and its precomputed tables.
#[derive(Clone, Debug)]
pub struct Fraud {
    config: FraudConfig,
    timing: Timing,
    event_mix: Mixer,
    card_mix: Mixer,
    amount_mix: Mixer,
    slot_mix: Mixer,
    layout_mix: Mixer,
    pattern_card_mix: Mixer,
    slot_pattern: Threshold,
    /// First slot that may hold a pattern.
    first_slot: u64,
    /// `100 * 200^(k / 256)` for `k` in `0..=256`: the log-uniform knots.
    amount_knots: [u64; AMOUNT_KNOTS + 1],
}

impl Fraud {
    /// The generator for `config`, or [`rill::Error::Config`] if it is invalid.
    pub fn new(config: FraudConfig) -> rill::Result<Fraud> {
        config.validate().map_err(rill::Error::Config)?;
        let seed = config.seed;
        let mut amount_knots = [0u64; AMOUNT_KNOTS + 1];
        for (k, knot) in amount_knots.iter_mut().enumerate() {
            *knot = (100.0 * 200f64.powf(k as f64 / AMOUNT_KNOTS as f64)).round() as u64;
        }
        // Least i with i * 1000 / rate >= max_jitter, rounded up to a slot.
        let rate = u128::from(config.event_rate_per_s);
        let first_i = (u128::from(config.max_jitter_ms) * rate).div_ceil(1000);
        let first_slot = first_i.div_ceil(u128::from(SLOT_EVENTS)) as u64;
        Ok(Fraud {
            timing: config.timing().build(seed, stream::LATE),
            event_mix: Mixer::new(seed, stream::JITTER_AND_MERCHANT),
            card_mix: Mixer::new(seed, stream::CARD),
            amount_mix: Mixer::new(seed, stream::AMOUNT),
            slot_mix: Mixer::new(seed, stream::SLOT),
            layout_mix: Mixer::new(seed, stream::SLOT_LAYOUT),
            pattern_card_mix: Mixer::new(seed, stream::PATTERN_CARD),
            slot_pattern: Threshold::new(config.fraud_rate * SLOT_EVENTS as f64),
            first_slot,
            amount_knots,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &FraudConfig {
        &self.config
    }

    /// The nominal time `n(i)` of event `i`.
    pub fn nominal_time(&self, i: u64) -> u64 {
        self.timing.nominal(i)
    }

    /// Event `i`.
    #[inline]
    pub fn event(&self, i: u64) -> Transaction {
        let mut cache = SlotCache::EMPTY;
        self.at(i, self.timing.nominal(i), &mut cache)
    }

    /// Appends events `range` to `out`, in index order; equal to calling [`Fraud::event`] on
    /// each index, but cheaper.
    pub fn fill(&self, range: Range<u64>, out: &mut Vec<Transaction>) {
        let mut steps = self.timing.steps(range.start);
        let mut cache = SlotCache::EMPTY;
        out.extend(range.map(|i| self.at(i, steps.next_n(), &mut cache)));
    }

    /// Whether event `i` is late. Pattern events never are.
    pub fn is_late(&self, i: u64) -> bool {
        self.pattern_of(i).is_none() && self.timing.is_late(i, self.timing.nominal(i))
    }

    /// The injected pattern instance event `i` belongs to, if any.
    pub fn pattern_of(&self, i: u64) -> Option<PatternEvent> {
        let mut cache = SlotCache::EMPTY;
        let (inst, position) = self.locate(i, &mut cache)?;
        Some(PatternEvent {
            kind: inst.kind,
            card_id: inst.card_id,
            first_index: inst.first_index,
            position: position as u32,
            len: inst.len as u32,
        })
    }

    /// The instance of slot `i / 64` if `i` belongs to it, with `i`'s position.
    #[inline(always)]
    fn locate(&self, i: u64, cache: &mut SlotCache) -> Option<(Instance, u64)> {
        let slot = i / SLOT_EVENTS;
        if slot != cache.slot {
            *cache = SlotCache { slot, instance: self.instance(slot) };
        }
        let inst = cache.instance?;
        let offset = i.checked_sub(inst.first_index)?;
        if offset % inst.stride != 0 || offset / inst.stride >= inst.len {
            return None;
        }
        Some((inst, offset / inst.stride))
    }

    /// The pattern instance of `slot`, if it has one.
    fn instance(&self, slot: u64) -> Option<Instance> {
        if slot < self.first_slot || !self.slot_pattern.fires(hi(self.slot_mix.at(slot))) {
            return None;
        }
        let layout = self.layout_mix.at(slot);
        // 16-bit fields of the layout word, each mapped to its range.
        let field = |shift: u32, n: u64| (((layout >> shift) & 0xffff) * n) >> 16;
        let (kind, len, stride, group) = if layout & 1 == 0 {
            (PatternKind::SmallThenLarge, 2 + field(1, 3), 1 + field(17, 16), 1)
        } else {
            (PatternKind::Burst, 11 + field(1, 10), 1 + field(17, 3), 2 + field(33, 3))
        };
        let span = (len - 1) * stride;
        let first_index = slot * SLOT_EVENTS + field(48, SLOT_EVENTS - span);
        let card_id = bounded64(self.pattern_card_mix.at(slot), self.config.cards);
        Some(Instance { kind, card_id, first_index, stride, len, group })
    }

    /// Event `i` whose nominal time is `n`.
    #[inline(always)]
    fn at(&self, i: u64, n: u64, cache: &mut SlotCache) -> Transaction {
        let word = self.event_mix.at(i);
        let merchant_id = bounded32(hi(word), u64::from(self.config.merchants)) as u32;
        if let Some((inst, position)) = self.locate(i, cache) {
            return self.pattern_event(i, n, word, merchant_id, inst, position);
        }
        let (ts_ms, _) = self.timing.stamp(i, n, word);
        let card_id = bounded64(self.card_mix.at(i), self.config.cards);
        Transaction { ts_ms, card_id, merchant_id, amount_cents: self.normal_amount(self.amount_mix.at(i)) }
    }

    /// A normal amount from one uniform word.
    #[inline(always)]
    fn normal_amount(&self, word: u64) -> u64 {
        let tier = bounded32(lo(word), 10_000);
        let h = hi(word);
        if tier < 100 {
            1 + bounded32(h, 99)
        } else if tier < 150 {
            50_001 + bounded32(h, 450_000)
        } else {
            let k = (h >> 24) as usize;
            let (a, b) = (self.amount_knots[k], self.amount_knots[k + 1]);
            a + ((u64::from(h & 0xff_ffff) * (b - a)) >> 24)
        }
    }

    #[cold]
    fn pattern_event(&self, i: u64, n: u64, word: u64, merchant_id: u32, inst: Instance, pos: u64) -> Transaction {
        let max_jitter = self.timing.max_jitter();
        let amount = self.amount_mix.at(i);
        let (ts_ms, amount_cents) = match inst.kind {
            PatternKind::SmallThenLarge => {
                // js in 1..=max_jitter, from the small transaction's own word.
                let js = 1 + bounded32(lo(self.event_mix.at(inst.first_index)), max_jitter);
                if pos == 0 {
                    (n - js, 1 + bounded32(hi(amount), 99))
                } else {
                    (n - bounded32(lo(word), js), 50_001 + bounded32(hi(amount), 250_000))
                }
            }
            PatternKind::Burst => {
                let group_first = inst.first_index + (pos / inst.group) * inst.group * inst.stride;
                let t = self.timing.on_time(self.timing.nominal(group_first), self.event_mix.at(group_first));
                (t.max(n - max_jitter), self.normal_amount(amount))
            }
        };
        Transaction { ts_ms, card_id: inst.card_id, merchant_id, amount_cents }
    }
}

impl crate::Generator for Fraud {
    type Event = Transaction;

    fn events(&self) -> u64 {
        self.config.events
    }

    fn event(&self, i: u64) -> Transaction {
        Fraud::event(self, i)
    }

    fn fill(&self, range: Range<u64>, out: &mut Vec<Transaction>) {
        Fraud::fill(self, range, out)
    }
}

/// Writes events `0..config.events` to the CSV file `path` (header included), generating in
/// parallel; returns the number of rows written.
pub fn export_csv(config: &FraudConfig, path: &Path) -> rill::Result<u64> {
    crate::export::export_generated(&Fraud::new(config.clone())?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_cover_the_tiers() {
        let f = Fraud::new(FraudConfig::default()).unwrap();
        let m = Mixer::new(1, 99);
        let (mut small, mut large, mut mid) = (0, 0, 0);
        for x in 0..100_000 {
            match f.normal_amount(m.at(x)) {
                1..=99 => small += 1,
                100..20_000 => mid += 1,
                50_001..=500_000 => large += 1,
                a => panic!("amount {a} outside every tier"),
            }
        }
        assert!((800..1200).contains(&small), "{small} small");
        assert!((350..650).contains(&large), "{large} large");
        assert_eq!(small + large + mid, 100_000);
        assert_eq!(f.amount_knots[0], 100);
        assert_eq!(f.amount_knots[AMOUNT_KNOTS], 20_000);
    }

    #[test]
    fn csv_round_trip_and_errors() {
        let t = Transaction { ts_ms: 1_700_000_000_123, card_id: u64::MAX, merchant_id: 7, amount_cents: 0 };
        let mut out = Vec::new();
        t.write_csv(&mut out);
        assert_eq!(out, b"1700000000123,18446744073709551615,7,0");
        assert_eq!(Transaction::parse_csv(&mut CsvRow::new(&out)).unwrap(), t);
        assert_eq!(Transaction::parse_csv(&mut CsvRow::new(b"1,2,4294967296,4")).unwrap_err().column, 3);
        assert_eq!(Transaction::parse_csv(&mut CsvRow::new(b"1,2,3")).unwrap_err().column, 4);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |f: fn(&mut FraudConfig)| {
            let mut c = FraudConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(bad(|c| c.cards = 0).contains("cards"));
        assert!(bad(|c| c.merchants = 0).contains("merchants"));
        assert!(bad(|c| c.fraud_rate = 0.1).contains("fraud_rate"));
        assert!(bad(|c| c.max_jitter_ms = 0).contains("max_jitter_ms"));
        assert!(bad(|c| c.event_rate_per_s = 5).contains("event_rate_per_s"));
        assert!(bad(|c| c.late_fraction = 2.0).contains("late_fraction"));
        assert_eq!(FraudConfig { max_jitter_ms: 0, fraud_rate: 0.0, ..FraudConfig::default() }.validate(), Ok(()));
        assert_eq!(FraudConfig::default().validate(), Ok(()));
    }
}
