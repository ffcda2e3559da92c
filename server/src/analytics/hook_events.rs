//! What the stored visits' changes tell: pure (changes, clocks and rows in,
//! events out; no I/O, no clock read). `store::webhook_outbox` feeds it
//! inside the transaction that wrote the changes.
//!
//! A visit is told open while its end is after the network's clock minus
//! the session timeout, and closed (`RegionLeave`) once the clock passes
//! its end by the timeout. The clock is the network's own stream (its rows'
//! times), so a backfill sent in order closes its visits as it goes, not
//! all at once by the server's clock; `clock_at` carries it on between
//! reports by the time the server sees passing.

use serde::{Deserialize, Serialize};

use crate::analytics::sessionize::Fold;
use crate::analytics::visits::{is_randomized, AddressClass, VisitRules};

/// How long after its close (its end plus the timeout, on the network's
/// clock) a visit that arrives already closed is still told, as a join and
/// a leave at once. Beyond, it is stored and counted in every figure, and
/// counted here as `late_beyond_horizon`, but told to no webhook.
pub const LATE_HORIZON: i64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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

/// One event as the outbox keeps it (JSON); the body is built from it when
/// sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookEvent {
    pub network_id: u64,
    /// Per network, from 1, in the order the events were made.
    pub sequence: u64,
    pub kind: HookKind,
    pub time: i64,
    /// The access point; None for the network's occupancy.
    pub channel_id: Option<String>,
    /// The client (lower case), on joins and leaves.
    pub mac: Option<String>,
    pub visitor: Option<bool>,
    pub randomized: Option<bool>,
    /// The visit is an agent's estimated device (outbox rows written before
    /// this field read as not).
    #[serde(default)]
    pub estimated_device: Option<bool>,
    pub dwell: Option<i64>,
    pub occupancy: Option<u64>,
}

impl HookEvent {
    pub fn new(network_id: u64, kind: HookKind, time: i64, channel_id: Option<String>) -> HookEvent {
        HookEvent {
            network_id,
            sequence: 0,
            kind,
            time,
            channel_id,
            mac: None,
            visitor: None,
            randomized: None,
            estimated_device: None,
            dwell: None,
            occupancy: None,
        }
    }

    /// Universal address, randomized address or estimated device, for the
    /// events about a client.
    pub fn class(&self) -> Option<AddressClass> {
        self.randomized.map(|r| AddressClass::of(r, self.estimated_device.unwrap_or(false)))
    }
}

/// Camlytics' `suborigin`, with the query API's words for the three classes.
pub fn suborigin(class: AddressClass) -> &'static str {
    match class {
        AddressClass::Universal => "Universal",
        AddressClass::Randomized => "Randomized",
        AddressClass::EstimatedDevice => "EstimatedDevice",
    }
}

/// One network-wide visit as the sessionizer wrote it in this transaction,
/// and the stored visits it replaced (their start and end): none for a new
/// visit, one for a grown visit, more when a row bridged visits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitChange {
    pub visit: Fold,
    pub replaced: Vec<(i64, i64)>,
}

/// A stored network-wide visit, as a leave reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedVisit {
    pub mac: String,
    pub start: i64,
    pub end: i64,
    pub last_node: String,
    pub best_signal: i32,
    pub estimated_device: bool,
}

/// The time a report's rows reach, as its access point's clock says (the
/// latest last_seen), but never after the server received it: an access
/// point whose clock runs ahead must not close everyone's visits.
pub fn stream_time(last_seens: impl IntoIterator<Item = i64>, received_at: i64) -> Option<i64> {
    last_seens.into_iter().max().map(|t| t.min(received_at))
}

/// The network's clock after a report whose rows reach `stream` (it never
/// goes back: a report of older rows leaves it where it was).
pub fn clock_after_report(clock: Option<i64>, stream: Option<i64>) -> Option<i64> {
    match (clock, stream) {
        (Some(c), Some(s)) => Some(c.max(s)),
        (c, s) => c.or(s),
    }
}

/// The network's clock when the server's clock says `now`: its latest
/// report's stream time carried on by the time passed since (`lag` is how
/// far that report's rows were behind its arrival).
pub fn clock_at(clock: Option<i64>, lag: i64, now: i64) -> Option<i64> {
    clock.map(|c| c.max(now - lag))
}

fn client_event(network_id: u64, kind: HookKind, time: i64, node: &str, mac: &str, visitor: bool, estimated: bool) -> HookEvent {
    let mut e = HookEvent::new(network_id, kind, time, Some(node.to_string()));
    e.mac = Some(mac.to_string());
    e.visitor = Some(visitor);
    e.randomized = Some(is_randomized(mac));
    e.estimated_device = Some(estimated);
    e
}

fn join(network_id: u64, f: &Fold, rules: &VisitRules) -> HookEvent {
    client_event(network_id, HookKind::RegionJoin, f.start, &f.first_node, &f.mac, rules.is_visitor(f.end - f.start, f.best_signal), f.estimated_device)
}

/// The leave of a stored visit, judged as a whole.
pub fn leave(network_id: u64, v: &ClosedVisit, rules: &VisitRules) -> HookEvent {
    let mut e = client_event(
        network_id,
        HookKind::RegionLeave,
        v.end,
        &v.last_node,
        &v.mac,
        rules.is_visitor(v.end - v.start, v.best_signal),
        v.estimated_device,
    );
    e.dwell = Some(v.end - v.start);
    e
}

/// What one transaction's visit changes tell, and what they do not.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Told {
    pub events: Vec<HookEvent>,
    /// Visits that arrived closed more than `LATE_HORIZON` after their close.
    pub beyond_horizon: u64,
    /// Changes to visits already told as left that leave them closed (late
    /// rows): the stored visit, the figures and the API have them; a leave
    /// cannot be taken back, so nothing more is sent.
    pub after_leave: u64,
}

/// The joins (and the late visits' joins and leaves) of `changes`, judged
/// against the clock `clock` before them. Why this tells each visit's join
/// and leave once: a visit is told open exactly while its end is after
/// `clock - timeout`, every such visit had its join told (by this rule),
/// and a leave is told when the clock moves past its end (`closing`), so
/// - a new open visit, or an open one grown from visits all told closed
///   (a late row reaching into a closed visit from the present), is joined;
/// - an open visit grown from one already open continues: no event;
/// - a visit that arrives closed is joined and left at once within the
///   horizon, else counted; a closed visit grown by late rows that stays
///   closed is counted.
pub fn judge(network_id: u64, changes: &[VisitChange], clock: i64, rules: &VisitRules) -> Told {
    let open = |end: i64| end > clock - rules.session_timeout;
    let mut told = Told::default();
    for c in changes {
        let f = &c.visit;
        if open(f.end) {
            if !c.replaced.iter().any(|(_, end)| open(*end)) {
                told.events.push(join(network_id, f, rules));
            }
        } else if !c.replaced.is_empty() {
            told.after_leave += 1;
        } else if f.end + rules.session_timeout + LATE_HORIZON > clock {
            told.events.push(join(network_id, f, rules));
            let closed = ClosedVisit {
                mac: f.mac.clone(),
                start: f.start,
                end: f.end,
                last_node: f.last_node.clone(),
                best_signal: f.best_signal,
                estimated_device: f.estimated_device,
            };
            told.events.push(leave(network_id, &closed, rules));
        } else {
            told.beyond_horizon += 1;
        }
    }
    told
}

/// The ends of the visits that close as the clock moves from `before` to
/// `after`: (before - timeout, after - timeout].
pub fn closing(before: i64, after: i64, rules: &VisitRules) -> Option<(i64, i64)> {
    (after > before).then(|| (before - rules.session_timeout, after - rules.session_timeout))
}

/// In the order things happened: by event time, a join before a leave of
/// the same instant, then by client.
pub fn in_order(events: &mut [HookEvent]) {
    events.sort_by(|a, b| (a.time, a.kind, &a.mac).cmp(&(b.time, b.kind, &b.mac)));
}

/// The occupancy changes from `before` to `after`: the network's total, then
/// each access point (node MAC order) whose count changed. The counts per
/// access point are of the open visitors last seen there; an access point
/// missing from a side counts 0.
pub fn occupancy_changes(
    network_id: u64,
    time: i64,
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
    total_before: u64,
) -> Vec<HookEvent> {
    let mut out = Vec::new();
    let total: u64 = after.values().sum();
    if total != total_before {
        let mut e = HookEvent::new(network_id, HookKind::OccupancyChanged, time, None);
        e.occupancy = Some(total);
        out.push(e);
    }
    let nodes: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for node in nodes {
        let (was, is) = (before.get(node).copied().unwrap_or(0), after.get(node).copied().unwrap_or(0));
        if was != is {
            let mut e = HookEvent::new(network_id, HookKind::OccupancyChanged, time, Some(node.clone()));
            e.occupancy = Some(is);
            out.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 900;

    fn fold(mac: &str, start: i64, end: i64, signal: i32, estimated: bool) -> Fold {
        Fold {
            mac: mac.into(),
            start,
            start_last: start,
            first_node: "AP1".into(),
            end,
            end_first: end,
            last_node: "AP2".into(),
            best_signal: signal,
            connected: false,
            estimated_device: estimated,
        }
    }

    fn change(f: Fold, replaced: &[(i64, i64)]) -> VisitChange {
        VisitChange { visit: f, replaced: replaced.to_vec() }
    }

    fn kinds(told: &Told) -> Vec<(&'static str, i64)> {
        told.events.iter().map(|e| (e.kind.name(), e.time)).collect()
    }

    #[test]
    fn a_new_open_visit_joins_and_a_grown_one_continues() {
        let rules = VisitRules::default();
        let clock = 10_000;
        let new = change(fold("00:00:00:00:00:01", 9_000, 9_500, -50, false), &[]);
        let grown = change(fold("00:00:00:00:00:02", 8_000, 9_900, -50, false), &[(8_000, 9_200)]);
        let told = judge(7, &[new, grown], clock, &rules);
        assert_eq!(kinds(&told), [("RegionJoin", 9_000)]);
        // 500 s at -50: at least the 300 s and -75 dBm of a visitor.
        assert_eq!((told.events[0].visitor, told.events[0].channel_id.as_deref()), (Some(true), Some("AP1")));
    }

    // The edge of "open": end + timeout > clock.
    #[test]
    fn open_until_the_clock_passes_its_end_by_the_timeout() {
        let rules = VisitRules::default();
        let at_edge = change(fold("00:00:00:00:00:01", 0, 1_000, -50, false), &[]);
        // clock - timeout = 999: end 1000 is open, a join only.
        assert_eq!(kinds(&judge(7, std::slice::from_ref(&at_edge), 1_000 + T - 1, &rules)), [("RegionJoin", 0)]);
        // clock - timeout = 1000: closed on arrival, joined and left at once.
        assert_eq!(kinds(&judge(7, &[at_edge], 1_000 + T, &rules)), [("RegionJoin", 0), ("RegionLeave", 1_000)]);
    }

    #[test]
    fn the_lateness_horizon_both_sides() {
        let rules = VisitRules::default();
        let late = change(fold("00:00:00:00:00:01", 0, 1_000, -80, false), &[]);
        // Closed at 1000 + 900 on the network's clock; told until an hour after.
        let inside = judge(7, std::slice::from_ref(&late), 1_000 + T + LATE_HORIZON - 1, &rules);
        assert_eq!(kinds(&inside), [("RegionJoin", 0), ("RegionLeave", 1_000)]);
        assert_eq!((inside.events[1].dwell, inside.events[1].visitor, inside.beyond_horizon), (Some(1_000), Some(false), 0));
        let beyond = judge(7, &[late], 1_000 + T + LATE_HORIZON, &rules);
        assert_eq!((beyond.events.len(), beyond.beyond_horizon), (0, 1));
    }

    #[test]
    fn late_rows_into_a_closed_visit() {
        let rules = VisitRules::default();
        let clock = 10_000;
        // Grown but still closed (end 5000 <= 10000 - 900): told nothing more.
        let stays_closed = change(fold("00:00:00:00:00:01", 1_000, 5_000, -50, false), &[(1_000, 4_000)]);
        // A row from the present reaching back into a closed visit: it is
        // open again, after its leave was told: joined again.
        let reopened = change(fold("00:00:00:00:00:02", 1_000, 9_800, -50, false), &[(1_000, 8_000)]);
        // A bridge of a closed visit and an open one: the open one goes on.
        let bridged = change(fold("00:00:00:00:00:03", 1_000, 9_900, -50, false), &[(1_000, 2_000), (2_500, 9_900)]);
        let told = judge(7, &[stays_closed, reopened, bridged], clock, &rules);
        assert_eq!(kinds(&told), [("RegionJoin", 1_000)]);
        assert_eq!(told.events[0].mac.as_deref(), Some("00:00:00:00:00:02"));
        assert_eq!((told.after_leave, told.beyond_horizon), (1, 0));
    }

    #[test]
    fn an_estimated_device_has_a_suborigin_of_its_own() {
        let rules = VisitRules::default();
        let told = judge(
            7,
            &[change(fold("da:00:00:00:00:01", 0, 10, -50, true), &[]), change(fold("da:00:00:00:00:02", 0, 10, -50, false), &[]), change(fold("00:00:00:00:00:03", 0, 10, -50, false), &[])],
            100,
            &rules,
        );
        let classes: Vec<&str> = told.events.iter().map(|e| suborigin(e.class().unwrap())).collect();
        assert_eq!(classes, ["EstimatedDevice", "Randomized", "Universal"]);
    }

    #[test]
    fn clocks() {
        assert_eq!(stream_time([10, 30, 20], 100), Some(30));
        assert_eq!(stream_time([10, 300], 100), Some(100), "never ahead of the arrival");
        assert_eq!(stream_time([], 100), None);
        assert_eq!(clock_after_report(None, Some(5)), Some(5));
        assert_eq!(clock_after_report(Some(50), Some(5)), Some(50), "an older report does not move it back");
        assert_eq!(clock_after_report(Some(50), None), Some(50));
        // Rows 600 s behind their arrival: 1000 s later the clock is 400 s past.
        assert_eq!(clock_at(Some(2_000), 600, 2_600 + 1_000), Some(3_000));
        assert_eq!(clock_at(Some(2_000), 600, 2_100), Some(2_000));
        assert_eq!(clock_at(None, 0, 5), None);
        let rules = VisitRules::default();
        assert_eq!(closing(1_000, 1_000, &rules), None);
        assert_eq!(closing(1_000, 1_500, &rules), Some((100, 600)));
    }

    #[test]
    fn occupancy_by_hand() {
        let m = |v: &[(&str, u64)]| v.iter().map(|(k, n)| (k.to_string(), *n)).collect::<std::collections::BTreeMap<_, _>>();
        let e = occupancy_changes(7, 50, &m(&[("AP1", 2), ("AP2", 1)]), &m(&[("AP2", 2), ("AP3", 1)]), 3);
        let got: Vec<(Option<&str>, Option<u64>)> = e.iter().map(|e| (e.channel_id.as_deref(), e.occupancy)).collect();
        assert_eq!(got, [(Some("AP1"), Some(0)), (Some("AP2"), Some(2)), (Some("AP3"), Some(1))], "the total stays 3");
        assert_eq!(occupancy_changes(7, 50, &m(&[]), &m(&[("AP1", 1)]), 0).len(), 2);
    }

    #[test]
    fn in_the_order_things_happened() {
        let rules = VisitRules::default();
        let v = ClosedVisit { mac: "00:00:00:00:00:01".into(), start: 5, end: 5, last_node: "AP1".into(), best_signal: -50, estimated_device: false };
        let mut events = vec![leave(7, &v, &rules), join(7, &fold("00:00:00:00:00:02", 1, 2, -50, false), &rules), join(7, &fold("00:00:00:00:00:01", 5, 5, -50, false), &rules)];
        in_order(&mut events);
        let got: Vec<(i64, &str)> = events.iter().map(|e| (e.time, e.kind.name())).collect();
        assert_eq!(got, [(1, "RegionJoin"), (5, "RegionJoin"), (5, "RegionLeave")]);
    }
}
