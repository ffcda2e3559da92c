//! Webhooks against scripted endpoints (test-support's `http_stub`): one that
//! fails (500, three times: the event's attempts run out and it is dropped),
//! then hangs (the attempt times out and is retried), then recovers; and one
//! that always answers. Order is kept per endpoint, every body is signed
//! (checked with Python's hmac), ingest is answered while the endpoint
//! hangs, and the counters say what happened.
//!
//! The events are the stored visits' changes judged on the network's own
//! clock (its rows' times, here of 2020): a report whose rows reach later
//! closes the visits it passes by the session timeout, whatever the server's
//! clock says. A second test sends late reports: a visit closed less than
//! the lateness horizon (an hour) before the network's clock is told as a
//! join and a leave, one closed longer ago is counted and not told, late
//! rows into a visit already told as left are counted, and a row from the
//! present that reaches back into a closed visit joins it again.
//!
//! Every expected event below is worked out by hand from the rows (15 min
//! timeout; a visitor after 5 min at -75 dBm or better).

mod support;

use std::time::{Duration, Instant};

use presenced_test_support::http_stub::{HttpStub, Reply, Request};
use serde_json::Value;
use support::{get, post_signed, python_hmac_sha256, python_pseudonym, report_body, RowSpec, Server, TempDir};

/// 2020-10-12T14:00:00Z.
const T: i64 = 1_602_511_200;
const NET_KEY: &[u8] = b"net-key";
const HOOK_KEY: &[u8] = b"hook-key";
const AP: &str = "AC:86:74:82:9A:30";
/// Longer than any wait of these tests should take.
const WAIT: Duration = Duration::from_secs(90);

fn spec(mac: &str, first: i64, last: i64, max: i32) -> RowSpec {
    RowSpec { mac: mac.into(), count: 3, min: max - 10, max, avg: max - 5, last: max - 2, first_seen: first, last_seen: last, associated: false }
}

/// `report_body` with the rows of `estimated` marked as the agent marks an
/// estimated device.
fn body_with_estimates(node: &str, rows: &[RowSpec], estimated: &[&str]) -> String {
    let mut body = report_body(5, node, rows);
    for mac in estimated {
        let at = body.find(&format!(r#""mac":"{mac}""#)).unwrap();
        let close = at + body[at..].find('}').unwrap();
        body.insert_str(close, r#","estimated_device":true"#);
    }
    body
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < until, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn status(server: &Server) -> Value {
    serde_json::from_slice(&get(server.addr, "/webhooks.json").body).unwrap()
}

/// Each request's one event, its Signature checked against Python's hmac.
fn events(received: &[Request], key: &[u8]) -> Vec<Value> {
    received
        .iter()
        .map(|r| {
            let body = std::str::from_utf8(&r.body).unwrap();
            assert_eq!(r.header("Signature"), Some(python_hmac_sha256(key, r.body.as_slice()).as_str()), "Signature of {body}");
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
            v[0].clone()
        })
        .collect()
}

fn sequences(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["sequence"].as_u64().unwrap()).collect()
}

/// (event_type, channel_id, object_id, origin, suborigin, occupancy, dwell, event_time)
type Summary = (String, Value, Value, Value, Value, Value, Value, Value);

fn summary(events: &[Value]) -> Vec<Summary> {
    events
        .iter()
        .map(|e| {
            (
                e["event_type"].as_str().unwrap().to_string(),
                e["channel_id"].clone(),
                e["object_id"].clone(),
                e["origin"].clone(),
                e["suborigin"].clone(),
                e["occupancy"].clone(),
                e["dwell_seconds"].clone(),
                e["event_time"].clone(),
            )
        })
        .collect()
}

/// `date -u -d @SECS '+%F %T.000'`, for the times of these tests (all on
/// 2020-10-12 from 14:00 UTC, T + s).
fn utc(s: i64) -> Value {
    assert!((0..36_000).contains(&s));
    Value::from(format!("2020-10-12 {:02}:{:02}:{:02}.000", 14 + s / 3600, s / 60 % 60, s % 60))
}

fn client(kind: &str, node: &str, mac: &str, origin: &str, suborigin: &str, dwell: Option<i64>, at: i64) -> Summary {
    (
        kind.into(),
        Value::from(node),
        Value::from(python_pseudonym(NET_KEY, mac)),
        Value::from(origin),
        Value::from(suborigin),
        Value::Null,
        dwell.map_or(Value::Null, Value::from),
        utc(at),
    )
}

fn occupancy(node: Option<&str>, n: u64, at: i64) -> Summary {
    ("OccupancyChanged".into(), node.map_or(Value::Null, Value::from), Value::Null, Value::Null, Value::Null, Value::from(n), Value::Null, utc(at))
}

fn start_server(dir: &TempDir, hooks: &str) -> Server {
    std::fs::write(dir.path().join("net.key"), NET_KEY).unwrap();
    std::fs::write(dir.path().join("hook.key"), HOOK_KEY).unwrap();
    std::fs::write(dir.path().join("server.toml"), format!("[[network]]\nid = 5\nkey_file = \"net.key\"\n{hooks}")).unwrap();
    let db = dir.path().join("rows.sqlite");
    Server::start(&["--database", db.to_str().unwrap(), "--config", dir.path().join("server.toml").to_str().unwrap()], None)
}

#[test]
fn failing_hanging_recovering_endpoint() {
    let flaky = HttpStub::start(vec![Reply::Status(500), Reply::Status(500), Reply::Status(500), Reply::Hang]);
    let steady = HttpStub::start(vec![]);
    let dir = TempDir::new("webhooks");
    let server = start_server(
        &dir,
        &format!(
            "[[network.webhook]]\nurl = \"{}\"\nkey_file = \"hook.key\"\nretries = 2\nbackoff_ms = 100\ntimeout_ms = 6000\n\
             [[network.webhook]]\nurl = \"{}\"\n",
            flaky.url("/hook"),
            steady.url("/steady")
        ),
    );

    // X: ten minutes at -50 dBm, a visitor at once.
    let x = "00:9a:cd:e3:15:49";
    let r = post_signed(server.addr, "/presence", NET_KEY, report_body(5, AP, &[spec(x, T, T + 600, -50)]).as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    // The access point's interval: the gap between its two reports, at
    // least a second of the server's clock.
    std::thread::sleep(Duration::from_millis(1100));
    // Three refusals, then the fourth request (event 2) hangs.
    flaky.wait_for(4, WAIT);
    steady.wait_for(3, WAIT);

    // Y (randomized) a minute at -60: a passerby; Z an estimated device a
    // minute at -50: a passerby. Their rows take the network's clock to
    // T + 7260, past X's and Y's ends by more than the timeout.
    let (y, z) = ("da:a1:19:00:00:01", "da:e5:00:00:00:07");
    let body = body_with_estimates(AP, &[spec(y, T + 3600, T + 3660, -60), spec(z, T + 7200, T + 7260, -50)], &[z]);
    let r = post_signed(server.addr, "/presence", NET_KEY, body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(flaky.requests().len(), 4, "the report was answered while the webhook still hung");

    // Then, with no third report, the access point falls silent (three of
    // its intervals without one).
    wait_until("all events delivered", || {
        let s = status(&server);
        s["endpoints"][0]["delivered"] == 9 && s["endpoints"][1]["delivered"] == 10
    });
    let s = status(&server);
    let flaky_stats = &s["endpoints"][0];
    assert_eq!(flaky_stats["url"], flaky.url("/hook"));
    assert_eq!(
        (&flaky_stats["dropped_after_retries"], &flaky_stats["failed_attempts"], &flaky_stats["dropped_queue_full"]),
        (&Value::from(1), &Value::from(4), &Value::from(0)),
        "{s}"
    );
    assert_eq!(s["endpoints"][1]["failed_attempts"], 0);

    let flaky_events = events(&flaky.requests(), HOOK_KEY);
    let steady_events = events(&steady.requests(), NET_KEY);
    // The first event three times (then dropped), the second twice (the
    // hang, then its retry), then the rest in order.
    assert_eq!(sequences(&flaky_events), [1, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(sequences(&steady_events), (1..=10).collect::<Vec<u64>>());
    assert_eq!(summary(&flaky_events[4..]), summary(&steady_events[1..]));

    let silent = ("ChannelSilent".to_string(), Value::from(AP), Value::Null, Value::Null, Value::Null, Value::Null, Value::Null);
    let got = summary(&steady_events);
    assert_eq!(
        got[..9],
        [
            client("RegionJoin", AP, x, "Visitor", "Universal", None, 0),
            occupancy(None, 1, 600),
            occupancy(Some(AP), 1, 600),
            // In the second report, in the order things happened on the
            // network's clock; occupancy at its clock, T + 7260.
            client("RegionLeave", AP, x, "Visitor", "Universal", Some(600), 600),
            client("RegionJoin", AP, y, "Passerby", "Randomized", None, 3600),
            client("RegionLeave", AP, y, "Passerby", "Randomized", Some(60), 3660),
            client("RegionJoin", AP, z, "Passerby", "EstimatedDevice", None, 7200),
            occupancy(None, 0, 7260),
            occupancy(Some(AP), 0, 7260),
        ]
    );
    // The silence is told at the server's clock: not a time to compare.
    let last = &got[9];
    assert_eq!((&last.0, &last.1, &last.2, &last.3, &last.4, &last.5, &last.6), (&silent.0, &silent.1, &silent.2, &silent.3, &silent.4, &silent.5, &silent.6));
    drop(server);
}

#[test]
fn late_reports_within_the_horizon_are_told_and_beyond_it_counted() {
    let steady = HttpStub::start(vec![]);
    let dir = TempDir::new("webhooks-late");
    let server = start_server(&dir, &format!("[[network.webhook]]\nurl = \"{}\"\n", steady.url("/late")));
    // One report per access point: none has an interval, none falls silent.
    let ap = |k: u32| format!("AC:86:74:00:05:{k:02X}");
    let send = |k: u32, rows: &[RowSpec]| {
        let r = post_signed(server.addr, "/presence", NET_KEY, report_body(5, &ap(k), rows).as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
    };
    // Every row at -80 dBm: passersby, so that no occupancy changes.
    let (q, l1, l2) = ("00:5e:00:00:00:01", "00:5e:00:00:00:02", "00:5e:00:00:00:03");
    // Q takes the network's clock to C = T + 10000.
    send(1, &[spec(q, T + 9_950, T + 10_000, -80)]);
    // L1 ended at C - 4499: closed at C - 3599 (its end plus 900 s), 3599 s
    // before the clock: within the hour, told as a join and a leave.
    send(2, &[spec(l1, T + 5_401, T + 5_501, -80)]);
    // L2 ended at C - 4500: closed exactly an hour before the clock: beyond.
    send(3, &[spec(l2, T + 5_400, T + 5_500, -80)]);
    // A late row of L1 (no gap): its visit grows to T + 5600, still closed,
    // already told as left: counted, nothing sent.
    send(4, &[spec(l1, T + 5_501, T + 5_600, -80)]);
    // L1 seen up to C - 10, from 800 s after its visit's end: the same
    // visit, open again after its leave was told: joined again (it closes
    // only 890 s after C on the network's clock, later than this test).
    send(5, &[spec(l1, T + 6_400, T + 9_990, -80)]);

    wait_until("four events delivered", || status(&server)["endpoints"][0]["delivered"] == 4);
    let s = status(&server);
    assert_eq!(s["endpoints"][0]["delivered"], 4);
    assert_eq!(s["networks"][0], serde_json::json!({"network_id": 5, "late_beyond_horizon": 1, "late_after_leave": 1}));
    let got = events(&steady.requests(), NET_KEY);
    assert_eq!(sequences(&got), [1, 2, 3, 4]);
    assert_eq!(
        summary(&got),
        [
            client("RegionJoin", &ap(1), q, "Passerby", "Universal", None, 9_950),
            client("RegionJoin", &ap(2), l1, "Passerby", "Universal", None, 5_401),
            client("RegionLeave", &ap(2), l1, "Passerby", "Universal", Some(100), 5_501),
            client("RegionJoin", &ap(2), l1, "Passerby", "Universal", None, 5_401),
        ]
    );
    drop(server);
}
