//! Webhooks against endpoints of this test: one that fails (500, three
//! times: the event's attempts run out and it is dropped), then hangs (the
//! attempt times out and is retried), then recovers; and one that always
//! answers. Order is kept per endpoint (visits' joins and leaves, occupancy
//! changes, the access point falling silent), every body is signed (checked with
//! Python's hmac), ingest is answered while the endpoint hangs, and the
//! counters say what happened.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{get, post_signed, python_hmac_sha256, python_pseudonym, report_body, RowSpec, Server, TempDir};

/// 2020-10-12T14:00:00Z: long past, so the server's clock closes each
/// visit at its next tick.
const T: i64 = 1_602_511_200;
const NET_KEY: &[u8] = b"net-key";
const HOOK_KEY: &[u8] = b"hook-key";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Fail,
    Hang,
    Answer,
}

/// A received request: its Signature header and body.
type Received = (String, String);

struct Endpoint {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    hanging: Arc<AtomicBool>,
}

/// An HTTP endpoint whose n-th request gets `script[n]` (Answer after the
/// script's end). Each request on a connection of its own (it answers with
/// Connection: close). A hang lasts until the client gives up, or 300 s:
/// longer than the test waits, so that only the client's timeout ends it.
fn endpoint(script: Vec<Behaviour>) -> Endpoint {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let hanging = Arc::new(AtomicBool::new(false));
    let (r, h) = (received.clone(), hanging.clone());
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            stream.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut signature, mut length) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    match k.trim().to_ascii_lowercase().as_str() {
                        "signature" => signature = v.trim().to_string(),
                        "content-length" => length = v.trim().parse().unwrap_or(0),
                        _ => {}
                    }
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            r.lock().unwrap().push((signature, String::from_utf8_lossy(&body).into_owned()));
            match script.get(n).copied().unwrap_or(Behaviour::Answer) {
                Behaviour::Fail => {
                    let _ = stream.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                }
                Behaviour::Hang => {
                    h.store(true, Ordering::SeqCst);
                    // Until the client closes (read gives 0) or the bound.
                    let mut sink = [0u8; 64];
                    let _ = stream.read(&mut sink);
                    h.store(false, Ordering::SeqCst);
                }
                Behaviour::Answer => {
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                }
            }
        }
    });
    Endpoint { addr, received, hanging }
}

fn spec(mac: &str, first: i64, last: i64, max: i32) -> RowSpec {
    RowSpec { mac: mac.into(), count: 3, min: max - 10, max, avg: max - 5, last: max - 2, first_seen: first, last_seen: last, associated: false }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(Instant::now() < until, "{what}: not within 90 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn failing_hanging_recovering_endpoint() {
    use Behaviour::*;
    let flaky = endpoint(vec![Fail, Fail, Fail, Hang]);
    let steady = endpoint(vec![]);
    let dir = TempDir::new("webhooks");
    std::fs::write(dir.path().join("net.key"), NET_KEY).unwrap();
    std::fs::write(dir.path().join("hook.key"), HOOK_KEY).unwrap();
    std::fs::write(
        dir.path().join("server.toml"),
        format!(
            "[[network]]\nid = 5\nkey_file = \"net.key\"\n\
             [[network.webhook]]\nurl = \"http://{}/hook\"\nkey_file = \"hook.key\"\nretries = 2\nbackoff_ms = 100\ntimeout_ms = 4000\n\
             [[network.webhook]]\nurl = \"http://{}/steady\"\n",
            flaky.addr, steady.addr
        ),
    )
    .unwrap();
    let db = dir.path().join("rows.sqlite");
    let server = Server::start(&["--database", db.to_str().unwrap(), "--config", dir.path().join("server.toml").to_str().unwrap()], None);

    // X: ten minutes at -50 dBm, a visitor.
    let x = "00:9a:cd:e3:15:49";
    let r = post_signed(server.addr, "/presence", NET_KEY, report_body(5, "AC:86:74:82:9A:30", &[spec(x, T, T + 600, -50)]).as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());

    // While the flaky endpoint hangs, a report is still stored at once.
    wait_until("the flaky endpoint hangs", || flaky.hanging.load(Ordering::SeqCst));
    // X's leave (the next clock tick closes a visit of 2020) comes before Y.
    wait_until("X's six events at the steady endpoint", || steady.received.lock().unwrap().len() >= 6);
    let y = "da:a1:19:00:00:01";
    let r = post_signed(server.addr, "/presence", NET_KEY, report_body(5, "AC:86:74:82:9A:30", &[spec(y, T + 3600, T + 3660, -60)]).as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(flaky.hanging.load(Ordering::SeqCst), "the report was answered while the webhook still hung");

    let status = || -> Value { serde_json::from_slice(&get(server.addr, "/webhooks.json").body).unwrap() };
    // Then, with no third report, the access point falls silent (three of
    // its intervals, the gap between the two reports, without one).
    wait_until("all events delivered", || {
        let s = status();
        s["endpoints"][0]["delivered"] == 8 && s["endpoints"][1]["delivered"] == 9
    });
    let s = status();
    let flaky_stats = &s["endpoints"][0];
    assert_eq!(flaky_stats["url"], format!("http://{}/hook", flaky.addr));
    assert_eq!(
        (&flaky_stats["dropped_after_retries"], &flaky_stats["failed_attempts"], &flaky_stats["dropped_queue_full"]),
        (&Value::from(1), &Value::from(4), &Value::from(0)),
        "{s}"
    );
    assert_eq!(s["endpoints"][1]["failed_attempts"], 0);

    let parse = |received: &[Received], key: &[u8]| -> Vec<Value> {
        received
            .iter()
            .map(|(signature, body)| {
                assert_eq!(signature, &python_hmac_sha256(key, body.as_bytes()), "Signature of {body}");
                let v: Value = serde_json::from_str(body).unwrap();
                assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
                v[0].clone()
            })
            .collect()
    };
    let flaky_events = parse(&flaky.received.lock().unwrap(), HOOK_KEY);
    let steady_events = parse(&steady.received.lock().unwrap(), NET_KEY);
    let sequences = |events: &[Value]| events.iter().map(|e| e["sequence"].as_u64().unwrap()).collect::<Vec<_>>();
    // The first event three times (then dropped), the second twice (the
    // hang, then its retry), then the rest in order.
    assert_eq!(sequences(&flaky_events), [1, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(sequences(&steady_events), [1, 2, 3, 4, 5, 6, 7, 8, 9]);

    let (px, py) = (python_pseudonym(NET_KEY, x), python_pseudonym(NET_KEY, y));
    let summary: Vec<(String, Value, Value, Value, Value)> = steady_events
        .iter()
        .map(|e| (e["event_type"].as_str().unwrap().to_string(), e["channel_id"].clone(), e["object_id"].clone(), e["occupancy"].clone(), e["origin"].clone()))
        .collect();
    let ap = Value::from("AC:86:74:82:9A:30");
    let row = |t: &str, ch: &Value, id: Value, occ: Value, origin: Value| (t.to_string(), ch.clone(), id, occ, origin);
    assert_eq!(
        summary,
        [
            row("RegionJoin", &ap, Value::from(px.clone()), Value::Null, Value::from("Visitor")),
            row("OccupancyChanged", &Value::Null, Value::Null, Value::from(1), Value::Null),
            row("OccupancyChanged", &ap, Value::Null, Value::from(1), Value::Null),
            row("RegionLeave", &ap, Value::from(px), Value::Null, Value::from("Visitor")),
            row("OccupancyChanged", &Value::Null, Value::Null, Value::from(0), Value::Null),
            row("OccupancyChanged", &ap, Value::Null, Value::from(0), Value::Null),
            row("RegionJoin", &ap, Value::from(py.clone()), Value::Null, Value::from("Passerby")),
            row("RegionLeave", &ap, Value::from(py), Value::Null, Value::from("Passerby")),
            row("ChannelSilent", &ap, Value::Null, Value::Null, Value::Null),
        ]
    );
    assert_eq!(steady_events[0]["event_time"], "2020-10-12 14:00:00.000");
    assert_eq!((&steady_events[3]["event_time"], &steady_events[3]["dwell_seconds"]), (&Value::from("2020-10-12 14:10:00.000"), &Value::from(600)));
    assert_eq!(steady_events[6]["suborigin"], "Randomized");
    drop(server);
}
