//! Visits and metrics read from the store (the visits stored at ingest), on
//! SQLite and on PostgreSQL, against answers from elsewhere: multi-day
//! synthetic rows whose answers are worked out by hand below, the batch
//! reference (`visits()` and `metrics()` over every raw row), and the rows
//! of a shared capture replayed through the real agent, compared with a
//! second implementation in Python (tests/analytics_naive.py) fed from the
//! agent's own copy of its reports. Reports arrive in order, shuffled
//! across days, repeated, and across a restart.

mod support;

use std::path::PathBuf;
use std::process::Command;

use presenced_report::Report;
use presenced_server::config::Database;
use presenced_server::metrics::{metrics, Bucket, Counts, Metrics, Range};
use presenced_server::store::{Backlog, Db, Settled, Store, REFRESH_STEP_HOURS, RECENT_REPORTS_POSTGRES, RECENT_REPORTS_SQLITE};
use presenced_server::visits::{visits, NetworkRules, Sighting, VisitRules};
use serde_json::{json, Value};
use support::{agent, report_body, run_with_stdin, shared_capture, synthetic_days as synthetic, Postgres, RowSpec, Server, Sight, TempDir, AP1, AP2, DAY, H, M, MON};

const NET: u64 = 42;

fn as_json_rows(rows: &[Sight]) -> Value {
    Value::Array(
        rows.iter()
            .map(|(node, mac, first, last, signal, associated)| {
                json!({"node_mac": node, "mac": mac, "first_seen": first, "last_seen": last, "max_signal": signal, "associated": associated})
            })
            .collect(),
    )
}

/// Every sighting in a report of its own, as an access point would send it.
async fn ingest_all(store: &Store, network_id: u64, rows: &[Sight]) {
    ingest_numbered(store, network_id, rows.iter().enumerate()).await
}

/// As `ingest_all`, each report's signature made from its number: the same
/// number again is a retry (refused as a duplicate), another number with
/// the same rows is the same rows stored twice.
async fn ingest_numbered<'a>(store: &Store, network_id: u64, rows: impl Iterator<Item = (usize, &'a Sight)>) {
    for (i, (node, mac, first, last, signal, associated)) in rows {
        let spec = RowSpec {
            mac: mac.to_string(),
            count: 2,
            min: signal - 10,
            max: *signal,
            avg: signal - 5,
            last: signal - 3,
            first_seen: *first,
            last_seen: *last,
            associated: *associated,
        };
        let report = Report::from_body(report_body(network_id, node, &[spec]).as_bytes()).unwrap();
        // Signatures distinct across networks: a repeated one would be a retry.
        store.ingest(&report, &format!("{network_id:032x}{:032x}", i + 1), *last).await.unwrap();
    }
}

fn naive_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/analytics_naive.py")
}

/// The Python implementation's metrics of `rows`.
fn naive(rows: &Value, rules: &NetworkRules, range: &Range, now: i64, node: Option<&str>) -> Value {
    let bucket = match range.bucket {
        Bucket::Hour => "hour",
        Bucket::Day => "day",
    };
    let input = json!({
        "rows": rows,
        "params": {
            "timeout": rules.visits.session_timeout, "min_dwell": rules.visits.min_dwell,
            "min_signal": rules.visits.min_signal, "since": range.since, "until": range.until,
            "bucket": bucket, "offset": range.utc_offset, "now": now, "node": node,
        }
    });
    let out = run_with_stdin(Command::new("python3").arg(naive_script()), input.to_string().as_bytes());
    serde_json::from_slice(&out).unwrap()
}

fn compare(rust: &Metrics, python: &Value, what: &str) {
    let rust = serde_json::to_value(rust).unwrap();
    if &rust != python {
        let rb = rust["buckets"].as_array().unwrap();
        let pb = python["buckets"].as_array().unwrap();
        for (r, p) in rb.iter().zip(pb) {
            assert_eq!(r, p, "{what}: first differing bucket");
        }
        assert_eq!(rust, *python, "{what}");
    }
}

/// (unique, visitors, passersby, connected, capture rate, dwell, new, repeat, peak)
type Summary = (u64, u64, u64, u64, Option<f64>, [u64; 4], u64, u64, u64);

fn summary(c: &Counts) -> Summary {
    (c.unique_clients, c.visitors, c.passersby, c.connected, c.capture_rate, c.dwell, c.new_visitors, c.repeat_visitors, c.peak_occupancy)
}

fn sightings(rows: &[Sight], node: Option<&str>) -> Vec<Sighting> {
    rows.iter()
        .filter(|r| node.is_none_or(|n| n.eq_ignore_ascii_case(r.0)))
        .map(|(node, mac, first, last, signal, associated)| Sighting {
            mac: mac.to_ascii_lowercase(),
            node_mac: node.to_ascii_uppercase(),
            first_seen: *first,
            last_seen: *last,
            max_signal: *signal,
            associated: *associated,
        })
        .collect()
}

/// The batch reference over every row: `metrics()` of `visits()`.
fn reference(rows: &[Sight], node: Option<&str>, rules: &NetworkRules, range: &Range, now: i64) -> Metrics {
    metrics(&visits(&sightings(rows, node), &rules.visits), range, &rules.visits, now)
}

/// Takes `rules` for NET and rebuilds its stored visits from the raw rows.
async fn rebuild_with(store: &Store, rules: &NetworkRules) {
    assert!(store.use_rules([(NET as i64, rules.clone())]).await.unwrap().contains(&(NET as i64)), "the rules changed");
    store.rebuild_analytics(Some(&[NET as i64])).await.unwrap();
    assert!(store.use_rules([(NET as i64, rules.clone())]).await.unwrap().is_empty(), "rebuilt by these rules");
}

async fn synthetic_suite(store: Store) {
    let rows = synthetic();
    ingest_all(&store, NET, &rows).await;
    let rules = NetworkRules::default();
    let net = NET as i64;
    let days = Range::new(MON, MON + 3 * DAY, Bucket::Day, 0).unwrap();
    let now = MON + 2 * DAY + 13 * H;
    let m = store.metrics(net, None, &rules, &days, now).await.unwrap();
    let got: Vec<Summary> = m.buckets.iter().map(|b| summary(&b.counts.universal)).collect();
    // Worked out by hand from synthetic()'s comments.
    // Monday: A (two visits), B (starts), C, F. Peak 1: A's visits are apart.
    // Tuesday: B (ends), E. Wednesday: A (repeat, 30 min), G (6 h+), H (1-6 h);
    // at 09:00 G, H and A are all there.
    let expected: Vec<Summary> = vec![
        (4, 3, 2, 1, Some(0.6), [2, 1, 0, 0], 3, 0, 1),
        (2, 2, 0, 1, Some(1.0), [1, 1, 0, 0], 2, 0, 1),
        (3, 3, 0, 0, Some(1.0), [0, 1, 1, 1], 2, 1, 3),
    ];
    assert_eq!(got, expected);
    assert_eq!(summary(&m.total.universal), (7, 7, 2, 1, Some(7.0 / 9.0), [3, 2, 1, 1], 6, 1, 3));
    assert_eq!(summary(&m.buckets[0].counts.randomized), (1, 1, 0, 0, Some(1.0), [0, 1, 0, 0], 1, 0, 1));
    assert_eq!(m.buckets[1].counts.randomized, Counts::default(), "no randomized address on Tuesday");
    // At Wednesday 13:00 only G (gone at 12:55, within the 15 min) is open.
    assert_eq!((m.occupancy_now.universal, m.occupancy_now.randomized), (1, 0));
    compare(&m, &naive(&as_json_rows(&rows), &rules, &days, now, None), "days");
    assert_eq!(m, reference(&rows, None, &rules, &days, now));

    // E's ten minutes show in both the 11:00 and the 12:00 bucket.
    let hours = Range::new(MON + DAY + 11 * H, MON + DAY + 13 * H, Bucket::Hour, 0).unwrap();
    let h = store.metrics(net, None, &rules, &hours, now).await.unwrap();
    assert_eq!(h.buckets.iter().map(|b| b.counts.universal.visitors).collect::<Vec<_>>(), [1, 1]);
    let hours_all = Range::new(MON, MON + 3 * DAY, Bucket::Hour, 0).unwrap();
    let ha = store.metrics(net, None, &rules, &hours_all, now).await.unwrap();
    assert_eq!(ha.buckets.len(), 72);
    compare(&ha, &naive(&as_json_rows(&rows), &rules, &hours_all, now, None), "hours");

    // Per access point: at AP2 only B's Tuesday part (25 min, connected);
    // at AP1 B's Monday part alone (19 min).
    let ap2 = store.metrics(net, Some(AP2), &rules, &days, now).await.unwrap();
    assert_eq!(summary(&ap2.total.universal), (1, 1, 0, 1, Some(1.0), [0, 1, 0, 0], 1, 0, 1));
    assert_eq!(ap2.buckets[0].counts.universal.visitors, 0, "B reached AP2 on Tuesday only");
    let ap1 = store.metrics(net, Some(&AP1.to_ascii_lowercase()), &rules, &days, now).await.unwrap();
    assert_eq!(summary(&ap1.buckets[1].counts.universal), (1, 1, 0, 0, Some(1.0), [1, 0, 0, 0], 1, 0, 1), "E alone on Tuesday");
    compare(&ap1, &naive(&as_json_rows(&rows), &rules, &days, now, Some(AP1)), "AP1");

    // The venue at UTC-01:00: B's visit is 22:40 to 23:30 local, all Monday;
    // so Tuesday (local) has E only.
    let local_rules = NetworkRules { utc_offset: -H, ..NetworkRules::default() };
    let local = Range::new(MON + H, MON + 3 * DAY + H, Bucket::Day, -H).unwrap();
    assert!(store.metrics(net, None, &local_rules, &local, now).await.is_err(), "visits built by other rules are not shown as these");
    rebuild_with(&store, &local_rules).await;
    let l = store.metrics(net, None, &local_rules, &local, now).await.unwrap();
    assert_eq!(l.buckets[1].counts.universal.unique_clients, 1);
    compare(&l, &naive(&as_json_rows(&rows), &local_rules, &local, now, None), "UTC-01:00");

    // Other rules: a 20 min timeout joins A's Monday visits into one.
    let long = NetworkRules { visits: VisitRules { session_timeout: 20 * M, ..Default::default() }, ..NetworkRules::default() };
    rebuild_with(&store, &long).await;
    let lm = store.metrics(net, None, &long, &days, now).await.unwrap();
    assert_eq!(lm.buckets[0].counts.universal.visitors, 2, "A once, B");
    compare(&lm, &naive(&as_json_rows(&rows), &long, &days, now, None), "20 min timeout");

    assert_eq!(lm, reference(&rows, None, &long, &days, now));

    // Another network's rows never count here.
    rebuild_with(&store, &rules).await;
    ingest_all(&store, NET + 1, &rows[..3]).await;
    let again = store.metrics(net, None, &rules, &days, now).await.unwrap();
    assert_eq!(again, m);

    // Retention: visits that ended before Tuesday 12:00 go; counted by hand:
    // at network 42, A's two Monday visits, B, C, D and F (E ends 12:05),
    // and at AP1 the same six (B's Monday part), at AP2 B's Tuesday part;
    // at network 43 A's two visits and B's Monday part, twice (network, AP1).
    assert_eq!(store.prune_analytics(MON + DAY + 12 * H).await.unwrap(), 6 + 6 + 1 + 6);
    let wednesday = Range::new(MON + 2 * DAY, MON + 3 * DAY, Bucket::Day, 0).unwrap();
    let kept = store.metrics(net, None, &rules, &wednesday, now).await.unwrap();
    assert_eq!(kept.buckets[0], m.buckets[2], "Wednesday's figures, A still a repeat visitor");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_days_sqlite() {
    let dir = TempDir::new("analytics-sqlite");
    synthetic_suite(Store::open(&Database::Sqlite(dir.path().join("rows.sqlite"))).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
async fn synthetic_days_postgres() {
    let pg = Postgres::start("analytics");
    synthetic_suite(Store::open(&Database::Postgres(pg.url.clone())).await.unwrap()).await;
    drop(pg);
}

/// A fixed permutation of 0..n (a linear congruential generator's
/// Fisher-Yates): the order reports arrive in, late by up to all of it.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut x = seed;
    for i in (1..n).rev() {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        order.swap(i, (x >> 33) as usize % (i + 1));
    }
    order
}

/// The stored figures must equal the batch reference and the Python
/// implementation, bucket by bucket, per network and per access point.
async fn check_against_batch(store: &Store, rows: &[Sight], what: &str) {
    let rules = NetworkRules::default();
    let now = MON + 2 * DAY + 13 * H;
    for bucket in [Bucket::Hour, Bucket::Day] {
        let range = Range::new(MON, MON + 3 * DAY, bucket, 0).unwrap();
        for node in [None, Some(AP1), Some(AP2)] {
            let m = store.metrics(NET as i64, node, &rules, &range, now).await.unwrap();
            let tag = format!("{what}, {bucket:?}, {node:?}");
            compare(&m, &serde_json::to_value(reference(rows, node, &rules, &range, now)).unwrap(), &tag);
            compare(&m, &naive(&as_json_rows(rows), &rules, &range, now, node), &tag);
        }
    }
    // The visits themselves, access points included, as the batch makes them.
    let stored = store.visits(NET as i64, None, &rules, MON - DAY, MON + 4 * DAY).await.unwrap();
    assert_eq!(stored, visits(&sightings(rows, None), &rules.visits), "{what}: visits");
}

/// The synthetic rows plus rows that make order matter: a row arriving late
/// that bridges two visits of one client (A's Monday visits become one at
/// AP2), and two access points hearing one client over the same minutes.
fn rows_where_order_matters() -> Vec<Sight> {
    let mut rows = synthetic();
    let a = "00:11:22:33:44:01";
    rows.push((AP2, a, MON + 10 * H + 6 * M, MON + 10 * H + 12 * M, -65, true));
    rows.push((AP2, "00:11:22:33:44:03", MON + 12 * H, MON + 13 * H, -50, false));
    rows.push((AP2, "da:11:22:33:44:04", MON + 14 * H + 10 * M, MON + 14 * H + 50 * M, -50, false));
    rows
}

async fn arrival_orders_suite(open: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Store>>>) {
    let rows = rows_where_order_matters();
    // In order of time, as an access point sends them.
    let mut by_time: Vec<(usize, &Sight)> = rows.iter().enumerate().collect();
    by_time.sort_by_key(|(_, r)| (r.2, r.3));
    let store = open().await;
    ingest_numbered(&store, NET, by_time.iter().copied()).await;
    check_against_batch(&store, &rows, "in order").await;
    // Every report again with its signature (retries), and again under new
    // signatures (the same rows stored twice): nothing counts twice.
    ingest_numbered(&store, NET, rows.iter().enumerate()).await;
    ingest_numbered(&store, NET, rows.iter().enumerate().map(|(i, r)| (i + 10_000, r))).await;
    check_against_batch(&store, &rows, "repeated").await;
    store.close().await;

    for seed in [1, 2, 3] {
        let store = open().await;
        let order = shuffled(rows.len(), seed);
        // Shuffled across all three days: late by minutes to two days; a
        // view after a third of them stores figures that the rest dirty.
        ingest_numbered(&store, NET + seed, order.iter().map(|&i| (i, &rows[i]))).await;
        let (early, late) = order.split_at(order.len() / 3);
        ingest_numbered(&store, NET, early.iter().map(|&i| (i, &rows[i]))).await;
        let range = Range::new(MON, MON + 3 * DAY, Bucket::Day, 0).unwrap();
        store.metrics(NET as i64, None, &NetworkRules::default(), &range, MON + 2 * DAY).await.unwrap();
        ingest_numbered(&store, NET, late.iter().map(|&i| (i, &rows[i]))).await;
        check_against_batch(&store, &rows, &format!("shuffled {seed}")).await;
        store.close().await;
    }
}

/// Ranges the stored figures must get right at `offset`: whole days,
/// local days cut at :30 (+05:30), ranges that start and end inside hours,
/// one shorter than an hour, one beyond the data.
fn ranges(offset: i64) -> Vec<Range> {
    let r = |since, until, bucket| Range::new(since, until, bucket, offset).unwrap();
    vec![
        r(MON - DAY, MON + 4 * DAY, Bucket::Day),
        r(MON - DAY, MON + 4 * DAY, Bucket::Hour),
        r(MON + 37 * M, MON + 2 * DAY + 5 * H + 13 * M, Bucket::Hour),
        r(MON + 37 * M, MON + 2 * DAY + 5 * H + 13 * M, Bucket::Day),
        r(MON + 10 * H + 7 * M, MON + 10 * H + 25 * M, Bucket::Hour),
        r(MON + 9 * H + 30 * M, MON + DAY + 12 * H, Bucket::Hour),
        r(MON + DAY + 11 * H, MON + 2 * DAY + 11 * H, Bucket::Day),
    ]
}

/// `daily_sums` is its hours' sums: every row of it is the sum of the
/// network's `hourly_figures` of its local day (and max of their peaks),
/// and every day with hours has its rows. The sums written here in SQL of
/// the test's own (hours are after 1970: the integer division is the
/// floor), compared in the database both ways.
async fn day_sums_agree(store: &Store, what: &str) {
    let cols = ["s_visitors", "s_passersby", "s_connected", "s_dwell0", "s_dwell1", "s_dwell2", "s_dwell3", "s_new_visitors", "s_repeat"];
    let sums: Vec<String> = cols.iter().map(|c| format!("CAST(SUM(h.{c}) AS BIGINT)")).collect();
    let from_hours = format!(
        "SELECT h.network_id, h.scope, CAST((h.hour + b.utc_offset) / 86400 AS BIGINT), h.class, {}, CAST(MAX(h.peak) AS BIGINT) \
         FROM hourly_figures h JOIN figures_built b ON b.network_id = h.network_id GROUP BY h.network_id, h.scope, (h.hour + b.utc_offset) / 86400, h.class",
        sums.join(", ")
    );
    let stored = format!("SELECT network_id, scope, day, class, {}, peak FROM daily_sums", cols.join(", "));
    let sql = format!("SELECT COUNT(*) FROM (SELECT * FROM ({stored} EXCEPT {from_hours}) a UNION ALL SELECT * FROM ({from_hours} EXCEPT {stored}) b) d");
    let differ: i64 = match &store.db {
        Db::Sqlite { reader, .. } => sqlx::query_scalar(&sql).fetch_one(reader).await.unwrap(),
        Db::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap(),
    };
    assert_eq!(differ, 0, "{what}: daily_sums rows that are not their hours' sums");
}

/// Stored figures against the batch reference over every range and scope;
/// against the Python implementation too when `python`; and
/// `daily_sums` against its hours.
async fn check_ranges(store: &Store, rows: &[Sight], rules: &NetworkRules, now: i64, python: bool, what: &str) {
    for range in ranges(rules.utc_offset) {
        for node in [None, Some(AP1), Some(AP2)] {
            let m = store.metrics(NET as i64, node, rules, &range, now).await.unwrap();
            let tag = format!("{what}, UTC{:+} s, {range:?}, {node:?}", rules.utc_offset);
            compare(&m, &serde_json::to_value(reference(rows, node, rules, &range, now)).unwrap(), &tag);
            if python && node != Some(AP2) {
                compare(&m, &naive(&as_json_rows(rows), rules, &range, now, node), &tag);
            }
        }
    }
    day_sums_agree(store, what).await;
}

/// At UTC, +05:30 and -04:30: reports in a shuffled order, half of them,
/// every view asked (so the figures are stored), the other half (so some
/// are dirty again), every view again; then the rows again under new
/// signatures; then a rebuild.
async fn offsets_suite(open: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Store>>>) {
    let rows = rows_where_order_matters();
    let now = MON + 2 * DAY + 9 * H + 10 * M;
    for (seed, offset) in [(11, 0), (12, 19_800), (13, -16_200)] {
        let rules = NetworkRules { utc_offset: offset, ..NetworkRules::default() };
        let store = open().await;
        store.use_rules([(NET as i64, rules.clone())]).await.unwrap();
        let order = shuffled(rows.len(), seed);
        let (first, second) = order.split_at(order.len() / 2);
        ingest_numbered(&store, NET, first.iter().map(|&i| (i, &rows[i]))).await;
        let half: Vec<Sight> = first.iter().map(|&i| rows[i]).collect();
        check_ranges(&store, &half, &rules, now, false, "first half").await;
        ingest_numbered(&store, NET, second.iter().map(|&i| (i, &rows[i]))).await;
        check_ranges(&store, &rows, &rules, now, true, "all").await;
        ingest_numbered(&store, NET, rows.iter().enumerate().map(|(i, r)| (i + 20_000, r))).await;
        check_ranges(&store, &rows, &rules, now, false, "repeated").await;
        let other = NetworkRules { visits: VisitRules { session_timeout: 20 * M, ..Default::default() }, ..rules.clone() };
        rebuild_with(&store, &other).await;
        check_ranges(&store, &rows, &other, now, false, "rebuilt, 20 min").await;
        rebuild_with(&store, &rules).await;
        check_ranges(&store, &rows, &rules, now, false, "rebuilt back").await;
        store.close().await;
    }
}

/// A client first seen on day 10; a report from day 3 arrives after the
/// views of day 10 were stored: its day-10 visit turns from new to repeat.
/// One from 31 days before day 10 changes nothing there.
async fn late_repeat_suite(store: Store) {
    let x = "00:11:22:33:44:77";
    let y = "00:11:22:33:44:78";
    let day10 = (AP1, x, MON + 10 * DAY + 10 * H, MON + 10 * DAY + 10 * H + 30 * M, -60, false);
    let y10 = (AP1, y, MON + 10 * DAY + 10 * H + 5 * M, MON + 10 * DAY + 10 * H + 25 * M, -60, false);
    let rules = NetworkRules::default();
    let now = MON + 12 * DAY;
    let days = Range::new(MON + 9 * DAY, MON + 12 * DAY, Bucket::Day, 0).unwrap();
    let hours = Range::new(MON + 10 * DAY, MON + 11 * DAY, Bucket::Hour, 0).unwrap();
    let new_repeat = |m: &Metrics, i: usize| (m.buckets[i].counts.universal.new_visitors, m.buckets[i].counts.universal.repeat_visitors);
    ingest_numbered(&store, NET, [(0, &day10), (1, &y10)].into_iter()).await;
    let before = store.metrics(NET as i64, None, &rules, &days, now).await.unwrap();
    assert_eq!(new_repeat(&before, 1), (2, 0), "both first seen on day 10");
    let h = store.metrics(NET as i64, None, &rules, &hours, now).await.unwrap();
    assert_eq!(new_repeat(&h, 10), (2, 0));
    // Y seen 31 days before day 10: outside the window, still new.
    let y_old = (AP1, y, MON - 21 * DAY + 9 * H, MON - 21 * DAY + 9 * H + 30 * M, -60, false);
    let x_late = (AP1, x, MON + 3 * DAY + 9 * H, MON + 3 * DAY + 9 * H + 10 * M, -60, false);
    ingest_numbered(&store, NET, [(2, &y_old), (3, &x_late)].into_iter()).await;
    let all = [day10, y10, y_old, x_late];
    let after = store.metrics(NET as i64, None, &rules, &days, now).await.unwrap();
    assert_eq!(new_repeat(&after, 1), (1, 1), "X was seen on day 3: a repeat visitor on day 10; Y's day -21 is too early");
    assert_eq!((after.total.universal.new_visitors, after.total.universal.repeat_visitors), (1, 1));
    assert_eq!(after, reference(&all, None, &rules, &days, now));
    let h = store.metrics(NET as i64, None, &rules, &hours, now).await.unwrap();
    assert_eq!(new_repeat(&h, 10), (1, 1));
    assert_eq!(h, reference(&all, None, &rules, &hours, now));
    compare(&h, &naive(&as_json_rows(&all), &rules, &hours, now, None), "late repeat, hours");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_offsets_and_late_repeat_sqlite() {
    let dir = TempDir::new("analytics-figures-sqlite");
    let n = std::sync::atomic::AtomicUsize::new(0);
    let path = dir.path().to_path_buf();
    offsets_suite(|| {
        let file = path.join(format!("rows-{}.sqlite", n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
        Box::pin(async move { Store::open(&Database::Sqlite(file)).await.unwrap() })
    })
    .await;
    late_repeat_suite(Store::open(&Database::Sqlite(dir.path().join("late.sqlite"))).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
async fn figures_offsets_and_late_repeat_postgres() {
    let pg = Postgres::start("analytics-figures");
    let url = pg.url.clone();
    offsets_suite(|| {
        let url = url.clone();
        Box::pin(async move {
            let store = Store::open(&Database::Postgres(url)).await.unwrap();
            empty(&store).await;
            store
        })
    })
    .await;
    let store = Store::open(&Database::Postgres(pg.url.clone())).await.unwrap();
    empty(&store).await;
    late_repeat_suite(store).await;
    drop(pg);
}

/// Half the reports, the store closed (the process gone) with visits open,
/// reopened, the other half: the same figures, and the open visits kept.
async fn restart_suite(open: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Store>>>) {
    let rows = rows_where_order_matters();
    let rules = NetworkRules::default();
    let order = shuffled(rows.len(), 7);
    let (first, second) = order.split_at(order.len() / 2);
    let store = open().await;
    ingest_numbered(&store, NET, first.iter().map(|&i| (i, &rows[i]))).await;
    let half: Vec<Sight> = first.iter().map(|&i| rows[i]).collect();
    let range = Range::new(MON, MON + 3 * DAY, Bucket::Hour, 0).unwrap();
    // Wednesday 09:10: G, H and A's visit are open.
    let now = MON + 2 * DAY + 9 * H + 10 * M;
    let before = store.metrics(NET as i64, None, &rules, &range, now).await.unwrap();
    assert_eq!(before, reference(&half, None, &rules, &range, now));
    store.close().await;
    let store = open().await;
    assert!(store.use_rules([(NET as i64, rules.clone())]).await.unwrap().is_empty());
    assert_eq!(store.metrics(NET as i64, None, &rules, &range, now).await.unwrap(), before, "nothing lost in the restart");
    ingest_numbered(&store, NET, second.iter().map(|&i| (i, &rows[i]))).await;
    check_against_batch(&store, &rows, "across a restart").await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrival_orders_and_restart_sqlite() {
    let dir = TempDir::new("analytics-orders-sqlite");
    let n = std::sync::atomic::AtomicUsize::new(0);
    let path = dir.path().to_path_buf();
    // A fresh file for each run of the arrival suite.
    arrival_orders_suite(|| {
        let file = path.join(format!("rows-{}.sqlite", n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
        Box::pin(async move { Store::open(&Database::Sqlite(file)).await.unwrap() })
    })
    .await;
    let file = path.join("restart.sqlite");
    restart_suite(|| {
        let file = file.clone();
        Box::pin(async move { Store::open(&Database::Sqlite(file)).await.unwrap() })
    })
    .await;
}

async fn empty(store: &Store) {
    let Db::Postgres(pool) = &store.db else { panic!("PostgreSQL expected") };
    sqlx::query(
        "TRUNCATE probe_rows, reports, report_signatures, access_points, visits, client_days, analytics_rules, \
         hourly_figures, figure_dirty, figure_dirty_days, class_days, class_day_gaps, figures_built",
    )
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
async fn arrival_orders_and_restart_postgres() {
    let pg = Postgres::start("analytics-orders");
    let url = pg.url.clone();
    // One database for every run: each starts from empty tables.
    arrival_orders_suite(|| {
        let url = url.clone();
        Box::pin(async move {
            let store = Store::open(&Database::Postgres(url)).await.unwrap();
            empty(&store).await;
            store
        })
    })
    .await;
    let url2 = pg.url.clone();
    let fresh = std::sync::atomic::AtomicBool::new(true);
    restart_suite(|| {
        let url = url2.clone();
        let first = fresh.swap(false, std::sync::atomic::Ordering::Relaxed);
        Box::pin(async move {
            let store = Store::open(&Database::Postgres(url)).await.unwrap();
            if first {
                empty(&store).await;
            }
            store
        })
    })
    .await;
    drop(pg);
}

/// Runs the background refresher's steps (`step` hours each) until nothing
/// is dirty; answers how many steps it took.
async fn drain(store: &Store, step: usize) -> usize {
    let mut steps = 0;
    while store.refresh_step(step).await.unwrap() > 0 {
        steps += 1;
        assert!(steps < 100_000, "the refresher does not converge");
    }
    assert_eq!(store.figures_backlog().await.unwrap(), Backlog::default(), "nothing dirty after a drain");
    steps
}

/// The refresher in place of the views: a shuffled backfill (late by
/// minutes to days) drained in small steps before any view, then every
/// view must be the batch reference with nothing left for it to recompute
/// (so the figures compared are the refresher's); a late report that turns
/// a visit 7 days later into a repeat one, drained again. Then reports
/// stored while a refresher runs beside them and views are asked between
/// them: every view exact whatever the refresher has done so far, and exact
/// again after it caught up. At UTC and +05:30.
async fn refresher_suite(open: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Store>>>) {
    let rows = rows_where_order_matters();
    let now = MON + 2 * DAY + 9 * H + 10 * M;
    for (seed, offset) in [(21, 0), (22, 19_800)] {
        let rules = NetworkRules { utc_offset: offset, ..NetworkRules::default() };
        let store = open().await;
        store.use_rules([(NET as i64, rules.clone())]).await.unwrap();
        let order = shuffled(rows.len(), seed);
        ingest_numbered(&store, NET, order.iter().map(|&i| (i, &rows[i]))).await;
        assert!(store.figures_backlog().await.unwrap().hours > 0, "ingest marks hours dirty");
        // Steps of 3 hours: many steps, the oldest marks first.
        assert!(drain(&store, 3).await > 1);
        check_ranges(&store, &rows, &rules, now, true, "drained by the refresher").await;
        assert_eq!(store.figures_backlog().await.unwrap(), Backlog::default(), "the views found nothing to recompute");

        let x = "00:11:22:33:44:77";
        let day10 = (AP1, x, MON + 10 * DAY + 10 * H, MON + 10 * DAY + 10 * H + 30 * M, -60, false);
        let x_late = (AP1, x, MON + 3 * DAY + 9 * H, MON + 3 * DAY + 9 * H + 10 * M, -60, false);
        ingest_numbered(&store, NET, [(30_000, &day10)].into_iter()).await;
        drain(&store, 5).await;
        ingest_numbered(&store, NET, [(30_001, &x_late)].into_iter()).await;
        drain(&store, 5).await;
        let days = Range::new(MON + 9 * DAY, MON + 12 * DAY, Bucket::Day, offset).unwrap();
        let hours = Range::new(MON + 10 * DAY, MON + 11 * DAY, Bucket::Hour, offset).unwrap();
        let mut all = rows.clone();
        all.extend([day10, x_late]);
        for range in [&days, &hours] {
            let m = store.metrics(NET as i64, None, &rules, range, MON + 12 * DAY).await.unwrap();
            assert_eq!(m, reference(&all, None, &rules, range, MON + 12 * DAY), "late repeat, drained, UTC{offset:+} s, {range:?}");
        }
        let repeat: u64 = store.metrics(NET as i64, None, &rules, &days, MON + 12 * DAY).await.unwrap().buckets.iter().map(|b| b.counts.universal.repeat_visitors).sum();
        assert!(repeat >= 1, "X's day-10 visit is a repeat one after its day 3");

        // Only the marks settled: those of a generation at most the one
        // noted between two reports (far apart, so the later marks none of
        // the earlier's hours) are taken; the later report's wait, until
        // their hour is before the past's bound.
        let y = "00:11:22:33:44:78";
        let earlier = (AP1, y, MON + 20 * DAY + 10 * H, MON + 20 * DAY + 10 * H + 5 * M, -60, false);
        let later = (AP1, y, MON + 25 * DAY + 10 * H, MON + 25 * DAY + 10 * H + 5 * M, -60, false);
        ingest_numbered(&store, NET, [(30_002, &earlier)].into_iter()).await;
        let settled = store.generation_now().await.unwrap();
        ingest_numbered(&store, NET, [(30_003, &later)].into_iter()).await;
        let before = store.figures_backlog().await.unwrap().hours;
        let later_hour = MON + 25 * DAY + 10 * H - offset.rem_euclid(H);
        let recent = Settled { generation: settled, past_generation: i64::MAX, recent_from: later_hour };
        let taken = store.refresh_step_settled(REFRESH_STEP_HOURS, recent).await.unwrap();
        assert!(taken > 0, "the earlier report's hours are settled");
        assert_eq!(store.refresh_step_settled(REFRESH_STEP_HOURS, recent).await.unwrap(), 0, "no other mark is");
        let left = store.figures_backlog().await.unwrap().hours;
        // (`taken` counts the days recomputed too.)
        assert!(left > 0 && left < before, "the later report's hours wait, the earlier's do not: {before} then {left}");
        let past = Settled { recent_from: later_hour + H, ..recent };
        assert!(store.refresh_step_settled(REFRESH_STEP_HOURS, Settled { past_generation: settled, ..past }).await.unwrap() == 0, "nor in the past unless settled as such");
        assert!(store.refresh_step_settled(REFRESH_STEP_HOURS, past).await.unwrap() > 0, "an hour before recent_from settles by past_generation");
        assert_eq!(store.figures_backlog().await.unwrap().hours, 0);
        drain(&store, 5).await;
        all.extend([earlier, later]);
        let late_days = Range::new(MON + 19 * DAY, MON + 27 * DAY, Bucket::Day, offset).unwrap();
        let m = store.metrics(NET as i64, None, &rules, &late_days, MON + 27 * DAY).await.unwrap();
        assert_eq!(m, reference(&all, None, &rules, &late_days, MON + 27 * DAY), "settled, then drained, UTC{offset:+} s");
        store.close().await;

        // Beside a running refresher.
        let store = open().await;
        store.use_rules([(NET as i64, rules.clone())]).await.unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let refresher = {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    store.refresh_step(2).await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        };
        let order = shuffled(rows.len(), seed + 100);
        let mut stored: Vec<Sight> = Vec::new();
        for (k, part) in order.chunks(order.len().div_ceil(4)).enumerate() {
            ingest_numbered(&store, NET, part.iter().map(|&i| (i, &rows[i]))).await;
            stored.extend(part.iter().map(|&i| rows[i]));
            check_ranges(&store, &stored, &rules, now, false, &format!("beside the refresher, part {k}")).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        refresher.await.unwrap();
        drain(&store, REFRESH_STEP_HOURS).await;
        check_ranges(&store, &rows, &rules, now, false, "beside the refresher, drained").await;
        store.close().await;
    }
}

/// Stores the hours `snapshot_hours` reads now of the network scope's `span`;
/// answers (hours read, hours stored) of the network's scope.
async fn snapshot_and_store(store: &Store, span: &[i64], between: impl std::future::Future<Output = ()>) -> (Vec<i64>, Vec<i64>) {
    let reads = store.snapshot_hours(&[(NET as i64, String::new(), span.to_vec())]).await.unwrap();
    let read: Vec<i64> = reads.iter().flat_map(|r| r.hours()).collect();
    between.await;
    let mut stored = Vec::new();
    for r in reads {
        stored.extend(store.store_snapshot_hours(r).await.unwrap());
    }
    (read, stored)
}

/// The refresher's two halves (`snapshot_hours`, then
/// `store_snapshot_hours`; the same for a day) with reports and views put
/// between them by hand: what no report changed since the snapshot is
/// stored; an hour a report changed in between stays dirty, also when a
/// view had recomputed it and removed its mark before the report marked it
/// again (a mark's generation is never given twice, so the second mark is
/// not taken for the first); a day whose hour was recomputed in between
/// is not written from its snapshot. Every view stays the batch reference.
async fn snapshot_suite(store: Store) {
    let mut rows = rows_where_order_matters();
    let rules = NetworkRules::default();
    let now = MON + 2 * DAY + 9 * H + 10 * M;
    store.use_rules([(NET as i64, rules.clone())]).await.unwrap();
    ingest_numbered(&store, NET, rows.iter().enumerate()).await;
    let span: Vec<i64> = (0..4 * 24).map(|k| MON - DAY + k * H).collect();
    let (read, stored) = snapshot_and_store(&store, &span, async {}).await;
    assert!(!read.is_empty(), "ingest left hours dirty");
    assert_eq!(stored, read, "nothing changed since the snapshot: every hour read is stored");
    drain(&store, REFRESH_STEP_HOURS).await;
    check_ranges(&store, &rows, &rules, now, false, "from snapshots, nothing between").await;

    let h0 = MON + DAY + 15 * H;
    let x = "00:11:22:33:55:01";
    let report = |k: usize, row: Sight| {
        let store = store.clone();
        async move { ingest_numbered(&store, NET, [(k, &row)].into_iter()).await }
    };
    let r1 = (AP1, x, h0 + 5 * M, h0 + 20 * M, -55, false);
    report(40_000, r1).await;
    rows.push(r1);
    let r2 = (AP1, x, h0 + 15 * M, h0 + 35 * M, -50, false);
    let (read, stored) = snapshot_and_store(&store, &span, report(40_001, r2)).await;
    rows.push(r2);
    assert!(read.contains(&h0), "the first report's hour is read");
    assert!(!stored.contains(&h0), "an hour a report changed after the snapshot is not stored from it");
    assert!(store.figures_backlog().await.unwrap().hours > 0, "it stays dirty");
    check_ranges(&store, &rows, &rules, now, false, "a report between snapshot and store").await;

    drain(&store, REFRESH_STEP_HOURS).await;
    let r3 = (AP1, x, h0 + 30 * M, h0 + 45 * M, -50, false);
    report(40_002, r3).await;
    rows.push(r3);
    let r4 = (AP1, x, h0 + 40 * M, h0 + 55 * M, -50, false);
    let view_then_report = async {
        // A view recomputes h0 (its mark removed), then a report marks it again.
        let hour = Range::new(h0, h0 + H, Bucket::Hour, 0).unwrap();
        store.metrics(NET as i64, None, &rules, &hour, now).await.unwrap();
        report(40_003, r4).await;
    };
    let (read, stored) = snapshot_and_store(&store, &span, view_then_report).await;
    rows.push(r4);
    assert!(read.contains(&h0));
    assert!(!stored.contains(&h0), "a mark removed and written again since the snapshot is not the one read");
    check_ranges(&store, &rows, &rules, now, false, "a view and a report between snapshot and store").await;

    drain(&store, REFRESH_STEP_HOURS).await;
    let day = (MON + DAY).div_euclid(DAY);
    let r5 = (AP2, "00:11:22:33:55:02", h0 + 10 * M, h0 + 30 * M, -50, false);
    report(40_004, r5).await;
    rows.push(r5);
    // Its hours alone: that marks the day.
    snapshot_and_store(&store, &span, async {}).await;
    let read = store.snapshot_class_day(NET as i64, "", day).await.unwrap().expect("a day is marked once one of its hours is recomputed");
    let r6 = (AP2, "00:11:22:33:55:03", h0 + 50 * M, h0 + 58 * M, -50, false);
    report(40_005, r6).await;
    rows.push(r6);
    snapshot_and_store(&store, &span, async {}).await;
    assert!(!store.store_class_day(read).await.unwrap(), "a day marked again since its snapshot is not written from it");
    check_ranges(&store, &rows, &rules, now, false, "an hour of the day recomputed between the day's snapshot and store").await;
    let read = store.snapshot_class_day(NET as i64, "", day).await.unwrap();
    assert!(read.is_none(), "the views recomputed the day");
    snapshot_and_store(&store, &span, report(40_006, (AP1, "00:11:22:33:55:04", h0 + 2 * M, h0 + 4 * M, -50, false))).await;
    rows.push((AP1, "00:11:22:33:55:04", h0 + 2 * M, h0 + 4 * M, -50, false));
    snapshot_and_store(&store, &span, async {}).await;
    let read = store.snapshot_class_day(NET as i64, "", day).await.unwrap().expect("marked again");
    assert!(store.store_class_day(read).await.unwrap(), "nothing between: the day is written");
    drain(&store, REFRESH_STEP_HOURS).await;
    check_ranges(&store, &rows, &rules, now, true, "from snapshots, drained").await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_sqlite() {
    let dir = TempDir::new("analytics-snapshots-sqlite");
    snapshot_suite(Store::open(&Database::Sqlite(dir.path().join("rows.sqlite"))).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
async fn snapshots_postgres() {
    let pg = Postgres::start("analytics-snapshots");
    let store = Store::open(&Database::Postgres(pg.url.clone())).await.unwrap();
    empty(&store).await;
    snapshot_suite(store).await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresher_sqlite() {
    let dir = TempDir::new("analytics-refresher-sqlite");
    let n = std::sync::atomic::AtomicUsize::new(0);
    let path = dir.path().to_path_buf();
    refresher_suite(|| {
        let file = path.join(format!("rows-{}.sqlite", n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
        Box::pin(async move { Store::open(&Database::Sqlite(file)).await.unwrap() })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
async fn refresher_postgres() {
    let pg = Postgres::start("analytics-refresher");
    let url = pg.url.clone();
    refresher_suite(|| {
        let url = url.clone();
        Box::pin(async move {
            let store = Store::open(&Database::Postgres(url)).await.unwrap();
            empty(&store).await;
            store
        })
    })
    .await;
    drop(pg);
}

/// Rows of every report body on stdin, as JSON, parsed by Python's json.
const PY_ROWS: &str = r#"
import json, sys
rows = []
for line in sys.stdin:
    if line.strip():
        r = json.loads(line)
        for p in r["probe_requests"]:
            rows.append({"node_mac": r["node_mac"], "mac": p["mac"], "first_seen": p["first_seen"],
                         "last_seen": p["last_seen"], "max_signal": p["max_signal"], "associated": p["associated"]})
print(json.dumps(rows))
"#;

/// The capture replayed through presenced into a server on `database`;
/// the metrics the store gives must be the Python implementation's over
/// what the agent says it sent.
fn capture_metrics(database: &str, tag: &str) {
    let dir = TempDir::new(tag);
    std::fs::write(dir.path().join("key"), "analytics-key\n").unwrap();
    let server = Server::start(&["--database", database, "--key-file", dir.path().join("key").to_str().unwrap()], None);
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let out = Command::new(agent())
        .arg("-r")
        .arg(shared_capture("esp32-sc6-61-2024-03-31.pcap"))
        .args(["--url", &server.url("/presence"), "--stdout", "--no-hostapd"])
        .args(["--node-mac", "ac:86:74:82:9a:30", "--network-id", "221234", "--rate", "30"])
        .arg("--key-file")
        .arg(dir.path().join("key"))
        .arg("--run-dir")
        .arg(&run_dir)
        .env_remove("PRESENCED_KEY")
        .output()
        .unwrap();
    assert!(out.status.success(), "presenced failed: {}\nserver log:\n{}", String::from_utf8_lossy(&out.stderr), server.log());
    let rows: Value = serde_json::from_slice(&run_with_stdin(Command::new("python3").args(["-c", PY_ROWS]), &out.stdout)).unwrap();
    let list = rows.as_array().unwrap();
    assert!(list.len() >= 50, "{} rows", list.len());
    let first = list.iter().map(|r| r["first_seen"].as_i64().unwrap()).min().unwrap();
    let last = list.iter().map(|r| r["last_seen"].as_i64().unwrap()).max().unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let parsed = presenced_server::config::parse_database(database).unwrap();
    // The capture's ESP32 hears everyone at about -90 dBm: with the default
    // threshold nobody is a visitor, so a threshold of -95 dBm too.
    let defaults = NetworkRules::default();
    let weak = NetworkRules::from_options(None, None, Some(-95), None, None).unwrap();
    let now = last + 300;
    runtime.block_on(async {
        let store = Store::open(&parsed).await.unwrap();
        for (bucket, rules, name) in [(Bucket::Hour, &defaults, "-75"), (Bucket::Day, &defaults, "-75"), (Bucket::Hour, &weak, "-95"), (Bucket::Day, &weak, "-95")] {
            let range = Range::new(first - first.rem_euclid(H), last + H, bucket, 0).unwrap();
            // The server built the visits by the defaults: other rules, a rebuild.
            let stale = store.use_rules([(221234, rules.clone())]).await.unwrap();
            if !stale.is_empty() {
                store.rebuild_analytics(Some(&stale)).await.unwrap();
            }
            let m = store.metrics(221234, None, rules, &range, now).await.unwrap();
            let python = naive(&rows, rules, &range, now, None);
            let tag = format!("{tag} {bucket:?} {name} dBm");
            compare(&m, &python, &tag);
            // For the closing note: the capture's figures, as both computed them.
            println!("{tag} total: {}", serde_json::to_string(&m.total).unwrap());
            println!("{tag} python total: {}", python["total"]);
            println!("{tag} occupancy now: {}", serde_json::to_string(&m.occupancy_now).unwrap());
            assert!(m.total.universal.unique_clients + m.total.randomized.unique_clients > 0);
        }
        store.close().await;
    });
    drop(server);
}

#[test]
fn capture_metrics_sqlite() {
    let dir = TempDir::new("analytics-capture-db");
    capture_metrics(dir.path().join("rows.sqlite").to_str().unwrap(), "capture-sqlite");
}

#[test]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
fn capture_metrics_postgres() {
    let pg = Postgres::start("analytics-capture");
    capture_metrics(&pg.url, "capture-postgres");
}

/// The plans of what ingest and the views ask, on both databases: each one
/// walks an index of its own, never the whole table (README, "Stored
/// analytics", shows them). PostgreSQL is told to avoid sequential scans, as
/// its planner prefers them on tables this small.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
async fn query_plans_use_the_indexes() {
    let ingest_lookup = "SELECT scope, mac, start_time, end_time FROM visits WHERE network_id = 1 AND scope IN ('', 'A') \
                         AND mac IN (1, 2) AND +end_time > 100 AND start_time < 200";
    let starting = "SELECT mac, start_time FROM visits v WHERE network_id = 1 AND scope = '' AND start_time >= 100 AND start_time < 200";
    let reaching = "SELECT mac, start_time FROM visits v WHERE network_id = 1 AND scope = '' AND end_time >= 100 AND start_time < 100";
    let repeat = "SELECT 1 FROM client_days WHERE network_id = 1 AND scope = '' AND mac = 5 AND day >= 10 AND day < 40";
    let raw = "SELECT id FROM probe_rows WHERE network_id = 1 AND last_seen >= 100 AND first_seen < 200";
    // The stored figures' (store/figures.rs): a view's dirty hours, its
    // hours' figures, its days' marks and unique clients, a day's clients
    // and the next day of a client (when a day's clients change), a
    // range's distinct clients; ingest's probe
    // for the visits whose repeat flag a late day changes.
    let dirty = "SELECT hour, generation FROM figure_dirty WHERE network_id = 1 AND scope = '' AND hour >= 100 AND hour < 200";
    let hours = "SELECT hour, class, visitors FROM hourly_figures WHERE network_id = 1 AND scope = '' AND hour >= 100 AND hour < 200";
    let day_marks = "SELECT day FROM figure_dirty_days WHERE network_id = 1 AND scope = '' AND day >= 1 AND day <= 5";
    let day_unique = "SELECT day, class, SUM(n) FROM class_day_gaps WHERE network_id = 1 AND scope = '' AND day >= 1 AND day <= 5 GROUP BY day, class";
    let next_day = "SELECT MIN(day) FROM class_days WHERE network_id = 1 AND scope = '' AND class = 0 AND mac = 5 AND day > 3";
    let day_clients = "SELECT class, COUNT(*) FROM class_days WHERE network_id = 1 AND scope = '' AND day = 3 GROUP BY class";
    let range_clients = "SELECT class, SUM(n) FROM class_day_gaps WHERE network_id = 1 AND scope = '' AND day >= 1 AND day < 5 AND prev < 1 GROUP BY class";
    let late_days = "WITH late(scope, mac, lo, hi) AS (VALUES ('', 5, 100, 200)) SELECT v.start_time, v.end_time FROM late JOIN visits v \
                     ON v.network_id = 1 AND v.scope = late.scope AND v.mac = late.mac AND v.start_time >= late.lo AND v.start_time < late.hi";
    let expected = [
        (ingest_lookup, "visits USING PRIMARY KEY"),
        (starting, "visits_start"),
        (reaching, "visits_end"),
        (repeat, "client_days"),
        (raw, "probe_rows_network_first_seen"),
        (dirty, "figure_dirty USING PRIMARY KEY"),
        (hours, "hourly_figures USING PRIMARY KEY"),
        (day_marks, "figure_dirty_days USING PRIMARY KEY"),
        (day_unique, "class_day_gaps USING PRIMARY KEY"),
        (next_day, "class_days USING PRIMARY KEY"),
        (day_clients, "class_days_by_day"),
        (range_clients, "class_day_gaps USING PRIMARY KEY"),
        (late_days, "v USING PRIMARY KEY (network_id=? AND scope=? AND mac=?"),
    ];

    let dir = TempDir::new("analytics-plans");
    let store = Store::open(&Database::Sqlite(dir.path().join("rows.sqlite"))).await.unwrap();
    let Db::Sqlite { reader, .. } = &store.db else { unreachable!() };
    for (sql, index) in expected {
        use sqlx::Row;
        let plan: Vec<String> =
            sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(reader).await.unwrap().iter().map(|r| r.get::<String, _>(3)).collect();
        let index = if index == "client_days" { "client_days USING PRIMARY KEY" } else { index };
        println!("SQLite: {sql}\n  {}", plan.join("\n  "));
        assert!(plan.iter().any(|l| l.contains(index)), "SQLite: {sql}: {plan:?}");
        // The late days' few VALUES are read in full, as they should be.
        let scans_table = |l: &String| l.starts_with("SCAN ") && !l.contains("CONSTANT ROW") && l != "SCAN late";
        assert!(!plan.iter().any(scans_table), "SQLite scans a table: {sql}: {plan:?}");
    }
    // The access points' latest report times (every view's scope, the
    // dashboard's select): a few rows each by reports_node, never a walk of
    // every report kept. access_points itself is read whole, as it should
    // be (one row an access point).
    let recent_sqlite = RECENT_REPORTS_SQLITE.replace("$1", "16");
    let plan: Vec<String> = {
        use sqlx::Row;
        sqlx::query(&format!("EXPLAIN QUERY PLAN {recent_sqlite}")).fetch_all(reader).await.unwrap().iter().map(|r| r.get::<String, _>(3)).collect()
    };
    println!("SQLite: {recent_sqlite}\n  {}", plan.join("\n  "));
    assert!(plan.iter().any(|l| l.contains("r2 USING COVERING INDEX reports_node") || l.contains("r2 USING INDEX reports_node")), "SQLite: {plan:?}");
    assert!(!plan.iter().any(|l| l.starts_with("SCAN ") && !l.starts_with("SCAN a ") && l != "SCAN a"), "SQLite scans a table: {recent_sqlite}: {plan:?}");
    store.close().await;

    let pg = Postgres::start("analytics-plans");
    let store = Store::open(&Database::Postgres(pg.url.clone())).await.unwrap();
    let Db::Postgres(pool) = &store.db else { unreachable!() };
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off").execute(&mut *conn).await.unwrap();
    for (sql, index) in expected {
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {sql}")).fetch_all(&mut *conn).await.unwrap();
        println!("PostgreSQL: {sql}\n  {}", plan.join("\n  "));
        // Which index PostgreSQL picks follows its statistics, which a test's
        // few rows do not give: that it walks one is what is checked here.
        let _ = index;
        assert!(plan.iter().any(|l| l.contains("Index")), "PostgreSQL: {sql}: {plan:?}");
        assert!(!plan.iter().any(|l| l.contains("Seq Scan")), "PostgreSQL scans a table: {sql}: {plan:?}");
    }
    let recent_pg = RECENT_REPORTS_POSTGRES.replace("$1", "16");
    let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {recent_pg}")).fetch_all(&mut *conn).await.unwrap();
    println!("PostgreSQL: {recent_pg}\n  {}", plan.join("\n  "));
    assert!(plan.iter().any(|l| l.contains("Index") && l.contains("reports_node")), "PostgreSQL: {recent_pg}: {plan:?}");
    assert!(!plan.iter().any(|l| l.contains("Seq Scan on reports")), "PostgreSQL scans reports: {recent_pg}: {plan:?}");
    drop(conn);
    store.close().await;
    drop(pg);
}
