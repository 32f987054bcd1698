//! [`NexmarkConfig`]: the parameters of the Nexmark generator, with Beam's defaults, and their
//! validation.
//!
//! Validation guarantees what generation relies on: every bound passed to `nextInt` is a
//! positive 32-bit integer, the inter-event delay is at least 1 microsecond, and every
//! timestamp computed for events `0..events` (plus the auction horizon) fits in 63 bits.

use serde::{Deserialize, Serialize};

/// Events per "epoch" of the type pattern: 1 person, 3 auctions, 46 bids.
pub(crate) const PROPORTION_DENOMINATOR: u64 = 50;

/// The parameters of the Nexmark generator (defaults: Beam's, with one generator).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NexmarkConfig {
    /// Mixed into every per-event `java.util.Random` seed; 0 gives Beam's seeds (default 0).
    pub seed: u64,
    /// Number of events (`0..events`, default 1 000 000).
    pub events: u64,
    /// Events per second of event time over all generators (default 10 000, at most
    /// 2 000 000: Beam's integer microsecond period rounds faster rates to 0).
    pub first_event_rate: u64,
    /// Parallel timelines (default 1); see the module docs of [`crate::nexmark`].
    pub num_event_generators: u64,
    /// Event time of event number 0, ms since the Unix epoch (default 1 436 918 400 000,
    /// 2015-07-15T00:00:00Z, Beam's base time).
    pub base_time_ms: u64,
    /// One bid in this many goes to a random auction, the others to the hot one (default 2).
    pub hot_auction_ratio: u32,
    /// One auction in this many has a random seller, the others the hot one (default 4).
    pub hot_seller_ratio: u32,
    /// One bid in this many has a random bidder, the others the hot one (default 4).
    pub hot_bidder_ratio: u32,
    /// Auctions a bid may refer to, behind the latest (default 100).
    pub num_in_flight_auctions: u32,
    /// Persons a random seller or bidder is drawn from, behind the latest (default 1000).
    pub num_active_people: u32,
    /// Average size of a person in bytes, `extra` included (default 200).
    pub avg_person_bytes: u32,
    /// Average size of an auction in bytes, `extra` included (default 500).
    pub avg_auction_bytes: u32,
    /// Average size of a bid in bytes, `extra` included (default 100).
    pub avg_bid_bytes: u32,
    /// Events are permuted within groups of this size (default 1: in order).
    pub out_of_order_group_size: u64,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        NexmarkConfig {
            seed: 0,
            events: 1_000_000,
            first_event_rate: 10_000,
            num_event_generators: 1,
            base_time_ms: 1_436_918_400_000,
            hot_auction_ratio: 2,
            hot_seller_ratio: 4,
            hot_bidder_ratio: 4,
            num_in_flight_auctions: 100,
            num_active_people: 1000,
            avg_person_bytes: 200,
            avg_auction_bytes: 500,
            avg_bid_bytes: 100,
            out_of_order_group_size: 1,
        }
    }
}

/// Largest rate whose rounded period (`(10^6 + rate / 2) / rate` µs) is at least 1 µs.
pub const MAX_EVENT_RATE: u64 = 2_000_000;

/// Largest average record size: `extra` strings stay well inside the 1 MiB string pool.
pub const MAX_AVG_BYTES: u32 = 1 << 18;

impl NexmarkConfig {
    /// Checks the parameters; the message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        if self.first_event_rate == 0 || self.first_event_rate > MAX_EVENT_RATE {
            return Err(format!("first_event_rate must be in 1..={MAX_EVENT_RATE}, got {}", self.first_event_rate));
        }
        if self.num_event_generators == 0 || self.num_event_generators > 1 << 20 {
            return Err(format!("num_event_generators must be in 1..=2^20, got {}", self.num_event_generators));
        }
        if self.out_of_order_group_size == 0 || self.out_of_order_group_size > 1 << 30 {
            return Err(format!("out_of_order_group_size must be in 1..=2^30, got {}", self.out_of_order_group_size));
        }
        for (name, v) in [
            ("hot_auction_ratio", self.hot_auction_ratio),
            ("hot_seller_ratio", self.hot_seller_ratio),
            ("hot_bidder_ratio", self.hot_bidder_ratio),
            ("num_in_flight_auctions", self.num_in_flight_auctions),
            ("num_active_people", self.num_active_people),
        ] {
            if v == 0 || v > i32::MAX as u32 - 100 {
                return Err(format!("{name} must be in 1..2^31 - 100, got {v}"));
            }
        }
        for (name, v) in [
            ("avg_person_bytes", self.avg_person_bytes),
            ("avg_auction_bytes", self.avg_auction_bytes),
            ("avg_bid_bytes", self.avg_bid_bytes),
        ] {
            if v > MAX_AVG_BYTES {
                return Err(format!("{name} must be <= {MAX_AVG_BYTES}, got {v}"));
            }
        }
        // The largest event number whose timestamp is computed: the last one, plus the
        // out-of-order group, plus the auction horizon.
        let numbers = u128::from(self.events)
            + u128::from(self.out_of_order_group_size)
            + u128::from(self.auction_horizon_events());
        let span_ms = numbers * u128::from(self.inter_event_delay_us()) / 1000;
        if u128::from(self.base_time_ms) + span_ms >= 1 << 62 {
            return Err("base_time_ms + events * inter-event delay overflows event time".into());
        }
        Ok(())
    }

    /// Beam's `rateToPeriodUs(first_event_rate) * num_event_generators`: the delay between two
    /// consecutive events of one generator, in microseconds.
    pub fn inter_event_delay_us(&self) -> u64 {
        (1_000_000 + self.first_event_rate / 2) / self.first_event_rate.max(1) * self.num_event_generators
    }

    /// Events until `num_in_flight_auctions` more auctions exist: `num_in_flight_auctions * 50
    /// / 3` (1666 by default), the horizon of auction lengths.
    pub(crate) fn auction_horizon_events(&self) -> u64 {
        u64::from(self.num_in_flight_auctions) * PROPORTION_DENOMINATOR / 3
    }
}
