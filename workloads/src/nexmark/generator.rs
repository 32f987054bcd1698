//! [`Nexmark`]: event `i` as a pure function of the configuration and `i`, following Beam's
//! `Generator`, `PersonGenerator`, `AuctionGenerator` and `BidGenerator` (and Flink's bid
//! channel/url); the semantics are in the [`crate::nexmark`] module docs.

use std::ops::Range;

use super::config::{NexmarkConfig, PROPORTION_DENOMINATOR};
use super::java_random::JavaRandom;
use super::model::{Auction, Bid, NexmarkEvent, Person};
use super::strings::{CHANNELS, HOT_CHANNELS, Strings, next_string};

/// Base of person ids.
pub const FIRST_PERSON_ID: u64 = 1000;
/// Base of auction ids.
pub const FIRST_AUCTION_ID: u64 = 1000;
/// The least category.
pub const FIRST_CATEGORY_ID: u64 = 10;
/// Number of categories.
const NUM_CATEGORIES: i32 = 5;
/// Persons not yet generated that a random seller or bidder may be.
const PERSON_ID_LEAD: u64 = 10;
/// Auctions not yet generated that a random bid may be on.
const AUCTION_ID_LEAD: u64 = 10;
/// Hot sellers, bidders and auctions are the first (bidders: second) of blocks of this many.
const HOT_BLOCK: u64 = 100;
/// One bid in this many takes a random (not hot) channel.
const HOT_CHANNELS_RATIO: i32 = 2;

/// Multiplier spreading the configuration seed over the bits of the per-event seed.
const SEED_SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

const FIRST_NAMES: [&str; 11] =
    ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"];
const LAST_NAMES: [&str; 9] = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"];
const US_CITIES: [&str; 10] =
    ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"];
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];

/// The Nexmark generator: a validated [`NexmarkConfig`] and its per-seed string tables.
#[derive(Clone, Debug)]
pub struct Nexmark {
    config: NexmarkConfig,
    /// Microseconds between consecutive events of one generator.
    delay_us: u64,
    /// `seed * SEED_SPREAD`, XORed into every per-event seed.
    seed_word: u64,
    /// Events of each generator but the last (`events / num_event_generators`).
    per_generator: u64,
    strings: Strings,
}

/// Where event `i` sits: its generator's first event id and its event number on that
/// generator's timeline after the out-of-order adjustment.
#[derive(Clone, Copy, Debug)]
struct Place {
    first_event_id: u64,
    adjusted: u64,
}

impl Nexmark {
    /// The generator for `config`, or [`rill::Error::Config`] if it is invalid.
    pub fn new(config: NexmarkConfig) -> rill::Result<Nexmark> {
        config.validate().map_err(rill::Error::Config)?;
        let seed_word = config.seed.wrapping_mul(SEED_SPREAD);
        Ok(Nexmark {
            delay_us: config.inter_event_delay_us(),
            seed_word,
            per_generator: config.events / config.num_event_generators,
            strings: Strings::new(seed_word),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &NexmarkConfig {
        &self.config
    }

    /// The seed of event id `event_id`'s `java.util.Random`: `event_id ^ (seed *
    /// 0x9E3779B97F4A7C15)` (wrapping), so seed 0 gives Beam's `new Random(eventId)`.
    #[inline]
    pub fn random_seed(&self, event_id: u64) -> u64 {
        event_id ^ self.seed_word
    }

    #[inline]
    fn place(&self, i: u64) -> Place {
        let gens = self.config.num_event_generators;
        let (generator, number) = if gens == 1 {
            (0, i)
        } else if i < self.per_generator * gens {
            (i % gens, i / gens)
        } else {
            (gens - 1, self.per_generator + (i - self.per_generator * gens))
        };
        let g = self.config.out_of_order_group_size;
        let adjusted = if g == 1 { number } else { number / g * g + (number % g) * (953 % g) % g };
        Place { first_event_id: generator * self.per_generator, adjusted }
    }

    /// Beam's event id of event `i`: its generator's first event id plus its adjusted event
    /// number (equal to `i` with one generator and no out-of-order groups).
    #[inline]
    pub fn event_id(&self, i: u64) -> u64 {
        let p = self.place(i);
        p.first_event_id + p.adjusted
    }

    /// The event time of event `i`, ms since the Unix epoch.
    #[inline]
    pub fn timestamp_ms(&self, i: u64) -> u64 {
        self.timestamp_of_number(self.place(i).adjusted)
    }

    /// `base_time_ms + number * delay_us / 1000` (Beam's integer arithmetic).
    #[inline]
    fn timestamp_of_number(&self, number: u64) -> u64 {
        let off = match number.checked_mul(self.delay_us) {
            Some(us) => us / 1000,
            None => (u128::from(number) * u128::from(self.delay_us) / 1000) as u64,
        };
        self.config.base_time_ms.saturating_add(off)
    }

    /// Event `i`.
    #[inline]
    pub fn event(&self, i: u64) -> NexmarkEvent {
        let place = self.place(i);
        let id = place.first_event_id + place.adjusted;
        let ts = self.timestamp_of_number(place.adjusted);
        let mut rng = JavaRandom::new(self.random_seed(id));
        match id % PROPORTION_DENOMINATOR {
            0 => NexmarkEvent::Person(self.person(id, ts, &mut rng)),
            1..=3 => NexmarkEvent::Auction(self.auction(id, place.adjusted, ts, &mut rng)),
            _ => NexmarkEvent::Bid(self.bid(id, ts, &mut rng)),
        }
    }

    /// Appends events `range` to `out`, in index order; equal to [`Nexmark::event`] on each
    /// index.
    pub fn fill(&self, range: Range<u64>, out: &mut Vec<NexmarkEvent>) {
        out.reserve(range.end.saturating_sub(range.start) as usize);
        out.extend(range.map(|i| self.event(i)));
    }

    fn person(&self, id: u64, ts: u64, rng: &mut JavaRandom) -> Person {
        let name = format!(
            "{} {}",
            FIRST_NAMES[rng.next_int_bounded(11) as usize],
            LAST_NAMES[rng.next_int_bounded(9) as usize]
        );
        let mut email_address = next_string(rng, 7, b' ');
        email_address.push('@');
        email_address.push_str(&next_string(rng, 5, b' '));
        email_address.push_str(".com");
        let mut credit_card = String::with_capacity(19);
        for k in 0..4 {
            if k > 0 {
                credit_card.push(' ');
            }
            let group = rng.next_int_bounded(10_000) as u32;
            for div in [1000, 100, 10, 1] {
                credit_card.push(char::from(b'0' + (group / div % 10) as u8));
            }
        }
        let city = US_CITIES[rng.next_int_bounded(10) as usize].to_owned();
        let state = US_STATES[rng.next_int_bounded(6) as usize].to_owned();
        let current = 8 + name.len() + email_address.len() + credit_card.len() + city.len() + state.len();
        let extra = self.strings.next_extra(rng, current, self.config.avg_person_bytes);
        Person {
            id: last_base0_person_id(id) + FIRST_PERSON_ID,
            name,
            email_address,
            credit_card,
            city,
            state,
            date_time: ts,
            extra,
        }
    }

    fn auction(&self, id: u64, number: u64, ts: u64, rng: &mut JavaRandom) -> Auction {
        let seller = if rng.next_int_bounded(self.config.hot_seller_ratio as i32) > 0 {
            last_base0_person_id(id) / HOT_BLOCK * HOT_BLOCK
        } else {
            self.next_base0_person_id(id, rng)
        } + FIRST_PERSON_ID;
        let category = FIRST_CATEGORY_ID + rng.next_int_bounded(NUM_CATEGORIES) as u64;
        let initial_bid = next_price(rng);
        let horizon = self.timestamp_of_number(number + self.config.auction_horizon_events()) - ts;
        let expires = ts + 1 + rng.next_long_bounded((2 * horizon).max(1));
        let item_name = next_string(rng, 20, b' ');
        let description = next_string(rng, 100, b' ');
        let reserve = initial_bid + next_price(rng);
        let current = 8 + item_name.len() + description.len() + 40;
        let extra = self.strings.next_extra(rng, current, self.config.avg_auction_bytes);
        Auction {
            id: last_base0_auction_id(id) + FIRST_AUCTION_ID,
            item_name,
            description,
            initial_bid,
            reserve,
            date_time: ts,
            expires,
            seller,
            category,
            extra,
        }
    }

    fn bid(&self, id: u64, ts: u64, rng: &mut JavaRandom) -> Bid {
        let auction = if rng.next_int_bounded(self.config.hot_auction_ratio as i32) > 0 {
            last_base0_auction_id(id) / HOT_BLOCK * HOT_BLOCK
        } else {
            self.next_base0_auction_id(id, rng)
        } + FIRST_AUCTION_ID;
        // FIRST_PERSON_ID is added once (Beam); Flink adds it a second time after the channel.
        let bidder = if rng.next_int_bounded(self.config.hot_bidder_ratio as i32) > 0 {
            last_base0_person_id(id) / HOT_BLOCK * HOT_BLOCK + 1
        } else {
            self.next_base0_person_id(id, rng)
        } + FIRST_PERSON_ID;
        let price = next_price(rng);
        let (channel, url) = if rng.next_int_bounded(HOT_CHANNELS_RATIO) > 0 {
            let k = rng.next_int_bounded(HOT_CHANNELS.len() as i32) as usize;
            (HOT_CHANNELS[k].to_owned(), self.strings.hot_urls[k].clone())
        } else {
            let (channel, url) = &self.strings.channels[rng.next_int_bounded(CHANNELS as i32) as usize];
            (channel.clone(), url.clone())
        };
        let extra = self.strings.next_extra(rng, 32, self.config.avg_bid_bytes);
        Bid { auction, bidder, price, channel, url, date_time: ts, extra }
    }

    /// Beam's `nextBase0PersonId`: uniform over the last `num_active_people` persons and the
    /// next [`PERSON_ID_LEAD`] (10) not yet generated: at most `last + 10`.
    #[inline]
    fn next_base0_person_id(&self, id: u64, rng: &mut JavaRandom) -> u64 {
        let people = last_base0_person_id(id) + 1;
        let active = people.min(u64::from(self.config.num_active_people));
        people - active + rng.next_long_bounded(active + PERSON_ID_LEAD)
    }

    /// Beam's `nextBase0AuctionId`: uniform over the last `num_in_flight_auctions` auctions,
    /// the latest, and the next [`AUCTION_ID_LEAD`] (10) not yet generated.
    #[inline]
    fn next_base0_auction_id(&self, id: u64, rng: &mut JavaRandom) -> u64 {
        let max = last_base0_auction_id(id);
        let min = max.saturating_sub(u64::from(self.config.num_in_flight_auctions));
        min + rng.next_long_bounded(max - min + 1 + AUCTION_ID_LEAD)
    }
}

impl crate::Generator for Nexmark {
    type Event = NexmarkEvent;

    fn events(&self) -> u64 {
        self.config.events
    }

    fn event(&self, i: u64) -> NexmarkEvent {
        Nexmark::event(self, i)
    }

    fn fill(&self, range: Range<u64>, out: &mut Vec<NexmarkEvent>) {
        Nexmark::fill(self, range, out)
    }
}

/// Beam's `lastBase0PersonId`: the person of the current 50-event epoch (one per epoch).
#[inline]
pub fn last_base0_person_id(event_id: u64) -> u64 {
    event_id / PROPORTION_DENOMINATOR
}

/// Beam's `lastBase0AuctionId` for an event that is not a person (offset >= 1 in its epoch):
/// the auction being generated, or the last one of the epoch for a bid.
///
/// For a person event (offset 0) it is the last auction of the previous epoch, `-1` before
/// the first auction: this returns `u64::MAX` (wrapping) in that single case.
#[inline]
pub fn last_base0_auction_id(event_id: u64) -> u64 {
    let epoch = event_id / PROPORTION_DENOMINATOR;
    match event_id % PROPORTION_DENOMINATOR {
        0 => (epoch * 3).wrapping_sub(1),
        offset @ 1..=3 => epoch * 3 + offset - 1,
        _ => epoch * 3 + 2,
    }
}

/// Beam's `nextPrice`: `round(10^(6 nextDouble()) * 100)` cents, log-uniform in
/// `[100, 10^8]`.
#[inline]
fn next_price(rng: &mut JavaRandom) -> u64 {
    (10f64.powf(rng.next_double() * 6.0) * 100.0).round() as u64
}
