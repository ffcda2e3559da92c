//! Webhooks from the stored state: a server killed with SIGKILL in the
//! middle of open visits, with an event on its way, and started again on the
//! same database sends every event once, in order, without starting the
//! visits afresh; two processes on one PostgreSQL taking reports round
//! robin send each event once, in order, to one endpoint.
//!
//! And a backfill (reports of 2020 sent in order) killed half way: its
//! visits are closed by the network's own clock (the rows' times, kept in
//! the database), not by the server's, so the restarted process tells the
//! leaves when the next old report passes them, once.
//!
//! The expected events are worked out by hand below from the rows (the
//! analytics' rules: 15 min timeout, a visitor after 5 min at -75 dBm or
//! better; occupancy per network and per access point where the client was
//! last seen). The rows end near the test's clock, so no visit closes and no
//! access point (each sends one report, no interval yet) falls silent while
//! the test runs: which events exist does not depend on the machine's speed.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{get, post_signed, python_pseudonym, report_body, HookSink, Postgres, RowSpec, Server, TempDir};

const NET: u64 = 31;
const NET_KEY: &[u8] = b"outbox-net-key";

fn config(dir: &Path, hook_url: &str) -> String {
    std::fs::write(dir.join("net.key"), NET_KEY).unwrap();
    let path = dir.join("server.toml");
    std::fs::write(
        &path,
        format!("[[network]]\nid = {NET}\nkey_file = \"net.key\"\n[[network.webhook]]\nurl = \"{hook_url}\"\nretries = 20\nbackoff_ms = 100\ntimeout_ms = 5000\n"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn ap(k: u32) -> String {
    format!("AC:86:74:00:02:{k:02X}")
}

fn row(mac: &str, first: i64, last: i64, max: i32) -> RowSpec {
    RowSpec { mac: mac.into(), count: 2, min: max - 8, max, avg: max - 4, last: max - 1, first_seen: first, last_seen: last, associated: false }
}

fn send(addr: SocketAddr, node: &str, rows: &[RowSpec]) {
    let r = post_signed(addr, "/presence", NET_KEY, report_body(NET, node, rows).as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(Instant::now() < until, "{what}: not within 90 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn delivered(addr: SocketAddr) -> u64 {
    let v: Value = serde_json::from_slice(&get(addr, "/webhooks.json").body).unwrap();
    v["endpoints"][0]["delivered"].as_u64().unwrap()
}

/// (sequence, event_type, channel_id, object_id, origin, occupancy)
type Summary = (u64, String, Value, Value, Value, Value);

fn summary(events: &[Value]) -> Vec<Summary> {
    events
        .iter()
        .map(|e| {
            (
                e["sequence"].as_u64().unwrap(),
                e["event_type"].as_str().unwrap().to_string(),
                e["channel_id"].clone(),
                e["object_id"].clone(),
                e["origin"].clone(),
                e["occupancy"].clone(),
            )
        })
        .collect()
}

fn join(seq: u64, node: &str, mac: &str, origin: &str) -> Summary {
    (seq, "RegionJoin".into(), Value::from(node), Value::from(python_pseudonym(NET_KEY, mac)), Value::from(origin), Value::Null)
}

fn leave(seq: u64, node: &str, mac: &str, origin: &str) -> Summary {
    (seq, "RegionLeave".into(), Value::from(node), Value::from(python_pseudonym(NET_KEY, mac)), Value::from(origin), Value::Null)
}

fn occupancy(seq: u64, node: Option<&str>, n: u64) -> Summary {
    (seq, "OccupancyChanged".into(), node.map_or(Value::Null, Value::from), Value::Null, Value::Null, Value::from(n))
}

#[test]
fn sigkill_with_visits_open_loses_and_repeats_nothing_sqlite() {
    let dir = TempDir::new("outbox-restart");
    let db = dir.path().join("rows.sqlite");
    sigkill_with_visits_open_and_an_event_on_its_way(db.to_str().unwrap(), &dir);
}

/// On PostgreSQL the killed process held the endpoint's progress row
/// locked while retrying: its death releases it for the next process.
#[test]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
fn sigkill_with_visits_open_loses_and_repeats_nothing_postgres() {
    let dir = TempDir::new("outbox-restart-pg");
    let pg = Postgres::start("outbox-restart");
    sigkill_with_visits_open_and_an_event_on_its_way(&pg.url, &dir);
}

fn sigkill_with_visits_open_and_an_event_on_its_way(database: &str, dir: &TempDir) {
    let sink = HookSink::start();
    let config = config(dir.path(), &sink.url());
    let args = ["--database", database, "--config", config.as_str()];
    let n = now();
    let (a, b, c, d) = ("00:1c:00:00:00:01", "00:1c:00:00:00:02", "00:1c:00:00:00:03", "da:1c:00:00:00:04");

    let server = Server::start(&args, None);
    // A 590 s at -50: a visitor at once; B 10 s: a passerby.
    send(server.addr, &ap(1), &[row(a, n - 600, n - 10, -50), row(b, n - 100, n - 90, -60)]);
    wait_until("the first report's four events", || sink.events().len() >= 4);
    // Then the endpoint fails: the next events wait in the outbox, the
    // first of them claimed and being retried when the process is killed.
    sink.refuse(true);
    // A moves to AP2 (no new join: the same visit), C joins.
    send(server.addr, &ap(2), &[row(a, n - 5, n, -50), row(c, n - 5, n, -55)]);
    wait_until("an attempt of the fifth event refused", || sink.refused() >= 1);
    let status = std::process::Command::new("kill").args(["-KILL", &server.pid().to_string()]).status().unwrap();
    assert!(status.success());
    drop(server);
    sink.refuse(false);

    let server = Server::start(&args, None);
    // B, still open (its last sighting 88 s before: within the timeout),
    // seen at AP3: no join; D (randomized) joins.
    send(server.addr, &ap(3), &[row(b, n - 2, n, -60), row(d, n - 3, n, -80)]);
    wait_until("eight events", || sink.events().len() >= 8);
    // The restarted process sent 5 to 8; once it counts them all, nothing
    // else is on its way that could come before them.
    wait_until("four delivered by the restarted process", || delivered(server.addr) >= 4);
    assert_eq!(delivered(server.addr), 4);

    let expected = [
        join(1, &ap(1), a, "Visitor"),
        join(2, &ap(1), b, "Passerby"),
        occupancy(3, None, 1),
        occupancy(4, Some(&ap(1)), 1),
        join(5, &ap(2), c, "Passerby"),
        occupancy(6, Some(&ap(1)), 0),
        occupancy(7, Some(&ap(2)), 1),
        join(8, &ap(3), d, "Passerby"),
    ];
    let events = sink.events();
    assert_eq!(summary(&events), expected);
    assert_eq!(events[7]["suborigin"], "Randomized");
    drop(server);
}

#[test]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
fn two_processes_on_one_postgresql_send_each_event_once_in_order() {
    let dir = TempDir::new("outbox-two");
    let pg = Postgres::start("outbox-two");
    let sink = HookSink::start();
    let config = config(dir.path(), &sink.url());
    let servers = [
        Server::start(&["--database", &pg.url, "--config", &config], None),
        Server::start(&["--database", &pg.url, "--config", &config], None),
    ];
    let n = now();
    let (a, b, c) = ("00:1c:00:00:01:01", "00:1c:00:00:01:02", "da:1c:00:00:01:03");
    let reports: [(u32, Vec<RowSpec>); 6] = [
        // A 300 s at -50: a visitor (5 min) at once.
        (0, vec![row(a, n - 600, n - 300, -50)]),
        // B 10 s: a passerby.
        (1, vec![row(b, n - 400, n - 390, -60)]),
        // A moves to AP2.
        (2, vec![row(a, n - 200, n - 100, -55)]),
        // B stays 350 s: now a visitor, at AP3.
        (3, vec![row(b, n - 380, n - 50, -60)]),
        // C (randomized) joins, a passerby.
        (4, vec![row(c, n - 30, n - 20, -80)]),
        // A moves to AP5.
        (5, vec![row(a, n - 10, n, -50)]),
    ];
    for (k, (node, rows)) in reports.iter().enumerate() {
        send(servers[k % 2].addr, &ap(*node), rows);
    }
    let expected = [
        join(1, &ap(0), a, "Visitor"),
        occupancy(2, None, 1),
        occupancy(3, Some(&ap(0)), 1),
        join(4, &ap(1), b, "Passerby"),
        occupancy(5, Some(&ap(0)), 0),
        occupancy(6, Some(&ap(2)), 1),
        occupancy(7, None, 2),
        occupancy(8, Some(&ap(3)), 1),
        join(9, &ap(4), c, "Passerby"),
        occupancy(10, Some(&ap(2)), 0),
        occupancy(11, Some(&ap(5)), 1),
    ];
    // Every 2xx counted by the process that got it: once the two counts
    // make the expected number, every delivery has been made.
    wait_until("eleven delivered across both", || servers.iter().map(|s| delivered(s.addr)).sum::<u64>() >= 11);
    assert_eq!(servers.iter().map(|s| delivered(s.addr)).sum::<u64>(), 11);
    assert_eq!(summary(&sink.events()), expected);
    drop(servers);
}

#[test]
fn a_backfill_killed_half_way_closes_its_visits_on_its_own_clock_sqlite() {
    let dir = TempDir::new("outbox-backfill");
    let db = dir.path().join("rows.sqlite");
    backfill_killed_half_way(db.to_str().unwrap(), &dir);
}

#[test]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
fn a_backfill_killed_half_way_closes_its_visits_on_its_own_clock_postgres() {
    let dir = TempDir::new("outbox-backfill-pg");
    let pg = Postgres::start("outbox-backfill");
    backfill_killed_half_way(&pg.url, &dir);
}

fn backfill_killed_half_way(database: &str, dir: &TempDir) {
    // 2020-10-12T14:00:00Z: years before the server's clock, which would
    // close every visit at its first tick.
    const T: i64 = 1_602_511_200;
    let sink = HookSink::start();
    let config = config(dir.path(), &sink.url());
    let args = ["--database", database, "--config", config.as_str()];
    let (a, b, c) = ("00:1c:00:00:02:01", "00:1c:00:00:02:02", "00:1c:00:00:02:03");

    let server = Server::start(&args, None);
    // A 800 s at -50: a visitor; the network's clock is T + 800.
    send(server.addr, &ap(1), &[row(a, T, T + 800, -50)]);
    // B 10 s: a passerby; the clock T + 1010 passes no visit's end by the
    // 900 s timeout (A's closes at T + 1700).
    send(server.addr, &ap(1), &[row(b, T + 1_000, T + 1_010, -50)]);
    wait_until("the first two reports' four events", || sink.events().len() >= 4);
    wait_until("four delivered", || delivered(server.addr) >= 4);
    let status = std::process::Command::new("kill").args(["-KILL", &server.pid().to_string()]).status().unwrap();
    assert!(status.success());
    drop(server);

    let server = Server::start(&args, None);
    // C 10 s: the clock T + 2010 passes A's end (T + 800) and B's (T + 1010)
    // by more than the timeout: both leave, in the order they ended, before
    // C's join; then no visitor is present.
    send(server.addr, &ap(1), &[row(c, T + 2_000, T + 2_010, -50)]);
    wait_until("nine events", || sink.events().len() >= 9);
    wait_until("five delivered by the restarted process", || delivered(server.addr) >= 5);
    assert_eq!(delivered(server.addr), 5);
    let expected = [
        join(1, &ap(1), a, "Visitor"),
        occupancy(2, None, 1),
        occupancy(3, Some(&ap(1)), 1),
        join(4, &ap(1), b, "Passerby"),
        leave(5, &ap(1), a, "Visitor"),
        leave(6, &ap(1), b, "Passerby"),
        join(7, &ap(1), c, "Passerby"),
        occupancy(8, None, 0),
        occupancy(9, Some(&ap(1)), 0),
    ];
    let events = sink.events();
    assert_eq!(summary(&events), expected);
    assert_eq!((&events[4]["dwell_seconds"], &events[5]["dwell_seconds"]), (&Value::from(800), &Value::from(10)));
    assert_eq!(events[4]["event_time"], "2020-10-12 14:13:20.000");
    drop(server);
}
