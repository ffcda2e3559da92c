//! The query API over HTTP, against the real server binary: signing (good,
//! bad, missing, both header spellings the seed uses), the nonce (stale),
//! the rate limit, the envelope, and each endpoint's answer for reports
//! whose visits are worked out by hand. X-Sign values and pseudonyms come
//! from Python's hmac, not from the server's code.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{post_signed, python_hmac_sha512, report_body, request, run_with_stdin, RowSpec, Server, TempDir};

/// 2020-10-12T14:00:00Z (`date -u -d 2020-10-12T14:00:00Z +%s`), the
/// seed's example time: 15:00 at the venue's +01:00.
const T: i64 = 1_602_511_200;
const NET: u64 = 221234;
const AP1: &str = "AC:86:74:82:9A:30";
const AP2: &str = "AC:86:74:82:9A:31";
const NET_KEY: &[u8] = b"main-street-key";
const SECRET: &[u8] = b"ehsd7485746548574";

fn spec(mac: &str, first: i64, last: i64, max: i32) -> RowSpec {
    RowSpec { mac: mac.into(), count: 3, min: max - 10, max, avg: max - 5, last: max - 2, first_seen: first, last_seen: last, associated: false }
}

struct Client {
    addr: std::net::SocketAddr,
    public: &'static str,
    secret: &'static [u8],
    nonce: u64,
    last: Option<Instant>,
}

impl Client {
    /// Paces itself to one request a second (the API's limit), then sends
    /// `uri` with `{nonce}` replaced by a fresh nonce, signed by Python.
    fn get(&mut self, uri: &str) -> (u16, Value) {
        self.get_with("X-Key", uri)
    }

    fn get_with(&mut self, key_header: &str, uri: &str) -> (u16, Value) {
        let r = self.get_raw_with(key_header, uri);
        (r.status, serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", r.text())))
    }

    fn get_raw(&mut self, uri: &str) -> support::Response {
        self.get_raw_with("X-Key", uri)
    }

    fn get_raw_with(&mut self, key_header: &str, uri: &str) -> support::Response {
        if let Some(last) = self.last {
            let wait = Duration::from_millis(1100).saturating_sub(last.elapsed());
            std::thread::sleep(wait);
        }
        self.nonce += 1;
        let uri = uri.replace("{nonce}", &self.nonce.to_string());
        let sign = python_hmac_sha512(self.secret, &uri);
        let r = request(self.addr, "GET", &uri, &[(key_header, self.public), ("X-Sign", &sign)], b"");
        self.last = Some(Instant::now());
        r
    }
}

fn python_pseudonym(key: &[u8], mac: &str) -> String {
    let script = "import hashlib, hmac, sys; \
                  print(hmac.new(sys.argv[1].encode(), b'presenced object id\\0' + sys.stdin.buffer.read(), hashlib.sha256).hexdigest()[:16])";
    let out = run_with_stdin(Command::new("python3").args(["-c", script, std::str::from_utf8(key).unwrap()]), mac.as_bytes());
    String::from_utf8(out).unwrap().trim().to_string()
}

fn envelope_error(v: &Value) -> (i64, String) {
    assert_eq!(v["result"], Value::Array(vec![]), "{v}");
    (v["code"].as_i64().unwrap(), v["msg"].as_str().unwrap().to_string())
}

/// The two networks of these tests, their keys and API keys, and the
/// server on them.
fn start_fixture() -> (TempDir, Server) {
    let dir = TempDir::new("api");
    std::fs::write(dir.path().join("main.key"), NET_KEY).unwrap();
    std::fs::write(dir.path().join("seven.key"), "seven-key\n").unwrap();
    std::fs::write(dir.path().join("api.secret"), SECRET).unwrap();
    std::fs::write(dir.path().join("seven.secret"), "seven-secret\n").unwrap();
    std::fs::write(
        dir.path().join("server.toml"),
        "[[network]]\nid = 221234\nname = \"Main street\"\nkey_file = \"main.key\"\ntimezone_offset = \"+01:00\"\n\
         [[network]]\nid = 7\nkey_file = \"seven.key\"\napi_raw_macs = true\n\
         [[api_key]]\npublic = \"pk_test\"\nsecret_file = \"api.secret\"\n\
         [[api_key]]\npublic = \"pk_seven\"\nsecret_file = \"seven.secret\"\nnetworks = [7]\n",
    )
    .unwrap();
    let db = dir.path().join("rows.sqlite");
    let server = Server::start(&["--database", db.to_str().unwrap(), "--config", dir.path().join("server.toml").to_str().unwrap()], None);
    post_fixture_reports(&server);
    (dir, server)
}

/// X: AP1 then AP2 (a gap of 5 min): one 20 min visit, a visitor.
/// Y: a randomized address for one minute an hour later: a passerby.
/// Z: on network 7, 400 s.
const X: &str = "00:9a:cd:e3:15:49";
const Y: &str = "da:a1:19:00:00:01";
const Z: &str = "5c:dc:96:66:24:e3";

fn post_fixture_reports(server: &Server) {
    let (x, y, z) = (X, Y, Z);
    for (node, rows) in [(AP1, vec![spec(x, T, T + 600, -50), spec(y, T + 3600, T + 3660, -60)]), (AP2, vec![spec(x, T + 900, T + 1200, -55)])] {
        let r = post_signed(server.addr, "/presence", NET_KEY, report_body(NET, node, &rows).as_bytes());
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = post_signed(server.addr, "/presence", b"seven-key", report_body(7, "02:00:00:00:00:0B", &[spec(z, T, T + 400, -40)]).as_bytes());
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn signed_queries() {
    let (_dir, server) = start_fixture();
    let (x, y, z) = (X, Y, Z);

    let mut api = Client { addr: server.addr, public: "pk_test", secret: SECRET, nonce: 1_602_000_000, last: None };
    let prefix = "/service/api/v1";

    // Both spellings of the seed: `X-Key` (its Access section) and `X-key`
    // (its parameter list).
    for spelling in ["X-Key", "X-key"] {
        let (status, v) = api.get_with(spelling, &format!("{prefix}/locations?nonce={{nonce}}"));
        assert_eq!(status, 200, "{spelling}: {v}");
        assert_eq!((v["msg"].as_str(), v["code"].as_i64()), (Some("success"), Some(0)));
        let locs: Vec<(i64, &str, &str)> = v["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["id"].as_i64().unwrap(), l["name"].as_str().unwrap(), l["timezone_offset"].as_str().unwrap()))
            .collect();
        assert_eq!(locs, [(7, "7", "+00:00"), (221234, "Main street", "+01:00")]);
    }

    // The seed's encoding: since and until percent-encoded (%3A, %2B).
    let range = "since=2020-10-12T15%3A00%3A00.000%2B01%3A00&until=2020-10-12T16%3A00%3A00Z";
    let (status, v) = api.get(&format!("{prefix}/events?location_id=221234&nonce={{nonce}}&{range}"));
    assert_eq!(status, 200, "{v}");
    let events: Vec<(String, String, String, String, String, Value)> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_else(|| panic!("{k} in {e}")).to_string();
            (s("event_type"), s("event_time"), s("channel_id"), s("object_id"), s("origin"), e["dwell_seconds"].clone())
        })
        .collect();
    let (px, py) = (python_pseudonym(NET_KEY, x), python_pseudonym(NET_KEY, y));
    let ev = |t: &str, time: &str, ch: &str, id: &str, origin: &str, dwell: Value| {
        (t.to_string(), time.to_string(), ch.to_string(), id.to_string(), origin.to_string(), dwell)
    };
    assert_eq!(
        events,
        [
            ev("RegionJoin", "2020-10-12T14:00:00.000+00:00", AP1, &px, "Visitor", Value::Null),
            ev("RegionLeave", "2020-10-12T14:20:00.000+00:00", AP2, &px, "Visitor", Value::from(1200)),
            ev("RegionJoin", "2020-10-12T15:00:00.000+00:00", AP1, &py, "Passerby", Value::Null),
            ev("RegionLeave", "2020-10-12T15:01:00.000+00:00", AP1, &py, "Passerby", Value::from(60)),
        ]
    );
    assert!(!v.to_string().contains(x) && !v.to_string().contains(y), "no raw MAC without api_raw_macs: {v}");
    assert_eq!(v["result"][2]["suborigin"], "Randomized");

    // Paging: the second event alone.
    let (_, v) = api.get(&format!("{prefix}/events?location_id=221234&{range}&limit=1&offset=1&nonce={{nonce}}"));
    assert_eq!(v["result"].as_array().unwrap().len(), 1);
    assert_eq!(v["result"][0]["event_type"], "RegionLeave");

    // Network 7 allows raw MACs.
    let (_, v) = api.get(&format!("{prefix}/events?location_id=7&nonce={{nonce}}&since={T}&until={}", T + 3600));
    assert_eq!(v["result"][0]["object_id"], z);

    let (_, v) = api.get(&format!("{prefix}/totals/types?location_id=221234&nonce={{nonce}}&{range}"));
    let types: Vec<(&str, i64)> = v["result"].as_array().unwrap().iter().map(|t| (t["type"].as_str().unwrap(), t["count"].as_i64().unwrap())).collect();
    assert_eq!(types, [("RegionJoin", 2), ("RegionLeave", 2)]);
    let (_, v) = api.get(&format!("{prefix}/totals/triggers?location_id=221234&nonce={{nonce}}&{range}"));
    let triggers: Vec<(&str, i64)> =
        v["result"].as_array().unwrap().iter().map(|t| (t["channel_id"].as_str().unwrap(), t["count"].as_i64().unwrap())).collect();
    assert_eq!(triggers, [(AP1, 3), (AP2, 1)], "AP1: X joins, Y joins and leaves; AP2: X leaves");

    // Hours at +01:00: 15:00 holds X (a visitor of 20 min: the 20-60 min
    // bin), 16:00 holds Y (a randomized passerby).
    let (_, v) = api.get(&format!("{prefix}/histograms?location_id=221234&nonce={{nonce}}&{range}"));
    let h = v["result"].as_array().unwrap();
    assert_eq!(h.len(), 2, "{v}");
    assert_eq!(h[0]["histogram_time"], "2020-10-12T15:00:00+01:00");
    // counting_data: visitors, passersby, unique clients, connected, peak occupancy.
    assert_eq!(h[0]["counting_data"], serde_json::json!([1, 0, 1, 0, 1]));
    assert_eq!(h[0]["lifetime_data"], serde_json::json!([0, 1, 0, 0]));
    assert_eq!(h[1]["counting_data"], serde_json::json!([0, 0, 0, 0, 0]));
    assert_eq!(h[1]["randomized"]["counting_data"], serde_json::json!([0, 1, 1, 0, 0]));

    let (_, v) = api.get(&format!("{prefix}/channels?location_id=221234&nonce={{nonce}}"));
    let channels: Vec<(&str, i64, i64)> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["location_id"].as_i64().unwrap(), c["active"].as_i64().unwrap()))
        .collect();
    assert_eq!(channels, [(AP1, NET as i64, 1), (AP2, NET as i64, 1)]);

    // Refusals, each in the envelope with its own code and message.
    let (status, v) = api.get(&format!("{prefix}/events?location=221234&nonce={{nonce}}"));
    assert_eq!(status, 400);
    assert_eq!(envelope_error(&v).0, 1);
    assert!(envelope_error(&v).1.contains("unknown parameter \"location\""), "{v}");

    // A bad signature: signed over the decoded URI instead of the one sent.
    let uri = format!("{prefix}/events?nonce={}&{range}", api.nonce + 1);
    let decoded_sign = python_hmac_sha512(SECRET, &uri.replace("%3A", ":").replace("%2B", "+"));
    std::thread::sleep(Duration::from_millis(1100));
    let r = request(server.addr, "GET", &uri, &[("X-Key", "pk_test"), ("X-Sign", &decoded_sign)], b"");
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!((r.status, envelope_error(&v).0), (401, 2));
    assert!(envelope_error(&v).1.starts_with("X-Sign does not match"), "{v}");
    let r = request(server.addr, "GET", &uri, &[("X-Key", "pk_test")], b"");
    assert_eq!(r.status, 401);
    assert!(r.text().contains("missing X-Sign"), "{}", r.text());
    let r = request(server.addr, "GET", &uri, &[("X-Key", "pk_nobody"), ("X-Sign", &decoded_sign)], b"");
    assert_eq!(r.status, 401);
    assert!(r.text().contains("unknown X-Key"), "{}", r.text());

    // A stale nonce: the last one again, correctly signed.
    std::thread::sleep(Duration::from_millis(1100));
    let stale_uri = format!("{prefix}/locations?nonce={}", api.nonce);
    let r = request(server.addr, "GET", &stale_uri, &[("X-Key", "pk_test"), ("X-Sign", &python_hmac_sha512(SECRET, &stale_uri))], b"");
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!((r.status, envelope_error(&v).0), (401, 3), "{v}");
    assert!(envelope_error(&v).1.starts_with(&format!("stale nonce {}", api.nonce)), "{v}");

    // The rate: two good requests back to back (both signed beforehand), the
    // second refused with 429.
    std::thread::sleep(Duration::from_millis(1100));
    let (answers, _) =
        support::back_to_back(server.addr, server.addr, "pk_test", SECRET, |n| format!("{prefix}/locations?nonce={n}"), api.nonce + 11);
    assert_eq!(answers.map(|r| r.status), [200, 429]);

    // A key limited to network 7.
    let mut seven = Client { addr: server.addr, public: "pk_seven", secret: b"seven-secret", nonce: 1, last: None };
    let (status, v) = seven.get(&format!("{prefix}/events?location_id=221234&nonce={{nonce}}"));
    assert_eq!((status, envelope_error(&v).0), (403, 4), "{v}");
    let (_, v) = seven.get(&format!("{prefix}/locations?nonce={{nonce}}"));
    assert_eq!(v["result"].as_array().unwrap().len(), 1);
    assert_eq!(v["result"][0]["id"], 7);
    drop(server);
}

/// `short_id` of the server (the first 48 bits of SHA-256 of `text`), by
/// Python's hashlib.
fn python_short_id(text: &str) -> u64 {
    let script = "import hashlib, sys; print(int.from_bytes(hashlib.sha256(sys.stdin.buffer.read()).digest()[:6], 'big'))";
    let out = run_with_stdin(Command::new("python3").args(["-c", script]), text.as_bytes());
    String::from_utf8(out).unwrap().trim().parse().unwrap()
}

/// Every endpoint's answer, byte for byte, on the fixture's reports: what a
/// client that stores or diffs the answers sees must not change when the
/// code that writes them does. The expected text is written out by hand
/// (keys in alphabetical order, as the API has always sent them); the ids
/// and pseudonyms come from Python's hashlib and hmac.
#[test]
fn answers_byte_for_byte() {
    let (_dir, server) = start_fixture();
    let mut api = Client { addr: server.addr, public: "pk_test", secret: SECRET, nonce: 1_602_000_000, last: None };
    let prefix = "/service/api/v1";
    let range = "since=2020-10-12T14%3A00%3A00Z&until=2020-10-12T16%3A00%3A00Z";
    let ok = |result: String| format!(r#"{{"code":0,"msg":"success","result":[{result}]}}"#);
    let version = env!("CARGO_PKG_VERSION");

    let locations = format!(
        r#"{{"id":7,"name":"7","timezone_offset":"+00:00","version":"{version}"}},{{"id":221234,"name":"Main street","timezone_offset":"+01:00","version":"{version}"}}"#
    );
    let channel = |ap: &str| format!(r#"{{"active":1,"id":"{ap}","location_id":221234,"name":"{ap}"}}"#);
    let channels = format!("{},{}", channel(AP1), channel(AP2));

    let (px, py) = (python_pseudonym(NET_KEY, X), python_pseudonym(NET_KEY, Y));
    let event = |time: i64, iso: &str, kind: &str, ap: &str, object: &str, origin: &str, suborigin: &str, dwell: &str| {
        let id = python_short_id(&format!("221234|{ap}|{object}|{time}|{kind}"));
        format!(
            r#"{{"channel_id":"{ap}","dwell_seconds":{dwell},"event_time":"{iso}","event_type":"{kind}","id":{id},"location_id":221234,"object_id":"{object}","origin":"{origin}","record_id":{id},"suborigin":"{suborigin}","trigger_id":"{ap}"}}"#
        )
    };
    let events = [
        event(T, "2020-10-12T14:00:00.000+00:00", "RegionJoin", AP1, &px, "Visitor", "Universal", "null"),
        event(T + 1200, "2020-10-12T14:20:00.000+00:00", "RegionLeave", AP2, &px, "Visitor", "Universal", "1200"),
        event(T + 3600, "2020-10-12T15:00:00.000+00:00", "RegionJoin", AP1, &py, "Passerby", "Randomized", "null"),
        event(T + 3660, "2020-10-12T15:01:00.000+00:00", "RegionLeave", AP1, &py, "Passerby", "Randomized", "60"),
    ]
    .join(",");

    let by = |u: u32, r: u32| format!(r#"{{"EstimatedDevice":0,"Randomized":{r},"Universal":{u}}}"#);
    let total = |kind: &str| format!(r#"{{"by_suborigin":{},"channel_id":null,"count":2,"location_id":221234,"type":"{kind}"}}"#, by(1, 1));
    let types = format!("{},{}", total("RegionJoin"), total("RegionLeave"));
    let trigger = |ap: &str, count: u32, u: u32, r: u32| {
        format!(r#"{{"by_suborigin":{},"channel_id":"{ap}","count":{count},"location_id":221234,"trigger_id":"{ap}","trigger_name":"{ap}"}}"#, by(u, r))
    };
    let triggers = format!("{},{}", trigger(AP1, 3, 1, 2), trigger(AP2, 1, 1, 0));

    // Hours at +01:00. 15:00: X, a visitor of 20 min (dwell bin 20-60 min),
    // occupancy 1. 16:00: Y, a randomized passerby (no dwell bin, no
    // occupancy: only visitors occupy).
    let zeros = "[0,0,0,0,0]";
    let no_dwell = "[0,0,0,0]";
    let class = |counting: &str, lifetime: &str| format!(r#"{{"counting_data":{counting},"lifetime_data":{lifetime}}}"#);
    let hour = |start: i64, iso: &str, counting: &str, lifetime: &str, randomized: &str| {
        let id = python_short_id(&format!("221234|None|{start}"));
        format!(
            r#"{{"channel_id":null,"counting_data":{counting},"estimated_devices":{},"histogram_time":"{iso}","id":{id},"lifetime_data":{lifetime},"location_id":221234,"randomized":{randomized}}}"#,
            class(zeros, no_dwell)
        )
    };
    let histograms = format!(
        "{},{}",
        hour(T, "2020-10-12T15:00:00+01:00", "[1,0,1,0,1]", "[0,1,0,0]", &class(zeros, no_dwell)),
        hour(T + 3600, "2020-10-12T16:00:00+01:00", zeros, no_dwell, &class("[0,1,1,0,0]", no_dwell)),
    );

    for (path, expected) in [
        ("locations?nonce={nonce}".to_string(), ok(locations)),
        ("channels?location_id=221234&nonce={nonce}".to_string(), ok(channels)),
        (format!("events?location_id=221234&nonce={{nonce}}&{range}"), ok(events)),
        (format!("totals/types?location_id=221234&nonce={{nonce}}&{range}"), ok(types)),
        (format!("totals/triggers?location_id=221234&nonce={{nonce}}&{range}"), ok(triggers)),
        (format!("histograms?location_id=221234&nonce={{nonce}}&{range}"), ok(histograms)),
    ] {
        let r = api.get_raw(&format!("{prefix}/{path}"));
        assert_eq!((r.status, r.text()), (200, expected), "{path}");
        let content_type: Vec<&str> = r.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.as_str()).collect();
        assert_eq!(content_type, ["application/json"], "{path}");
    }
    // A refusal's envelope, byte for byte too.
    let r = api.get_raw(&format!("{prefix}/events?location_id=x&nonce={{nonce}}"));
    assert_eq!((r.status, r.text()), (400, r#"{"code":1,"msg":"location_id: \"x\" is not a network id","result":[]}"#.to_string()));
    drop(server);
}
