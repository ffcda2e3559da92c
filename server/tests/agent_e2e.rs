//! End to end with the real access point software: `presenced` replays a
//! shared capture and POSTs its signed reports into presenced-server (on
//! SQLite and on PostgreSQL); the rows the server exports must be exactly
//! the rows presenced sent. What was sent is read from presenced's own
//! `--stdout` copy of each body, parsed by Python's json module (not by
//! the report crate both sides share).
//!
//! Needs the agent's release build (`make test-server` builds it first).

mod support;

use std::process::Command;

use support::{agent, get, run_with_stdin, shared_capture, Postgres, Server, TempDir};

/// One line per row of every report body on stdin, in the export's column
/// order, computed by Python.
const PY_ROWS: &str = r#"
import json, sys
reports = 0
for line in sys.stdin:
    if not line.strip():
        continue
    r = json.loads(line)
    reports += 1
    for p in r["probe_requests"]:
        f = [r["network_id"], r["node_mac"], p["mac"], p["count"], p["min_signal"], p["max_signal"],
             p["avg_signal"], p["last_seen_signal"], p["first_seen"], p["last_seen"],
             "true" if p["associated"] else "false"]
        print(",".join(str(x) for x in f))
print("reports", reports)
"#;

fn replay_into(database: &str, tag: &str) {
    let dir = TempDir::new(tag);
    std::fs::write(dir.path().join("key"), "e2e-key\n").unwrap();
    let server = Server::start(&["--database", database, "--key-file", dir.path().join("key").to_str().unwrap()], None);
    let capture = shared_capture("esp32-sc6-61-2024-03-31.pcap");
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let out = Command::new(agent())
        .arg("-r")
        .arg(&capture)
        .args(["--url", &server.url("/presence"), "--stdout", "--no-hostapd"])
        .args(["--node-mac", "ac:86:74:82:9a:30", "--network-id", "221234", "--rate", "30"])
        .arg("--key-file")
        .arg(dir.path().join("key"))
        .arg("--run-dir")
        .arg(&run_dir)
        .env_remove("PRESENCED_KEY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "presenced failed: {stderr}\nserver log:\n{}", server.log());

    let py = String::from_utf8(run_with_stdin(Command::new("python3").args(["-c", PY_ROWS]), &out.stdout)).unwrap();
    let mut sent: Vec<String> = py.lines().map(str::to_string).collect();
    let reports: usize = sent.pop().unwrap().strip_prefix("reports ").unwrap().parse().unwrap();
    assert!(reports >= 3 && sent.len() >= 50, "the capture should give several reports: {reports} reports, {} rows", sent.len());

    let csv = get(server.addr, "/export.csv");
    assert_eq!(csv.status, 200);
    let mut stored: Vec<String> = csv
        .text()
        .lines()
        .skip(1)
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect();
    sent.sort();
    stored.sort();
    assert_eq!(stored.len(), sent.len(), "rows stored vs rows sent");
    assert_eq!(stored, sent);

    // Every report counted as a sign of life of that access point.
    let aps = get(server.addr, "/access-points").text();
    let row = aps.split("<tr data-node=\"AC:86:74:82:9A:30\">").nth(1).expect("listed").split("</tr>").next().unwrap();
    assert!(row.contains(&format!("<td class=\"num\">{reports}</td>")), "{reports} reports: {row}");
    assert!(row.contains("<td class=\"num failures\">0</td>"), "{row}");
}

#[test]
fn agent_reports_stored_exactly_sqlite() {
    let dir = TempDir::new("e2e-sqlite-db");
    replay_into(dir.path().join("rows.sqlite").to_str().unwrap(), "e2e-sqlite");
}

#[test]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
fn agent_reports_stored_exactly_postgres() {
    let pg = Postgres::start("e2e");
    replay_into(&pg.url, "e2e-postgres");
}
