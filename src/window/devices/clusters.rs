//! A window's bursts of one fingerprint class grouped into estimated
//! devices.
//!
//! First, a burst whose first sequence number continues (by 1 to
//! `SEQ_LINK`, modulo 4096) the last one of an earlier burst of its class,
//! from another address and at most `SEQ_LINK_SECS` later, is the same
//! device: older phones keep one counter across address changes, and two
//! devices' random counters meet so closely by chance about once in 64.
//! Then the linked groups are ordered by signal and split wherever two
//! neighbours' signals (each group's median burst peak) are more than
//! `SPLIT_DB` apart: one part, one device. A group heard only from far
//! channels has no signal to tell it by: it joins the device of its class
//! last seen before it (or after it), and is a device of its own only when
//! its class has no other in the window. Devices of one model at a
//! similar signal and with random sequence numbers cannot be told apart
//! and are counted as one.
//!
//! Pure; linear in the bursts of one class within one window (each is
//! compared with at most `LINK_LOOKBACK` before it), and n log n to sort.

use crate::window::devices::bursts::{micros, Burst};
use crate::window::table::Row;

pub const SEQ_LINK: u16 = 64;
/// How many earlier bursts of its class a burst is compared with: links
/// further back are not looked for, so a window costs at most this many
/// comparisons a burst however many phones of one model are about.
pub const LINK_LOOKBACK: usize = 64;
pub const SEQ_LINK_SECS: i64 = 300;
pub const SPLIT_DB: i16 = 10;

/// One estimated device of a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    pub class: u64,
    /// All its frames' statistics.
    pub row: Row,
    /// The median peak signal of its bursts: where it was heard from;
    /// `None` when it was heard only from far channels.
    pub signal: Option<i8>,
    pub first_seq: Option<u16>,
    pub last_seq: Option<u16>,
    /// Its bursts' first and last frame (microseconds), in time order: one
    /// radio scans one channel at a time, so a device's bursts never
    /// overlap, and two parts whose bursts do are two devices.
    pub spans: Vec<(i64, i64)>,
}

/// Whether a burst of one overlaps in time a burst of the other (both in
/// time order).
pub fn overlap(one: &[(i64, i64)], other: &[(i64, i64)]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < one.len() && j < other.len() {
        let (a, b) = (one[i], other[j]);
        if a.0 <= b.1 && b.0 <= a.1 {
            return true;
        }
        if a.1 < b.1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    false
}

/// Whether `next` continues the counter `previous` ended with.
pub fn continues(previous: u16, next: u16) -> bool {
    let step = next.wrapping_sub(previous) & 0x0fff;
    (1..=SEQ_LINK).contains(&step)
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// The window's devices, ordered by class and then signal.
pub fn clusters(mut bursts: Vec<Burst>) -> Vec<Cluster> {
    bursts.sort_by_key(|b| (b.class, b.row.first_seen));
    let mut out = Vec::new();
    let mut start = 0;
    while start < bursts.len() {
        let class = bursts[start].class;
        let end = start + bursts[start..].iter().take_while(|b| b.class == class).count();
        devices_of_class(&bursts[start..end], &mut out);
        start = end;
    }
    out
}

fn devices_of_class(bursts: &[Burst], out: &mut Vec<Cluster>) {
    let mut parent: Vec<usize> = (0..bursts.len()).collect();
    for (j, later) in bursts.iter().enumerate() {
        let Some((address, seq)) = later.first_seq else { continue };
        // The latest earlier burst it continues: bursts are in time order.
        let linked = (j.saturating_sub(LINK_LOOKBACK)..j).rev().find(|&i| {
            let earlier = &bursts[i];
            let gap = micros(later.row.first_seen) - micros(earlier.row.last_seen);
            match earlier.last_seq {
                Some((a, s)) => a != address && (0..=SEQ_LINK_SECS * 1_000_000).contains(&gap) && continues(s, seq),
                None => false,
            }
        });
        if let Some(i) = linked {
            let (a, b) = (find(&mut parent, i), find(&mut parent, j));
            parent[b] = a;
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of_root = vec![usize::MAX; bursts.len()];
    for i in 0..bursts.len() {
        let root = find(&mut parent, i);
        if group_of_root[root] == usize::MAX {
            group_of_root[root] = groups.len();
            groups.push(Vec::new());
        }
        groups[group_of_root[root]].push(i);
    }
    let mut by_signal: Vec<(i8, Vec<usize>)> = Vec::new();
    let mut unheard: Vec<usize> = Vec::new();
    for members in groups {
        let mut peaks: Vec<i8> = members.iter().filter_map(|&i| bursts[i].peak).collect();
        if peaks.is_empty() {
            unheard.extend(members);
            continue;
        }
        peaks.sort_unstable();
        by_signal.push((peaks[peaks.len() / 2], members));
    }
    by_signal.sort_by_key(|(signal, _)| *signal);
    let mut parts: Vec<(Vec<i8>, Vec<usize>)> = Vec::new();
    for (signal, members) in by_signal {
        match parts.last_mut() {
            Some((signals, all)) if (signal as i16 - *signals.last().unwrap_or(&signal) as i16) <= SPLIT_DB => {
                signals.push(signal);
                all.extend(members);
            }
            _ => parts.push((vec![signal], members)),
        }
    }
    if parts.is_empty() {
        if !unheard.is_empty() {
            out.push(device(bursts, &[], unheard));
        }
        return;
    }
    for i in unheard {
        let start = micros(bursts[i].row.first_seen);
        let nearest = parts
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, members))| {
                members.iter().map(|&m| (micros(bursts[m].row.last_seen) - start).abs()).min().unwrap_or(i64::MAX)
            })
            .map(|(p, _)| p)
            .unwrap_or(0);
        parts[nearest].1.push(i);
    }
    for (signals, all) in parts {
        out.push(device(bursts, &signals, all));
    }
}

fn device(bursts: &[Burst], signals: &[i8], mut members: Vec<usize>) -> Cluster {
    members.sort_unstable();
    let first = &bursts[members[0]];
    let mut row = first.row;
    for &i in &members[1..] {
        row.merge(&bursts[i].row);
    }
    let latest = members.iter().max_by_key(|&&i| bursts[i].row.last_seen).map(|&i| &bursts[i]);
    let mut spans: Vec<(i64, i64)> =
        members.iter().map(|&i| (micros(bursts[i].row.first_seen), micros(bursts[i].row.last_seen))).collect();
    spans.sort_unstable();
    Cluster {
        class: first.class,
        row,
        signal: signals.get(signals.len() / 2).copied(),
        first_seq: first.first_seq.map(|(_, s)| s),
        last_seq: latest.and_then(|b| b.last_seq).map(|(_, s)| s),
        spans,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mac::MacAddr;
    use crate::window::table::Timestamp;

    fn burst(class: u64, addr: u8, secs: i64, peak: i8, seqs: (u16, u16)) -> Burst {
        let mut row = Row::new(peak - 3, Timestamp::new(secs, 0));
        row.update(peak, Timestamp::new(secs, 500_000));
        let a = MacAddr([0x02, 0, 0, 0, 0, addr]);
        Burst { class, row, peak: Some(peak), last_near_signal: Some(peak), first_seq: Some((a, seqs.0)), last_seq: Some((a, seqs.1)) }
    }

    #[test]
    fn the_counter_wraps_at_4096() {
        assert!(continues(4095, 0) && continues(4090, 10) && continues(10, 74));
        assert!(!continues(10, 10) && !continues(10, 75) && !continues(11, 10));
    }

    #[test]
    fn bursts_far_apart_in_signal_are_two_devices_close_ones_one() {
        // Class 1: peaks -46, -44, -62 (two groups: 18 dB apart); class 2: -50.
        let out = clusters(vec![
            burst(1, 1, 0, -46, (10, 11)),
            burst(1, 2, 10, -44, (900, 901)),
            burst(1, 3, 12, -62, (2000, 2001)),
            burst(2, 4, 3, -50, (5, 6)),
        ]);
        let summary: Vec<(u64, u32, Option<i8>)> = out.iter().map(|c| (c.class, c.row.count, c.signal)).collect();
        assert_eq!(summary, [(1, 2, Some(-62)), (1, 4, Some(-44)), (2, 2, Some(-50))]);
        // The -46/-44 device: first frame at 0 s with seq 10, last at 10.5 s with seq 901.
        assert_eq!((out[1].first_seq, out[1].last_seq), (Some(10), Some(901)));
        assert_eq!((out[1].row.first_seen.secs, out[1].row.last_seen.secs), (0, 10));
    }

    #[test]
    fn a_burst_heard_only_from_far_channels_joins_the_nearest_device_in_time() {
        let mut far = burst(1, 9, 29, -80, (1, 2));
        far.peak = None;
        far.last_near_signal = None;
        let out = clusters(vec![burst(1, 1, 0, -30, (100, 101)), burst(1, 2, 20, -60, (900, 901)), far.clone()]);
        let summary: Vec<(u32, Option<i8>)> = out.iter().map(|c| (c.row.count, c.signal)).collect();
        assert_eq!(summary, [(4, Some(-60)), (2, Some(-30))]);
        // Alone in its class: a device without a signal.
        let out = clusters(vec![far]);
        assert_eq!((out.len(), out[0].signal), (1, None));
    }

    #[test]
    fn a_continued_sequence_number_links_bursts_whatever_their_signal() {
        // 20 dB apart, but the second starts at seq 105 after 100 from another address.
        let out = clusters(vec![burst(1, 1, 0, -40, (90, 100)), burst(1, 2, 20, -60, (105, 106))]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].row.count, 4);
        // The same step from the same address is no link (it is the same address anyway,
        // but bursts of one address are kept apart only when the table could not join them).
        let out = clusters(vec![burst(1, 1, 0, -40, (90, 100)), burst(1, 1, 20, -60, (105, 106))]);
        assert_eq!(out.len(), 2);
        // Too long after: no link.
        let out = clusters(vec![burst(1, 1, 0, -40, (90, 100)), burst(1, 2, 400, -60, (105, 106))]);
        assert_eq!(out.len(), 2);
    }
}
