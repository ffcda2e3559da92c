//! Visits as Camlytics' events: a visit's start is a `RegionJoin` at the
//! access point of its first sighting, its end a `RegionLeave` at the access
//! point of its last, once the session timeout has closed it. Pure.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::analytics::visits::{AddressClass, Visit};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum EventType {
    RegionJoin,
    RegionLeave,
}

impl EventType {
    pub fn name(self) -> &'static str {
        match self {
            EventType::RegionJoin => "RegionJoin",
            EventType::RegionLeave => "RegionLeave",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub time: i64,
    pub kind: EventType,
    pub location_id: u64,
    pub channel_id: String,
    pub object_id: String,
    pub visitor: bool,
    /// Universal address, randomized address or estimated device.
    pub class: AddressClass,
    /// On a RegionLeave: how long the visit lasted.
    pub dwell: Option<i64>,
}

impl Event {
    /// Stable across requests (a hash of what the event is).
    pub fn id(&self) -> u64 {
        short_id(&format!("{}|{}|{}|{}|{}", self.location_id, self.channel_id, self.object_id, self.time, self.kind.name()))
    }
}

/// 48 bits of SHA-256 of `text`: an id below 2^53, which JavaScript reads
/// exactly.
pub fn short_id(text: &str) -> u64 {
    let d = Sha256::digest(text.as_bytes());
    u64::from_be_bytes([0, 0, d[0], d[1], d[2], d[3], d[4], d[5]])
}

/// The events of `visits` whose time is in [since, until), oldest first.
/// `object_id` names a client (a pseudonym, or its MAC where allowed).
pub fn events(
    visits: &[Visit],
    location_id: u64,
    since: i64,
    until: i64,
    now: i64,
    session_timeout: i64,
    object_id: impl Fn(&str) -> String,
) -> Vec<Event> {
    let mut out = Vec::new();
    for v in visits {
        let base = |time, kind, channel: &str, dwell| Event {
            time,
            kind,
            location_id,
            channel_id: channel.to_string(),
            object_id: object_id(&v.mac),
            visitor: v.visitor,
            class: v.class(),
            dwell,
        };
        if (since..until).contains(&v.start) {
            out.push(base(v.start, EventType::RegionJoin, &v.node_mac, None));
        }
        let closed = now - v.end >= session_timeout;
        if closed && (since..until).contains(&v.end) {
            out.push(base(v.end, EventType::RegionLeave, &v.last_node_mac, Some(v.dwell())));
        }
    }
    out.sort_by(|a, b| (a.time, a.kind, &a.object_id).cmp(&(b.time, b.kind, &b.object_id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(mac: &str, start: i64, end: i64) -> Visit {
        Visit {
            mac: mac.into(),
            node_mac: "AC:86:74:00:00:01".into(),
            last_node_mac: "AC:86:74:00:00:02".into(),
            start,
            end,
            best_signal: -50,
            connected: false,
            randomized: false,
            estimated_device: false,
            visitor: end - start >= 300,
        }
    }

    #[test]
    fn join_at_the_first_access_point_leave_at_the_last_once_closed() {
        let v = [visit("00:00:00:00:00:01", 1000, 2000), visit("00:00:00:00:00:02", 1500, 1600)];
        let e = events(&v, 7, 0, 10_000, 2000 + 900, 900, |m| format!("id-{m}"));
        let seen: Vec<(i64, &str, &str)> = e.iter().map(|e| (e.time, e.kind.name(), e.channel_id.as_str())).collect();
        assert_eq!(
            seen,
            [(1000, "RegionJoin", "AC:86:74:00:00:01"), (1500, "RegionJoin", "AC:86:74:00:00:01"), (1600, "RegionLeave", "AC:86:74:00:00:02"), (2000, "RegionLeave", "AC:86:74:00:00:02")]
        );
        assert_eq!(e[3].dwell, Some(1000));
        assert_eq!(e[0].object_id, "id-00:00:00:00:00:01");
        // One second earlier the first visit is still open: no leave yet.
        let open = events(&v, 7, 0, 10_000, 2000 + 899, 900, |m| m.to_string());
        assert_eq!(open.iter().filter(|e| e.kind == EventType::RegionLeave).count(), 1);
        // The range cuts by event time: [1500, 2000) holds the second join and leave.
        assert_eq!(events(&v, 7, 1500, 2000, 5000, 900, |m| m.to_string()).len(), 2);
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let v = [visit("00:00:00:00:00:01", 1000, 2000)];
        let a = events(&v, 7, 0, 10_000, 5000, 900, |m| m.to_string());
        let b = events(&v, 7, 0, 10_000, 6000, 900, |m| m.to_string());
        assert_eq!(a[0].id(), b[0].id());
        assert_ne!(a[0].id(), a[1].id());
        assert!(a.iter().all(|e| e.id() < 1 << 53));
    }
}
