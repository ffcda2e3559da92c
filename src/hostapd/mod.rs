//! `associated`: which clients are in a station list of this AP's hostapd.
//!
//! hostapd keeps one UNIX datagram control socket per BSS in its
//! `ctrl_interface` directory (`/var/run/hostapd/phy0-ap0` on OpenWrt), plus
//! possibly a `global` one that has no station list. Layers, bottom up:
//! `socket` (our own bound client socket, one request and one reply datagram,
//! blocking with a timeout or non-blocking), `command` (`PING`, `STA-FIRST`,
//! `STA-NEXT` and what the replies mean), `stations` (the lenient station
//! parser and the bounded walk, also as a state machine), `lookup` (every
//! BSS's walk at once within one deadline). `associated_stations` reads every
//! BSS once per report.
//!
//! Nothing here panics or blocks without a bound on a bad hostapd: the whole
//! lookup ends by the caller's deadline, so that ten hung BSSes cost a report
//! no more time than one. Sockets that had not answered by then share one
//! warning; every other failure becomes one warning that names the socket
//! and the cause.
//!
//! A walk that stops early still contributes the stations hostapd described
//! before it stopped: each reply is hostapd's own word that the station was
//! associated a moment ago, which an error on a later request does not
//! retract. Stations the walk did not reach are reported as not associated,
//! and the warning says the list is incomplete.

pub mod command;
pub mod lookup;
pub mod socket;
pub mod stations;

#[cfg(test)]
mod fake;

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::wire::mac::MacAddr;
use lookup::BssOutcome;
use stations::{WalkError, WalkLimits};

pub const DEFAULT_HOSTAPD_DIR: &str = "/var/run/hostapd";
pub const DEFAULT_CLIENT_DIR: &str = "/var/run/presenced";

/// hostapd's global control socket, which manages interfaces, not stations.
const GLOBAL_SOCKET: &str = "global";

/// How long one report's lookup may take, all BSSes together.
pub const LOOKUP_BUDGET: Duration = Duration::from_secs(1);

/// Sockets named in the warning about those that did not answer; the rest
/// are counted, so that a thousand of them make one readable line.
const MAX_NAMED: usize = 8;

const NEVER_ANSWERED_HINT: &str =
    "; hostapd hung, or it cannot write to our sockets: see README, troubleshooting";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostapdConfig {
    /// hostapd's `ctrl_interface` directory, every socket in it is read.
    pub hostapd_dir: PathBuf,
    /// Where our own client sockets are bound; hostapd must be able to
    /// write to them.
    pub client_dir: PathBuf,
    pub max_stations_per_bss: usize,
    /// Bounds a walk only when the caller's deadline is further away.
    pub max_walk_time_per_bss: Duration,
    /// Our sockets open at once; further BSSes are asked as walks end.
    pub max_open_sockets: usize,
}

impl Default for HostapdConfig {
    fn default() -> Self {
        HostapdConfig {
            hostapd_dir: PathBuf::from(DEFAULT_HOSTAPD_DIR),
            client_dir: PathBuf::from(DEFAULT_CLIENT_DIR),
            // Above hostapd's default max_num_sta (2007).
            max_stations_per_bss: 2048,
            max_walk_time_per_bss: Duration::from_secs(5),
            max_open_sockets: lookup::DEFAULT_MAX_OPEN,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostapdConfigError {
    EmptyDir(&'static str),
    SameDirs(PathBuf),
    ClientDirTooLong { dir: PathBuf, max: usize },
    ZeroMaxStations,
    ZeroWalkTime,
    ZeroOpenSockets,
}

impl fmt::Display for HostapdConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostapdConfigError::EmptyDir(option) => write!(f, "{option}: must not be empty"),
            HostapdConfigError::SameDirs(dir) => write!(
                f,
                "--run-dir: must differ from --hostapd-dir ({}), or our own sockets would be read as BSSes",
                dir.display()
            ),
            HostapdConfigError::ClientDirTooLong { dir, max } => write!(
                f,
                "--run-dir: {} is too long for a UNIX socket path (at most {max} bytes)",
                dir.display()
            ),
            HostapdConfigError::ZeroMaxStations => f.write_str("hostapd max_stations_per_bss: must be at least 1"),
            HostapdConfigError::ZeroWalkTime => f.write_str("hostapd max_walk_time_per_bss: must be more than zero"),
            HostapdConfigError::ZeroOpenSockets => f.write_str("hostapd max_open_sockets: must be at least 1"),
        }
    }
}

impl std::error::Error for HostapdConfigError {}

impl HostapdConfig {
    pub fn validate(&self) -> Result<(), HostapdConfigError> {
        if self.hostapd_dir.as_os_str().is_empty() {
            return Err(HostapdConfigError::EmptyDir("--hostapd-dir"));
        }
        if self.client_dir.as_os_str().is_empty() {
            return Err(HostapdConfigError::EmptyDir("--run-dir"));
        }
        if self.client_dir == self.hostapd_dir {
            return Err(HostapdConfigError::SameDirs(self.hostapd_dir.clone()));
        }
        // The directory, a '/', then our longest socket name.
        let max = socket::MAX_SOCKET_PATH - 1 - socket::MAX_CLIENT_NAME;
        if self.client_dir.as_os_str().len() > max {
            return Err(HostapdConfigError::ClientDirTooLong {
                dir: self.client_dir.clone(),
                max,
            });
        }
        if self.max_stations_per_bss == 0 {
            return Err(HostapdConfigError::ZeroMaxStations);
        }
        if self.max_walk_time_per_bss.is_zero() {
            return Err(HostapdConfigError::ZeroWalkTime);
        }
        if self.max_open_sockets == 0 {
            return Err(HostapdConfigError::ZeroOpenSockets);
        }
        Ok(())
    }

    fn limits(&self) -> WalkLimits {
        WalkLimits {
            max_stations: self.max_stations_per_bss,
            max_time: self.max_walk_time_per_bss,
        }
    }
}

/// One report's worth of hostapd's knowledge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Associated {
    /// Associated stations of all BSSes; sorted so that logs and tests are
    /// stable.
    pub stations: BTreeSet<MacAddr>,
    /// One line per socket (or directory) that could not be read completely.
    pub warnings: Vec<String>,
}

impl Associated {
    pub fn contains(&self, mac: &MacAddr) -> bool {
        self.stations.contains(mac)
    }
}

/// The BSS control sockets in `dir`, sorted by name. Entries that vanish
/// while we look are skipped: hostapd removes a BSS's socket when it stops.
pub fn control_sockets(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut sockets = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == GLOBAL_SOCKET {
            continue;
        }
        let path = entry.path();
        match fs::metadata(&path) {
            Ok(meta) if meta.file_type().is_socket() => sockets.push(path),
            _ => {}
        }
    }
    sockets.sort();
    Ok(sockets)
}

fn describe_dir_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => {
            "does not exist (hostapd not running, or not with this ctrl_interface)".into()
        }
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// One BSS socket whose walk the deadline cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnfinishedWalk<'a> {
    pub path: &'a Path,
    /// `None`: never asked, for lack of time; else the stations hostapd
    /// had described before it went quiet.
    pub stations_read: Option<usize>,
}

/// The wait shown in the warning: the caller's budget rounded to 100 ms,
/// so that the text stays the same from one report to the next and the
/// repeated warning can be recognised.
fn shown_budget_ms(budget: Duration) -> u128 {
    (budget.as_millis() + 50) / 100 * 100
}

/// Pure: the one warning about the sockets that had not answered when the
/// deadline came, `None` if all did. `associated_read` counts the stations
/// the cut-off walks did confirm, which are reported as associated.
pub fn cut_off_warning(
    budget: Duration,
    total: usize,
    cut: &[UnfinishedWalk],
    associated_read: usize,
) -> Option<String> {
    if cut.is_empty() {
        return None;
    }
    let mut line = format!(
        "hostapd: no answer within {} ms from {} of {total} BSS sockets",
        shown_budget_ms(budget),
        cut.len()
    );
    let not_asked = cut.iter().filter(|c| c.stations_read.is_none()).count();
    if not_asked > 0 {
        line.push_str(&format!(" ({not_asked} not asked for lack of time)"));
    }
    line.push_str(": ");
    let named: Vec<String> = cut
        .iter()
        .take(MAX_NAMED)
        .map(|c| match c.stations_read {
            None => format!("{} (not asked)", c.path.display()),
            Some(0) => c.path.display().to_string(),
            Some(n) => format!("{} (after {n} station(s))", c.path.display()),
        })
        .collect();
    line.push_str(&named.join(", "));
    if cut.len() > MAX_NAMED {
        line.push_str(&format!(" (and {} more)", cut.len() - MAX_NAMED));
    }
    match associated_read {
        0 => line.push_str("; their stations are reported as not associated"),
        n => line.push_str(&format!(
            "; the {n} associated station(s) read from them before that count, any others are reported as not associated"
        )),
    }
    // A socket that took no request at all is the troubleshooting entry's
    // case; one that went quiet mid-walk did write to us.
    if cut.iter().any(|c| c.stations_read == Some(0)) {
        line.push_str(NEVER_ANSWERED_HINT);
    }
    Some(line)
}

/// Reads every BSS's station list once, all at once, and returns by
/// `deadline` (plus the moment it takes to close the sockets) with whatever
/// hostapd said by then. Never fails: whatever could not be read is a
/// warning, and its stations are simply not in the set.
pub fn associated_stations(cfg: &HostapdConfig, deadline: Instant) -> Associated {
    let started = Instant::now();
    let mut out = Associated::default();
    let dir = &cfg.hostapd_dir;
    let sockets = match control_sockets(dir) {
        Ok(s) => s,
        Err(e) => {
            out.warnings.push(format!(
                "hostapd: cannot list {}: {}",
                dir.display(),
                describe_dir_error(&e)
            ));
            return out;
        }
    };
    if sockets.is_empty() {
        out.warnings.push(format!(
            "hostapd: no control sockets in {} (hostapd not running, or not with this ctrl_interface)",
            dir.display()
        ));
        return out;
    }
    // Every socket would fail the same way: say it once.
    if let Err(e) = socket::ensure_client_dir(&cfg.client_dir) {
        out.warnings.push(format!("hostapd: {e}"));
        return out;
    }
    let outcomes = lookup::ask_all(
        &sockets,
        &cfg.client_dir,
        cfg.limits(),
        deadline,
        cfg.max_open_sockets,
    );
    let mut cut = Vec::new();
    let mut associated_cut = 0;
    for (path, outcome) in sockets.iter().zip(outcomes) {
        let bss = match outcome {
            BssOutcome::Walked(bss) => bss,
            BssOutcome::CannotOpen(e) => {
                out.warnings
                    .push(format!("hostapd {}: {e}", path.display()));
                continue;
            }
            BssOutcome::NotAsked => {
                cut.push(UnfinishedWalk {
                    path,
                    stations_read: None,
                });
                continue;
            }
        };
        let confirmed = bss.associated().count();
        out.stations.extend(bss.associated());
        match &bss.outcome {
            Ok(()) => {}
            Err(WalkError::Unanswered(_)) => {
                associated_cut += confirmed;
                cut.push(UnfinishedWalk {
                    path,
                    stations_read: Some(bss.stations.len()),
                });
            }
            Err(e) => {
                let consequence = match confirmed {
                    0 => "its stations are reported as not associated".to_string(),
                    n => format!("the {n} associated station(s) read before that count, any others are reported as not associated"),
                };
                out.warnings.push(format!(
                    "hostapd {}: {e}; list incomplete: {consequence}",
                    path.display()
                ));
            }
        }
    }
    let budget = deadline.saturating_duration_since(started);
    out.warnings
        .extend(cut_off_warning(budget, sockets.len(), &cut, associated_cut));
    out
}

#[cfg(test)]
mod tests {
    use super::fake::{Act, FakeHostapd, SilentSocket, TempDir};
    use super::socket::{CtrlSocket, SocketError};
    use super::stations::walk;
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixDatagram;

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    fn config(hostapd_dir: &Path, client_dir: &Path) -> HostapdConfig {
        HostapdConfig {
            hostapd_dir: hostapd_dir.to_path_buf(),
            client_dir: client_dir.to_path_buf(),
            ..HostapdConfig::default()
        }
    }

    /// For hostapds that answer: far more time than they need, so that a
    /// loaded machine cannot make the test fail; the lookup returns as soon
    /// as every walk has ended anyway.
    fn lookup(cfg: &HostapdConfig) -> Associated {
        associated_stations(cfg, Instant::now() + Duration::from_secs(20))
    }

    /// Short, so that the tests of silent sockets are quick; this is no
    /// timing assertion.
    const SHORT: Duration = Duration::from_millis(300);

    /// How long a test's own request waits for a fake that does answer:
    /// only a failing test waits it out, so it has room for a loaded qemu.
    const REPLY_WAIT: Duration = Duration::from_secs(20);

    fn lookup_within(cfg: &HostapdConfig, budget: Duration) -> Associated {
        associated_stations(cfg, Instant::now() + budget)
    }

    fn assert_client_dir_empty(client: &Path) {
        let left: Vec<_> = fs::read_dir(client)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left in {}: {left:?}", client.display());
    }

    /// A hostapd BSS directory and a client directory side by side.
    fn dirs(tag: &str) -> (TempDir, PathBuf, PathBuf) {
        let tmp = TempDir::new(tag);
        let ctrl = tmp.path().join("hostapd");
        fs::create_dir(&ctrl).unwrap();
        let client = tmp.path().join("client");
        (tmp, ctrl, client)
    }

    const A: &str = "02:00:00:00:00:0a";
    const B: &str = "02:00:00:00:00:0b";
    const C: &str = "02:00:00:00:00:0c";

    #[test]
    fn reads_two_stations_and_reports_only_the_associated_one() {
        let (_tmp, ctrl, client) = dirs("walk");
        let bss = FakeHostapd::serving(
            ctrl.join("wlan0"),
            &[(A, "[AUTH][ASSOC][AUTHORIZED]"), (B, "[AUTH]")],
        );
        let got = lookup(&config(&ctrl, &client));
        assert_eq!(got.warnings, Vec::<String>::new());
        assert_eq!(got.stations, BTreeSet::from([mac(A)]));
        assert_eq!(
            bss.stop(),
            [
                "STA-FIRST",
                &format!("STA-NEXT {A}"),
                &format!("STA-NEXT {B}")
            ]
        );
        // Our client socket is gone once the walk is over.
        assert_eq!(fs::read_dir(&client).unwrap().count(), 0);
    }

    #[test]
    fn empty_station_list_is_no_warning() {
        let (_tmp, ctrl, client) = dirs("empty");
        let _bss = FakeHostapd::serving(ctrl.join("wlan0"), &[]);
        assert_eq!(lookup(&config(&ctrl, &client)), Associated::default());
    }

    #[test]
    fn silent_hostapd_is_named_in_the_deadline_warning() {
        let (_tmp, ctrl, client) = dirs("silent");
        let bss = FakeHostapd::start(ctrl.join("wlan0"), |_| Act::Silent);
        let path = bss.path.clone();
        let got = lookup_within(&config(&ctrl, &client), SHORT);
        assert!(got.stations.is_empty());
        // Whether the request went out before the deadline is the machine's
        // speed (a loaded qemu can spend the budget before it); either way
        // the socket is named, as asked and silent or as not asked.
        let expected = match bss.stop().as_slice() {
            [] => format!(
                "hostapd: no answer within 300 ms from 1 of 1 BSS sockets (1 not asked for lack of time): {} (not asked); their stations are reported as not associated",
                path.display()
            ),
            [only] if only == "STA-FIRST" => format!(
                "hostapd: no answer within 300 ms from 1 of 1 BSS sockets: {}; their stations are reported as not associated; hostapd hung, or it cannot write to our sockets: see README, troubleshooting",
                path.display()
            ),
            other => panic!("the silent BSS was asked {other:?}, not one STA-FIRST"),
        };
        assert_eq!(got.warnings, [expected]);
        assert_client_dir_empty(&client);
    }

    /// The test holds `needed` descriptors at once: raises the soft limit,
    /// and as root the hard one, when they are lower.
    fn ensure_descriptors(needed: libc::rlim_t) {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit, which `limit` is.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        if limit.rlim_cur >= needed {
            return;
        }
        let raised = libc::rlimit {
            rlim_cur: needed,
            rlim_max: limit.rlim_max.max(needed),
        };
        // SAFETY: setrlimit reads one rlimit, which `raised` is.
        let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
        assert_eq!(
            r,
            0,
            "this test holds {needed} sockets and RLIMIT_NOFILE is {} (hard {}), which it cannot raise: {}; run it as root",
            limit.rlim_cur,
            limit.rlim_max,
            io::Error::last_os_error()
        );
    }

    /// A lookup that asked one socket after the other made ten
    /// silent ones took ten request timeouts (10 s) per report.
    #[test]
    fn ten_silent_sockets_share_one_deadline_and_the_answering_ones_count() {
        let (_tmp, ctrl, client) = dirs("ten");
        let silent: Vec<SilentSocket> = (0..10)
            .map(|i| SilentSocket::bind(ctrl.join(format!("s{i:02}"))))
            .collect();
        let first = FakeHostapd::serving(ctrl.join("a0"), &[(A, "[AUTH][ASSOC]"), (B, "[AUTH]")]);
        let second = FakeHostapd::serving(ctrl.join("a1"), &[(C, "[AUTHORIZED]")]);
        let started = Instant::now();
        // Three times the production budget: the two answering hostapds must
        // finish within it on a loaded machine under qemu too.
        let got = lookup_within(&config(&ctrl, &client), Duration::from_secs(3));
        let took = started.elapsed();
        // Liveness, not speed: asking one after the other takes 30 s here.
        assert!(took < Duration::from_secs(15), "took {took:?}");
        assert_eq!(got.stations, BTreeSet::from([mac(A), mac(C)]));
        let named: Vec<String> = silent[..8]
            .iter()
            .map(|s| s.path.display().to_string())
            .collect();
        assert_eq!(
            got.warnings,
            [format!(
                "hostapd: no answer within 3000 ms from 10 of 12 BSS sockets: {} (and 2 more); their stations are reported as not associated; hostapd hung, or it cannot write to our sockets: see README, troubleshooting",
                named.join(", ")
            )]
        );
        assert_eq!(first.stop().len(), 3);
        assert_eq!(second.stop().len(), 2);
        assert_client_dir_empty(&client);
    }

    #[test]
    fn a_deadline_already_passed_returns_at_once_naming_every_socket() {
        let (_tmp, ctrl, client) = dirs("passed");
        let a = FakeHostapd::serving(ctrl.join("wlan0"), &[(A, "[ASSOC]")]);
        let b = FakeHostapd::serving(ctrl.join("wlan1"), &[(B, "[ASSOC]")]);
        let started = Instant::now();
        let got = associated_stations(&config(&ctrl, &client), started);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(got.stations.is_empty());
        assert_eq!(
            got.warnings,
            [format!(
                "hostapd: no answer within 0 ms from 2 of 2 BSS sockets (2 not asked for lack of time): \
                 {} (not asked), {} (not asked); their stations are reported as not associated",
                a.path.display(),
                b.path.display()
            )]
        );
        assert!(a.stop().is_empty());
        assert!(b.stop().is_empty());
        assert_client_dir_empty(&client);
    }

    /// With 1000 silent sockets a lookup that asked them one after the other
    /// took 1000 s per report. Silent sockets keep their slots until the
    /// deadline, so at most `DEFAULT_MAX_OPEN` are asked and the rest are
    /// not: at most that many of our sockets were ever open.
    #[test]
    fn a_thousand_silent_sockets_end_by_the_deadline_with_a_bounded_warning() {
        ensure_descriptors(3000);
        let (_tmp, ctrl, client) = dirs("thousand");
        let silent: Vec<SilentSocket> = (0..1000)
            .map(|i| SilentSocket::bind(ctrl.join(format!("s{i:04}"))))
            .collect();
        let started = Instant::now();
        let got = lookup_within(&config(&ctrl, &client), LOOKUP_BUDGET);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert!(got.stations.is_empty());
        assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
        let w = &got.warnings[0];
        // How many sockets are asked within the budget is the machine's
        // speed (64 here, 18 under qemu on a loaded machine); what holds
        // whatever it is: a silent socket keeps its slot to the deadline, so
        // no more than max_open_sockets are asked, and each of the others
        // is counted as not asked.
        let was_asked: Vec<bool> = silent.iter().map(|s| s.was_asked()).collect();
        let asked = was_asked.iter().filter(|&&a| a).count();
        assert!(asked <= lookup::DEFAULT_MAX_OPEN, "{asked} asked at once");
        let head = "hostapd: no answer within 1000 ms from 1000 of 1000 BSS sockets";
        let counted = match 1000 - asked {
            0 => String::new(),
            n => format!(" ({n} not asked for lack of time)"),
        };
        let first = match was_asked[0] {
            true => format!("{}, ", silent[0].path.display()),
            false => format!("{} (not asked), ", silent[0].path.display()),
        };
        assert!(w.starts_with(&format!("{head}{counted}: {first}")), "{asked} asked: {w}");
        let end = " (and 992 more); their stations are reported as not associated";
        match asked {
            0 => assert!(w.ends_with(end), "{w}"),
            _ => assert!(w.ends_with(&format!("{end}{NEVER_ANSWERED_HINT}")), "{w}"),
        }
        assert!(w.len() < 1500, "{} bytes: {w}", w.len());
        assert_client_dir_empty(&client);
    }

    #[test]
    fn a_bss_going_quiet_mid_walk_keeps_what_it_said_and_the_others_are_read() {
        let (_tmp, ctrl, client) = dirs("quiet");
        let quiet = FakeHostapd::start(ctrl.join("wlan0"), |cmd| match cmd {
            "STA-FIRST" => Act::Reply(format!("{A}\nflags=[AUTH][ASSOC]\n").into_bytes()),
            _ => Act::Silent,
        });
        let other = FakeHostapd::serving(ctrl.join("wlan1"), &[(B, "[ASSOC]")]);
        let got = lookup_within(&config(&ctrl, &client), Duration::from_secs(2));
        assert_eq!(got.stations, BTreeSet::from([mac(A), mac(B)]));
        assert_eq!(
            got.warnings,
            [format!(
                "hostapd: no answer within 2000 ms from 1 of 2 BSS sockets: {} (after 1 station(s)); \
                 the 1 associated station(s) read from them before that count, any others are reported as not associated",
                quiet.path.display()
            )]
        );
        assert_eq!(
            quiet.stop(),
            ["STA-FIRST".to_string(), format!("STA-NEXT {A}")]
        );
        assert_eq!(other.stop().len(), 2);
        assert_client_dir_empty(&client);
    }

    /// Replies of two BSSes arrive interleaved; each walk must follow its
    /// own list. A reply given to the wrong walk would make it ask its
    /// hostapd about a station it never listed, which the fake answers
    /// with FAIL, and the commands each fake received would show it.
    #[test]
    fn interleaved_replies_are_attributed_to_their_own_bss() {
        let (_tmp, ctrl, client) = dirs("interleave");
        let slow_list = [
            ("02:00:00:00:01:01", "[ASSOC]"),
            ("02:00:00:00:01:02", "[AUTH]"),
            ("02:00:00:00:01:03", "[AUTHORIZED]"),
        ];
        let quick_list = [
            ("02:00:00:00:02:01", "[AUTH]"),
            ("02:00:00:00:02:02", "[ASSOC]"),
            ("02:00:00:00:02:03", "[ASSOC]"),
            ("02:00:00:00:02:04", "[AUTH]"),
        ];
        let slow =
            FakeHostapd::serving_after(ctrl.join("wlan0"), &slow_list, Duration::from_millis(40));
        let quick =
            FakeHostapd::serving_after(ctrl.join("wlan1"), &quick_list, Duration::from_millis(25));
        let got = lookup(&config(&ctrl, &client));
        assert_eq!(got.warnings, Vec::<String>::new());
        assert_eq!(
            got.stations,
            BTreeSet::from([
                mac("02:00:00:00:01:01"),
                mac("02:00:00:00:01:03"),
                mac("02:00:00:00:02:02"),
                mac("02:00:00:00:02:03"),
            ])
        );
        let walk_of = |list: &[(&str, &str)]| -> Vec<String> {
            std::iter::once("STA-FIRST".to_string())
                .chain(list.iter().map(|(m, _)| format!("STA-NEXT {m}")))
                .collect()
        };
        assert_eq!(slow.stop(), walk_of(&slow_list));
        assert_eq!(quick.stop(), walk_of(&quick_list));
        assert_client_dir_empty(&client);
    }

    /// With one socket open at a time, a silent first BSS holds the only
    /// slot until the deadline and the second is never asked.
    #[test]
    fn sockets_beyond_the_open_limit_wait_for_a_free_slot() {
        let (_tmp, ctrl, client) = dirs("slots");
        let answering: Vec<FakeHostapd> = [A, B, C]
            .iter()
            .enumerate()
            .map(|(i, m)| FakeHostapd::serving(ctrl.join(format!("wlan{i}")), &[(m, "[ASSOC]")]))
            .collect();
        let one_at_a_time = HostapdConfig {
            max_open_sockets: 1,
            ..config(&ctrl, &client)
        };
        let got = lookup(&one_at_a_time);
        assert_eq!(got.warnings, Vec::<String>::new());
        assert_eq!(got.stations, BTreeSet::from([mac(A), mac(B), mac(C)]));
        drop(answering);

        let silent = SilentSocket::bind(ctrl.join("a-silent"));
        let after = FakeHostapd::serving(ctrl.join("b-answering"), &[(A, "[ASSOC]")]);
        let got = lookup_within(&one_at_a_time, SHORT);
        assert!(got.stations.is_empty());
        // The silent one is asked unless the budget was spent before its
        // request went out (the machine's speed); the second never is.
        let expected = if silent.was_asked() {
            format!(
                "hostapd: no answer within 300 ms from 2 of 2 BSS sockets (1 not asked for lack of time): \
                 {}, {} (not asked); their stations are reported as not associated; hostapd hung, or it cannot write to our sockets: see README, troubleshooting",
                silent.path.display(),
                after.path.display()
            )
        } else {
            format!(
                "hostapd: no answer within 300 ms from 2 of 2 BSS sockets (2 not asked for lack of time): \
                 {} (not asked), {} (not asked); their stations are reported as not associated",
                silent.path.display(),
                after.path.display()
            )
        };
        assert_eq!(got.warnings, [expected]);
        assert!(after.stop().is_empty());
        assert_client_dir_empty(&client);
    }

    #[test]
    fn the_deadline_warning_is_bounded_and_counts_what_it_does_not_name() {
        let paths: Vec<PathBuf> = (0..12).map(|i| PathBuf::from(format!("/h/s{i}"))).collect();
        let cut: Vec<UnfinishedWalk> = paths
            .iter()
            .enumerate()
            .map(|(i, path)| UnfinishedWalk {
                path,
                stations_read: match i {
                    1 => Some(3),
                    i if i >= 10 => None,
                    _ => Some(0),
                },
            })
            .collect();
        assert_eq!(
            cut_off_warning(Duration::from_micros(999_990), 20, &cut, 2).unwrap(),
            "hostapd: no answer within 1000 ms from 12 of 20 BSS sockets (2 not asked for lack of time): \
             /h/s0, /h/s1 (after 3 station(s)), /h/s2, /h/s3, /h/s4, /h/s5, /h/s6, /h/s7 (and 4 more); \
             the 2 associated station(s) read from them before that count, any others are reported as not associated; hostapd hung, or it cannot write to our sockets: see README, troubleshooting"
        );
        assert_eq!(cut_off_warning(LOOKUP_BUDGET, 3, &[], 0), None);
        // The same budget less a few milliseconds reads the same.
        let one = [UnfinishedWalk {
            path: Path::new("/h/x"),
            stations_read: Some(0),
        }];
        let w = cut_off_warning(Duration::from_millis(1000), 1, &one, 0);
        assert_eq!(cut_off_warning(Duration::from_millis(996), 1, &one, 0), w);
        assert_eq!(cut_off_warning(Duration::from_millis(1049), 1, &one, 0), w);
        assert!(cut_off_warning(Duration::from_millis(200), 1, &one, 0)
            .unwrap()
            .contains("within 200 ms"));
    }

    #[test]
    fn fail_mid_walk_keeps_the_confirmed_station_and_warns() {
        let (_tmp, ctrl, client) = dirs("fail");
        let _bss = FakeHostapd::start(ctrl.join("wlan0"), |cmd| match cmd {
            "STA-FIRST" => Act::Reply(format!("{A}\nflags=[AUTH][ASSOC]\n").into_bytes()),
            _ => Act::Reply(b"FAIL\n".to_vec()),
        });
        let got = lookup(&config(&ctrl, &client));
        assert_eq!(got.stations, BTreeSet::from([mac(A)]));
        assert_eq!(got.warnings.len(), 1);
        let w = &got.warnings[0];
        assert!(
            w.contains(&format!("STA-NEXT {A}: hostapd answered FAIL")),
            "{w}"
        );
        assert!(w.contains("list incomplete"), "{w}");
    }

    #[test]
    fn socket_vanishing_mid_walk_is_a_warning_not_a_hang() {
        let (_tmp, ctrl, client) = dirs("vanish");
        let path = ctrl.join("wlan0");
        let _bss = FakeHostapd::start(path.clone(), |cmd| match cmd {
            "STA-FIRST" => Act::Reply(format!("{A}\nflags=[AUTHORIZED]\n").into_bytes()),
            _ => Act::Vanish,
        });
        let started = Instant::now();
        // The first answer must come within the budget, which a loaded qemu
        // can take longer than SHORT over; the walk then waits it out.
        let got = lookup_within(&config(&ctrl, &client), Duration::from_secs(2));
        // Liveness only: a hang would take forever.
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(got.stations, BTreeSet::from([mac(A)]));
        assert_eq!(
            got.warnings,
            [format!(
                "hostapd: no answer within 2000 ms from 1 of 1 BSS sockets: {} (after 1 station(s)); \
                 the 1 associated station(s) read from them before that count, any others are reported as not associated",
                path.display()
            )]
        );
    }

    /// Stops the fake hostapd right after its first answer, so that the
    /// next request meets a closed socket whatever the scheduling.
    struct VanishAfterFirst {
        ctrl: CtrlSocket,
        bss: Option<FakeHostapd>,
    }

    impl command::Transport for VanishAfterFirst {
        fn request(&mut self, command: &command::Command) -> Result<Vec<u8>, SocketError> {
            let reply = self.ctrl.request(&command.to_string());
            if let Some(bss) = self.bss.take() {
                bss.stop();
            }
            reply
        }
    }

    #[test]
    fn socket_closed_between_requests_ends_the_walk_as_incomplete() {
        let (_tmp, ctrl, client) = dirs("closed");
        let bss = FakeHostapd::serving(ctrl.join("wlan0"), &[(A, "[ASSOC]"), (B, "[ASSOC]")]);
        let ctrl_socket = CtrlSocket::open(&bss.path, &client, REPLY_WAIT).unwrap();
        let mut t = VanishAfterFirst {
            ctrl: ctrl_socket,
            bss: Some(bss),
        };
        let w = walk(&mut t, &HostapdConfig::default().limits());
        assert_eq!(w.associated().collect::<Vec<_>>(), [mac(A)]);
        let e = w.outcome.unwrap_err().to_string();
        assert_eq!(e, format!("STA-NEXT {A}: cannot send: nobody is listening on it (hostapd stopped, or this is a stale socket)"));
    }

    #[test]
    fn garbage_reply_is_a_warning() {
        let (_tmp, ctrl, client) = dirs("garbage");
        let _bss = FakeHostapd::start(ctrl.join("wlan0"), |_| {
            Act::Reply(b"\x00\xffhello\n".to_vec())
        });
        let got = lookup(&config(&ctrl, &client));
        assert!(got.stations.is_empty());
        assert_eq!(got.warnings.len(), 1);
        assert!(
            got.warnings[0].contains("STA-FIRST: reply does not start with a station MAC"),
            "{}",
            got.warnings[0]
        );
    }

    #[test]
    fn over_long_reply_is_a_warning() {
        let (_tmp, ctrl, client) = dirs("long");
        let _bss = FakeHostapd::start(ctrl.join("wlan0"), |_| {
            Act::Reply(vec![b'x'; socket::MAX_REPLY + 1])
        });
        let got = lookup(&config(&ctrl, &client));
        assert_eq!(got.warnings.len(), 1);
        assert!(
            got.warnings[0].contains("reply longer than 8192 bytes"),
            "{}",
            got.warnings[0]
        );
    }

    #[test]
    fn a_reply_of_exactly_8192_bytes_is_read() {
        let (_tmp, ctrl, client) = dirs("max");
        let mut reply = format!("{A}\nflags=[ASSOC]\n").into_bytes();
        reply.resize(socket::MAX_REPLY - 1, b'x');
        reply.push(b'\n');
        let _bss = FakeHostapd::start(ctrl.join("wlan0"), move |cmd| match cmd {
            "STA-FIRST" => Act::Reply(reply.clone()),
            _ => Act::Reply(Vec::new()),
        });
        let got = lookup(&config(&ctrl, &client));
        assert_eq!(
            got,
            Associated {
                stations: BTreeSet::from([mac(A)]),
                warnings: vec![]
            }
        );
    }

    #[test]
    fn stale_client_socket_at_our_exact_name_is_replaced() {
        let (_tmp, ctrl, client) = dirs("stale");
        socket::ensure_client_dir(&client).unwrap();
        let bss = FakeHostapd::serving(ctrl.join("wlan0"), &[(A, "[ASSOC]")]);
        let ours = client.join(socket::client_socket_name(std::process::id(), 7));
        // A process killed with SIGKILL leaves its bound name behind; std's
        // UnixDatagram does not unlink on drop either, so this is the same.
        drop(UnixDatagram::bind(&ours).unwrap());
        assert!(
            matches!(UnixDatagram::bind(&ours), Err(e) if e.kind() == io::ErrorKind::AddrInUse)
        );

        let mut ctrl_socket =
            CtrlSocket::open_at(&bss.path, &ours, REPLY_WAIT).unwrap();
        let w = walk(&mut ctrl_socket, &HostapdConfig::default().limits());
        assert!(w.is_complete(), "{:?}", w.outcome);
        assert_eq!(w.associated().collect::<Vec<_>>(), [mac(A)]);
        drop(ctrl_socket);
        assert!(!ours.exists(), "our socket name was not unlinked");
    }

    #[test]
    fn reads_every_bss_and_skips_global_and_non_sockets() {
        let (_tmp, ctrl, client) = dirs("multi");
        let wlan0 =
            FakeHostapd::serving(ctrl.join("wlan0"), &[(A, "[AUTH][ASSOC]"), (B, "[AUTH]")]);
        let phy1 = FakeHostapd::serving(
            ctrl.join("phy1-ap0"),
            &[(C, "[AUTH][ASSOC][AUTHORIZED]"), (A, "[ASSOC]")],
        );
        let global = FakeHostapd::start(ctrl.join("global"), |_| Act::Reply(b"garbage\n".to_vec()));
        fs::write(ctrl.join("README"), "not a socket\n").unwrap();
        fs::create_dir(ctrl.join("subdir")).unwrap();

        let got = lookup(&config(&ctrl, &client));
        assert_eq!(got.warnings, Vec::<String>::new());
        assert_eq!(got.stations, BTreeSet::from([mac(A), mac(C)]));
        assert!(global.stop().is_empty(), "the global socket was asked");
        assert_eq!(wlan0.stop()[0], "STA-FIRST");
        assert_eq!(phy1.stop()[0], "STA-FIRST");
    }

    #[test]
    fn one_broken_bss_does_not_hide_the_others() {
        let (_tmp, ctrl, client) = dirs("mixed");
        let _ok = FakeHostapd::serving(ctrl.join("wlan0"), &[(A, "[ASSOC]")]);
        let _bad = FakeHostapd::start(ctrl.join("wlan1"), |_| {
            Act::Reply(b"UNKNOWN COMMAND\n".to_vec())
        });
        // A socket file whose hostapd is gone: connect is refused.
        drop(UnixDatagram::bind(ctrl.join("wlan2")).unwrap());
        let got = lookup(&config(&ctrl, &client));
        assert_eq!(got.stations, BTreeSet::from([mac(A)]));
        assert_eq!(got.warnings.len(), 2, "{:?}", got.warnings);
        assert!(
            got.warnings[0].contains("wlan1: STA-FIRST: answered UNKNOWN COMMAND"),
            "{}",
            got.warnings[0]
        );
        assert!(
            got.warnings[1].contains("wlan2: cannot connect: nobody is listening"),
            "{}",
            got.warnings[1]
        );
    }

    #[test]
    fn missing_hostapd_dir_is_one_warning() {
        let (_tmp, ctrl, client) = dirs("nodir");
        let missing = ctrl.join("not-there");
        let got = lookup(&config(&missing, &client));
        assert!(got.stations.is_empty());
        assert_eq!(got.warnings.len(), 1);
        assert!(
            got.warnings[0].contains(&missing.display().to_string()),
            "{}",
            got.warnings[0]
        );
        assert!(
            got.warnings[0].contains("does not exist"),
            "{}",
            got.warnings[0]
        );
    }

    #[test]
    fn hostapd_dir_without_sockets_is_one_warning() {
        let (_tmp, ctrl, client) = dirs("nosock");
        let got = lookup(&config(&ctrl, &client));
        assert_eq!(got.warnings.len(), 1);
        assert!(
            got.warnings[0].contains("no control sockets in"),
            "{}",
            got.warnings[0]
        );
    }

    #[test]
    fn unusable_client_dir_is_said_once_for_all_sockets() {
        let (tmp, ctrl, _client) = dirs("badclient");
        let _a = FakeHostapd::serving(ctrl.join("wlan0"), &[(A, "[ASSOC]")]);
        let _b = FakeHostapd::serving(ctrl.join("wlan1"), &[(B, "[ASSOC]")]);
        let file = tmp.path().join("a-file");
        fs::write(&file, "").unwrap();
        let got = lookup(&config(&ctrl, &file));
        assert!(got.stations.is_empty());
        assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
        assert!(
            got.warnings[0].contains("is not a directory"),
            "{}",
            got.warnings[0]
        );
    }

    #[test]
    fn client_dir_is_created_group_accessible_and_socket_group_writable() {
        let (_tmp, ctrl, client) = dirs("mode");
        let bss = FakeHostapd::start(ctrl.join("wlan0"), |_| Act::Reply(Vec::new()));
        let sock = CtrlSocket::open(&bss.path, &client, Duration::from_millis(300)).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&client), 0o770);
        assert_eq!(mode(sock.local_path()), 0o770);
        let name = sock
            .local_path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            name.starts_with(&format!("presenced_{}-", std::process::id())),
            "{name}"
        );
    }

    #[test]
    fn ping_answers_pong() {
        let (_tmp, ctrl, client) = dirs("ping");
        let bss = FakeHostapd::serving(ctrl.join("wlan0"), &[]);
        let mut sock = CtrlSocket::open(&bss.path, &client, REPLY_WAIT).unwrap();
        command::ping(&mut sock).unwrap();
    }

    #[test]
    fn default_config_is_valid_and_bad_values_name_their_option() {
        assert_eq!(HostapdConfig::default().validate(), Ok(()));
        let same = HostapdConfig {
            client_dir: PathBuf::from(DEFAULT_HOSTAPD_DIR),
            ..HostapdConfig::default()
        };
        assert!(matches!(same.validate(), Err(HostapdConfigError::SameDirs(_))));
        let long = HostapdConfig {
            client_dir: PathBuf::from("/".repeat(80)),
            ..HostapdConfig::default()
        };
        assert_eq!(
            long.validate(),
            Err(HostapdConfigError::ClientDirTooLong {
                dir: long.client_dir.clone(),
                max: 78
            })
        );
        let zero = HostapdConfig {
            max_open_sockets: 0,
            ..HostapdConfig::default()
        };
        assert!(zero
            .validate()
            .unwrap_err()
            .to_string()
            .contains("max_open_sockets"));
        let empty = HostapdConfig {
            hostapd_dir: PathBuf::new(),
            ..HostapdConfig::default()
        };
        assert!(empty
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("--hostapd-dir"));
    }
}
