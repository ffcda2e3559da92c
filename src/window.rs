//! Where reporting windows end when a capture file is replayed.
//!
//! A replay is cut on the capture's own timestamps, every Rate seconds from
//! the first frame, so a file gives the reports a live run would have sent
//! while it was being captured, empty windows included. Pure: the caller
//! passes each frame's timestamp.

/// At most this many empty windows are reported for one forward jump of the
/// capture clock; beyond it the schedule restarts at the frame, so that a
/// corrupt timestamp years ahead cannot make millions of empty reports.
pub const MAX_EMPTY_WINDOWS_PER_GAP: u64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindows {
    rate_micros: i64,
    /// End (exclusive) of the current window, once a frame has started it.
    end_micros: Option<i64>,
}

/// What the caller does before recording a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advance {
    /// Windows that end before this frame: the current one, then empty ones.
    pub windows_to_close: u64,
    /// Empty windows left out because of `MAX_EMPTY_WINDOWS_PER_GAP`.
    pub windows_skipped: u64,
}

impl ReplayWindows {
    pub fn new(rate_secs: u32) -> Self {
        ReplayWindows { rate_micros: rate_secs as i64 * 1_000_000, end_micros: None }
    }

    /// Call with each frame's timestamp (microseconds since the epoch) before
    /// recording it. Frames older than the current window (files are not
    /// always in time order) go into the current window.
    pub fn advance(&mut self, at_micros: i64) -> Advance {
        let none = Advance { windows_to_close: 0, windows_skipped: 0 };
        let Some(end) = self.end_micros else {
            self.end_micros = Some(at_micros.saturating_add(self.rate_micros));
            return none;
        };
        if at_micros < end {
            return none;
        }
        // The current window plus every whole window between it and the frame.
        let behind = (at_micros as i128 - end as i128) / self.rate_micros as i128;
        let to_close = behind as u64 + 1;
        if to_close - 1 > MAX_EMPTY_WINDOWS_PER_GAP {
            self.end_micros = Some(at_micros.saturating_add(self.rate_micros));
            return Advance {
                windows_to_close: 1 + MAX_EMPTY_WINDOWS_PER_GAP,
                windows_skipped: to_close - 1 - MAX_EMPTY_WINDOWS_PER_GAP,
            };
        }
        let new_end = end as i128 + to_close as i128 * self.rate_micros as i128;
        self.end_micros = Some(new_end.min(i64::MAX as i128) as i64);
        Advance { windows_to_close: to_close, windows_skipped: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn closes(w: &mut ReplayWindows, at: i64) -> u64 {
        w.advance(at).windows_to_close
    }

    #[test]
    fn windows_are_cut_every_rate_seconds_from_the_first_frame() {
        // Rate 10 s, first frame at 100.5 s: windows [100.5,110.5), [110.5,120.5), ...
        let mut w = ReplayWindows::new(10);
        assert_eq!(closes(&mut w, 100 * S + S / 2), 0);
        assert_eq!(closes(&mut w, 110 * S + S / 2 - 1), 0);
        assert_eq!(closes(&mut w, 110 * S + S / 2), 1);
        // 145 s is in [140.5,150.5): closes [110.5,120.5), [120.5,130.5), [130.5,140.5).
        assert_eq!(closes(&mut w, 145 * S), 3);
        assert_eq!(closes(&mut w, 150 * S), 0);
    }

    #[test]
    fn frames_from_the_past_stay_in_the_current_window() {
        let mut w = ReplayWindows::new(5);
        closes(&mut w, 1000 * S);
        assert_eq!(closes(&mut w, 900 * S), 0);
        assert_eq!(closes(&mut w, 1005 * S), 1);
    }

    #[test]
    fn the_largest_rate_gives_one_window_for_decades_and_never_overflows() {
        // u32::MAX seconds is about 136 years: a 2016 capture stays in one window.
        let mut w = ReplayWindows::new(u32::MAX);
        closes(&mut w, 1_475_860_689 * S);
        assert_eq!(closes(&mut w, (1_475_860_689 + 100 * 365 * 86_400) * S), 0);
        // Timestamps at the very end of the range saturate instead of wrapping.
        let mut w = ReplayWindows::new(1);
        closes(&mut w, i64::MAX - 10);
        assert_eq!(closes(&mut w, i64::MAX - 1), 0);
        assert_eq!(closes(&mut w, i64::MAX), 1);
        assert_eq!(closes(&mut w, i64::MIN), 0);
    }

    #[test]
    fn a_huge_jump_is_capped() {
        let mut w = ReplayWindows::new(1);
        closes(&mut w, 0);
        // One year later: 31_536_000 windows would end; only 1 + 1000 are reported.
        let a = w.advance(31_536_000 * S);
        assert_eq!(a.windows_to_close, 1 + MAX_EMPTY_WINDOWS_PER_GAP);
        assert_eq!(a.windows_skipped, 31_536_000 - 1 - MAX_EMPTY_WINDOWS_PER_GAP);
        // The schedule restarts at the frame.
        assert_eq!(closes(&mut w, 31_536_000 * S + S - 1), 0);
        assert_eq!(closes(&mut w, 31_536_001 * S), 1);
    }
}
