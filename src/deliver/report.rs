//! The Presence Reporting API document and its signature: defined once in the
//! `presenced-report` crate (shared with presenced-server); what is here builds
//! a report from the agent's window.

pub use presenced_report::{signature, verify_signature, FormatError, ProbeRow, Report, Signer, VERSION};

use std::io::{self, Write};

use presenced_report::{write_body, Row, Rows};

use crate::wire::mac::MacAddr;
use crate::window::table::{Row as TableRow, Window};

/// A window's report, written out whenever it is needed (into the
/// signature, onto the wire, on stdout) straight from the window's rows,
/// never held as a whole: at the largest `--max-clients` a body is 3.5 MB,
/// which a router would otherwise hold two or three times over. Every write
/// gives the same bytes, those of `presenced_report::write_body`.
pub struct WindowReport<'a> {
    network_id: u64,
    node_mac: [u8; 17],
    rows: &'a [(MacAddr, TableRow)],
    is_associated: &'a dyn Fn(&MacAddr) -> bool,
}

impl<'a> WindowReport<'a> {
    /// `is_associated` answers for each client; it is the hostapd station
    /// list where there is one.
    pub fn new(network_id: u64, node_mac: MacAddr, window: &'a Window, is_associated: &'a dyn Fn(&MacAddr) -> bool) -> Self {
        WindowReport { network_id, node_mac: node_mac.to_upper_bytes(), rows: &window.rows, is_associated }
    }

    pub fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        // Hex digits and colons only: always UTF-8.
        let node_mac = std::str::from_utf8(&self.node_mac).unwrap_or_default();
        write_body(out, self.network_id, node_mac, self)
    }

    /// Length in bytes, by writing it into a counter.
    pub fn len(&self) -> usize {
        let mut counter = Counter(0);
        // A counter cannot fail.
        let _ = self.write_to(&mut counter);
        counter.0
    }

    /// Never: even an empty window has the report's frame.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn associated_count(&self) -> usize {
        self.rows.iter().filter(|(mac, _)| (self.is_associated)(mac)).count()
    }

    /// The body in memory, for tests and tools.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.len());
        let _ = self.write_to(&mut body);
        body
    }
}

impl Rows for WindowReport<'_> {
    fn each_row(&self, f: &mut dyn FnMut(Row<'_>) -> io::Result<()>) -> io::Result<()> {
        for (mac, row) in self.rows {
            let text = mac.to_lower_bytes();
            f(ProbeRow {
                mac: std::str::from_utf8(&text).unwrap_or_default(),
                count: row.count,
                min_signal: row.min_signal.into(),
                max_signal: row.max_signal.into(),
                avg_signal: row.avg_signal(),
                last_seen_signal: row.last_seen_signal.into(),
                // Timestamps are floored to whole seconds: `secs` already is.
                first_seen: row.first_seen.secs,
                last_seen: row.last_seen.secs,
                associated: (self.is_associated)(mac),
                estimated_device: row.estimated_device,
            })?;
        }
        Ok(())
    }
}

/// Counts bytes instead of keeping them.
struct Counter(usize);

impl Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::Probe;
    use crate::window::table::{Table, Timestamp};

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
        let report = WindowReport::new(221234, "ac:86:74:82:9a:30".parse().unwrap(), &w, &|_| false);
        let expected = concat!(
            r#"{"network_id":221234,"node_mac":"AC:86:74:82:9A:30","version":1,"probe_requests":["#,
            r#"{"mac":"5c:dc:96:66:24:e3","count":1,"min_signal":-74,"max_signal":-74,"avg_signal":-74,"last_seen_signal":-74,"first_seen":1475860702,"last_seen":1475860702,"associated":false},"#,
            r#"{"mac":"98:01:a7:a7:1d:d3","count":2,"min_signal":-84,"max_signal":-80,"avg_signal":-82,"last_seen_signal":-84,"first_seen":1475860689,"last_seen":1475860689,"associated":false}]}"#
        );
        assert_eq!(String::from_utf8(report.to_vec()).unwrap(), expected);
        assert_eq!(report.len(), expected.len());
    }

    #[test]
    fn an_empty_window_is_an_empty_list() {
        let w = Table::new(1).take_window();
        let report = WindowReport::new(7, "02:00:00:00:00:0a".parse().unwrap(), &w, &|_| true);
        assert_eq!(
            String::from_utf8(report.to_vec()).unwrap(),
            r#"{"network_id":7,"node_mac":"02:00:00:00:00:0A","version":1,"probe_requests":[]}"#
        );
    }
}
