//! The Nexmark generator: people, auctions and bids of an online auction site, as Beam's
//! Nexmark generator defines them, with Flink's `channel` and `url` on bids
//! (`/work/shared/NEXMARK.md` sections 2-6).
//!
//! Event `i` is a pure function of `(config, i)`: [`Nexmark::event`] and [`Nexmark::fill`]
//! agree exactly, any worker can generate any slice of indices, and the stream reproduces
//! Beam's field by field where the two are meant to agree (below).
//!
//! # Numbering and timelines
//!
//! Beam semantics: `firstEventId = 0`, `firstEventNumber = 0`. With `N =
//! num_event_generators` the events are split as Beam's `GeneratorConfig.split(N)` does:
//! generator `k` owns event ids from `k * (events / N)`, `events / N` of them (the last one the
//! remainder), all on parallel timelines starting at event number 0. Indices interleave the
//! generators so that index order is time order: for `i < N * (events / N)`, index `i` is event
//! number `i / N` of generator `i % N`; the remaining indices (fewer than `N`) continue
//! generator `N - 1`. With `N = 1` index, event number and event id coincide (before the
//! out-of-order adjustment).
//!
//! The event number `e` is adjusted as Beam does, `adj = (e / G) * G + (e * 953) mod G` with
//! `G = out_of_order_group_size` (identity for `G = 1`); the event id is the generator's first
//! id plus `adj` ([`Nexmark::event_id`]), and the event time is
//! `base_time_ms + adj * delay_us / 1000` with Beam's integer period
//! `delay_us = ((10^6 + rate / 2) / rate) * N` ([`NexmarkConfig::inter_event_delay_us`]).
//! Event times therefore follow the *configured* rate (10 000/s: one event every 100 us, ten
//! per millisecond) and are non-decreasing in index order when `G = 1`. The rate is capped at
//! 2 000 000/s, where Beam's rounded period is still 1 us (faster rates round to 0).
//!
//! # Randomness
//!
//! Each event draws from its own bit-exact `java.util.Random` ([`JavaRandom`]), seeded with
//! `event_id ^ (seed * 0x9E3779B97F4A7C15)` (wrapping; [`Nexmark::random_seed`]). Seed 0 is
//! Beam's `new Random(eventId)`; other seeds give independent-looking streams with the same ids,
//! types and timestamps. Draws happen in Beam's order (NEXMARK.md section 6), so with seed 0:
//!
//! * persons and auctions equal Beam's in every field but `extra`'s characters;
//! * bids equal Beam's in `auction`, `bidder` and `price`; the channel and url are drawn next
//!   (Flink's order), then `extra`;
//! * every `extra` has Beam's length; its characters are a substring of a per-seed 1 MiB pool
//!   (Flink's fast path) rather than Beam's per-character draws.
//!
//! Prices use `f64::powf`, which may differ from Java's `Math.pow` by one ulp; a price can then
//! differ by one cent in the rare case the product lands within an ulp of a half cent.
//!
//! # Choices where the sources differ or are unclear
//!
//! * Flink's `BidGenerator.nextBid` adds `FIRST_PERSON_ID` to the bidder twice (bidders are
//!   `base0 + 2000`, not lining up with person ids). Here it is added once, as in Beam: bidders
//!   are person ids (or at most 10 ahead of the latest person, see below).
//! * Flink's channel -> url table and hot URLs come from an unseeded generator; here they are
//!   drawn from a `java.util.Random` seeded from the configuration seed (the 4 hot URLs, then
//!   channels 0..10 000 in order), so URLs are reproducible; likewise the 1 MiB `extra` pool.
//! * A random seller or bidder (Beam's `nextBase0PersonId`) lies among the last
//!   `num_active_people` persons or up to **10** persons not generated yet (NEXMARK.md says 9;
//!   Beam's formula `numPeople - active + nextLong(active + 10)` reaches `last + 10`); a random
//!   auction of a bid likewise up to 10 auctions ahead.
//! * Names, cities and states keep Beam's case (`"OR"`, not nexmark-rs's `"or"`).
//! * Only Beam's constant rate (`firstEventRate = nextEventRate`) is implemented: no SQUARE/SINE
//!   rate shapes, no wall-clock delays ("LATE" events).

mod config;
mod export;
mod generator;
mod java_random;
mod model;
mod strings;

pub use config::{MAX_AVG_BYTES, MAX_EVENT_RATE, NexmarkConfig};
pub use export::export_csv;
pub use generator::{
    FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID, Nexmark, last_base0_auction_id, last_base0_person_id,
};
pub use java_random::JavaRandom;
pub use model::{Auction, Bid, NexmarkEvent, Person};
pub(crate) use model::{str_field, u64_field};
