//! `associated` end to end: real hostapd, the presenced binary, live capture,
//! a signed report over loopback.
//!
//! The hostapd rig (`support::hostapd_rig`) runs two BSSes with three
//! authorized wpa_supplicant stations. presenced captures on a virtual
//! monitor interface (TAP, link type 803), reads the rig's hostapd sockets,
//! and POSTs every 2 s to `presenced-receiver`, which prints each report
//! whose Signature checks out. The test writes probe requests from the three
//! stations and from two other MACs and checks the report row by row against
//! values computed by hand; then one station logs off and the next report
//! must call it not associated while the other two still are.
//!
//! Needs root, iproute2, hostapd and wpa_supplicant, and fails, never skips,
//! without them. Every process is stopped by PID, and the namespaces, the
//! TAP and the temporary directories are removed, pass or fail.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use presenced_receiver::SignatureCheck;
use serde_json::{json, Value};
use support::frames;
use support::hostapd_rig::{self, mac, names, HostapdRig, SETTLE, STATION_1, STATION_2, STATION_3};
use support::daemon_process::{DaemonProcess, Log};
use support::receiver::InProcessReceiver;
use support::TempDir;
use support::tap::Tap;

const KEY: &str = "associated e2e key, with spaces & ünïcode";
const NODE_MAC: &str = "02:00:00:00:00:aa";
const RATE_SECS: u64 = 2;
/// Two MACs hostapd has never heard of.
const OTHER_1: &str = "5c:dc:96:66:24:e3";
const OTHER_2: &str = "98:01:a7:a7:1d:d3";

/// The longest wait for one report: it bounds the test on a stuck daemon
/// and says nothing about speed.
const REPORT_WAIT: Duration = Duration::from_secs(4 * RATE_SECS + 2);
/// Reports of windows that closed before a burst was written; one is
/// normal (a report in flight), more means the frames were lost.
const MAX_REPORTS_BEFORE_BURST: usize = 3;

/// The first burst, interleaved so that the rows must be kept apart.
const BURST_1: &[(&str, i8)] = &[
    (STATION_1, -40),
    (OTHER_1, -70),
    (STATION_2, -50),
    (OTHER_2, -90),
    (STATION_3, -60),
    (STATION_1, -45),
    (OTHER_1, -80),
    (STATION_2, -51),
    (OTHER_2, -89),
    (STATION_1, -43),
    (OTHER_1, -75),
    (OTHER_1, -72),
];

/// BURST_1's rows, by hand: (mac, count, min, max, avg, last, associated).
/// avg is the mean rounded to nearest, halves away from zero.
const EXPECTED_1: &[(&str, u64, i64, i64, i64, i64, bool)] = &[
    // -40 -45 -43: sum -128, -42.67
    (STATION_1, 3, -45, -40, -43, -43, true),
    // -50 -51: sum -101, -50.5
    (STATION_2, 2, -51, -50, -51, -51, true),
    (STATION_3, 1, -60, -60, -60, -60, true),
    // -70 -80 -75 -72: sum -297, -74.25
    (OTHER_1, 4, -80, -70, -74, -72, false),
    // -90 -89: sum -179, -89.5
    (OTHER_2, 2, -90, -89, -90, -89, false),
];

/// The second burst, after STATION_2 logged off.
const BURST_2: &[(&str, i8)] = &[
    (STATION_2, -55),
    (OTHER_2, -35),
    (STATION_1, -41),
    (STATION_2, -56),
    (OTHER_2, -36),
    (STATION_3, -61),
    (OTHER_1, -66),
    (OTHER_2, -37),
    (STATION_2, -58),
    (STATION_3, -62),
    (OTHER_2, -38),
];

const EXPECTED_2: &[(&str, u64, i64, i64, i64, i64, bool)] = &[
    (STATION_1, 1, -41, -41, -41, -41, true),
    // -55 -56 -58: sum -169, -56.33
    (STATION_2, 3, -58, -55, -56, -58, false),
    // -61 -62: sum -123, -61.5
    (STATION_3, 2, -62, -61, -62, -62, true),
    (OTHER_1, 1, -66, -66, -66, -66, false),
    // -35 -36 -37 -38: sum -146, -36.5
    (OTHER_2, 4, -38, -35, -37, -38, false),
];

/// The reports the receiver accepted, in order, each printed as it comes.
struct Reports<'a> {
    receiver: &'a InProcessReceiver,
    /// presenced's stderr, for the message when no report comes.
    daemon_log: Log,
    seen: usize,
}

impl Reports<'_> {
    fn next(&mut self) -> Value {
        let line = self.receiver.next_line(REPORT_WAIT).unwrap_or_else(|| {
            panic!(
                "no report within {REPORT_WAIT:?}; presenced's log:\n{}",
                self.daemon_log.text()
            )
        });
        self.parse_and_print(&line)
    }

    /// Takes the reports already waiting, without waiting for more.
    fn drain(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(line) = self.receiver.next_line(Duration::ZERO) {
            out.push(self.parse_and_print(&line));
        }
        out
    }

    fn parse_and_print(&mut self, line: &str) -> Value {
        self.seen += 1;
        let report: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("report {} is not JSON ({e}): {line}", self.seen));
        let rows = probe_rows(&report);
        eprintln!("report {}: {} row(s)", self.seen, rows.len());
        for row in rows {
            eprintln!("  {}", row_line(row));
        }
        report
    }
}

fn probe_rows(report: &Value) -> &Vec<Value> {
    report["probe_requests"]
        .as_array()
        .unwrap_or_else(|| panic!("no probe_requests list: {report}"))
}

/// One row in the contract's field order (serde_json sorts an object's keys).
fn row_line(row: &Value) -> String {
    [
        "mac",
        "count",
        "min_signal",
        "max_signal",
        "avg_signal",
        "last_seen_signal",
        "first_seen",
        "last_seen",
        "associated",
    ]
    .iter()
    .map(|k| format!("{k}={}", row[k]))
    .collect::<Vec<_>>()
    .join(" ")
}

/// Frames counted for `macs` in `report`.
fn frames_of(report: &Value, macs: &BTreeSet<&str>) -> u64 {
    probe_rows(report)
        .iter()
        .filter(|row| macs.contains(row["mac"].as_str().unwrap_or("")))
        .map(|row| row["count"].as_u64().unwrap())
        .sum()
}

/// Nothing but the test writes to the TAP: a report without the burst in it
/// has no rows at all.
fn assert_empty(report: &Value, when: &str) {
    assert_eq!(probe_rows(report), &Vec::<Value>::new(), "{when}: {report}");
}

fn epoch_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A burst's report, and the wall clock (epoch seconds) just before its
/// first frame and just after the report arrived.
struct BurstReport {
    report: Value,
    written_at: i64,
    received_at: i64,
}

/// Writes `burst` so that all of it falls in one window, and returns that
/// window's report. Right after a report arrives a window has just begun, so
/// a burst of microseconds fits; should a window boundary cut it anyway (a
/// stalled test process), the rest must come in the next report, and the
/// burst is written again into the window that report opened.
fn report_of_burst(
    reports: &mut Reports,
    tap: &Tap,
    burst: &[(&str, i8)],
    seq: &mut u16,
    mut at_window_start: bool,
) -> BurstReport {
    let macs: BTreeSet<&str> = burst.iter().map(|(m, _)| *m).collect();
    let written = burst.len() as u64;
    for _ in 0..3 {
        if !at_window_start {
            for report in reports.drain() {
                assert_empty(&report, "before the burst");
            }
            let boundary = reports.next();
            assert_empty(&boundary, "before the burst");
        }
        let written_at = epoch_secs();
        for (sa, dbm) in burst {
            tap.write_frame(&frames::probe_request(mac(sa), *dbm, *seq))
                .expect("write a probe request to the TAP");
            *seq = seq.wrapping_add(1);
        }
        let mut report = reports.next();
        let mut skipped = 0;
        while frames_of(&report, &macs) == 0 {
            assert_empty(&report, "a window that closed before the burst");
            skipped += 1;
            assert!(
                skipped < MAX_REPORTS_BEFORE_BURST,
                "{skipped} reports since the burst and none counts any of its {written} frames"
            );
            report = reports.next();
        }
        let got = frames_of(&report, &macs);
        if got == written {
            return BurstReport {
                report,
                written_at,
                received_at: epoch_secs(),
            };
        }
        assert!(
            got < written,
            "{got} frames counted, {written} written: {report}"
        );
        let rest = reports.next();
        assert_eq!(
            got + frames_of(&rest, &macs),
            written,
            "a burst cut by a window boundary: the two reports must add up to it"
        );
        eprintln!("a window boundary cut the burst ({got} of {written} frames); writing it again");
        at_window_start = true;
    }
    panic!("three bursts in a row were cut by window boundaries");
}

/// Every field of every row against the hand-computed table; first_seen
/// and last_seen against the wall clock around the burst.
fn check_rows(got: &BurstReport, expected: &[(&str, u64, i64, i64, i64, i64, bool)], what: &str) {
    let report = &got.report;
    assert_eq!(report["network_id"], json!(0), "{report}");
    assert_eq!(report["node_mac"], json!("02:00:00:00:00:AA"), "{report}");
    assert_eq!(report["version"], json!(1), "{report}");
    let rows: BTreeMap<&str, &Value> = probe_rows(report)
        .iter()
        .map(|row| (row["mac"].as_str().unwrap(), row))
        .collect();
    let want: BTreeSet<&str> = expected.iter().map(|e| e.0).collect();
    assert_eq!(
        rows.keys().copied().collect::<BTreeSet<_>>(),
        want,
        "{what}: the report's clients"
    );
    for &(mac, count, min, max, avg, last, associated) in expected {
        let row = rows[mac];
        let (first_seen, last_seen) = (
            row["first_seen"].as_i64().unwrap(),
            row["last_seen"].as_i64().unwrap(),
        );
        // One second of slack each way for where in a second the clock was read.
        assert!(
            got.written_at - 1 <= first_seen
                && first_seen <= last_seen
                && last_seen <= got.received_at + 1,
            "{what}: {mac} seen {first_seen}..{last_seen}, written at {} and reported by {}",
            got.written_at,
            got.received_at
        );
        let without_times: Value = row
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "first_seen" | "last_seen"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<serde_json::Map<_, _>>()
            .into();
        assert_eq!(
            without_times,
            json!({
                "mac": mac,
                "count": count,
                "min_signal": min,
                "max_signal": max,
                "avg_signal": avg,
                "last_seen_signal": last,
                "associated": associated,
            }),
            "{what}: row of {mac}"
        );
    }
}

#[test]
#[ignore = "needs root (network namespaces, hostapd, a TAP interface): make test runs it"]
fn associated_is_true_for_exactly_the_stations_hostapd_has_authorized() {
    hostapd_rig::require_prerequisites("associated_e2e");
    let started = Instant::now();
    let temp = TempDir::new("associated-e2e");
    let run_dir = temp.path().join("run");
    fs::create_dir(&run_dir).unwrap();

    let mut rig = HostapdRig::start("associated-e2e-rig");
    rig.start_supplicants();
    // presenced starts while the stations authenticate: its first reports
    // simply have no rows, and the bursts wait for the stations anyway.
    let tap = Tap::create().expect("create the TAP monitor interface");
    let receiver = InProcessReceiver::start(KEY);
    let url = format!("http://{}/", receiver.addr);
    let ctrl = rig.ctrl.to_str().unwrap().to_string();
    let rate = RATE_SECS.to_string();
    let mut daemon = DaemonProcess::start(
        &[
            "-i",
            tap.name(),
            "--url",
            &url,
            "--rate",
            &rate,
            "--node-mac",
            NODE_MAC,
            "--hostapd-dir",
            &ctrl,
            "--run-dir",
            run_dir.to_str().unwrap(),
        ],
        KEY,
    );

    let all = BTreeSet::from([mac(STATION_1), mac(STATION_2), mac(STATION_3)]);
    let got = rig.wait_for_stations(&all, SETTLE);
    assert_eq!(got.warnings, Vec::<String>::new(), "\n{}", rig.logs());
    assert_eq!(names(&got.stations), names(&all), "\n{}", rig.logs());
    let authorized_after = started.elapsed();

    let mut reports = Reports {
        receiver: &receiver,
        daemon_log: daemon.log.clone(),
        seen: 0,
    };
    let mut seq = 0u16;
    let first = report_of_burst(&mut reports, &tap, BURST_1, &mut seq, false);
    check_rows(&first, EXPECTED_1, "first burst");

    // A client that leaves says EAPOL-Logoff; its supplicant then goes away.
    rig.logoff(STATION_2);
    let supplicant_pid = rig.stop_supplicant(STATION_2);
    let remaining = BTreeSet::from([mac(STATION_1), mac(STATION_3)]);
    let got = rig.wait_for_stations(&remaining, SETTLE);
    assert_eq!(got.warnings, Vec::<String>::new(), "\n{}", rig.logs());
    assert_eq!(
        names(&got.stations),
        names(&remaining),
        "hostapd after {STATION_2} logged off (supplicant PID {supplicant_pid} killed)\n{}",
        rig.logs()
    );
    // The first burst's report opened a window a moment ago; should the
    // logoff have taken longer, report_of_burst notices the cut.
    let second = report_of_burst(&mut reports, &tap, BURST_2, &mut seq, true);
    check_rows(&second, EXPECTED_2, "second burst, after the logoff");

    let status = daemon.terminate(REPORT_WAIT);
    assert!(
        status.success(),
        "presenced exited with {status} on SIGTERM; its log:\n{}",
        daemon.log.text()
    );
    // On SIGTERM presenced sends the window in progress, which is empty.
    let last = reports.next();
    assert_empty(&last, "the partial window sent on SIGTERM");

    let log = daemon.log.text();
    eprintln!("presenced's log:\n{log}");
    let complaints: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("presenced: warning") || l.starts_with("presenced: error"))
        .collect();
    assert_eq!(complaints, Vec::<&str>::new(), "presenced's log:\n{log}");
    assert!(
        !log.contains("hostapd"),
        "presenced logged about hostapd:\n{log}"
    );
    for summary in [
        "report: 5 clients (3 associated), 12 frames, 12 accepted",
        "report: 5 clients (2 associated), 11 frames, 11 accepted",
    ] {
        assert!(log.contains(summary), "no {summary:?} in:\n{log}");
    }
    // presenced unlinked each client socket it bound in its run dir.
    let left: Vec<_> = fs::read_dir(&run_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in {}: {left:?}", run_dir.display());

    let reports_seen = reports.seen;
    let exchanges = receiver.finish();
    assert!(exchanges.iter().all(|e| e.signature == SignatureCheck::Ok), "{exchanges:?}");
    eprintln!(
        "associated_e2e: stations authorized after {authorized_after:?}, {} reports, {:?} in all",
        reports_seen,
        started.elapsed()
    );
    tap.close().expect("TAP removed");
}
