//! Raw rows kept compact (MACs as integers, migration 0050): rows stored
//! before it, as text, are converted when a server opens the database, and
//! every reader shows the text each MAC was sent as. Run on SQLite and on a
//! private PostgreSQL.

mod support;

use std::path::PathBuf;

use presenced_report::Report;
use presenced_server::config::Database;
use presenced_server::filter::{Page, RowFilter};
use presenced_server::store::Store;
use sqlx::migrate::Migrator;
use support::{report_body, row, Postgres, TempDir};

/// Rows as the schema before 0050 held them: (node_mac, mac, first_seen),
/// MACs in the cases a sender may use.
const OLD_ROWS: [(&str, &str, i64); 4] = [
    ("AC:86:74:82:9A:30", "00:9a:cd:e3:15:49", 100),
    ("AC:86:74:82:9A:30", "5C:DC:96:66:24:E3", 110),
    ("02:00:00:00:00:0c", "Aa:bB:cc:dd:ee:ff", 120),
    ("02:00:00:00:00:0c", "00:9A:CD:00:00:01", 130),
];

/// The migrations before 0050, from their files, in a directory of their own.
fn migrations_before_compact(kind: &str, dir: &TempDir) -> PathBuf {
    let to = dir.path().join(format!("migrations-{kind}"));
    std::fs::create_dir_all(&to).unwrap();
    let from = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations").join(kind);
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let version: u32 = name[..4].parse().unwrap();
        if version < 50 {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
    to
}

const OLD_INSERT: &str = "INSERT INTO probe_rows (network_id, node_mac, mac, count, min_signal, max_signal, avg_signal, \
     last_seen_signal, first_seen, last_seen, associated, received_at) VALUES ($1, $2, $3, 1, -70, -40, -50, -60, $4, $5, FALSE, 1000)";

async fn check(store: Store) {
    let all = store.rows(&RowFilter::default(), Page { number: 1, size: 100 }).await.unwrap().0;
    // Newest first; the text exactly as it was stored before.
    let got: Vec<(String, String, i64)> = all.iter().map(|r| (r.node_mac.clone(), r.mac.clone(), r.first_seen)).collect();
    let want: Vec<(String, String, i64)> =
        OLD_ROWS.iter().rev().map(|(n, m, t)| (n.to_string(), m.to_string(), *t)).collect();
    assert_eq!(got, want);

    let f = |q: &[(&str, &str)]| {
        RowFilter::from_query(&q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()).unwrap()
    };
    let macs = |rows: Vec<presenced_server::store::StoredRow>| rows.into_iter().map(|r| r.mac).collect::<Vec<_>>();
    let page = Page { number: 1, size: 100 };
    // Prefixes in either case, of whole octets and of half a one.
    assert_eq!(macs(store.rows(&f(&[("mac", "00:9a:cd")]), page).await.unwrap().0), ["00:9A:CD:00:00:01", "00:9a:cd:e3:15:49"]);
    assert_eq!(macs(store.rows(&f(&[("mac", "00:9A:CD:E")]), page).await.unwrap().0), ["00:9a:cd:e3:15:49"]);
    assert_eq!(macs(store.rows(&f(&[("mac", "aa:bb:cc:dd:ee:ff")]), page).await.unwrap().0), ["Aa:bB:cc:dd:ee:ff"]);
    assert_eq!(macs(store.rows(&f(&[("mac", "aa:bb:cc:dd:ee:fe")]), page).await.unwrap().0), Vec::<String>::new());
    assert_eq!(macs(store.rows(&f(&[("node_mac", "02:00:00:00:00:0C")]), page).await.unwrap().0), ["00:9A:CD:00:00:01", "Aa:bB:cc:dd:ee:ff"]);
    assert_eq!(store.count_rows(&f(&[("node_mac", "ac:86")])).await.unwrap(), 2);
    assert_eq!(store.count_rows(&f(&[("node_mac", "ac:87")])).await.unwrap(), 0);

    // The analytics' rows: client MACs in lower case, access points' in upper.
    let seen = store.sightings(5, Some("02:00:00:00:00:0c"), 0, 1000).await.unwrap();
    let seen: Vec<(&str, &str)> = seen.iter().map(|s| (s.mac.as_str(), s.node_mac.as_str())).collect();
    assert_eq!(seen, [("aa:bb:cc:dd:ee:ff", "02:00:00:00:00:0C"), ("00:9a:cd:00:00:01", "02:00:00:00:00:0C")]);
    assert_eq!(store.sightings(5, Some("not a mac"), 0, 1000).await.unwrap(), []);
    assert_eq!(store.rebuild_analytics(None).await.unwrap().rows, 4);

    // Rows stored after the migration read back as sent too.
    let body = report_body(5, "ac:86:74:82:9a:31", &[row(1, "5c:dc:96:66:24:e4", false), row(2, "5C:dc:96:66:24:E5", true)]);
    store.ingest(&Report::from_body(body.as_bytes()).unwrap(), &"ab".repeat(32), 2000).await.unwrap();
    let newest = store.rows(&f(&[("since", "2000")]), page).await.unwrap().0;
    let newest: Vec<(&str, &str)> = newest.iter().map(|r| (r.node_mac.as_str(), r.mac.as_str())).collect();
    assert_eq!(newest, [("ac:86:74:82:9a:31", "5C:dc:96:66:24:E5"), ("ac:86:74:82:9a:31", "5c:dc:96:66:24:e4")]);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rows_stored_as_text_are_converted() {
    let dir = TempDir::new("compact-sqlite");
    let file = dir.path().join("old.sqlite");
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&file).create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        Migrator::new(migrations_before_compact("sqlite", &dir)).await.unwrap().run(&pool).await.unwrap();
        for (node, mac, t) in OLD_ROWS {
            sqlx::query(OLD_INSERT).bind(5i64).bind(node).bind(mac).bind(t).bind(t + 5).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    check(Store::open(&Database::Sqlite(file)).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs root (a private PostgreSQL cluster run as user postgres): make test-server runs it"]
async fn postgres_rows_stored_as_text_are_converted() {
    let dir = TempDir::new("compact-postgres");
    let pg = Postgres::start("compact");
    {
        let pool = sqlx::PgPool::connect(&pg.url).await.unwrap();
        Migrator::new(migrations_before_compact("postgres", &dir)).await.unwrap().run(&pool).await.unwrap();
        for (node, mac, t) in OLD_ROWS {
            sqlx::query(OLD_INSERT).bind(5i64).bind(node).bind(mac).bind(t).bind(t + 5).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    check(Store::open(&Database::Postgres(pg.url.clone())).await.unwrap()).await;
    drop(pg);
}
