//! `make bench-server`: a load generator of N simulated access points, each
//! posting a signed report of 50 clients every RATE seconds, against
//! presenced-server on SQLite and on PostgreSQL and against a minimal Flask +
//! SQLite receiver of NCompass's shape (server/bench/flask_receiver.py).
//! Figures are printed, never asserted.
//!
//! Sustained: reports arrive evenly at N/RATE per second for SECONDS;
//! latency is counted from each report's scheduled time, so a server that
//! falls behind shows it in p99 instead of slowing the generator down.
//! Burst: CONNECTIONS clients post back to back, as fast as answered.
//! First, the store alone: the same reports handed to `Store::ingest`
//! without HTTP, which separates the database's ceiling from the server's.
//!
//! Environment: BENCH_APS (10000), BENCH_RATE (30), BENCH_SECONDS (30),
//! BENCH_BURST_SECONDS (10), BENCH_BURST_CONNECTIONS (64), BENCH_STORE_REPORTS (20000),
//! BENCH_STORE_ONLY (set: the store alone, nothing else),
//! BENCH_FLASK_PYTHON (a python with Flask; the Flask run is left out without it).

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use presenced_report::{signature, ProbeRow, Report};
use presenced_server::config::Database;
use presenced_server::store::Store;
use support::{Postgres, Server, TempDir};
use tokio::sync::Semaphore;

const KEY: &[u8] = b"bench-key";
const CLIENTS_PER_REPORT: usize = 50;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Report `seq` of access point `ap`: 50 clients, fields varied so that
/// rows are not all alike, the body signed as presenced signs it.
fn report(ap: u64, seq: u64) -> (Bytes, String) {
    let body = report_struct(ap, seq).to_body();
    let sig = signature(KEY, &body);
    (Bytes::from(body), sig)
}

fn report_struct(ap: u64, seq: u64) -> Report {
    let now = 1_764_600_000 + seq as i64;
    let probe_requests = (0..CLIENTS_PER_REPORT as u64)
        .map(|c| {
            let x = ap.wrapping_mul(2_654_435_761) ^ (seq.wrapping_mul(40_503) + c);
            ProbeRow {
                mac: format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", 2 | (x & 0xfc) as u8, (x >> 8) as u8, (x >> 16) as u8, c as u8, (seq >> 8) as u8, seq as u8),
                count: 1 + (x % 40) as u32,
                min_signal: -90 + (x % 20) as i32,
                max_signal: -40 - (x % 10) as i32,
                avg_signal: -60,
                last_seen_signal: -70 + (x % 15) as i32,
                first_seen: now - 29,
                last_seen: now - (x % 29) as i64,
                associated: x % 7 == 0,
                estimated_device: false,
            }
        })
        .collect();
    Report {
        network_id: 1 + ap % 10,
        node_mac: format!("02:00:00:{:02X}:{:02X}:{:02X}", (ap >> 16) as u8, (ap >> 8) as u8, ap as u8),
        version: 1,
        probe_requests,
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

async fn post(client: &HttpClient, url: &str, body: Bytes, sig: &str) -> bool {
    let req = hyper::Request::post(url)
        .header("Signature", sig)
        .header("Content-Type", "application/json")
        .body(Full::new(body))
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(30), client.request(req)).await {
        Ok(Ok(resp)) => {
            let ok = resp.status().is_success();
            let _ = resp.into_body().collect().await;
            ok
        }
        _ => false,
    }
}

struct Figures {
    sent: u64,
    ok: u64,
    elapsed: Duration,
    latencies_ms: Vec<f64>,
}

impl Figures {
    fn print(&self, what: &str) {
        let mut l = self.latencies_ms.clone();
        l.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let pct = |p: f64| if l.is_empty() { f64::NAN } else { l[((l.len() - 1) as f64 * p) as usize] };
        let secs = self.elapsed.as_secs_f64();
        println!(
            "  {what:<10} {:>8.1} reports/s {:>9.0} rows/s  p50 {:>8.1} ms  p99 {:>8.1} ms  ({} of {} answered 2xx in {:.1} s)",
            self.ok as f64 / secs,
            self.ok as f64 * CLIENTS_PER_REPORT as f64 / secs,
            pct(0.50),
            pct(0.99),
            self.ok,
            self.sent,
            secs
        );
    }
}

async fn sustained(client: &HttpClient, url: &str, aps: u64, rate: u64, seconds: u64) -> Figures {
    let total = aps * seconds / rate;
    let gap = Duration::from_secs_f64(rate as f64 / aps as f64);
    let inflight = Arc::new(Semaphore::new(2048));
    let ok = Arc::new(AtomicU64::new(0));
    let lat = Arc::new(std::sync::Mutex::new(Vec::with_capacity(total as usize)));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for k in 0..total {
        let due = start + gap * k as u32;
        tokio::time::sleep_until(due).await;
        let permit = inflight.clone().acquire_owned().await.unwrap();
        let (client, url, ok, lat) = (client.clone(), url.to_string(), ok.clone(), lat.clone());
        tasks.push(tokio::spawn(async move {
            let (body, sig) = report(k % aps, k / aps);
            if post(&client, &url, body, &sig).await {
                ok.fetch_add(1, Ordering::Relaxed);
                lat.lock().unwrap().push(due.elapsed().as_secs_f64() * 1000.0);
            }
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    let latencies_ms = lat.lock().unwrap().clone();
    Figures { sent: total, ok: ok.load(Ordering::Relaxed), elapsed, latencies_ms }
}

async fn burst(client: &HttpClient, url: &str, connections: u64, seconds: u64, seq_base: u64) -> Figures {
    let until = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let lat = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..connections {
        let (client, url, sent, ok, lat) = (client.clone(), url.to_string(), sent.clone(), ok.clone(), lat.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < until {
                let (body, sig) = report(w, seq_base + n);
                n += 1;
                sent.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                if post(&client, &url, body, &sig).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                    lat.lock().unwrap().push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let latencies_ms = lat.lock().unwrap().clone();
    Figures { sent: sent.load(Ordering::Relaxed), ok: ok.load(Ordering::Relaxed), elapsed: start.elapsed(), latencies_ms }
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// utime + stime of a process in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The store alone, without HTTP or signature checks: CONNECTIONS tasks call
/// `Store::ingest` back to back for BENCH_STORE_REPORTS reports. On SQLite
/// this is the single writer's ceiling and the CPU it takes per report
/// (this process's, the writer being in it).
async fn store_alone(name: &str, database: Database) {
    let n = env_num("BENCH_STORE_REPORTS", 20_000);
    let connections = env_num("BENCH_BURST_CONNECTIONS", 64);
    let store = Store::open(&database).await.unwrap();
    let reports: Arc<Vec<(Report, String)>> = Arc::new(
        (0..n)
            .map(|i| {
                let r = report_struct(i % 10_000, 2_000_000 + i / 10_000);
                let sig = signature(KEY, &r.to_body());
                (r, sig)
            })
            .collect(),
    );
    let next = Arc::new(AtomicU64::new(0));
    let cpu_before = cpu_ticks(std::process::id());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (store, reports, next) = (store.clone(), reports.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((report, sig)) = reports.get(i as usize) else { return };
                store.ingest(report, sig, 1_764_600_000 + i as i64).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_ticks(std::process::id()).zip(cpu_before).map(|(a, b)| (a - b) as f64 * 10.0 / n as f64);
    println!(
        "{name}, the store alone ({connections} tasks calling Store::ingest): {:.0} reports/s, {:.0} rows/s{}",
        n as f64 / secs,
        (n * CLIENTS_PER_REPORT as u64) as f64 / secs,
        cpu.map(|ms| format!(", {ms:.2} ms of this process's CPU per report")).unwrap_or_default()
    );
    store.close().await;
}

fn files_size(base: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| std::fs::metadata(format!("{}{s}", base.display())).map(|m| m.len()).unwrap_or(0))
        .sum()
}

/// The rows of `table`, and the bytes of its pages and its indexes' (the
/// raw rows alone, without what the server builds from them).
async fn sqlite_rows(path: &Path, table: &str) -> (i64, u64) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&pool).await.unwrap();
    let bytes: i64 = sqlx::query_scalar(
        "SELECT SUM(pgsize) FROM dbstat WHERE name = $1 OR name IN (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1)",
    )
    .bind(table)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    (n, bytes as u64)
}

/// `size` answers the rows stored, the database's bytes and the raw rows'
/// own bytes (their table and its indexes).
async fn run_target(name: &str, url: &str, pid: u32, size: impl AsyncFnOnce() -> (i64, u64, u64)) {
    let aps = env_num("BENCH_APS", 10_000);
    let rate = env_num("BENCH_RATE", 30);
    let seconds = env_num("BENCH_SECONDS", 30);
    let client: HttpClient = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(4096).build_http();
    println!("{name}: {aps} access points every {rate} s ({:.0} reports/s offered) for {seconds} s, then a burst", aps as f64 / rate as f64);
    let cpu_before = cpu_ticks(pid);
    let figures = sustained(&client, url, aps, rate, seconds).await;
    figures.print("sustained");
    if let (Some(before), Some(after)) = (cpu_before, cpu_ticks(pid)) {
        println!(
            "  server CPU while sustained: {:.2} ms per answered report ({:.0} % of one core)",
            (after - before) as f64 * 10.0 / figures.ok.max(1) as f64,
            (after - before) as f64 / figures.elapsed.as_secs_f64()
        );
    }
    burst(&client, url, env_num("BENCH_BURST_CONNECTIONS", 64), env_num("BENCH_BURST_SECONDS", 10), 1_000_000).await.print("burst");
    let (rss, hwm) = rss_kib(pid);
    let (rows, bytes, raw_bytes) = size().await;
    let per_million = |b: u64| if rows > 0 { b as f64 / 1048576.0 / rows as f64 * 1e6 } else { f64::NAN };
    println!(
        "  server RSS {:.1} MiB (peak {:.1} MiB); {} rows, database {:.1} MiB = {:.0} MiB per million rows, of which the raw rows and their indexes {:.0} MiB",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        rows,
        bytes as f64 / 1048576.0,
        per_million(bytes),
        per_million(raw_bytes)
    );
}

struct Flask(Child);

impl Drop for Flask {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = TempDir::new("bench");

    store_alone("SQLite", Database::Sqlite(dir.path().join("alone.sqlite"))).await;
    {
        let pg = Postgres::start("bench-alone");
        store_alone("PostgreSQL", Database::Postgres(pg.url.clone())).await;
    }
    if std::env::var_os("BENCH_STORE_ONLY").is_some() {
        return;
    }

    {
        let db = dir.path().join("bench.sqlite");
        let key = dir.path().join("key");
        std::fs::write(&key, KEY).unwrap();
        let server = Server::start(&["--database", db.to_str().unwrap(), "--key-file", key.to_str().unwrap()], None);
        let pid = server.pid();
        run_target("presenced-server, SQLite", &server.url("/presence"), pid, async || {
            let (rows, raw) = sqlite_rows(&db, "probe_rows").await;
            (rows, files_size(&db), raw)
        })
        .await;
    }

    {
        let pg = Postgres::start("bench");
        let key = dir.path().join("key");
        let server = Server::start(&["--database", &pg.url, "--key-file", key.to_str().unwrap()], None);
        let pid = server.pid();
        let url = pg.url.clone();
        run_target("presenced-server, PostgreSQL", &server.url("/presence"), pid, async move || {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM probe_rows").fetch_one(&pool).await.unwrap();
            let bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(&pool).await.unwrap();
            let raw: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('probe_rows')").fetch_one(&pool).await.unwrap();
            pool.close().await;
            (rows, bytes as u64, raw as u64)
        })
        .await;
        println!("  (PostgreSQL runs with fsync=off here, the test cluster's settings; its own RSS is not counted)");
        drop(server);
    }

    match std::env::var_os("BENCH_FLASK_PYTHON") {
        None => println!("Flask baseline left out: set BENCH_FLASK_PYTHON to a python with Flask (make bench-server does)"),
        Some(python) => {
            let db: PathBuf = dir.path().join("flask.sqlite");
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/flask_receiver.py");
            let child = Command::new(python)
                .arg(&script)
                .arg(port.to_string())
                .arg(&db)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let flask = Flask(child);
            let until = Instant::now() + Duration::from_secs(30);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < until, "the Flask receiver did not start");
                std::thread::sleep(Duration::from_millis(100));
            }
            let pid = flask.0.id();
            run_target("Flask + SQLite (NCompass's shape, no signature check)", &format!("http://127.0.0.1:{port}/receive"), pid, async || {
                let (rows, raw) = sqlite_rows(&db, "probe_request").await;
                (rows, files_size(&db), raw)
            })
            .await;
        }
    }
}
