//! Debian's real hostapd with authenticated stations, on one machine.
//!
//! Two network namespaces, an AP side and a station side, joined by two veth
//! pairs. On the AP side two hostapd instances (`driver=wired`, IEEE 802.1X
//! with hostapd's own EAP server and one EAP-MD5 user) share one
//! `ctrl_interface` directory, where the first also puts its `global`
//! socket. On the station side three wpa_supplicant instances with fixed
//! MACs authenticate: two on the first pair, each on a macvlan with its own
//! MAC, and one on the second pair. With `driver=wired` there is no
//! association, so hostapd lists each station as `[AUTHORIZED]` once EAP-MD5
//! succeeds.
//!
//! The rig needs root, iproute2, hostapd and wpa_supplicant (`make deps`),
//! and fails, never skips, without them. Everything it starts is killed by
//! PID and its namespaces deleted on drop, whether the test passes or not.
//! Names carry the PID and a per-process counter, so that rigs of other test
//! processes (and other checkouts) never collide with this one.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use presenced::hostapd::command as ctrl_command;
use presenced::hostapd::socket::CtrlSocket;
use presenced::hostapd::{associated_stations, Associated, HostapdConfig, LOOKUP_BUDGET};
use presenced::wire::mac::MacAddr;

pub const HOSTAPD: &str = "/usr/sbin/hostapd";
pub const WPA_SUPPLICANT: &str = "/usr/sbin/wpa_supplicant";
pub const WPA_CLI: &str = "/usr/sbin/wpa_cli";

/// The stations' MACs: the expected values of every test on this rig are
/// these, assigned here to the interfaces, never read back from hostapd.
pub const STATION_1: &str = "02:50:52:00:00:01";
pub const STATION_2: &str = "02:50:52:00:00:02";
pub const STATION_3: &str = "02:50:52:00:00:03";
/// STATION_1 and STATION_2 authenticate with the first BSS, STATION_3 with
/// the second.
pub const STATIONS: [&str; 3] = [STATION_1, STATION_2, STATION_3];

/// hostapd usually lists a station about 2 s after wpa_supplicant starts.
pub const SETTLE: Duration = Duration::from_secs(10);

static NEXT_RIG: AtomicU32 = AtomicU32::new(0);

/// Root, iproute2, hostapd, wpa_supplicant and wpa_cli, or a failure that
/// says how to get them.
pub fn require_prerequisites(test: &str) {
    let euid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    assert_eq!(
        euid, 0,
        "{test} needs root (network namespaces, veth pairs); run `make test` as root"
    );
    for binary in [HOSTAPD, WPA_SUPPLICANT, WPA_CLI] {
        assert!(
            Path::new(binary).exists(),
            "{test} needs {binary}; `make deps` installs it (Debian packages hostapd, wpasupplicant)"
        );
    }
    let ip = Command::new("ip").arg("-V").output();
    assert!(
        matches!(&ip, Ok(o) if o.status.success()),
        "{test} needs `ip` from iproute2; `make deps` installs it"
    );
}

/// Owns everything the rig creates; Drop undoes it in reverse.
pub struct HostapdRig {
    /// Configs, logs and sockets of this rig; removed on drop.
    pub dir: PathBuf,
    /// hostapd's `ctrl_interface`: one socket per BSS, plus `global`.
    pub ctrl: PathBuf,
    /// The BSS sockets, in the order of the veth pairs.
    pub bss: [PathBuf; 2],
    /// Where the test's own hostapd client sockets go.
    pub client_dir: PathBuf,
    /// wpa_supplicant's `ctrl_interface`, for wpa_cli.
    pub supplicant_ctrl: PathBuf,
    /// The interface each of `STATIONS` authenticates on, in that order.
    station_ifnames: [String; 3],
    ns_ap: String,
    ns_sta: String,
    namespaces: Vec<String>,
    processes: Vec<(String, Child)>,
}

impl HostapdRig {
    /// Namespaces, veth pairs and macvlans up, both hostapd instances
    /// answering PING on their sockets; no supplicant yet. `tag` names the
    /// temporary directory after the test.
    pub fn start(tag: &str) -> HostapdRig {
        let pid = std::process::id();
        let n = NEXT_RIG.fetch_add(1, Ordering::Relaxed);
        // One digit of counter keeps interface names under IFNAMSIZ.
        assert!(n < 10, "more than 10 hostapd rigs in one test process");
        let dir = std::env::temp_dir().join(format!("presenced-{tag}-{pid}-{n}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // 4 + 1 + 7 (pid_max 4194304) = 12 bytes, under IFNAMSIZ.
        let name = |role: &str| format!("h{n}{role}-{pid}");
        let ap0 = name("a0");
        let sta0 = name("s0");
        let ap1 = name("a1");
        let sta1 = name("s1");
        let macvlan1 = name("m1");
        let macvlan2 = name("m2");
        assert!([&ap0, &sta0, &ap1, &sta1, &macvlan1, &macvlan2]
            .iter()
            .all(|n| n.len() <= 15));
        let ctrl = dir.join("ctrl");
        let mut rig = HostapdRig {
            bss: [ctrl.join(&ap0), ctrl.join(&ap1)],
            ctrl,
            client_dir: dir.join("client"),
            supplicant_ctrl: dir.join("supplicant"),
            dir,
            station_ifnames: [macvlan1.clone(), macvlan2.clone(), sta1.clone()],
            ns_ap: format!("pshA{n}-{pid}"),
            ns_sta: format!("pshS{n}-{pid}"),
            namespaces: Vec::new(),
            processes: Vec::new(),
        };
        let (ns_ap, ns_sta) = (rig.ns_ap.clone(), rig.ns_sta.clone());
        rig.add_namespace(&ns_ap);
        rig.add_namespace(&ns_sta);

        // Created straight inside the namespaces: never visible in the host's.
        for (ap, sta) in [(&ap0, &sta0), (&ap1, &sta1)] {
            run(
                "ip",
                &[
                    "link", "add", ap, "netns", &ns_ap, "type", "veth", "peer", "name", sta,
                    "netns", &ns_sta,
                ],
            );
        }
        // The two stations of the first BSS each get a macvlan, in private
        // mode, over a veth end that runs no supplicant. wpa_supplicant
        // -Dwired takes the source of the first EAPOL frame it hears for its
        // authenticator: in bridge mode one station hears the other's
        // EAPOL-Start, and on the lower device a supplicant also sees the
        // macvlan's outgoing frames, and either way it may authenticate
        // seconds late or not at all.
        for macvlan in [&macvlan1, &macvlan2] {
            run(
                "ip",
                &[
                    "-n", &ns_sta, "link", "add", "link", &sta0, "name", macvlan, "type",
                    "macvlan", "mode", "private",
                ],
            );
        }
        for (ifname, address) in rig.station_ifnames.iter().zip(STATIONS) {
            run(
                "ip",
                &[
                    "-n", &ns_sta, "link", "set", "dev", ifname, "address", address,
                ],
            );
        }
        for ifname in [&ap0, &ap1] {
            run("ip", &["-n", &ns_ap, "link", "set", "dev", ifname, "up"]);
        }
        for ifname in [&sta0, &sta1, &macvlan1, &macvlan2] {
            run("ip", &["-n", &ns_sta, "link", "set", "dev", ifname, "up"]);
        }

        fs::create_dir(&rig.ctrl).unwrap();
        let eap_users = rig.dir.join("eap_users");
        write(&eap_users, "\"presenced-test\" MD5 \"md5-secret\"\n");
        for (n, ifname) in [(0, &ap0), (1, &ap1)] {
            let conf = rig.dir.join(format!("hostapd{n}.conf"));
            write(&conf, &hostapd_conf(ifname, &rig.ctrl, &eap_users));
            let conf = conf.to_str().unwrap().to_string();
            if n == 0 {
                let global = rig.ctrl.join("global");
                let global = global.to_str().unwrap().to_string();
                rig.spawn_in(&ns_ap, "hostapd0", HOSTAPD, &["-g", &global, &conf]);
            } else {
                rig.spawn_in(&ns_ap, "hostapd1", HOSTAPD, &[&conf]);
            }
        }

        let deadline = Instant::now() + SETTLE;
        for bss in rig.bss.clone() {
            loop {
                rig.check_alive();
                let pong = CtrlSocket::open(&bss, &rig.client_dir, Duration::from_secs(1))
                    .map_err(|e| e.to_string())
                    .and_then(|mut s| ctrl_command::ping(&mut s).map_err(|e| e.to_string()));
                match pong {
                    Ok(()) => break,
                    Err(e) if Instant::now() > deadline => {
                        panic!(
                            "hostapd at {} never answered PING: {e}\n{}",
                            bss.display(),
                            rig.logs()
                        )
                    }
                    Err(_) => sleep(Duration::from_millis(100)),
                }
            }
        }
        rig
    }

    /// What presenced (or a test) needs to read this rig's station lists.
    pub fn hostapd_config(&self) -> HostapdConfig {
        let cfg = HostapdConfig {
            hostapd_dir: self.ctrl.clone(),
            client_dir: self.client_dir.clone(),
            ..HostapdConfig::default()
        };
        cfg.validate().unwrap();
        cfg
    }

    /// Starts one wpa_supplicant per station; returns when they were started.
    pub fn start_supplicants(&mut self) -> Instant {
        let conf = self.dir.join("wpa_supplicant.conf");
        write(&conf, &supplicant_conf(&self.supplicant_ctrl));
        let conf = conf.to_str().unwrap().to_string();
        let ns_sta = self.ns_sta.clone();
        for (n, ifname) in self.station_ifnames.clone().iter().enumerate() {
            let iface = format!("-i{ifname}");
            self.spawn_in(
                &ns_sta,
                &supplicant_label(n),
                WPA_SUPPLICANT,
                &["-Dwired", &iface, "-c", &conf],
            );
        }
        Instant::now()
    }

    /// Polls every BSS until the associated stations are exactly `expected`
    /// or `within` has passed, and returns the last reading either way: the
    /// caller asserts on it. Fails early if a daemon of the rig has died.
    pub fn wait_for_stations(
        &mut self,
        expected: &BTreeSet<MacAddr>,
        within: Duration,
    ) -> Associated {
        let cfg = self.hostapd_config();
        let deadline = Instant::now() + within;
        loop {
            self.check_alive();
            let got = associated_stations(&cfg, Instant::now() + LOOKUP_BUDGET);
            if &got.stations == expected || Instant::now() > deadline {
                return got;
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// The station's supplicant sends EAPOL-Logoff, as a client that leaves
    /// the network does. hostapd keeps the station in its list but no longer
    /// `[AUTHORIZED]`, with `flags=` empty.
    pub fn logoff(&self, station: &str) {
        let ifname = &self.station_ifnames[station_index(station)];
        let out = Command::new(WPA_CLI)
            .arg("-p")
            .arg(&self.supplicant_ctrl)
            .args(["-i", ifname, "logoff"])
            .output()
            .unwrap_or_else(|e| panic!("cannot run {WPA_CLI}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.trim() == "OK",
            "wpa_cli logoff on {ifname}: {} {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Kills the station's wpa_supplicant by PID and reaps it; returns the PID.
    pub fn stop_supplicant(&mut self, station: &str) -> u32 {
        let label = supplicant_label(station_index(station));
        let at = self
            .processes
            .iter()
            .position(|(l, _)| *l == label)
            .unwrap_or_else(|| panic!("{label} is not running"));
        let (_, mut child) = self.processes.remove(at);
        let pid = child.id();
        // Child::kill is SIGKILL to exactly this PID.
        child.kill().unwrap();
        child.wait().unwrap();
        pid
    }

    /// Sends `signal` to the hostapd instance `n` (0 serves `bss[0]`, 1
    /// `bss[1]`); `ip netns exec` execs hostapd, so the child is hostapd.
    pub fn signal_hostapd(&self, n: usize, signal: libc::c_int) {
        let label = format!("hostapd{n}");
        let (_, child) = self
            .processes
            .iter()
            .find(|(l, _)| *l == label)
            .unwrap_or_else(|| panic!("{label} is not running"));
        // SAFETY: kill(2) on a PID we spawned and have not reaped.
        let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(sent, 0, "kill -{signal} {label} ({})", child.id());
    }

    fn add_namespace(&mut self, name: &str) {
        // A namespace of this exact name can only be left by an earlier run
        // with the same pid, killed before its cleanup.
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        run("ip", &["netns", "add", name]);
        self.namespaces.push(name.to_string());
    }

    /// Runs `program` inside `namespace`. `ip netns exec` execs the program
    /// in place, so the child's PID is the program's own.
    fn spawn_in(&mut self, namespace: &str, label: &str, program: &str, args: &[&str]) {
        let log = self.dir.join(format!("{label}.log"));
        let out = File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", namespace, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} in {namespace}: {e}"));
        self.processes.push((label.to_string(), child));
    }

    /// Fails early, with its log, if a daemon has already exited.
    pub fn check_alive(&mut self) {
        for (label, child) in &mut self.processes {
            if let Ok(Some(status)) = child.try_wait() {
                let log =
                    fs::read_to_string(self.dir.join(format!("{label}.log"))).unwrap_or_default();
                panic!("{label} exited early ({status}); its log:\n{log}");
            }
        }
    }

    /// Every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut labels: Vec<String> = self.processes.iter().map(|(l, _)| l.clone()).collect();
        // A stopped supplicant's log still tells what it did.
        for n in 0..STATIONS.len() {
            let label = supplicant_label(n);
            if !labels.contains(&label) && self.dir.join(format!("{label}.log")).exists() {
                labels.push(label);
            }
        }
        labels
            .iter()
            .map(|label| {
                let log =
                    fs::read_to_string(self.dir.join(format!("{label}.log"))).unwrap_or_default();
                format!("--- {label}.log\n{log}")
            })
            .collect()
    }
}

impl Drop for HostapdRig {
    fn drop(&mut self) {
        for (_, child) in self.processes.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting a namespace whose processes are gone destroys the veth,
        // macvlan and loopback interfaces inside it.
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn station_index(station: &str) -> usize {
    STATIONS
        .iter()
        .position(|s| *s == station)
        .unwrap_or_else(|| panic!("{station} is not a station of the rig"))
}

fn supplicant_label(n: usize) -> String {
    format!("supplicant{}", n + 1)
}

pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn hostapd_conf(interface: &str, ctrl: &Path, eap_users: &Path) -> String {
    format!(
        "interface={interface}\n\
         driver=wired\n\
         ctrl_interface={}\n\
         ieee8021x=1\n\
         eap_server=1\n\
         eap_user_file={}\n\
         use_pae_group_addr=0\n",
        ctrl.display(),
        eap_users.display()
    )
}

/// wpa_supplicant's wired 802.1X profile. The control interface is there
/// for `wpa_cli logoff`: a supplicant ended by SIGTERM or SIGKILL sends no
/// EAPOL-Logoff, and hostapd's wired driver has no station inactivity to
/// read, so hostapd goes on listing the station `[AUTHORIZED]` (tried: still
/// so seconds later; its inactivity limit is minutes).
fn supplicant_conf(ctrl: &Path) -> String {
    format!(
        "ctrl_interface={}\n\
         ap_scan=0\n\
         network={{\n\
         \x20   key_mgmt=IEEE8021X\n\
         \x20   eap=MD5\n\
         \x20   identity=\"presenced-test\"\n\
         \x20   password=\"md5-secret\"\n\
         \x20   eapol_flags=0\n\
         }}\n",
        ctrl.display()
    )
}

pub fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

/// For assertion messages: MACs as people write them.
pub fn names(set: &BTreeSet<MacAddr>) -> Vec<String> {
    set.iter().map(MacAddr::to_string).collect()
}
