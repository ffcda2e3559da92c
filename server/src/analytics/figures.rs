//! Stored figures, pure: what a local hour keeps so that a day's or a
//! range's counts are made of hours rather than of visits, and how they are
//! put back together. No I/O; `store::figures` keeps them.
//!
//! Why the composition is exact (each is `metrics::counts_in` of the bigger
//! bucket):
//! - An hour keeps its own counts (`overlap`: what its bucket shows) and
//!   the counts of the visits that start in it (`started`). A visit
//!   overlaps [lo, hi) iff it starts in [lo, hi) or starts before lo and
//!   ends at or after lo; so the visitors, passersby, connected, dwell bins
//!   and new / repeat of [lo, hi) are the sum of `started` over its hours
//!   plus the visits begun before lo that reach it (few: read by end).
//!   Each visit is judged as a whole, so where it starts is all that
//!   matters for these.
//! - Peak occupancy is a maximum over instants: over [lo, hi) it is the
//!   greatest of its hours' peaks (and of the peaks of partial hours at the
//!   edges, computed from their visits).
//! - Unique clients are not additive: a day's come from a per-client-per-day
//!   table, a range's from a COUNT(DISTINCT) over it (the store's part).
//! - Buckets are local hours of a fixed offset (even +05:30), so a local
//!   day is exactly 24 of them.

use crate::analytics::metrics::{counts_in, dwell_bin, Counts, Split};
use crate::analytics::visits::{AddressClass, Visit};

pub const HOUR: i64 = 3600;

/// The counts of visits that start in a span: the additive part of `Counts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Started {
    pub visitors: u64,
    pub passersby: u64,
    pub connected: u64,
    pub dwell: [u64; 4],
    pub new_visitors: u64,
    pub repeat_visitors: u64,
}

impl Started {
    pub fn add_visit(&mut self, v: &Visit, repeat: bool) {
        if v.connected {
            self.connected += 1;
        }
        if v.visitor {
            self.visitors += 1;
            self.dwell[dwell_bin(v.dwell())] += 1;
            if repeat {
                self.repeat_visitors += 1;
            } else {
                self.new_visitors += 1;
            }
        } else {
            self.passersby += 1;
        }
    }

    pub fn add(&mut self, o: &Started) {
        self.visitors += o.visitors;
        self.passersby += o.passersby;
        self.connected += o.connected;
        for (a, b) in self.dwell.iter_mut().zip(o.dwell) {
            *a += b;
        }
        self.new_visitors += o.new_visitors;
        self.repeat_visitors += o.repeat_visitors;
    }

    pub fn is_empty(&self) -> bool {
        *self == Started::default()
    }
}

/// What one local hour keeps, per class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HourFigures {
    /// `counts_in` of the hour: what an hour bucket shows.
    pub overlap: Counts,
    /// The visits that start in the hour.
    pub started: Started,
}

/// The local hour (as a Unix instant) that `t` falls in.
pub fn hour_floor(t: i64, utc_offset: i64) -> i64 {
    (t + utc_offset).div_euclid(HOUR) * HOUR - utc_offset
}

/// The local hours [start, end] meets (a visit's, inclusive of its end).
pub fn hours_of(start: i64, end: i64, utc_offset: i64) -> impl Iterator<Item = i64> {
    let first = hour_floor(start, utc_offset);
    let last = hour_floor(end.max(start), utc_offset);
    (0..=(last - first) / HOUR).map(move |i| first + i * HOUR)
}

/// The figures of the hour starting at `hour` from `visits` (at least every
/// one that meets it) with their repeat flags.
pub fn hour_figures(visits: &[Visit], repeat: &[bool], hour: i64) -> Split<HourFigures> {
    let overlap = counts_in(visits, repeat, hour, hour + HOUR);
    let started = started_in(visits, repeat, hour, hour + HOUR);
    let mut out: Split<HourFigures> = Split::default();
    for class in AddressClass::ALL {
        *out.get(class) = HourFigures { overlap: overlap.of(class).clone(), started: started.of(class).clone() };
    }
    out
}

/// The additive counts of the visits that start in [lo, hi).
pub fn started_in(visits: &[Visit], repeat: &[bool], lo: i64, hi: i64) -> Split<Started> {
    let mut out: Split<Started> = Split::default();
    for (v, r) in visits.iter().zip(repeat) {
        if v.start >= lo && v.start < hi {
            out.get(v.class()).add_visit(v, *r);
        }
    }
    out
}

/// A bucket's or a range's counts from its parts: the additive counts of
/// every visit that meets it, its peak and its unique clients.
pub fn compose(started: &Started, peak: u64, unique: u64) -> Counts {
    let seen = started.visitors + started.passersby;
    Counts {
        unique_clients: unique,
        passersby: started.passersby,
        visitors: started.visitors,
        connected: started.connected,
        capture_rate: (seen > 0).then(|| started.visitors as f64 / seen as f64),
        dwell: started.dwell,
        new_visitors: started.new_visitors,
        repeat_visitors: started.repeat_visitors,
        peak_occupancy: peak,
    }
}

/// Peak occupancy of [lo, hi) from its visits (at least every one that
/// meets it).
pub fn peak_in(visits: &[Visit], repeat: &[bool], lo: i64, hi: i64) -> Split<u64> {
    let c = counts_in(visits, repeat, lo, hi);
    Split { universal: c.universal.peak_occupancy, randomized: c.randomized.peak_occupancy, estimated_devices: c.estimated_devices.peak_occupancy }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::metrics::{metrics, repeat_flags, Bucket, Range};
    use crate::analytics::visits::{visits_marked, Sighting, VisitRules};

    // 2026-11-30 00:00:00 UTC.
    const MON: i64 = 1_795_996_800;

    struct Lcg(u64);
    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    fn rows(seed: u64, n: usize) -> Vec<(Sighting, bool)> {
        let mut r = Lcg(seed);
        (0..n)
            .map(|_| {
                let mac = match r.below(3) {
                    0 => format!("00:00:00:00:00:{:02x}", r.below(30)),
                    1 => format!("da:00:00:00:00:{:02x}", r.below(30)),
                    _ => format!("de:00:00:00:01:{:02x}", r.below(10)),
                };
                let estimated = mac.starts_with("de") && r.below(4) > 0;
                let first = MON + r.below(5 * 86_400) as i64;
                let len = if r.below(5) == 0 { r.below(9 * 3600) } else { r.below(2400) } as i64;
                let s = Sighting { mac, node_mac: "AP".into(), first_seen: first, last_seen: first + len, max_signal: -40 - r.below(50) as i32, associated: r.below(7) == 0 };
                (s, estimated)
            })
            .collect()
    }

    /// Days and ranges composed of hours equal `metrics()` of the bigger
    /// buckets, at offsets of 0, +05:30 and -03:00.
    #[test]
    fn days_and_ranges_from_hours_equal_the_batch() {
        let rules = VisitRules::default();
        for (seed, offset) in [(1, 0), (2, 19_800), (3, -10_800)] {
            let v = visits_marked(&rows(seed, 400), &rules);
            let repeat = repeat_flags(&v, offset);
            let range = Range::new(MON + 86_400 + 1234, MON + 4 * 86_400 + 777, Bucket::Day, offset).unwrap();
            let want = metrics(&v, &range, &rules, 0);
            for (b, want) in range.buckets().into_iter().zip(&want.buckets) {
                let mut started: Split<Started> = Split::default();
                let mut peak: Split<u64> = Split::default();
                let mut h = b.0;
                while h < b.1 {
                    let f = hour_figures(&v, &repeat, h);
                    for class in AddressClass::ALL {
                        started.get(class).add(&f.of(class).started);
                        let p = peak.get(class);
                        *p = (*p).max(f.of(class).overlap.peak_occupancy);
                    }
                    h += HOUR;
                }
                for (w, r) in v.iter().zip(&repeat) {
                    if w.start < b.0 && w.end >= b.0 {
                        started.get(w.class()).add_visit(w, *r);
                    }
                }
                for class in AddressClass::ALL {
                    let unique = want.counts.of(class).unique_clients;
                    assert_eq!(&compose(started.of(class), *peak.of(class), unique), want.counts.of(class), "offset {offset}, day {b:?}, {class:?}");
                }
            }
        }
    }

    #[test]
    fn hours_of_a_visit() {
        assert_eq!(hours_of(MON + 10, MON + 3600, 0).collect::<Vec<_>>(), [MON, MON + 3600]);
        assert_eq!(hours_of(MON + 10, MON + 3599, 0).collect::<Vec<_>>(), [MON]);
        // At +05:30 local hours start at :30 UTC.
        assert_eq!(hours_of(MON + 1700, MON + 1900, 19_800).collect::<Vec<_>>(), [MON - 1800, MON + 1800]);
        assert_eq!(hour_floor(MON - 1, -10_800), MON - 3600);
    }
}
