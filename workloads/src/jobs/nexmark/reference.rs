//! Naive batch versions of the Nexmark queries, for tests: each reads the whole input as a
//! slice of events and computes the query's final result with sorting, grouping and loops, the
//! way the SQL reads. Nothing here is shared with the dataflow versions (not the row types, not
//! the CSV writers); the results are the CSV lines the job writes (without the header),
//! unordered.
//!
//! Semantics (the same documented choices as the dataflow versions): windows are half-open and
//! epoch aligned; q4/q9 intervals are inclusive at both ends, no reserve check; q9 ties go to
//! the earlier bid, then the lower bidder; q5 keeps all maximal auctions; q7 all maximal bids
//! of a window; q11 sessions continue while the gap is at most 10 s. Nothing is late: the input
//! is assumed in order (the generator's default).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Query;
use crate::nexmark::{Auction, Bid, NexmarkEvent, Person};

/// RFC 4180 quoting, when needed.
fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

fn persons(events: &[NexmarkEvent]) -> impl Iterator<Item = &Person> {
    events.iter().filter_map(|e| match e {
        NexmarkEvent::Person(p) => Some(p),
        _ => None,
    })
}

fn auctions(events: &[NexmarkEvent]) -> impl Iterator<Item = &Auction> {
    events.iter().filter_map(|e| match e {
        NexmarkEvent::Auction(a) => Some(a),
        _ => None,
    })
}

fn bids(events: &[NexmarkEvent]) -> impl Iterator<Item = &Bid> {
    events.iter().filter_map(|e| match e {
        NexmarkEvent::Bid(b) => Some(b),
        _ => None,
    })
}

/// The result lines of `query` over `events` (header excluded, in no particular order).
pub fn rows(query: Query, events: &[NexmarkEvent]) -> Vec<String> {
    match query {
        Query::Q0 => bids(events)
            .map(|b| format!("{},{},{},{},{}", b.auction, b.bidder, b.price, b.date_time, quote(&b.extra)))
            .collect(),
        Query::Q1 => bids(events)
            .map(|b| {
                let thousandths = u128::from(b.price) * 908;
                let price = format!("{}.{:03}", thousandths / 1000, thousandths % 1000);
                format!("{},{},{},{},{}", b.auction, b.bidder, price, b.date_time, quote(&b.extra))
            })
            .collect(),
        Query::Q2 => {
            bids(events).filter(|b| b.auction % 123 == 0).map(|b| format!("{},{}", b.auction, b.price)).collect()
        }
        Query::Q3 => q3(events),
        Query::Q4 => q4(events),
        Query::Q5 => q5(events),
        Query::Q7 => q7(events),
        Query::Q8 => q8(events),
        Query::Q9 => q9(events),
        Query::Q11 => q11(events),
    }
}

fn q3(events: &[NexmarkEvent]) -> Vec<String> {
    let mut out = Vec::new();
    for a in auctions(events).filter(|a| a.category == 10) {
        for p in persons(events).filter(|p| p.id == a.seller && matches!(p.state.as_str(), "OR" | "ID" | "CA")) {
            out.push(format!("{},{},{},{}", quote(&p.name), quote(&p.city), quote(&p.state), a.id));
        }
    }
    out
}

/// Per auction, its bids in `[date_time, expires]`.
fn bids_in_interval(events: &[NexmarkEvent]) -> Vec<(&Auction, Vec<&Bid>)> {
    let mut by_auction: HashMap<u64, Vec<&Bid>> = HashMap::new();
    for b in bids(events) {
        by_auction.entry(b.auction).or_default().push(b);
    }
    auctions(events)
        .map(|a| {
            let mut in_interval: Vec<&Bid> = by_auction
                .get(&a.id)
                .map(|bs| {
                    bs.iter().copied().filter(|b| a.date_time <= b.date_time && b.date_time <= a.expires).collect()
                })
                .unwrap_or_default();
            // Best first: price descending, then earlier, then lower bidder.
            in_interval.sort_by(|x, y| {
                y.price.cmp(&x.price).then(x.date_time.cmp(&y.date_time)).then(x.bidder.cmp(&y.bidder))
            });
            (a, in_interval)
        })
        .collect()
}

fn q4(events: &[NexmarkEvent]) -> Vec<String> {
    let mut per_category: BTreeMap<u64, (u128, u64)> = BTreeMap::new();
    for (a, bids) in bids_in_interval(events) {
        if let Some(max) = bids.iter().map(|b| b.price).max() {
            let e = per_category.entry(a.category).or_default();
            e.0 += u128::from(max);
            e.1 += 1;
        }
    }
    per_category.into_iter().map(|(c, (sum, n))| format!("{c},{:.3}", sum as f64 / n as f64)).collect()
}

fn q9(events: &[NexmarkEvent]) -> Vec<String> {
    bids_in_interval(events)
        .into_iter()
        .filter_map(|(a, bids)| {
            let b = bids.first()?;
            Some(format!(
                "{},{},{},{},{},{},{},{}",
                a.id, a.seller, a.category, a.date_time, a.expires, b.bidder, b.price, b.date_time
            ))
        })
        .collect()
}

fn q5(events: &[NexmarkEvent]) -> Vec<String> {
    // (window start, auction) -> bids.
    let mut counts: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for b in bids(events) {
        let t = b.date_time;
        let last = t - t % 2_000;
        for k in 0..5 {
            let Some(start) = last.checked_sub(k * 2_000) else { break };
            assert!(start <= t && t < start + 10_000);
            *counts.entry((start, b.auction)).or_default() += 1;
        }
    }
    let mut max: BTreeMap<u64, u64> = BTreeMap::new();
    for (&(start, _), &n) in &counts {
        let m = max.entry(start).or_default();
        *m = (*m).max(n);
    }
    counts
        .into_iter()
        .filter(|((start, _), n)| max[start] == *n)
        .map(|((start, auction), n)| format!("{auction},{n},{start},{}", start + 10_000))
        .collect()
}

fn q7(events: &[NexmarkEvent]) -> Vec<String> {
    let window = |t: u64| t - t % 10_000;
    let mut max: BTreeMap<u64, u64> = BTreeMap::new();
    for b in bids(events) {
        let m = max.entry(window(b.date_time)).or_default();
        *m = (*m).max(b.price);
    }
    bids(events)
        .filter(|b| max[&window(b.date_time)] == b.price)
        .map(|b| format!("{},{},{},{},{}", b.auction, b.price, b.bidder, b.date_time, quote(&b.extra)))
        .collect()
}

fn q8(events: &[NexmarkEvent]) -> Vec<String> {
    let window = |t: u64| t - t % 10_000;
    let people: BTreeSet<(u64, &str, u64)> =
        persons(events).map(|p| (p.id, p.name.as_str(), window(p.date_time))).collect();
    let sellers: BTreeSet<(u64, u64)> = auctions(events).map(|a| (a.seller, window(a.date_time))).collect();
    people
        .into_iter()
        .filter(|(id, _, start)| sellers.contains(&(*id, *start)))
        .map(|(id, name, start)| format!("{id},{},{start}", quote(name)))
        .collect()
}

fn q11(events: &[NexmarkEvent]) -> Vec<String> {
    let mut times: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for b in bids(events) {
        times.entry(b.bidder).or_default().push(b.date_time);
    }
    let mut out = Vec::new();
    for (bidder, mut ts) in times {
        ts.sort_unstable();
        let (mut start, mut last, mut n) = (ts[0], ts[0], 0u64);
        for t in ts {
            if t > last + 10_000 {
                out.push(format!("{bidder},{n},{start},{}", last + 10_000));
                (start, n) = (t, 0);
            }
            last = t;
            n += 1;
        }
        out.push(format!("{bidder},{n},{start},{}", last + 10_000));
    }
    out
}
