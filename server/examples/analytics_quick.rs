//! A quick check of the stored analytics' cost (not the benchmark, which
//! `make bench-analytics` runs): a venue's generated history fed through
//! `Store::ingest` (the sessionizer on), then the views' latency.
//!
//! QUICK_DB (sqlite path or postgres URL), QUICK_APS [10], QUICK_CLIENTS
//! [50 a window per access point], QUICK_DAYS [1]. Clients stay about 30
//! minutes (a 1/60 chance to leave each 30 s window), one in five leavers
//! comes back later (a repeat visitor), one in five MACs is randomized.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use presenced_report::Report;
use presenced_server::config::parse_database;
use presenced_server::metrics::{Bucket, Range};
use presenced_server::store::Store;
use presenced_server::visits::NetworkRules;

const NET: i64 = 7;
const WINDOW: i64 = 30;
const START: i64 = 1_790_000_000 - 1_790_000_000 % 86_400;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

fn mac(n: u64, randomized: bool) -> String {
    let first = if randomized { 0xda } else { 0x00 };
    format!("{first:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", n >> 32 & 0xff, n >> 24 & 0xff, n >> 16 & 0xff, n >> 8 & 0xff, n & 0xff)
}

fn reports(aps: u64, clients: u64, days: u64) -> Vec<(Report, String, i64)> {
    let mut rng = Rng(42);
    let mut next_client = 0u64;
    let mut gone: Vec<u64> = Vec::new();
    let mut present: Vec<Vec<u64>> = (0..aps)
        .map(|_| {
            (0..clients)
                .map(|_| {
                    next_client += 1;
                    next_client
                })
                .collect()
        })
        .collect();
    let windows = days as i64 * 86_400 / WINDOW;
    let mut out = Vec::with_capacity((windows as u64 * aps) as usize);
    for w in 0..windows {
        let t = START + w * WINDOW;
        for (ap, here) in present.iter_mut().enumerate() {
            for c in here.iter_mut() {
                if rng.next() % 60 == 0 {
                    gone.push(*c);
                    *c = if rng.next() % 5 == 0 && gone.len() > 100 {
                        gone.swap_remove((rng.next() as usize) % (gone.len() - 50))
                    } else {
                        next_client += 1;
                        next_client
                    };
                }
            }
            let rows: Vec<String> = here
                .iter()
                .map(|c| {
                    let first = t + (rng.next() % 10) as i64;
                    format!(
                        r#"{{"mac":"{}","count":3,"min_signal":-80,"max_signal":{},"avg_signal":-70,"last_seen_signal":-70,"first_seen":{first},"last_seen":{},"associated":{}}}"#,
                        mac(*c, c % 5 == 0),
                        -50 - (c % 40) as i32,
                        first + 15,
                        c % 7 == 0
                    )
                })
                .collect();
            let body = format!(
                r#"{{"network_id":{NET},"node_mac":"ac:86:74:00:00:{ap:02x}","version":1,"probe_requests":[{}]}}"#,
                rows.join(",")
            );
            let report = Report::from_body(body.as_bytes()).expect("generated report");
            out.push((report, format!("{:064x}", out.len() + 1), t + WINDOW));
        }
    }
    out
}

/// This process's user + system CPU in ms: wall time on a machine shared
/// with other builds says little.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rfind(')').map(|i| &stat[i + 2..]).unwrap_or("");
    let f: Vec<u64> = rest.split(' ').skip(11).take(2).filter_map(|x| x.parse().ok()).collect();
    f.iter().sum::<u64>() as f64 * 10.0
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let db = std::env::var("QUICK_DB").unwrap_or_else(|_| "/tmp/analytics-quick.sqlite".into());
    let (aps, clients, days) = (env("QUICK_APS", 10), env("QUICK_CLIENTS", 50), env("QUICK_DAYS", 1));
    let store = Store::open(&parse_database(&db).expect("QUICK_DB")).await.expect("open");
    // QUICK_VIEWS_ONLY: the views of a database filled by an earlier run.
    let views_only = std::env::var_os("QUICK_VIEWS_ONLY").is_some();
    let all = Arc::new(if views_only { Vec::new() } else { reports(aps, clients, days) });
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let cpu_before = cpu_ms();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (store, all, next) = (store.clone(), all.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut worst = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((r, sig, at)) = all.get(i) else { return worst };
                let t = Instant::now();
                store.ingest(r, sig, *at).await.expect("ingest");
                worst.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    if !views_only {
    println!(
        "{} reports of {clients} rows ({aps} APs, {days} days): {:.0} reports/s, p99 {:.1} ms (64 in flight), {:.2} ms CPU per report",
        all.len(),
        all.len() as f64 / secs,
        lat[lat.len() * 99 / 100],
        (cpu_ms() - cpu_before) / all.len() as f64
    );
    }
    let end = START + days as i64 * 86_400;
    let rules = NetworkRules::default();
    let views: [(&str, i64, Bucket, Option<&str>); 4] = [
        ("24 h by hour", 86_400, Bucket::Hour, None),
        ("7 days by day", 7 * 86_400, Bucket::Day, None),
        ("30 days by day", 30 * 86_400, Bucket::Day, None),
        ("24 h by hour, one AP", 86_400, Bucket::Hour, Some("AC:86:74:00:00:00")),
    ];
    for (name, span, bucket, node) in views {
        let range = Range::new(end - span, end, bucket, 0).unwrap();
        let mut times = Vec::new();
        let cpu_before = cpu_ms();
        for _ in 0..20 {
            let t = Instant::now();
            store.metrics(NET, node, &rules, &range, end).await.expect("metrics");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!("{name}: p50 {:.1} ms, p95 {:.1} ms, {:.1} ms CPU each", times[10], times[18], (cpu_ms() - cpu_before) / 20.0);
    }
    let t = Instant::now();
    let v = store.visits(NET, None, &rules, end - 3600, end).await.unwrap();
    println!("events' visits of one hour ({}): {:.1} ms", v.len(), t.elapsed().as_secs_f64() * 1000.0);
    println!("peak RSS {} MiB", peak_rss_kib() / 1024);
    store.close().await;
}
