//! The Nexmark records: [`Person`], [`Auction`], [`Bid`] (the Flink schema: Beam's plus
//! `channel` and `url` on bids) and the [`NexmarkEvent`] union of the three.
//!
//! Times are milliseconds since the Unix epoch; a record's event time is its `date_time`.
//! Each record type is one CSV file (`person.csv`, `auction.csv`, `bid.csv`) whose columns are
//! the fields in declaration order, strings quoted by RFC 4180 only when they need it.

use rill::csv::{CsvRecord, CsvRow, FieldError, write_escaped, write_u64};
use rill::{Event, EventTime};
use serde::{Deserialize, Serialize};

/// A person registering with the auction site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Person id (from 1000, increasing with the event id).
    pub id: u64,
    /// "First Last".
    pub name: String,
    /// A random address `xxxx@yyy.com`.
    pub email_address: String,
    /// Four groups of four digits separated by spaces.
    pub credit_card: String,
    /// One of ten US cities.
    pub city: String,
    /// One of six US state codes (upper case).
    pub state: String,
    /// Event time, ms since the Unix epoch.
    pub date_time: u64,
    /// Padding to the configured average person size.
    pub extra: String,
}

/// An auction opened by a seller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auction {
    /// Auction id (from 1000, increasing with the event id).
    pub id: u64,
    /// Random item name.
    pub item_name: String,
    /// Random description.
    pub description: String,
    /// Initial bid, in cents.
    pub initial_bid: u64,
    /// Reserve price (at least the initial bid), in cents.
    pub reserve: u64,
    /// Event time, ms since the Unix epoch.
    pub date_time: u64,
    /// When the auction closes (after `date_time`), ms since the Unix epoch.
    pub expires: u64,
    /// The seller's person id.
    pub seller: u64,
    /// Category, in `10..=14`.
    pub category: u64,
    /// Padding to the configured average auction size.
    pub extra: String,
}

/// A bid on an auction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bid {
    /// The auction's id.
    pub auction: u64,
    /// The bidder's person id.
    pub bidder: u64,
    /// Price in cents.
    pub price: u64,
    /// The channel the bid came through (`Google`, ..., or `channel-<n>`).
    pub channel: String,
    /// The URL the bid came from.
    pub url: String,
    /// Event time, ms since the Unix epoch.
    pub date_time: u64,
    /// Padding to the configured average bid size.
    pub extra: String,
}

/// One Nexmark event: a new person, a new auction or a bid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NexmarkEvent {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A bid.
    Bid(Bid),
}

impl NexmarkEvent {
    /// The event time of the record inside, ms since the Unix epoch.
    #[inline]
    pub fn date_time(&self) -> u64 {
        match self {
            NexmarkEvent::Person(p) => p.date_time,
            NexmarkEvent::Auction(a) => a.date_time,
            NexmarkEvent::Bid(b) => b.date_time,
        }
    }
}

impl Event for Person {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.date_time)
    }
}

impl Event for Auction {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.date_time)
    }
}

impl Event for Bid {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.date_time)
    }
}

impl Event for NexmarkEvent {
    #[inline]
    fn event_time(&self) -> EventTime {
        EventTime(self.date_time())
    }
}

/// Appends `,` and a string field.
#[inline]
pub(crate) fn str_field(out: &mut Vec<u8>, s: &str) {
    out.push(b',');
    write_escaped(out, s);
}

/// Appends `,` and a number field.
#[inline]
pub(crate) fn u64_field(out: &mut Vec<u8>, v: u64) {
    out.push(b',');
    write_u64(out, v);
}

/// The next field as an owned string.
#[inline]
fn string(row: &mut CsvRow<'_>) -> Result<String, FieldError> {
    Ok(row.str()?.into_owned())
}

impl CsvRecord for Person {
    const COLUMNS: &'static [&'static str] =
        &["id", "name", "email_address", "credit_card", "city", "state", "date_time", "extra"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let person = Person {
            id: row.u64()?,
            name: string(row)?,
            email_address: string(row)?,
            credit_card: string(row)?,
            city: string(row)?,
            state: string(row)?,
            date_time: row.u64()?,
            extra: string(row)?,
        };
        row.finish()?;
        Ok(person)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.id);
        str_field(out, &self.name);
        str_field(out, &self.email_address);
        str_field(out, &self.credit_card);
        str_field(out, &self.city);
        str_field(out, &self.state);
        u64_field(out, self.date_time);
        str_field(out, &self.extra);
    }
}

impl CsvRecord for Auction {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "item_name",
        "description",
        "initial_bid",
        "reserve",
        "date_time",
        "expires",
        "seller",
        "category",
        "extra",
    ];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let auction = Auction {
            id: row.u64()?,
            item_name: string(row)?,
            description: string(row)?,
            initial_bid: row.u64()?,
            reserve: row.u64()?,
            date_time: row.u64()?,
            expires: row.u64()?,
            seller: row.u64()?,
            category: row.u64()?,
            extra: string(row)?,
        };
        row.finish()?;
        Ok(auction)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.id);
        str_field(out, &self.item_name);
        str_field(out, &self.description);
        u64_field(out, self.initial_bid);
        u64_field(out, self.reserve);
        u64_field(out, self.date_time);
        u64_field(out, self.expires);
        u64_field(out, self.seller);
        u64_field(out, self.category);
        str_field(out, &self.extra);
    }
}

impl CsvRecord for Bid {
    const COLUMNS: &'static [&'static str] = &["auction", "bidder", "price", "channel", "url", "date_time", "extra"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let bid = Bid {
            auction: row.u64()?,
            bidder: row.u64()?,
            price: row.u64()?,
            channel: string(row)?,
            url: string(row)?,
            date_time: row.u64()?,
            extra: string(row)?,
        };
        row.finish()?;
        Ok(bid)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.auction);
        u64_field(out, self.bidder);
        u64_field(out, self.price);
        str_field(out, &self.channel);
        str_field(out, &self.url);
        u64_field(out, self.date_time);
        str_field(out, &self.extra);
    }
}
