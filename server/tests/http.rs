//! presenced-server as a process, over real sockets, on SQLite and on
//! PostgreSQL: ingest, signatures (expected values from Python's hmac),
//! limits, the pages and the CSV export, and configuration errors.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{expected_csv_prefix, get, post_signed, report_body, request, row, Postgres, Server, TempDir};

const KEY: &[u8] = b"fleet-secret";
const NODE: &str = "AC:86:74:82:9A:30";

/// The vendor documents' sample, verbatim (two of its rows).
const SAMPLE: &str = r#"{"network_id":221234,"node_mac":"AC:86:74:82:9A:30","version":1,"probe_requests":[{"mac":"00:9a:cd:e3:15:49","count":11,"min_signal":-77,"max_signal":-36,"avg_signal":-55,"last_seen_signal":-77,"first_seen":1475860695,"last_seen":1475860718,"associated":false},{"mac":"e2:9f:fc:7f:1f:42","count":1,"min_signal":-65,"max_signal":-65,"avg_signal":-65,"last_seen_signal":-65,"first_seen":1475860714,"last_seen":1475860714,"associated":false}]}"#;

fn csv_lines(server: &Server, query: &str) -> Vec<String> {
    let r = get(server.addr, &format!("/export.csv{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(
        lines.remove(0),
        "network_id,node_mac,mac,count,min_signal,max_signal,avg_signal,last_seen_signal,first_seen,last_seen,associated,received_at"
    );
    lines
}

/// The CSV line less its received_at, which the test checks separately.
fn without_received_at(line: &str) -> String {
    let (head, received) = line.rsplit_once(',').unwrap();
    let received: i64 = received.parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - 600..=now + 5).contains(&received), "received_at {received} is not about now ({now})");
    format!("{head},")
}

fn scenarios(database: &str) {
    let server = Server::start(&["--database", database, "--header-timeout", "5"], Some("fleet-secret"));
    let addr = server.addr;

    // The documented sample, signed as an access point signs it.
    let r = post_signed(addr, "/presence", KEY, SAMPLE.as_bytes());
    assert_eq!((r.status, r.text().trim()), (200, "stored 2 rows"));
    let lines: Vec<String> = csv_lines(&server, "").iter().map(|l| without_received_at(l)).collect();
    assert_eq!(
        lines,
        [
            "221234,AC:86:74:82:9A:30,e2:9f:fc:7f:1f:42,1,-65,-65,-65,-65,1475860714,1475860714,false,",
            "221234,AC:86:74:82:9A:30,00:9a:cd:e3:15:49,11,-77,-36,-55,-77,1475860695,1475860718,false,",
        ]
    );

    // NCompass's path; the same body again is a retry: no new rows.
    let r = post_signed(addr, "/receive", KEY, SAMPLE.as_bytes());
    assert_eq!(r.status, 200);
    assert!(r.text().contains("duplicate"), "{}", r.text());
    assert_eq!(csv_lines(&server, "").len(), 2);

    // Wrong key, tampered body, missing header, garbage header: 403, nothing stored.
    let other = report_body(221234, NODE, &[row(1, "11:22:33:44:55:66", true)]);
    let bad_key = support::python_hmac_sha256(b"not-the-key", other.as_bytes());
    let tampered = support::python_hmac_sha256(KEY, SAMPLE.as_bytes());
    for (headers, what) in [
        (vec![("Signature", bad_key.as_str())], "the Signature does not match"),
        (vec![("Signature", tampered.as_str())], "the Signature does not match"),
        (vec![], "missing Signature"),
        (vec![("Signature", "not-hex")], "the Signature does not match"),
    ] {
        let r = request(addr, "POST", "/presence", &headers, other.as_bytes());
        assert_eq!(r.status, 403, "{what}: {}", r.text());
        assert!(r.text().contains(what), "{}", r.text());
    }
    assert!(csv_lines(&server, "?mac=11:22").is_empty(), "an unauthenticated row was stored");
    // Counted on the access point the body names.
    let aps = get(addr, "/access-points").text();
    let ap_row = aps.split("<tr data-node=\"AC:86:74:82:9A:30\">").nth(1).expect("the access point is listed");
    let failures = ap_row.split("class=\"num failures\">").nth(1).unwrap().split('<').next().unwrap();
    assert_eq!(failures, "4");

    // A body that is signed but not a report: 400 naming the field.
    let missing = SAMPLE.replacen(r#","last_seen_signal":-77"#, "", 1);
    let r = post_signed(addr, "/presence", KEY, missing.as_bytes());
    assert_eq!(r.status, 400);
    assert!(r.text().contains("missing field `last_seen_signal`"), "{}", r.text());
    let text_count = SAMPLE.replacen(r#""count":11"#, r#""count":"11""#, 1);
    let r = post_signed(addr, "/presence", KEY, text_count.as_bytes());
    assert_eq!(r.status, 400);
    assert!(r.text().contains("invalid type"), "{}", r.text());

    // Every field of many rows, typed, in both boolean values.
    let rows: Vec<_> = (0..60).map(|i| row(i, &format!("02:11:22:33:44:{i:02x}"), i % 3 == 0)).collect();
    let body = report_body(5, "02:00:00:00:00:05", &rows);
    let r = post_signed(addr, "/presence", KEY, body.as_bytes());
    assert_eq!((r.status, r.text().trim()), (200, "stored 60 rows"));
    let got: Vec<String> = csv_lines(&server, "?network_id=5").iter().map(|l| without_received_at(l)).collect();
    let expected: Vec<String> = rows.iter().rev().map(|r| expected_csv_prefix(5, "02:00:00:00:00:05", r)).collect();
    assert_eq!(got, expected);
    // The export's filters are the page's.
    assert_eq!(csv_lines(&server, "?network_id=5&associated=true").len(), 20);
    assert_eq!(csv_lines(&server, "?mac=02:11:22:33:44:0A").len(), 1);
    assert_eq!(csv_lines(&server, "?node_mac=ac:86:74:82:9a:30").len(), 2);
    assert_eq!(csv_lines(&server, "?since=2000-01-01&until=2000-01-02").len(), 0);

    // Bad filters: a clear message, 400, never a 500.
    for (query, message) in [
        ("?mac=zz", "mac: &quot;zz&quot; is not a MAC address"),
        ("?since=yesterday", "since: &quot;yesterday&quot; is not a time"),
        ("?associated=maybe", "associated: &quot;maybe&quot; is not true, false or any"),
        ("?network_id=x", "network_id"),
        ("?page=0", "page"),
    ] {
        let r = get(addr, &format!("/{query}"));
        assert_eq!(r.status, 400, "{query}");
        assert!(r.text().contains(message), "{query}: {}", r.text());
        let r = get(addr, &format!("/export.csv{query}"));
        if query != "?page=0" {
            assert_eq!(r.status, 400, "export {query}");
        }
    }
    let r = get(addr, "/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("62 rows match"), "{}", r.text());

    // An empty report, repeated: a sign of life each time.
    let empty = report_body(5, "02:00:00:00:00:0E", &[]);
    for _ in 0..3 {
        assert_eq!(post_signed(addr, "/presence", KEY, empty.as_bytes()).status, 200);
    }
    let aps = get(addr, "/access-points").text();
    let ap_row = aps.split("<tr data-node=\"02:00:00:00:00:0E\">").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(ap_row.contains("<td class=\"num\">3</td><td class=\"num\">3</td>"), "reports last hour / all: {ap_row}");

    // Limits: a body over 4 MiB, declared or chunked, is refused.
    let big = vec![b' '; 4 * 1024 * 1024 + 1];
    let r = request(addr, "POST", "/presence", &[("Signature", &"0".repeat(64))], &big);
    assert_eq!(r.status, 413, "{}", r.text());
    let mut chunked = Vec::new();
    for _ in 0..5 {
        chunked.extend_from_slice(format!("{:x}\r\n", 1024 * 1024).as_bytes());
        chunked.extend(std::iter::repeat_n(b' ', 1024 * 1024));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = request(addr, "POST", "/presence", &[("Transfer-Encoding", "chunked"), ("Signature", &"0".repeat(64))], &chunked);
    assert_eq!(r.status, 413, "{}", r.text());

    // 80 idle connections (more than the old receiver's 64 workers) do not
    // lock out a real access point.
    let idle: Vec<TcpStream> = (0..80).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Half of them start a request and stall in its headers.
    for s in idle.iter().take(40) {
        (&*s).write_all(b"POST /presence HTTP/1.1\r\nHost: x\r\n").unwrap();
    }
    let body = report_body(5, "02:00:00:00:00:05", &[row(99, "0e:00:00:00:00:01", false)]);
    let started = Instant::now();
    let r = post_signed(addr, "/presence", KEY, body.as_bytes());
    assert_eq!((r.status, r.text().trim()), (200, "stored 1 rows"));
    // Well within the header timeout, which would free the idle ones' slots.
    assert!(started.elapsed() < Duration::from_secs(3), "the signed POST waited {:?}", started.elapsed());
    // And the idle ones are closed after the header timeout (5 s here).
    let mut closed = 0;
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 512];
        // EOF (or a 408 then EOF) within the bound, not a read timeout.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    closed += 1;
                    break;
                }
                Ok(_) if Instant::now() < deadline => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    closed += 1;
                    break;
                }
                _ => break,
            }
        }
    }
    assert_eq!(closed, 80, "idle connections still open after the header timeout");

    // The page and the stylesheet come from the binary.
    let css = get(addr, "/static/style.css");
    assert_eq!(css.status, 200);
    assert!(css.headers.iter().any(|(k, v)| k == "content-type" && v.starts_with("text/css")));
    assert!(!get(addr, "/").text().contains("http://") && !get(addr, "/").text().contains("https://"), "no external assets");
    assert_eq!(get(addr, "/presence").status, 405);
    drop(server);
}

#[test]
fn sqlite() {
    let dir = TempDir::new("http-sqlite");
    scenarios(dir.path().join("rows.sqlite").to_str().unwrap());
}

#[test]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
fn postgres() {
    let pg = Postgres::start("http");
    scenarios(&pg.url);
}

/// Per-network keys from the config file, a default key for the rest, and
/// failures of an unconfigured sender counted in a bucket.
#[test]
fn keys_per_network() {
    let dir = TempDir::new("http-keys");
    std::fs::write(dir.path().join("a.key"), "alpha-key\n").unwrap();
    std::fs::write(dir.path().join("default.key"), "default-key").unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(&config, "[[network]]\nid = 10\nname = \"Venue A\"\nkey_file = \"a.key\"\n").unwrap();
    let db = dir.path().join("rows.sqlite");
    let only_config = Server::start(&["--database", db.to_str().unwrap(), "--config", config.to_str().unwrap()], None);
    let a = report_body(10, "02:00:00:00:00:0A", &[row(1, "0a:0a:0a:0a:0a:0a", true)]);
    let b = report_body(11, "02:00:00:00:00:0B", &[row(2, "0b:0b:0b:0b:0b:0b", true)]);
    assert_eq!(post_signed(only_config.addr, "/presence", b"alpha-key", a.as_bytes()).status, 200);
    let r = post_signed(only_config.addr, "/presence", b"alpha-key", b.as_bytes());
    assert_eq!(r.status, 403);
    assert!(r.text().contains("no key for network_id 11"), "{}", r.text());
    // Network 10's key is its own: the default key does not open it.
    assert_eq!(post_signed(only_config.addr, "/presence", b"default-key", a.as_bytes()).status, 403);
    let page = get(only_config.addr, "/").text();
    assert!(page.contains("Venue A (10)"), "the network's name is shown");
    drop(only_config);

    let with_default = Server::start(
        &[
            "--database",
            db.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--key-file",
            dir.path().join("default.key").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(post_signed(with_default.addr, "/presence", b"default-key", b.as_bytes()).status, 200);
    assert_eq!(post_signed(with_default.addr, "/presence", b"default-key", a.as_bytes()).status, 403);
    let r = request(with_default.addr, "POST", "/presence", &[("Signature", &"0".repeat(64))], b"not json at all");
    assert_eq!(r.status, 403);
    let aps = get(with_default.addr, "/access-points").text();
    assert!(aps.contains("(unidentified)") && aps.contains("(not configured)"), "{aps}");
}

#[test]
fn bad_configuration_exits_2_naming_the_option() {
    let dir = TempDir::new("http-config");
    let bin = env!("CARGO_BIN_EXE_presenced-server");
    let key = dir.path().join("k");
    std::fs::write(&key, "k").unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let key = key.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--listen", "127.0.0.1:0", "--database", "x.db"], "--key-file"),
        (vec!["--key-file", "/nonexistent/key"], "--key-file"),
        (vec!["--key-file", key, "--database", "/nonexistent/dir/rows.sqlite", "--listen", "127.0.0.1:0"], "--database"),
        (vec!["--key-file", key, "--database", "mysql://h/db"], "--database"),
        (vec!["--key-file", key, "--database", "postgres://u@127.0.0.1:1/db", "--listen", "127.0.0.1:0"], "--database"),
        (vec!["--key-file", key, "--listen", "nowhere"], "--listen"),
        (vec!["--key-file", key, "--listen", "192.0.2.1:80", "--database", ":memory:"], "--listen"),
        (vec!["--key-file", key, "--config", "/nonexistent.toml"], "--config"),
        (vec!["--key-file", key, "--retention-days", "soon"], "--retention-days"),
        (vec!["--bogus"], "command line"),
    ];
    for (args, option) in cases {
        let out = Command::new(bin).args(&args).env_remove("PRESENCED_KEY").current_dir(dir.path()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: one line, got {stderr}");
        assert!(stderr.starts_with(&format!("presenced-server: {option}")), "{args:?}: {stderr}");
    }
}

#[test]
fn rust_log_chooses_the_events() {
    let dir = TempDir::new("http-log");
    let key = dir.path().join("k");
    std::fs::write(&key, "k").unwrap();
    let bin = env!("CARGO_BIN_EXE_presenced-server");
    let out = Command::new(bin)
        .args(["--key-file", key.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info,=bogus")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line, got {stderr}");
    assert!(stderr.starts_with("presenced-server: RUST_LOG: \"info,=bogus\" is not a log filter"), "{stderr}");

    // tower-http's TraceLayer: each request's answer, at DEBUG, with its status.
    let db = dir.path().join("rows.sqlite");
    let args = ["--key-file", key.to_str().unwrap(), "--database", db.to_str().unwrap()];
    let server = Server::start_logging(&args, None, "info,tower_http=debug");
    assert_eq!(get(server.addr, "/no-such-page").status, 404);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("status=404") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = server.log();
    let answer = log.lines().find(|l| l.contains("status=404")).unwrap_or_else(|| panic!("no answer logged: {log}"));
    assert!(answer.contains("DEBUG") && answer.contains("uri=/no-such-page"), "{answer}");
}

/// A FIFO named as a key file, on the command line or in --config, is refused
/// at once: a blocking open would wait for a writer that never comes.
#[test]
fn a_fifo_as_a_key_file_is_refused_without_waiting_for_a_writer() {
    let dir = TempDir::new("http-fifo-key");
    let fifo = dir.path().join("fifo.key");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let config = dir.path().join("net.toml");
    std::fs::write(&config, "[[network]]\nid = 5\nkey_file = \"fifo.key\"\n").unwrap();
    let fifo = fifo.to_str().unwrap();
    let config = config.to_str().unwrap();
    let cases: [(&[&str], &str); 2] = [
        (&["--key-file", fifo, "--listen", "127.0.0.1:0", "--database", ":memory:"], "--key-file"),
        (&["--config", config, "--listen", "127.0.0.1:0", "--database", ":memory:"], "--config"),
    ];
    for (args, option) in cases {
        let child = Command::new(env!("CARGO_BIN_EXE_presenced-server"))
            .args(args)
            .env_remove("PRESENCED_KEY")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_or_kill(child, Duration::from_secs(20));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("presenced-server: {option}")) && stderr.contains("is not a regular file"),
            "{args:?}: {stderr}"
        );
    }
}

/// The child's output once it exits, or a failure naming the wait if it
/// does not within `timeout` (it is killed first, by its PID).
fn wait_or_kill(mut child: std::process::Child, timeout: Duration) -> std::process::Output {
    let until = Instant::now() + timeout;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {timeout:?}: it waited on the key file");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `--rebuild-analytics` recomputes the stored visits from the raw rows and
/// exits 0, telling how many rows it read: the two rows of the sample
/// posted once, and once more under another signature (a changed body),
/// so four raw rows. The dashboard's visitors chart is the same before and
/// after: by hand, 00:9a:cd:e3:15:49 seen 17:18:15 to 17:18:38 UTC is one
/// passerby (23 s) in the 17:00 bucket (the other row is randomized, apart).
#[test]
fn rebuild_analytics_from_the_command_line() {
    let dir = TempDir::new("http-rebuild");
    let db = dir.path().join("rows.sqlite");
    let db = db.to_str().unwrap();
    let dashboard = "/dashboard.csv?chart=visitors&network_id=221234&since=2016-10-07T17:00&until=2016-10-07T19:00&bucket=hour";
    let before = {
        let server = Server::start(&["--database", db], Some("fleet-secret"));
        assert_eq!(post_signed(server.addr, "/presence", KEY, SAMPLE.as_bytes()).status, 200);
        let again = SAMPLE.replace("\"version\":1", "\"version\": 1");
        assert_eq!(post_signed(server.addr, "/presence", KEY, again.as_bytes()).text().trim(), "stored 2 rows");
        let page = get(server.addr, dashboard);
        assert_eq!(page.status, 200, "{}", page.text());
        let lines: Vec<String> = page.text().lines().skip(1).map(|l| l.split_once(',').unwrap().1.to_string()).collect();
        // Visitors, passersby, then the estimated devices' (none here).
        assert_eq!(lines, ["0,1,0,0", "0,0,0,0"], "{}", page.text());
        page.text()
    };
    let out = Command::new(env!("CARGO_BIN_EXE_presenced-server"))
        .args(["--database", db, "--rebuild-analytics"])
        .env("PRESENCED_KEY", "fleet-secret")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("rebuilt the analytics of 1 network(s) from 4 raw rows"), "{stderr}");
    let server = Server::start(&["--database", db], Some("fleet-secret"));
    let after = get(server.addr, dashboard);
    assert_eq!(after.text(), before, "the same dashboard from the rebuilt visits");
}

fn content_type(r: &support::Response) -> &str {
    r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// Refusals of every kind, byte for byte with their status and content
/// type: plain text for the pages, exports and reports, the envelope for
/// the query API. The texts are the ones README and the agent's log show.
#[test]
fn refusals_byte_for_byte() {
    let dir = TempDir::new("http-refusals");
    let db = dir.path().join("rows.sqlite");
    let server = Server::start(&["--database", db.to_str().unwrap()], Some("fleet-secret"));
    let text = "text/plain; charset=utf-8";
    let r = get(server.addr, "/no-such-page");
    assert_eq!(
        (r.status, content_type(&r), r.text().as_str()),
        (404, text, "not found: the pages are /, /access-points and /dashboard; reports are POSTed\n")
    );
    let r = get(server.addr, "/dashboard.csv?chart=pie");
    assert_eq!(
        (r.status, content_type(&r), r.text().as_str()),
        (400, text, "chart: \"pie\" is not one of occupancy, visitors, capture, dwell, new_repeat, randomized\n")
    );
    let r = get(server.addr, "/dashboard.csv?chart=visitors&network_id=7&bucket=week");
    assert_eq!((r.status, r.text().as_str()), (400, "bucket: \"week\" is not hour or day\n"));
    let sig = support::python_hmac_sha256(KEY, SAMPLE.as_bytes());
    let r = request(server.addr, "POST", "/presence", &[("Signature", &sig), ("Signature", &sig)], SAMPLE.as_bytes());
    assert_eq!((r.status, content_type(&r), r.text().as_str()), (400, text, "more than one Signature header\n"));
    let r = post_signed(server.addr, "/presence", KEY, b"{\"network_id\":1}");
    assert_eq!((r.status, content_type(&r)), (400, text));
    let r = request(server.addr, "GET", "/service/api/v1/visits", &[], b"");
    assert_eq!(
        (r.status, content_type(&r), r.text().as_str()),
        (
            404,
            "application/json",
            r#"{"code":5,"msg":"no such endpoint; they are /service/api/v1/ + locations, channels, events, totals/types, totals/triggers, histograms","result":[]}"#
        )
    );
    let r = request(server.addr, "GET", "/service/api/v1/locations?nonce=1", &[], b"");
    assert_eq!(
        (r.status, content_type(&r), r.text().as_str()),
        (401, "application/json", r#"{"code":2,"msg":"missing X-Key header (the API's public key)","result":[]}"#)
    );
}

/// The database gone (its PostgreSQL killed): every page, export, report
/// and API request is answered 503 with a message saying what to do, not
/// the driver's error, and within the pool's 10 s bound.
#[test]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
fn a_database_that_is_gone_gets_a_clear_503_everywhere() {
    let pg = Postgres::start("http-gone");
    let dir = TempDir::new("http-gone");
    std::fs::write(dir.path().join("api.secret"), "gone-secret").unwrap();
    std::fs::write(dir.path().join("key"), KEY).unwrap();
    std::fs::write(
        dir.path().join("server.toml"),
        "[[network]]\nid = 221234\nkey_file = \"key\"\n[[api_key]]\npublic = \"pk_gone\"\nsecret_file = \"api.secret\"\n",
    )
    .unwrap();
    let server = Server::start(&["--database", &pg.url, "--config", dir.path().join("server.toml").to_str().unwrap()], None);
    assert_eq!(post_signed(server.addr, "/presence", KEY, SAMPLE.as_bytes()).status, 200);
    drop(pg);
    let addr = server.addr;
    let pages = ["/", "/access-points", "/export.csv", "/dashboard", "/dashboard.csv?chart=visitors"];
    let waits: Vec<_> = pages
        .into_iter()
        .map(|path| std::thread::spawn(move || (path, get(addr, path))))
        .chain([std::thread::spawn(move || ("POST /presence", post_signed(addr, "/presence", KEY, SAMPLE.replace("\"version\":1", "\"version\": 1").as_bytes())))])
        .chain([std::thread::spawn(move || ("API", support::api_get(addr, "pk_gone", b"gone-secret", "/service/api/v1/locations?nonce=5")))])
        .collect();
    for wait in waits {
        let (what, r) = wait.join().unwrap();
        let expected = match what {
            "POST /presence" => "the database cannot store the report now; send it again\n",
            "API" => r#"{"code":7,"msg":"the database is not answering now; try again","result":[]}"#,
            _ => "the database is not answering now; try again\n",
        };
        assert_eq!((r.status, r.text().as_str()), (503, expected), "{what}");
    }
}
