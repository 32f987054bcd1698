//! The generators against independent references: determinism, CSV round trips, golden
//! files, and the statistical and structural promises of each workload's docs.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rill::csv::{CsvRecord, CsvRow};
use rill_workloads::fraud::{Fraud, FraudConfig, PatternKind, Transaction};
use rill_workloads::sensors::{IDLE_PERIOD_MS, Sensors, SensorsConfig};
use rill_workloads::{Generator, export_generated, write_csv};

/// The nominal time, computed the obvious way.
fn nominal(base: u64, rate: u64, i: u64) -> u64 {
    base + (u128::from(i) * 1000 / u128::from(rate)) as u64
}

fn sensors(config: SensorsConfig) -> Sensors {
    Sensors::new(config).expect("valid sensors config")
}

fn fraud(config: FraudConfig) -> Fraud {
    Fraud::new(config).expect("valid fraud config")
}

fn all<G: Generator>(g: &G, n: u64) -> Vec<G::Event> {
    let mut out = Vec::new();
    g.fill(0..n, &mut out);
    out
}

// ---------------------------------------------------------------- determinism

fn check_fill_equals_event<G: Generator>(g: &G)
where
    G::Event: PartialEq + std::fmt::Debug,
{
    for range in [0..5_000, 123_457..131_000, (1 << 40)..(1 << 40) + 3_000] {
        let mut out = vec![g.event(7)]; // fill appends
        g.fill(range.clone(), &mut out);
        assert_eq!(out.len() as u64, range.end - range.start + 1);
        for (k, i) in range.enumerate() {
            assert_eq!(out[k + 1], g.event(i), "event {i}");
        }
    }
}

#[test]
fn fill_equals_event() {
    check_fill_equals_event(&sensors(SensorsConfig { late_fraction: 0.1, ..SensorsConfig::default() }));
    check_fill_equals_event(&sensors(SensorsConfig { event_rate_per_s: 7, ..SensorsConfig::default() }));
    check_fill_equals_event(&fraud(FraudConfig { late_fraction: 0.1, fraud_rate: 0.01, ..FraudConfig::default() }));
    check_fill_equals_event(&fraud(FraudConfig { event_rate_per_s: 333, ..FraudConfig::default() }));
}

#[test]
fn same_seed_same_events_other_seed_other_events() {
    let a = all(&sensors(SensorsConfig::default()), 10_000);
    assert_eq!(a, all(&sensors(SensorsConfig::default()), 10_000));
    let b = all(&sensors(SensorsConfig { seed: 43, ..SensorsConfig::default() }), 10_000);
    let same = a.iter().zip(&b).filter(|(x, y)| x.sensor_id == y.sensor_id).count();
    assert!(same < 10, "{same} of 10000 sensor ids agree across seeds");

    let a = all(&fraud(FraudConfig::default()), 10_000);
    assert_eq!(a, all(&fraud(FraudConfig::default()), 10_000));
    let b = all(&fraud(FraudConfig { seed: 43, ..FraudConfig::default() }), 10_000);
    let same = a.iter().zip(&b).filter(|(x, y)| x.card_id == y.card_id || x.amount_cents == y.amount_cents).count();
    assert!(same < 100, "{same} of 10000 transactions agree across seeds");
}

// ---------------------------------------------------------------- CSV

fn parse_file<R: CsvRecord>(path: &Path) -> Vec<R> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n') && !text.contains('\r'));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(R::header().as_str()));
    lines.map(|l| R::parse_csv(&mut CsvRow::new(l.as_bytes())).unwrap_or_else(|e| panic!("`{l}`: {e:?}"))).collect()
}

fn check_csv_round_trip<G: Generator>(g: &G, dir: &Path)
where
    G::Event: CsvRecord + PartialEq + std::fmt::Debug + Send,
{
    let events = all(g, g.events());
    let sequential = dir.join("sequential.csv");
    assert_eq!(write_csv(&sequential, (0..g.events()).map(|i| g.event(i))).unwrap(), g.events());
    assert_eq!(parse_file::<G::Event>(&sequential), events);
    let parallel = dir.join("parallel.csv");
    assert_eq!(export_generated(g, &parallel).unwrap(), g.events());
    assert!(std::fs::read(&sequential).unwrap() == std::fs::read(&parallel).unwrap(), "parallel export differs");
}

#[test]
fn csv_round_trip_and_parallel_export() {
    let dir = tempfile::tempdir().unwrap();
    // Not a multiple of the export chunk, and several chunks per export thread.
    let events = 5 * rill_workloads::CHUNK_EVENTS + 123;
    check_csv_round_trip(
        &sensors(SensorsConfig { events, late_fraction: 0.2, ..SensorsConfig::default() }),
        dir.path(),
    );
    check_csv_round_trip(&fraud(FraudConfig { events, late_fraction: 0.2, ..FraudConfig::default() }), dir.path());
    let path = dir.path().join("empty.csv");
    assert_eq!(
        rill_workloads::sensors::export_csv(&SensorsConfig { events: 0, ..SensorsConfig::default() }, &path).unwrap(),
        0
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "ts_ms,sensor_id,room,temp\n");
}

#[test]
fn export_reports_bad_paths_and_configs() {
    let err = write_csv(Path::new("/nonexistent-dir/x.csv"), std::iter::empty::<Transaction>()).unwrap_err();
    assert!(matches!(err, rill::Error::Io { .. }) && err.to_string().contains("/nonexistent-dir/x.csv"), "{err}");
    let err = rill_workloads::fraud::export_csv(&FraudConfig { cards: 0, ..FraudConfig::default() }, Path::new("x"));
    assert!(matches!(err, Err(rill::Error::Config(_))));
}

// ---------------------------------------------------------------- golden files

fn check_golden<R: CsvRecord>(name: &str, records: impl Iterator<Item = R>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    write_csv(&path, records).unwrap();
    let got = std::fs::read_to_string(&path).unwrap();
    let golden_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    let want = std::fs::read_to_string(&golden_path).unwrap_or_else(|e| panic!("{}: {e}", golden_path.display()));
    assert!(got == want, "generation changed: {}\n--- golden\n{want}--- now\n{got}", golden_path.display());
}

#[test]
fn golden_first_rows() {
    let s = sensors(SensorsConfig { seed: 42, ..SensorsConfig::default() });
    check_golden("sensors.csv", (0..20).map(|i| s.event(i)));
    let f = fraud(FraudConfig { seed: 42, ..FraudConfig::default() });
    check_golden("fraud.csv", (0..20).map(|i| f.event(i)));
    // The events of the first instance of each pattern kind.
    let mut rows = Vec::new();
    for kind in [PatternKind::SmallThenLarge, PatternKind::Burst] {
        let first = (0..).find(|&i| f.pattern_of(i).is_some_and(|p| p.kind == kind && p.position == 0)).unwrap();
        rows.extend((first..first + 64).filter(|&i| f.pattern_of(i).is_some_and(|p| p.first_index == first)));
    }
    check_golden("fraud_patterns.csv", rows.into_iter().map(|i| f.event(i)));
}

// ---------------------------------------------------------------- sensors

#[test]
fn sensor_rooms_are_fixed_and_zipf_skewed() {
    let config = SensorsConfig::default();
    let g = sensors(config.clone());
    let events = all(&g, 1_000_000);
    let mut per_room = vec![0u64; config.rooms as usize];
    for e in &events {
        assert_eq!(e.room, g.room_of(e.sensor_id), "sensor {} changed room", e.sensor_id);
        assert!(e.sensor_id < config.sensors);
        per_room[e.room as usize] += 1;
    }
    per_room.sort_unstable_by(|a, b| b.cmp(a));
    let top = config.rooms as usize / 100;
    let share = per_room[..top].iter().sum::<u64>() as f64 / events.len() as f64;
    // Reference: the Zipf mass of the top 1% of ranks.
    let weights: Vec<f64> = (1..=config.rooms).map(|r| f64::from(r).powf(-config.zipf_exponent)).collect();
    let expected = weights[..top].iter().sum::<f64>() / weights.iter().sum::<f64>();
    assert!(share > 0.3, "top 1% of rooms hold only {share}");
    assert!((share - expected).abs() < 0.05, "top 1% share {share}, Zipf says {expected}");
    assert!(per_room.iter().filter(|&&c| c > 0).count() > 900, "most rooms have readings");
}

#[test]
fn sensor_timestamps_respect_jitter_and_lateness() {
    let config = SensorsConfig {
        event_rate_per_s: 20_000,
        late_fraction: 0.05,
        late_delay_ms: 5_000,
        ..SensorsConfig::default()
    };
    let g = sensors(config.clone());
    let events = all(&g, 1_000_000);
    let (mut eligible, mut late) = (0u64, 0u64);
    let mut last_late = None;
    for (i, e) in (0u64..).zip(&events) {
        let n = nominal(config.base_time_ms, config.event_rate_per_s, i);
        assert_eq!(g.nominal_time(i), n);
        if n >= config.base_time_ms + 2 * config.late_delay_ms {
            eligible += 1;
        }
        if g.is_late(i) {
            late += 1;
            assert!(n >= config.base_time_ms + 2 * config.late_delay_ms, "event {i} late too early");
            assert!(e.ts_ms <= n - config.late_delay_ms && e.ts_ms > n - 2 * config.late_delay_ms, "late event {i}");
            last_late = Some((i, e.ts_ms));
        } else {
            assert!(e.ts_ms <= n && e.ts_ms + config.max_jitter_ms >= n && e.ts_ms >= config.base_time_ms, "event {i}");
            // The guarantee: every on-time event at or after a late one's nominal time trails it
            // by at least late_delay - max_jitter.
            if let Some((j, ts)) = last_late
                && i - j < 1_000
            {
                assert!(e.ts_ms >= ts + config.late_delay_ms - config.max_jitter_ms, "event {i} vs late {j}");
            }
        }
    }
    let share = late as f64 / eligible as f64;
    // Binomial(800k, 0.05): sd 0.00024.
    assert!((share - 0.05).abs() < 0.0015, "late share {share} of {eligible} eligible");
}

#[test]
fn idle_sensors_are_silent_in_their_period() {
    let config = SensorsConfig { event_rate_per_s: 10_000, ..SensorsConfig::default() };
    let g = sensors(config.clone());
    let events = all(&g, 1_300_000); // 130 s: periods partly, then fully, covered
    let mut seen: HashMap<u64, HashSet<u32>> = HashMap::new();
    for e in &events {
        let period = e.ts_ms / IDLE_PERIOD_MS;
        assert!(!g.is_idle(e.sensor_id, period), "idle sensor {} has a reading at {}", e.sensor_id, e.ts_ms);
        seen.entry(period).or_default().insert(e.sensor_id);
    }
    let expected_idle = (config.idle_fraction * f64::from(config.sensors)) as usize;
    let first = config.base_time_ms / IDLE_PERIOD_MS;
    let full_period = (first + 1..first + 3)
        .find(|&p| {
            p * IDLE_PERIOD_MS >= config.base_time_ms && (p + 1) * IDLE_PERIOD_MS <= events.last().unwrap().ts_ms
        })
        .expect("a period fully covered");
    for period in [full_period, full_period + 7, 12_345] {
        let idle: HashSet<u32> = (0..config.sensors).filter(|&s| g.is_idle(s, period)).collect();
        assert_eq!(idle.len(), expected_idle, "period {period}");
    }
    // In a fully covered period (600k readings, ~6 per active sensor) nearly every active
    // sensor speaks, and no idle one: the silence is not chance.
    let idle: HashSet<u32> = (0..config.sensors).filter(|&s| g.is_idle(s, full_period)).collect();
    let spoke = &seen[&full_period];
    assert!(spoke.is_disjoint(&idle));
    let active = config.sensors as usize - expected_idle;
    assert!(spoke.len() as f64 > 0.99 * active as f64, "{} of {active} active sensors spoke", spoke.len());
    // Idle sets move between periods.
    let next: HashSet<u32> = (0..config.sensors).filter(|&s| g.is_idle(s, full_period + 1)).collect();
    assert!(idle.intersection(&next).count() < expected_idle / 2);
}

#[test]
fn sensor_temperatures_are_plausible() {
    let g = sensors(SensorsConfig::default());
    let events = all(&g, 200_000);
    let (min, max) = events.iter().fold((i32::MAX, i32::MIN), |(lo, hi), e| (lo.min(e.temp_dc), hi.max(e.temp_dc)));
    // Baseline 18.0..=24.0, drift +-3.0, calibration +-0.5, noise +-0.3.
    assert!(min >= 142 && max <= 278, "temperatures in [{min}, {max}]");
    assert!(max - min > 40, "temperatures hardly vary: [{min}, {max}]");
    let one_sensor: Vec<i32> =
        events.iter().filter(|e| e.sensor_id == events[0].sensor_id).map(|e| e.temp_dc).collect();
    let spread = one_sensor.iter().max().unwrap() - one_sensor.iter().min().unwrap();
    assert!(spread <= 10, "one sensor over 2 s varies by {spread} tenths");
}

// ---------------------------------------------------------------- fraud

/// Alerts of the naive reference rules, evaluated per card in event-time order.
#[derive(Debug, Default)]
struct Alerts {
    small_then_large: Vec<Transaction>,
    burst: Vec<Transaction>,
}

fn evaluate(events: &[Transaction]) -> Alerts {
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|t| (t.card_id, t.ts_ms));
    let mut alerts = Alerts::default();
    for card in sorted.chunk_by(|a, b| a.card_id == b.card_id) {
        for t in card {
            if t.amount_cents > 50_000
                && card.iter().any(|s| s.amount_cents < 100 && s.ts_ms < t.ts_ms && t.ts_ms <= s.ts_ms + 60_000)
            {
                alerts.small_then_large.push(*t);
            }
            let in_window = card.iter().filter(|u| u.ts_ms + 60_000 >= t.ts_ms && u.ts_ms <= t.ts_ms).count();
            if in_window >= 11 {
                alerts.burst.push(*t);
            }
        }
    }
    alerts
}

#[test]
fn fraud_patterns_make_both_rules_fire() {
    let config = FraudConfig { late_fraction: 0.01, ..FraudConfig::default() };
    let g = fraud(config.clone());
    let events = all(&g, 1_000_000);
    let mut instances: HashMap<u64, Vec<(u64, Transaction)>> = HashMap::new();
    let mut kinds = HashMap::new();
    for (i, e) in (0u64..).zip(&events) {
        if let Some(p) = g.pattern_of(i) {
            assert_eq!(e.card_id, p.card_id);
            assert!(!g.is_late(i));
            instances.entry(p.first_index).or_default().push((i, *e));
            kinds.insert(p.first_index, (p.kind, p.len));
        }
    }
    // Binomial over 15 625 slots with p = 0.128: mean 2000, sd 42.
    assert!((1_800..2_200).contains(&instances.len()), "{} pattern instances", instances.len());
    let (mut injected_large, mut injected_burst_alerts, mut equal_ts) = (0, 0, 0);
    let mut burst_cards = HashSet::new();
    for (first, txs) in &instances {
        let (kind, len) = kinds[first];
        assert_eq!(txs.len() as u32, len, "instance {first} incomplete");
        assert_eq!(txs[0].0, *first);
        let span = txs.iter().map(|t| t.1.ts_ms).max().unwrap() - txs.iter().map(|t| t.1.ts_ms).min().unwrap();
        assert!(span <= 60_000);
        match kind {
            PatternKind::SmallThenLarge => {
                assert!((2..=4).contains(&len));
                let small = txs[0].1;
                assert!(small.amount_cents < 100);
                for (_, large) in &txs[1..] {
                    assert!(large.amount_cents > 50_000);
                    assert!(small.ts_ms < large.ts_ms && large.ts_ms <= small.ts_ms + 60_000);
                    injected_large += 1;
                }
            }
            PatternKind::Burst => {
                assert!((11..=20).contains(&len));
                injected_burst_alerts += len as usize - 10;
                burst_cards.insert(txs[0].1.card_id);
                equal_ts += txs.windows(2).filter(|w| w[0].1.ts_ms == w[1].1.ts_ms).count();
            }
        }
    }
    assert!(equal_ts > 1_000, "only {equal_ts} equal timestamps inside bursts");

    let alerts = evaluate(&events);
    // Every injected large transaction alerts, plus a few by chance.
    assert!(alerts.small_then_large.len() >= injected_large, "{} < {injected_large}", alerts.small_then_large.len());
    assert!(alerts.small_then_large.len() < injected_large + 200);
    assert!(injected_large > 1_000, "{injected_large} injected large transactions");
    // Every burst alerts at least len - 10 times; every burst alert is on a burst card.
    assert!(alerts.burst.len() >= injected_burst_alerts, "{} < {injected_burst_alerts}", alerts.burst.len());
    assert!(injected_burst_alerts > 3_000);
    assert!(alerts.burst.iter().all(|t| burst_cards.contains(&t.card_id)), "burst alert on a card without a burst");
    // On-time bounds hold for pattern events too.
    for (i, e) in (0u64..).zip(&events) {
        let n = nominal(config.base_time_ms, config.event_rate_per_s, i);
        if !g.is_late(i) {
            assert!(e.ts_ms <= n && e.ts_ms + config.max_jitter_ms >= n, "event {i}");
        } else {
            assert!(e.ts_ms <= n - config.late_delay_ms && e.ts_ms > n - 2 * config.late_delay_ms, "event {i}");
        }
    }
}

#[test]
fn normal_fraud_traffic_rarely_triggers_rules() {
    let config = FraudConfig { fraud_rate: 0.0, ..FraudConfig::default() };
    let g = fraud(config);
    let events = all(&g, 1_000_000);
    assert!((0..1_000_000).all(|i| g.pattern_of(i).is_none()));
    let alerts = evaluate(&events);
    assert!(alerts.burst.len() <= 2, "{} burst alerts from normal traffic", alerts.burst.len());
    // About 21 expected by chance: 500k same-card pairs, 84% of them within 60 s over the
    // 100 s of event time, times P(small first, then large) = 1% x 0.5%.
    let chance = alerts.small_then_large.len();
    assert!((5..=100).contains(&chance), "{chance} small-then-large alerts by chance");
    let small = events.iter().filter(|t| t.amount_cents < 100).count();
    let large = events.iter().filter(|t| t.amount_cents > 50_000).count();
    assert!((9_000..11_000).contains(&small) && (4_400..5_600).contains(&large), "{small} small, {large} large");
}

#[test]
fn fraud_late_fraction_matches() {
    let config = FraudConfig { late_fraction: 0.1, late_delay_ms: 2_000, ..FraudConfig::default() };
    let g = fraud(config.clone());
    let (mut eligible, mut late) = (0u64, 0u64);
    for i in 0..500_000 {
        let n = nominal(config.base_time_ms, config.event_rate_per_s, i);
        if n >= config.base_time_ms + 4_000 && g.pattern_of(i).is_none() {
            eligible += 1;
        }
        late += u64::from(g.is_late(i));
    }
    let share = late as f64 / eligible as f64;
    // Binomial(~450k, 0.1): sd 0.00045.
    assert!((share - 0.1).abs() < 0.002, "late share {share}");
}
