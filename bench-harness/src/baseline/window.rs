//! What every sensors baseline computes, and the lateness rule they share with the engine.
//!
//! The query: per room, per tumbling event-time window of `window_ms` (aligned to the Unix
//! epoch), the count, average, minimum and maximum of `temp_dc`.
//!
//! Lateness, as in Rill (see `rill::time`): each source (worker) reads its input in chunks of
//! [`CHUNK`] events and stamps every chunk with its watermark *before* the chunk, where the
//! watermark is the newest event time the source has read minus `max_out_of_orderness_ms`,
//! rounded down to a multiple of `granularity_ms` (1000 ms). A record is late, and dropped
//! (counted, never aggregated), when its window's end plus `allowed_lateness_ms` is at or below
//! its chunk's stamp. The decision depends only on the input order and the number of sources,
//! never on scheduling. With several sources, worker `w` reads chunks `c` with
//! `c % workers == w`.
//!
//! Rill's sources may batch differently from [`CHUNK`], so on an input with late records a
//! baseline's late count can differ slightly from the engine's; without late records all
//! results are the same.

/// Events per source chunk: the unit of work distribution and of watermark advance.
pub const CHUNK: u64 = 4096;

/// The window query's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowParams {
    /// Tumbling window length, ms.
    pub window_ms: u64,
    /// Sources' bounded out-of-orderness, ms.
    pub max_out_of_orderness_ms: u64,
    /// How long after its end a window still accepts records, ms.
    pub allowed_lateness_ms: u64,
    /// Watermarks advance in multiples of this many ms.
    pub granularity_ms: u64,
}

impl Default for WindowParams {
    fn default() -> Self {
        WindowParams {
            window_ms: 10_000,
            max_out_of_orderness_ms: 1_000,
            allowed_lateness_ms: 0,
            granularity_ms: 1_000,
        }
    }
}

impl WindowParams {
    /// Start of the window containing `ts`.
    #[inline]
    pub fn window_start(&self, ts: u64) -> u64 {
        ts - ts % self.window_ms
    }

    /// The time at which the window starting at `start` stops accepting records: a record of
    /// that window stamped at or after it is late.
    #[inline]
    pub fn close_time(&self, start: u64) -> u64 {
        start.saturating_add(self.window_ms).saturating_add(self.allowed_lateness_ms)
    }

    /// Whether a record at `ts` in a chunk stamped `stamp` is late.
    #[inline]
    pub fn is_late(&self, ts: u64, stamp: u64) -> bool {
        self.close_time(self.window_start(ts)) <= stamp
    }
}

/// One source's watermark: bounded out-of-orderness at a fixed granularity.
#[derive(Debug, Clone)]
pub struct SourceWatermark {
    max_seen: Option<u64>,
    ooo: u64,
    granularity: u64,
}

impl SourceWatermark {
    /// A source that has read nothing (watermark 0).
    pub fn new(params: &WindowParams) -> Self {
        SourceWatermark {
            max_seen: None,
            ooo: params.max_out_of_orderness_ms,
            granularity: params.granularity_ms.max(1),
        }
    }

    /// Notes an event time.
    #[inline]
    pub fn observe(&mut self, ts: u64) {
        self.max_seen = Some(self.max_seen.map_or(ts, |m| m.max(ts)));
    }

    /// The watermark implied by what was observed.
    #[inline]
    pub fn current(&self) -> u64 {
        self.max_seen.map_or(0, |m| {
            let w = m.saturating_sub(self.ooo);
            w - w % self.granularity
        })
    }
}

/// The running aggregate of one (room, window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acc {
    /// Readings.
    pub count: u64,
    /// Sum of `temp_dc`.
    pub sum: i64,
    /// Least `temp_dc`.
    pub min: i32,
    /// Greatest `temp_dc`.
    pub max: i32,
}

impl Default for Acc {
    fn default() -> Self {
        Acc { count: 0, sum: 0, min: i32::MAX, max: i32::MIN }
    }
}

impl Acc {
    /// Adds a reading.
    #[inline]
    pub fn add(&mut self, temp: i32) {
        self.count += 1;
        self.sum += i64::from(temp);
        self.min = self.min.min(temp);
        self.max = self.max.max(temp);
    }
}

/// One window result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WindowRow {
    /// The room.
    pub room: u32,
    /// Window start, ms.
    pub window_start: u64,
    /// Readings in the window.
    pub count: u64,
    /// Sum of `temp_dc`.
    pub sum: i64,
    /// Least `temp_dc`.
    pub min: i32,
    /// Greatest `temp_dc`.
    pub max: i32,
}

impl WindowRow {
    /// The row of a finished window.
    pub fn new(room: u32, window_start: u64, acc: &Acc) -> Self {
        WindowRow { room, window_start, count: acc.count, sum: acc.sum, min: acc.min, max: acc.max }
    }

    /// Average `temp_dc`.
    pub fn avg(&self) -> f64 {
        self.sum as f64 / self.count as f64
    }

    /// A 64-bit fingerprint of every field.
    pub fn fingerprint(&self) -> u64 {
        let mut h = mix(u64::from(self.room) ^ 0x5851_f42d_4c95_7f2d);
        for v in [
            self.window_start,
            self.count,
            self.sum as u64,
            self.min as u32 as u64 | (u64::from(self.max as u32) << 32),
        ] {
            h = mix(h ^ v);
        }
        h
    }
}

/// The splitmix64 finaliser.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a run of the query produced, independent of row order: results from several workers
/// combine with [`Digest::merge`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digest {
    /// Window result rows.
    pub rows: u64,
    /// Records dropped as late.
    pub late: u64,
    /// Records aggregated (the sum of the rows' counts).
    pub aggregated: u64,
    /// Wrapping sum of the rows' fingerprints.
    pub checksum: u64,
}

impl Digest {
    /// Counts one result row.
    #[inline]
    pub fn add_row(&mut self, row: &WindowRow) {
        self.rows += 1;
        self.aggregated += row.count;
        self.checksum = self.checksum.wrapping_add(row.fingerprint());
    }

    /// Combines two partial digests.
    pub fn merge(mut self, other: Digest) -> Digest {
        self.rows += other.rows;
        self.late += other.late;
        self.aggregated += other.aggregated;
        self.checksum = self.checksum.wrapping_add(other.checksum);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_and_lateness() {
        let p = WindowParams::default();
        let mut w = SourceWatermark::new(&p);
        assert_eq!(w.current(), 0);
        w.observe(12_345);
        assert_eq!(w.current(), 11_000);
        w.observe(500);
        assert_eq!(w.current(), 11_000, "never goes back");
        // Window [0, 10000) closes at 10000; stamp 11000 makes its records late.
        assert!(p.is_late(9_999, 11_000));
        assert!(!p.is_late(10_000, 11_000));
        assert!(!p.is_late(9_999, 9_000));
        let lenient = WindowParams { allowed_lateness_ms: 2_000, ..p };
        assert!(!lenient.is_late(9_999, 11_000));
        assert!(lenient.is_late(9_999, 12_000));
    }

    #[test]
    fn fingerprint_sees_every_field() {
        let base = WindowRow { room: 1, window_start: 10_000, count: 3, sum: 30, min: -5, max: 20 };
        let variants = [
            WindowRow { room: 2, ..base },
            WindowRow { window_start: 20_000, ..base },
            WindowRow { count: 4, ..base },
            WindowRow { sum: 31, ..base },
            WindowRow { min: -4, ..base },
            WindowRow { max: 21, ..base },
        ];
        for v in variants {
            assert_ne!(v.fingerprint(), base.fingerprint(), "{v:?}");
        }
    }
}
