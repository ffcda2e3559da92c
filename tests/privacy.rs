//! The privacy options (README, "Privacy") through the binary, on the shared captures: pseudonyms checked
//! against Python's hmac (and Python's calendar for the daily key), the raw
//! MACs absent from reports and log (at -vv), randomized and weak-signal
//! drops checked against tshark, and the bytes of a report with every new
//! option off checked against a rendering written here from tshark's
//! decoding.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::data::{shared_data, tshark_fields};
use support::TempDir;

/// Crosses a UTC midnight (2024-03-30 23:01 to 2024-03-31 22:00), with 22
/// clients of which 14 have locally administered addresses.
const MIDNIGHT: &str = "captures/esp32-sc6-61-2024-03-31.pcap";
const PSEUDONYM_KEY: &[u8] = b"pseudonyms: not the signature key\n";

fn capture(name: &str) -> PathBuf {
    shared_data().join(name)
}

struct Run {
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn reports(&self) -> Vec<Value> {
        String::from_utf8(self.stdout.clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The report log lines' `NAME=N`, summed.
    fn drop_count(&self, name: &str) -> u64 {
        let key = format!(" {name}=");
        self.stderr
            .lines()
            .filter(|l| l.contains("info: report: "))
            .map(|l| {
                let at = l.find(&key).unwrap_or_else(|| panic!("no {name} in {l}")) + key.len();
                l[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse::<u64>().unwrap()
            })
            .sum()
    }
}

fn replay(file: &str, rate: &str, extra: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_presenced"))
        .arg("-r")
        .arg(capture(file))
        .args(["--stdout", "--no-hostapd", "--node-mac", "ac:86:74:82:9a:30", "--network-id", "221234", "--rate", rate])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    Run { stdout: out.stdout, stderr }
}

/// Pseudonyms by Python's hmac, for lines of "DAY MAC" (DAY "-" for none):
/// HMAC-SHA256(key, mac bytes), or with a day HMAC-SHA256(HMAC-SHA256(key,
/// "YYYY-MM-DD"), mac bytes); first six bytes, 0x02 set, 0x01 clear.
fn python_pseudonyms(key: &[u8], queries: &[(Option<String>, String)]) -> Vec<String> {
    let script = r#"
import hashlib, hmac, sys
key = bytes.fromhex(sys.argv[1])
for line in sys.stdin.read().splitlines():
    day, mac = line.split()
    k = key if day == "-" else hmac.new(key, day.encode(), hashlib.sha256).digest()
    d = bytearray(hmac.new(k, bytes.fromhex(mac.replace(":", "")), hashlib.sha256).digest()[:6])
    d[0] = (d[0] | 0x02) & 0xFE
    print(":".join("%02x" % b for b in d))
"#;
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut child = Command::new("python3")
        .args(["-c", script, &key_hex])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 for the reference pseudonyms");
    let input: String = queries.iter().map(|(d, m)| format!("{} {m}\n", d.as_deref().unwrap_or("-"))).collect();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

/// The UTC date of epoch seconds, by Python's calendar.
fn python_utc_dates(secs: &[i64]) -> Vec<String> {
    let list: Vec<String> = secs.iter().map(|s| s.to_string()).collect();
    let out = Command::new("python3")
        .args(["-c", "import sys, datetime\nfor s in sys.argv[1:]: print(datetime.datetime.fromtimestamp(int(s), datetime.timezone.utc).date().isoformat())"])
        .args(&list)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

fn rows(report: &Value) -> &Vec<Value> {
    report["probe_requests"].as_array().unwrap()
}

/// The raw run's reports with each MAC replaced by Python's pseudonym (of
/// the day of the report's latest `last_seen`, when `daily`), re-sorted.
fn expected_pseudonymized(raw: &[Value], daily: bool) -> Vec<Value> {
    let latest: Vec<i64> = raw.iter().map(|r| rows(r).iter().map(|row| row["last_seen"].as_i64().unwrap()).max().unwrap_or(0)).collect();
    let days = python_utc_dates(&latest);
    let mut queries = Vec::new();
    for (i, report) in raw.iter().enumerate() {
        for row in rows(report) {
            queries.push((daily.then(|| days[i].clone()), row["mac"].as_str().unwrap().to_string()));
        }
    }
    let key = presenced::config::key_from_file(PSEUDONYM_KEY.to_vec());
    let mut answers = python_pseudonyms(&key, &queries).into_iter();
    raw.iter()
        .map(|report| {
            let mut report = report.clone();
            let mut list: Vec<Value> = rows(&report).clone();
            for row in list.iter_mut() {
                row["mac"] = Value::String(answers.next().unwrap());
            }
            list.sort_by(|a, b| a["mac"].as_str().cmp(&b["mac"].as_str()));
            report["probe_requests"] = Value::Array(list);
            report
        })
        .collect()
}

/// Every spelling of every raw client MAC of the capture, for the search of
/// output and log.
fn raw_mac_spellings(raw: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for report in raw {
        for row in rows(report) {
            let m = row["mac"].as_str().unwrap().to_string();
            out.push(m.to_uppercase());
            out.push(m.replace(':', ""));
            out.push(m.replace(':', "-"));
            out.push(m);
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn pseudonyms_are_pythons_hmac_of_each_client_and_the_raw_macs_appear_nowhere() {
    let dir = TempDir::new("privacy-pseudonyms");
    let key_file = dir.path().join("pseudonym.key");
    std::fs::write(&key_file, PSEUDONYM_KEY).unwrap();
    let key_arg = key_file.to_str().unwrap();
    let raw = replay(MIDNIGHT, "600", &["-vv"]).reports();
    assert!(raw.len() >= 20, "{} reports", raw.len());
    let spellings = raw_mac_spellings(&raw);
    assert!(spellings.len() >= 22 * 4);

    for (daily, extra) in [(false, vec![]), (true, vec!["--pseudonymize-rotate", "daily"])] {
        let mut args = vec!["-vv", "--pseudonymize-key-file", key_arg];
        args.extend(extra);
        let run = replay(MIDNIGHT, "600", &args);
        let got = run.reports();
        let want = expected_pseudonymized(&raw, daily);
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "daily={daily}: report {i}");
        }
        for rows in got.iter().map(rows) {
            assert!(rows.iter().all(|r| u8::from_str_radix(&r["mac"].as_str().unwrap()[..2], 16).unwrap() & 3 == 2));
        }
        let stdout = String::from_utf8(run.stdout.clone()).unwrap();
        for s in &spellings {
            assert!(!stdout.contains(s.as_str()), "daily={daily}: raw MAC {s} in a report");
            assert!(!run.stderr.contains(s.as_str()), "daily={daily}: raw MAC {s} in the log:\n{}", run.stderr);
        }
        assert!(run.stderr.contains("debug:") || run.stderr.contains("info: report:"), "{}", run.stderr);
    }

    // Daily: a client seen on both sides of midnight has two pseudonyms;
    // stable: one.
    let daily = replay(MIDNIGHT, "600", &["--pseudonymize-key-file", key_arg, "--pseudonymize-rotate", "daily"]).reports();
    let stable = replay(MIDNIGHT, "600", &["--pseudonymize-key-file", key_arg]).reports();
    let names = |reports: &[Value]| -> std::collections::BTreeSet<String> {
        reports.iter().flat_map(|r| rows(r).iter().map(|row| row["mac"].as_str().unwrap().to_string())).collect()
    };
    assert!(names(&daily).len() > names(&stable).len(), "{} vs {}", names(&daily).len(), names(&stable).len());
}

/// Probe requests as presenced counts them (SA not a group address, FCS not
/// flagged bad, a dBm signal), from tshark: (micros, sa, signal).
fn tshark_probes(file: &str) -> Vec<(i64, String, i64)> {
    let args = ["-Y", "wlan.fc.type_subtype == 4", "-T", "fields", "-E", "separator=/t",
        "-e", "frame.time_epoch", "-e", "wlan.sa", "-e", "radiotap.dbm_antsignal", "-e", "radiotap.flags.badfcs"];
    tshark_fields(&capture(file), &args)
        .into_iter()
        .filter_map(|f| {
            let sa = f.get(1).filter(|s| !s.is_empty())?.clone();
            let signal = f.get(2)?.split(',').next().filter(|s| !s.is_empty())?.parse::<i64>().ok()?;
            let group = u8::from_str_radix(&sa[..2], 16).ok()? & 1 == 1;
            if group || f.get(3).map(String::as_str) == Some("1") {
                return None;
            }
            let (secs, frac) = f[0].split_once('.')?;
            Some((secs.parse::<i64>().ok()? * 1_000_000 + frac[..6].parse::<i64>().ok()?, sa, signal))
        })
        .collect()
}

fn locally_administered(sa: &str) -> bool {
    u8::from_str_radix(&sa[..2], 16).unwrap() & 2 != 0
}

#[test]
fn randomized_addresses_and_weak_signals_are_dropped_and_counted_as_tshark_says() {
    let probes = tshark_probes(MIDNIGHT);
    let all = u32::MAX.to_string();
    let raw = replay(MIDNIGHT, &all, &[]);
    assert_eq!((raw.drop_count("randomized"), raw.drop_count("weak_signal")), (0, 0));

    // Per client: the rows are the raw ones less the locally administered.
    let run = replay(MIDNIGHT, &all, &["--randomized-macs", "drop"]);
    let kept: Vec<Value> = rows(&raw.reports()[0]).iter().filter(|r| !locally_administered(r["mac"].as_str().unwrap())).cloned().collect();
    assert_eq!(rows(&run.reports()[0]), &kept);
    let randomized = probes.iter().filter(|p| locally_administered(&p.1)).count() as u64;
    assert!(randomized > 0 && kept.len() == 8, "{randomized} {}", kept.len());
    assert_eq!(run.drop_count("randomized"), randomized);

    // Per frame: below -85 dBm (-85 itself is kept).
    let run = replay(MIDNIGHT, &all, &["--min-signal", "-85"]);
    let weak = probes.iter().filter(|p| p.2 < -85).count() as u64;
    assert!(weak > 0 && weak < probes.len() as u64);
    assert_eq!(run.drop_count("weak_signal"), weak);
    let report = &run.reports()[0];
    let counted: u64 = rows(report).iter().map(|r| r["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, probes.len() as u64 - weak);
    // Each client's row from its strong frames only, by hand from tshark.
    let mut strong: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for p in probes.iter().filter(|p| p.2 >= -85) {
        strong.entry(p.1.clone()).or_default().push(p.2);
    }
    let got: BTreeMap<String, (u64, i64, i64)> = rows(report)
        .iter()
        .map(|r| (r["mac"].as_str().unwrap().to_string(), (r["count"].as_u64().unwrap(), r["min_signal"].as_i64().unwrap(), r["max_signal"].as_i64().unwrap())))
        .collect();
    let want: BTreeMap<String, (u64, i64, i64)> = strong
        .iter()
        .map(|(m, s)| (m.clone(), (s.len() as u64, *s.iter().min().unwrap(), *s.iter().max().unwrap())))
        .collect();
    assert_eq!(got, want);

    // Both: the address is judged first.
    let run = replay(MIDNIGHT, &all, &["--randomized-macs", "drop", "--min-signal", "-85"]);
    let weak_universal = probes.iter().filter(|p| !locally_administered(&p.1) && p.2 < -85).count() as u64;
    assert_eq!((run.drop_count("randomized"), run.drop_count("weak_signal")), (randomized, weak_universal));
    assert!(run.stderr.contains("no_signal=0 randomized="), "{}", run.stderr);
}

/// The documented body, rendered here by hand from tshark's decoding: one
/// report of the whole capture (the mean rounded half away from zero, as
/// f64::round does; last_seen_signal from the latest frame, the later one
/// among equal times).
fn reference_body(file: &str) -> Vec<u8> {
    struct Acc {
        signals: Vec<i64>,
        first: i64,
        last: i64,
        last_signal: i64,
    }
    let mut clients: BTreeMap<String, Acc> = BTreeMap::new();
    for (micros, sa, signal) in tshark_probes(file) {
        let a = clients.entry(sa).or_insert(Acc { signals: vec![], first: i64::MAX, last: i64::MIN, last_signal: 0 });
        a.signals.push(signal);
        a.first = a.first.min(micros);
        if micros >= a.last {
            a.last = micros;
            a.last_signal = signal;
        }
    }
    let rows: Vec<String> = clients
        .iter()
        .map(|(mac, a)| {
            let mean = a.signals.iter().sum::<i64>() as f64 / a.signals.len() as f64;
            format!(
                r#"{{"mac":"{mac}","count":{},"min_signal":{},"max_signal":{},"avg_signal":{},"last_seen_signal":{},"first_seen":{},"last_seen":{},"associated":false}}"#,
                a.signals.len(),
                a.signals.iter().min().unwrap(),
                a.signals.iter().max().unwrap(),
                mean.round() as i64,
                a.last_signal,
                a.first.div_euclid(1_000_000),
                a.last.div_euclid(1_000_000)
            )
        })
        .collect();
    format!(
        r#"{{"network_id":221234,"node_mac":"AC:86:74:82:9A:30","version":1,"probe_requests":[{}]}}"#,
        rows.join(",")
    )
    .into_bytes()
}

#[test]
fn with_every_new_option_off_the_bytes_are_the_documented_ones() {
    let all = u32::MAX.to_string();
    for file in [MIDNIGHT, "captures/esp32-sc6-61-2023-04-13.pcap"] {
        let mut want = reference_body(file);
        want.push(b'\n');
        let default = replay(file, &all, &[]);
        assert_eq!(String::from_utf8_lossy(&default.stdout), String::from_utf8_lossy(&want), "{file}");
        // The off values spelled out give the same bytes.
        let explicit = replay(file, &all, &["--randomized-macs", "keep", "--min-signal", "-128"]);
        assert_eq!(explicit.stdout, want, "{file}");
    }
}

/// hostapd's answers can put a station's MAC into a warning (here a list
/// that comes back to a station already read); with pseudonyms on it is
/// blanked out of the log, without them it is shown as before.
#[test]
fn a_station_mac_in_a_hostapd_warning_does_not_reach_the_log_under_pseudonyms() {
    let dir = TempDir::new("privacy-hostapd");
    let (ctrl, run) = (dir.path().join("hostapd"), dir.path().join("run"));
    std::fs::create_dir_all(&ctrl).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    let station = "00:1b:63:84:45:e6";
    let _bss = support::hostapd_stand_in::SlowBss::start(
        ctrl.join("phy0-ap0"),
        vec![station.to_string(), station.to_string()],
        std::time::Duration::ZERO,
    );
    let key_file = dir.path().join("pseudonym.key");
    std::fs::write(&key_file, PSEUDONYM_KEY).unwrap();
    let run_with = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_presenced"))
            .arg("-r")
            .arg(capture("captures/taxonomy-iphone7plus-2g4.pcap"))
            .args(["--stdout", "--node-mac", "ac:86:74:82:9a:30", "--rate", "30", "-vv"])
            .arg("--hostapd-dir")
            .arg(&ctrl)
            .arg("--run-dir")
            .arg(&run)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let plain = run_with(&[]);
    assert!(plain.contains(&format!("station list came back to {station}")), "{plain}");
    let hidden = run_with(&["--pseudonymize-key-file", key_file.to_str().unwrap()]);
    assert!(hidden.contains("station list came back to <MAC>"), "{hidden}");
    assert!(!hidden.to_lowercase().contains(station), "{hidden}");
}
