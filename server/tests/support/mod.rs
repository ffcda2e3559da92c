//! Helpers for the server's integration tests.
//!
//! - `python_hmac_sha256` (presenced-test-support's, shared with the
//!   agent's tests) and `python_hmac_sha256_lines`: expected signatures from
//!   Python's `hmac`, not from the code under test.
//! - `TempDir`, `shared_capture`: presenced-test-support's.
//! - `Postgres`: a private PostgreSQL cluster (Debian's binaries, run as the
//!   `postgres` user) on a unix socket in a temp dir, stopped by PID on drop.
//! - `Server`: `presenced-server` as a child process on a free port.
//! - `agent`, `shared_capture`: the agent's release binary, a shared capture.
//! - `http`: a small blocking HTTP/1.1 client over a TcpStream, so that the
//!   tests see exactly the bytes on the wire.
//! - `HookSink`: a webhook endpoint that answers 200 and keeps every body.

#![allow(dead_code, unused_imports)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Debian's PostgreSQL server binaries: PRESENCED_PG_BIN, else the newest
/// /usr/lib/postgresql/N/bin (15 on bookworm).
pub fn pg_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PRESENCED_PG_BIN") {
        return PathBuf::from(dir);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .max();
    match newest {
        Some(v) => PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")),
        None => panic!("no /usr/lib/postgresql/N/bin: install Debian's postgresql (make deps)"),
    }
}

/// A MAC's object_id as the API and webhooks give it, by Python's hmac.
pub fn python_pseudonym(key: &[u8], mac: &str) -> String {
    let script = "import hashlib, hmac, sys; \
                  print(hmac.new(sys.argv[1].encode(), b'presenced object id\\0' + sys.stdin.buffer.read(), hashlib.sha256).hexdigest()[:16])";
    let out = run_with_stdin(Command::new("python3").args(["-c", script, std::str::from_utf8(key).unwrap()]), mac.as_bytes());
    String::from_utf8(out).unwrap().trim().to_string()
}

pub use presenced_test_support::python_hmac_sha256;

/// `python_hmac_sha256` of each of `bodies` (one line each, as JSON bodies
/// are) from one python3 process.
pub fn python_hmac_sha256_lines(key: &[u8], bodies: &[String]) -> Vec<String> {
    let script = "import hashlib, hmac, sys\n\
                  for line in sys.stdin.buffer.read().split(b'\\n')[:-1]: print(hmac.new(bytes.fromhex(sys.argv[1]), line, hashlib.sha256).hexdigest())";
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mut input = Vec::new();
    for b in bodies {
        assert!(!b.contains('\n'), "a body of one line");
        input.extend_from_slice(b.as_bytes());
        input.push(b'\n');
    }
    let out = run_with_stdin(Command::new("python3").args(["-c", script, &key_hex]), &input);
    let signatures: Vec<String> = String::from_utf8(out).unwrap().lines().map(str::to_string).collect();
    assert_eq!(signatures.len(), bodies.len(), "python3 signed {} of {} bodies", signatures.len(), bodies.len());
    signatures
}

/// Runs `cmd` with `input` on stdin (written from a thread, so a large input
/// cannot deadlock against stdout) and returns stdout; panics on failure.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Vec<u8> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd:?} failed: {:?}", out.status);
    out.stdout
}

pub use presenced_test_support::TempDir;

/// A PostgreSQL cluster of this test alone. Fails (never skips) when it
/// cannot start: `make test` must not pass without having run the tests on
/// PostgreSQL.
pub struct Postgres {
    pid: i32,
    pub url: String,
    dir: TempDir,
}

impl Postgres {
    pub fn start(tag: &str) -> Postgres {
        let dir = TempDir::new(&format!("pg-{tag}"));
        let data = dir.path().join("data");
        let socket = dir.path().join("socket");
        for d in [&data, &socket] {
            std::fs::create_dir_all(d).unwrap();
        }
        // The postgres user must reach the socket and data directories.
        chmod(dir.path(), 0o755);
        let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "cannot chown the test cluster to user postgres: is Debian's postgresql installed (make deps)?"
        );
        let as_postgres = |program: &str| {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(pg_bin().join(program));
            c
        };
        let out = as_postgres("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "-D"])
            .arg(&data)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}/initdb as postgres: {e} (make deps installs postgresql)", pg_bin().display()));
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let log = dir.path().join("postgres.log");
        std::fs::write(&log, "").unwrap();
        let _ = Command::new("chown").args(["postgres:postgres"]).arg(&log).status();
        let options = format!("-k {} -c listen_addresses='' -c fsync=off -c synchronous_commit=off", socket.display());
        let out = as_postgres("pg_ctl")
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-o", &options])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "PostgreSQL did not start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let pid_text = std::fs::read_to_string(data.join("postmaster.pid")).unwrap();
        let pid: i32 = pid_text.lines().next().unwrap().trim().parse().unwrap();
        let url = format!("postgres://postgres@localhost/postgres?host={}", socket.display());
        Postgres { pid, url, dir }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown; nothing here needs to survive.
        let _ = Command::new("kill").args(["-QUIT", &self.pid.to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Path::new(&format!("/proc/{}", self.pid)).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = &self.dir;
    }
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `presenced-server` as a child process, killed by PID on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// `args` come after `--listen 127.0.0.1:0`; the address is read from
    /// the server's "listening on http://..." log event (events of the
    /// start, a rebuild's, may come before it).
    pub fn start(args: &[&str], env_key: Option<&str>) -> Server {
        Server::start_logging(args, env_key, "info")
    }

    /// As `start`, with RUST_LOG set to `filter` (never the caller's own).
    pub fn start_logging(args: &[&str], env_key: Option<&str>, filter: &str) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_presenced-server"));
        cmd.args(["--listen", "127.0.0.1:0"]).args(args).stderr(Stdio::piped()).stdout(Stdio::null());
        cmd.env("RUST_LOG", filter);
        cmd.env_remove("PRESENCED_KEY");
        if let Some(k) = env_key {
            cmd.env("PRESENCED_KEY", k);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                log2.lock().unwrap().push_str(&(line.clone() + "\n"));
                if !sent && line.contains(" listening on http://") {
                    let _ = tx.send(line);
                    sent = true;
                }
            }
            if !sent {
                // Ended without listening: the whole log says why.
                let _ = tx.send(log2.lock().unwrap().clone());
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(30));
        let Ok(first) = first else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("presenced-server was not listening within 30 s");
        };
        let Some(addr) = first.split(" listening on http://").nth(1).and_then(|s| s.split_whitespace().next()) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("presenced-server did not start: {first}");
        };
        Server { addr: addr.parse().unwrap(), child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request on a new connection (`Connection: close`), the response read
/// to its end; every read has a 30 s bound.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    try_request(addr, method, path, headers, body).unwrap_or_else(|e| panic!("{method} {path} to {addr}: {e}"))
}

/// `request`, with a failure to connect or a connection closed before any
/// answer as an error (a server killed on purpose).
pub fn try_request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Response> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding")) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    // A server may answer and close before the whole body is written (413).
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    if !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the connection closed before an answer"));
    }
    Ok(parse_response(&raw))
}

pub fn parse_response(raw: &[u8]) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    Response { status, headers, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

pub fn post_signed(addr: SocketAddr, path: &str, key: &[u8], body: &[u8]) -> Response {
    let sig = python_hmac_sha256(key, body);
    request(addr, "POST", path, &[("Signature", &sig), ("Content-Type", "application/json")], body)
}

/// `post_signed` with `signature` computed beforehand, failures as errors.
pub fn try_post(addr: SocketAddr, path: &str, signature: &str, body: &[u8]) -> std::io::Result<Response> {
    try_request(addr, "POST", path, &[("Signature", signature), ("Content-Type", "application/json")], body)
}

/// A query API request: `uri` signed with `secret` by Python's hmac, sent
/// with `X-Key: public`.
pub fn api_get(addr: SocketAddr, public: &str, secret: &[u8], uri: &str) -> Response {
    let sign = python_hmac_sha512(secret, uri);
    request(addr, "GET", uri, &[("X-Key", public), ("X-Sign", &sign)], b"")
}

/// How many pairs `back_to_back` sends before it gives up on the machine.
const BACK_TO_BACK_TRIES: u64 = 5;

/// Two query API requests with the same key, the second sent as soon as the
/// first is answered (to `first`, then to `second`; both signed beforehand),
/// for checking the rate of one request a second. The server times each
/// request inside the span the client sees from sending the first to the
/// second's answer, so only a pair seen within one second must meet the
/// rate; a pair a loaded machine spread wider proves nothing, and another
/// is sent after a pause (try `i` uses nonces `from + 2i` and
/// `from + 2i + 1`), a few times at most. Returns the first quick pair's
/// answers and nonces.
pub fn back_to_back(
    first: SocketAddr,
    second: SocketAddr,
    public: &str,
    secret: &[u8],
    uri_of: impl Fn(u64) -> String,
    from: u64,
) -> ([Response; 2], [u64; 2]) {
    for i in 0..BACK_TO_BACK_TRIES {
        if i > 0 {
            // Past the rate of whatever the last pair left behind.
            std::thread::sleep(Duration::from_millis(1100));
        }
        let nonces = [from + 2 * i, from + 2 * i + 1];
        let uris = nonces.map(&uri_of);
        let signs = [python_hmac_sha512(secret, &uris[0]), python_hmac_sha512(secret, &uris[1])];
        let started = Instant::now();
        let answered = request(first, "GET", &uris[0], &[("X-Key", public), ("X-Sign", &signs[0])], b"");
        let soon = request(second, "GET", &uris[1], &[("X-Key", public), ("X-Sign", &signs[1])], b"");
        if started.elapsed() < Duration::from_secs(1) {
            return ([answered, soon], nonces);
        }
    }
    panic!("{BACK_TO_BACK_TRIES} pairs of requests each took a second or more: too slow a machine to check the rate");
}

/// The query API's refusal code of a response (0 for success).
pub fn api_code(r: &Response) -> i64 {
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()));
    v["code"].as_i64().unwrap_or_else(|| panic!("no code: {v}"))
}

pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], b"")
}

/// A report body written out as text, the way the vendor documents print it.
pub fn report_body(network_id: u64, node_mac: &str, rows: &[RowSpec]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                r#"{{"mac":"{}","count":{},"min_signal":{},"max_signal":{},"avg_signal":{},"last_seen_signal":{},"first_seen":{},"last_seen":{},"associated":{}}}"#,
                r.mac, r.count, r.min, r.max, r.avg, r.last, r.first_seen, r.last_seen, r.associated
            )
        })
        .collect();
    format!(r#"{{"network_id":{network_id},"node_mac":"{node_mac}","version":1,"probe_requests":[{}]}}"#, rows.join(","))
}

#[derive(Clone, Debug)]
pub struct RowSpec {
    pub mac: String,
    pub count: u32,
    pub min: i32,
    pub max: i32,
    pub avg: i32,
    pub last: i32,
    pub first_seen: i64,
    pub last_seen: i64,
    pub associated: bool,
}

/// A row whose fields all differ from each other, derived from `i`, so that
/// a column stored in the wrong place shows.
pub fn row(i: u32, mac: &str, associated: bool) -> RowSpec {
    RowSpec {
        mac: mac.to_string(),
        count: 3 + i,
        min: -90 + i as i32,
        max: -40 - i as i32,
        avg: -60,
        last: -70 + i as i32,
        first_seen: 1_475_860_000 + i as i64,
        last_seen: 1_475_860_100 + i as i64,
        associated,
    }
}

/// The CSV line the export must give for `r` sent in a report of
/// `network_id` from `node_mac`: the issue's column order, built here from
/// the test's own values.
pub fn expected_csv_prefix(network_id: u64, node_mac: &str, r: &RowSpec) -> String {
    format!(
        "{network_id},{node_mac},{},{},{},{},{},{},{},{},{},",
        r.mac, r.count, r.min, r.max, r.avg, r.last, r.first_seen, r.last_seen, r.associated
    )
}

/// The agent's binary: PRESENCED_AGENT, else the workspace's
/// target/release/presenced (what `make test-server` builds), else its
/// target/debug/presenced (what `cargo test --workspace` or `cargo build`
/// leaves), so that a user's `cargo test` of the server needs no extra step.
pub fn agent() -> PathBuf {
    if let Some(p) = std::env::var_os("PRESENCED_AGENT") {
        let path = PathBuf::from(p);
        assert!(path.is_file(), "PRESENCED_AGENT={} is not a file", path.display());
        return path;
    }
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target");
    let candidates = [target.join("release/presenced"), target.join("debug/presenced")];
    match candidates.iter().find(|p| p.is_file()) {
        Some(path) => path.clone(),
        None => panic!(
            "neither {} nor {} exists: build the agent first (cargo build --release --locked at the root; make test-server does)",
            candidates[0].display(),
            candidates[1].display()
        ),
    }
}

pub use presenced_test_support::data::shared_capture;

/// Lower-case hex HMAC-SHA512 of `message` keyed with `key`, from Python's
/// `hmac`: the query API's X-Sign, computed apart from the server's code.
pub fn python_hmac_sha512(key: &[u8], message: &str) -> String {
    presenced_test_support::python_hmac_sha512(key, message.as_bytes())
}

pub const DAY: i64 = 86_400;
pub const H: i64 = 3600;
pub const M: i64 = 60;
/// 2026-11-30 00:00:00 UTC, a Monday (`date -u -d 2026-11-30 +%s`).
pub const MON: i64 = 1_795_996_800;
pub const AP1: &str = "AC:86:74:00:00:01";
pub const AP2: &str = "AC:86:74:00:00:02";

/// One synthetic sighting: (node, mac, first_seen, last_seen, max_signal, associated).
pub type Sight = (&'static str, &'static str, i64, i64, i32, bool);

/// Multi-day synthetic sightings whose visits and metrics are worked out
/// by hand in tests/analytics.rs (and checked in the browser test).
pub fn synthetic_days() -> Vec<Sight> {
    let a = "00:11:22:33:44:01";
    let mut v: Vec<Sight> = vec![
        // A, Monday: 10:00-10:05 and, after a gap of exactly 15 min,
        // 10:20-10:30: two visits (300 s and 600 s, both visitors).
        (AP1, a, MON + 10 * H, MON + 10 * H + 5 * M, -60, false),
        (AP1, a, MON + 10 * H + 20 * M, MON + 10 * H + 30 * M, -60, false),
        // B: Monday 23:40 to Tuesday 00:30 across midnight and two access
        // points (gap 6 min): one visit of 50 min, connected at AP2.
        (AP1, "00:11:22:33:44:02", MON + 23 * H + 40 * M, MON + 23 * H + 59 * M, -70, false),
        (AP2, "00:11:22:33:44:02", MON + DAY + 5 * M, MON + DAY + 30 * M, -72, true),
        // C: an hour at -80 dBm: a passerby by its signal.
        (AP1, "00:11:22:33:44:03", MON + 12 * H, MON + 13 * H, -80, false),
        // D: a randomized address, 40 min: a visitor counted apart.
        (AP1, "da:11:22:33:44:04", MON + 14 * H + 10 * M, MON + 14 * H + 50 * M, -50, false),
        // F: 2 min at -40 dBm: a passerby by its dwell.
        (AP1, "00:11:22:33:44:06", MON + 10 * H + 2 * M, MON + 10 * H + 4 * M, -40, false),
        // E: Tuesday 11:55-12:05, across two hour buckets.
        (AP1, "00:11:22:33:44:05", MON + DAY + 11 * H + 55 * M, MON + DAY + 12 * H + 5 * M, -60, false),
        // A again on Wednesday 09:00-09:30: a repeat visitor.
        (AP1, a, MON + 2 * DAY + 9 * H, MON + 2 * DAY + 9 * H + 30 * M, -65, false),
    ];
    // Wednesday, rows of 5 min every 10 min (gaps of 5 min): G from 06:00 to
    // 12:55 (6 h 55 min), H from 08:00 to 09:55 (1 h 55 min).
    for (mac, from, to) in [("00:11:22:33:44:07", 6 * H, 13 * H), ("00:11:22:33:44:08", 8 * H, 10 * H)] {
        let mut t = MON + 2 * DAY + from;
        while t < MON + 2 * DAY + to {
            v.push((AP1, mac, t, t + 5 * M, -55, false));
            t += 10 * M;
        }
    }
    v
}


/// A webhook endpoint that answers every POST with 200 and keeps its body,
/// one request per connection; its thread ends with the test process.
pub struct HookSink {
    pub addr: SocketAddr,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// While set, every POST is answered 503 and its body not kept.
    refusing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    refused: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl HookSink {
    pub fn start() -> HookSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = bodies.clone();
        let refusing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let refused = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (refusing2, refused2) = (refusing.clone(), refused.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.trim().eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                let read = reader.read_exact(&mut body).is_ok();
                if refusing2.load(std::sync::atomic::Ordering::SeqCst) {
                    refused2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    continue;
                }
                if read {
                    kept.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            }
        });
        HookSink { addr, bodies, refusing, refused }
    }

    /// From now on answer 503 (true) or 200 again (false).
    pub fn refuse(&self, refuse: bool) {
        self.refusing.store(refuse, std::sync::atomic::Ordering::SeqCst);
    }

    /// POSTs answered 503 so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Every event received so far (each body is an array of events).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| match serde_json::from_str::<serde_json::Value>(b) {
                Ok(serde_json::Value::Array(events)) => events,
                other => panic!("a webhook body that is not a JSON array: {b} ({other:?})"),
            })
            .collect()
    }
}
