//! The Nexmark generator against independent references: `java.util.Random` outputs printed by
//! a JVM (OpenJDK 17), a Beam-generator reference stream produced on the JVM
//! (`golden/nexmark_beam_seed0.csv`), the invariants of NEXMARK.md section 9, CSV round trips
//! and golden files.
//!
//! Set `NEXMARK_BLESS=1` to rewrite the `nexmark_{person,auction,bid}.csv` golden files after
//! an intended change of the generated stream.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rill::csv::{CsvRecord, CsvRow};
use rill_workloads::nexmark::{
    Auction, Bid, JavaRandom, Nexmark, NexmarkConfig, NexmarkEvent, Person, export_csv, last_base0_auction_id,
    last_base0_person_id,
};
use rill_workloads::{CHUNK_EVENTS, Generator, write_csv};

fn nexmark(config: NexmarkConfig) -> Nexmark {
    Nexmark::new(config).expect("valid Nexmark config")
}

fn seed42() -> NexmarkConfig {
    NexmarkConfig { seed: 42, ..NexmarkConfig::default() }
}

/// Events of the given index range.
fn events(g: &Nexmark, range: std::ops::Range<u64>) -> Vec<NexmarkEvent> {
    let mut out = Vec::new();
    g.fill(range, &mut out);
    out
}

/// 200 000 events of seed 42 (4 000 persons, 12 000 auctions, 184 000 bids), shared by the
/// statistical tests.
fn sample() -> &'static [NexmarkEvent] {
    static SAMPLE: OnceLock<Vec<NexmarkEvent>> = OnceLock::new();
    SAMPLE.get_or_init(|| events(&nexmark(seed42()), 0..200_000))
}

fn bids(events: &[NexmarkEvent]) -> impl Iterator<Item = (u64, &Bid)> {
    events.iter().enumerate().filter_map(|(i, e)| match e {
        NexmarkEvent::Bid(b) => Some((i as u64, b)),
        _ => None,
    })
}

fn auctions(events: &[NexmarkEvent]) -> impl Iterator<Item = (u64, &Auction)> {
    events.iter().enumerate().filter_map(|(i, e)| match e {
        NexmarkEvent::Auction(a) => Some((i as u64, a)),
        _ => None,
    })
}

fn persons(events: &[NexmarkEvent]) -> impl Iterator<Item = (u64, &Person)> {
    events.iter().enumerate().filter_map(|(i, e)| match e {
        NexmarkEvent::Person(p) => Some((i as u64, p)),
        _ => None,
    })
}

// ---------------------------------------------------------------- java.util.Random

#[test]
fn java_random_matches_the_jvm() {
    // Printed by OpenJDK 17's java.util.Random.
    let mut r = JavaRandom::new(42);
    assert_eq!((r.next_int(), r.next_int()), (-1_170_105_035, 234_785_527));
    let mut r = JavaRandom::new(42);
    let draws: Vec<i32> = (0..10).map(|_| r.next_int_bounded(10)).collect();
    assert_eq!(draws, [0, 3, 8, 4, 0, 5, 5, 8, 9, 3]);
    let mut r = JavaRandom::new(42);
    assert_eq!(r.next_long(), -5_025_562_857_975_149_833);
    assert_eq!(r.next_double(), 0.6832234717598454);
    let mut r = JavaRandom::new(0);
    assert_eq!(r.next_int(), -1_155_484_576);
    assert_eq!(r.next_int_bounded(1000), 948);
    assert_eq!(r.next_long(), 4_437_113_781_045_784_766);
    let mut r = JavaRandom::new(u64::MAX); // new Random(-1L)
    assert_eq!(r.next_int_bounded(7), 3);
    assert_eq!(r.next_int_bounded(1 << 30), 471_976_112);
    assert_eq!(r.next_double(), 0.012269981921235296);
}

// ---------------------------------------------------------------- Beam reference

/// Compares seed 0 with Beam's generator as run on a JVM: every field Beam and Rill share
/// (persons and auctions: all but `extra`'s characters, whose length is compared; bids:
/// auction, bidder, price, time).
#[test]
fn seed_zero_reproduces_beam() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/nexmark_beam_seed0.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let g = nexmark(NexmarkConfig { seed: 0, events: 10_000_000, ..NexmarkConfig::default() });
    let mut checked = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let i: u64 = f[0].parse().unwrap();
        let n = |k: usize| f[k].parse::<u64>().unwrap_or_else(|_| panic!("field {k} of `{line}`"));
        let event = g.event(i);
        match (f[1], &event) {
            ("person", NexmarkEvent::Person(p)) => {
                let got = (p.id, &*p.name, &*p.email_address, &*p.credit_card, &*p.city, &*p.state, p.date_time);
                assert_eq!(got, (n(2), f[3], f[4], f[5], f[6], f[7], n(8)), "event {i}");
                assert_eq!(p.extra.len() as u64, n(11), "event {i}");
            }
            ("auction", NexmarkEvent::Auction(a)) => {
                let got = (a.id, &*a.item_name, &*a.description, a.initial_bid, a.reserve, a.date_time);
                assert_eq!(got, (n(2), f[3], f[4], n(5), n(6), n(7)), "event {i}");
                assert_eq!((a.expires, a.seller, a.category), (n(8), n(9), n(10)), "event {i}");
                assert_eq!(a.extra.len() as u64, n(11), "event {i}");
            }
            ("bid", NexmarkEvent::Bid(b)) => {
                assert_eq!((b.auction, b.bidder, b.price, b.date_time), (n(2), n(3), n(4), n(5)), "event {i}");
            }
            _ => panic!("event {i}: Beam has a {}, Rill {event:?}", f[1]),
        }
        *checked.entry(f[1]).or_insert(0) += 1;
    }
    assert_eq!(checked.values().sum::<i32>(), 1500);
    assert_eq!(checked["person"], 30);
}

// ---------------------------------------------------------------- determinism

#[test]
fn fill_equals_event() {
    let configs = [
        seed42(),
        NexmarkConfig { num_event_generators: 3, events: 1_000_001, ..seed42() },
        NexmarkConfig { out_of_order_group_size: 7, first_event_rate: 333, ..seed42() },
    ];
    for config in configs {
        let g = nexmark(config);
        for range in [0..3_000, 123_457..126_000, 999_000..1_001_500, (1 << 40)..(1 << 40) + 1_000] {
            let mut out = vec![g.event(7)]; // fill appends
            Generator::fill(&g, range.clone(), &mut out);
            assert_eq!(out.len() as u64, range.end - range.start + 1);
            for (k, i) in range.enumerate() {
                assert_eq!(out[k + 1], Generator::event(&g, i), "event {i}");
            }
        }
    }
}

#[test]
fn same_seed_same_events_other_seed_other_events() {
    let a = events(&nexmark(seed42()), 0..20_000);
    assert_eq!(a, events(&nexmark(seed42()), 0..20_000));
    let b = events(&nexmark(NexmarkConfig { seed: 43, ..seed42() }), 0..20_000);
    let same_price = bids(&a).zip(bids(&b)).filter(|((_, x), (_, y))| x.price == y.price).count();
    assert!(same_price < 20, "{same_price} of 18400 bid prices agree across seeds");
    let same_name = auctions(&a).zip(auctions(&b)).filter(|((_, x), (_, y))| x.item_name == y.item_name).count();
    assert!(same_name < 10, "{same_name} of 1200 item names agree across seeds");
    // Ids, kinds and times do not depend on the seed.
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(std::mem::discriminant(x), std::mem::discriminant(y));
        assert_eq!(x.date_time(), y.date_time());
    }
}

// ---------------------------------------------------------------- structure

#[test]
fn kinds_follow_the_1_3_46_pattern() {
    let events = sample();
    for (block, chunk) in events.chunks(50).enumerate() {
        let kinds: Vec<u8> = chunk
            .iter()
            .map(|e| match e {
                NexmarkEvent::Person(_) => 0,
                NexmarkEvent::Auction(_) => 1,
                NexmarkEvent::Bid(_) => 2,
            })
            .collect();
        assert_eq!(kinds[0], 0, "block {block}");
        assert_eq!(&kinds[1..4], &[1, 1, 1], "block {block}");
        assert!(kinds[4..].iter().all(|&k| k == 2), "block {block}");
    }
}

#[test]
fn ids_increase_with_the_event_id() {
    let events = sample();
    let g = nexmark(seed42());
    let mut last_person = None;
    for (i, p) in persons(events) {
        assert_eq!(g.event_id(i), i);
        assert_eq!(p.id, 1000 + i / 50);
        assert!(last_person < Some(p.id));
        last_person = Some(p.id);
    }
    let mut last_auction = None;
    for (i, a) in auctions(events) {
        assert_eq!(a.id, 1000 + i / 50 * 3 + i % 50 - 1);
        assert!(last_auction < Some(a.id), "auction {} after {last_auction:?}", a.id);
        last_auction = Some(a.id);
    }
    assert_eq!(last_auction, Some(1000 + 12_000 - 1));
}

/// Beam's `nextBase0PersonId` is `numPeople - active + nextLong(active + 10)` with `numPeople =
/// last + 1`: at most `last + 10`, i.e. up to 10 persons not generated yet (NEXMARK.md says 9).
/// Auctions: `min + nextLong(max - min + 11)`, at most `last + 10`.
#[test]
fn references_point_at_existing_or_imminent_entities() {
    let events = sample();
    for (i, b) in bids(events) {
        let last_person = last_base0_person_id(i) + 1000;
        let last_auction = last_base0_auction_id(i) + 1000;
        assert!(b.bidder <= last_person + 10 && b.bidder + 1000 > last_person, "event {i}: bidder {}", b.bidder);
        assert!(b.auction <= last_auction + 10 && b.auction + 100 >= last_auction, "event {i}: auction {}", b.auction);
    }
    for (i, a) in auctions(events) {
        let last_person = last_base0_person_id(i) + 1000;
        assert!(a.seller <= last_person + 10 && a.seller + 1000 > last_person, "event {i}: seller {}", a.seller);
    }
}

#[test]
fn hot_auctions_bidders_and_sellers() {
    let events = sample();
    let (mut n, mut hot_auction, mut hot_bidder) = (0u64, 0u64, 0u64);
    for (i, b) in bids(events) {
        n += 1;
        hot_auction += u64::from(b.auction == last_base0_auction_id(i) / 100 * 100 + 1000);
        hot_bidder += u64::from(b.bidder == last_base0_person_id(i) / 100 * 100 + 1001);
    }
    // P(hot) = 1/2 (resp. 3/4) plus the chance that the random pick is the hot one.
    let share = |k: u64| k as f64 / n as f64;
    assert!((0.495..0.52).contains(&share(hot_auction)), "hot auction share {}", share(hot_auction));
    assert!((0.745..0.77).contains(&share(hot_bidder)), "hot bidder share {}", share(hot_bidder));
    let (mut m, mut hot_seller) = (0u64, 0u64);
    for (i, a) in auctions(events) {
        m += 1;
        hot_seller += u64::from(a.seller == last_base0_person_id(i) / 100 * 100 + 1000);
    }
    let share = hot_seller as f64 / m as f64;
    assert!((0.735..0.775).contains(&share), "hot seller share {share}");
}

#[test]
fn prices_fall_in_three_equal_buckets() {
    let mut buckets = [0u64; 3];
    let mut n = 0;
    for (_, b) in bids(sample()).take(100_000) {
        assert!((100..=100_000_000).contains(&b.price), "price {}", b.price);
        buckets[usize::from(b.price >= 10_000) + usize::from(b.price >= 1_000_000)] += 1;
        n += 1;
    }
    assert_eq!(n, 100_000);
    // Binomial(100k, 1/3): sd ~149.
    for (k, &c) in buckets.iter().enumerate() {
        assert!((32_333..34_333).contains(&c), "bucket {k}: {c} of 100000");
    }
}

#[test]
fn categories_are_uniform_and_auctions_end_after_they_start() {
    let mut per_category = [0u64; 5];
    let g = nexmark(seed42());
    for (i, a) in auctions(sample()) {
        assert!((10..=14).contains(&a.category));
        per_category[(a.category - 10) as usize] += 1;
        assert!(a.reserve >= a.initial_bid);
        // Length 1 + nextLong(2 * horizon), horizon = ts(n + 1666) - ts(n).
        let horizon = (i + 1666) / 10 - i / 10;
        assert!(a.expires > a.date_time && a.expires <= a.date_time + 2 * horizon, "event {i}: {a:?}");
        assert_eq!(a.date_time, g.timestamp_ms(i));
    }
    // 12 000 auctions: 2 400 expected per category, sd ~44.
    for (k, &c) in per_category.iter().enumerate() {
        assert!((2_150..2_650).contains(&c), "category {}: {c}", k + 10);
    }
}

/// `extra` lengths: `d = avg - current`, `delta = round(0.2 d)`, length in `[d - delta, d + delta)`.
fn check_extra(what: &str, extra: &str, current: usize, avg: usize) {
    let d = avg - current;
    let delta = (d as f64 * 0.2).round() as usize;
    assert!((d - delta..d + delta).contains(&extra.len()), "{what}: extra of {} chars, current {current}", extra.len());
    assert!(extra.bytes().all(|c| (b'H'..=b'z').contains(&c)), "{what}: {extra:?}");
}

#[test]
fn extras_pad_to_the_average_sizes() {
    let events = sample();
    for (i, b) in bids(events).take(20_000) {
        assert!((54..82).contains(&b.extra.len()), "event {i}");
        check_extra("bid", &b.extra, 32, 100);
    }
    for (_, p) in persons(events) {
        let current = 8 + p.name.len() + p.email_address.len() + p.credit_card.len() + p.city.len() + p.state.len();
        check_extra("person", &p.extra, current, 200);
        assert!(p.credit_card.len() == 19 && p.email_address.ends_with(".com"), "{p:?}");
        assert!(["AZ", "CA", "ID", "OR", "WA", "WY"].contains(&p.state.as_str()));
    }
    for (_, a) in auctions(events) {
        check_extra("auction", &a.extra, 8 + a.item_name.len() + a.description.len() + 40, 500);
    }
}

#[test]
fn channels_and_urls() {
    let mut hot = 0;
    let mut n = 0;
    for (_, b) in bids(sample()).take(50_000) {
        n += 1;
        if ["Google", "Facebook", "Baidu", "Apple"].contains(&b.channel.as_str()) {
            hot += 1;
        } else {
            let c: u32 = b.channel.strip_prefix("channel-").and_then(|c| c.parse().ok()).expect("channel-<n>");
            assert!(c < 10_000);
            if let Some((_, id)) = b.url.split_once("&channel_id=") {
                assert_eq!(id, (c as i32).reverse_bits().wrapping_abs().to_string());
            }
        }
        let parts: Vec<&str> = b.url.split('/').collect();
        assert_eq!(parts[..3], ["https:", "", "www.nexmark.com"], "{}", b.url);
        assert!(parts[6].starts_with("item.htm?query=1"), "{}", b.url);
    }
    assert!((24_400..25_600).contains(&hot), "{hot} of {n} bids on hot channels");
}

#[test]
fn event_times_follow_the_configured_rate() {
    let g = nexmark(seed42());
    let base = 1_436_918_400_000;
    for (i, e) in sample().iter().enumerate() {
        // 10 000 events/s: 100 us per event.
        assert_eq!(e.date_time(), base + i as u64 / 10, "event {i}");
    }
    assert_eq!(g.timestamp_ms(1 << 40), base + (1u64 << 40) / 10);
    // Four parallel timelines: indices 4k..4k+4 share event number k, 400 us apart.
    let g = nexmark(NexmarkConfig { num_event_generators: 4, events: 1_000_002, ..seed42() });
    let per = 1_000_002 / 4;
    for i in (0..10_000).chain(999_000..1_000_002) {
        let number = if i < 4 * per { i / 4 } else { per + i - 4 * per };
        assert_eq!(g.timestamp_ms(i), base + number * 400 / 1000, "index {i}");
        let generator = if i < 4 * per { i % 4 } else { 3 };
        assert_eq!(g.event_id(i), generator * per + number, "index {i}");
    }
    // Out-of-order groups permute event ids (and their times) within each group.
    let g = nexmark(NexmarkConfig { out_of_order_group_size: 10, ..seed42() });
    let mut ids: Vec<u64> = (0..1000).map(|i| g.event_id(i)).collect();
    assert_ne!(ids, (0..1000).collect::<Vec<_>>());
    ids.sort_unstable();
    assert_eq!(ids, (0..1000).collect::<Vec<_>>());
}

#[test]
fn invalid_configs_name_the_field() {
    let cases: [(NexmarkConfig, &str); 5] = [
        (NexmarkConfig { first_event_rate: 0, ..seed42() }, "first_event_rate"),
        (NexmarkConfig { first_event_rate: 2_000_001, ..seed42() }, "first_event_rate"),
        (NexmarkConfig { num_event_generators: 0, ..seed42() }, "num_event_generators"),
        (NexmarkConfig { hot_bidder_ratio: 0, ..seed42() }, "hot_bidder_ratio"),
        (NexmarkConfig { avg_bid_bytes: 1 << 30, ..seed42() }, "avg_bid_bytes"),
    ];
    for (config, field) in cases {
        match Nexmark::new(config) {
            Err(rill::Error::Config(msg)) => assert!(msg.contains(field), "{msg}"),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(NexmarkConfig { first_event_rate: 2_000_000, ..seed42() }.validate().is_ok());
}

// ---------------------------------------------------------------- CSV

fn round_trip<R: CsvRecord + PartialEq + std::fmt::Debug>(r: &R) {
    let mut out = Vec::new();
    r.write_csv(&mut out);
    let back =
        R::parse_csv(&mut CsvRow::new(&out)).unwrap_or_else(|e| panic!("{e:?}: {}", String::from_utf8_lossy(&out)));
    assert_eq!(&back, r);
}

#[test]
fn csv_round_trip_with_quoting() {
    let person = Person {
        id: 1000,
        name: "O\"Neil, Jr.".into(),
        email_address: "a@b.com".into(),
        credit_card: "0000 0001 0002 0003".into(),
        city: "Los Angeles".into(),
        state: "CA".into(),
        date_time: 1_436_918_400_123,
        extra: String::new(),
    };
    let mut out = Vec::new();
    person.write_csv(&mut out);
    assert_eq!(out, b"1000,\"O\"\"Neil, Jr.\",a@b.com,0000 0001 0002 0003,Los Angeles,CA,1436918400123,");
    round_trip(&person);
    round_trip(&Auction {
        id: 7,
        item_name: "a,b".into(),
        description: "\"quoted\"".into(),
        initial_bid: 1,
        reserve: u64::MAX,
        date_time: 2,
        expires: 3,
        seller: 4,
        category: 14,
        extra: " x ".into(),
    });
    round_trip(&Bid {
        auction: 1,
        bidder: 2,
        price: 3,
        channel: "c,\"".into(),
        url: "https://x/?a=1&b=2".into(),
        date_time: 4,
        extra: "e".into(),
    });
    for e in &sample()[..500] {
        match e {
            NexmarkEvent::Person(p) => round_trip(p),
            NexmarkEvent::Auction(a) => round_trip(a),
            NexmarkEvent::Bid(b) => round_trip(b),
        }
    }
}

fn parse_file<R: CsvRecord>(path: &Path) -> Vec<R> {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.ends_with('\n') && !text.contains('\r'));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(R::header().as_str()));
    lines.map(|l| R::parse_csv(&mut CsvRow::new(l.as_bytes())).unwrap_or_else(|e| panic!("`{l}`: {e:?}"))).collect()
}

#[test]
fn export_writes_three_files_in_index_order() {
    let dir = tempfile::tempdir().unwrap();
    // Several chunks, the last one partial.
    let config = NexmarkConfig { events: 2 * CHUNK_EVENTS + 777, ..seed42() };
    let (p, a, b) = export_csv(&config, dir.path()).unwrap();
    let g = nexmark(config.clone());
    let all = events(&g, 0..config.events);
    let want_p: Vec<Person> = persons(&all).map(|(_, p)| p.clone()).collect();
    let want_a: Vec<Auction> = auctions(&all).map(|(_, a)| a.clone()).collect();
    let want_b: Vec<Bid> = bids(&all).map(|(_, b)| b.clone()).collect();
    assert_eq!((p, a, b), (want_p.len() as u64, want_a.len() as u64, want_b.len() as u64));
    assert_eq!(p + a + b, config.events);
    assert_eq!(parse_file::<Person>(&dir.path().join("person.csv")), want_p);
    assert_eq!(parse_file::<Auction>(&dir.path().join("auction.csv")), want_a);
    // Bids byte for byte against a sequential write.
    let sequential = dir.path().join("bids_sequential.csv");
    write_csv(&sequential, want_b.into_iter()).unwrap();
    assert!(std::fs::read(&sequential).unwrap() == std::fs::read(dir.path().join("bid.csv")).unwrap());

    let empty = tempfile::tempdir().unwrap();
    assert_eq!(export_csv(&NexmarkConfig { events: 0, ..seed42() }, empty.path()).unwrap(), (0, 0, 0));
    assert_eq!(std::fs::read_to_string(empty.path().join("bid.csv")).unwrap(), format!("{}\n", Bid::header()));
    let err = export_csv(&seed42(), Path::new("/nonexistent-dir")).unwrap_err();
    assert!(matches!(err, rill::Error::Io { .. }) && err.to_string().contains("/nonexistent-dir"), "{err}");
}

// ---------------------------------------------------------------- golden files

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

fn check_golden<R: CsvRecord>(name: &str, records: impl Iterator<Item = R>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    write_csv(&path, records).unwrap();
    let got = std::fs::read_to_string(&path).unwrap();
    let golden = golden_path(name);
    if std::env::var_os("NEXMARK_BLESS").is_some() {
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
    assert!(got == want, "generation changed: {}\n--- golden\n{want}--- now\n{got}", golden.display());
}

#[test]
fn golden_first_rows() {
    let events = &sample()[..1000];
    check_golden("nexmark_person.csv", persons(events).map(|(_, p)| p.clone()).take(10));
    check_golden("nexmark_auction.csv", auctions(events).map(|(_, a)| a.clone()).take(15));
    check_golden("nexmark_bid.csv", bids(events).map(|(_, b)| b.clone()).take(30));
}
