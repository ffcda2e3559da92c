//! What `ubus call presenced status` answers: the running settings (never a
//! key), the window in progress, the last reports, the spool's fill and the
//! capture source's state.
//!
//! A `Board` holds the latest `Snapshot`. Capture, the reporter and the ubus
//! source write to it; the ubus object's thread (`ubus::publisher`) copies it
//! out and encodes the copy with no lock held. Capture never waits for it:
//! it publishes with `try_lock` and skips an update when the copy is being
//! taken (the next one, a poll later, carries the counts on). The lock is
//! only ever held for a copy of a few hundred bytes, never across I/O, so a
//! caller that floods ubusd with calls costs capture nothing and the
//! reporter a copy's time per call.
//!
//! The encoding (`Snapshot::write`) is pure: the time is passed in.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};

use crate::config::{Config, Source};
use crate::wire::frame::DropReason;
use crate::window::table::WindowStats;
use crate::ubus::blob::Writer;

/// Reports kept for the answer (and LuCI's chart of clients per window).
pub const REPORTS_KEPT: usize = 16;

/// The settings presenced runs with, as shown: no key, no credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub source: &'static str,
    pub interface: Option<String>,
    pub url: Option<String>,
    pub rate_secs: u32,
    pub network_id: u64,
    pub node_mac: Option<String>,
    pub max_clients: usize,
    pub hostapd: bool,
    pub pseudonymize: bool,
    pub randomized_macs: &'static str,
    pub min_signal: Option<i8>,
    pub spool_bytes: Option<usize>,
}

impl Settings {
    pub fn of(cfg: &Config) -> Settings {
        let (source, interface) = match &cfg.source {
            Source::Interface(i) => ("monitor", Some(i.clone())),
            Source::File(p) => ("file", Some(p.display().to_string())),
            Source::Hostapd => ("hostapd", None),
        };
        Settings {
            source,
            interface,
            url: cfg.url.as_deref().map(without_userinfo),
            rate_secs: cfg.rate_secs,
            network_id: cfg.network_id,
            node_mac: cfg.node_mac.map(|m| m.to_upper_string()),
            max_clients: cfg.max_clients,
            hostapd: cfg.hostapd.is_some(),
            pseudonymize: cfg.pseudonyms.is_some(),
            randomized_macs: if cfg.admission.drop_randomized { "drop" } else { "keep" },
            min_signal: (cfg.admission.min_signal != i8::MIN).then_some(cfg.admission.min_signal),
            spool_bytes: cfg.spool_bytes,
        }
    }
}

/// `http://user:secret@host/p` -> `http://host/p`: a password in the URL is a
/// key too.
pub fn without_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let authority_end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
    match url[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end], &url[scheme_end + at + 1..]),
        None => url.to_string(),
    }
}

/// The window being counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowNow {
    /// UTC epoch seconds.
    pub start: i64,
    pub clients: usize,
    pub stats: WindowStats,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// 2xx.
    Accepted(u16),
    /// Another status: dropped (or spooled).
    Refused(u16),
    /// No answer.
    Failed(String),
    /// No URL: printed on stdout only.
    Printed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRecord {
    /// When it was sent, UTC epoch seconds.
    pub time: i64,
    pub clients: usize,
    pub frames: u64,
    pub bytes: usize,
    pub duration_ms: u64,
    pub delivery: Delivery,
    /// Kept in the spool to be sent again.
    pub spooled: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolFill {
    pub reports: usize,
    pub bytes: usize,
    pub limit: usize,
}

/// `--source hostapd`: the connection to ubusd and the objects subscribed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostapdState {
    pub connected: bool,
    pub objects: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub started: i64,
    pub settings: Settings,
    pub window: WindowNow,
    pub reports: VecDeque<ReportRecord>,
    pub reports_total: u64,
    pub accepted_total: u64,
    /// Reports in a row, up to the last, that the server did not take.
    pub failing_in_a_row: u64,
    pub hostapd: HostapdState,
    pub spool: Option<SpoolFill>,
}

type SpoolProbe = Box<dyn Fn() -> SpoolFill + Send + Sync>;

pub struct Board {
    snapshot: Mutex<Snapshot>,
    spool: OnceLock<SpoolProbe>,
}

impl Board {
    pub fn new(settings: Settings, started: i64) -> Board {
        let window = WindowNow { start: started, ..WindowNow::default() };
        Board {
            snapshot: Mutex::new(Snapshot { started, settings, window, ..Snapshot::default() }),
            spool: OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        // A panic elsewhere must not take the status with it.
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy, taken in the time of a clone; the spool's fill asked after the
    /// lock is released.
    pub fn snapshot(&self) -> Snapshot {
        let mut s = self.lock().clone();
        s.spool = self.spool.get().map(|probe| probe());
        s
    }

    /// Capture's side: never waits. Skipped while a copy is being taken.
    pub fn try_publish_window(&self, start: i64, clients: usize, stats: &WindowStats) {
        let mut s = match self.snapshot.try_lock() {
            Ok(s) => s,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        s.window.start = start;
        s.window.clients = clients;
        s.window.stats.clone_from(stats);
    }

    pub fn record_report(&self, r: ReportRecord) {
        let mut s = self.lock();
        s.reports_total += 1;
        match r.delivery {
            Delivery::Accepted(_) | Delivery::Printed => {
                s.accepted_total += 1;
                s.failing_in_a_row = 0;
            }
            Delivery::Refused(_) | Delivery::Failed(_) => s.failing_in_a_row += 1,
        }
        if s.reports.len() == REPORTS_KEPT {
            s.reports.pop_front();
        }
        s.reports.push_back(r);
    }

    pub fn set_hostapd(&self, state: HostapdState) {
        self.lock().hostapd = state;
    }

    /// Asked at each snapshot (the spool's own lock is never held long).
    pub fn attach_spool(&self, probe: impl Fn() -> SpoolFill + Send + Sync + 'static) {
        let _ = self.spool.set(Box::new(probe));
    }
}

fn size(n: usize) -> u64 {
    n as u64
}

impl Snapshot {
    /// The answer's blobmsg fields, as of `now` (UTC epoch seconds).
    pub fn write(&self, now: i64, w: &mut Writer) {
        w.field_str("version", env!("CARGO_PKG_VERSION"));
        w.field_u64("started", self.started.max(0) as u64);
        w.field_u64("uptime", now.saturating_sub(self.started).max(0) as u64);
        let c = &self.settings;
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
        let win = &self.window;
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
            for r in &self.reports {
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
            w.field_u64("reports", self.reports_total);
            w.field_u64("accepted", self.accepted_total);
            w.field_u64("failing_in_a_row", self.failing_in_a_row);
        });
        if let Some(s) = &self.spool {
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
                    w.field_bool("connected", self.hostapd.connected);
                    w.field_array("objects", |w| {
                        for o in &self.hostapd.objects {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ubus::blob::{Field, Fields, Kind};

    #[test]
    fn credentials_in_the_url_are_not_shown() {
        assert_eq!(without_userinfo("http://u:p@h:8080/x?a=b@c"), "http://h:8080/x?a=b@c");
        assert_eq!(without_userinfo("https://h/x@y"), "https://h/x@y");
        assert_eq!(without_userinfo("http://a@b@h/"), "http://h/");
        assert_eq!(without_userinfo("not a url"), "not a url");
    }

    fn report(delivery: Delivery) -> ReportRecord {
        ReportRecord { time: 100, clients: 3, frames: 9, bytes: 400, duration_ms: 5, delivery, spooled: false }
    }

    #[test]
    fn the_board_keeps_the_last_reports_and_counts_failures_in_a_row() {
        let b = Board::new(Settings::default(), 50);
        for i in 0..REPORTS_KEPT + 3 {
            b.record_report(ReportRecord { time: i as i64, ..report(Delivery::Accepted(200)) });
        }
        b.record_report(report(Delivery::Failed("connection refused".into())));
        b.record_report(report(Delivery::Refused(500)));
        let s = b.snapshot();
        assert_eq!(s.reports.len(), REPORTS_KEPT);
        assert_eq!(s.reports.front().map(|r| r.time), Some(5), "the oldest went first");
        assert_eq!((s.reports_total, s.accepted_total, s.failing_in_a_row), (21, 19, 2));
        b.record_report(report(Delivery::Accepted(204)));
        assert_eq!(b.snapshot().failing_in_a_row, 0);
    }

    #[test]
    fn capture_never_waits_for_a_copy_in_progress() {
        let b = Board::new(Settings::default(), 0);
        let stats = WindowStats { frames: 7, ..WindowStats::default() };
        {
            let _held = b.lock();
            // Would deadlock if it waited.
            b.try_publish_window(10, 2, &stats);
        }
        assert_eq!(b.snapshot().window.stats.frames, 0, "skipped while held");
        b.try_publish_window(10, 2, &stats);
        let w = b.snapshot().window;
        assert_eq!((w.start, w.clients, w.stats.frames), (10, 2, 7));
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
        b.snapshot().write(1030, &mut w);
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
