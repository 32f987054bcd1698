//! The plain-timely baseline: the sensors window query hand-written on timely 0.32, with no
//! Rill code in the dataflow.
//!
//! ```text
//! source (per worker: chunks c with c % workers == w, generated in place)
//!   -> Exchange by room -> unary_frontier window (HashMap<(room, window_start), Acc>)
//!   -> counting sink (row count and checksum)
//! ```
//!
//! Timestamps are `u64` event-time watermarks: each chunk is stamped with its source's
//! watermark before the chunk (newest event time seen minus the out-of-orderness, rounded down
//! to 1000 ms; see [`super::window`]); records keep their own event times. The window operator
//! judges lateness against a record's stamp and emits a window once its input frontier has
//! passed the window's close time, so its results equal the naive reference.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use foldhash::HashMap;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::generic::operator::source;

use super::SensorSource;
use super::window::{Acc, CHUNK, Digest, SourceWatermark, WindowParams, WindowRow};

/// Chunks a source emits per activation before yielding to the other operators.
const CHUNKS_PER_ACTIVATION: u64 = 8;

type Reading = (u64, u32, i32);

/// Runs the query over events `0..events` of `src` on `workers` threads; returns the merged
/// digest and the wall-clock time from start to the last worker finishing.
pub fn run<S: SensorSource>(
    src: Arc<S>,
    events: u64,
    workers: usize,
    params: WindowParams,
) -> Result<(Digest, Duration), String> {
    let config = if workers <= 1 { timely::Config::thread() } else { timely::Config::process(workers) };
    let start = Instant::now();
    let guards = timely::execute(config, move |worker| {
        let src = Arc::clone(&src);
        let digest = Rc::new(RefCell::new(Digest::default()));
        let sink_digest = Rc::clone(&digest);
        let late = Rc::new(Cell::new(0u64));
        let window_late = Rc::clone(&late);
        worker.dataflow::<u64, _, _>(move |scope| {
            let index = scope.index() as u64;
            let peers = scope.peers() as u64;
            let readings =
                source::<_, CapacityContainerBuilder<Vec<Reading>>, _, _>(scope, "Source", move |cap, info| {
                    let activator = scope.activator_for(info.address);
                    let mut cap = Some(cap);
                    let mut chunk = index;
                    let mut wm = SourceWatermark::new(&params);
                    let mut buf = Vec::with_capacity(CHUNK as usize);
                    move |output| {
                        for _ in 0..CHUNKS_PER_ACTIVATION {
                            let Some(c) = cap.as_mut() else { return };
                            let first = chunk * CHUNK;
                            if first >= events {
                                cap = None;
                                return;
                            }
                            buf.clear();
                            src.fill(first..(first + CHUNK).min(events), &mut buf);
                            let stamp = wm.current();
                            if stamp > *c.time() {
                                c.downgrade(&stamp);
                            }
                            let mut session = output.session(c);
                            for e in &buf {
                                let r = S::fields(e);
                                wm.observe(r.0);
                                session.give(r);
                            }
                            chunk += peers;
                        }
                        activator.activate();
                    }
                });
            let rows = readings.unary_frontier::<CapacityContainerBuilder<Vec<WindowRow>>, _, _, _>(
                Exchange::new(|r: &Reading| room_hash(r.1)),
                "Window",
                move |_cap, _info| {
                    let mut windows: HashMap<(u32, u64), Acc> = HashMap::default();
                    // A capability at the least stamp of the data held in `windows`.
                    let mut held: Option<Capability<u64>> = None;
                    // Least close time among the open windows (`u64::MAX` when none): the map
                    // is scanned only when the frontier passes it.
                    let mut next_close = u64::MAX;
                    move |(input, frontier), output| {
                        let mut late = 0;
                        input.for_each_stamp(|cap, data| {
                            let Some(&stamp) = cap.least() else { return };
                            if held.as_ref().is_none_or(|h| stamp < *h.time()) {
                                held = Some(cap.delayed(&stamp, output.output_index()));
                            }
                            for batch in data {
                                for &(ts, room, temp) in batch.iter() {
                                    if params.is_late(ts, stamp) {
                                        late += 1;
                                    } else {
                                        let start = params.window_start(ts);
                                        windows.entry((room, start)).or_default().add(temp);
                                        next_close = next_close.min(params.close_time(start));
                                    }
                                }
                            }
                        });
                        window_late.set(window_late.get() + late);
                        let Some(h) = held.as_mut() else { return };
                        // Least time of the input frontier; `None` once the input has ended.
                        let f = frontier.frontier().iter().copied().min();
                        if f.is_none_or(|f| next_close <= f) {
                            let mut session = output.session(&*h);
                            next_close = u64::MAX;
                            windows.retain(|&(room, start), acc| {
                                let close = params.close_time(start);
                                let done = f.is_none_or(|f| close <= f);
                                if done {
                                    session.give(WindowRow::new(room, start, acc));
                                } else {
                                    next_close = next_close.min(close);
                                }
                                !done
                            });
                        }
                        match f {
                            // Nothing open: hold no capability (later input brings its own).
                            _ if windows.is_empty() => held = None,
                            Some(f) if f > *h.time() => h.downgrade(&f),
                            _ => {}
                        }
                    }
                },
            );
            rows.sink(Pipeline, "Count", move |(input, _frontier)| {
                let mut d = sink_digest.borrow_mut();
                input.for_each_stamp(|_cap, data| {
                    for batch in data {
                        for row in batch.iter() {
                            d.add_row(row);
                        }
                    }
                });
            });
        });
        while worker.step_or_park(None) {}
        Digest { late: late.get(), ..*digest.borrow() }
    })?;
    let mut total = Digest::default();
    for r in guards.join() {
        total = total.merge(r?);
    }
    Ok((total, start.elapsed()))
}

/// Spreads room ids over workers (timely routes by `hash % peers`).
#[inline]
fn room_hash(room: u32) -> u64 {
    (u64::from(room) ^ 0x2545_f491_4f6c_dd1d).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32
}
