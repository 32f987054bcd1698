//! The naive reference for the sensors query: the whole input in memory, one source at a
//! time, a `BTreeMap`, no cleverness. Tests compare every baseline against it.

use std::collections::BTreeMap;

use super::window::{Acc, CHUNK, Digest, SourceWatermark, WindowParams, WindowRow};

/// The window results of `events` (`(ts_ms, room, temp_dc)` in input order) read by `workers`
/// sources, sorted by (room, window start), and the number of late records.
pub fn window_rows(events: &[(u64, u32, i32)], workers: usize, params: &WindowParams) -> (Vec<WindowRow>, u64) {
    let workers = workers.max(1);
    let mut windows: BTreeMap<(u32, u64), Acc> = BTreeMap::new();
    let mut late = 0;
    for w in 0..workers {
        let mut wm = SourceWatermark::new(params);
        for chunk in events.chunks(CHUNK as usize).skip(w).step_by(workers) {
            let stamp = wm.current();
            for &(ts, room, temp) in chunk {
                wm.observe(ts);
                if params.is_late(ts, stamp) {
                    late += 1;
                } else {
                    windows.entry((room, params.window_start(ts))).or_default().add(temp);
                }
            }
        }
    }
    let rows = windows.iter().map(|(&(room, start), acc)| WindowRow::new(room, start, acc)).collect();
    (rows, late)
}

/// The [`Digest`] of [`window_rows`].
pub fn digest(events: &[(u64, u32, i32)], workers: usize, params: &WindowParams) -> Digest {
    let (rows, late) = window_rows(events, workers, params);
    let mut d = Digest { late, ..Digest::default() };
    rows.iter().for_each(|r| d.add_row(r));
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_example() {
        let p = WindowParams::default();
        // One chunk: stamp 0 for all, nothing late.
        let events = [(1_000, 7, 200), (9_999, 7, -10), (10_000, 7, 50), (5_000, 3, 100)];
        let (rows, late) = window_rows(&events, 1, &p);
        assert_eq!(late, 0);
        assert_eq!(
            rows,
            vec![
                WindowRow { room: 3, window_start: 0, count: 1, sum: 100, min: 100, max: 100 },
                WindowRow { room: 7, window_start: 0, count: 2, sum: 190, min: -10, max: 200 },
                WindowRow { room: 7, window_start: 10_000, count: 1, sum: 50, min: 50, max: 50 },
            ]
        );
        assert_eq!(rows[1].avg(), 95.0);
    }

    #[test]
    fn late_records_follow_the_chunk_stamp() {
        let p = WindowParams::default();
        // Chunk 0 reaches event time 20_000 (watermark 19_000); chunk 1 holds one old record of
        // window [0, 10000), which is late, and one of window [10000, 20000), which is not yet.
        let mut events = vec![(20_000, 1, 1); CHUNK as usize];
        events.push((5_000, 1, 2));
        events.push((19_500, 1, 3));
        let (rows, late) = window_rows(&events, 1, &p);
        assert_eq!(late, 1);
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), CHUNK + 1);
        // With two sources, chunk 1 is the second source's first: stamp 0, nothing late.
        let (_, late) = window_rows(&events, 2, &p);
        assert_eq!(late, 0);
    }
}
