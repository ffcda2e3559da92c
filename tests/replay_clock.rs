//! A replay whose capture clock jumps: one frame a year ahead, then the
//! normal clock again. Expected reports by hand from the rule in README
//! ("Reports are then cut on the capture's own timestamps"): a frame four or
//! more windows past the current window, or more than four before it, closes
//! that window and starts the schedule afresh at itself; quieter gaps give
//! empty windows.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use presenced::wire::mac::MacAddr;
use serde_json::{json, Value};
use support::frames::probe_request;
use support::TempDir;

const T0: i64 = 1_700_000_000;
const YEAR: i64 = 365 * 86_400;

fn mac(s: &str) -> MacAddr {
    s.parse().unwrap()
}

fn row(m: &str, signals: &[i64], first: i64, last: i64) -> Value {
    let mean = signals.iter().sum::<i64>() as f64 / signals.len() as f64;
    json!({
        "mac": m, "count": signals.len(),
        "min_signal": signals.iter().min(), "max_signal": signals.iter().max(),
        "avg_signal": mean.round() as i64, "last_seen_signal": signals.last(),
        "first_seen": first, "last_seen": last, "associated": false,
    })
}

#[test]
fn a_timestamp_a_year_off_gets_a_report_of_its_own_and_no_empty_ones() {
    let (a, b, c) = ("02:00:00:00:0a:01", "02:00:00:00:0b:01", "02:00:00:00:0c:01");
    let frames = vec![
        (T0, 0, probe_request(mac(a), -40, 1)),
        (T0 + 3, 0, probe_request(mac(a), -50, 2)),
        (T0 + 12, 0, probe_request(mac(b), -60, 3)),
        // A year ahead: a jump.
        (T0 + YEAR, 0, probe_request(mac(c), -70, 4)),
        // Back to the normal clock: a jump again.
        (T0 + 25, 0, probe_request(mac(a), -55, 5)),
        (T0 + 26, 0, probe_request(mac(b), -65, 6)),
        // 35 s past the window [T0+25, T0+35): a quiet spell, not a jump.
        (T0 + 70, 0, probe_request(mac(b), -66, 7)),
    ];
    let dir = TempDir::new("replay-clock");
    let file = dir.path().join("jump.pcap");
    support::data::write_radiotap_pcap(&file, &frames);
    let child = Command::new(env!("CARGO_BIN_EXE_presenced"))
        .args(["-r", file.to_str().unwrap(), "--stdout", "--node-mac", "02:00:00:00:00:01", "--no-hostapd", "--rate", "10"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = support::wait_with_timeout(child, Duration::from_secs(60));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let reports: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["probe_requests"].clone())
        .collect();
    let expected = vec![
        // [T0, T0+10)
        json!([row(a, &[-40, -50], T0, T0 + 3)]),
        // [T0+10, T0+20), closed by the jump
        json!([row(b, &[-60], T0 + 12, T0 + 12)]),
        // the year-ahead frame alone, closed by the jump back
        json!([row(c, &[-70], T0 + YEAR, T0 + YEAR)]),
        // [T0+25, T0+35)
        json!([row(a, &[-55], T0 + 25, T0 + 25), row(b, &[-65], T0 + 26, T0 + 26)]),
        // [T0+35, T0+65): three empty windows
        json!([]),
        json!([]),
        json!([]),
        // [T0+65, T0+75), sent at the end of the file
        json!([row(b, &[-66], T0 + 70, T0 + 70)]),
    ];
    assert_eq!(reports, expected, "{log}");
    assert_eq!(log.matches("the capture clock jumps ahead by 364 days at frame 4").count(), 1, "{log}");
    assert_eq!(log.matches("the capture clock jumps back by 364 days at frame 5").count(), 1, "{log}");
    assert_eq!(log.matches("warning").count(), 2, "{log}");
}
