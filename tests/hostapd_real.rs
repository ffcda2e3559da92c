//! presenced's hostapd client against Debian's real hostapd.
//!
//! The rig (`support::hostapd_rig`): two BSSes of two hostapd instances in
//! one `ctrl_interface` directory, three wpa_supplicant stations with fixed
//! MACs, two on the first BSS and one on the second. The expected MACs are
//! the ones the rig assigns to the interfaces. The test needs root and fails,
//! never skips, without it or without hostapd and wpa_supplicant.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use presenced::hostapd::{associated_stations, LOOKUP_BUDGET};
use presenced::hostapd::command::{self as ctrl_command, Command as CtrlCommand};
use presenced::hostapd::socket::CtrlSocket;
use presenced::hostapd::stations::{self, WalkLimits};
use presenced::wire::mac::MacAddr;
use support::hostapd_rig::{self, mac, names, HostapdRig, SETTLE, STATION_1, STATION_2, STATION_3};

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
#[ignore = "needs root (network namespaces, veth pairs, hostapd): make test runs it"]
fn hostapd_real_two_bss_three_authorized_stations() {
    hostapd_rig::require_prerequisites("hostapd_real");
    let started = Instant::now();
    let mut rig = HostapdRig::start("hostapd-real");
    assert!(
        rig.ctrl.join("global").exists(),
        "hostapd -g made no global socket\n{}",
        rig.logs()
    );
    let cfg = rig.hostapd_config();
    let client_dir = rig.client_dir.clone();
    let [bss0, bss1] = rig.bss.clone();

    // hostapd up, nobody authenticated yet: the empty datagram, no warning.
    let before = associated_stations(&cfg, Instant::now() + LOOKUP_BUDGET);
    assert_eq!(before.warnings, Vec::<String>::new());
    assert_eq!(before.stations, BTreeSet::new());

    let supplicants_started = rig.start_supplicants();
    let expected = BTreeSet::from([mac(STATION_1), mac(STATION_2), mac(STATION_3)]);
    let got = rig.wait_for_stations(&expected, SETTLE);
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

/// A real hung hostapd: instance 0 (the first BSS, stations 1 and 2)
/// stopped with SIGSTOP. Each lookup still ends by its deadline with the
/// second BSS's station, and one warning names the stopped BSS, the same
/// every time: also after its queue is full and our requests cannot even
/// be sent (the kernel queues 10 datagrams per socket).
#[test]
#[ignore = "needs root (network namespaces, veth pairs, hostapd): make test runs it"]
fn hostapd_real_stopped_instance_costs_one_deadline_and_one_warning() {
    hostapd_rig::require_prerequisites("hostapd_real");
    let mut rig = HostapdRig::start("hostapd-stopped");
    let cfg = rig.hostapd_config();
    rig.start_supplicants();
    let all = BTreeSet::from([mac(STATION_1), mac(STATION_2), mac(STATION_3)]);
    let got = rig.wait_for_stations(&all, SETTLE);
    assert_eq!(names(&got.stations), names(&all), "\n{}", rig.logs());

    rig.signal_hostapd(0, libc::SIGSTOP);
    let expected_warning = format!(
        "hostapd: no answer within 200 ms from 1 of 2 BSS sockets: {}; their stations are reported as not associated; hostapd hung, or it cannot write to our sockets: see README, troubleshooting",
        rig.bss[0].display()
    );
    let started = Instant::now();
    for round in 0..12 {
        let got = associated_stations(&cfg, Instant::now() + Duration::from_millis(200));
        assert_eq!(names(&got.stations), [STATION_3], "round {round}");
        assert_eq!(got.warnings, std::slice::from_ref(&expected_warning), "round {round}");
    }
    // Liveness: twelve lookups of 200 ms each.
    assert!(started.elapsed() < Duration::from_secs(20));
    rig.signal_hostapd(0, libc::SIGCONT);

    let got = rig.wait_for_stations(&all, SETTLE);
    assert_eq!(got.warnings, Vec::<String>::new(), "\n{}", rig.logs());
    assert_eq!(names(&got.stations), names(&all), "\n{}", rig.logs());
    assert_eq!(fs::read_dir(&rig.client_dir).unwrap().count(), 0);
}
