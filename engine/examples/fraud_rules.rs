//! A fraud-style keyed process function written against Rill's public API: per card, alert
//! when more than three transactions happen within ten seconds of event time. Events are
//! buffered per card until the watermark passes them, so the rule sees each card's
//! transactions in event-time order; a timer expires what the rule can no longer use.
//!
//! Run with `cargo run --release -p rill --example fraud_rules`.

use rill::operators::process::ProcessKeyed;
use rill::operators::source::SourceOptions;
use rill::process::{KeyedProcessFunction, ProcessContext};
use rill::state::{ListState, MapState, StateRegistry, TimeDomain};
use rill::time::watermark::WatermarkStrategy;
use rill::{Captured, Counter, Event, EventTime, JobConfig, Sink};
use serde::{Deserialize, Serialize};

const WINDOW_MS: u64 = 10_000;

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Payment {
    ts_ms: u64,
    card: u64,
    cents: u64,
}

impl Event for Payment {
    fn event_time(&self) -> EventTime {
        EventTime(self.ts_ms)
    }
}

/// Payment `i`: one every 100 ms, 50 cards, card 7 bursts every minute.
fn payment(i: u64) -> Payment {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let card = if i % 600 < 6 { 7 } else { h % 50 };
    Payment { ts_ms: (i * 100).saturating_sub(h % 200), card, cents: 100 + h % 10_000 }
}

#[derive(Default)]
struct TooManyPayments {
    /// Payments waiting for the watermark, by event time.
    pending: MapState<u64, u32>,
    /// Event times of the evaluated payments of the last ten seconds.
    recent: ListState<u64>,
}

impl KeyedProcessFunction<u64, Payment> for TooManyPayments {
    type Out = (u64, u64, usize);
    type Side = ();

    fn open(&mut self, state: &mut StateRegistry<'_, u64>) {
        self.pending = state.map("pending");
        self.recent = state.list("recent");
    }

    fn process_element(&mut self, p: &Payment, ctx: &mut ProcessContext<'_, u64, Self::Out, ()>) {
        let n = ctx.map_get(&self.pending, &p.ts_ms).copied().unwrap_or(0);
        ctx.map_insert(&self.pending, p.ts_ms, n + 1);
        ctx.register_event_time_timer(EventTime(p.ts_ms));
    }

    fn on_timer(&mut self, at: EventTime, _: TimeDomain, ctx: &mut ProcessContext<'_, u64, Self::Out, ()>) {
        let now = at.0;
        ctx.state().list_retain(&self.recent, |&t| t + WINDOW_MS > now);
        if let Some(n) = ctx.map_remove(&self.pending, &now) {
            for _ in 0..n {
                ctx.list_push(&self.recent, now);
            }
            let count = ctx.list(&self.recent).len();
            if count > 3 {
                let card = *ctx.key();
                ctx.emit((card, now, count));
            }
            ctx.register_event_time_timer(EventTime(now + WINDOW_MS));
        }
        if ctx.list(&self.recent).is_empty() {
            ctx.state().clear_all_for_current_key();
        }
    }
}

fn main() -> rill::Result<()> {
    let alerts = Captured::new();
    let sink = alerts.clone();
    let late = Counter::new();
    let late_sink = late.clone();
    let outcome = rill::execute(JobConfig::with_workers(2), move |df| {
        let options = SourceOptions { strategy: WatermarkStrategy::bounded_out_of_orderness(500), watermark_log: None };
        let payments = df.generator_source("payments", 6_000, options, |range, out| out.extend(range.map(payment)));
        let out = payments.process_keyed(df, "too-many-payments", |p: &Payment| p.card, TooManyPayments::default());
        out.output.capture_into(df, &sink);
        out.late.count_into(df, &late_sink);
    })?;
    let mut alerts = alerts.take();
    alerts.sort_unstable();
    for (card, ts, count) in &alerts {
        println!("card {card}: {count} payments in the 10 s up to {ts} ms");
    }
    assert!(alerts.iter().any(|a| a.0 == 7), "the bursting card is caught");
    let state: u64 = outcome.metrics.iter().filter(|m| m.name == "too-many-payments").map(|m| m.state_keys).sum();
    assert_eq!(state, 0, "all per-card state expired");
    eprintln!("{} alerts, {} late payments, in {:?}", alerts.len(), late.get(), outcome.elapsed);
    Ok(())
}
