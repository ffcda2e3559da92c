//! Visits: a client's consecutive sightings on a network (or one access
//! point) joined while the gap between them stays below a session timeout.
//! Pure: rows in, visits out; no clock.
//!
//! A stored row is already an aggregate of one report window (first_seen to
//! last_seen, best signal, associated), so a row is one sighting interval.

use serde::Serialize;

pub const DEFAULT_SESSION_TIMEOUT_MINUTES: i64 = 15;
pub const DEFAULT_MIN_DWELL_MINUTES: i64 = 5;
pub const DEFAULT_VISITOR_MIN_SIGNAL: i32 = -75;

/// How a network's visits are cut and judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VisitRules {
    /// Seconds. A gap strictly below it joins two sightings; a gap of
    /// exactly the timeout starts a new visit.
    pub session_timeout: i64,
    /// Seconds a visit must last (last sighting minus first) to be a
    /// visitor's.
    pub min_dwell: i64,
    /// dBm the visit's best signal must reach to be a visitor's.
    pub min_signal: i32,
}

impl VisitRules {
    /// A visitor's visit, else a passerby's.
    pub fn is_visitor(&self, dwell: i64, best_signal: i32) -> bool {
        dwell >= self.min_dwell && best_signal >= self.min_signal
    }
}

impl Default for VisitRules {
    fn default() -> VisitRules {
        VisitRules {
            session_timeout: DEFAULT_SESSION_TIMEOUT_MINUTES * 60,
            min_dwell: DEFAULT_MIN_DWELL_MINUTES * 60,
            min_signal: DEFAULT_VISITOR_MIN_SIGNAL,
        }
    }
}

/// A network's analytics settings from its config file entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkRules {
    pub visits: VisitRules,
    /// Seconds east of UTC: hour and day buckets, and "an earlier day", are
    /// the venue's local ones. A fixed offset, as Camlytics' locations carry
    /// (`timezone_offset`); no daylight saving rules.
    pub utc_offset: i64,
    /// The query API may show client MACs as sent; otherwise only keyed
    /// pseudonyms.
    pub raw_macs: bool,
}

impl NetworkRules {
    /// From the config file's optional keys; an error is (key, message).
    pub fn from_options(
        session_timeout_minutes: Option<i64>,
        min_dwell_minutes: Option<i64>,
        visitor_min_signal: Option<i32>,
        timezone_offset: Option<&str>,
        api_raw_macs: Option<bool>,
    ) -> Result<NetworkRules, (&'static str, String)> {
        let timeout = session_timeout_minutes.unwrap_or(DEFAULT_SESSION_TIMEOUT_MINUTES);
        if !(1..=24 * 60).contains(&timeout) {
            return Err(("session_timeout_minutes", format!("{timeout} is not a number of minutes from 1 to 1440")));
        }
        let dwell = min_dwell_minutes.unwrap_or(DEFAULT_MIN_DWELL_MINUTES);
        if !(0..=24 * 60).contains(&dwell) {
            return Err(("min_dwell_minutes", format!("{dwell} is not a number of minutes from 0 to 1440")));
        }
        let signal = visitor_min_signal.unwrap_or(DEFAULT_VISITOR_MIN_SIGNAL);
        if !(-127..=0).contains(&signal) {
            return Err(("visitor_min_signal", format!("{signal} is not a signal in dBm from -127 to 0")));
        }
        let utc_offset = match timezone_offset {
            Some(text) => parse_utc_offset(text).ok_or_else(|| {
                ("timezone_offset", format!("{text:?} is not an offset from UTC like \"+01:00\" or \"-04:30\""))
            })?,
            None => 0,
        };
        Ok(NetworkRules {
            visits: VisitRules { session_timeout: timeout * 60, min_dwell: dwell * 60, min_signal: signal },
            utc_offset,
            raw_macs: api_raw_macs.unwrap_or(false),
        })
    }
}

pub use crate::time::{format_utc_offset, parse_utc_offset};

/// The part of a stored row that visits are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// Lower case.
    pub mac: String,
    /// Upper case.
    pub node_mac: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub max_signal: i32,
    pub associated: bool,
}

impl Sighting {
    /// A sighting of a row as stored or sent: the MACs in their cases here,
    /// the times in order (a row's first_seen may come after its last_seen).
    pub fn of_row(mac: &str, node_mac: &str, first_seen: i64, last_seen: i64, max_signal: i32, associated: bool) -> Sighting {
        Sighting {
            mac: mac.to_ascii_lowercase(),
            node_mac: node_mac.to_ascii_uppercase(),
            first_seen: first_seen.min(last_seen),
            last_seen: first_seen.max(last_seen),
            max_signal,
            associated,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Visit {
    pub mac: String,
    /// The access point of its first sighting (the one a visit "joins").
    pub node_mac: String,
    /// The access point of its last sighting (the one it "leaves").
    pub last_node_mac: String,
    pub start: i64,
    pub end: i64,
    pub best_signal: i32,
    pub connected: bool,
    /// Locally administered address: a phone's random MAC, counted apart.
    pub randomized: bool,
    /// One of its rows was marked `estimated_device` by the agent
    /// (`--randomized-macs merge`): the visit of a device the agent
    /// estimated from randomized addresses, counted apart from both.
    pub estimated_device: bool,
    /// Lasted at least the minimum dwell with a good enough signal;
    /// otherwise a passerby.
    pub visitor: bool,
}

impl Visit {
    pub fn dwell(&self) -> i64 {
        self.end - self.start
    }

    pub fn class(&self) -> AddressClass {
        AddressClass::of(self.randomized, self.estimated_device)
    }
}

/// The three kinds of client a visit can be of, never added together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// A device's own (universal) address.
    Universal,
    /// A locally administered address as sent: one phone is many of them.
    Randomized,
    /// A device the agent estimated from randomized addresses.
    EstimatedDevice,
}

impl AddressClass {
    /// An estimate's pseudonym is locally administered too, but the mark
    /// decides: it is neither a raw random address nor a universal one.
    pub fn of(randomized: bool, estimated_device: bool) -> AddressClass {
        if estimated_device {
            AddressClass::EstimatedDevice
        } else if randomized {
            AddressClass::Randomized
        } else {
            AddressClass::Universal
        }
    }

    pub const ALL: [AddressClass; 3] = [AddressClass::Universal, AddressClass::Randomized, AddressClass::EstimatedDevice];
}

/// The locally administered bit (0x02 of the first octet). A MAC that is
/// not hex counts as universal: it cannot be judged.
pub fn is_randomized(mac: &str) -> bool {
    mac.get(0..2).and_then(|o| u8::from_str_radix(o, 16).ok()).is_some_and(|o| o & 0x02 != 0)
}

/// Every client's visits, ordered by start, then MAC, of rows none of
/// which is marked as an estimated device.
pub fn visits(sightings: &[Sighting], rules: &VisitRules) -> Vec<Visit> {
    let marked: Vec<(Sighting, bool)> = sightings.iter().map(|s| (s.clone(), false)).collect();
    visits_marked(&marked, rules)
}

/// Every client's visits, ordered by start, then MAC; each sighting with
/// its row's `estimated_device` mark.
pub fn visits_marked(sightings: &[(Sighting, bool)], rules: &VisitRules) -> Vec<Visit> {
    let mut by_client: std::collections::BTreeMap<&str, Vec<(&Sighting, bool)>> = std::collections::BTreeMap::new();
    for (s, estimated) in sightings {
        by_client.entry(s.mac.as_str()).or_default().push((s, *estimated));
    }
    let mut out = Vec::new();
    for (mac, mut rows) in by_client {
        // Ties broken by the access point, not by arrival: the stored,
        // incremental visits (`sessionize`) must not depend on the order
        // reports arrived in.
        rows.sort_by(|(a, _), (b, _)| (a.first_seen, a.last_seen, &a.node_mac).cmp(&(b.first_seen, b.last_seen, &b.node_mac)));
        let mut current: Option<Visit> = None;
        for (s, estimated) in rows {
            match current.as_mut() {
                // Rows of several access points overlap: the gap is measured
                // from the latest sighting so far, and may be negative.
                Some(v) if s.first_seen - v.end < rules.session_timeout => {
                    if s.last_seen >= v.end {
                        v.end = s.last_seen;
                        v.last_node_mac = s.node_mac.clone();
                    }
                    v.best_signal = v.best_signal.max(s.max_signal);
                    v.connected |= s.associated;
                    v.estimated_device |= estimated;
                }
                _ => {
                    if let Some(done) = current.take() {
                        out.push(finish(done, rules));
                    }
                    current = Some(Visit {
                        mac: mac.to_string(),
                        node_mac: s.node_mac.clone(),
                        last_node_mac: s.node_mac.clone(),
                        start: s.first_seen,
                        end: s.last_seen,
                        best_signal: s.max_signal,
                        connected: s.associated,
                        randomized: is_randomized(mac),
                        estimated_device: estimated,
                        visitor: false,
                    });
                }
            }
        }
        if let Some(v) = current {
            out.push(finish(v, rules));
        }
    }
    out.sort_by(|a, b| (a.start, &a.mac).cmp(&(b.start, &b.mac)));
    out
}

fn finish(mut v: Visit, rules: &VisitRules) -> Visit {
    v.visitor = rules.is_visitor(v.dwell(), v.best_signal);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(mac: &str, first: i64, last: i64, signal: i32) -> Sighting {
        Sighting {
            mac: mac.into(),
            node_mac: "AC:86:74:00:00:01".into(),
            first_seen: first,
            last_seen: last,
            max_signal: signal,
            associated: false,
        }
    }

    #[test]
    fn a_gap_of_exactly_the_timeout_starts_a_new_visit() {
        let rules = VisitRules::default();
        // 0..100, then 100 + 899 (joins), then a gap of exactly 900 s.
        let rows = [s("00:00:00:00:00:01", 0, 100, -50), s("00:00:00:00:00:01", 999, 1000, -50), s("00:00:00:00:00:01", 1900, 1950, -50)];
        let v = visits(&rows, &rules);
        assert_eq!(v.iter().map(|v| (v.start, v.end)).collect::<Vec<_>>(), [(0, 1000), (1900, 1950)]);
        assert!(v[0].visitor, "1000 s at -50 dBm");
        assert!(!v[1].visitor, "50 s is a passerby");
    }

    #[test]
    fn visitor_needs_dwell_and_signal() {
        let rules = VisitRules::default();
        let judged = |last: i64, signal: i32| visits(&[s("00:00:00:00:00:02", 0, last, signal)], &rules)[0].visitor;
        assert!(judged(300, -75), "exactly the minimum dwell and the threshold");
        assert!(!judged(299, -75));
        assert!(!judged(300, -76));
    }

    #[test]
    fn overlapping_rows_of_two_access_points_are_one_visit() {
        let mut b = s("00:00:00:00:00:03", 50, 400, -80);
        b.node_mac = "AC:86:74:00:00:02".into();
        b.associated = true;
        let v = visits(&[s("00:00:00:00:00:03", 0, 100, -60), b, s("00:00:00:00:00:03", 200, 300, -90)], &VisitRules::default());
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].start, v[0].end, v[0].best_signal, v[0].connected), (0, 400, -60, true));
        assert_eq!((v[0].node_mac.as_str(), v[0].last_node_mac.as_str()), ("AC:86:74:00:00:01", "AC:86:74:00:00:02"));
    }

    #[test]
    fn locally_administered_bit() {
        assert!(is_randomized("da:a1:19:00:00:01"));
        assert!(is_randomized("02:00:00:00:00:00"));
        assert!(!is_randomized("00:9a:cd:e3:15:49"));
        assert!(!is_randomized("5c:dc:96:66:24:e3"));
        assert!(!is_randomized("zz:00:00:00:00:00"));
    }

    #[test]
    fn offsets() {
        assert_eq!(parse_utc_offset("+00:00"), Some(0));
        assert_eq!(parse_utc_offset("-04:30"), Some(-16_200));
        assert_eq!(parse_utc_offset("+14:00"), Some(50_400));
        for bad in ["", "0", "+1:00", "+14:01", "+05:60", "01:00", "+aa:00"] {
            assert_eq!(parse_utc_offset(bad), None, "{bad}");
        }
        assert_eq!(format_utc_offset(-16_200), "-04:30");
        assert_eq!(format_utc_offset(3600), "+01:00");
    }

    #[test]
    fn config_options_are_checked() {
        assert_eq!(NetworkRules::from_options(None, None, None, None, None), Ok(NetworkRules::default()));
        assert_eq!(NetworkRules::from_options(Some(0), None, None, None, None).unwrap_err().0, "session_timeout_minutes");
        assert_eq!(NetworkRules::from_options(None, Some(-1), None, None, None).unwrap_err().0, "min_dwell_minutes");
        assert_eq!(NetworkRules::from_options(None, None, Some(5), None, None).unwrap_err().0, "visitor_min_signal");
        assert_eq!(NetworkRules::from_options(None, None, None, Some("CET"), None).unwrap_err().0, "timezone_offset");
        let r = NetworkRules::from_options(Some(10), Some(2), Some(-70), Some("+01:00"), Some(true)).unwrap();
        assert_eq!(r.visits, VisitRules { session_timeout: 600, min_dwell: 120, min_signal: -70 });
        assert_eq!((r.utc_offset, r.raw_macs), (3600, true));
    }
}
