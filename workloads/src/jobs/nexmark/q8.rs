//! Nexmark q8, monitor new users: persons who registered and opened an auction in the same
//! 10 s tumbling window.
//!
//! ```sql
//! SELECT P.id, P.name, P.starttime
//! FROM (SELECT id, name, window_start AS starttime, window_end AS endtime
//!       FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//!       GROUP BY id, name, window_start, window_end) P
//! JOIN (SELECT seller, window_start AS starttime, window_end AS endtime
//!       FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//!       GROUP BY seller, window_start, window_end) A
//! ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
//! ```
//!
//! Output `id,name,window_start_ms`: one row per person and window (however many auctions the
//! person opened in it), emitted once the watermark passes the window's end.
//!
//! * Windows are half-open `[start, start + 10 000)`, epoch aligned (Flink's TUMBLE).
//! * Plan: a keyed process function per person id over the merged persons and auctions. A
//!   person's entry holds its registration window and name, and the windows in which it sold;
//!   an event-time timer at each such window's end decides the window and forgets it, so the
//!   state holds only windows not yet closed.
//! * The join matches `(id, name, window)` groups: a person id registered twice in one window
//!   under two names would give two rows; the generator registers each id once.
//! * A record below its source's watermark is late (counted, dropped); none is with in-order
//!   input.

use crate::nexmark::{str_field, u64_field};
use rill::api::process::{KeyedProcessFunction, ProcessContext};
use rill::api::stream::RillStream;
use rill::csv::{CsvRecord, CsvRow, FieldError, write_u64};
use rill::operators::process::{ProcessKeyed, ProcessOutput};
use rill::state::{StateRegistry, TimeDomain, ValueState};
use rill::{Dataflow, Event, EventTime};
use serde::{Deserialize, Serialize};

use super::{QueryInput, QueryOutput, units};
use crate::nexmark::{Auction, Person};

/// Window length (ms).
pub const WINDOW_MS: u64 = 10_000;

/// What q8 reads: a person or an auction's seller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Q8In {
    /// A new person.
    Person {
        /// Person id.
        id: u64,
        /// Name.
        name: String,
        /// Event time, ms.
        date_time: u64,
    },
    /// A new auction.
    Auction {
        /// Seller (person) id.
        seller: u64,
        /// Event time, ms.
        date_time: u64,
    },
}

impl Q8In {
    /// The join key: the person id, or the auction's seller.
    #[inline]
    fn person_id(&self) -> u64 {
        match self {
            Q8In::Person { id, .. } => *id,
            Q8In::Auction { seller, .. } => *seller,
        }
    }
}

impl Event for Q8In {
    #[inline]
    fn event_time(&self) -> EventTime {
        match self {
            Q8In::Person { date_time, .. } | Q8In::Auction { date_time, .. } => EventTime(*date_time),
        }
    }
}

impl QueryInput for Q8In {
    const PERSONS: bool = true;
    const AUCTIONS: bool = true;
    const BIDS: bool = false;

    fn person(p: Person) -> Option<Self> {
        Some(Q8In::Person { id: p.id, name: p.name, date_time: p.date_time })
    }

    fn auction(a: Auction) -> Option<Self> {
        Some(Q8In::Auction { seller: a.seller, date_time: a.date_time })
    }

    type CsvBid = crate::nexmark::Bid;

    #[inline]
    fn csv_bid(b: Self::CsvBid) -> Option<Self> {
        Self::bid(b)
    }
}

/// A q8 row: `id,name,window_start_ms`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Q8Row {
    /// Person id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Start of the window, ms.
    pub window_start_ms: u64,
}

impl CsvRecord for Q8Row {
    const COLUMNS: &'static [&'static str] = &["id", "name", "window_start_ms"];

    fn parse_csv(row: &mut CsvRow<'_>) -> Result<Self, FieldError> {
        let r = Q8Row { id: row.u64()?, name: row.str()?.into_owned(), window_start_ms: row.u64()? };
        row.finish()?;
        Ok(r)
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_u64(out, self.id);
        str_field(out, &self.name);
        u64_field(out, self.window_start_ms);
    }
}

/// One person id's open windows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct NewUser {
    /// `(window start, name)` of each registration in a window not yet closed.
    registered: Vec<(u64, String)>,
    /// Starts of the windows not yet closed in which the person opened an auction.
    sold: Vec<u64>,
}

/// The windowed join, keyed by person id.
#[derive(Default)]
struct NewUsers {
    user: ValueState<NewUser>,
}

/// The start of the window containing `t`.
#[inline]
fn window_start(t: u64) -> u64 {
    t - t % WINDOW_MS
}

impl KeyedProcessFunction<u64, Q8In> for NewUsers {
    type Out = Q8Row;
    type Side = ();

    fn open(&mut self, state: &mut StateRegistry<'_, u64>) {
        self.user = state.value("user");
    }

    fn process_element(&mut self, r: &Q8In, ctx: &mut ProcessContext<'_, u64, Q8Row, ()>) {
        let u = ctx.value_or_insert_with(&self.user, NewUser::default);
        let start = match r {
            Q8In::Person { name, date_time, .. } => {
                let start = window_start(*date_time);
                if !u.registered.iter().any(|(s, n)| *s == start && n == name) {
                    u.registered.push((start, name.clone()));
                }
                start
            }
            Q8In::Auction { date_time, .. } => {
                let start = window_start(*date_time);
                if !u.sold.contains(&start) {
                    u.sold.push(start);
                }
                start
            }
        };
        ctx.register_event_time_timer(EventTime(start + WINDOW_MS));
    }

    fn on_timer(&mut self, end: EventTime, _: TimeDomain, ctx: &mut ProcessContext<'_, u64, Q8Row, ()>) {
        let id = *ctx.key();
        let start = end.0 - WINDOW_MS;
        let Some(u) = ctx.value_mut(&self.user) else { return };
        let sold = u.sold.contains(&start);
        u.sold.retain(|&s| s != start);
        let mut rows = Vec::new();
        u.registered.retain_mut(|(s, name)| {
            if *s != start {
                return true;
            }
            if sold {
                rows.push(Q8Row { id, name: std::mem::take(name), window_start_ms: start });
            }
            false
        });
        if u.registered.is_empty() && u.sold.is_empty() {
            ctx.clear_value(&self.user);
        }
        for row in rows {
            ctx.emit(row);
        }
    }
}

/// q8 on a stream of persons and auctions.
pub fn q8<'s>(df: &Dataflow<'s>, input: RillStream<'s, Q8In>) -> QueryOutput<'s, Q8Row> {
    let ProcessOutput { output, late, .. } =
        input.process_keyed(df, "q8-new-users", Q8In::person_id, NewUsers::default());
    QueryOutput { rows: output, late: units(late) }
}
