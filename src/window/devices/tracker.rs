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

use crate::window::devices::clusters::{continues, overlap, Cluster};
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

/// A part of a window set apart by its signal but counted with another
/// device of its class, until it is seen apart again.
#[derive(Clone, Debug)]
struct Possible {
    class: u64,
    signal: Option<i8>,
    last_seen: i64,
    window: u64,
}

fn signal_distance(a: Option<i8>, b: Option<i8>) -> i16 {
    match (a, b) {
        (Some(a), Some(b)) => (a as i16 - b as i16).abs(),
        _ => 0,
    }
}

pub struct Tracker {
    key: Hmac<Sha256>,
    tracks: Vec<Track>,
    possible: Vec<Possible>,
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
            possible: Vec::new(),
            next_serial: 0,
            windows: 0,
            max_devices: max_devices.max(1),
        }
    }

    pub fn devices(&self) -> usize {
        self.tracks.len()
    }

    /// One window's devices as report rows, marked as estimates. `clusters`
    /// come ordered by class, as `clusters::clusters` gives them.
    pub fn rows(&mut self, clusters: Vec<Cluster>) -> Vec<(MacAddr, Row)> {
        self.windows += 1;
        let window = self.windows;
        let mut out = Vec::with_capacity(clusters.len());
        let mut start = 0;
        while start < clusters.len() {
            let class = clusters[start].class;
            let end = start + clusters[start..].iter().take_while(|c| c.class == class).count();
            self.rows_of_class(&clusters[start..end], window, &mut out);
            start = end;
        }
        out
    }

    fn rows_of_class(&mut self, clusters: &[Cluster], window: u64, out: &mut Vec<(MacAddr, Row)>) {
        let class = clusters[0].class;
        let now = clusters.iter().map(|c| c.row.first_seen.secs).min().unwrap_or(0);
        let live: Vec<usize> = (0..self.tracks.len())
            .filter(|&i| {
                let t = &self.tracks[i];
                t.class == class && now.saturating_sub(t.last_seen) < IDLE_SECS
            })
            .collect();
        // Closest pairs first, a continued sequence number before any
        // signal; among equals the track seen last.
        let mut pairs: Vec<(i16, i64, usize, usize)> = Vec::new();
        for (c, cluster) in clusters.iter().enumerate() {
            for &t in &live {
                let track = &self.tracks[t];
                let by_seq = matches!((track.last_seq, cluster.first_seq), (Some(p), Some(n)) if continues(p, n));
                let distance = if by_seq { -1 } else { signal_distance(track.signal, cluster.signal) };
                if distance <= TRACK_DB {
                    pairs.push((distance, -track.last_seen, c, t));
                }
            }
        }
        pairs.sort_unstable();
        let mut track_of: Vec<Option<usize>> = vec![None; clusters.len()];
        for (_, _, c, t) in pairs {
            if track_of[c].is_none() && self.tracks[t].taken_in != window {
                track_of[c] = Some(t);
                self.tracks[t].taken_in = window;
            }
        }
        let mut rows: Vec<Option<(MacAddr, Row)>> = vec![None; clusters.len()];
        for (c, cluster) in clusters.iter().enumerate() {
            if let Some(t) = track_of[c] {
                rows[c] = Some(self.seen(t, cluster, window));
            }
        }
        // What is left: a device that just came, or one whose signal jumped
        // away from where its track is. While the class has a device in this
        // window whose scans never overlap this one's, one device is the
        // likelier: it is counted there, and remembered as a possible
        // device; seen apart again, that one is a device of its own.
        let matched: Vec<usize> = (0..clusters.len()).filter(|&c| track_of[c].is_some()).collect();
        let mut folded_into: Vec<Option<usize>> = vec![None; clusters.len()];
        for c in 0..clusters.len() {
            if track_of[c].is_some() {
                continue;
            }
            let cluster = &clusters[c];
            let host = matched
                .iter()
                .copied()
                .filter(|&m| !overlap(&clusters[m].spans, &cluster.spans))
                .min_by_key(|&m| signal_distance(clusters[m].signal, cluster.signal));
            let promoted = match host {
                Some(_) => self.seen_apart_before(cluster, window),
                None => true,
            };
            if promoted {
                let t = self.new_track(cluster);
                rows[c] = Some(self.seen(t, cluster, window));
            } else {
                folded_into[c] = host;
            }
        }
        for (c, host) in folded_into.iter().enumerate() {
            if let Some(host) = host {
                if let Some((_, row)) = rows[*host].as_mut() {
                    row.merge(&clusters[c].row);
                }
            }
        }
        out.extend(rows.into_iter().flatten());
    }

    /// Track `t` is `cluster` in this window: its row.
    fn seen(&mut self, t: usize, cluster: &Cluster, window: u64) -> (MacAddr, Row) {
        let track = &mut self.tracks[t];
        track.signal = cluster.signal.or(track.signal);
        track.last_seen = track.last_seen.max(cluster.row.last_seen.secs);
        track.last_seq = cluster.last_seq.or(track.last_seq);
        track.taken_in = window;
        let mut row = cluster.row;
        row.estimated_device = true;
        (track.pseudonym, row)
    }

    /// Whether a possible device like `cluster` (its class, its signal
    /// within `TRACK_DB`) was set aside in an earlier window of the last
    /// `IDLE_SECS`: then it is one. Otherwise it is remembered as possible.
    fn seen_apart_before(&mut self, cluster: &Cluster, window: u64) -> bool {
        let now = cluster.row.first_seen.secs;
        self.possible.retain(|p| now.saturating_sub(p.last_seen) < IDLE_SECS);
        let nearest = (0..self.possible.len())
            .filter(|&i| self.possible[i].class == cluster.class)
            .map(|i| (i, signal_distance(self.possible[i].signal, cluster.signal)))
            .filter(|(_, d)| *d <= TRACK_DB)
            .min_by_key(|(_, d)| *d);
        match nearest {
            Some((i, _)) if self.possible[i].window != window => {
                self.possible.swap_remove(i);
                true
            }
            Some((i, _)) => {
                self.possible[i].last_seen = cluster.row.last_seen.secs;
                false
            }
            None => {
                if self.possible.len() >= self.max_devices {
                    if let Some((oldest, _)) = self.possible.iter().enumerate().min_by_key(|(_, p)| p.last_seen) {
                        self.possible.swap_remove(oldest);
                    }
                }
                self.possible.push(Possible {
                    class: cluster.class,
                    signal: cluster.signal,
                    last_seen: cluster.row.last_seen.secs,
                    window,
                });
                false
            }
        }
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
            spans: vec![(secs * 1_000_000, secs * 1_000_000)],
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
        // Two devices of class 1 near -48 scanning at once: the closer (-49)
        // takes the -50 pseudonym, the other is a new device.
        let w3 = macs(&t.rows(vec![cluster(1, 60, -48, None), cluster(1, 60, -49, None)]));
        assert_eq!(w3[1], w1[0]);
        assert!(!w1.contains(&w3[0]));
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

    fn at(mut c: Cluster, spans: &[(i64, i64)]) -> Cluster {
        c.spans = spans.iter().map(|(a, b)| (a * 1_000_000, b * 1_000_000)).collect();
        c
    }

    #[test]
    fn a_jump_of_signal_between_scans_keeps_the_device_until_it_is_seen_apart_again() {
        // As iPhone11-C at 729-749 s: scans at -57, one at -72 between them.
        let mut t = Tracker::new(b"k", 100);
        let w1 = t.rows(vec![cluster(1, 0, -58, None)]);
        let jump = at(cluster(1, 34, -72, None), &[(34, 34)]);
        let w2 = t.rows(vec![jump, at(cluster(1, 30, -57, None), &[(30, 30), (39, 40), (49, 49)])]);
        // One row, both parts' frames, the device's pseudonym.
        assert_eq!(w2.len(), 1);
        assert_eq!((w2[0].0, w2[0].1.count), (w1[0].0, 2));
        // Apart again 5 minutes later: a device of its own from now on.
        let w3 = macs(&t.rows(vec![at(cluster(1, 330, -71, None), &[(331, 331)]), at(cluster(1, 330, -56, None), &[(330, 330)])]));
        assert_eq!(w3.len(), 2);
        assert_eq!(w3[1], w1[0].0);
        assert!(w3[0] != w1[0].0);
    }

    #[test]
    fn parts_scanning_at_once_are_two_devices_and_a_possible_device_is_forgotten() {
        let mut t = Tracker::new(b"k", 100);
        t.rows(vec![cluster(1, 0, -58, None)]);
        // Their scans overlap: no one radio sends both.
        let w2 = t.rows(vec![at(cluster(1, 30, -72, None), &[(30, 31)]), at(cluster(1, 30, -57, None), &[(31, 32)])]);
        assert_eq!(w2.len(), 2);
        // Set aside at 60 s, apart again only after IDLE_SECS: still one device.
        let mut t = Tracker::new(b"k", 100);
        t.rows(vec![cluster(1, 0, -58, None)]);
        let split = |secs: i64| vec![at(cluster(1, secs, -72, None), &[(secs + 5, secs + 5)]), at(cluster(1, secs, -57, None), &[(secs, secs)])];
        assert_eq!(t.rows(split(60)).len(), 1);
        assert_eq!(t.rows(vec![cluster(1, 300, -57, None)]).len(), 1);
        assert_eq!(t.rows(split(60 + IDLE_SECS + 5)).len(), 1);
        assert_eq!(t.devices(), 1);
    }
}
