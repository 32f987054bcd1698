//! Window assignment: which event-time windows a record belongs to.
//!
//! Windows are half-open `[start, end)` in milliseconds. Tumbling and sliding windows are
//! aligned to the Unix epoch (`start % slide == 0`); a session window starts as
//! `[t, t + gap)` and merges with every session it overlaps or touches.

use serde::{Deserialize, Serialize};

use crate::time::EventTime;

/// A half-open event-time window `[start, end)`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Window {
    /// First millisecond in the window.
    pub start: EventTime,
    /// First millisecond after the window.
    pub end: EventTime,
}

impl Window {
    /// The window `[start, end)`.
    pub fn new(start: u64, end: u64) -> Self {
        Window { start: EventTime(start), end: EventTime(end) }
    }

    /// The last millisecond in the window: the event time of its result.
    #[inline]
    pub fn max_timestamp(&self) -> EventTime {
        EventTime(self.end.0 - 1)
    }

    /// Whether `t` falls in the window.
    #[inline]
    pub fn contains(&self, t: EventTime) -> bool {
        self.start <= t && t < self.end
    }
}

/// The kinds of windows.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowSpec {
    /// Fixed-size, non-overlapping windows of `size_ms`.
    Tumbling {
        /// Window length (ms).
        size_ms: u64,
    },
    /// Windows of `size_ms` starting every `slide_ms`; a record is in `size / slide` of them.
    Sliding {
        /// Window length (ms).
        size_ms: u64,
        /// Distance between window starts (ms); must divide `size_ms`.
        slide_ms: u64,
    },
    /// Per-key activity sessions closed by a gap of `gap_ms` without events.
    Session {
        /// Inactivity that closes a session (ms).
        gap_ms: u64,
    },
}

impl WindowSpec {
    /// Tumbling windows of `size_ms`.
    pub fn tumbling(size_ms: u64) -> Self {
        WindowSpec::Tumbling { size_ms }
    }

    /// Sliding windows of `size_ms` every `slide_ms`.
    pub fn sliding(size_ms: u64, slide_ms: u64) -> Self {
        WindowSpec::Sliding { size_ms, slide_ms }
    }

    /// Session windows with inactivity gap `gap_ms`.
    pub fn session(gap_ms: u64) -> Self {
        WindowSpec::Session { gap_ms }
    }

    /// Checks the parameters; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            WindowSpec::Tumbling { size_ms: 0 } => Err("tumbling window size must be positive".into()),
            WindowSpec::Sliding { size_ms, slide_ms } if slide_ms == 0 || size_ms == 0 => {
                Err("sliding window size and slide must be positive".into())
            }
            WindowSpec::Sliding { size_ms, slide_ms } if size_ms % slide_ms != 0 => {
                Err(format!("sliding window size {size_ms} ms is not a multiple of its slide {slide_ms} ms"))
            }
            WindowSpec::Session { gap_ms: 0 } => Err("session gap must be positive".into()),
            _ => Ok(()),
        }
    }

    /// The pane length: tumbling and sliding windows are unions of aligned panes of this many
    /// ms (the slide), so a record updates exactly one pane. `None` for sessions.
    #[inline]
    pub fn pane_ms(&self) -> Option<u64> {
        match *self {
            WindowSpec::Tumbling { size_ms } => Some(size_ms),
            WindowSpec::Sliding { slide_ms, .. } => Some(slide_ms),
            WindowSpec::Session { .. } => None,
        }
    }

    /// Calls `f` with every window (tumbling or sliding) that contains `t`, earliest first;
    /// for sessions, with the initial session window `[t, t + gap)`.
    pub fn assign(&self, t: EventTime, mut f: impl FnMut(Window)) {
        match *self {
            WindowSpec::Tumbling { size_ms } => {
                let start = t.0 - t.0 % size_ms;
                f(Window::new(start, start.saturating_add(size_ms)));
            }
            WindowSpec::Sliding { size_ms, slide_ms } => {
                let last_start = t.0 - t.0 % slide_ms;
                let mut start = (last_start + slide_ms).saturating_sub(size_ms);
                // Align the first start to the slide (it may be clamped at 0).
                start -= start % slide_ms;
                while start <= last_start {
                    if t.0 < start + size_ms {
                        f(Window::new(start, start + size_ms));
                    }
                    start += slide_ms;
                }
            }
            WindowSpec::Session { gap_ms } => f(Window::new(t.0, t.0.saturating_add(gap_ms))),
        }
    }

    /// The latest end among the windows that contain `t` (tumbling/sliding), or the end of
    /// the initial session window. A record whose every window has ended is late.
    #[inline]
    pub fn last_end(&self, t: EventTime) -> EventTime {
        match *self {
            WindowSpec::Tumbling { size_ms } => EventTime((t.0 - t.0 % size_ms).saturating_add(size_ms)),
            WindowSpec::Sliding { slide_ms, size_ms } => EventTime((t.0 - t.0 % slide_ms).saturating_add(size_ms)),
            WindowSpec::Session { gap_ms } => EventTime(t.0.saturating_add(gap_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Tumbling: exactly one window, aligned, containing t.
        #[test]
        fn tumbling_assigns_one_aligned_window(size in 1u64..100_000, t in 0u64..10_000_000_000) {
            let mut ws = Vec::new();
            WindowSpec::tumbling(size).assign(EventTime(t), |w| ws.push(w));
            prop_assert_eq!(ws.len(), 1);
            prop_assert!(ws[0].contains(EventTime(t)));
            prop_assert_eq!(ws[0].start.0 % size, 0);
            prop_assert_eq!(ws[0].end.0 - ws[0].start.0, size);
            prop_assert_eq!(WindowSpec::tumbling(size).last_end(EventTime(t)), ws[0].end);
        }

        /// Sliding: every aligned window containing t, and no other, exactly size/slide of
        /// them once t is past the first window.
        #[test]
        fn sliding_assigns_all_containing_windows(slide in 1u64..1_000, k in 1u64..10, t in 0u64..1_000_000) {
            let size = slide * k;
            let spec = WindowSpec::sliding(size, slide);
            let mut ws = Vec::new();
            spec.assign(EventTime(t), |w| ws.push(w));
            // Brute force: all aligned starts s with s <= t < s + size.
            let expected: Vec<Window> = (0..=t / slide)
                .map(|i| i * slide)
                .filter(|&s| s <= t && t < s + size)
                .map(|s| Window::new(s, s + size))
                .collect();
            prop_assert_eq!(&ws, &expected);
            if t >= size { prop_assert_eq!(ws.len() as u64, k); }
            prop_assert_eq!(spec.last_end(EventTime(t)), ws.iter().map(|w| w.end).max().unwrap());
        }
    }

    #[test]
    fn validate_rejects_bad_specs() {
        assert!(WindowSpec::tumbling(0).validate().is_err());
        assert!(WindowSpec::sliding(10, 3).validate().is_err());
        assert!(WindowSpec::sliding(10, 5).validate().is_ok());
        assert!(WindowSpec::session(0).validate().is_err());
    }
}
