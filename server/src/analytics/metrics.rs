//! What venue operators read off visits, per time bucket: pure functions,
//! the range, the bucket size, the venue's UTC offset and "now" passed in.
//!
//! Decisions where the issue is silent (README, "Analytics", says the same):
//! - A visit counts in every bucket its [start, end] overlaps (a two-hour
//!   visit shows in both hours) and once in the range's total; it is judged
//!   (visitor or passerby, its dwell) as a whole.
//! - Buckets start at the venue's local hour or midnight (the network's
//!   fixed `timezone_offset`, UTC by default).
//! - New vs repeat is for visitor visits: repeat when the client was seen
//!   (any visit) on one of the 30 local days before the day its visit
//!   started.
//! - Occupancy is the number of visitors present at once: the peak within
//!   each bucket, and "now" (visits not yet closed by the session timeout).
//! - Randomized (locally administered) MACs get their own counts, never
//!   added to the others', and so do the agent's estimated devices
//!   (`estimated_device` rows): neither raw random addresses nor universal.

use std::collections::HashSet;

use serde::Serialize;

use crate::analytics::visits::{AddressClass, Visit, VisitRules};

pub const REPEAT_WINDOW_DAYS: i64 = 30;
/// Upper edges of the first three dwell bins (seconds); the fourth is open.
pub const DWELL_EDGES: [i64; 3] = [20 * 60, 3600, 6 * 3600];
pub const DWELL_LABELS: [&str; 4] = ["5–20 min", "20–60 min", "1–6 h", "6 h and more"];
/// About 400 days of hours: bounds the work one request can ask for.
pub const MAX_BUCKETS: i64 = 24 * 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    pub fn seconds(self) -> i64 {
        match self {
            Bucket::Hour => 3600,
            Bucket::Day => 86_400,
        }
    }

    pub fn parse(text: &str) -> Option<Bucket> {
        match text {
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            _ => None,
        }
    }
}

/// A checked time range: [since, until), cut into buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub since: i64,
    pub until: i64,
    pub bucket: Bucket,
    pub utc_offset: i64,
}

impl Range {
    /// An error names the parameter at fault.
    pub fn new(since: i64, until: i64, bucket: Bucket, utc_offset: i64) -> Result<Range, String> {
        if until <= since {
            return Err("until: must be later than since".to_string());
        }
        let range = Range { since, until, bucket, utc_offset };
        let n = (until - range.first_bucket()).div_euclid(bucket.seconds()) + 1;
        if n > MAX_BUCKETS {
            return Err(format!("since: the range holds {n} buckets of a {bucket:?}; at most {MAX_BUCKETS}").to_lowercase());
        }
        Ok(range)
    }

    /// The local hour or midnight at or before `since`, in Unix seconds.
    fn first_bucket(&self) -> i64 {
        let size = self.bucket.seconds();
        (self.since + self.utc_offset).div_euclid(size) * size - self.utc_offset
    }

    /// Every bucket [start, end) that meets the range.
    pub fn buckets(&self) -> Vec<(i64, i64)> {
        let size = self.bucket.seconds();
        let mut out = Vec::new();
        let mut start = self.first_bucket();
        while start < self.until {
            out.push((start, start + size));
            start += size;
        }
        out
    }
}

/// The venue's local day number of an instant.
pub fn local_day(t: i64, utc_offset: i64) -> i64 {
    (t + utc_offset).div_euclid(86_400)
}

/// Universal addresses, randomized addresses and estimated devices,
/// counted apart.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Split<T> {
    pub universal: T,
    pub randomized: T,
    pub estimated_devices: T,
}

impl<T> Split<T> {
    pub fn get(&mut self, class: AddressClass) -> &mut T {
        match class {
            AddressClass::Universal => &mut self.universal,
            AddressClass::Randomized => &mut self.randomized,
            AddressClass::EstimatedDevice => &mut self.estimated_devices,
        }
    }

    pub fn of(&self, class: AddressClass) -> &T {
        match class {
            AddressClass::Universal => &self.universal,
            AddressClass::Randomized => &self.randomized,
            AddressClass::EstimatedDevice => &self.estimated_devices,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub unique_clients: u64,
    pub passersby: u64,
    pub visitors: u64,
    /// Visits (visitor or passerby) with an associated row.
    pub connected: u64,
    /// visitors / (visitors + passersby); None without visits.
    pub capture_rate: Option<f64>,
    /// Visitor visits by dwell, in the bins of DWELL_LABELS.
    pub dwell: [u64; 4],
    pub new_visitors: u64,
    pub repeat_visitors: u64,
    /// Most visitors present at one instant.
    pub peak_occupancy: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketMetrics {
    pub start: i64,
    pub end: i64,
    pub counts: Split<Counts>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub buckets: Vec<BucketMetrics>,
    pub total: Split<Counts>,
    /// Visitors whose visit is still open at `now`.
    pub occupancy_now: Split<u64>,
}

pub fn dwell_bin(dwell: i64) -> usize {
    DWELL_EDGES.iter().position(|edge| dwell < *edge).unwrap_or(DWELL_EDGES.len())
}

/// For each visit: a visitor's visit by a client seen on an earlier local
/// day within the repeat window.
pub fn repeat_flags(visits: &[Visit], utc_offset: i64) -> Vec<bool> {
    let mut by_client: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (i, v) in visits.iter().enumerate() {
        by_client.entry(v.mac.as_str()).or_default().push(i);
    }
    visits
        .iter()
        .map(|v| {
            if !v.visitor {
                return false;
            }
            let day = local_day(v.start, utc_offset);
            by_client[v.mac.as_str()].iter().map(|&j| &visits[j]).any(|w| {
                local_day(w.start, utc_offset) < day && local_day(w.end, utc_offset) >= day - REPEAT_WINDOW_DAYS
            })
        })
        .collect()
}

/// The metrics of `visits` (with the history the repeat window needs: the
/// visits of the 30 days before the range) over `range`.
pub fn metrics(visits: &[Visit], range: &Range, rules: &VisitRules, now: i64) -> Metrics {
    metrics_with(visits, &repeat_flags(visits, range.utc_offset), range, rules, now)
}

/// `metrics` with each visit's repeat flag given: the stored state reads
/// them off its per-client-per-day table rather than from 30 days of
/// visits. `visits` must hold every visit that meets the range's buckets
/// and every one open at `now`.
pub fn metrics_with(visits: &[Visit], repeat: &[bool], range: &Range, rules: &VisitRules, now: i64) -> Metrics {
    let buckets = range
        .buckets()
        .into_iter()
        .map(|(start, end)| BucketMetrics { start, end, counts: counts_in(visits, repeat, start, end) })
        .collect();
    let mut occupancy_now = Split::default();
    for v in visits {
        if v.visitor && v.start <= now && now - v.end < rules.session_timeout {
            *occupancy_now.get(v.class()) += 1;
        }
    }
    Metrics { buckets, total: counts_in(visits, repeat, range.since, range.until), occupancy_now }
}

/// Counts of the visits that overlap [start, end).
pub(crate) fn counts_in(visits: &[Visit], repeat: &[bool], start: i64, end: i64) -> Split<Counts> {
    let mut counts: Split<Counts> = Split::default();
    let mut clients: Split<HashSet<&str>> = Split::default();
    // Visitor presence changes inside the bucket: (instant, +1 or -1).
    let mut presence: Split<Vec<(i64, i64)>> = Split::default();
    for (v, repeat) in visits.iter().zip(repeat) {
        if v.start >= end || v.end < start {
            continue;
        }
        clients.get(v.class()).insert(&v.mac);
        let c = counts.get(v.class());
        if v.connected {
            c.connected += 1;
        }
        if v.visitor {
            c.visitors += 1;
            c.dwell[dwell_bin(v.dwell())] += 1;
            if *repeat {
                c.repeat_visitors += 1;
            } else {
                c.new_visitors += 1;
            }
            let p = presence.get(v.class());
            // Present over [start, end] inclusive: gone from end + 1.
            p.push((v.start.max(start), 1));
            p.push((v.end.min(end - 1) + 1, -1));
        } else {
            c.passersby += 1;
        }
    }
    for class in AddressClass::ALL {
        let n = clients.get(class).len() as u64;
        let p = presence.get(class);
        // Departures before arrivals at the same instant: a visit ending at
        // t - 1 and one starting at t never overlap.
        p.sort_unstable();
        let (mut now, mut peak) = (0i64, 0i64);
        for (_, delta) in p.iter() {
            now += delta;
            peak = peak.max(now);
        }
        let c = counts.get(class);
        c.unique_clients = n;
        c.peak_occupancy = peak as u64;
        let seen = c.visitors + c.passersby;
        c.capture_rate = (seen > 0).then(|| c.visitors as f64 / seen as f64);
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::visits::{visits, Sighting};

    const DAY: i64 = 86_400;
    // 2026-11-30 00:00:00 UTC (GNU date -u -d 2026-11-30 +%s).
    const MON: i64 = 1_795_996_800;

    fn s(mac: &str, first: i64, last: i64) -> Sighting {
        Sighting { mac: mac.into(), node_mac: "AC:86:74:00:00:01".into(), first_seen: first, last_seen: last, max_signal: -60, associated: false }
    }

    #[test]
    fn buckets_follow_the_local_clock() {
        let r = Range::new(MON + 30, MON + 2 * 3600, Bucket::Hour, 0).unwrap();
        assert_eq!(r.buckets(), [(MON, MON + 3600), (MON + 3600, MON + 7200)]);
        // At +05:30 local midnight is 18:30 UTC of the day before.
        let r = Range::new(MON, MON + DAY, Bucket::Day, 19_800).unwrap();
        assert_eq!(r.buckets(), [(MON - 19_800, MON - 19_800 + DAY), (MON - 19_800 + DAY, MON - 19_800 + 2 * DAY)]);
        assert!(Range::new(MON, MON, Bucket::Hour, 0).unwrap_err().starts_with("until"));
        assert!(Range::new(MON, MON + 401 * DAY, Bucket::Hour, 0).unwrap_err().starts_with("since"));
    }

    #[test]
    fn dwell_bins_edges() {
        assert_eq!([299, 1199, 1200, 3599, 3600, 21_599, 21_600].map(dwell_bin), [0, 0, 1, 1, 2, 2, 3]);
    }

    // By hand: a visit 23:50 to 00:20 (across midnight) counts on both
    // days; a 10 min visit 10:55 to 11:05 counts in both hours.
    #[test]
    fn visits_across_midnight_and_buckets() {
        let rows = [s("00:00:00:00:00:01", MON + DAY - 600, MON + DAY + 1200), s("00:00:00:00:00:02", MON + 10 * 3600 + 3300, MON + 11 * 3600 + 300)];
        let v = visits(&rows, &VisitRules::default());
        let days = metrics(&v, &Range::new(MON, MON + 2 * DAY, Bucket::Day, 0).unwrap(), &VisitRules::default(), 0);
        assert_eq!(days.buckets.iter().map(|b| b.counts.universal.visitors).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(days.total.universal.visitors, 2);
        assert_eq!(days.total.universal.dwell, [1, 1, 0, 0]);
        let hours = metrics(&v, &Range::new(MON + 10 * 3600, MON + 12 * 3600, Bucket::Hour, 0).unwrap(), &VisitRules::default(), 0);
        assert_eq!(hours.buckets.iter().map(|b| b.counts.universal.visitors).collect::<Vec<_>>(), [1, 1]);
        // In UTC-01:00 the first visit is 22:50 to 23:20 local: one day only.
        let local = metrics(&v, &Range::new(MON + 3600, MON + 2 * DAY + 3600, Bucket::Day, -3600).unwrap(), &VisitRules::default(), 0);
        assert_eq!(local.buckets.iter().map(|b| b.counts.universal.visitors).collect::<Vec<_>>(), [2, 0]);
    }

    #[test]
    fn peak_occupancy_and_now() {
        // a: 0..600, b: 600..1200 (overlap at the instant 600), c: 1201..1600.
        let rows = [s("00:00:00:00:00:0a", MON, MON + 600), s("00:00:00:00:00:0b", MON + 600, MON + 1200), s("00:00:00:00:00:0c", MON + 1201, MON + 1600)];
        let v = visits(&rows, &VisitRules::default());
        let m = metrics(&v, &Range::new(MON, MON + 3600, Bucket::Hour, 0).unwrap(), &VisitRules::default(), MON + 1600 + 899);
        assert_eq!(m.total.universal.peak_occupancy, 2);
        assert_eq!(m.occupancy_now.universal, 1, "c is open until 900 s after its last sighting");
        let later = metrics(&v, &Range::new(MON, MON + 3600, Bucket::Hour, 0).unwrap(), &VisitRules::default(), MON + 1600 + 900);
        assert_eq!(later.occupancy_now.universal, 0);
    }

    #[test]
    fn new_then_repeat_within_thirty_days() {
        let mac = "00:00:00:00:00:01";
        let rows = [s(mac, MON, MON + 600), s(mac, MON + 3600, MON + 4200), s(mac, MON + 30 * DAY, MON + 30 * DAY + 600), s(mac, MON + 61 * DAY, MON + 61 * DAY + 600)];
        let v = visits(&rows, &VisitRules::default());
        // Same day again: still new; 30 days later: repeat; 31 days after that: new.
        assert_eq!(repeat_flags(&v, 0), [false, false, true, false]);
    }

    #[test]
    fn randomized_counted_apart() {
        let rows = [s("da:a1:19:00:00:01", MON, MON + 600), s("00:9a:cd:e3:15:49", MON, MON + 60)];
        let v = visits(&rows, &VisitRules::default());
        let m = metrics(&v, &Range::new(MON, MON + 3600, Bucket::Hour, 0).unwrap(), &VisitRules::default(), 0);
        assert_eq!((m.total.randomized.visitors, m.total.randomized.passersby), (1, 0));
        assert_eq!((m.total.universal.visitors, m.total.universal.passersby, m.total.universal.capture_rate), (0, 1, Some(0.0)));
    }

    #[test]
    fn estimated_devices_counted_apart_from_both() {
        let marked = [
            (s("da:a1:19:5e:00:07", MON, MON + 600), true),
            (s("da:a1:19:00:00:01", MON, MON + 60), false),
            (s("00:9a:cd:e3:15:49", MON, MON + 60), false),
        ];
        let v = crate::analytics::visits::visits_marked(&marked, &VisitRules::default());
        let m = metrics(&v, &Range::new(MON, MON + 3600, Bucket::Hour, 0).unwrap(), &VisitRules::default(), MON + 600);
        let e = &m.total.estimated_devices;
        assert_eq!((e.unique_clients, e.visitors, e.passersby, e.peak_occupancy), (1, 1, 0, 1));
        assert_eq!((m.total.randomized.unique_clients, m.total.randomized.passersby), (1, 1));
        assert_eq!((m.total.universal.unique_clients, m.total.universal.passersby), (1, 1));
        assert_eq!((m.occupancy_now.estimated_devices, m.occupancy_now.randomized), (1, 0));
    }
}
