//! The store: one interface over SQLite or PostgreSQL, holding the raw rows
//! as reports sent them and the analytics built from them at ingest.
//!
//! Contract:
//! - `ingest` stores a report's rows and merges them into the stored visits
//!   (`stored_visits`, per network and per access point) and the
//!   per-client days, in one transaction: a report answered 200 has both,
//!   whatever happens to the process after.
//! - The stored visits equal `analytics::visits::visits()` over the same
//!   raw rows, whatever order the reports arrived in
//!   (`analytics::sessionize`); `rebuild_analytics` recomputes them from
//!   the raw rows, for other rules or a repaired database.
//! - Every view (`views`: metrics, visits) reads stored visits and days,
//!   never raw rows: its cost follows the range asked for, not the history.
//!
//! sqlx serves both databases with one async API and one pool type per
//! database, and runs the migrations in server/migrations (compiled in).
//! Queries are written once: `$1`-style placeholders, `ON CONFLICT`,
//! `lower()` and `LIKE` mean the same in both, and the `on_pool!` macro
//! expands each query once per database, each bound through its own
//! driver (the SQL text is checked when it runs, by the tests on both).
//! Only the migrations differ (column types and identity columns).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use presenced_report::Report;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::analytics::visits::{NetworkRules, Sighting};
use crate::analytics::{infer_interval, is_silent, INTERVAL_SAMPLE};
use crate::filter::{Page, RowFilter};

pub type StoreError = sqlx::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(std::path::PathBuf),
    /// The URL as given; sqlx parses it again when connecting.
    Postgres(String),
}

/// The store: the database, and the rules each network's stored visits are
/// built by (set from the config at start, `use_rules`).
#[derive(Clone, Debug)]
pub struct Store {
    pub db: Db,
    rules: Arc<RwLock<HashMap<i64, NetworkRules>>>,
    /// Networks with a webhook: their reports also feed the stored
    /// detector (`webhook_outbox`, set from the config, `use_webhooks`).
    hooked: Arc<RwLock<std::collections::HashSet<i64>>>,
}

#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite takes one writer at a time; with several, the losers sleep in
    /// SQLite's busy handler (in steps of up to 100 ms) and throughput
    /// collapses. So writes queue for the one connection of `writer`, in
    /// order, while `reader`'s connections serve the pages alongside (WAL).
    ///
    /// Reports go to `queue`: one task takes what has arrived (up to
    /// `WRITE_BATCH_MAX` reports) and stores it in one transaction, so that
    /// a commit and the driver's round trips are shared by many reports.
    Sqlite { reader: SqlitePool, writer: SqlitePool, queue: mpsc::Sender<IngestJob> },
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool for reads or for
/// writes.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        on_pool!($store, reader, $pool => $body)
    };
    ($store:expr, $role:ident, $pool:ident => $body:expr) => {
        match &$store.db {
            Db::Sqlite { $role: $pool, .. } => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

pub mod api_state;
#[macro_use]
pub mod stored_visits;
#[macro_use]
pub mod webhook_outbox;
mod views;
mod figures;

pub use views::SIGHTINGS_MAX;

/// One stored row: the report's network_id and node_mac, the ten documented
/// fields, and when it arrived (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    pub network_id: i64,
    pub node_mac: String,
    pub mac: String,
    pub count: i64,
    pub min_signal: i32,
    pub max_signal: i32,
    pub avg_signal: i32,
    pub last_seen_signal: i32,
    pub first_seen: i64,
    pub last_seen: i64,
    pub associated: bool,
    pub received_at: i64,
    /// Insertion order; newest first is highest first.
    pub id: i64,
}

impl From<&StoredRow> for Sighting {
    fn from(r: &StoredRow) -> Sighting {
        Sighting::of_row(&r.mac, &r.node_mac, r.first_seen, r.last_seen, r.max_signal, r.associated)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestOutcome {
    pub rows_added: u64,
    /// Its Signature was seen before: a retry, whose rows are stored already.
    pub duplicate: bool,
}

/// Where a failed signature is counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureSource {
    pub network_id: Option<i64>,
    pub node_mac: Option<String>,
    /// The network is in the config file: its unidentified senders get a
    /// bucket of their own.
    pub network_known: bool,
}

/// Access points created by failed signatures alone (never a good report),
/// at most: beyond, failures go to the unidentified bucket, so that forged
/// node_macs cannot grow the table without bound.
pub const UNVERIFIED_ACCESS_POINTS_MAX: i64 = 1000;
/// network_id of the bucket of senders whose network is not configured.
pub const UNKNOWN_NETWORK: i64 = -1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPointStatus {
    pub network_id: i64,
    /// Upper case; empty for the bucket of unidentified senders.
    pub node_mac: String,
    pub last_report: Option<i64>,
    pub reports_total: i64,
    pub reports_last_hour: i64,
    pub signature_failures: i64,
    pub last_failure: Option<i64>,
    pub interval: Option<i64>,
    pub silent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pruned {
    pub rows: u64,
    pub reports: u64,
    pub signatures: u64,
}

/// Rows per INSERT: 13 parameters each stays far below SQLite's 32766 and
/// PostgreSQL's 65535 bound parameters.
const INSERT_CHUNK: usize = 1000;
/// Reports per SQLite transaction at most.
const WRITE_BATCH_MAX: usize = 64;
/// The longest a report waits for the SQLite writer.
const WRITE_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct IngestJob {
    report: Report,
    network_id: i64,
    node_upper: String,
    signature: String,
    received_at: i64,
    rules: NetworkRules,
    hooked: bool,
    reply: oneshot::Sender<Result<IngestOutcome, StoreError>>,
}

/// Rows per DELETE while pruning, so that ingest waits at most for one batch.
const PRUNE_BATCH: i64 = 5000;

const COLUMNS: &str = "network_id, node_mac, mac, count, min_signal, max_signal, avg_signal, \
                       last_seen_signal, first_seen, last_seen, associated, received_at, id";

/// A bound value of a statement built at run time.
#[derive(Debug, Clone)]
pub enum Param {
    Int(i64),
    Text(String),
    Bool(bool),
}

#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

const SQLITE_MIGRATIONS: Embedded = Embedded(&[
    (1, "reports", include_str!("../../migrations/sqlite/0001_reports.sql")),
    (2, "visits", include_str!("../../migrations/sqlite/0002_visits.sql")),
    (3, "probe_rows_by_network", include_str!("../../migrations/sqlite/0003_probe_rows_by_network.sql")),
    (10, "api_key_state", include_str!("../../migrations/sqlite/0010_api_key_state.sql")),
    (20, "webhook_outbox", include_str!("../../migrations/sqlite/0020_webhook_outbox.sql")),
    (30, "estimated_device", include_str!("../../migrations/sqlite/0030_estimated_device.sql")),
    (40, "stored_figures", include_str!("../../migrations/sqlite/0040_stored_figures.sql")),
]);
const POSTGRES_MIGRATIONS: Embedded = Embedded(&[
    (1, "reports", include_str!("../../migrations/postgres/0001_reports.sql")),
    (2, "visits", include_str!("../../migrations/postgres/0002_visits.sql")),
    (3, "probe_rows_by_network", include_str!("../../migrations/postgres/0003_probe_rows_by_network.sql")),
    (10, "api_key_state", include_str!("../../migrations/postgres/0010_api_key_state.sql")),
    (20, "webhook_outbox", include_str!("../../migrations/postgres/0020_webhook_outbox.sql")),
    (30, "estimated_device", include_str!("../../migrations/postgres/0030_estimated_device.sql")),
    (40, "stored_figures", include_str!("../../migrations/postgres/0040_stored_figures.sql")),
]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, sqlx::error::BoxDynError>> + Send + 's>> {
        let migrations = self
            .0
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(*version, Cow::Borrowed(*name), MigrationType::Simple, Cow::Borrowed(*sql), false)
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// The statements that store one report, inside the caller's transaction
/// `$tx`; evaluates to its `IngestOutcome`. A macro, like `on_pool!`, so
/// that the same text is checked against each database's driver.
macro_rules! ingest_in_tx {
    ($tx:ident, $numbered:expr, $values:expr, $report:expr, $network_id:expr, $node_upper:expr, $signature:expr, $received_at:expr, $rules:expr, $hooked:expr) => {{
            let fresh = sqlx::query(
                "INSERT INTO report_signatures (signature, received_at) VALUES ($1, $2) ON CONFLICT (signature) DO NOTHING",
            )
            .bind(&$signature)
            .bind($received_at)
            .execute(&mut *$tx)
            .await?
            .rows_affected()
                == 1;
            let mut rows_added = 0;
            if fresh {
                for chunk in $report.probe_requests.chunks(INSERT_CHUNK) {
                    let sql = format!(
                        "INSERT INTO probe_rows (network_id, node_mac, mac, count, min_signal, max_signal, avg_signal, \
                         last_seen_signal, first_seen, last_seen, associated, received_at, estimated_device) VALUES {}",
                        $values(chunk.len())
                    );
                    let mut q = sqlx::query(&sql);
                    for row in chunk {
                        q = q
                            .bind($network_id)
                            .bind(&$report.node_mac)
                            .bind(&row.mac)
                            .bind(i64::from(row.count))
                            .bind(row.min_signal)
                            .bind(row.max_signal)
                            .bind(row.avg_signal)
                            .bind(row.last_seen_signal)
                            .bind(row.first_seen)
                            .bind(row.last_seen)
                            .bind(row.associated)
                            .bind($received_at)
                            .bind(row.is_estimated_device());
                    }
                    rows_added += q.execute(&mut *$tx).await?.rows_affected();
                }
                let sightings: Vec<(Sighting, bool)> = $report.probe_requests.iter()
                    .map(|p| (Sighting::of_row(&p.mac, &$node_upper, p.first_seen, p.last_seen, p.max_signal, p.associated), p.is_estimated_device()))
                    .collect();
                sessionize_in_tx!($tx, $numbered, $network_id, &sightings, &$rules);
                if $hooked {
                    // The webhooks' detector knows no estimated devices yet (README: webhooks).
                    let plain: Vec<Sighting> = sightings.iter().map(|(s, _)| s.clone()).collect();
                    detect_in_tx!($tx, $network_id, $rules.visits, $received_at, true, |d| d.on_report(&$node_upper, &plain, $received_at));
                }
            }
            sqlx::query(
                "INSERT INTO reports (network_id, node_mac, received_at, row_count, duplicate) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind($network_id)
            .bind(&$node_upper)
            .bind($received_at)
            .bind($report.probe_requests.len() as i32)
            .bind(!fresh)
            .execute(&mut *$tx)
            .await?;
            sqlx::query(
                "INSERT INTO access_points (network_id, node_mac, first_report, last_report, reports) VALUES ($1, $2, $3, $3, 1) \
                 ON CONFLICT (network_id, node_mac) DO UPDATE SET \
                 first_report = COALESCE(access_points.first_report, excluded.first_report), \
                 last_report = CASE WHEN access_points.last_report IS NULL OR access_points.last_report < excluded.last_report \
                               THEN excluded.last_report ELSE access_points.last_report END, \
                 reports = access_points.reports + 1",
            )
            .bind($network_id)
            .bind(&$node_upper)
            .bind($received_at)
            .execute(&mut *$tx)
            .await?;
            Ok::<IngestOutcome, StoreError>(IngestOutcome { rows_added, duplicate: !fresh })
    }};
}

/// Columns of a probe_rows INSERT, the placeholders of one row.
const ROW_COLUMNS: usize = 13;

/// `($1,...,$13),($14,...)`: PostgreSQL's placeholders.
fn numbered_values(rows: usize) -> String {
    let mut sql = String::with_capacity(rows * ROW_COLUMNS * 5);
    for i in 0..rows {
        sql.push_str(if i > 0 { ",(" } else { "(" });
        for k in 1..=ROW_COLUMNS {
            if k > 1 {
                sql.push(',');
            }
            sql.push('$');
            sql.push_str(&(i * ROW_COLUMNS + k).to_string());
        }
        sql.push(')');
    }
    sql
}

/// `(?,...,?),(?,...)`: SQLite's anonymous placeholders. Not `$N`: SQLite
/// keeps named parameters in a list that sqlx's binding searches once per
/// parameter, so a 50-row INSERT of `$N` spent more instructions finding its
/// 600 parameters than storing the rows (callgrind, `make bench-server`).
fn anonymous_values(rows: usize) -> String {
    let row = format!("({})", vec!["?"; ROW_COLUMNS].join(","));
    vec![row; rows].join(",")
}

impl Store {
    /// Connects (creating an SQLite file if missing) and brings the schema up
    /// to date.
    pub async fn open(database: &Database) -> Result<Store, StoreError> {
        let store = match database {
            Database::Sqlite(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // WAL with NORMAL: a power cut may lose the last
                    // transactions, never corrupt the file.
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    // The WAL file is truncated back to this after a checkpoint.
                    .pragma("journal_size_limit", "67108864");
                let writer = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options.clone())
                    .await?;
                let reader = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                let (queue, jobs) = mpsc::channel(1024);
                tokio::spawn(sqlite_writer(writer.clone(), jobs));
                Db::Sqlite { reader, writer, queue }
            }
            Database::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                Db::Postgres(pool)
            }
        };
        let store = Store { db: store, rules: Arc::default(), hooked: Arc::default() };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let (migrator, result) = match &self.db {
            Db::Sqlite { writer: pool, .. } => {
                let m = Migrator::new(SQLITE_MIGRATIONS).await?;
                let r = m.run(pool).await;
                (m, r)
            }
            Db::Postgres(pool) => {
                let m = Migrator::new(POSTGRES_MIGRATIONS).await?;
                let r = m.run(pool).await;
                (m, r)
            }
        };
        drop(migrator);
        result.map_err(|e| sqlx::Error::Migrate(Box::new(e)))
    }

    pub fn kind(&self) -> &'static str {
        match &self.db {
            Db::Sqlite { .. } => "SQLite",
            Db::Postgres(_) => "PostgreSQL",
        }
    }

    pub async fn close(&self) {
        if let Db::Sqlite { writer, .. } = &self.db {
            writer.close().await;
        }
        on_pool!(self, pool => pool.close().await)
    }

    /// Stores an authenticated report: its rows unless its signature was
    /// stored before, and in every case a sign of life of its access point.
    /// One transaction: all of it or nothing. On SQLite the report joins
    /// the writer's next batch (see `sqlite_writer`).
    pub async fn ingest(&self, report: &Report, signature: &str, received_at: i64) -> Result<IngestOutcome, StoreError> {
        let network_id = i64::try_from(report.network_id)
            .map_err(|_| sqlx::Error::Protocol(format!("network_id {} is out of range", report.network_id)))?;
        let node_upper = report.node_mac.to_ascii_uppercase();
        let signature = signature.trim().to_ascii_lowercase();
        let rules = self.rules_for(network_id);
        let hooked = self.is_hooked(network_id);
        match &self.db {
            Db::Sqlite { queue, .. } => {
                let (reply, answer) = oneshot::channel();
                let job = IngestJob { report: report.clone(), network_id, node_upper, signature, received_at, rules, hooked, reply };
                let queued = async {
                    queue.send(job).await.map_err(|_| sqlx::Error::PoolClosed)?;
                    answer.await.map_err(|_| sqlx::Error::PoolClosed)?
                };
                tokio::time::timeout(WRITE_WAIT, queued).await.map_err(|_| sqlx::Error::PoolTimedOut)?
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // One writer of a network's visits at a time, across every
                // process on this database: the merge reads, then writes.
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(network_id).execute(&mut *tx).await?;
                let outcome = ingest_in_tx!(tx, true, numbered_values, report, network_id, node_upper, signature, received_at, rules, hooked)?;
                tx.commit().await?;
                Ok(outcome)
            }
        }
    }

    /// Counts a report refused for its signature, on the access point it
    /// names if that one is known or there is room, else on a bucket.
    pub async fn record_signature_failure(&self, source: &FailureSource, at: i64) -> Result<(), StoreError> {
        let bucket_network = match (source.network_id, source.network_known) {
            (Some(id), true) => id,
            _ => UNKNOWN_NETWORK,
        };
        on_pool!(self, writer, pool => {
            let mut tx = pool.begin().await?;
            let mut target = (bucket_network, String::new());
            if let (Some(network_id), Some(node)) = (source.network_id, &source.node_mac) {
                let node = node.to_ascii_uppercase();
                let known: i64 = sqlx::query("SELECT COUNT(*) FROM access_points WHERE network_id = $1 AND node_mac = $2")
                    .bind(network_id)
                    .bind(&node)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                let unverified: i64 = if known > 0 {
                    0
                } else {
                    sqlx::query("SELECT COUNT(*) FROM access_points WHERE reports = 0 AND node_mac <> ''")
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get(0)?
                };
                if known > 0 || unverified < UNVERIFIED_ACCESS_POINTS_MAX {
                    target = (network_id, node);
                }
            }
            sqlx::query(
                "INSERT INTO access_points (network_id, node_mac, signature_failures, last_failure) VALUES ($1, $2, 1, $3) \
                 ON CONFLICT (network_id, node_mac) DO UPDATE SET \
                 signature_failures = access_points.signature_failures + 1, last_failure = excluded.last_failure",
            )
            .bind(target.0)
            .bind(&target.1)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The filtered rows of one page, newest first, and whether an older page
    /// follows.
    pub async fn rows(&self, filter: &RowFilter, page: Page) -> Result<(Vec<StoredRow>, bool), StoreError> {
        let (where_sql, params) = where_clause(filter);
        let n = params.len();
        let sql = format!(
            "SELECT {COLUMNS} FROM probe_rows{where_sql} ORDER BY id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut rows = self.fetch_rows(&sql, params, &[page.size + 1, page.offset()]).await?;
        let more = rows.len() as i64 > page.size;
        rows.truncate(page.size as usize);
        Ok((rows, more))
    }

    pub async fn count_rows(&self, filter: &RowFilter) -> Result<i64, StoreError> {
        let (where_sql, params) = where_clause(filter);
        let sql = format!("SELECT COUNT(*) FROM probe_rows{where_sql}");
        on_pool!(self, pool => {
            let mut q = sqlx::query(&sql);
            for p in params {
                q = match p {
                    Param::Int(v) => q.bind(v),
                    Param::Text(v) => q.bind(v),
                    Param::Bool(v) => q.bind(v),
                };
            }
            q.fetch_one(pool).await?.try_get::<i64, _>(0)
        })
    }

    /// Filtered rows with id below `before_id` (all when None), newest
    /// first, at most `limit`: the CSV export walks the rows in such batches
    /// so that its memory does not grow with the table.
    pub async fn rows_before(&self, filter: &RowFilter, before_id: Option<i64>, limit: i64) -> Result<Vec<StoredRow>, StoreError> {
        let (mut where_sql, params) = where_clause(filter);
        let mut extra = vec![limit];
        let n = params.len();
        let limit_index = if let Some(id) = before_id {
            where_sql.push_str(if where_sql.is_empty() { " WHERE " } else { " AND " });
            where_sql.push_str(&format!("id < ${}", n + 1));
            extra.insert(0, id);
            n + 2
        } else {
            n + 1
        };
        let sql = format!("SELECT {COLUMNS} FROM probe_rows{where_sql} ORDER BY id DESC LIMIT ${limit_index}");
        self.fetch_rows(&sql, params, &extra).await
    }

    async fn fetch_rows(&self, sql: &str, params: Vec<Param>, tail: &[i64]) -> Result<Vec<StoredRow>, StoreError> {
        on_pool!(self, pool => {
            let mut q = sqlx::query(sql);
            for p in params {
                q = match p {
                    Param::Int(v) => q.bind(v),
                    Param::Text(v) => q.bind(v),
                    Param::Bool(v) => q.bind(v),
                };
            }
            for v in tail {
                q = q.bind(*v);
            }
            let rows = q.fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(StoredRow {
                        network_id: r.try_get("network_id")?,
                        node_mac: r.try_get("node_mac")?,
                        mac: r.try_get("mac")?,
                        count: r.try_get("count")?,
                        min_signal: r.try_get("min_signal")?,
                        max_signal: r.try_get("max_signal")?,
                        avg_signal: r.try_get("avg_signal")?,
                        last_seen_signal: r.try_get("last_seen_signal")?,
                        first_seen: r.try_get("first_seen")?,
                        last_seen: r.try_get("last_seen")?,
                        associated: r.try_get("associated")?,
                        received_at: r.try_get("received_at")?,
                        id: r.try_get("id")?,
                    })
                })
                .collect()
        })
    }

    /// Every access point and failure bucket, with what the page shows.
    pub async fn access_points(&self, now: i64) -> Result<Vec<AccessPointStatus>, StoreError> {
        let hour_ago = now - 3600;
        on_pool!(self, pool => {
            let aps = sqlx::query(
                "SELECT a.network_id, a.node_mac, a.last_report, a.reports, a.signature_failures, a.last_failure, \
                 (SELECT COUNT(*) FROM reports r WHERE r.network_id = a.network_id AND r.node_mac = a.node_mac \
                  AND r.received_at >= $1) AS last_hour \
                 FROM access_points a ORDER BY a.network_id, a.node_mac",
            )
            .bind(hour_ago)
            .fetch_all(pool)
            .await?;
            let recent = sqlx::query(
                "SELECT network_id, node_mac, received_at FROM ( \
                 SELECT network_id, node_mac, received_at, \
                 ROW_NUMBER() OVER (PARTITION BY network_id, node_mac ORDER BY received_at DESC) AS n FROM reports) t \
                 WHERE n <= $1",
            )
            .bind(INTERVAL_SAMPLE as i64)
            .fetch_all(pool)
            .await?;
            let mut times: std::collections::HashMap<(i64, String), Vec<i64>> = std::collections::HashMap::new();
            for r in &recent {
                times
                    .entry((r.try_get("network_id")?, r.try_get("node_mac")?))
                    .or_default()
                    .push(r.try_get("received_at")?);
            }
            aps.iter()
                .map(|r| {
                    let network_id: i64 = r.try_get("network_id")?;
                    let node_mac: String = r.try_get("node_mac")?;
                    let last_report: Option<i64> = r.try_get("last_report")?;
                    let interval = times.get(&(network_id, node_mac.clone())).and_then(|t| infer_interval(t));
                    Ok(AccessPointStatus {
                        silent: last_report.is_some_and(|last| is_silent(now, last, interval)),
                        network_id,
                        node_mac,
                        last_report,
                        reports_total: r.try_get("reports")?,
                        reports_last_hour: r.try_get("last_hour")?,
                        signature_failures: r.try_get("signature_failures")?,
                        last_failure: r.try_get("last_failure")?,
                        interval,
                    })
                })
                .collect()
        })
    }

    /// Deletes rows, report lines and signatures received before `cutoff`,
    /// in batches, each its own short transaction, so that ingest goes on
    /// between them.
    pub async fn prune(&self, cutoff: i64) -> Result<Pruned, StoreError> {
        let by_id = |table: &str| {
            format!("DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE received_at < $1 ORDER BY id LIMIT $2)")
        };
        Ok(Pruned {
            rows: self.delete_in_batches(&by_id("probe_rows"), cutoff).await?,
            reports: self.delete_in_batches(&by_id("reports"), cutoff).await?,
            signatures: self
                .delete_in_batches(
                    "DELETE FROM report_signatures WHERE signature IN \
                     (SELECT signature FROM report_signatures WHERE received_at < $1 LIMIT $2)",
                    cutoff,
                )
                .await?,
        })
    }

    /// Deletes the visits that ended before `cutoff` and the per-client
    /// days before its day (a day early at worst, never one still needed:
    /// a repeat looks back from visits that are kept), and the webhooks'
    /// events written before it.
    pub async fn prune_analytics(&self, cutoff: i64) -> Result<u64, StoreError> {
        let day = cutoff.div_euclid(86_400) - 1 - crate::analytics::metrics::REPEAT_WINDOW_DAYS;
        let visits = on_pool!(self, writer, pool => {
            let visits = sqlx::query("DELETE FROM visits WHERE end_time < $1").bind(cutoff).execute(pool).await?.rows_affected();
            sqlx::query("DELETE FROM client_days WHERE day < $1").bind(day).execute(pool).await?;
            visits
        });
        self.prune_figures(cutoff).await?;
        // The webhooks' outbox keeps what the visits keep.
        self.prune_webhook_events(cutoff).await?;
        Ok(visits)
    }

    async fn delete_in_batches(&self, sql: &str, cutoff: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = on_pool!(self, writer, pool => sqlx::query(sql).bind(cutoff).bind(PRUNE_BATCH).execute(pool).await?.rows_affected());
            total += n;
            if n < PRUNE_BATCH as u64 {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }
}

fn where_clause(filter: &RowFilter) -> (String, Vec<Param>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    let next = |params: &mut Vec<Param>, p: Param| {
        params.push(p);
        format!("${}", params.len())
    };
    // The prefixes hold only hex digits and colons (RowFilter checks), so
    // LIKE sees no wildcard but the one added here.
    if let Some(m) = &filter.mac_prefix {
        let ph = next(&mut params, Param::Text(format!("{m}%")));
        conditions.push(format!("lower(mac) LIKE {ph}"));
    }
    if let Some(m) = &filter.node_mac_prefix {
        let ph = next(&mut params, Param::Text(format!("{m}%")));
        conditions.push(format!("lower(node_mac) LIKE {ph}"));
    }
    if let Some(id) = filter.network_id {
        let ph = next(&mut params, Param::Int(id));
        conditions.push(format!("network_id = {ph}"));
    }
    if let Some(s) = filter.since {
        let ph = next(&mut params, Param::Int(s));
        conditions.push(format!("received_at >= {ph}"));
    }
    if let Some(u) = filter.until {
        let ph = next(&mut params, Param::Int(u));
        conditions.push(format!("received_at <= {ph}"));
    }
    if let Some(a) = filter.associated {
        let ph = next(&mut params, Param::Bool(a));
        conditions.push(format!("associated = {ph}"));
    }
    if conditions.is_empty() {
        (String::new(), params)
    } else {
        (format!(" WHERE {}", conditions.join(" AND ")), params)
    }
}

async fn sqlite_writer(writer: SqlitePool, mut queue: mpsc::Receiver<IngestJob>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < WRITE_BATCH_MAX {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        match write_batch(&writer, &jobs).await {
            Ok(outcomes) => {
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                // The transaction rolled back: none of these reports is
                // stored, and each sender hears so.
                let message = e.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(sqlx::Error::Protocol(message.clone())));
                }
            }
        }
    }
}

async fn write_batch(pool: &SqlitePool, jobs: &[IngestJob]) -> Result<Vec<IngestOutcome>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for j in jobs {
        outcomes.push(ingest_in_tx!(tx, false, anonymous_values, j.report, j.network_id, j.node_upper, j.signature, j.received_at, j.rules, j.hooked)?);
    }
    tx.commit().await?;
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_for_two_rows_by_hand() {
        assert_eq!(
            numbered_values(2),
            "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13),($14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26)"
        );
        assert_eq!(anonymous_values(2), "(?,?,?,?,?,?,?,?,?,?,?,?,?),(?,?,?,?,?,?,?,?,?,?,?,?,?)");
        assert_eq!(anonymous_values(1).matches('?').count(), ROW_COLUMNS);
    }
}
