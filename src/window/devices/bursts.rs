//! One window's scan bursts of randomized addresses.
//!
//! A frame joins the burst that already holds its address (one address is
//! one device, however long it lives), else a burst of its fingerprint
//! class whose last frame is less than `BURST_GAP_MICROS` before it (a
//! phone's scan: a few frames, often from several fresh addresses, within
//! a fraction of a second) and whose signal is within `JOIN_DB` of its own,
//! else it opens a burst. Two identical phones scanning at once stay apart
//! when their signals differ. Frames sent on a far channel (see
//! `Details::off_channel`) carry no signal worth comparing: they join the
//! latest open burst of their class, and a burst's `peak` is taken from
//! the others.
//!
//! Pure: every frame brings its time. At most `max_bursts` bursts a window.

use std::collections::HashMap;

use crate::window::devices::fingerprint::Details;
use crate::wire::mac::MacAddr;
use crate::window::table::{Row, Timestamp};

/// Frames of one class closer than this are one scan.
pub const BURST_GAP_MICROS: i64 = 1_000_000;
/// How far the signal of one scan's frames may drift.
pub const JOIN_DB: i16 = 10;

/// Frames taken to come from one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Burst {
    pub class: u64,
    pub row: Row,
    /// The strongest signal of its frames sent on or near the capture
    /// channel, and the latest of them; `None` if it had none.
    pub peak: Option<i8>,
    pub last_near_signal: Option<i8>,
    /// The address and sequence number of the burst's earliest and latest
    /// frame that had one: where a sequence number may continue.
    pub first_seq: Option<(MacAddr, u16)>,
    pub last_seq: Option<(MacAddr, u16)>,
}

pub fn micros(t: Timestamp) -> i64 {
    t.secs.saturating_mul(1_000_000).saturating_add(t.micros as i64)
}

#[derive(Debug, Default)]
pub struct Bursts {
    bursts: Vec<Burst>,
    by_address: HashMap<MacAddr, u32>,
    /// Per class, the bursts a frame may still join.
    open: HashMap<u64, Vec<u32>>,
    max_bursts: usize,
}

impl Bursts {
    pub fn new(max_bursts: usize) -> Self {
        Bursts { max_bursts, ..Bursts::default() }
    }

    /// Counts one frame; false when it would open a burst beyond
    /// `max_bursts` (the caller counts it as `table_full`).
    pub fn observe(&mut self, client: MacAddr, signal: i8, details: Details, at: Timestamp) -> bool {
        let index = match self.by_address.get(&client) {
            Some(&i) => Some(i),
            None => self.open_burst_for(details.class, (!details.off_channel).then_some(signal), at),
        };
        let index = match index {
            Some(i) => i,
            None => {
                if self.bursts.len() >= self.max_bursts {
                    return false;
                }
                let near = (!details.off_channel).then_some(signal);
                self.bursts.push(Burst {
                    class: details.class,
                    row: Row::new(signal, at),
                    peak: near,
                    last_near_signal: near,
                    first_seq: None,
                    last_seq: None,
                });
                let i = (self.bursts.len() - 1) as u32;
                self.open.entry(details.class).or_default().push(i);
                let burst = &mut self.bursts[i as usize];
                if let Some(seq) = details.seq {
                    burst.first_seq = Some((client, seq));
                    burst.last_seq = Some((client, seq));
                }
                self.remember_address(client, i);
                return true;
            }
        };
        let burst = &mut self.bursts[index as usize];
        let latest = at >= burst.row.last_seen;
        let earliest = at < burst.row.first_seen;
        burst.row.update(signal, at);
        if !details.off_channel {
            burst.peak = Some(burst.peak.map_or(signal, |p| p.max(signal)));
            if latest || burst.last_near_signal.is_none() {
                burst.last_near_signal = Some(signal);
            }
        }
        if let Some(seq) = details.seq {
            if latest || burst.last_seq.is_none() {
                burst.last_seq = Some((client, seq));
            }
            if burst.first_seq.is_none() || earliest {
                burst.first_seq = Some((client, seq));
            }
        }
        self.remember_address(client, index);
        true
    }

    fn remember_address(&mut self, client: MacAddr, index: u32) {
        // Addresses outnumber bursts (an iPhone uses several a scan); past
        // this bound a known address only loses its shortcut.
        if self.by_address.len() < self.max_bursts.saturating_mul(8) {
            self.by_address.insert(client, index);
        }
    }

    /// `signal` is `None` for a frame sent on a far channel.
    fn open_burst_for(&mut self, class: u64, signal: Option<i8>, at: Timestamp) -> Option<u32> {
        let open = self.open.get_mut(&class)?;
        let bursts = &self.bursts;
        let now = micros(at);
        open.retain(|&i| now - micros(bursts[i as usize].row.last_seen) < BURST_GAP_MICROS);
        let Some(signal) = signal else {
            return open.iter().copied().max_by_key(|&i| bursts[i as usize].row.last_seen);
        };
        // A burst with no near frame yet has no signal to differ from.
        open.iter()
            .map(|&i| {
                let last = bursts[i as usize].last_near_signal.unwrap_or(signal);
                (i, (last as i16 - signal as i16).abs())
            })
            .filter(|(_, distance)| *distance <= JOIN_DB)
            .min_by_key(|(_, distance)| *distance)
            .map(|(i, _)| i)
    }

    pub fn len(&self) -> usize {
        self.bursts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bursts.is_empty()
    }

    /// Ends the window: its bursts, and an empty collector for the next.
    pub fn take(&mut self) -> Vec<Burst> {
        self.by_address.clear();
        self.open.clear();
        std::mem::take(&mut self.bursts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(last: u8) -> MacAddr {
        MacAddr([0x02, 0, 0, 0, 0, last])
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::new(1000 + ms / 1000, (ms % 1000) as u32 * 1000)
    }

    const A: Details = Details { class: 1, seq: Some(100), off_channel: false };

    #[test]
    fn a_scan_from_fresh_addresses_is_one_burst_and_a_pause_starts_the_next() {
        let mut b = Bursts::new(10);
        // Hand made: three addresses within 0.6 s at -46..-42, then 5 s later another.
        b.observe(mac(1), -46, A, at(0));
        b.observe(mac(2), -44, Details { seq: Some(7) , ..A }, at(300));
        b.observe(mac(3), -42, A, at(600));
        b.observe(mac(4), -45, A, at(5600));
        let bursts = b.take();
        assert_eq!(bursts.len(), 2);
        assert_eq!(bursts[0].row.count, 3);
        assert_eq!((bursts[0].row.min_signal, bursts[0].row.max_signal), (-46, -42));
        assert_eq!(bursts[0].first_seq, Some((mac(1), 100)));
        assert_eq!(bursts[0].last_seq, Some((mac(3), 100)));
        assert!(b.is_empty());
    }

    #[test]
    fn another_class_or_a_far_signal_opens_its_own_burst_and_an_address_stays_with_its_burst() {
        let mut b = Bursts::new(10);
        b.observe(mac(1), -46, A, at(0));
        b.observe(mac(2), -46, Details { class: 2, seq: None, off_channel: false }, at(100)); // other class
        b.observe(mac(3), -70, A, at(200)); // 24 dB away: another phone of the same model
        b.observe(mac(1), -60, A, at(30_000)); // mac 1 again, much later: its burst
        let bursts = b.take();
        assert_eq!(bursts.len(), 3);
        assert_eq!(bursts[0].row.count, 2);
        assert_eq!(bursts[0].row.last_seen_signal, -60);
        assert_eq!(bursts[1].class, 2);
        assert_eq!(bursts[2].row.max_signal, -70);
    }

    #[test]
    fn frames_from_far_channels_join_the_scan_and_leave_its_peak_alone() {
        // As the A53 of wiproject-01 at 234.79 s: three frames from far
        // channels at -83..-76 dBm, then near ones at -27..-25, new
        // addresses for the sake of the test.
        let far = Details { off_channel: true, ..A };
        let mut b = Bursts::new(10);
        b.observe(mac(1), -83, far, at(0));
        b.observe(mac(2), -76, far, at(40));
        b.observe(mac(3), -27, A, at(500));
        b.observe(mac(4), -80, far, at(600));
        b.observe(mac(5), -25, A, at(640));
        let bursts = b.take();
        assert_eq!(bursts.len(), 1);
        assert_eq!((bursts[0].row.count, bursts[0].peak, bursts[0].row.min_signal), (5, Some(-25), -83));
        // Only far frames: no peak.
        b.observe(mac(6), -80, far, at(0));
        assert_eq!(b.take()[0].peak, None);
    }

    #[test]
    fn the_bound_refuses_new_bursts_but_not_frames_of_known_ones() {
        let mut b = Bursts::new(1);
        assert!(b.observe(mac(1), -46, A, at(0)));
        assert!(!b.observe(mac(2), -46, Details { class: 9, seq: None, off_channel: false }, at(0)));
        assert!(b.observe(mac(3), -46, A, at(200)));
        assert_eq!(b.take().len(), 1);
    }
}
