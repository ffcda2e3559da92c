//! The answer of `ubus call presenced status`: a `status::Snapshot` as
//! blobmsg fields. Pure (the time is passed in); `publisher` calls it on a
//! copy taken with no lock held.

use crate::status::{Delivery, Snapshot};
use crate::ubus::blob::Writer;
use crate::wire::frame::DropReason;

fn size(n: usize) -> u64 {
    n as u64
}

/// The answer's blobmsg fields, as of `now` (UTC epoch seconds).
pub fn write_status(snapshot: &Snapshot, now: i64, w: &mut Writer) {
    w.field_str("version", env!("CARGO_PKG_VERSION"));
    w.field_u64("started", snapshot.started.max(0) as u64);
    w.field_u64("uptime", now.saturating_sub(snapshot.started).max(0) as u64);
    let c = &snapshot.settings;
    w.field_table("config", |w| {
        w.field_str("source", c.source);
        if let Some(i) = &c.interface {
            w.field_str("interface", i);
        }
        if let Some(u) = &c.url {
            w.field_str("url", u);
        }
        w.field_u32("rate", c.rate_secs);
        w.field_u64("network_id", c.network_id);
        if let Some(m) = &c.node_mac {
            w.field_str("node_mac", m);
        }
        w.field_u64("max_clients", size(c.max_clients));
        w.field_bool("hostapd", c.hostapd);
        w.field_bool("pseudonymize", c.pseudonymize);
        w.field_str("randomized_macs", c.randomized_macs);
        if let Some(m) = c.min_signal {
            w.field_i32("min_signal", m as i32);
        }
        if let Some(b) = c.spool_bytes {
            w.field_u64("spool_bytes", size(b));
        }
    });
    let win = &snapshot.window;
    w.field_table("window", |w| {
        w.field_u64("start", win.start.max(0) as u64);
        w.field_u64("clients", size(win.clients));
        w.field_u64("frames", win.stats.frames);
        w.field_u64("accepted", win.stats.accepted);
        w.field_table("drops", |w| {
            for reason in DropReason::ALL {
                w.field_u64(reason.name(), win.stats.drops[reason.index()]);
            }
            w.field_u64("table_full", win.stats.table_full);
        });
    });
    w.field_array("reports", |w| {
        for r in &snapshot.reports {
            w.field_table("", |w| {
                w.field_u64("time", r.time.max(0) as u64);
                w.field_u64("clients", size(r.clients));
                w.field_u64("frames", r.frames);
                w.field_u64("bytes", size(r.bytes));
                w.field_u64("duration_ms", r.duration_ms);
                match &r.delivery {
                    Delivery::Accepted(s) => {
                        w.field_str("result", "accepted");
                        w.field_u32("http_status", *s as u32);
                    }
                    Delivery::Refused(s) => {
                        w.field_str("result", "refused");
                        w.field_u32("http_status", *s as u32);
                    }
                    Delivery::Failed(e) => {
                        w.field_str("result", "failed");
                        w.field_str("error", e);
                    }
                    Delivery::Printed => w.field_str("result", "printed"),
                }
                w.field_bool("spooled", r.spooled);
            });
        }
    });
    w.field_table("totals", |w| {
        w.field_u64("reports", snapshot.reports_total);
        w.field_u64("accepted", snapshot.accepted_total);
        w.field_u64("failing_in_a_row", snapshot.failing_in_a_row);
    });
    if let Some(s) = &snapshot.spool {
        w.field_table("spool", |w| {
            w.field_u64("reports", size(s.reports));
            w.field_u64("bytes", size(s.bytes));
            w.field_u64("limit", size(s.limit));
        });
    }
    w.field_table("source", |w| {
        w.field_str("type", c.source);
        match c.source {
            "hostapd" => {
                w.field_bool("connected", snapshot.hostapd.connected);
                w.field_array("objects", |w| {
                    for o in &snapshot.hostapd.objects {
                        w.field_str("", o);
                    }
                });
            }
            _ => {
                if let Some(i) = &c.interface {
                    w.field_str("interface", i);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{Board, ReportRecord, Settings, SpoolFill};
    use crate::ubus::blob::{Field, Fields, Kind};
    use crate::window::table::WindowStats;

    fn report(delivery: Delivery) -> ReportRecord {
        ReportRecord { time: 100, clients: 3, frames: 9, bytes: 400, duration_ms: 5, delivery, spooled: false }
    }

    /// The answer read back field by field with the blob parser (itself
    /// tested on libubox's layouts), against the values put in by hand.
    #[test]
    fn the_answer_holds_every_part_and_never_a_key() {
        let settings = Settings {
            source: "monitor",
            interface: Some("mon0".into()),
            url: Some("http://h/r".into()),
            rate_secs: 30,
            max_clients: 10,
            randomized_macs: "keep",
            min_signal: Some(-80),
            ..Settings::default()
        };
        let b = Board::new(settings, 1000);
        let mut stats = WindowStats { frames: 12, accepted: 9, ..WindowStats::default() };
        stats.drops[DropReason::BadFcs.index()] = 3;
        b.try_publish_window(1020, 4, &stats);
        b.record_report(report(Delivery::Accepted(200)));
        b.record_report(report(Delivery::Failed("timed out".into())));
        b.attach_spool(|| SpoolFill { reports: 1, bytes: 400, limit: 4096 });
        let mut w = Writer::new();
        write_status(&b.snapshot(), 1030, &mut w);
        let bytes = w.into_bytes();
        let top = Fields::new(&bytes);
        let get = |fields: &Fields, path: &[&str]| -> Option<u64> {
            let mut f: Field = fields.get(path[0])?;
            for p in &path[1..] {
                f = f.members()?.get(p)?;
            }
            f.u64().or(f.u32().map(u64::from))
        };
        assert_eq!(top.get("version").and_then(|f| f.str()), Some(env!("CARGO_PKG_VERSION")));
        assert_eq!(get(&top, &["uptime"]), Some(30));
        assert_eq!(get(&top, &["config", "rate"]), Some(30));
        assert_eq!(top.get("config").unwrap().members().unwrap().get("min_signal").unwrap().i32(), Some(-80));
        assert_eq!(get(&top, &["window", "start"]), Some(1020));
        assert_eq!(get(&top, &["window", "clients"]), Some(4));
        assert_eq!(get(&top, &["window", "drops", "bad_fcs"]), Some(3));
        assert_eq!(get(&top, &["window", "drops", "table_full"]), Some(0));
        assert_eq!(get(&top, &["totals", "failing_in_a_row"]), Some(1));
        assert_eq!(get(&top, &["spool", "limit"]), Some(4096));
        let reports: Vec<Field> = top.get("reports").unwrap().members().unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(reports.len(), 2);
        assert_eq!(reports[0].kind, Kind::Table);
        assert_eq!(reports[0].name, "", "array members have no names");
        let last = reports[1].members().unwrap();
        assert_eq!(last.get("result").and_then(|f| f.str()), Some("failed"));
        assert_eq!(last.get("error").and_then(|f| f.str()), Some("timed out"));
        assert!(last.get("http_status").is_none());
        let names: Vec<&str> = top.clone().map(|f| f.unwrap().name).collect();
        assert_eq!(names, ["version", "started", "uptime", "config", "window", "reports", "totals", "spool", "source"]);
        assert!(!bytes.windows(3).any(|w| w == b"key"), "no key field anywhere");
    }
}
