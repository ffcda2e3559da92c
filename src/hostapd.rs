//! `associated`: which clients are in a station list of this AP's hostapd.
//!
//! hostapd keeps one UNIX datagram control socket per BSS in its
//! `ctrl_interface` directory (`/var/run/hostapd/phy0-ap0` on OpenWrt), plus
//! possibly a `global` one that has no station list. Layers, bottom up:
//! `socket` (our own bound client socket, one request and one reply datagram
//! with a timeout), `command` (`PING`, `STA-FIRST`, `STA-NEXT` and what the
//! replies mean), `stations` (the lenient station parser and the bounded
//! walk). `associated_stations` reads every BSS once per report.
//!
//! Nothing here panics or blocks without a bound on a bad hostapd: each
//! failure becomes one warning that names the socket and the cause.
//!
//! A walk that stops early still contributes the stations hostapd described
//! before it stopped: each reply is hostapd's own word that the station was
//! associated a moment ago, which an error on a later request does not
//! retract. Stations the walk did not reach are reported as not associated,
//! and the warning says the list is incomplete.

pub mod command;
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
use std::time::Duration;

use crate::mac::MacAddr;
use socket::{CtrlSocket, SocketError};
use stations::{walk, WalkLimits};

pub const DEFAULT_HOSTAPD_DIR: &str = "/var/run/hostapd";
pub const DEFAULT_CLIENT_DIR: &str = "/var/run/presenced";

/// hostapd's global control socket, which manages interfaces, not stations.
const GLOBAL_SOCKET: &str = "global";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostapdConfig {
    /// hostapd's `ctrl_interface` directory, every socket in it is read.
    pub hostapd_dir: PathBuf,
    /// Where our own client sockets are bound; hostapd must be able to
    /// write to them.
    pub client_dir: PathBuf,
    /// For each request: how long hostapd may take to take it and answer.
    pub request_timeout: Duration,
    pub max_stations_per_bss: usize,
    pub max_walk_time_per_bss: Duration,
}

impl Default for HostapdConfig {
    fn default() -> Self {
        HostapdConfig {
            hostapd_dir: PathBuf::from(DEFAULT_HOSTAPD_DIR),
            client_dir: PathBuf::from(DEFAULT_CLIENT_DIR),
            request_timeout: Duration::from_secs(1),
            // Above hostapd's default max_num_sta (2007).
            max_stations_per_bss: 2048,
            max_walk_time_per_bss: Duration::from_secs(5),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    EmptyDir(&'static str),
    SameDirs(PathBuf),
    ClientDirTooLong { dir: PathBuf, max: usize },
    ZeroTimeout,
    ZeroMaxStations,
    ZeroWalkTime,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::EmptyDir(option) => write!(f, "{option}: must not be empty"),
            ConfigError::SameDirs(dir) => write!(
                f,
                "--run-dir: must differ from --hostapd-dir ({}), or our own sockets would be read as BSSes",
                dir.display()
            ),
            ConfigError::ClientDirTooLong { dir, max } => write!(
                f,
                "--run-dir: {} is too long for a UNIX socket path (at most {max} bytes)",
                dir.display()
            ),
            ConfigError::ZeroTimeout => f.write_str("hostapd request_timeout: must be more than zero"),
            ConfigError::ZeroMaxStations => f.write_str("hostapd max_stations_per_bss: must be at least 1"),
            ConfigError::ZeroWalkTime => f.write_str("hostapd max_walk_time_per_bss: must be more than zero"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl HostapdConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.hostapd_dir.as_os_str().is_empty() {
            return Err(ConfigError::EmptyDir("--hostapd-dir"));
        }
        if self.client_dir.as_os_str().is_empty() {
            return Err(ConfigError::EmptyDir("--run-dir"));
        }
        if self.client_dir == self.hostapd_dir {
            return Err(ConfigError::SameDirs(self.hostapd_dir.clone()));
        }
        // The directory, a '/', then our longest socket name.
        let max = socket::MAX_SOCKET_PATH - 1 - socket::MAX_CLIENT_NAME;
        if self.client_dir.as_os_str().len() > max {
            return Err(ConfigError::ClientDirTooLong {
                dir: self.client_dir.clone(),
                max,
            });
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        if self.max_stations_per_bss == 0 {
            return Err(ConfigError::ZeroMaxStations);
        }
        if self.max_walk_time_per_bss.is_zero() {
            return Err(ConfigError::ZeroWalkTime);
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

/// Reads every BSS's station list once. Never fails: whatever could not be
/// read is a warning, and its stations are simply not in the set.
pub fn associated_stations(cfg: &HostapdConfig) -> Associated {
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
    for path in sockets {
        let mut ctrl = match CtrlSocket::open(&path, &cfg.client_dir, cfg.request_timeout) {
            Ok(c) => c,
            Err(e @ SocketError::ClientDir { .. }) => {
                // Every other socket would fail the same way: say it once.
                out.warnings.push(format!("hostapd: {e}"));
                return out;
            }
            Err(e) => {
                out.warnings
                    .push(format!("hostapd {}: {e}", path.display()));
                continue;
            }
        };
        let bss = walk(&mut ctrl, &cfg.limits());
        let confirmed = bss.associated().count();
        out.stations.extend(bss.associated());
        if let Err(e) = &bss.outcome {
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
    out
}

#[cfg(test)]
mod tests {
    use super::fake::{Act, FakeHostapd, TempDir};
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
            // Short, so that the timeout tests are quick; this is no timing
            // assertion.
            request_timeout: Duration::from_millis(300),
            ..HostapdConfig::default()
        }
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
        let got = associated_stations(&config(&ctrl, &client));
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
        assert_eq!(
            associated_stations(&config(&ctrl, &client)),
            Associated::default()
        );
    }

    #[test]
    fn silent_hostapd_times_out_with_one_warning_naming_the_socket() {
        let (_tmp, ctrl, client) = dirs("silent");
        let _bss = FakeHostapd::start(ctrl.join("wlan0"), |_| Act::Silent);
        let got = associated_stations(&config(&ctrl, &client));
        assert!(got.stations.is_empty());
        assert_eq!(got.warnings.len(), 1);
        let w = &got.warnings[0];
        assert!(w.contains(&ctrl.join("wlan0").display().to_string()), "{w}");
        assert!(w.contains("STA-FIRST: no reply within 300 ms"), "{w}");
    }

    #[test]
    fn fail_mid_walk_keeps_the_confirmed_station_and_warns() {
        let (_tmp, ctrl, client) = dirs("fail");
        let _bss = FakeHostapd::start(ctrl.join("wlan0"), |cmd| match cmd {
            "STA-FIRST" => Act::Reply(format!("{A}\nflags=[AUTH][ASSOC]\n").into_bytes()),
            _ => Act::Reply(b"FAIL\n".to_vec()),
        });
        let got = associated_stations(&config(&ctrl, &client));
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
        let _bss = FakeHostapd::start(ctrl.join("wlan0"), |cmd| match cmd {
            "STA-FIRST" => Act::Reply(format!("{A}\nflags=[AUTHORIZED]\n").into_bytes()),
            _ => Act::Vanish,
        });
        let got = associated_stations(&config(&ctrl, &client));
        assert_eq!(got.stations, BTreeSet::from([mac(A)]));
        assert_eq!(got.warnings.len(), 1);
        let w = &got.warnings[0];
        assert!(w.contains(&format!("STA-NEXT {A}")), "{w}");
        assert!(w.contains("list incomplete"), "{w}");
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
        let ctrl_socket = CtrlSocket::open(&bss.path, &client, Duration::from_millis(300)).unwrap();
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
        let got = associated_stations(&config(&ctrl, &client));
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
        let got = associated_stations(&config(&ctrl, &client));
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
        let got = associated_stations(&config(&ctrl, &client));
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
            CtrlSocket::open_at(&bss.path, &ours, Duration::from_millis(300)).unwrap();
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

        let got = associated_stations(&config(&ctrl, &client));
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
        let got = associated_stations(&config(&ctrl, &client));
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
        let got = associated_stations(&config(&missing, &client));
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
        let got = associated_stations(&config(&ctrl, &client));
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
        let got = associated_stations(&config(&ctrl, &file));
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
        let mut sock = CtrlSocket::open(&bss.path, &client, Duration::from_millis(300)).unwrap();
        command::ping(&mut sock).unwrap();
    }

    #[test]
    fn default_config_is_valid_and_bad_values_name_their_option() {
        assert_eq!(HostapdConfig::default().validate(), Ok(()));
        let same = HostapdConfig {
            client_dir: PathBuf::from(DEFAULT_HOSTAPD_DIR),
            ..HostapdConfig::default()
        };
        assert!(matches!(same.validate(), Err(ConfigError::SameDirs(_))));
        let long = HostapdConfig {
            client_dir: PathBuf::from("/".repeat(80)),
            ..HostapdConfig::default()
        };
        assert_eq!(
            long.validate(),
            Err(ConfigError::ClientDirTooLong {
                dir: long.client_dir.clone(),
                max: 78
            })
        );
        let zero = HostapdConfig {
            request_timeout: Duration::ZERO,
            ..HostapdConfig::default()
        };
        assert!(zero
            .validate()
            .unwrap_err()
            .to_string()
            .contains("request_timeout"));
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
