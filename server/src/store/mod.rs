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
    /// Networks with a webhook: their reports' visit changes are also told
    /// (`webhook_outbox`, set from the config, `use_webhooks`).
    hooked: Arc<RwLock<std::collections::HashSet<i64>>>,
    /// PostgreSQL: the queues of `postgres_writer`s, a network's reports
    /// always to the same one (`network_id` modulo their number).
    postgres_queues: Vec<mpsc::Sender<IngestJob>>,
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
    /// Reports go to `Store::postgres_queues`, batched as on SQLite (see
    /// `postgres_writer`); everything else takes a connection of the pool.
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
pub use figures::{Backlog, SnapshotDay, SnapshotHours, Settled, REFRESH_RECENT, REFRESH_SETTLE, REFRESH_SETTLE_PAST, REFRESH_STEP_HOURS};

/// The latest INTERVAL_SAMPLE report times of each access point (SQLite has
/// no LATERAL; its correlated IN list walks the same index).
pub const RECENT_REPORTS_SQLITE: &str = "SELECT r.network_id, r.node_mac, r.received_at FROM access_points a JOIN reports r \
     ON r.id IN (SELECT r2.id FROM reports r2 WHERE r2.network_id = a.network_id AND r2.node_mac = a.node_mac \
     ORDER BY r2.received_at DESC LIMIT $1)";
pub const RECENT_REPORTS_POSTGRES: &str = "SELECT a.network_id, a.node_mac, r.received_at FROM access_points a CROSS JOIN LATERAL \
     (SELECT r2.received_at FROM reports r2 WHERE r2.network_id = a.network_id AND r2.node_mac = a.node_mac \
     ORDER BY r2.received_at DESC LIMIT $1) r";

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

/// Rows per INSERT: 15 parameters each stays far below SQLite's 32766 and
/// PostgreSQL's 65535 bound parameters.
const INSERT_CHUNK: usize = 1000;
/// Reports per transaction at most.
const WRITE_BATCH_MAX: usize = 64;
/// PostgreSQL writers per process, each with its own networks (and so its
/// own network locks): as many connections of the pool ingest at most.
const POSTGRES_WRITERS: usize = 4;
/// The longest a report waits for its writer.
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

const COLUMNS: &str = "network_id, node_mac, node_mac_sent, mac, mac_sent, count, min_signal, max_signal, avg_signal, \
                       last_seen_signal, first_seen, last_seen, associated, received_at, id";

/// A bound value of a statement built at run time.
#[derive(Debug, Clone)]
pub enum Param {
    Int(i64),
    Text(String),
    Bool(bool),
}

/// The migrations, compiled in: (version, description, SQL), the version
/// and description being what the file name `NNNN_description.sql` says, as
/// `sqlx::migrate!` would read them; sqlx stores each one's checksum (of the
/// SQL) in `_sqlx_migrations`, so an existing database sees the same rows
/// either way. Kept as a list rather than `sqlx::migrate!("migrations/...")`:
/// the macro needs sqlx's `macros` feature, which builds sqlx-macros-core
/// with its own host copies of sqlx-core, sqlx-sqlite and sqlx-postgres
/// (libsqlite3-sys's C included, once more in release builds, where build
/// dependencies are compiled apart) for 16 more crates; and it reads the
/// directory only when the crate is recompiled, so a new file needs a
/// build.rs watching the directory as well. `every_migration_file_is_listed`
/// fails when a file is added to a directory and not here.
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
    (50, "compact_probe_rows", include_str!("../../migrations/sqlite/0050_compact_probe_rows.sql")),
    (60, "webhook_state", include_str!("../../migrations/sqlite/0060_webhook_state.sql")),
    (70, "figure_generations", include_str!("../../migrations/sqlite/0070_figure_generations.sql")),
    (80, "dirty_by_generation", include_str!("../../migrations/sqlite/0080_dirty_by_generation.sql")),
    (90, "daily_sums", include_str!("../../migrations/sqlite/0090_daily_sums.sql")),
]);
const POSTGRES_MIGRATIONS: Embedded = Embedded(&[
    (1, "reports", include_str!("../../migrations/postgres/0001_reports.sql")),
    (2, "visits", include_str!("../../migrations/postgres/0002_visits.sql")),
    (3, "probe_rows_by_network", include_str!("../../migrations/postgres/0003_probe_rows_by_network.sql")),
    (10, "api_key_state", include_str!("../../migrations/postgres/0010_api_key_state.sql")),
    (20, "webhook_outbox", include_str!("../../migrations/postgres/0020_webhook_outbox.sql")),
    (30, "estimated_device", include_str!("../../migrations/postgres/0030_estimated_device.sql")),
    (40, "stored_figures", include_str!("../../migrations/postgres/0040_stored_figures.sql")),
    (50, "compact_probe_rows", include_str!("../../migrations/postgres/0050_compact_probe_rows.sql")),
    (60, "webhook_state", include_str!("../../migrations/postgres/0060_webhook_state.sql")),
    (70, "figure_generations", include_str!("../../migrations/postgres/0070_figure_generations.sql")),
    (80, "dirty_by_generation", include_str!("../../migrations/postgres/0080_dirty_by_generation.sql")),
    (90, "daily_sums", include_str!("../../migrations/postgres/0090_daily_sums.sql")),
]);

#[cfg(test)]
mod migration_list_tests {
    use super::*;

    /// (version, description) of every .sql file in `dir`, by its name.
    fn files(dir: &str) -> Vec<(i64, String)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
        let mut out: Vec<(i64, String)> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|name| {
                let stem = name.strip_suffix(".sql")?;
                let (version, description) = stem.split_once('_')?;
                Some((version.parse().unwrap(), description.to_string()))
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn every_migration_file_is_listed() {
        for (dir, list) in [("sqlite", &SQLITE_MIGRATIONS), ("postgres", &POSTGRES_MIGRATIONS)] {
            let listed: Vec<(i64, String)> = list.0.iter().map(|(v, d, _)| (*v, d.to_string())).collect();
            assert_eq!(listed, files(dir), "server/migrations/{dir} and its list in store/mod.rs");
        }
    }
}

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
/// `$tx`; evaluates to its `IngestOutcome`. Its rows join `$pending`, for
/// the caller to merge into the stored visits before it commits
/// (`stored_visits::PendingRows`). A macro, like `on_pool!`, so that the same text
/// is checked against each database's driver.
macro_rules! ingest_in_tx {
    ($tx:ident, $numbered:expr, $values:expr, $pending:expr, $report:expr, $network_id:expr, $node_upper:expr, $signature:expr, $received_at:expr, $rules:expr, $hooked:expr) => {{
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
            let mut changes = Vec::new();
            if fresh {
                let (node_mac, node_mac_sent) = compact_mac(&$report.node_mac, true)?;
                for chunk in $report.probe_requests.chunks(INSERT_CHUNK) {
                    let sql = format!(
                        "INSERT INTO probe_rows (network_id, node_mac, node_mac_sent, mac, mac_sent, count, min_signal, max_signal, \
                         avg_signal, last_seen_signal, first_seen, last_seen, associated, received_at, estimated_device) VALUES {}",
                        $values(chunk.len())
                    );
                    let mut q = sqlx::query(&sql);
                    for row in chunk {
                        let (mac, mac_sent) = compact_mac(&row.mac, false)?;
                        q = q
                            .bind($network_id)
                            .bind(node_mac)
                            .bind(node_mac_sent)
                            .bind(mac)
                            .bind(mac_sent)
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
                if $hooked {
                    // Webhooks' events are each report's own changes to the
                    // visits, in the order reports are stored: a hooked
                    // network's rows are merged report by report, not
                    // deferred to the batch's one merge.
                    changes = sessionize_in_tx!($tx, $numbered, $network_id, &sightings, &$rules, true);
                } else {
                    $pending.add($network_id, &$rules, &sightings);
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
            if $hooked {
                // What this report did to the stored visits, as webhooks' events.
                let stream = $crate::analytics::hook_events::stream_time($report.probe_requests.iter().map(|p| p.first_seen.max(p.last_seen)), $received_at);
                hooks_in_tx!($tx, $network_id, &$rules.visits, $received_at, $crate::store::webhook_outbox::Step::Report { node: &$node_upper, changes: &changes, stream });
            }
            Ok::<IngestOutcome, StoreError>(IngestOutcome { rows_added, duplicate: !fresh })
    }};
}

/// Columns of a probe_rows INSERT, the placeholders of one row.
const ROW_COLUMNS: usize = 15;

/// A MAC as raw rows keep it: the 48-bit integer, and the text as sent
/// only when it is not in the usual case (lower for clients, upper for
/// access points, as presenced sends them), so that a row reads back as it
/// came.
fn compact_mac(sent: &str, upper: bool) -> Result<(i64, Option<&str>), StoreError> {
    let n = stored_visits::mac_to_int(sent).ok_or_else(|| sqlx::Error::Protocol(format!("{sent:?} is not a MAC address")))?;
    let usual = if upper { !sent.bytes().any(|b| b.is_ascii_lowercase()) } else { !sent.bytes().any(|b| b.is_ascii_uppercase()) };
    Ok((n, (!usual).then_some(sent)))
}

/// The text a raw row's MAC was sent as: `sent` if kept, else the integer
/// in the usual case.
fn mac_text(n: i64, sent: Option<String>, upper: bool) -> String {
    sent.unwrap_or_else(|| {
        let text = stored_visits::int_to_mac(n);
        if upper {
            text.to_ascii_uppercase()
        } else {
            text
        }
    })
}

/// The integers [lo, hi) whose MACs begin with `prefix` (hex digits and
/// colons, as `RowFilter` checked; either case).
fn mac_prefix_range(prefix: &str) -> (i64, i64) {
    let digits: Vec<i64> = prefix.chars().filter_map(|c| c.to_digit(16)).map(i64::from).take(12).collect();
    let value = digits.iter().fold(0i64, |n, d| n << 4 | d);
    let shift = 4 * (12 - digits.len() as u32);
    (value << shift, (value + 1) << shift)
}

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
        let mut postgres_queues = Vec::new();
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
                // The writer's inserts land all over the indexes keyed by
                // MAC and signature: once they outgrow SQLite's default 2 MB
                // page cache, every batch re-read its pages from the file and
                // spilled them, and the default checkpoint every 1000 WAL
                // pages wrote (and synced) the file in nearly every commit,
                // so ingest slowed to half from its second day (day 1
                // 484 reports/s, days 2 to 8 252, bench-analytics). A 32 MiB
                // cache (filled only as used) and a checkpoint every 10,000
                // pages (40 MB of WAL, below journal_size_limit) keep it near
                // its first day's rate. That checkpoint then took 60 ms of
                // the writer's commit, every 0.8 s at 333 reports/s, and every
                // report queued behind it waited: `checkpoint_forever` copies
                // the WAL beside the writer, and the writer's own, still run
                // at 10,000 pages (a WAL restarts only when a write begins
                // with all of it copied), finds most of it copied (30 ms).
                let writer_options = options.clone().pragma("cache_size", "-32768").pragma("wal_autocheckpoint", "10000");
                let writer = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(writer_options)
                    .await?;
                let reader = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                let (queue, jobs) = mpsc::channel(1024);
                tokio::spawn(sqlite_writer(writer.clone(), jobs));
                tokio::spawn(checkpoint_forever(reader.clone()));
                Db::Sqlite { reader, writer, queue }
            }
            Database::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)?;
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                for _ in 0..POSTGRES_WRITERS {
                    let (queue, jobs) = mpsc::channel(1024);
                    tokio::spawn(postgres_writer(pool.clone(), jobs));
                    postgres_queues.push(queue);
                }
                Db::Postgres(pool)
            }
        };
        let store = Store { db: store, rules: Arc::default(), hooked: Arc::default(), postgres_queues };
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

    /// Whether SQL here takes `$N` placeholders (PostgreSQL) rather than `?`.
    fn numbered(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
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
    /// One transaction: all of it or nothing, committed before this
    /// answers. The report joins its writer's next batch (`sqlite_writer`,
    /// `postgres_writer`).
    pub async fn ingest(&self, report: &Report, signature: &str, received_at: i64) -> Result<IngestOutcome, StoreError> {
        let network_id = i64::try_from(report.network_id)
            .map_err(|_| sqlx::Error::Protocol(format!("network_id {} is out of range", report.network_id)))?;
        let node_upper = report.node_mac.to_ascii_uppercase();
        let signature = signature.trim().to_ascii_lowercase();
        let rules = self.rules_for(network_id);
        let hooked = self.is_hooked(network_id);
        let queue = match &self.db {
            Db::Sqlite { queue, .. } => queue,
            Db::Postgres(_) => &self.postgres_queues[network_id.rem_euclid(self.postgres_queues.len() as i64) as usize],
        };
        let (reply, answer) = oneshot::channel();
        let job = IngestJob { report: report.clone(), network_id, node_upper, signature, received_at, rules, hooked, reply };
        let queued = async {
            queue.send(job).await.map_err(|_| sqlx::Error::PoolClosed)?;
            answer.await.map_err(|_| sqlx::Error::PoolClosed)?
        };
        tokio::time::timeout(WRITE_WAIT, queued).await.map_err(|_| sqlx::Error::PoolTimedOut)?
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
                        node_mac: mac_text(r.try_get("node_mac")?, r.try_get("node_mac_sent")?, true),
                        mac: mac_text(r.try_get("mac")?, r.try_get("mac_sent")?, false),
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
            // Each access point's latest reports by its (network_id,
            // node_mac, received_at) index, a few rows each: a window over
            // all of `reports` read every report ever kept on each request
            // (most of the 24 h view's time after 30 days).
            let recent = sqlx::query(if matches!(self.db, Db::Postgres(_)) { RECENT_REPORTS_POSTGRES } else { RECENT_REPORTS_SQLITE })
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
    // A MAC prefix is a range of the integers the rows keep, whatever the
    // case the MAC was sent in.
    for (column, prefix) in [("mac", &filter.mac_prefix), ("node_mac", &filter.node_mac_prefix)] {
        if let Some(m) = prefix {
            let (lo, hi) = mac_prefix_range(m);
            let lo = next(&mut params, Param::Int(lo));
            let hi = next(&mut params, Param::Int(hi));
            conditions.push(format!("{column} >= {lo} AND {column} < {hi}"));
        }
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

/// Takes what has arrived (up to `WRITE_BATCH_MAX` reports) and stores it
/// in one transaction, so that a commit, the driver's round trips and the
/// visits' writes are shared by many reports; each is answered after the
/// commit.
async fn sqlite_writer(writer: SqlitePool, mut queue: mpsc::Receiver<IngestJob>) {
    while let Some(jobs) = next_batch(&mut queue).await {
        let outcomes = write_batch(&writer, &jobs).await;
        for job in answer(jobs, outcomes) {
            let alone = write_batch(&writer, std::slice::from_ref(&job)).await;
            let _ = job.reply.send(alone.map(|mut o| o.remove(0)));
        }
    }
}

/// As `sqlite_writer`, for the networks whose reports come to `queue`. The
/// batch first takes each of its networks' locks, in ascending order (so
/// that two processes' batches never wait for each other in a circle): one
/// writer of a network's visits at a time, across every process on this
/// database, since the merge reads, then writes.
async fn postgres_writer(pool: PgPool, mut queue: mpsc::Receiver<IngestJob>) {
    while let Some(jobs) = next_batch(&mut queue).await {
        let outcomes = write_batch_postgres(&pool, &jobs).await;
        for job in answer(jobs, outcomes) {
            let alone = write_batch_postgres(&pool, std::slice::from_ref(&job)).await;
            let _ = job.reply.send(alone.map(|mut o| o.remove(0)));
        }
    }
}

/// How long `checkpoint_forever` pauses between checkpoints: at 333
/// reports/s the writer appends about 3,000 pages to the WAL in that time.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Checkpoints the WAL from a reader's connection, beside the writer, so
/// that its commits do not (SQLite runs a checkpoint in the commit that
/// passes `wal_autocheckpoint`, and every report queued behind it waits).
/// A passive one: it copies to the database file what the WAL holds and
/// no reader still needs, and waits for no lock. Ends when the pool is
/// closed.
async fn checkpoint_forever(reader: SqlitePool) {
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&reader).await {
            Ok(_) => {}
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                tracing::error!("checkpoint of the SQLite WAL (the writer checkpoints in its commits meanwhile): {e}");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

async fn next_batch(queue: &mut mpsc::Receiver<IngestJob>) -> Option<Vec<IngestJob>> {
    let mut jobs = vec![queue.recv().await?];
    while jobs.len() < WRITE_BATCH_MAX {
        match queue.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    Some(jobs)
}

/// Answers each report of a stored batch; answers the reports to try
/// again one by one when the batch failed. Its transaction rolled back:
/// none of them is stored, and one report the database refuses must not
/// refuse the others.
fn answer(jobs: Vec<IngestJob>, outcomes: Result<Vec<IngestOutcome>, StoreError>) -> Vec<IngestJob> {
    match outcomes {
        Ok(outcomes) => {
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                let _ = job.reply.send(Ok(outcome));
            }
            Vec::new()
        }
        Err(e) if jobs.len() == 1 => {
            if let Some(job) = jobs.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
            Vec::new()
        }
        Err(_) => jobs,
    }
}

async fn write_batch(pool: &SqlitePool, jobs: &[IngestJob]) -> Result<Vec<IngestOutcome>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut pending = stored_visits::PendingRows::default();
    for j in jobs {
        outcomes.push(ingest_in_tx!(tx, false, anonymous_values, pending, j.report, j.network_id, j.node_upper, j.signature, j.received_at, j.rules, j.hooked)?);
    }
    for (network_id, rules, sightings) in pending.into_networks() {
        sessionize_in_tx!(tx, false, network_id, &sightings, &rules, false);
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn write_batch_postgres(pool: &PgPool, jobs: &[IngestJob]) -> Result<Vec<IngestOutcome>, StoreError> {
    let mut tx = pool.begin().await?;
    let networks: std::collections::BTreeSet<i64> = jobs.iter().map(|j| j.network_id).collect();
    for network_id in networks {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(network_id).execute(&mut *tx).await?;
    }
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut pending = stored_visits::PendingRows::default();
    for j in jobs {
        outcomes.push(ingest_in_tx!(tx, true, numbered_values, pending, j.report, j.network_id, j.node_upper, j.signature, j.received_at, j.rules, j.hooked)?);
    }
    for (network_id, rules, sightings) in pending.into_networks() {
        sessionize_in_tx!(tx, true, network_id, &sightings, &rules, false);
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
            "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15),($16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30)"
        );
        assert_eq!(anonymous_values(2), "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?),(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
        assert_eq!(anonymous_values(1).matches('?').count(), ROW_COLUMNS);
    }

    #[test]
    fn mac_prefixes_as_ranges_by_hand() {
        // 00:9a:cd is 0x009acd000000 to 0x009acdffffff.
        assert_eq!(mac_prefix_range("00:9a:cd"), (0x009a_cd00_0000, 0x009a_ce00_0000));
        assert_eq!(mac_prefix_range("00:9A:C"), (0x009a_c000_0000, 0x009a_d000_0000));
        assert_eq!(mac_prefix_range("ff:ff:ff:ff:ff:ff"), ((1 << 48) - 1, 1 << 48));
        assert_eq!(mac_prefix_range("0"), (0, 0x1000_0000_0000));
    }

    #[test]
    fn a_mac_reads_back_as_sent() {
        for (sent, upper) in [("00:9a:cd:e3:15:49", false), ("5C:DC:96:66:24:E3", false), ("ac:86:74:82:9A:30", true), ("AC:86:74:82:9A:30", true)] {
            let usual = if upper { sent.to_ascii_uppercase() } else { sent.to_ascii_lowercase() };
            let (n, kept) = compact_mac(sent, upper).unwrap();
            assert_eq!(kept.is_some(), sent != usual, "{sent}");
            assert_eq!(mac_text(n, kept.map(str::to_string), upper), sent);
        }
        assert!(compact_mac("00:9a:cd:e3:15", false).is_err());
    }
}
