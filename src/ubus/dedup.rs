//! One frame, one count, across the BSSes of a radio. Pure: time is passed in.
//!
//! hostapd runs one BSS per `hostapd.<ifname>` object, and every BSS of a
//! radio is handed each probe request the radio receives (a wildcard probe
//! is addressed to all of them), so each BSS notifies the same frame:
//! subscribed to every object, presenced would count a client once per BSS.
//! The copies of a frame share its sender, receiver address, signal and
//! channel, come from different BSSes, and come together (hostapd hands
//! the frame to each BSS in turn within one pass of its event loop). So a
//! notification joins the oldest recent frame of the same key that has no
//! copy from its BSS yet, and counts only when there is none: a second
//! probe from the same client, even of equal signal, arrives on a BSS that
//! already has a copy of the first, and counts. Copies of two frames that
//! interleave (1 on A, 2 on A, 1 on B, 2 on B) still count two.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::hostapd::FrameKey;

/// How long after a frame's first copy the others may come: generous for
/// one pass of hostapd's loop, far below the interval at which a client
/// repeats a probe on one channel.
pub const WINDOW: Duration = Duration::from_millis(100);
/// Frames remembered at most: a window of even a very busy channel holds
/// far fewer; beyond it the oldest is forgotten (and a late copy of it
/// counts again), so memory stays bounded whatever arrives.
pub const MAX_FRAMES: usize = 4096;
/// A frame's copies from more BSSes than this count again: no radio runs
/// more BSSes than 16 (mac80211's limit for most drivers is 8 or 16).
const MAX_COPIES: usize = 16;

struct Frame {
    key: FrameKey,
    first: Instant,
    bsses: Vec<String>,
}

#[derive(Default)]
pub struct Dedup {
    frames: VecDeque<Frame>,
}

impl Dedup {
    pub fn new() -> Self {
        Dedup::default()
    }

    /// Whether this notification is a frame not seen yet (count it) rather
    /// than another BSS's copy of one (do not).
    pub fn is_new(&mut self, key: FrameKey, bss: &str, now: Instant) -> bool {
        while self.frames.front().is_some_and(|f| now.saturating_duration_since(f.first) > WINDOW) {
            self.frames.pop_front();
        }
        if let Some(frame) = self
            .frames
            .iter_mut()
            .find(|f| f.key == key && f.bsses.len() < MAX_COPIES && !f.bsses.iter().any(|b| b == bss))
        {
            frame.bsses.push(bss.to_string());
            return false;
        }
        if self.frames.len() >= MAX_FRAMES {
            self.frames.pop_front();
        }
        self.frames.push_back(Frame { key, first: now, bsses: vec![bss.to_string()] });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(last: u8, signal: i32) -> FrameKey {
        FrameKey {
            address: crate::wire::mac::MacAddr([0, 0x1b, 0x63, 0, 0, last]),
            target: None,
            signal: Some(signal),
            freq: Some(2437),
        }
    }

    #[test]
    fn copies_from_other_bsses_count_once_repeats_count_again() {
        let t = Instant::now();
        let ms = |n| t + Duration::from_millis(n);
        let mut d = Dedup::new();
        let counted: Vec<bool> = [
            (key(1, -50), "wlan0", ms(0)),
            (key(1, -50), "wlan0-1", ms(1)), // the same frame, another BSS
            (key(1, -50), "wlan0", ms(3)),   // the client's next probe
            (key(1, -50), "wlan0-1", ms(4)), // ... and its copy
            (key(2, -50), "wlan0-1", ms(5)), // another client
            (key(1, -51), "wlan0-1", ms(5)), // another signal: another frame
            (key(1, -50), "wlan0-1", ms(300)), // long after: a new frame
        ]
        .into_iter()
        .map(|(k, b, at)| d.is_new(k, b, at))
        .collect();
        assert_eq!(counted, [true, false, true, false, true, true, true]);
    }

    #[test]
    fn interleaved_copies_of_two_frames_count_two() {
        let t = Instant::now();
        let mut d = Dedup::new();
        let order = ["a", "a", "b", "b", "c", "c"];
        let counted: Vec<bool> = order.iter().map(|b| d.is_new(key(1, -40), b, t)).collect();
        assert_eq!(counted, [true, true, false, false, false, false]);
    }

    #[test]
    fn memory_stays_bounded() {
        let t = Instant::now();
        let mut d = Dedup::new();
        for i in 0..(MAX_FRAMES as u32 + 100) {
            assert!(d.is_new(key((i % 251) as u8, -(i as i32)), "wlan0", t));
        }
        assert_eq!(d.frames.len(), MAX_FRAMES);
    }
}
