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
//! This module is below the ones that write to it and the one that answers
//! with it: `Config::status_settings` makes its `Settings`, and the answer's
//! encoding is `ubus::status_reply` (pure: the time is passed in).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};

use crate::window::table::WindowStats;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
