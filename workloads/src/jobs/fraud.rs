//! The fraud job: per card, a keyed process function with state and event-time timers that
//! evaluates two rules in event-time order, emitting `card_id,ts_ms,rule,amount_cents`.
//!
//! * `small_then_large`: an alert for each transaction `L` with `amount_cents > 50000` for which
//!   the same card has a transaction `S` with `amount_cents < 100` and
//!   `S.ts_ms < L.ts_ms <= S.ts_ms + 60000`.
//! * `burst`: an alert for each transaction `T` for which the card has at least 11
//!   transactions (`T` and all with equal timestamps included) in `[T.ts_ms - 60000, T.ts_ms]`.
//!
//! How: each transaction is buffered in its card's state ([`CardState`], one fixed-layout entry
//! per card, in the paged store) with an event-time timer at its timestamp. When the watermark passes `t`, the timer evaluates the group of transactions at
//! `t` against what came strictly before (the latest small transaction, and the timestamps of
//! the last 60 s), then records the group. A cleanup timer 60 s after each group expires what no
//! rule can use any more, so a card's state never outlives its last minute of activity.
//! Transactions below their source's watermark are late (the job's late output).

use rill::api::process::{KeyedProcessFunction, ProcessContext};
use rill::csv::{CsvRecord, CsvRow, FieldError, write_u64};
use rill::operators::process::{ProcessKeyed, ProcessOutput};
use rill::state::{ListState, PodValueState, StateRegistry, TimeDomain};
use rill::{Dataflow, Event, EventTime};
use serde::{Deserialize, Serialize};

use super::{Input, JobOptions, JobReport, resolve, run_job};
use crate::fraud::{Fraud, FraudConfig, Transaction};
use rill::api::stream::RillStream;

/// The name of the job's source operator.
pub const SOURCE: &str = "fraud-source";
/// How far back both rules look (ms).
pub const HORIZON_MS: u64 = 60_000;
/// `small_then_large`: a small transaction is below this many cents.
pub const SMALL_BELOW: u64 = 100;
/// `small_then_large`: a large transaction is above this many cents.
pub const LARGE_ABOVE: u64 = 50_000;
/// `burst`: this many transactions within the horizon raise an alert.
pub const BURST_COUNT: usize = 11;

/// Which rule an alert comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Rule {
    /// A large transaction within a minute after a small one.
    SmallThenLarge,
    /// Eleven or more transactions within a minute.
    Burst,
}

impl Rule {
    /// The rule's name in CSV.
    pub fn name(self) -> &'static str {
        match self {
            Rule::SmallThenLarge => "small_then_large",
            Rule::Burst => "burst",
        }
    }
}

/// One alert: `card_id,ts_ms,rule,amount_cents`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Alert {
    /// The card.
    pub card_id: u64,
    /// The transaction's event time.
    pub ts_ms: u64,
    /// The rule.
    pub rule: Rule,
    /// The transaction's amount.
    pub amount_cents: u64,
}

impl Event for Alert {
    fn event_time(&self) -> EventTime {
        EventTime(self.ts_ms)
    }
}

impl CsvRecord for Alert {
    const COLUMNS: &'static [&'static str] = &["card_id", "ts_ms", "rule", "amount_cents"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let card_id = row.u64()?;
        let ts_ms = row.u64()?;
        let column = row.column();
        let rule = match &*row.str()? {
            "small_then_large" => Rule::SmallThenLarge,
            "burst" => Rule::Burst,
            other => return Err(FieldError { column, message: format!("unknown rule `{other}`") }),
        };
        let amount_cents = row.u64()?;
        row.finish()?;
        Ok(Alert { card_id, ts_ms, rule, amount_cents })
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.card_id);
        out.push(b',');
        write_u64(out, self.ts_ms);
        out.push(b',');
        out.extend_from_slice(self.rule.name().as_bytes());
        out.push(b',');
        write_u64(out, self.amount_cents);
    }
}

/// Timestamps of evaluated transactions a card keeps for the burst rule: the newest
/// `BURST_COUNT - 1` (see [`CardState`] for why that decides the rule exactly).
pub const RECENT_KEPT: usize = BURST_COUNT - 1;
/// Pending transactions a card keeps inline; more wait in the job's `pending-overflow` list
/// state (a card in the middle of a burst).
pub const PENDING_INLINE: usize = 4;

/// Everything the rules keep about one card, in one fixed-layout entry (one lookup per event,
/// kept in the paged store: snapshotted without encoding it on the worker).
///
/// **Why the newest `BURST_COUNT - 1` timestamps decide the burst rule exactly.** Let `U` be
/// the list a card would keep without a bound: the timestamps of its evaluated transactions,
/// appended as their timers fire, whose front is dropped while it is older than `now - 60 s`.
/// Timers fire in non-decreasing time (the watermark never goes back, and a transaction that is
/// not late is at or above it), so `U` is ascending and the drop removes exactly its elements
/// below the cutoff. `recent` holds the last `min(R, |U|)` elements of `U` (`R` =
/// [`RECENT_KEPT`]): true when both are empty; appending to both and dropping `recent`'s oldest
/// beyond `R` keeps it; and dropping the elements below the cutoff from a suffix of an ascending
/// list leaves the last `min(R, |U'|)` of what remains. So `|recent| = min(R, |U|)`, and for a
/// group of `g >= 1` transactions at `now`, `|U| + g >= R + 1` iff `|recent| + g >= R + 1`
/// (when `|U| >= R` both hold). `|recent| = 0` iff `|U| = 0`, so the card's expiry is the same too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct CardState {
    /// The newest timestamps (ascending) of the evaluated last minute; `recent_len` are valid.
    recent: [u64; RECENT_KEPT],
    /// The oldest transactions waiting for the watermark: `[ts, amount]` in arrival order;
    /// `pending_len` are valid. The rest, newer, are in the overflow list (`spilled`).
    pending: [[u64; 2]; PENDING_INLINE],
    /// Timestamp of the latest evaluated small transaction, if `has_small`.
    last_small: u64,
    recent_len: u32,
    pending_len: u16,
    has_small: u8,
    /// 1 while the overflow list holds pending transactions (then `pending` is full).
    spilled: u8,
}

impl Default for CardState {
    fn default() -> Self {
        bytemuck::Zeroable::zeroed()
    }
}

impl CardState {
    /// Buffers a transaction inline; `false` if the inline buffer is full (the caller keeps it
    /// in the overflow list, after every pending one already there).
    fn push_pending(&mut self, ts: u64, amount: u64) -> bool {
        let n = usize::from(self.pending_len);
        if n == PENDING_INLINE {
            return false;
        }
        self.pending[n] = [ts, amount];
        self.pending_len += 1;
        true
    }

    /// Moves the amounts of the pending transactions at `now` into `group` (inline ones first,
    /// then those of `spill`, in arrival order), removing them, and refills the inline buffer
    /// from the front of `spill`.
    fn take_group(&mut self, now: u64, group: &mut Vec<u64>, spill: &mut Vec<(u64, u64)>) {
        let mut kept = 0;
        for i in 0..usize::from(self.pending_len) {
            let [ts, amount] = self.pending[i];
            if ts == now {
                group.push(amount);
            } else {
                self.pending[kept] = [ts, amount];
                kept += 1;
            }
        }
        spill.retain(|&(ts, amount)| {
            if ts == now {
                group.push(amount);
            }
            ts != now
        });
        let refill = (PENDING_INLINE - kept).min(spill.len());
        for (i, (ts, amount)) in spill.drain(..refill).enumerate() {
            self.pending[kept + i] = [ts, amount];
        }
        self.pending_len = (kept + refill) as u16;
        self.spilled = u8::from(!spill.is_empty());
    }

    /// Forgets what the rules can no longer use at `now`.
    fn expire(&mut self, now: u64) {
        let cutoff = now.saturating_sub(HORIZON_MS);
        let n = self.recent_len as usize;
        let old = self.recent[..n].iter().take_while(|&&ts| ts < cutoff).count();
        self.recent.copy_within(old..n, 0);
        self.recent_len = (n - old) as u32;
        if self.has_small != 0 && self.last_small + HORIZON_MS < now {
            self.has_small = 0;
        }
    }

    /// Records an evaluated transaction at `now` (at or after every recorded one).
    fn record(&mut self, now: u64) {
        let n = self.recent_len as usize;
        if n == RECENT_KEPT {
            self.recent.copy_within(1.., 0);
            self.recent[RECENT_KEPT - 1] = now;
        } else {
            self.recent[n] = now;
            self.recent_len += 1;
        }
    }

    /// The small transaction a large one at `now` follows, if any.
    fn after_small(&self, now: u64) -> bool {
        self.has_small != 0 && self.last_small < now && now <= self.last_small + HORIZON_MS
    }

    /// Whether nothing in the state can matter any more.
    fn idle(&self) -> bool {
        self.pending_len == 0 && self.recent_len == 0 && self.has_small == 0
    }
}

/// The rules as a process function over one card's transactions.
#[derive(Default)]
pub struct FraudRules {
    card: PodValueState<CardState>,
    /// Pending transactions beyond [`PENDING_INLINE`] of a card, `(ts, amount)` in arrival order.
    overflow: ListState<(u64, u64)>,
    /// Amounts of one timestamp's group, reused between timers.
    group: Vec<u64>,
    /// A card's overflow list while its timer runs, reused between timers.
    spill: Vec<(u64, u64)>,
}

impl KeyedProcessFunction<u64, Transaction> for FraudRules {
    type Out = Alert;
    type Side = ();

    fn open(&mut self, state: &mut StateRegistry<'_, u64>) {
        self.card = state.pod_value("card");
        self.overflow = state.list("pending-overflow");
    }

    fn process_element(&mut self, t: &Transaction, ctx: &mut ProcessContext<'_, u64, Alert, ()>) {
        let card = ctx.pod_value_or_insert_with(&self.card, CardState::default);
        if !card.push_pending(t.ts_ms, t.amount_cents) {
            card.spilled = 1;
            ctx.list_push(&self.overflow, (t.ts_ms, t.amount_cents));
        }
        ctx.register_event_time_timer(EventTime(t.ts_ms));
    }

    fn on_timer(&mut self, at: EventTime, _: TimeDomain, ctx: &mut ProcessContext<'_, u64, Alert, ()>) {
        let now = at.0;
        let card_id = *ctx.key();
        // A copy: `ctx` is needed meanwhile (overflow list, emits); written back only if changed.
        let Some(before) = ctx.pod_value(&self.card).copied() else { return };
        let mut card = before;
        card.expire(now);
        // The group of transactions at `now`, evaluated against what came strictly before.
        self.group.clear();
        self.spill.clear();
        if card.spilled != 0 {
            self.spill = ctx.list_take(&self.overflow);
        }
        card.take_group(now, &mut self.group, &mut self.spill);
        if !self.spill.is_empty() {
            ctx.state().list_set(&self.overflow, std::mem::take(&mut self.spill));
        }
        if !self.group.is_empty() {
            let burst = card.recent_len as usize + self.group.len() >= BURST_COUNT;
            let after_small = card.after_small(now);
            for &amount in &self.group {
                if after_small && amount > LARGE_ABOVE {
                    ctx.emit(Alert { card_id, ts_ms: now, rule: Rule::SmallThenLarge, amount_cents: amount });
                }
                if burst {
                    ctx.emit(Alert { card_id, ts_ms: now, rule: Rule::Burst, amount_cents: amount });
                }
                card.record(now);
            }
            if self.group.iter().any(|&a| a < SMALL_BELOW) {
                card.has_small = 1;
                card.last_small = now;
            }
        }
        if card.idle() {
            // Nothing in it can matter any more: the card's state goes.
            ctx.clear_pod_value(&self.card);
        } else {
            if card != before {
                // An unchanged entry is not rewritten: it stays out of the next incremental
                // checkpoint.
                ctx.set_pod_value(&self.card, card);
            }
            if !self.group.is_empty() {
                // Expire this group's traces once no rule can see them.
                ctx.register_event_time_timer(EventTime(now + HORIZON_MS + 1));
            }
        }
    }
}

/// The job's dataflow on a stream of transactions: alerts and late transactions.
pub fn alerts<'s>(
    df: &Dataflow<'s>,
    transactions: RillStream<'s, Transaction>,
) -> (RillStream<'s, Alert>, RillStream<'s, Transaction>) {
    let ProcessOutput { output, late, .. } =
        transactions.process_keyed(df, "fraud-rules", |t: &Transaction| t.card_id, FraudRules::default());
    (output, late)
}

/// The generator behind [`Input::Generate`] for fraud.
pub fn generator(events: u64, seed: u64, late_fraction: f64) -> rill::Result<Fraud> {
    Fraud::new(FraudConfig { seed, events, late_fraction, ..FraudConfig::default() })
}

/// Runs the fraud job.
pub fn run_fraud(opts: &JobOptions, input: &Input) -> rill::Result<JobReport> {
    let source = resolve(opts, input, "fraud", |input| match input {
        Input::Generate { events, seed, late_fraction } => Some(generator(*events, *seed, *late_fraction)),
        Input::Fraud(config) => Some(Fraud::new(config.clone())),
        _ => None,
    })?;
    fn dataflow<'s>(
        df: &Dataflow<'s>,
        transactions: RillStream<'s, Transaction>,
        _: &JobOptions,
    ) -> (RillStream<'s, Alert>, RillStream<'s, Transaction>) {
        alerts(df, transactions)
    }
    run_job(opts, SOURCE, source, dataflow, |a: &Alert| a.ts_ms)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    /// The unbounded per-card state the rules were first written with: every pending
    /// transaction and every evaluated timestamp of the last minute.
    #[derive(Default)]
    struct Unbounded {
        pending: Vec<(u64, u64)>,
        recent: VecDeque<u64>,
        last_small: Option<u64>,
    }

    /// A small deterministic generator (SplitMix64).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, bound: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % bound
        }
    }

    /// One card through random arrivals and timers in non-decreasing time, the fixed layout
    /// against the unbounded state: the same groups (amounts in arrival order), burst and
    /// small-then-large decisions and expiry, with the overflow list used often.
    #[test]
    fn fixed_layout_decides_like_the_unbounded_state() {
        let mut bursts = 0;
        for seed in 0..200 {
            let mut rng = Rng(seed);
            let (mut fixed, mut spill) = (CardState::default(), Vec::new());
            let mut model = Unbounded::default();
            let mut now = 1_000_000;
            for _ in 0..300 {
                // Arrivals at or after `now`, sometimes many at one timestamp.
                for _ in 0..rng.next(6) {
                    let ts = now + rng.next(3) * rng.next(40_000);
                    let amount = [50, 5_000, 60_000][rng.next(3) as usize];
                    model.pending.push((ts, amount));
                    if !fixed.push_pending(ts, amount) {
                        fixed.spilled = 1;
                        spill.push((ts, amount));
                    }
                }
                // A timer at the earliest pending time, or a cleanup timer later.
                let earliest = model.pending.iter().map(|p| p.0).min();
                // (Every pending transaction is at or after `now`: timers fire in order.)
                now = match earliest {
                    Some(t) if rng.next(4) > 0 => t,
                    Some(t) => t.min(now + rng.next(2 * HORIZON_MS)),
                    None => now + rng.next(2 * HORIZON_MS),
                };
                let cutoff = now.saturating_sub(HORIZON_MS);
                while model.recent.front().is_some_and(|&ts| ts < cutoff) {
                    model.recent.pop_front();
                }
                if model.last_small.is_some_and(|s| s + HORIZON_MS < now) {
                    model.last_small = None;
                }
                let mut want = Vec::new();
                model.pending.retain(|&(ts, a)| {
                    if ts == now {
                        want.push(a);
                    }
                    ts != now
                });
                let want_burst = model.recent.len() + want.len() >= BURST_COUNT;
                let want_after = model.last_small.is_some_and(|s| s < now && now <= s + HORIZON_MS);

                fixed.expire(now);
                let mut group = Vec::new();
                fixed.take_group(now, &mut group, &mut spill);
                assert_eq!(group, want, "seed {seed}: group at {now}");
                if !group.is_empty() {
                    let burst = fixed.recent_len as usize + group.len() >= BURST_COUNT;
                    assert_eq!(burst, want_burst, "seed {seed}: burst at {now}");
                    assert_eq!(fixed.after_small(now), want_after, "seed {seed}: small before {now}");
                    bursts += usize::from(burst);
                    for &a in &group {
                        fixed.record(now);
                        model.recent.push_back(now);
                        if a < SMALL_BELOW {
                            fixed.has_small = 1;
                            fixed.last_small = now;
                            model.last_small = Some(now);
                        }
                    }
                }
                let model_idle = model.pending.is_empty() && model.recent.is_empty() && model.last_small.is_none();
                assert_eq!(fixed.idle(), model_idle, "seed {seed}: idle at {now}");
                assert_eq!(fixed.recent_len as usize, model.recent.len().min(RECENT_KEPT));
                assert_eq!(fixed.spilled != 0, !spill.is_empty());
                assert_eq!(usize::from(fixed.pending_len) + spill.len(), model.pending.len());
            }
        }
        assert!(bursts > 100, "the input reaches the burst rule ({bursts} bursts)");
    }
}
