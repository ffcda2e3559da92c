//! `--spool-bytes`: reports a server did not take, kept as they were signed
//! and sent again. Against report_server.py, which checks every Signature
//! with Python's hmac and numbers the POSTs in the order they arrive.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::daemon_process::DaemonProcess;
use support::report_server::ReportServer;
use support::TempDir;

const KEY: &str = "spool test key";
/// The capture at rate 3600: 23 windows, of 200 to 2300 bytes.
const CAPTURE: &str = "captures/esp32-sc6-61-2024-03-31.pcap";
/// procd's `term_timeout`: presenced must be gone by then.
const PROCD_KILLS_AFTER: Duration = Duration::from_secs(5);

struct Replay {
    /// Every report body, in window order, as printed on stdout.
    bodies: Vec<String>,
    stderr: String,
}

fn replay(url: &str, extra: &[&str]) -> Replay {
    let file = support::data::shared_data().join(CAPTURE);
    let child = Command::new(env!("CARGO_BIN_EXE_presenced"))
        .arg("-r")
        .arg(&file)
        .args(["--url", url, "--stdout", "--no-hostapd", "--node-mac", "02:00:00:00:00:01", "--rate", "3600"])
        .args(extra)
        .env("PRESENCED_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A liveness bound: a POST that never returned would hang here.
    let out = support::wait_with_timeout(child, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let bodies = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
    Replay { bodies, stderr }
}

fn accepted(records: &[Value]) -> Vec<&Value> {
    records.iter().filter(|r| r["status"] == 200).collect()
}

#[test]
fn a_server_away_for_three_reports_gets_each_report_exactly_once_in_order_as_signed() {
    let dir = TempDir::new("spool-away");
    let server = ReportServer::start(dir.path(), KEY, &["--fail-first", "3"]);
    let run = replay(&server.url(), &["--spool-bytes", "262144"]);
    assert!(run.bodies.len() >= 20, "{} windows", run.bodies.len());
    // The resender's last POSTs may still be on their way when stdout ends:
    // presenced exits only after them, so the log is complete now.
    let records = server.records();
    let taken = accepted(&records);
    assert!(records.iter().all(|r| r["signature_ok"] == true), "a Signature Python's hmac does not confirm");

    // Each window's body reached the server with a 200 exactly once.
    let mut got: Vec<&str> = taken.iter().map(|r| r["body"].as_str().unwrap()).collect();
    let mut want: Vec<&str> = run.bodies.iter().map(String::as_str).collect();
    assert_eq!(got.len(), want.len(), "{}", run.stderr);
    got.sort();
    want.sort();
    assert_eq!(got, want);

    // The first three were refused (503) and spooled; the fourth window found
    // the server back, and the three followed, oldest first, each with the
    // very Signature of its first attempt.
    let refused: Vec<&Value> = records.iter().filter(|r| r["status"] == 503).collect();
    assert_eq!(refused.len(), 3);
    for (i, r) in refused.iter().enumerate() {
        assert_eq!(r["body"].as_str().unwrap(), run.bodies[i], "POST {} was window {i}", r["number"]);
    }
    let position = |body: &str| taken.iter().position(|r| r["body"] == body).unwrap();
    let fourth = position(&run.bodies[3]);
    let resent: Vec<usize> = (0..3).map(|i| position(&run.bodies[i])).collect();
    assert!(fourth < resent[0] && resent[0] < resent[1] && resent[1] < resent[2], "order {fourth} {resent:?}");
    for (i, r) in refused.iter().enumerate() {
        assert_eq!(taken[resent[i]]["signature"], r["signature"], "window {i} re-signed");
    }
    assert_eq!(run.stderr.matches("report spooled: the server answered HTTP 503").count(), 3, "{}", run.stderr);
    assert_eq!(run.stderr.matches("spooled report sent").count(), 3, "{}", run.stderr);
    assert!(!run.stderr.contains("not sent"), "{}", run.stderr);
}

/// The spool's rule, written again here: each report costs its body and
/// its 64-character Signature; a new one pushes out the oldest while the sum
/// would pass the limit. Returns (dropped, kept at the end).
fn naive_spool(sizes: &[usize], limit: usize) -> (usize, usize) {
    let mut held: Vec<usize> = Vec::new();
    let mut dropped = 0;
    for &s in sizes {
        let cost = s + 64;
        if cost > limit {
            dropped += 1;
            continue;
        }
        while held.iter().sum::<usize>() + cost > limit {
            held.remove(0);
            dropped += 1;
        }
        held.push(cost);
    }
    (dropped, held.len())
}

#[test]
fn a_full_spool_drops_the_oldest_with_a_warning_and_a_count() {
    let dir = TempDir::new("spool-full");
    // Never takes a report: nothing is ever sent again.
    let server = ReportServer::start(dir.path(), KEY, &["--status", "503"]);
    let limit = 8192;
    let run = replay(&server.url(), &["--spool-bytes", &limit.to_string()]);
    let sizes: Vec<usize> = run.bodies.iter().map(String::len).collect();
    let (dropped, kept) = naive_spool(&sizes, limit);
    assert!(dropped >= 5 && kept >= 2, "{dropped} {kept}");
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.contains("warning: spool full (8192 bytes)")).collect();
    assert!(!warnings.is_empty(), "{}", run.stderr);
    let last = warnings.last().unwrap();
    assert!(last.ends_with(&format!("; {dropped} dropped so far")), "{last}\nexpected {dropped}");
    assert!(
        run.stderr.contains(&format!("stopping: {kept} spooled report(s) (")),
        "expected {kept} left:\n{}",
        run.stderr
    );
    assert_eq!(accepted(&server.records()).len(), 0);
}

/// A spool full of reports, one of them on its way again and the current
/// window's POST too, both to a server that never answers: SIGTERM still
/// ends presenced with status 0 within the shutdown budget.
#[test]
fn sigterm_with_a_full_spool_and_hanging_posts_keeps_the_shutdown_budget() {
    let dir = TempDir::new("spool-sigterm");
    // POSTs 1-3: 503 (spooled); 4: 200 (the re-sends start); 5 on: no answer.
    let server = ReportServer::start(dir.path(), KEY, &["--fail-first", "3", "--hang-after", "5"]);
    let file = support::data::shared_data().join(CAPTURE);
    let url = server.url();
    let mut daemon = DaemonProcess::start(
        &["-r", file.to_str().unwrap(), "--url", &url, "--rate", "600", "--node-mac", "02:00:00:00:00:01", "--no-hostapd", "--spool-bytes", "65536"],
        KEY,
    );
    daemon.wait_for_log("HTTP 200", Duration::from_secs(30));
    // The re-send that the 200 started is in flight, unanswered (a fixed
    // sleep here was not always enough on a loaded machine).
    server.wait_for_hanging(1, Duration::from_secs(30));
    let signalled = Instant::now();
    let status = daemon.terminate(PROCD_KILLS_AFTER);
    let took = signalled.elapsed();
    let log = daemon.log.text();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("report spooled"), "{log}");
    assert!(log.contains("SIGTERM: stopping"), "{log}");
    assert!(
        log.contains("stopping: the shutdown budget (3 s) is spent") || log.contains("stopped: the shutdown budget ran out"),
        "{log}"
    );
    eprintln!("exit {took:?} after SIGTERM\n{log}");
}
