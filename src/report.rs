//! The Presence Reporting API document and its signature: defined once in the
//! `presenced-report` crate (shared with presenced-server); what is here builds
//! a report from the agent's window.

pub use presenced_report::{signature, verify_signature, FormatError, ProbeRow, Report, VERSION};

use crate::mac::MacAddr;
use crate::table::Window;

/// A trait only because `Report` lives in the shared crate and the window in
/// this one: `Report::from_window(...)` reads as before with it in scope.
pub trait FromWindow {
    /// `is_associated` answers for each client; it is the hostapd station
    /// list where there is one.
    fn from_window(
        network_id: u64,
        node_mac: MacAddr,
        window: &Window,
        is_associated: impl Fn(&MacAddr) -> bool,
    ) -> Report;
}

impl FromWindow for Report {
    fn from_window(
        network_id: u64,
        node_mac: MacAddr,
        window: &Window,
        is_associated: impl Fn(&MacAddr) -> bool,
    ) -> Report {
        Report {
            network_id,
            node_mac: node_mac.to_upper_string(),
            version: VERSION,
            probe_requests: window
                .rows
                .iter()
                .map(|(mac, row)| ProbeRow {
                    mac: mac.to_string(),
                    count: row.count,
                    min_signal: row.min_signal.into(),
                    max_signal: row.max_signal.into(),
                    avg_signal: row.avg_signal(),
                    last_seen_signal: row.last_seen_signal.into(),
                    // Timestamps are floored to whole seconds: `secs` already is.
                    first_seen: row.first_seen.secs,
                    last_seen: row.last_seen.secs,
                    associated: is_associated(mac),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Probe;
    use crate::table::{Table, Timestamp};

    /// The first two rows of the documented sample, rebuilt from probes whose
    /// signals and times give the documented aggregates.
    #[test]
    fn body_bytes_match_the_documented_format() {
        let mut t = Table::new(100);
        // 5c:dc:96:66:24:e3: one probe, -74 at 1475860702.
        t.record(
            Ok(Probe {
                client: "5c:dc:96:66:24:e3".parse().unwrap(),
                signal_dbm: -74,
            }),
            Timestamp::new(1475860702, 10),
        );
        // 98:01:a7:a7:1d:d3: count 2, min -84, max -80, avg -82, last -84, both at 1475860689.
        t.record(
            Ok(Probe {
                client: "98:01:a7:a7:1d:d3".parse().unwrap(),
                signal_dbm: -80,
            }),
            Timestamp::new(1475860689, 100),
        );
        t.record(
            Ok(Probe {
                client: "98:01:a7:a7:1d:d3".parse().unwrap(),
                signal_dbm: -84,
            }),
            Timestamp::new(1475860689, 900),
        );
        let w = t.take_window();
        let report =
            Report::from_window(221234, "ac:86:74:82:9a:30".parse().unwrap(), &w, |_| false);
        let expected = concat!(
            r#"{"network_id":221234,"node_mac":"AC:86:74:82:9A:30","version":1,"probe_requests":["#,
            r#"{"mac":"5c:dc:96:66:24:e3","count":1,"min_signal":-74,"max_signal":-74,"avg_signal":-74,"last_seen_signal":-74,"first_seen":1475860702,"last_seen":1475860702,"associated":false},"#,
            r#"{"mac":"98:01:a7:a7:1d:d3","count":2,"min_signal":-84,"max_signal":-80,"avg_signal":-82,"last_seen_signal":-84,"first_seen":1475860689,"last_seen":1475860689,"associated":false}]}"#
        );
        assert_eq!(String::from_utf8(report.to_body()).unwrap(), expected);
    }

    #[test]
    fn an_empty_window_is_an_empty_list() {
        let w = Table::new(1).take_window();
        let report = Report::from_window(7, "02:00:00:00:00:0a".parse().unwrap(), &w, |_| true);
        assert_eq!(
            String::from_utf8(report.to_body()).unwrap(),
            r#"{"network_id":7,"node_mac":"02:00:00:00:00:0A","version":1,"probe_requests":[]}"#
        );
    }
}
