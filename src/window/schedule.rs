//! Where reporting windows end when a capture file is replayed.
//!
//! A replay is cut on the capture's own timestamps, every Rate seconds from
//! the first frame, so a file gives the reports a live run would have sent
//! while it was being captured, empty windows included. Pure: the caller
//! passes each frame's timestamp.
//!
//! Clocks jump and files get merged, so a frame may be far from its
//! neighbours in time. A frame more than `JUMP_WINDOWS` windows past the end
//! of the current window, or that far before its start, is a jump: the
//! current window is closed, no empty windows are made for the gap, and the
//! schedule restarts at that frame. No report then mixes frames from both
//! sides of a jump, and a single bad timestamp costs one extra report.
//! Frames a little out of order (less than that before the window) go into
//! the current window.

/// How far (in windows) a frame may be from the current window before its
/// timestamp counts as a jump of the clock rather than a quiet spell.
pub const JUMP_WINDOWS: i64 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindows {
    rate_micros: i64,
    /// End (exclusive) of the current window, once a frame has started it.
    end_micros: Option<i64>,
    /// The current window as [start, end), for the per-frame check; empty
    /// (start > end) until a frame starts the first window.
    inside: (i64, i64),
}

/// What the caller does before recording a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advance {
    /// Windows that end before this frame: the current one, then empty ones.
    pub windows_to_close: u64,
    /// Set when this frame is a jump of the capture clock.
    pub jump: Option<Jump>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jump {
    /// Microseconds from the current window to the frame: past its end when
    /// positive, before its start when negative.
    pub by_micros: i128,
}

impl ReplayWindows {
    pub fn new(rate_secs: u32) -> Self {
        ReplayWindows { rate_micros: rate_secs as i64 * 1_000_000, end_micros: None, inside: (1, 0) }
    }

    /// Call with each frame's timestamp (microseconds since the epoch) before
    /// recording it.
    pub fn advance(&mut self, at_micros: i64) -> Advance {
        if self.in_current(at_micros) {
            return Advance { windows_to_close: 0, jump: None };
        }
        let advance = self.advance_past(at_micros);
        if let Some(end) = self.end_micros {
            // `end` is at least i64::MIN + rate (see restart_at).
            self.inside = (end.saturating_sub(self.rate_micros), end);
        }
        advance
    }

    /// Whether a frame at `at_micros` goes into the current window with
    /// nothing to do (`advance` would return no window and no jump): two
    /// compares, for the replay loop to make in line before calling
    /// `advance` for the rest.
    #[inline(always)]
    pub fn in_current(&self, at_micros: i64) -> bool {
        let (start, end) = self.inside;
        at_micros >= start && at_micros < end
    }

    fn advance_past(&mut self, at_micros: i64) -> Advance {
        let stay = Advance { windows_to_close: 0, jump: None };
        let Some(end) = self.end_micros else {
            self.restart_at(at_micros);
            return stay;
        };
        let (at, end, rate) = (at_micros as i128, end as i128, self.rate_micros as i128);
        let start = end - rate;
        let limit = JUMP_WINDOWS as i128 * rate;
        if at < start {
            if start - at <= limit {
                return stay;
            }
            self.restart_at(at_micros);
            return Advance { windows_to_close: 1, jump: Some(Jump { by_micros: at - start }) };
        }
        if at < end {
            return stay;
        }
        if at - end >= limit {
            self.restart_at(at_micros);
            return Advance { windows_to_close: 1, jump: Some(Jump { by_micros: at - end }) };
        }
        // The current window plus every whole window between it and the frame.
        let to_close = (at - end) / rate + 1;
        let new_end = end + to_close * rate;
        self.end_micros = Some(new_end.min(i64::MAX as i128) as i64);
        Advance { windows_to_close: to_close as u64, jump: None }
    }

    fn restart_at(&mut self, at_micros: i64) {
        self.end_micros = Some(at_micros.saturating_add(self.rate_micros));
    }
}

/// "3 s", "2 min 5 s", "400 days": for the warning about a jump.
pub fn describe_micros(micros: i128) -> String {
    let secs = micros.unsigned_abs() / 1_000_000;
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7_199 => format!("{} min {} s", secs / 60, secs % 60),
        7_200..=172_799 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} days", secs / 86_400),
    }
}

/// Where windows end in live capture.
///
/// Windows are cut every Rate seconds on the monotonic clock, from the
/// start. The kernel hands frames over in blocks, up to a block timeout after
/// they arrived, so a frame received just before a window's end may reach
/// presenced after it. Each frame therefore goes to a window by its own
/// capture timestamp: at each deadline the wall clock is read (the clock
/// capture timestamps are taken on) and the window is held open for
/// `grace` more, taking the frames stamped before that reading; frames
/// stamped after it start the next window. Pure: the caller passes both
/// clocks' readings in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveWindows {
    rate: std::time::Duration,
    grace: std::time::Duration,
    deadline: std::time::Instant,
    closing: Option<Closing>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Closing {
    /// Frames stamped before this belong to the closing window.
    ends_before: crate::window::table::Timestamp,
    report_at: std::time::Instant,
}

/// Which window a frame counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Current,
    /// The window that ended at the last deadline and is still taking late
    /// frames.
    Closing,
}

/// What the caller does after `tick`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tick {
    /// A deadline passed: the current window becomes the closing one, and a
    /// new current window starts (empty).
    pub close_current: bool,
    /// The closing window's grace is over: report it.
    pub report_closing: bool,
}

impl LiveWindows {
    pub fn new(rate: std::time::Duration, grace: std::time::Duration, started: std::time::Instant) -> Self {
        LiveWindows { rate, grace, deadline: started + rate, closing: None }
    }

    pub fn slot(&self, stamped: crate::window::table::Timestamp) -> Slot {
        match &self.closing {
            Some(c) if stamped < c.ends_before => Slot::Closing,
            _ => Slot::Current,
        }
    }

    /// Call after each batch of frames, with the monotonic and the wall
    /// clock read once. A closing window is reported before the next one
    /// closes, even if both fall due at once (after a stall).
    pub fn tick(&mut self, now: std::time::Instant, wall: crate::window::table::Timestamp) -> Tick {
        let mut tick = Tick::default();
        if let Some(c) = self.closing {
            if now >= c.report_at || now >= self.deadline {
                self.closing = None;
                tick.report_closing = true;
            }
        }
        if now >= self.deadline && self.closing.is_none() {
            self.closing = Some(Closing { ends_before: wall, report_at: now + self.grace });
            tick.close_current = true;
            self.deadline += self.rate;
            if self.deadline <= now {
                // Suspended or starved for longer than a window: start afresh
                // rather than firing a burst of reports.
                self.deadline = now + self.rate;
            }
        }
        tick
    }

    /// How long the caller may sleep before the next `tick` is due.
    pub fn until_next(&self, now: std::time::Instant) -> std::time::Duration {
        let next = match &self.closing {
            Some(c) => c.report_at.min(self.deadline),
            None => self.deadline,
        };
        next.saturating_duration_since(now)
    }

    pub fn is_closing(&self) -> bool {
        self.closing.is_some()
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

    /// The replay loop calls `advance` only for frames `in_current` turns
    /// away. Hand computed with rate 10 s: nothing is current before the
    /// first frame; the first at 0 makes [0 s, 10 s) current; 25 s closes
    /// it and the empty [10 s, 20 s) and makes [20 s, 30 s) current; a frame
    /// a little before it (out of order) is not current but closes nothing.
    #[test]
    fn in_current_is_the_current_window_and_nothing_else() {
        let mut w = ReplayWindows::new(10);
        assert!(!w.in_current(0) && !w.in_current(-1) && !w.in_current(1));
        assert_eq!(closes(&mut w, 0), 0);
        assert!(w.in_current(0) && w.in_current(10 * S - 1));
        assert!(!w.in_current(-1) && !w.in_current(10 * S));
        assert_eq!(closes(&mut w, 25 * S), 2);
        assert!(w.in_current(20 * S) && w.in_current(30 * S - 1));
        assert!(!w.in_current(20 * S - 1) && !w.in_current(30 * S));
        assert_eq!(w.advance(15 * S), Advance { windows_to_close: 0, jump: None });
        assert!(w.in_current(20 * S) && !w.in_current(15 * S));
    }

    #[test]
    fn a_quiet_spell_of_up_to_four_windows_gives_empty_windows() {
        // Window [0,10); a frame at 49.999999 s is 39.999999 s past its end:
        // [0,10) closes and so do the empty [10,20), [20,30), [30,40).
        let mut w = ReplayWindows::new(10);
        closes(&mut w, 0);
        let a = w.advance(50 * S - 1);
        assert_eq!(a, Advance { windows_to_close: 4, jump: None });
        assert_eq!(closes(&mut w, 50 * S), 1);
    }

    #[test]
    fn a_frame_four_windows_past_the_end_is_a_jump() {
        // Window [0,10); 50 s is exactly 40 s (four windows) past its end.
        let mut w = ReplayWindows::new(10);
        closes(&mut w, 0);
        let a = w.advance(50 * S);
        assert_eq!(a, Advance { windows_to_close: 1, jump: Some(Jump { by_micros: 40 * S as i128 }) });
        // The schedule restarts at the frame: [50,60).
        assert_eq!(closes(&mut w, 60 * S - 1), 0);
        assert_eq!(closes(&mut w, 60 * S), 1);
    }

    #[test]
    fn frames_a_little_out_of_order_stay_in_the_current_window() {
        // Window [1000,1005); up to 20 s (four windows) before its start stays.
        let mut w = ReplayWindows::new(5);
        closes(&mut w, 1000 * S);
        assert_eq!(closes(&mut w, 990 * S), 0);
        assert_eq!(closes(&mut w, 980 * S), 0);
        assert_eq!(closes(&mut w, 1005 * S), 1);
    }

    #[test]
    fn a_frame_far_in_the_past_closes_the_window_and_restarts_there() {
        let mut w = ReplayWindows::new(5);
        closes(&mut w, 1000 * S);
        let a = w.advance(980 * S - 1);
        assert_eq!(a, Advance { windows_to_close: 1, jump: Some(Jump { by_micros: -(20 * S as i128) - 1 }) });
        // New schedule [979.999999, 984.999999): a frame at 1010 s, 25 s past
        // its end, is a jump again rather than lumped in.
        assert_eq!(closes(&mut w, 984 * S), 0);
        assert_eq!(w.advance(1010 * S).jump.map(|j| j.by_micros > 0), Some(true));
    }

    #[test]
    fn one_timestamp_years_off_costs_one_extra_report() {
        // Rate 30: frames at 0..600 s every 10 s, one frame a year ahead at
        // frame 31, then the normal clock again. Reports: windows before the
        // bad frame, one for it alone, then the normal ones again.
        let year = 365 * 86_400 * S;
        let mut w = ReplayWindows::new(30);
        let mut closed = 0;
        let mut jumps = 0;
        for i in 0..60 {
            let at = if i == 31 { 300 * S + year } else { i * 10 * S };
            let a = w.advance(at);
            closed += a.windows_to_close;
            jumps += a.jump.is_some() as u32;
        }
        assert_eq!(jumps, 2);
        // Before the jump: [0,30) .. [270,300) closed by frames up to 300 s
        // (frame 30 at 300 s closes the tenth), then the jump closes
        // [300,330) holding frame 30; the frame after it (320 s) jumps back
        // and closes the year-ahead window; windows restart at 320 s, and
        // frames up to 590 s close [320,350) .. [560,590).
        assert_eq!(closed, 10 + 1 + 1 + 9);
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
        let a = w.advance(i64::MIN);
        assert_eq!(a.windows_to_close, 1);
        assert!(a.jump.is_some());
    }

    mod live {
        use super::super::*;
        use crate::window::table::Timestamp;
        use std::time::{Duration, Instant};

        const RATE: Duration = Duration::from_secs(10);
        const GRACE: Duration = Duration::from_millis(250);

        #[test]
        fn a_frame_stamped_before_the_deadline_but_delivered_after_counts_in_its_window() {
            let t0 = Instant::now();
            let mut w = LiveWindows::new(RATE, GRACE, t0);
            assert_eq!(w.tick(t0 + Duration::from_secs(9), Timestamp::new(1_700_000_009, 0)), Tick::default());
            // The deadline passes at wall time ...010.000120.
            let at_deadline = Timestamp::new(1_700_000_010, 120);
            let tick = w.tick(t0 + RATE, at_deadline);
            assert_eq!(tick, Tick { close_current: true, report_closing: false });
            // Delivered now, stamped 1 us before the reading: the old window.
            assert_eq!(w.slot(Timestamp::new(1_700_000_010, 119)), Slot::Closing);
            assert_eq!(w.slot(at_deadline), Slot::Current);
            assert_eq!(w.slot(Timestamp::new(1_700_000_010, 200)), Slot::Current);
            // Grace not over yet: nothing to do.
            assert_eq!(w.until_next(t0 + RATE), GRACE);
            assert_eq!(w.tick(t0 + RATE + GRACE - Duration::from_millis(1), at_deadline), Tick::default());
            assert_eq!(w.tick(t0 + RATE + GRACE, at_deadline), Tick { close_current: false, report_closing: true });
            assert_eq!(w.slot(Timestamp::new(1_700_000_010, 0)), Slot::Current, "after the grace, all frames go to the current window");
            assert_eq!(w.until_next(t0 + RATE + GRACE), RATE - GRACE);
        }

        #[test]
        fn after_a_stall_the_closing_window_is_reported_before_the_next_closes() {
            let t0 = Instant::now();
            let mut w = LiveWindows::new(RATE, GRACE, t0);
            assert!(w.tick(t0 + RATE, Timestamp::new(10, 0)).close_current);
            // Nothing ran for 25 s: the closing window goes out, the current
            // one closes, and the schedule restarts from now.
            let late = t0 + RATE + Duration::from_secs(25);
            assert_eq!(w.tick(late, Timestamp::new(35, 0)), Tick { close_current: true, report_closing: true });
            assert!(w.is_closing());
            assert_eq!(w.until_next(late), GRACE);
            assert_eq!(w.tick(late + GRACE, Timestamp::new(35, 1)), Tick { close_current: false, report_closing: true });
            assert_eq!(w.until_next(late + GRACE), RATE - GRACE);
        }
    }

    #[test]
    fn jumps_are_described_for_people() {
        assert_eq!(describe_micros(5 * S as i128), "5 s");
        assert_eq!(describe_micros(-(125 * S as i128)), "2 min 5 s");
        assert_eq!(describe_micros(3 * 3600 * S as i128 + 60 * S as i128), "3 h 1 min");
        assert_eq!(describe_micros(400 * 86_400 * S as i128), "400 days");
    }
}
