//! What webhooks tell, worked out as reports arrive: a pure state machine
//! per network (reports and clock ticks in, events out, the time passed in).
//! `webhook_delivery` does the I/O.
//!
//! The definitions are the analytics' (`visits`): a visit starts
//! (`RegionJoin`) at a client's first sighting after a gap of the session
//! timeout, and ends (`RegionLeave`) at its last sighting once the timeout
//! has passed without another. Occupancy is the open visits that already
//! qualify as a visitor's (the minimum dwell reached at a good enough
//! signal), per network and per access point (where the client was last
//! seen); a change is an event. An access point is silent after more than
//! three of its own intervals without a report (as on the access points
//! page), and reporting again with its next report.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::analytics::{infer_interval, is_silent, INTERVAL_SAMPLE};
use crate::visits::{is_randomized, Sighting, VisitRules};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookKind {
    RegionJoin,
    RegionLeave,
    OccupancyChanged,
    ChannelSilent,
    ChannelReporting,
}

impl HookKind {
    pub fn name(self) -> &'static str {
        match self {
            HookKind::RegionJoin => "RegionJoin",
            HookKind::RegionLeave => "RegionLeave",
            HookKind::OccupancyChanged => "OccupancyChanged",
            HookKind::ChannelSilent => "ChannelSilent",
            HookKind::ChannelReporting => "ChannelReporting",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookEvent {
    pub network_id: u64,
    /// Per network, from 1, in the order the events happened.
    pub sequence: u64,
    pub kind: HookKind,
    pub time: i64,
    /// The access point; None for the network's occupancy.
    pub channel_id: Option<String>,
    /// The client (lower case), on joins and leaves.
    pub mac: Option<String>,
    pub visitor: Option<bool>,
    pub randomized: Option<bool>,
    pub dwell: Option<i64>,
    pub occupancy: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct OpenVisit {
    first_node: String,
    last_node: String,
    start: i64,
    end: i64,
    best_signal: i32,
}

impl OpenVisit {
    fn visitor(&self, rules: &VisitRules) -> bool {
        rules.is_visitor(self.end - self.start, self.best_signal)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AccessPoint {
    /// The latest report times, at most INTERVAL_SAMPLE.
    reports: Vec<i64>,
    silent: bool,
}

/// The whole state is kept in the database between reports and ticks
/// (`store::webhook_outbox`), so it is serializable; the rules are not part
/// of it (they come from the config each time).
#[derive(Debug, Serialize, Deserialize)]
pub struct NetworkDetector {
    network_id: u64,
    #[serde(skip)]
    rules: VisitRules,
    open: HashMap<String, OpenVisit>,
    occupancy: u64,
    occupancy_by_ap: BTreeMap<String, u64>,
    access_points: BTreeMap<String, AccessPoint>,
    sequence: u64,
}

impl NetworkDetector {
    pub fn new(network_id: u64, rules: VisitRules) -> NetworkDetector {
        NetworkDetector {
            network_id,
            rules,
            open: HashMap::new(),
            occupancy: 0,
            occupancy_by_ap: BTreeMap::new(),
            access_points: BTreeMap::new(),
            sequence: 0,
        }
    }

    /// The detector as `to_state` wrote it, judged by `rules`; a state
    /// that does not parse (written by another version) is an error.
    pub fn from_state(state: &str, rules: VisitRules) -> Result<NetworkDetector, serde_json::Error> {
        let mut d: NetworkDetector = serde_json::from_str(state)?;
        d.rules = rules;
        Ok(d)
    }

    pub fn to_state(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn event(&mut self, kind: HookKind, time: i64, channel_id: Option<String>) -> HookEvent {
        self.sequence += 1;
        HookEvent {
            network_id: self.network_id,
            sequence: self.sequence,
            kind,
            time,
            channel_id,
            mac: None,
            visitor: None,
            randomized: None,
            dwell: None,
            occupancy: None,
        }
    }

    fn leave(&mut self, mac: &str, v: &OpenVisit) -> HookEvent {
        let visitor = v.visitor(&self.rules);
        let mut e = self.event(HookKind::RegionLeave, v.end, Some(v.last_node.clone()));
        e.mac = Some(mac.to_string());
        e.visitor = Some(visitor);
        e.randomized = Some(is_randomized(mac));
        e.dwell = Some(v.end - v.start);
        e
    }

    /// A stored report of `node` (upper case) with its rows, received at
    /// `received_at`.
    pub fn on_report(&mut self, node: &str, rows: &[Sighting], received_at: i64) -> Vec<HookEvent> {
        let mut out = Vec::new();
        let ap = self.access_points.entry(node.to_string()).or_default();
        ap.reports.push(received_at);
        if ap.reports.len() > INTERVAL_SAMPLE {
            ap.reports.remove(0);
        }
        if std::mem::take(&mut ap.silent) {
            out.push(self.event(HookKind::ChannelReporting, received_at, Some(node.to_string())));
        }
        let mut rows: Vec<&Sighting> = rows.iter().collect();
        rows.sort_by_key(|r| (r.first_seen, r.last_seen));
        for r in rows {
            let (first, last) = (r.first_seen.min(r.last_seen), r.first_seen.max(r.last_seen));
            let mac = r.mac.to_ascii_lowercase();
            match self.open.get_mut(&mac) {
                Some(v) if first - v.end < self.rules.session_timeout => {
                    if last >= v.end {
                        v.end = last;
                        v.last_node = node.to_string();
                    }
                    v.best_signal = v.best_signal.max(r.max_signal);
                    continue;
                }
                Some(_) => {
                    // A row after a gap of the timeout: the old visit ended
                    // before this one starts.
                    if let Some(old) = self.open.remove(&mac) {
                        let e = self.leave(&mac, &old);
                        out.push(e);
                    }
                }
                None => {}
            }
            let v = OpenVisit { first_node: node.to_string(), last_node: node.to_string(), start: first, end: last, best_signal: r.max_signal };
            let mut e = self.event(HookKind::RegionJoin, first, Some(v.first_node.clone()));
            e.mac = Some(mac.clone());
            e.visitor = Some(v.visitor(&self.rules));
            e.randomized = Some(is_randomized(&mac));
            out.push(e);
            self.open.insert(mac, v);
        }
        out.extend(self.occupancy_changes(received_at));
        out
    }

    /// The clock at `now`: visits the timeout has closed end, silent access
    /// points are told.
    pub fn on_tick(&mut self, now: i64) -> Vec<HookEvent> {
        let mut out = Vec::new();
        let mut closed: Vec<(String, OpenVisit)> =
            self.open.iter().filter(|(_, v)| now - v.end >= self.rules.session_timeout).map(|(m, v)| (m.clone(), v.clone())).collect();
        closed.sort_by(|a, b| (a.1.end, &a.0).cmp(&(b.1.end, &b.0)));
        for (mac, v) in closed {
            self.open.remove(&mac);
            let e = self.leave(&mac, &v);
            out.push(e);
        }
        out.extend(self.occupancy_changes(now));
        let newly_silent: Vec<String> = self
            .access_points
            .iter()
            .filter(|(_, ap)| !ap.silent)
            .filter(|(_, ap)| ap.reports.last().is_some_and(|last| is_silent(now, *last, infer_interval(&ap.reports))))
            .map(|(node, _)| node.clone())
            .collect();
        for node in newly_silent {
            if let Some(ap) = self.access_points.get_mut(&node) {
                ap.silent = true;
            }
            out.push(self.event(HookKind::ChannelSilent, now, Some(node)));
        }
        out
    }

    fn occupancy_changes(&mut self, now: i64) -> Vec<HookEvent> {
        let mut out = Vec::new();
        let mut by_ap: BTreeMap<String, u64> = self.occupancy_by_ap.keys().map(|k| (k.clone(), 0)).collect();
        let mut total = 0;
        for v in self.open.values().filter(|v| v.visitor(&self.rules)) {
            total += 1;
            *by_ap.entry(v.last_node.clone()).or_default() += 1;
        }
        if total != self.occupancy {
            self.occupancy = total;
            let mut e = self.event(HookKind::OccupancyChanged, now, None);
            e.occupancy = Some(total);
            out.push(e);
        }
        for (node, n) in by_ap {
            if self.occupancy_by_ap.get(&node).copied().unwrap_or(0) != n {
                let mut e = self.event(HookKind::OccupancyChanged, now, Some(node.clone()));
                e.occupancy = Some(n);
                out.push(e);
            }
            if n == 0 {
                self.occupancy_by_ap.remove(&node);
            } else {
                self.occupancy_by_ap.insert(node, n);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(mac: &str, first: i64, last: i64, signal: i32) -> Sighting {
        Sighting { mac: mac.into(), node_mac: String::new(), first_seen: first, last_seen: last, max_signal: signal, associated: false }
    }

    fn kinds(events: &[HookEvent]) -> Vec<(&'static str, Option<&str>, Option<u64>)> {
        events.iter().map(|e| (e.kind.name(), e.channel_id.as_deref(), e.occupancy)).collect()
    }

    #[test]
    fn join_occupancy_leave() {
        let mut d = NetworkDetector::new(7, VisitRules::default());
        // 10 min at -50 dBm: a visitor at once.
        let e = d.on_report("AP1", &[s("00:00:00:00:00:01", 1000, 1600, -50)], 1630);
        assert_eq!(kinds(&e), [("RegionJoin", Some("AP1"), None), ("OccupancyChanged", None, Some(1)), ("OccupancyChanged", Some("AP1"), Some(1))]);
        assert_eq!(e.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1, 2, 3]);
        // The same client at AP2 after 5 min: the same visit, moved.
        let e = d.on_report("AP2", &[s("00:00:00:00:00:01", 1900, 1950, -60)], 1980);
        assert_eq!(kinds(&e), [("OccupancyChanged", Some("AP1"), Some(0)), ("OccupancyChanged", Some("AP2"), Some(1))]);
        // 899 s after its last sighting it is open; at 900 it has left.
        assert!(d.on_tick(1950 + 899).iter().all(|e| e.kind != HookKind::RegionLeave));
        let e = d.on_tick(1950 + 900);
        assert_eq!(kinds(&e), [("RegionLeave", Some("AP2"), None), ("OccupancyChanged", None, Some(0)), ("OccupancyChanged", Some("AP2"), Some(0))]);
        assert_eq!((e[0].dwell, e[0].visitor), (Some(950), Some(true)));
    }

    #[test]
    fn a_gap_of_the_timeout_in_one_report_stream_ends_the_visit_first() {
        let mut d = NetworkDetector::new(7, VisitRules::default());
        d.on_report("AP1", &[s("da:00:00:00:00:01", 0, 10, -80)], 20);
        let e = d.on_report("AP1", &[s("da:00:00:00:00:01", 910, 920, -80)], 930);
        assert_eq!(kinds(&e), [("RegionLeave", Some("AP1"), None), ("RegionJoin", Some("AP1"), None)]);
        assert_eq!((e[0].visitor, e[0].randomized, e[0].time, e[1].time), (Some(false), Some(true), 10, 910));
    }

    // A restart between reports: the detector read back from its state
    // goes on as the one that never stopped (same events, same sequences).
    #[test]
    fn state_read_back_continues_as_if_never_stopped() {
        let rules = VisitRules::default();
        let (mut kept, mut restarted) = (NetworkDetector::new(7, rules), NetworkDetector::new(7, rules));
        let first = [s("00:00:00:00:00:01", 1000, 1600, -50), s("da:00:00:00:00:02", 1000, 1010, -80)];
        assert_eq!(kept.on_report("AP1", &first, 1630), restarted.on_report("AP1", &first, 1630));
        restarted = NetworkDetector::from_state(&restarted.to_state(), rules).unwrap();
        let later = [s("00:00:00:00:00:01", 1700, 1800, -50)];
        assert_eq!(kept.on_report("AP2", &later, 1830), restarted.on_report("AP2", &later, 1830));
        restarted = NetworkDetector::from_state(&restarted.to_state(), rules).unwrap();
        let leaves = restarted.on_tick(1800 + 900);
        assert_eq!(kept.on_tick(1800 + 900), leaves);
        // By hand: 1 join, 2 join, occupancy 1 (net), 1 (AP1); then moved
        // (AP1 0, AP2 1); then both leave, occupancy 0 (net), 0 (AP2): 10.
        assert_eq!(leaves.last().map(|e| e.sequence), Some(10));
        assert!(NetworkDetector::from_state("{", rules).is_err());
    }

    #[test]
    fn silent_once_then_reporting_again() {
        let mut d = NetworkDetector::new(7, VisitRules::default());
        for t in [0, 30, 60] {
            assert!(d.on_report("AP1", &[], t).is_empty());
        }
        assert!(d.on_tick(150).is_empty(), "exactly three intervals");
        assert_eq!(kinds(&d.on_tick(151)), [("ChannelSilent", Some("AP1"), None)]);
        assert!(d.on_tick(500).is_empty(), "told once");
        assert_eq!(kinds(&d.on_report("AP1", &[], 510)), [("ChannelReporting", Some("AP1"), None)]);
    }
}
