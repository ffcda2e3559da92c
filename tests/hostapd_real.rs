//! presenced's hostapd client against Debian's real hostapd.
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
//! The expected MACs are the ones this test assigns to the interfaces. The
//! test needs root, iproute2, hostapd and wpa_supplicant (`make deps`), and
//! fails, never skips, without them. Everything it starts is killed by PID
//! and its namespaces deleted on the way out, whether it passes or not.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use presenced::hostapd::command::{self as ctrl_command, Command as CtrlCommand};
use presenced::hostapd::socket::CtrlSocket;
use presenced::hostapd::stations::{self, WalkLimits};
use presenced::hostapd::{associated_stations, HostapdConfig};
use presenced::mac::MacAddr;

const HOSTAPD: &str = "/usr/sbin/hostapd";
const WPA_SUPPLICANT: &str = "/usr/sbin/wpa_supplicant";

const STATION_1: &str = "02:50:52:00:00:01";
const STATION_2: &str = "02:50:52:00:00:02";
const STATION_3: &str = "02:50:52:00:00:03";

/// hostapd usually lists a station about 2 s after wpa_supplicant starts.
const SETTLE: Duration = Duration::from_secs(10);

fn require_prerequisites() {
    let euid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    assert_eq!(
        euid, 0,
        "hostapd_real needs root (network namespaces, veth pairs); run `make test` as root"
    );
    for binary in [HOSTAPD, WPA_SUPPLICANT] {
        assert!(
            Path::new(binary).exists(),
            "hostapd_real needs {binary}; `make deps` installs it (Debian packages hostapd, wpasupplicant)"
        );
    }
    let ip = Command::new("ip").arg("-V").output();
    assert!(
        matches!(&ip, Ok(o) if o.status.success()),
        "hostapd_real needs `ip` from iproute2; `make deps` installs it"
    );
}

/// Owns everything the test creates; Drop undoes it in reverse.
struct Rig {
    dir: PathBuf,
    namespaces: Vec<String>,
    processes: Vec<(String, Child)>,
}

impl Rig {
    fn new(dir: PathBuf) -> Rig {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Rig {
            dir,
            namespaces: Vec::new(),
            processes: Vec::new(),
        }
    }

    fn add_namespace(&mut self, name: &str) {
        // A namespace of this exact name can only be left by an earlier run
        // of this test with the same pid, killed before its cleanup.
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
    fn check_alive(&mut self) {
        for (label, child) in &mut self.processes {
            if let Ok(Some(status)) = child.try_wait() {
                let log =
                    fs::read_to_string(self.dir.join(format!("{label}.log"))).unwrap_or_default();
                panic!("{label} exited early ({status}); its log:\n{log}");
            }
        }
    }

    fn logs(&self) -> String {
        self.processes
            .iter()
            .map(|(label, _)| {
                let log =
                    fs::read_to_string(self.dir.join(format!("{label}.log"))).unwrap_or_default();
                format!("--- {label}.log\n{log}")
            })
            .collect()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for (_, child) in self.processes.iter_mut().rev() {
            // Child::kill is SIGKILL to exactly this PID.
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

fn run(program: &str, args: &[&str]) {
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

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

/// For assertion messages: MACs as people write them.
fn names(set: &BTreeSet<MacAddr>) -> Vec<String> {
    set.iter().map(MacAddr::to_string).collect()
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

/// wpa_supplicant's wired 802.1X profile; no ctrl_interface, it is not needed.
const SUPPLICANT_CONF: &str = "ap_scan=0\n\
network={\n\
    key_mgmt=IEEE8021X\n\
    eap=MD5\n\
    identity=\"presenced-test\"\n\
    password=\"md5-secret\"\n\
    eapol_flags=0\n\
}\n";

fn raw_sta_first(socket: &Path, client_dir: &Path) -> String {
    let mut ctrl = CtrlSocket::open(socket, client_dir, Duration::from_secs(1)).unwrap();
    ctrl_command::station(&mut ctrl, &CtrlCommand::StaFirst)
        .unwrap_or_else(|e| panic!("STA-FIRST on {}: {e}", socket.display()))
        .unwrap_or_default()
}

fn bss_associated(socket: &Path, client_dir: &Path) -> BTreeSet<MacAddr> {
    let mut ctrl = CtrlSocket::open(socket, client_dir, Duration::from_secs(1)).unwrap();
    let limits = WalkLimits {
        max_stations: 64,
        max_time: Duration::from_secs(5),
    };
    let walk = stations::walk(&mut ctrl, &limits);
    assert!(
        walk.is_complete(),
        "walk of {}: {:?}",
        socket.display(),
        walk.outcome
    );
    walk.associated().collect()
}

#[test]
fn hostapd_real_two_bss_three_authorized_stations() {
    require_prerequisites();
    let started = Instant::now();
    let pid = std::process::id();
    let mut rig = Rig::new(std::env::temp_dir().join(format!("presenced-hostapd-real-{pid}")));

    let ns_ap = format!("pshA-{pid}");
    let ns_sta = format!("pshS-{pid}");
    rig.add_namespace(&ns_ap);
    rig.add_namespace(&ns_sta);
    // At most 4 + 1 + 7 (pid_max 4194304) = 12 bytes, under IFNAMSIZ.
    let ap0 = format!("hpa0-{pid}");
    let sta0 = format!("hps0-{pid}");
    let ap1 = format!("hpa1-{pid}");
    let sta1 = format!("hps1-{pid}");
    let macvlan1 = format!("hpm1-{pid}");
    let macvlan2 = format!("hpm2-{pid}");
    assert!([&ap0, &sta0, &ap1, &sta1, &macvlan1, &macvlan2]
        .iter()
        .all(|n| n.len() <= 15));

    // Created straight inside the namespaces: never visible in the host's.
    for (ap, sta) in [(&ap0, &sta0), (&ap1, &sta1)] {
        run(
            "ip",
            &[
                "link", "add", ap, "netns", &ns_ap, "type", "veth", "peer", "name", sta, "netns",
                &ns_sta,
            ],
        );
    }
    // The two stations of the first BSS each get a macvlan, in private mode,
    // over a veth end that runs no supplicant. wpa_supplicant -Dwired takes
    // the source of the first EAPOL frame it hears for its authenticator:
    // in bridge mode one station hears the other's EAPOL-Start, and on the
    // lower device a supplicant also sees the macvlan's outgoing frames, and
    // either way it may authenticate seconds late or not at all.
    for macvlan in [&macvlan1, &macvlan2] {
        run(
            "ip",
            &[
                "-n", &ns_sta, "link", "add", "link", &sta0, "name", macvlan, "type", "macvlan",
                "mode", "private",
            ],
        );
    }
    for (ifname, address) in [
        (&macvlan1, STATION_1),
        (&macvlan2, STATION_2),
        (&sta1, STATION_3),
    ] {
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

    let ctrl = rig.dir.join("ctrl");
    let client_dir = rig.dir.join("client");
    fs::create_dir(&ctrl).unwrap();
    let eap_users = rig.dir.join("eap_users");
    write(&eap_users, "\"presenced-test\" MD5 \"md5-secret\"\n");
    for (n, ifname) in [(0, &ap0), (1, &ap1)] {
        let conf = rig.dir.join(format!("hostapd{n}.conf"));
        write(&conf, &hostapd_conf(ifname, &ctrl, &eap_users));
        let conf = conf.to_str().unwrap().to_string();
        if n == 0 {
            let global = ctrl.join("global");
            rig.spawn_in(
                &ns_ap,
                "hostapd0",
                HOSTAPD,
                &["-g", global.to_str().unwrap(), &conf],
            );
        } else {
            rig.spawn_in(&ns_ap, "hostapd1", HOSTAPD, &[&conf]);
        }
    }

    let bss0 = ctrl.join(&ap0);
    let bss1 = ctrl.join(&ap1);
    let deadline = Instant::now() + SETTLE;
    for bss in [&bss0, &bss1] {
        loop {
            rig.check_alive();
            let pong = CtrlSocket::open(bss, &client_dir, Duration::from_secs(1))
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
    assert!(
        ctrl.join("global").exists(),
        "hostapd -g made no global socket\n{}",
        rig.logs()
    );

    let cfg = HostapdConfig {
        hostapd_dir: ctrl.clone(),
        client_dir: client_dir.clone(),
        ..HostapdConfig::default()
    };
    cfg.validate().unwrap();

    // hostapd up, nobody authenticated yet: the empty datagram, no warning.
    let before = associated_stations(&cfg);
    assert_eq!(before.warnings, Vec::<String>::new());
    assert_eq!(before.stations, BTreeSet::new());

    let supplicant_conf = rig.dir.join("wpa_supplicant.conf");
    write(&supplicant_conf, SUPPLICANT_CONF);
    let supplicant_conf = supplicant_conf.to_str().unwrap().to_string();
    for (label, ifname) in [
        ("supplicant1", &macvlan1),
        ("supplicant2", &macvlan2),
        ("supplicant3", &sta1),
    ] {
        let iface = format!("-i{ifname}");
        rig.spawn_in(
            &ns_sta,
            label,
            WPA_SUPPLICANT,
            &["-Dwired", &iface, "-c", &supplicant_conf],
        );
    }
    let supplicants_started = Instant::now();

    let expected = BTreeSet::from([mac(STATION_1), mac(STATION_2), mac(STATION_3)]);
    let deadline = Instant::now() + SETTLE;
    let got = loop {
        rig.check_alive();
        let got = associated_stations(&cfg);
        eprintln!(
            "DBG {:?} {:?}",
            supplicants_started.elapsed(),
            got.stations
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
        );
        if got.stations == expected || Instant::now() > deadline {
            break got;
        }
        sleep(Duration::from_millis(100));
    };
    let settled_after = supplicants_started.elapsed();
    assert_eq!(got.warnings, Vec::<String>::new(), "\n{}", rig.logs());
    assert_eq!(
        names(&got.stations),
        names(&expected),
        "after {settled_after:?}\n{}",
        rig.logs()
    );

    // Each BSS lists exactly its own stations.
    assert_eq!(
        names(&bss_associated(&bss0, &client_dir)),
        [STATION_1, STATION_2]
    );
    assert_eq!(names(&bss_associated(&bss1, &client_dir)), [STATION_3]);

    let first = raw_sta_first(&bss1, &client_dir);
    assert!(
        first.starts_with(&format!("{STATION_3}\nflags=[AUTHORIZED]\n")),
        "{first}"
    );
    println!("hostapd_real: STA-FIRST on {}:\n{first}", bss1.display());
    println!(
        "hostapd_real: {} station(s) authorized {settled_after:?} after the supplicants started, {:?} in all",
        got.stations.len(),
        started.elapsed()
    );
    // Our client sockets were all unlinked.
    assert_eq!(fs::read_dir(&client_dir).unwrap().count(), 0);
}
