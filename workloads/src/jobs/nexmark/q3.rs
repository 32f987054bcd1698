//! Nexmark q3, local item suggestion: sellers in Oregon, Idaho or California and their
//! auctions in category 10, as an incremental (unbounded) join.
//!
//! ```sql
//! SELECT P.name, P.city, P.state, A.id
//! FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
//! WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
//! ```
//!
//! Output `name,city,state,id`: one row per matching (person, auction) pair, emitted as soon as
//! both sides have arrived, in either order.
//!
//! * The filters run before the join (persons of other states and auctions of other categories
//!   never reach it). The join is keyed by person id: a person's entry holds its name, city and
//!   state once it has arrived, and until then the ids of its auctions that came first (a
//!   seller may be one of the 10 persons not generated yet, NEXMARK.md section 5).
//! * Unbounded, like the SQL's regular join: entries are never expired, so the state grows with
//!   the number of matching persons and of category-10 auctions whose seller is not (yet) a
//!   matching person. Beam bounds it by forgetting persons after 600 s; Rill keeps the SQL's
//!   result exact.
//! * States are matched as written (`"OR"`, upper case, as Beam and Flink generate them).
//! * A record below its source's watermark is late (counted, dropped); none is with in-order
//!   input.

use crate::nexmark::{str_field, u64_field};
use rill::api::process::{KeyedProcessFunction, ProcessContext};
use rill::api::stream::RillStream;
use rill::csv::{CsvRecord, CsvRow, FieldError, write_escaped};
use rill::operators::process::{ProcessKeyed, ProcessOutput};
use rill::state::{StateRegistry, ValueState};
use rill::{Dataflow, Event, EventTime};
use serde::{Deserialize, Serialize};

use super::{QueryInput, QueryOutput, units};
use crate::nexmark::{Auction, Person};

/// The category q3 selects.
pub const CATEGORY: u64 = 10;
/// The states q3 selects.
pub const STATES: [&str; 3] = ["OR", "ID", "CA"];

/// What q3 reads: a person of a selected state, or an auction of the selected category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Q3In {
    /// A person in OR, ID or CA.
    Person {
        /// Person id.
        id: u64,
        /// Name.
        name: String,
        /// City.
        city: String,
        /// State.
        state: String,
        /// Event time, ms.
        date_time: u64,
    },
    /// An auction in category 10.
    Auction {
        /// Auction id.
        id: u64,
        /// Seller (person) id.
        seller: u64,
        /// Event time, ms.
        date_time: u64,
    },
}

impl Q3In {
    /// The join key: the person id, or the auction's seller.
    #[inline]
    fn person_id(&self) -> u64 {
        match self {
            Q3In::Person { id, .. } => *id,
            Q3In::Auction { seller, .. } => *seller,
        }
    }
}

impl Event for Q3In {
    #[inline]
    fn event_time(&self) -> EventTime {
        match self {
            Q3In::Person { date_time, .. } | Q3In::Auction { date_time, .. } => EventTime(*date_time),
        }
    }
}

impl QueryInput for Q3In {
    const PERSONS: bool = true;
    const AUCTIONS: bool = true;
    const BIDS: bool = false;

    fn person(p: Person) -> Option<Self> {
        STATES.contains(&p.state.as_str()).then_some(Q3In::Person {
            id: p.id,
            name: p.name,
            city: p.city,
            state: p.state,
            date_time: p.date_time,
        })
    }

    fn auction(a: Auction) -> Option<Self> {
        (a.category == CATEGORY).then_some(Q3In::Auction { id: a.id, seller: a.seller, date_time: a.date_time })
    }

    type CsvBid = crate::nexmark::Bid;

    #[inline]
    fn csv_bid(b: Self::CsvBid) -> Option<Self> {
        Self::bid(b)
    }
}

/// A q3 row: `name,city,state,id`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Q3Row {
    /// The seller's name.
    pub name: String,
    /// The seller's city.
    pub city: String,
    /// The seller's state.
    pub state: String,
    /// The auction id.
    pub id: u64,
}

impl CsvRecord for Q3Row {
    const COLUMNS: &'static [&'static str] = &["name", "city", "state", "id"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = Q3Row {
            name: row.str()?.into_owned(),
            city: row.str()?.into_owned(),
            state: row.str()?.into_owned(),
            id: row.u64()?,
        };
        row.finish()?;
        Ok(r)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_escaped(out, &self.name);
        str_field(out, &self.city);
        str_field(out, &self.state);
        u64_field(out, self.id);
    }
}

/// One person id's side of the join.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Seller {
    /// `(name, city, state)` once the person has arrived.
    person: Option<(String, String, String)>,
    /// Auctions that arrived before the person.
    pending: Vec<u64>,
}

/// The join, keyed by person id.
#[derive(Default)]
struct LocalItems {
    seller: ValueState<Seller>,
}

impl KeyedProcessFunction<u64, Q3In> for LocalItems {
    type Out = Q3Row;
    type Side = ();

    fn open(&mut self, state: &mut StateRegistry<'_, u64>) {
        self.seller = state.value("seller");
    }

    fn process_element(&mut self, r: &Q3In, ctx: &mut ProcessContext<'_, u64, Q3Row, ()>) {
        let s = ctx.value_or_insert_with(&self.seller, Seller::default);
        let mut rows = Vec::new();
        match r {
            Q3In::Person { name, city, state, .. } => {
                for id in s.pending.drain(..) {
                    rows.push(Q3Row { name: name.clone(), city: city.clone(), state: state.clone(), id });
                }
                s.pending = Vec::new();
                s.person = Some((name.clone(), city.clone(), state.clone()));
            }
            Q3In::Auction { id, .. } => match &s.person {
                Some((name, city, state)) => {
                    rows.push(Q3Row { name: name.clone(), city: city.clone(), state: state.clone(), id: *id });
                }
                None => s.pending.push(*id),
            },
        }
        for row in rows {
            ctx.emit(row);
        }
    }
}

/// q3 on a stream of selected persons and auctions.
pub fn q3<'s>(df: &Dataflow<'s>, input: RillStream<'s, Q3In>) -> QueryOutput<'s, Q3Row> {
    let ProcessOutput { output, late, .. } = input.process_keyed(df, "q3-join", Q3In::person_id, LocalItems::default());
    QueryOutput { rows: output, late: units(late) }
}
