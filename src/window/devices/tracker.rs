//! Estimated devices followed from window to window, each under a stable
//! pseudonym.
//!
//! A window's device (a `Cluster`) takes the pseudonym of a device of the
//! same class seen less than `IDLE_SECS` before and not yet taken in this
//! window: the one whose sequence number it continues, else the one nearest
//! in signal within `TRACK_DB` (or, for a device heard only from far
//! channels, the one seen last); otherwise it is a new device. The pseudonym
//! is the first six bytes of HMAC-SHA256(per-run key, class, serial), marked
//! locally administered and unicast: it is made from no address, so it
//! tells nothing of any address, and it changes when presenced restarts.
//!
//! Pure: the caller gives the key and the windows in order. At most
//! `max_devices` are remembered; beyond, the longest unseen is forgotten.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::window::devices::clusters::{continues, Cluster};
use crate::wire::mac::MacAddr;
use crate::window::table::Row;

/// A device unseen this long is taken to have left.
pub const IDLE_SECS: i64 = 600;
/// How far a device's signal may move between the windows it is seen in.
pub const TRACK_DB: i16 = 12;

#[derive(Clone, Debug)]
struct Track {
    class: u64,
    pseudonym: MacAddr,
    signal: Option<i8>,
    last_seen: i64,
    last_seq: Option<u16>,
    /// The window in which it was last matched, so no two of a window's
    /// devices take one pseudonym.
    taken_in: u64,
}

pub struct Tracker {
    key: Hmac<Sha256>,
    tracks: Vec<Track>,
    next_serial: u64,
    windows: u64,
    max_devices: usize,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker").field("devices", &self.tracks.len()).finish()
    }
}

impl Tracker {
    pub fn new(key: &[u8], max_devices: usize) -> Self {
        Tracker {
            // HMAC takes keys of any length: this cannot fail.
            key: <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length"),
            tracks: Vec::new(),
            next_serial: 0,
            windows: 0,
            max_devices: max_devices.max(1),
        }
    }

    pub fn devices(&self) -> usize {
        self.tracks.len()
    }

    /// One window's devices as report rows, marked as estimates.
    pub fn rows(&mut self, clusters: Vec<Cluster>) -> Vec<(MacAddr, Row)> {
        self.windows += 1;
        let window = self.windows;
        let mut out = Vec::with_capacity(clusters.len());
        for cluster in clusters {
            let index = match self.matching(&cluster, window) {
                Some(i) => i,
                None => self.new_track(&cluster),
            };
            let track = &mut self.tracks[index];
            track.signal = cluster.signal.or(track.signal);
            track.last_seen = cluster.row.last_seen.secs;
            track.last_seq = cluster.last_seq.or(track.last_seq);
            track.taken_in = window;
            let mut row = cluster.row;
            row.estimated_device = true;
            out.push((track.pseudonym, row));
        }
        out
    }

    fn matching(&self, cluster: &Cluster, window: u64) -> Option<usize> {
        let now = cluster.row.first_seen.secs;
        let candidates = || {
            self.tracks.iter().enumerate().filter(move |(_, t)| {
                t.class == cluster.class && t.taken_in != window && now.saturating_sub(t.last_seen) < IDLE_SECS
            })
        };
        let by_seq = candidates().find(|(_, t)| match (t.last_seq, cluster.first_seq) {
            (Some(previous), Some(next)) => continues(previous, next),
            _ => false,
        });
        if let Some((i, _)) = by_seq {
            return Some(i);
        }
        candidates()
            .map(|(i, t)| {
                let distance = match (t.signal, cluster.signal) {
                    (Some(a), Some(b)) => (a as i16 - b as i16).abs(),
                    _ => 0,
                };
                (i, distance, t.last_seen)
            })
            .filter(|(_, distance, _)| *distance <= TRACK_DB)
            .min_by_key(|(_, distance, last_seen)| (*distance, -*last_seen))
            .map(|(i, _, _)| i)
    }

    fn new_track(&mut self, cluster: &Cluster) -> usize {
        let serial = self.next_serial;
        self.next_serial += 1;
        let mut h = self.key.clone();
        h.update(&cluster.class.to_le_bytes());
        h.update(&serial.to_le_bytes());
        let digest = h.finalize().into_bytes();
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&digest[..6]);
        mac[0] = (mac[0] | 0x02) & !0x01;
        let track = Track {
            class: cluster.class,
            pseudonym: MacAddr(mac),
            signal: cluster.signal,
            last_seen: cluster.row.last_seen.secs,
            last_seq: cluster.last_seq,
            taken_in: 0,
        };
        if self.tracks.len() >= self.max_devices {
            // The longest unseen device goes; this window's are never it,
            // since they were all seen just now.
            if let Some((oldest, _)) = self.tracks.iter().enumerate().min_by_key(|(_, t)| t.last_seen) {
                self.tracks[oldest] = track;
                return oldest;
            }
        }
        self.tracks.push(track);
        self.tracks.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::table::Timestamp;

    fn cluster(class: u64, secs: i64, signal: i8, seqs: Option<(u16, u16)>) -> Cluster {
        Cluster {
            class,
            row: Row::new(signal, Timestamp::new(secs, 0)),
            signal: Some(signal),
            first_seq: seqs.map(|s| s.0),
            last_seq: seqs.map(|s| s.1),
        }
    }

    fn macs(rows: &[(MacAddr, Row)]) -> Vec<MacAddr> {
        rows.iter().map(|(m, _)| *m).collect()
    }

    #[test]
    fn a_device_keeps_its_pseudonym_while_its_class_and_signal_link_it() {
        let mut t = Tracker::new(b"run key", 100);
        let w1 = t.rows(vec![cluster(1, 0, -46, None), cluster(1, 0, -70, None), cluster(2, 0, -46, None)]);
        assert!(w1.iter().all(|(m, r)| r.estimated_device && m.0[0] & 0x03 == 0x02));
        let w1 = macs(&w1);
        assert_eq!(w1.iter().collect::<std::collections::BTreeSet<_>>().len(), 3);
        // 30 s later: -50 is 4 dB from the first, -66 4 dB from the second.
        let w2 = macs(&t.rows(vec![cluster(1, 30, -50, None), cluster(1, 30, -66, None)]));
        assert_eq!(w2, [w1[0], w1[1]]);
        // Two devices of class 1 near -48: only one may take the -50 pseudonym.
        let w3 = macs(&t.rows(vec![cluster(1, 60, -48, None), cluster(1, 60, -49, None)]));
        assert_eq!(w3[0], w1[0]);
        assert!(!w1.contains(&w3[1]) || w3[1] == w1[1], "the second takes the other track or a new one");
        // Away for longer than IDLE_SECS: a new device.
        let w4 = macs(&t.rows(vec![cluster(2, 60 + IDLE_SECS + 1, -46, None)]));
        assert_ne!(w4[0], w1[2]);
    }

    #[test]
    fn a_continued_sequence_number_wins_over_signal() {
        let mut t = Tracker::new(b"k", 100);
        let w1 = macs(&t.rows(vec![cluster(1, 0, -40, Some((10, 20))), cluster(1, 0, -60, Some((3000, 3010)))]));
        // The -41 device continues 3010: it is the second, though 19 dB from it.
        let w2 = macs(&t.rows(vec![cluster(1, 30, -41, Some((3030, 3040)))]));
        assert_eq!(w2, [w1[1]]);
    }

    #[test]
    fn pseudonyms_depend_on_the_key_and_memory_is_bounded() {
        let one = macs(&Tracker::new(b"a", 10).rows(vec![cluster(1, 0, -40, None)]));
        let other = macs(&Tracker::new(b"b", 10).rows(vec![cluster(1, 0, -40, None)]));
        assert_ne!(one, other);
        let mut t = Tracker::new(b"k", 2);
        for (i, class) in [1u64, 2, 3, 4].iter().enumerate() {
            t.rows(vec![cluster(*class, i as i64 * 30, -40, None)]);
        }
        assert_eq!(t.devices(), 2);
    }
}
