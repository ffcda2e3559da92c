//! The store's suite, run once on SQLite and once on a private PostgreSQL:
//! the same cases, the same expected values (written here from the reports
//! the test builds, not read back from the store's own code).

mod support;

use presenced_report::Report;
use presenced_server::config::Database;
use presenced_server::filter::{Page, RowFilter};
use presenced_server::store::{Db, FailureSource, Store, StoredRow, UNKNOWN_NETWORK};
use support::{report_body, row, Postgres, RowSpec, TempDir};

fn report(network_id: u64, node: &str, rows: &[RowSpec]) -> Report {
    Report::from_body(report_body(network_id, node, rows).as_bytes()).unwrap()
}

fn same(stored: &StoredRow, network_id: i64, node: &str, r: &RowSpec, received_at: i64) {
    assert_eq!(
        (
            stored.network_id,
            stored.node_mac.as_str(),
            stored.mac.as_str(),
            stored.count,
            stored.min_signal,
            stored.max_signal,
            stored.avg_signal,
            stored.last_seen_signal,
            stored.first_seen,
            stored.last_seen,
            stored.associated,
            stored.received_at
        ),
        (network_id, node, r.mac.as_str(), r.count as i64, r.min, r.max, r.avg, r.last, r.first_seen, r.last_seen, r.associated, received_at)
    );
}

const NODE_A: &str = "AC:86:74:82:9A:30";
const NODE_B: &str = "02:00:00:00:00:0B";

async fn all(store: &Store, f: &RowFilter) -> Vec<StoredRow> {
    store.rows(f, Page { number: 1, size: 1000 }).await.unwrap().0
}

async fn suite(store: Store) {
    // Typed round trip of every field, and sign-of-life bookkeeping.
    let rows_a = [row(1, "00:9a:cd:e3:15:49", false), row(2, "5C:DC:96:66:24:E3", true), row(3, "70:ec:e4:16:75:71", false)];
    let a = report(221234, NODE_A, &rows_a);
    let out = store.ingest(&a, "aa".repeat(32).as_str(), 1000).await.unwrap();
    assert_eq!((out.rows_added, out.duplicate), (3, false));
    let stored = all(&store, &RowFilter::default()).await;
    assert_eq!(stored.len(), 3);
    // Newest first: the last row inserted comes first.
    for (s, r) in stored.iter().zip(rows_a.iter().rev()) {
        same(s, 221234, NODE_A, r, 1000);
    }

    // The same report again (a retry: same Signature, upper-case hex this
    // time): no rows, but a sign of life.
    let again = store.ingest(&a, "AA".repeat(32).as_str(), 1030).await.unwrap();
    assert_eq!((again.rows_added, again.duplicate), (0, true));
    assert_eq!(all(&store, &RowFilter::default()).await.len(), 3);

    // An empty window, byte-identical every time, three times.
    let empty = report(7, NODE_B, &[]);
    for (i, t) in [1000, 1030, 1060].iter().enumerate() {
        let o = store.ingest(&empty, &"bb".repeat(32), *t).await.unwrap();
        assert_eq!((o.rows_added, o.duplicate), (0, i > 0));
    }
    let aps = store.access_points(1070).await.unwrap();
    let ap = |net: i64, node: &str| aps.iter().find(|a| a.network_id == net && a.node_mac == node).cloned().unwrap();
    let (ap_a, ap_b) = (ap(221234, NODE_A), ap(7, NODE_B));
    assert_eq!((ap_a.reports_total, ap_a.last_report, ap_a.reports_last_hour), (2, Some(1030), 2));
    assert_eq!((ap_b.reports_total, ap_b.last_report, ap_b.interval), (3, Some(1060), Some(30)));
    assert!(!ap_b.silent);
    // Silent after three of its 30 s intervals without a report.
    let later = store.access_points(1060 + 91).await.unwrap();
    assert!(later.iter().find(|a| a.node_mac == NODE_B).unwrap().silent);
    assert!(!store.access_points(1060 + 90).await.unwrap().iter().find(|a| a.node_mac == NODE_B).unwrap().silent);
    // Reports in the last hour count only that hour.
    let next_hour = store.access_points(1030 + 3600).await.unwrap();
    assert_eq!(next_hour.iter().find(|a| a.node_mac == NODE_A).unwrap().reports_last_hour, 1);

    // A second network and access point for the filters.
    let rows_b = [row(4, "00:9A:CD:00:00:01", true), row(5, "aa:bb:cc:dd:ee:ff", false)];
    store.ingest(&report(9, "02:00:00:00:00:0c", &rows_b), &"cc".repeat(32), 2000).await.unwrap();

    let f = |q: &[(&str, &str)]| {
        RowFilter::from_query(&q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap()
    };
    let macs = |rows: Vec<StoredRow>| rows.into_iter().map(|r| r.mac).collect::<Vec<_>>();
    // Client MAC in any case, full or prefix, whatever case it was sent in.
    assert_eq!(macs(all(&store, &f(&[("mac", "00:9A:cd")])).await), ["00:9A:CD:00:00:01", "00:9a:cd:e3:15:49"]);
    assert_eq!(macs(all(&store, &f(&[("mac", "5c:dc:96:66:24:e3")])).await), ["5C:DC:96:66:24:E3"]);
    assert_eq!(macs(all(&store, &f(&[("node_mac", "02:00:00:00:00:0C")])).await), ["aa:bb:cc:dd:ee:ff", "00:9A:CD:00:00:01"]);
    assert_eq!(all(&store, &f(&[("node_mac", "ac:86")])).await.len(), 3);
    assert_eq!(all(&store, &f(&[("network_id", "9")])).await.len(), 2);
    assert_eq!(all(&store, &f(&[("network_id", "8")])).await.len(), 0);
    assert_eq!(macs(all(&store, &f(&[("associated", "true")])).await), ["00:9A:CD:00:00:01", "5C:DC:96:66:24:E3"]);
    assert_eq!(all(&store, &f(&[("associated", "false")])).await.len(), 3);
    assert_eq!(all(&store, &f(&[("since", "1500")])).await.len(), 2);
    assert_eq!(all(&store, &f(&[("until", "1000")])).await.len(), 3);
    assert_eq!(all(&store, &f(&[("since", "1000"), ("until", "1999")])).await.len(), 3);
    assert_eq!(macs(all(&store, &f(&[("mac", "00:9a"), ("associated", "false"), ("network_id", "221234")])).await), ["00:9a:cd:e3:15:49"]);
    assert_eq!(store.count_rows(&f(&[("associated", "false")])).await.unwrap(), 3);

    // Pages of two, newest first, and whether an older one follows.
    let everything = macs(all(&store, &RowFilter::default()).await);
    assert_eq!(everything.len(), 5);
    let mut paged = Vec::new();
    for n in 1..=3 {
        let (rows, more) = store.rows(&RowFilter::default(), Page { number: n, size: 2 }).await.unwrap();
        assert_eq!(more, n < 3, "page {n}");
        paged.extend(macs(rows));
    }
    assert_eq!(paged, everything);
    // The export's batches walk the same rows.
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let batch = store.rows_before(&RowFilter::default(), before, 2).await.unwrap();
        if batch.is_empty() {
            break;
        }
        before = batch.last().map(|r| r.id);
        walked.extend(macs(batch));
    }
    assert_eq!(walked, everything);

    // Signature failures: on a known access point, on a new one (never a
    // good report), on the bucket of a configured network, on the global one.
    let fail = |net: Option<i64>, node: Option<&str>, known: bool| FailureSource {
        network_id: net,
        node_mac: node.map(str::to_string),
        network_known: known,
    };
    store.record_signature_failure(&fail(Some(221234), Some("ac:86:74:82:9a:30"), false), 3000).await.unwrap();
    store.record_signature_failure(&fail(Some(221234), Some(NODE_A), false), 3001).await.unwrap();
    store.record_signature_failure(&fail(Some(5), Some("02:00:00:00:00:99"), false), 3002).await.unwrap();
    store.record_signature_failure(&fail(Some(5), None, true), 3003).await.unwrap();
    store.record_signature_failure(&fail(None, None, false), 3004).await.unwrap();
    store.record_signature_failure(&fail(Some(6), None, false), 3005).await.unwrap();
    let aps = store.access_points(3010).await.unwrap();
    let failures = |net: i64, node: &str| aps.iter().find(|a| a.network_id == net && a.node_mac == node).map(|a| a.signature_failures);
    assert_eq!(failures(221234, NODE_A), Some(2));
    assert_eq!(failures(5, "02:00:00:00:00:99"), Some(1));
    assert_eq!(aps.iter().find(|a| a.node_mac == "02:00:00:00:00:99").unwrap().last_report, None);
    assert_eq!(failures(5, ""), Some(1));
    assert_eq!(failures(UNKNOWN_NETWORK, ""), Some(2));

    // Forged node_macs cannot grow the table without bound.
    let cap = presenced_server::store::UNVERIFIED_ACCESS_POINTS_MAX as usize;
    for i in 0..cap + 20 {
        let node = format!("06:00:00:00:{:02X}:{:02X}", i / 256, i % 256);
        store.record_signature_failure(&fail(Some(77), Some(&node), false), 4000).await.unwrap();
    }
    let aps = store.access_points(4000).await.unwrap();
    let unverified = aps.iter().filter(|a| a.reports_total == 0 && !a.node_mac.is_empty()).count();
    assert_eq!(unverified, cap, "one earlier failure plus the forged ones, capped");
    assert_eq!(aps.iter().find(|a| a.network_id == UNKNOWN_NETWORK && a.node_mac.is_empty()).unwrap().signature_failures, 2 + 21);

    // Retention: rows received before the cutoff go, later ones stay, and
    // ingest goes on while pruning.
    let old_rows: Vec<RowSpec> = (0..12_000).map(|i| row(i % 50, &format!("0a:00:00:00:{:02x}:{:02x}", i / 256 % 256, i % 256), false)).collect();
    store.ingest(&report(1, NODE_B, &old_rows), &"dd".repeat(32), 100).await.unwrap();
    let store2 = store.clone();
    let pruning = tokio::spawn(async move { store2.prune(500).await });
    let during = store.ingest(&report(1, NODE_B, &[row(9, "0b:00:00:00:00:01", true)]), &"ee".repeat(32), 5000).await.unwrap();
    assert_eq!(during.rows_added, 1);
    let pruned = pruning.await.unwrap().unwrap();
    assert_eq!((pruned.rows, pruned.reports, pruned.signatures), (12_000, 1, 1));
    assert_eq!(store.count_rows(&RowFilter::default()).await.unwrap(), 5 + 1);
    // A pruned signature no longer blocks its rows: retention bounds the
    // memory of seen signatures too.
    assert_eq!(store.ingest(&report(1, NODE_B, &[row(1, "0c:00:00:00:00:01", true)]), &"dd".repeat(32), 5001).await.unwrap().rows_added, 1);

    // Many reports at once (on SQLite they share transactions), retries
    // among them: each distinct report's rows once, every report counted.
    let before = store.count_rows(&RowFilter::default()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let distinct = i % 20;
            let r = report(3, "02:00:00:00:00:33", &[row(distinct, &format!("0d:00:00:00:00:{distinct:02x}"), false), row(1, "0d:ff:00:00:00:01", true)]);
            store.ingest(&r, &format!("{distinct:064x}"), 6000 + i as i64).await.unwrap()
        }));
    }
    let mut added = 0;
    let mut duplicates = 0;
    for t in tasks {
        let o = t.await.unwrap();
        added += o.rows_added;
        duplicates += o.duplicate as u32;
    }
    assert_eq!((added, duplicates), (40, 20));
    assert_eq!(store.count_rows(&RowFilter::default()).await.unwrap(), before + 40);
    let ap = store.access_points(6100).await.unwrap().into_iter().find(|a| a.node_mac == "02:00:00:00:00:33").unwrap();
    assert_eq!(ap.reports_total, 40);

    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = TempDir::new("store-sqlite");
    let store = Store::open(&Database::Sqlite(dir.path().join("rows.sqlite"))).await.unwrap();
    assert_eq!(store.kind(), "SQLite");
    suite(store).await;
    // The journal mode is WAL (a fresh connection reads it from the file).
    let store = Store::open(&Database::Sqlite(dir.path().join("rows.sqlite"))).await.unwrap();
    if let Db::Sqlite { reader: pool, .. } = &store.db {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.unwrap();
        assert_eq!(mode, "wal");
    }
    // The WAL is checkpointed beside the writer, not only in its commits
    // once 10,000 pages are in the WAL (nor when the last connection
    // closes): the database file itself, which in WAL mode only a
    // checkpoint writes, is written within seconds of a report of 2,000
    // rows (far fewer pages than that).
    let file = dir.path().join("rows.sqlite");
    let before = std::fs::metadata(&file).unwrap().modified().unwrap();
    let rows: Vec<RowSpec> = (0..2000).map(|i| row(i % 50, &format!("02:00:00:00:{:02x}:{:02x}", i / 256, i % 256), false)).collect();
    store.ingest(&report(7100, NODE_B, &rows), "cd".repeat(32).as_str(), 5000).await.unwrap();
    let waited = std::time::Instant::now();
    while std::fs::metadata(&file).unwrap().modified().unwrap() == before {
        assert!(waited.elapsed() < std::time::Duration::from_secs(10), "the database file is unwritten 10 s after the report");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
async fn postgres() {
    let pg = Postgres::start("store");
    let store = Store::open(&Database::Postgres(pg.url.clone())).await.unwrap();
    assert_eq!(store.kind(), "PostgreSQL");
    suite(store).await;
    // Migrations are recorded: opening again applies nothing twice.
    let store = Store::open(&Database::Postgres(pg.url.clone())).await.unwrap();
    if let Db::Postgres(pool) = &store.db {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(pool).await.unwrap();
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).unwrap().count();
        assert_eq!(n as usize, files, "one row per migration file");
    }
    store.close().await;
    drop(pg);
}
