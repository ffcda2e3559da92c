//! `make bench-analytics`: how the views' cost grows with history. A
//! generated venue history (BENCH_APS access points, BENCH_CLIENTS clients
//! a window at each, who come and go, some of them regulars who come back,
//! a share with randomized MACs, BENCH_DAYS days at one report every
//! BENCH_RATE seconds) is fed through the real ingest path (`Store::ingest`,
//! which runs the sessionizer; no HTTP) into SQLite and into PostgreSQL.
//! The figures' refresher runs beside ingest, as in the server
//! (BENCH_REFRESHER=0 leaves it out: then the first view after ingest
//! recomputes every hour ingest marked); at the end of each ingest phase the
//! first view of the whole history is timed, and the refresher's catch-up.
//! After the first day and after the last, presenced-server is started on
//! the database and each view is asked once and then BENCH_REPEATS times
//! over HTTP: the
//! dashboard for 24 h by hour, 7 days by day and 30 days by day,
//! `histograms` for 24 h, `events` for one hour (p50 / p95), and the
//! server's peak RSS. Beside each, in the same run, today's path before
//! stored visits (the raw rows read and every visit rebuilt per request:
//! `Store::metrics_from_rows`, `visits()` over `Store::sightings`) in this
//! process, BENCH_BASELINE_REPEATS times, as a ratio. Then the case:
//! one access point, 25 clients a window, BENCH_SINGLE_DAYS days.
//! The ingest phases above are a closed loop (16 reports at once), so their
//! p99 is 16 / throughput; last on each database, after the views are
//! measured, an open loop: a fleet beside the venue's history, at the
//! present time (BENCH_FLEET_APS access points, BENCH_FLEET_APS_PER_NETWORK to a
//! network, BENCH_CLIENTS clients a window, one report every
//! BENCH_FLEET_RATE seconds each, the stream's time running with the
//! clock) for BENCH_SUSTAINED_SECONDS, each report due at its time whatever
//! became of the earlier ones (at most 4096 in flight; more are counted as
//! not offered), with the refresher as above: reports answered per second
//! and Store::ingest's latency from when each report was due, so waiting
//! in the writer's queue counts.
//! Figures are printed, never asserted.
//!
//! Environment: BENCH_APS (10), BENCH_CLIENTS (50), BENCH_DAYS (30),
//! BENCH_RATE (30), BENCH_RANDOMIZED_PERCENT (30), BENCH_REPEATS (20),
//! BENCH_BASELINE_REPEATS (3), BENCH_SINGLE_DAYS (33; 0 leaves it out),
//! BENCH_DATABASES (sqlite,postgresql), BENCH_REFRESHER (1),
//! BENCH_FLEET_APS (10000), BENCH_FLEET_APS_PER_NETWORK (10),
//! BENCH_FLEET_RATE (30: 333 reports/s offered), BENCH_SUSTAINED_SECONDS
//! (60; 0 leaves it out). A
//! quick run:
//! `BENCH_APS=2 BENCH_CLIENTS=20 BENCH_DAYS=3 BENCH_SINGLE_DAYS=0 make bench-analytics`.

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hmac::{Hmac, Mac};
use presenced_report::{signature, ProbeRow, Report};
use presenced_server::analytics::metrics::{Bucket, Range};
use presenced_server::analytics::visits::{visits, NetworkRules};
use presenced_server::store::{Backlog, Database, Store};
use sha2::Sha512;
use support::{request, Postgres, Server, TempDir};

const KEY: &[u8] = b"bench-analytics-key";
const API_SECRET: &[u8] = b"bench-analytics-secret";
/// API keys in the server's config: one request a second each, so the
/// repeated requests take turns among them.
const API_KEYS: usize = 64;
const NETWORK: u64 = 1;
/// The first network of the open loop's fleet, apart from the venue's.
const FLEET_NETWORKS: u64 = 1000;
const DAY: i64 = 86_400;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// splitmix64: a small deterministic generator, so every run makes the same
/// history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// One client's presence at an access point: from `start` to `end`.
#[derive(Clone)]
struct Presence {
    mac: u64,
    start: i64,
    end: i64,
    associated: bool,
    signal: i32,
}

/// A venue's history, window by window: each access point has `clients`
/// places, each held by one client at a time; when a client leaves, the
/// next comes in (churn). A third of newcomers are regulars of that access
/// point (a pool four times its places: they come back on other days),
/// BENCH_RANDOMIZED_PERCENT of the rest have a randomized MAC (new each
/// visit), the others a fresh universal one. Stays are short (1 to 4 min,
/// passersby) or long (5 min to 2 h), half and half.
struct Venue {
    rng: Rng,
    rate: i64,
    randomized_percent: u64,
    places: Vec<Vec<Presence>>,
    next_mac: u64,
    regulars: u64,
    /// 0: every access point in NETWORK (a venue); else this many to a
    /// network, from FLEET_NETWORKS on (a fleet of customers).
    aps_per_network: usize,
}

impl Venue {
    fn new(aps: usize, clients: usize, rate: i64, randomized_percent: u64, start: i64) -> Venue {
        let mut v = Venue { rng: Rng(0x5eed), rate, randomized_percent, places: Vec::new(), next_mac: 0, regulars: 4 * clients as u64, aps_per_network: 0 };
        v.places = (0..aps).map(|ap| (0..clients).map(|_| v.newcomer(ap, start)).collect()).collect();
        v
    }

    fn newcomer(&mut self, ap: usize, at: i64) -> Presence {
        let r = &mut self.rng;
        let stay = if r.percent(50) { 60 + r.below(180) as i64 } else { 300 + r.below(6900) as i64 };
        let mac = if r.percent(33) {
            // 00:1c:<ap>:<regular> (a fleet's 00:1d:<ap, 2 bytes>:<regular>):
            // universal, the same on every visit.
            let regular = r.below(self.regulars);
            if ap < 256 { 0x001c_0000_0000 | (ap as u64) << 24 | regular } else { 0x001d_0000_0000 | (ap as u64) << 16 | regular }
        } else if r.percent(self.randomized_percent) {
            0x0200_0000_0000 | (r.next() & 0xfcff_ffff_ffff)
        } else {
            self.next_mac += 1;
            0x0050_0000_0000 | self.next_mac
        };
        let signal = -45 - r.below(40) as i32;
        Presence { mac: mac & 0xfeff_ffff_ffff, start: at, end: at + stay, associated: r.percent(10), signal }
    }

    /// The report of access point `ap` for the window starting at `t`.
    fn report(&mut self, ap: usize, t: i64) -> Report {
        let rate = self.rate;
        let mut rows = Vec::with_capacity(self.places[ap].len());
        for i in 0..self.places[ap].len() {
            if self.places[ap][i].end < t {
                let at = self.places[ap][i].end + 1 + self.rng.below(rate as u64) as i64;
                self.places[ap][i] = self.newcomer(ap, at.min(t + rate - 1));
            }
            let p = self.places[ap][i].clone();
            let first = p.start.max(t);
            let last = p.end.min(t + rate - 1).max(first);
            let jitter = self.rng.below(6) as i32;
            rows.push(ProbeRow {
                mac: format_mac(p.mac),
                count: 1 + self.rng.below(20) as u32,
                min_signal: p.signal - 8 - jitter,
                max_signal: p.signal + jitter,
                avg_signal: p.signal - 4,
                last_seen_signal: p.signal - jitter,
                first_seen: first,
                last_seen: last,
                associated: p.associated,
                estimated_device: false,
            });
        }
        rows.sort_by(|a, b| a.mac.cmp(&b.mac));
        rows.dedup_by(|a, b| a.mac == b.mac);
        let network_id = ap.checked_div(self.aps_per_network).map_or(NETWORK, |n| FLEET_NETWORKS + n as u64);
        Report { network_id, node_mac: node_mac(ap), version: 1, probe_requests: rows }
    }
}

fn format_mac(m: u64) -> String {
    let b = m.to_be_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
}

fn node_mac(ap: usize) -> String {
    format!("AC:86:74:10:{:02X}:{:02X}", ap >> 8, ap & 0xff)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn p50_p95(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (percentile(&ms, 0.50), percentile(&ms, 0.95))
}

struct Ingested {
    reports: u64,
    rows: u64,
    seconds: f64,
    latencies_ms: Vec<f64>,
}

/// Feeds windows [from_window, to_window) of the venue into `store`: the
/// access points' reports of an hour at a time, by 16 tasks, each report
/// stamped as received at the end of its window.
async fn ingest(store: &Store, venue: &mut Venue, start: i64, from_window: i64, to_window: i64) -> Ingested {
    let aps = venue.places.len();
    let per_chunk = (3600 / venue.rate).max(1);
    let mut out = Ingested { reports: 0, rows: 0, seconds: 0.0, latencies_ms: Vec::new() };
    let began = Instant::now();
    let mut w = from_window;
    while w < to_window {
        let end = (w + per_chunk).min(to_window);
        let mut chunk = Vec::new();
        for window in w..end {
            let t = start + window * venue.rate;
            for ap in 0..aps {
                let r = venue.report(ap, t);
                let sig = signature(KEY, &r.to_body());
                chunk.push((r, sig, t + venue.rate));
            }
        }
        out.reports += chunk.len() as u64;
        out.rows += chunk.iter().map(|c| c.0.probe_requests.len() as u64).sum::<u64>();
        let chunk = Arc::new(chunk);
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (store, chunk, next) = (store.clone(), chunk.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((report, sig, received_at)) = chunk.get(i) else { return lat };
                    let t = Instant::now();
                    store.ingest(report, sig, *received_at).await.expect("ingest");
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }));
        }
        for t in tasks {
            out.latencies_ms.extend(t.await.unwrap());
        }
        w = end;
    }
    out.seconds = began.elapsed().as_secs_f64();
    out
}

fn print_ingest(what: &str, i: &Ingested) {
    let mut l = i.latencies_ms.clone();
    l.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "  ingest {what}: {} reports ({} rows) in {:.1} s: {:.0} reports/s, {:.0} rows/s; Store::ingest p50 {:.1} ms, p99 {:.1} ms (16 at once)",
        i.reports,
        i.rows,
        i.seconds,
        i.reports as f64 / i.seconds,
        i.rows as f64 / i.seconds,
        percentile(&l, 0.5),
        percentile(&l, 0.99)
    );
}

/// At most this many offers of the open-loop phase unanswered at once: an
/// overload then shows as latency and offers left out, not as a queue that
/// grows until the bench runs out of memory.
const MAX_IN_FLIGHT: usize = 4096;

/// The open-loop phase: a fleet's reports in real time. Each of the
/// fleet's access points sends one report per window of `venue.rate`
/// seconds, the windows from `start` on, each stamped as received at the
/// end of its window as in `ingest`. The first window is stored by the
/// closed loop; then report i (window 1 + i / APs, access point i % APs)
/// is due at t0 + i / offered, offered = APs / rate, so the stream's time
/// runs as fast as the clock, as a fleet's does, and each is due then
/// whatever became of the earlier ones: its latency, counted from when it
/// was due, includes any wait in the writer's queue (the closed loop of
/// `ingest` can only show 16 / throughput).
async fn sustained(store: &Store, mut venue: Venue, start: i64, seconds: u64) {
    let offered = venue.places.len() as f64 / venue.rate as f64;
    // A fleet's first window is all arrivals (every visit opened): stored
    // first, by the closed loop, so that the open loop sees visits go on
    // as at any later time of day.
    let first = ingest(store, &mut venue, start, 0, 1).await;
    print_ingest("of the fleet's first window (every client new)", &first);
    let from_window = 1;
    let total = (offered * seconds as f64).round() as usize;
    let aps = venue.places.len();
    let rate = venue.rate;
    // A few seconds of reports made ahead on a thread of their own, so
    // making and signing them never holds back an offer.
    let ahead = ((offered * 4.0).ceil() as usize).max(256);
    let (tx, mut rx) = tokio::sync::mpsc::channel(ahead);
    let generator = tokio::task::spawn_blocking(move || {
        let mut window = from_window;
        let mut made = 0;
        while made < total {
            let t = start + window * rate;
            for ap in 0..aps.min(total - made) {
                let r = venue.report(ap, t);
                let sig = signature(KEY, &r.to_body());
                if tx.blocking_send((r, sig, t + rate)).is_err() {
                    return;
                }
            }
            made += aps.min(total - made);
            window += 1;
        }
    });
    while rx.len() < ahead.min(total) && !rx.is_closed() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (mut most, mut not_offered, mut generator_late) = (0, 0, 0);
    let mut offers = Vec::with_capacity(total);
    let t0 = tokio::time::Instant::now();
    for i in 0..total {
        let due = t0 + std::time::Duration::from_secs_f64(i as f64 / offered);
        tokio::time::sleep_until(due).await;
        let (report, sig, received_at) = match rx.try_recv() {
            Ok(next) => next,
            Err(_) => {
                generator_late += 1;
                let Some(next) = rx.recv().await else { break };
                next
            }
        };
        if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
            not_offered += 1;
            continue;
        }
        most = most.max(in_flight.fetch_add(1, Ordering::Relaxed) + 1);
        let (store, in_flight) = (store.clone(), in_flight.clone());
        offers.push(tokio::spawn(async move {
            let answer = store.ingest(&report, &sig, received_at).await;
            let at = tokio::time::Instant::now();
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let ok = match answer {
                Ok(_) => true,
                // The writer's own bound (WRITE_WAIT): under overload it
                // answers this, which is a figure of the phase, not a failure
                // of the bench.
                Err(sqlx::Error::PoolTimedOut) => false,
                Err(e) => panic!("ingest: {e}"),
            };
            ((at - due).as_secs_f64() * 1000.0, at, ok)
        }));
    }
    generator.await.expect("generator");
    let (mut answered, mut timed_out) = (0usize, 0usize);
    let mut last = t0;
    let mut latencies_ms = Vec::with_capacity(offers.len());
    for offer in offers {
        let (ms, at, ok) = offer.await.expect("ingest");
        latencies_ms.push(ms);
        last = last.max(at);
        if ok {
            answered += 1;
        } else {
            timed_out += 1;
        }
    }
    latencies_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let span = (last - t0).as_secs_f64();
    let offered_count = answered + timed_out;
    println!(
        "  ingest open loop at {offered:.0} reports/s for {seconds} s: {offered_count} offered, {answered} answered, {timed_out} timed out, {not_offered} not offered ({MAX_IN_FLIGHT} already in flight); {:.0} reports/s answered; Store::ingest from when due p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms; at most {most} in flight{}; load average {}",
        if span > 0.0 { answered as f64 / span } else { 0.0 },
        percentile(&latencies_ms, 0.5),
        percentile(&latencies_ms, 0.95),
        percentile(&latencies_ms, 0.99),
        latencies_ms.last().copied().unwrap_or(f64::NAN),
        if generator_late > 0 { format!("; the generator was behind for {generator_late} offers") } else { String::new() },
        load_average()
    );
}

/// The machine's 1, 5 and 15 minute load averages: the bench shares it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A view as asked over HTTP, and the same question by today's path.
#[derive(Clone, Copy)]
enum View {
    Dashboard { span_days: i64, bucket: Bucket },
    Histograms,
    Events,
}

impl View {
    fn name(self) -> String {
        match self {
            View::Dashboard { span_days: 1, .. } => "dashboard 24 h by hour".into(),
            View::Dashboard { span_days, .. } => format!("dashboard {span_days} days by day"),
            View::Histograms => "histograms 24 h".into(),
            View::Events => "events 1 h".into(),
        }
    }

    /// [since, until) ending at `end`.
    fn range(self, end: i64) -> (i64, i64) {
        match self {
            View::Dashboard { span_days, .. } => (end - span_days * DAY, end),
            View::Histograms => (end - DAY, end),
            View::Events => (end - 3600, end),
        }
    }
}

const VIEWS: [View; 5] = [
    View::Dashboard { span_days: 1, bucket: Bucket::Hour },
    View::Dashboard { span_days: 7, bucket: Bucket::Day },
    View::Dashboard { span_days: 30, bucket: Bucket::Day },
    View::Histograms,
    View::Events,
];

struct Signer {
    next: usize,
    nonce: u64,
}

impl Signer {
    fn get(&mut self, addr: SocketAddr, endpoint_and_query: &str) -> u16 {
        self.nonce += 1;
        let key = format!("pk_{}", self.next % API_KEYS);
        self.next += 1;
        let uri = format!("/service/api/v1/{endpoint_and_query}&nonce={}", self.nonce);
        let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(API_SECRET).unwrap();
        mac.update(uri.as_bytes());
        let sign: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        request(addr, "GET", &uri, &[("X-Key", &key), ("X-Sign", &sign)], b"").status
    }
}

/// One HTTP request of `view`; its status.
fn ask(addr: SocketAddr, signer: &mut Signer, view: View, end: i64) -> u16 {
    let (since, until) = view.range(end);
    match view {
        View::Dashboard { bucket, .. } => {
            let b = if bucket == Bucket::Hour { "hour" } else { "day" };
            request(addr, "GET", &format!("/dashboard?network_id={NETWORK}&since={since}&until={until}&bucket={b}"), &[], b"").status
        }
        View::Histograms => signer.get(addr, &format!("histograms?location_id={NETWORK}&since={since}&until={until}")),
        View::Events => signer.get(addr, &format!("events?location_id={NETWORK}&since={since}&until={until}&limit=1000")),
    }
}

/// The same question by today's path, in this process.
async fn ask_from_rows(store: &Store, view: View, end: i64) -> Result<(), String> {
    let rules = NetworkRules::default();
    let (since, until) = view.range(end);
    match view {
        View::Dashboard { bucket, .. } => {
            let range = Range::new(since, until, bucket, 0)?;
            store.metrics_from_rows(NETWORK as i64, None, &rules, &range, end).await.map(drop).map_err(|e| e.to_string())
        }
        View::Histograms => {
            let range = Range::new(since, until, Bucket::Hour, 0)?;
            store.metrics_from_rows(NETWORK as i64, None, &rules, &range, end).await.map(drop).map_err(|e| e.to_string())
        }
        View::Events => {
            // As main's events read: the rows from a day before `since`.
            let rows = store.sightings(NETWORK as i64, None, since - DAY, until).await.map_err(|e| e.to_string())?;
            let v = visits(&rows, &rules.visits);
            std::hint::black_box(v.iter().filter(|v| v.end >= since && v.start < until).count());
            Ok(())
        }
    }
}

fn server_config(dir: &std::path::Path) -> (String, String) {
    let key = dir.join("report.key");
    std::fs::write(&key, KEY).unwrap();
    std::fs::write(dir.join("api.secret"), API_SECRET).unwrap();
    let mut toml = String::new();
    for i in 0..API_KEYS {
        toml.push_str(&format!("[[api_key]]\npublic = \"pk_{i}\"\nsecret_file = \"api.secret\"\n"));
    }
    let config = dir.join("server.toml");
    std::fs::write(&config, toml).unwrap();
    (key.to_string_lossy().into_owned(), config.to_string_lossy().into_owned())
}

/// Each view BENCH_REPEATS times over HTTP from a server on `database`, and
/// by today's path; prints p50 / p95 and the ratio, and answers the p95s.
async fn measure(label: &str, database: &str, url_or_path: &Database, dir: &std::path::Path, end: i64) -> Vec<f64> {
    let repeats = env_num("BENCH_REPEATS", 20) as usize;
    let baseline_repeats = env_num("BENCH_BASELINE_REPEATS", 3) as usize;
    let (key, config) = server_config(dir);
    let server = Server::start(&["--database", database, "--key-file", &key, "--config", &config], None);
    // Nonces outlive a server (they are in the database): start above any
    // of an earlier measurement on it.
    let mut signer = Signer { next: 0, nonce: presenced_server::unix_now_ms() as u64 * 1000 };
    let store = Store::open(url_or_path).await.unwrap();
    store.use_rules([(NETWORK as i64, NetworkRules::default())]).await.unwrap();
    println!("  {label} (load average {}): view, first request; stored figures (HTTP, {repeats} requests after it) p50 / p95; raw rows rebuilt ({baseline_repeats} in this process) p50 / p95; ratio of p95s", load_average());
    let mut p95s = Vec::new();
    for view in VIEWS {
        let mut ms = Vec::new();
        let mut bad = None;
        let t = Instant::now();
        let status = ask(server.addr, &mut signer, view, end);
        let first_ms = t.elapsed().as_secs_f64() * 1000.0;
        if status != 200 {
            bad = Some(status);
        }
        for _ in 0..repeats {
            let t = Instant::now();
            let status = ask(server.addr, &mut signer, view, end);
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            if status != 200 {
                bad = Some(status);
            }
        }
        let (p50, p95) = p50_p95(ms);
        p95s.push(p95);
        let mut base = Vec::new();
        let mut refused = None;
        for _ in 0..baseline_repeats {
            let t = Instant::now();
            if let Err(e) = ask_from_rows(&store, view, end).await {
                refused = Some(e);
            }
            base.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        // BENCH_BASELINE_REPEATS=0 leaves the baseline out: say so rather
        // than print NaN for its figures.
        let baseline = if base.is_empty() {
            format!("{:>30}", "(baseline not run)")
        } else {
            let (b50, b95) = p50_p95(base);
            format!("{b50:>9.1} / {b95:>9.1} ms   x{:.0}", b95 / p95)
        };
        println!(
            "    {:<24} first {:>8.1} ms   {:>8.1} / {:>8.1} ms   {baseline}{}{}",
            view.name(),
            first_ms,
            p50,
            p95,
            bad.map(|s| format!("  (HTTP {s} answered)")).unwrap_or_default(),
            refused.map(|e| format!("  (today's path refused after that time: {e})")).unwrap_or_default()
        );
    }
    println!("    presenced-server peak RSS {:.1} MiB", vm_hwm_kib(server.pid()) as f64 / 1024.0);
    store.close().await;
    drop(server);
    p95s
}

/// Right at the end of ingest: what is left dirty, then the first view of
/// the whole history, timed (it recomputes the dirty hours and days left in
/// its range: with the refresher, what it has not caught up with yet;
/// without it, BENCH_REFRESHER=0, everything ingest marked), then how long
/// the refresher takes to drain the rest.
async fn prime(store: &Store, start: i64, end: i64, refresher: bool) {
    let left = store.figures_backlog().await.expect("backlog");
    println!("    left dirty at the end of ingest: {} hours, {} days (refresher {})", left.hours, left.days, if refresher { "on" } else { "off" });
    let t = Instant::now();
    let range = Range::new(start, end, Bucket::Day, 0).unwrap();
    store.metrics(NETWORK as i64, None, &NetworkRules::default(), &range, end).await.expect("figures");
    println!("    the first view of all {} days, right after ingest: {:.2} s", (end - start) / DAY, t.elapsed().as_secs_f64());
    if refresher {
        let t = Instant::now();
        let at = store.figures_backlog().await.expect("backlog");
        while store.figures_backlog().await.expect("backlog") != Backlog::default() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        println!(
            "    the refresher drained the {} hours and {} days left after that view in {:.1} s (it takes a mark left unchanged for {} s, of an hour more than {} h ago for {} s)",
            at.hours,
            at.days,
            t.elapsed().as_secs_f64(),
            presenced_server::store::REFRESH_SETTLE.as_secs(),
            presenced_server::store::REFRESH_RECENT / 3600,
            presenced_server::store::REFRESH_SETTLE_PAST.as_secs()
        );
    }
}

/// A venue on one database: one day, measured; the rest, measured again.
async fn run(name: &str, database: &str, dir: &std::path::Path, aps: usize, clients: usize, days: i64, only_end: bool) {
    let rate = env_num("BENCH_RATE", 30) as i64;
    let randomized = env_num("BENCH_RANDOMIZED_PERCENT", 30);
    let db = if database.starts_with("postgres") { Database::Postgres(database.into()) } else { Database::Sqlite(database.into()) };
    // The history ends at the last midnight (UTC) before now.
    let now = presenced_server::unix_now();
    let end = now - now.rem_euclid(DAY);
    let start = end - days * DAY;
    println!("{name}: {aps} access points x {clients} clients a window, one report every {rate} s, {days} days, {randomized} % of newcomers randomized");
    let mut venue = Venue::new(aps, clients, rate, randomized, start);
    let windows_a_day = DAY / rate;
    let first_day_end = if only_end { days * windows_a_day } else { windows_a_day };
    let store = Store::open(&db).await.unwrap();
    store.use_rules([(NETWORK as i64, NetworkRules::default())]).await.unwrap();
    // As in the server: the figures' refresher beside ingest.
    let refresher = env_num("BENCH_REFRESHER", 1) == 1;
    let task = refresher.then(|| tokio::spawn(store.clone().refresh_figures_forever()));
    let first = ingest(&store, &mut venue, start, 0, first_day_end).await;
    print_ingest(if only_end { "all days" } else { "day 1" }, &first);
    prime(&store, start, if only_end { end } else { start + DAY }, refresher).await;
    println!("    this process (generator, store and sessionizer) peak RSS so far {:.1} MiB", vm_hwm_kib(std::process::id()) as f64 / 1024.0);
    if let Some(t) = task {
        t.abort();
    }
    store.close().await;
    let one_day = if only_end { None } else { Some(measure("after 1 day", database, &db, dir, start + DAY).await) };
    if !only_end && days > 1 {
        let store = Store::open(&db).await.unwrap();
        store.use_rules([(NETWORK as i64, NetworkRules::default())]).await.unwrap();
        let task = refresher.then(|| tokio::spawn(store.clone().refresh_figures_forever()));
        let rest = ingest(&store, &mut venue, start, windows_a_day, days * windows_a_day).await;
        print_ingest(&format!("days 2 to {days}"), &rest);
        prime(&store, start, end, refresher).await;
        if let Some(t) = task {
            t.abort();
        }
        store.close().await;
        let full = measure(&format!("after {days} days"), database, &db, dir, end).await;
        if let Some(one) = one_day {
            let ratios: Vec<String> = VIEWS.iter().zip(one.iter().zip(&full)).map(|(v, (a, b))| format!("{} x{:.2}", v.name(), b / a)).collect();
            println!("  p95 after {days} days / after 1 day: {}", ratios.join(", "));
        }
    } else if only_end {
        measure(&format!("after {days} days"), database, &db, dir, end).await;
    }
    // Last, so that the views measured above are of the history alone.
    let seconds = env_num("BENCH_SUSTAINED_SECONDS", 60);
    if seconds > 0 && !only_end {
        let fleet_aps = env_num("BENCH_FLEET_APS", 10_000).clamp(1, 65_535) as usize;
        let fleet_rate = env_num("BENCH_FLEET_RATE", 30).max(1) as i64;
        // At the present time, as a live fleet's reports are: the refresher
        // leaves the recent hours to settle longer than the past's.
        let now = presenced_server::unix_now();
        let fleet_start = now - now.rem_euclid(fleet_rate) - fleet_rate;
        let mut fleet = Venue::new(fleet_aps, clients, fleet_rate, randomized, fleet_start);
        fleet.aps_per_network = env_num("BENCH_FLEET_APS_PER_NETWORK", 10).max(1) as usize;
        let networks = fleet_aps.div_ceil(fleet.aps_per_network);
        println!(
            "  then a fleet beside this history: {fleet_aps} access points in {networks} networks, {clients} clients a window, one report every {fleet_rate} s each, in real time"
        );
        let store = Store::open(&db).await.unwrap();
        store.use_rules([(NETWORK as i64, NetworkRules::default())]).await.unwrap();
        let task = refresher.then(|| tokio::spawn(store.clone().refresh_figures_forever()));
        sustained(&store, fleet, fleet_start, seconds).await;
        if let Some(t) = task {
            t.abort();
        }
        store.close().await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let aps = env_num("BENCH_APS", 10) as usize;
    let clients = env_num("BENCH_CLIENTS", 50) as usize;
    let days = env_num("BENCH_DAYS", 30) as i64;
    let single_days = env_num("BENCH_SINGLE_DAYS", 33) as i64;
    let databases = std::env::var("BENCH_DATABASES").unwrap_or_else(|_| "sqlite,postgresql".into());
    let dir = TempDir::new("bench-analytics");
    for which in databases.split(',') {
        match which.trim() {
            "sqlite" => {
                let path = dir.path().join("venue.sqlite");
                run("SQLite", path.to_str().unwrap(), dir.path(), aps, clients, days, false).await;
                let _ = std::fs::remove_file(&path);
            }
            "postgresql" => {
                let pg = Postgres::start("bench-analytics");
                run("PostgreSQL", &pg.url, dir.path(), aps, clients, days, false).await;
            }
            other => panic!("BENCH_DATABASES: {other:?} is not sqlite or postgresql"),
        }
    }
    if single_days > 0 {
        let path = dir.path().join("single.sqlite");
        run("The issue's case, SQLite", path.to_str().unwrap(), dir.path(), 1, 25, single_days, true).await;
    }
}
