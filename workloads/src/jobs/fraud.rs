//! The fraud job: per card, a keyed process function with state and event-time timers that
//! evaluates two rules in event-time order, emitting `card_id,ts_ms,rule,amount_cents`.
//!
//! * `small_then_large`: an alert for each transaction `L` with `amount_cents > 50000` for which
//!   the same card has a transaction `S` with `amount_cents < 100` and
//!   `S.ts_ms < L.ts_ms <= S.ts_ms + 60000`.
//! * `burst`: an alert for each transaction `T` for which the card has at least 11
//!   transactions (`T` and all with equal timestamps included) in `[T.ts_ms - 60000, T.ts_ms]`.
//!
//! How: each transaction is buffered in its card's state ([`CardState`], one entry per card)
//! with an event-time timer at its timestamp. When the watermark passes `t`, the timer evaluates the group of transactions at
//! `t` against what came strictly before (the latest small transaction, and the timestamps of
//! the last 60 s), then records the group. A cleanup timer 60 s after each group expires what no
//! rule can use any more, so a card's state never outlives its last minute of activity.
//! Transactions below their source's watermark are late (the job's late output).

use rill::api::process::{KeyedProcessFunction, ProcessContext};
use rill::csv::{CsvRecord, CsvRow, FieldError, write_u64};
use rill::operators::process::{ProcessKeyed, ProcessOutput};
use rill::state::{StateRegistry, TimeDomain, ValueState};
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

/// Everything the rules keep about one card, in one state entry (one lookup per event).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardState {
    /// Transactions waiting for the watermark: `(ts, amount)`, in arrival order.
    pending: Vec<(u64, u64)>,
    /// Timestamps (one per transaction, ascending) of the evaluated last minute.
    recent: std::collections::VecDeque<u64>,
    /// Timestamp of the latest evaluated small transaction.
    last_small: Option<u64>,
}

/// The rules as a process function over one card's transactions.
#[derive(Default)]
pub struct FraudRules {
    card: ValueState<CardState>,
    /// Amounts of one timestamp's group, reused between timers.
    group: Vec<u64>,
}

impl KeyedProcessFunction<u64, Transaction> for FraudRules {
    type Out = Alert;
    type Side = ();

    fn open(&mut self, state: &mut StateRegistry<'_, u64>) {
        self.card = state.value("card");
    }

    fn process_element(&mut self, t: &Transaction, ctx: &mut ProcessContext<'_, u64, Alert, ()>) {
        ctx.value_or_insert_with(&self.card, CardState::default).pending.push((t.ts_ms, t.amount_cents));
        ctx.register_event_time_timer(EventTime(t.ts_ms));
    }

    fn on_timer(&mut self, at: EventTime, _: TimeDomain, ctx: &mut ProcessContext<'_, u64, Alert, ()>) {
        let now = at.0;
        let card_id = *ctx.key();
        let Some(card) = ctx.value_mut(&self.card) else { return };
        // Forget what the rules can no longer use at `now`.
        let cutoff = now.saturating_sub(HORIZON_MS);
        while card.recent.front().is_some_and(|&ts| ts < cutoff) {
            card.recent.pop_front();
        }
        if card.last_small.is_some_and(|s| s + HORIZON_MS < now) {
            card.last_small = None;
        }
        // The group of transactions at `now`, evaluated against what came strictly before.
        self.group.clear();
        card.pending.retain(|&(ts, amount)| {
            if ts == now {
                self.group.push(amount);
            }
            ts != now
        });
        let mut alerts = Vec::new();
        if !self.group.is_empty() {
            let burst = card.recent.len() + self.group.len() >= BURST_COUNT;
            let after_small = card.last_small.is_some_and(|s| s < now && now <= s + HORIZON_MS);
            for &amount in &self.group {
                if after_small && amount > LARGE_ABOVE {
                    alerts.push(Alert { card_id, ts_ms: now, rule: Rule::SmallThenLarge, amount_cents: amount });
                }
                if burst {
                    alerts.push(Alert { card_id, ts_ms: now, rule: Rule::Burst, amount_cents: amount });
                }
                card.recent.push_back(now);
            }
            if self.group.iter().any(|&a| a < SMALL_BELOW) {
                card.last_small = Some(now);
            }
        }
        let idle = card.pending.is_empty() && card.recent.is_empty() && card.last_small.is_none();
        if idle {
            // Nothing in it can matter any more: the card's state goes.
            ctx.clear_value(&self.card);
        } else if !self.group.is_empty() {
            // Expire this group's traces once no rule can see them.
            ctx.register_event_time_timer(EventTime(now + HORIZON_MS + 1));
        }
        for a in alerts {
            ctx.emit(a);
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
