//! Replays every shared capture through the `presenced` binary and compares
//! its reports with aggregates computed here from tshark's decoding of the
//! same file, following the rules of the issue independently of presenced's
//! own code (floating-point mean with `f64::round`, windows from tshark's
//! timestamps).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

mod support;
use support::data::{shared_data, tshark_fields};

fn captures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared_data().join("captures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "expected the shared captures, found {files:?}");
    files
}

/// One probe request as tshark decodes it.
struct TsharkProbe {
    micros: i64,
    sa: Option<String>,
    signal: Option<i64>,
    bad_fcs: bool,
}

fn tshark_probes(file: &PathBuf) -> Vec<TsharkProbe> {
    let fields = ["frame.time_epoch", "wlan.sa", "radiotap.dbm_antsignal", "radiotap.flags.badfcs"];
    let mut args = vec!["-Y", "wlan.fc.type_subtype == 4", "-T", "fields", "-E", "separator=/t"];
    for f in &fields {
        args.extend(["-e", f]);
    }
    tshark_fields(file, &args)
        .into_iter()
        .map(|f| {
            let (secs, frac) = f[0].split_once('.').unwrap();
            let micros = secs.parse::<i64>().unwrap() * 1_000_000 + frac[..6].parse::<i64>().unwrap();
            TsharkProbe {
                micros,
                sa: Some(f[1].as_str()).filter(|s| !s.is_empty()).map(str::to_string),
                // Several values when later namespaces repeat per-chain signals: the first is the combined one.
                signal: f[2].split(',').next().filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()),
                bad_fcs: f.get(3).map(String::as_str) == Some("1"),
            }
        })
        .collect()
}

#[derive(Default)]
struct RefRow {
    signals: Vec<i64>,
    first: i64,
    last_micros: i64,
    last_signal: i64,
}

/// The reports the issue's rules give for these probes at this rate.
fn reference_reports(probes: &[TsharkProbe], rate_secs: u64, node: &str) -> Vec<Value> {
    let mut windows: Vec<BTreeMap<String, RefRow>> = vec![BTreeMap::new()];
    let rate = rate_secs as i64 * 1_000_000;
    let mut end = None;
    for p in probes {
        let e = *end.get_or_insert(p.micros + rate);
        // README: a frame four or more windows past the end of the current
        // window, or more than four windows before its start, is a clock
        // jump: one report for the window so far, and a new schedule that
        // starts at this frame.
        let jump = p.micros - e >= 4 * rate || (e - rate) - p.micros > 4 * rate;
        if jump {
            windows.push(BTreeMap::new());
            end = Some(p.micros + rate);
        } else if p.micros >= e {
            let n = (p.micros - e) / rate + 1;
            for _ in 0..n {
                windows.push(BTreeMap::new());
            }
            end = Some(e + n * rate);
        }
        let (Some(sa), Some(signal)) = (&p.sa, p.signal) else { continue };
        let group = u8::from_str_radix(&sa[..2], 16).unwrap() & 1 == 1;
        if p.bad_fcs || group {
            continue;
        }
        let secs = p.micros.div_euclid(1_000_000);
        let row = windows.last_mut().unwrap().entry(sa.clone()).or_insert_with(|| RefRow { first: secs, last_micros: i64::MIN, ..Default::default() });
        row.signals.push(signal);
        row.first = row.first.min(secs);
        // "Latest" by timestamp; equal timestamps: the later frame in the file.
        if p.micros >= row.last_micros {
            row.last_micros = p.micros;
            row.last_signal = signal;
        }
    }
    windows
        .into_iter()
        .map(|rows| {
            let list: Vec<Value> = rows
                .into_iter()
                .map(|(mac, r)| {
                    let mean = r.signals.iter().sum::<i64>() as f64 / r.signals.len() as f64;
                    json!({
                        "mac": mac,
                        "count": r.signals.len(),
                        "min_signal": r.signals.iter().min(),
                        "max_signal": r.signals.iter().max(),
                        "avg_signal": mean.round() as i64,
                        "last_seen_signal": r.last_signal,
                        "first_seen": r.first,
                        "last_seen": r.last_micros.div_euclid(1_000_000),
                        "associated": false,
                    })
                })
                .collect();
            json!({"network_id": 221234, "node_mac": node, "version": 1, "probe_requests": list})
        })
        .collect()
}

struct Run {
    reports: Vec<Value>,
    stderr: String,
    status: i32,
}

fn replay(file: &PathBuf, rate: &str) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_presenced"))
        .arg("-r")
        .arg(file)
        .args(["--stdout", "--no-hostapd", "--node-mac", "ac:86:74:82:9a:30", "--network-id", "221234", "--rate", rate])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    Run {
        reports: stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        status: out.status.code().unwrap_or(-1),
    }
}

fn check(file: &PathBuf, rate_secs: u64) -> (usize, usize, usize) {
    let probes = tshark_probes(file);
    let expected = reference_reports(&probes, rate_secs, "AC:86:74:82:9A:30");
    let run = replay(file, &rate_secs.to_string());
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(run.reports.len(), expected.len(), "{name} at rate {rate_secs}: number of reports\n{}", run.stderr);
    for (i, (got, want)) in run.reports.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "{name} at rate {rate_secs}: report {i} differs\n{}", run.stderr);
    }
    // The frame counts of the log lines add up to what tshark calls probe requests.
    let frames: usize = run
        .stderr
        .lines()
        .filter_map(|l| l.split(" frames,").next()?.rsplit(' ').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(frames, probes.len(), "{name}: frames in the log lines\n{}", run.stderr);
    let cut_short = name.contains("playstation4");
    assert_eq!(run.status, if cut_short { 1 } else { 0 }, "{name}: exit status\n{}", run.stderr);
    if cut_short {
        assert!(run.stderr.contains("is damaged after 2 frames"), "{}", run.stderr);
    }
    let clients: usize = expected.iter().map(|r| r["probe_requests"].as_array().unwrap().len()).sum();
    (probes.len(), clients, expected.len())
}

#[test]
fn every_shared_capture_in_one_report_matches_tshark() {
    for file in captures() {
        let (frames, clients, reports) = check(&file, u32::MAX as u64);
        assert_eq!(reports, 1);
        eprintln!("{}: {frames} probe requests, {clients} clients", file.display());
    }
}

#[test]
fn every_shared_capture_cut_into_windows_matches_tshark() {
    for file in captures() {
        for rate in [1, 10, 60] {
            let (_, _, reports) = check(&file, rate);
            assert!(reports >= 1);
        }
    }
}

#[test]
fn a_capture_of_another_link_type_is_refused_by_name() {
    let file = shared_data().join("radiotap-suite/pcap4j/Dot11ProbeRequestPacketTest.pcap");
    let run = replay(&file, "30");
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("has link type IEEE802_11 (105), not IEEE802_11_RADIO (127)"), "{}", run.stderr);
    assert!(run.reports.is_empty());
}

#[test]
fn a_missing_file_is_named() {
    let run = replay(&PathBuf::from("/nonexistent/x.pcap"), "30");
    assert_eq!(run.status, 1);
    assert!(run.stderr.contains("cannot read /nonexistent/x.pcap"), "{}", run.stderr);
}

#[test]
fn a_pcapng_file_gives_the_same_reports_as_its_pcap() {
    // editcap (from tshark's package) rewrites the file as pcapng: the frames
    // and timestamps stay, the container changes.
    let pcap = shared_data().join("captures/esp32-sc6-61-2023-04-13.pcap");
    let pcapng = std::env::temp_dir().join(format!("presenced-replay-{}.pcapng", std::process::id()));
    let status = Command::new("editcap").args(["-F", "pcapng"]).arg(&pcap).arg(&pcapng).status()
        .expect("editcap (package tshark) converts the capture");
    assert!(status.success());
    let from_pcapng = replay(&pcapng, "60");
    let from_pcap = replay(&pcap, "60");
    std::fs::remove_file(&pcapng).unwrap();
    assert_eq!(from_pcapng.status, 0, "{}", from_pcapng.stderr);
    assert!(from_pcap.reports.len() > 100);
    assert_eq!(from_pcapng.reports, from_pcap.reports);
}
