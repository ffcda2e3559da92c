//! Growing by processes: two presenced-server processes on one PostgreSQL,
//! taking reports round robin over HTTP, against one process on a database
//! of its own fed the same reports: the same dashboard (every chart's CSV,
//! per network and per access point, by hour and by day), the same query
//! API answers, the same webhook events (each delivered once across both);
//! a nonce used on one refused on the other. And a process killed with
//! SIGKILL in the middle of ingest (on PostgreSQL and on SQLite): every
//! report answered 200 is stored whole, no report is stored in part, and
//! once restarted and sent what was not acknowledged it shows what one
//! process fed every report once shows.
//!
//! The expected answers are the single process's: the claim under test is
//! that more processes change nothing. The figures themselves are checked
//! against hand computation and a second implementation in analytics.rs.
//! Processes are started and killed by PID.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    api_code, api_get, expected_csv_prefix, get, python_hmac_sha256_lines, report_body, synthetic_days, try_post, HookSink, Postgres,
    RowSpec, Server, TempDir, AP1, DAY, MON,
};

const NET: u64 = 221234;
const NET_KEY: &[u8] = b"two-servers-key";
const SECRET: &[u8] = b"two-servers-secret";
/// API keys of the config: one per request, so that no request waits for
/// the rate of one a second per key.
const API_KEYS: usize = 40;
const CHARTS: [&str; 6] = ["occupancy", "visitors", "capture", "dwell", "new_repeat", "randomized"];

/// A config of network NET at +01:00 with a webhook to `hook_url` and the
/// API keys pk_0..; written into `dir` under `name`.
fn config(dir: &Path, name: &str, hook_url: &str) -> String {
    std::fs::write(dir.join("net.key"), NET_KEY).unwrap();
    std::fs::write(dir.join("api.secret"), SECRET).unwrap();
    let mut toml = format!(
        "[[network]]\nid = {NET}\nname = \"Main street\"\nkey_file = \"net.key\"\ntimezone_offset = \"+01:00\"\n\
         [[network.webhook]]\nurl = \"{hook_url}\"\nretries = 20\nbackoff_ms = 200\ntimeout_ms = 5000\n"
    );
    for i in 0..API_KEYS {
        toml.push_str(&format!("[[api_key]]\npublic = \"pk_{i}\"\nsecret_file = \"api.secret\"\n"));
    }
    let path = dir.join(name);
    std::fs::write(&path, toml).unwrap();
    path.to_str().unwrap().to_string()
}

/// Signs API requests with a fresh key and nonce each time.
struct ApiClient {
    next: AtomicU64,
}

impl ApiClient {
    fn get(&self, addr: SocketAddr, endpoint_and_query: &str) -> Value {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let key = format!("pk_{}", n as usize % API_KEYS);
        let uri = format!("/service/api/v1/{endpoint_and_query}&nonce={}", 1_000_000 + n);
        let r = api_get(addr, &key, SECRET, &uri);
        assert_eq!((r.status, api_code(&r)), (200, 0), "{uri}: {}", r.text());
        let mut v: Value = serde_json::from_slice(&r.body).unwrap();
        v["result"].take()
    }
}

/// The dashboard's CSVs of `addr`: every chart, network and `node_mac`, by hour
/// over Monday and by day over the three days (local time, +01:00).
fn dashboard(addr: SocketAddr, node_mac: &str) -> BTreeMap<String, String> {
    let node = format!("&node_mac={}", node_mac.replace(':', "%3A"));
    let mut out = BTreeMap::new();
    let ranges = ["bucket=hour&since=2026-11-30T00%3A00&until=2026-12-01T00%3A00", "bucket=day&since=2026-11-30T00%3A00&until=2026-12-03T00%3A00"];
    for chart in CHARTS {
        for range in ranges {
            for node in ["", node.as_str()] {
                let path = format!("/dashboard.csv?chart={chart}&network_id={NET}&{range}{node}");
                let r = get(addr, &path);
                assert_eq!(r.status, 200, "{path}: {}", r.text());
                out.insert(path, r.text());
            }
        }
    }
    out
}

/// The query API's answers of `addr` over the three days.
fn api_answers(api: &ApiClient, addr: SocketAddr, node_mac: &str) -> BTreeMap<String, Value> {
    let channel = format!("&channel_id={}", node_mac.replace(':', "%3A"));
    let range = format!("location_id={NET}&since={}&until={}", MON, MON + 3 * DAY);
    let mut out = BTreeMap::new();
    for endpoint in ["events", "totals/types", "totals/triggers", "histograms"] {
        for channel in ["", channel.as_str()] {
            let what = format!("{endpoint}?{range}{channel}&limit=1000");
            out.insert(what.clone(), api.get(addr, &what));
        }
    }
    out
}

fn row_of(mac: &str, first: i64, last: i64, max: i32, associated: bool) -> RowSpec {
    RowSpec { mac: mac.into(), count: 2, min: max - 8, max, avg: max - 4, last: max - 1, first_seen: first, last_seen: last, associated }
}

#[test]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
fn two_processes_on_one_postgresql_answer_as_one() {
    let dir = TempDir::new("two-servers");
    let (shared_pg, own_pg) = (Postgres::start("two-shared"), Postgres::start("two-own"));
    let (two_sink, one_sink) = (HookSink::start(), HookSink::start());
    let two_config = config(dir.path(), "two.toml", &two_sink.url());
    let one_config = config(dir.path(), "one.toml", &one_sink.url());
    let servers = [
        Server::start(&["--database", &shared_pg.url, "--config", &two_config], None),
        Server::start(&["--database", &shared_pg.url, "--config", &two_config], None),
    ];
    let single = Server::start(&["--database", &own_pg.url, "--config", &one_config], None);

    // Each sighting of the hand-worked days as a report of its own, in the
    // order its access point would have sent them.
    let mut sights = synthetic_days();
    sights.sort_by_key(|s| (s.3, s.2, s.1));
    let bodies: Vec<String> = sights
        .iter()
        .map(|(node, mac, first, last, max, associated)| report_body(NET, node, &[row_of(mac, *first, *last, *max, *associated)]))
        .collect();
    let signatures = python_hmac_sha256_lines(NET_KEY, &bodies);
    for (k, (body, signature)) in bodies.iter().zip(&signatures).enumerate() {
        for addr in [servers[k % 2].addr, single.addr] {
            let r = try_post(addr, "/presence", signature, body.as_bytes()).unwrap();
            assert_eq!(r.status, 200, "report {k}: {}", r.text());
        }
    }

    let expected = dashboard(single.addr, AP1);
    assert!(expected.values().any(|csv| csv.lines().skip(1).any(|l| l.split(',').skip(1).any(|c| c != "0" && !c.is_empty()))), "the reference dashboard shows nothing: {expected:?}");
    for s in &servers {
        assert_eq!(dashboard(s.addr, AP1), expected, "process {}", s.pid());
    }
    let api = ApiClient { next: AtomicU64::new(0) };
    let expected = api_answers(&api, single.addr, AP1);
    assert!(!expected["events?location_id=221234&since=1795996800&until=1796256000&limit=1000"].as_array().unwrap().is_empty());
    for s in &servers {
        assert_eq!(api_answers(&api, s.addr, AP1), expected, "process {}", s.pid());
    }

    // A signed URI used on one process is refused on the other.
    let uri = "/service/api/v1/locations?nonce=5000000";
    assert_eq!(api_code(&api_get(servers[0].addr, "pk_0", SECRET, uri)), 0);
    let again = api_get(servers[1].addr, "pk_0", SECRET, uri);
    assert_eq!((again.status, api_code(&again)), (401, 3), "{}", again.text());
    drop(servers);
    drop(single);
}

/// One report of the kill test: access point `ap` (of 4), window `w` of 30 s
/// from Monday 10:00 UTC, 50 clients of a pool of 80 that come and go.
fn kill_test_report(ap: u32, w: u32) -> (String, String, Vec<RowSpec>) {
    let node = format!("AC:86:74:00:01:{ap:02X}");
    let start = MON + 10 * 3600 + i64::from(w) * 30;
    let rows: Vec<RowSpec> = (0..50u32)
        .map(|i| {
            let c = (i + 3 * w + 7 * ap) % 80;
            let mac = if c % 10 == 9 { format!("da:00:00:00:{ap:02x}:{c:02x}") } else { format!("00:1c:00:00:{ap:02x}:{c:02x}") };
            row_of(&mac, start + i64::from(c % 7), start + 20 + i64::from(c % 9), -45 - (c % 40) as i32, c % 5 == 0)
        })
        .collect();
    let body = report_body(NET, &node, &rows);
    (node, body, rows)
}

/// What `addr` exports: each row's line up to `received_at` (which is the
/// server's clock), counted.
fn exported_rows(addr: SocketAddr) -> BTreeMap<String, usize> {
    let r = get(addr, "/export.csv");
    assert_eq!(r.status, 200, "{}", r.text());
    let mut out = BTreeMap::new();
    for line in r.text().lines().skip(1) {
        let prefix = &line[..line.rfind(',').unwrap() + 1];
        *out.entry(prefix.to_string()).or_insert(0) += 1;
    }
    out
}

fn sigkill_mid_ingest(database: &str, dir: &TempDir) {
    const APS: u32 = 4;
    const WINDOWS: u32 = 40;
    let sink = HookSink::start();
    let own_sink = HookSink::start();
    let config_path = config(dir.path(), "kill.toml", &sink.url());
    let own_config = config(dir.path(), "own.toml", &own_sink.url());
    let reports: Vec<Vec<(String, String, Vec<RowSpec>)>> = (0..APS).map(|ap| (0..WINDOWS).map(|w| kill_test_report(ap, w)).collect()).collect();
    let signatures: Vec<Vec<String>> =
        reports.iter().map(|of_ap| python_hmac_sha256_lines(NET_KEY, &of_ap.iter().map(|r| r.1.clone()).collect::<Vec<_>>())).collect();

    let server = Server::start(&["--database", database, "--config", &config_path], None);
    let addr = server.addr;
    // One thread per access point posts its reports in order until a POST
    // fails; what was answered 200 is noted.
    let acknowledged: Arc<Mutex<Vec<(u32, u32)>>> = Arc::new(Mutex::new(Vec::new()));
    let answered = Arc::new(AtomicU64::new(0));
    let posters: Vec<_> = (0..APS)
        .map(|ap| {
            let signed: Vec<(String, String)> =
                reports[ap as usize].iter().map(|r| r.1.clone()).zip(signatures[ap as usize].iter().cloned()).collect();
            let (acknowledged, answered) = (acknowledged.clone(), answered.clone());
            std::thread::spawn(move || {
                for (w, (body, signature)) in signed.iter().enumerate() {
                    match support::try_post(addr, "/presence", signature, body.as_bytes()).map(|r| r.status) {
                        Ok(200) => {
                            acknowledged.lock().unwrap().push((ap, w as u32));
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    // Killed once about half the reports are answered, the others in flight.
    let until = Instant::now() + Duration::from_secs(120);
    while answered.load(Ordering::SeqCst) < u64::from(APS * WINDOWS / 2) {
        assert!(Instant::now() < until, "fewer than half the reports answered within 120 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = std::process::Command::new("kill").args(["-KILL", &server.pid().to_string()]).status().unwrap();
    assert!(status.success());
    for p in posters {
        p.join().unwrap();
    }
    drop(server);
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!((acknowledged.len() as u32) < APS * WINDOWS, "the kill came after every report was answered");

    let server = Server::start(&["--database", database, "--config", &config_path], None);
    let stored = exported_rows(server.addr);
    let mut unaccounted = stored.clone();
    for ap in 0..APS {
        for w in 0..WINDOWS {
            let (node, _, rows) = &reports[ap as usize][w as usize];
            let present = rows.iter().filter(|r| stored.contains_key(&expected_csv_prefix(NET, node, r))).count();
            let acked = acknowledged.contains(&(ap, w));
            assert!(present == 0 || present == rows.len(), "report {ap}/{w} stored in part: {present} of {} rows", rows.len());
            assert!(!acked || present == rows.len(), "report {ap}/{w} was answered 200 but is not stored");
            for r in rows.iter().filter(|_| present > 0) {
                let line = expected_csv_prefix(NET, node, r);
                assert_eq!(stored[&line], 1, "stored twice: {line}");
                unaccounted.remove(&line);
            }
        }
    }
    assert!(unaccounted.is_empty(), "rows stored that no report sent: {unaccounted:?}");

    // Then the access points send what was not acknowledged (an agent's
    // spool would); the result is what one process fed every report once shows.
    let own = Server::start(&["--database", &dir.path().join("own.sqlite").to_string_lossy(), "--config", &own_config], None);
    for ap in 0..APS {
        for w in 0..WINDOWS {
            let (body, signature) = (&reports[ap as usize][w as usize].1, &signatures[ap as usize][w as usize]);
            if !acknowledged.contains(&(ap, w)) {
                let r = try_post(server.addr, "/presence", signature, body.as_bytes()).unwrap();
                assert_eq!(r.status, 200, "{}", r.text());
            }
            let r = try_post(own.addr, "/presence", signature, body.as_bytes()).unwrap();
            assert_eq!(r.status, 200, "{}", r.text());
        }
    }
    assert_eq!(exported_rows(server.addr), exported_rows(own.addr));
    let node = &reports[0][0].0;
    assert_eq!(dashboard(server.addr, node), dashboard(own.addr, node));
    let api = ApiClient { next: AtomicU64::new(0) };
    assert_eq!(api_answers(&api, server.addr, node), api_answers(&api, own.addr, node));
}

#[test]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
fn sigkill_mid_ingest_on_postgresql_loses_nothing_answered() {
    let pg = Postgres::start("kill");
    let dir = TempDir::new("kill-pg");
    sigkill_mid_ingest(&pg.url, &dir);
}

#[test]
fn sigkill_mid_ingest_on_sqlite_loses_nothing_answered() {
    let dir = TempDir::new("kill-sqlite");
    let db = dir.path().join("kill.sqlite");
    sigkill_mid_ingest(db.to_str().unwrap(), &dir);
}

