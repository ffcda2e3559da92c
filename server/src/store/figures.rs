//! Stored hourly and daily figures: what every view reads, kept exactly
//! equal to `metrics()` over the stored visits, whatever order reports
//! arrive in, and lazily, so that ingest only notes what changed.
//!
//! - `hourly_figures`: per (network, scope, local hour, class) the hour's
//!   own counts (an hour bucket as shown) and the counts of the visits that
//!   start in it (`analytics::figures` says why days and ranges are sums of
//!   those, plus the few visits begun before them, and maxima of peaks).
//! - Ingest marks dirty (`mark_dirty`, one upsert and one statement for
//!   late days, appended to the report's own statements) every hour that a
//!   written or replaced visit meets: a visit is judged as a whole, so a
//!   longer visit changes every hour it spans. A new per-client day d
//!   changes the repeat flag of that client's visits that start on days
//!   d+1 to d+30: their hours are marked by one INSERT ... SELECT over that
//!   client's visits (an index probe; in-order ingest finds none).
//! - A view first recomputes the dirty hours of its window from the visits
//!   that meet them (the pure code, O(visits in those hours): live, the
//!   current hour or two) and stores them, and so does the background
//!   refresher (`refresh_step`), so that a view rarely has any left. A view
//!   re-reads the marks and reads the visits under the network's lock (the
//!   one ingest takes), in the transaction that writes the figures and
//!   removes the marks: no report changes those visits meanwhile, and a
//!   mark another view or process removed first is not done twice. The
//!   refresher reads them from a snapshot instead, beside the writer, and
//!   takes the lock only to write: it stores an hour only if its mark still
//!   carries the generation it read. Every transaction that marks gives its
//!   marks a generation never given before (migration 0070), so a mark
//!   written since the snapshot, even one removed and written again, has
//!   another, and its hour stays dirty.
//! - Unique clients are not additive. `class_days` lists the clients of
//!   each local day by class (a client may be in two, as `counts_in`
//!   counts by the visit's class; `client_days` has no class), each row
//!   with the previous day that client was there (`prev`), and
//!   `class_day_gaps` counts them per (day, class, prev). A day's unique
//!   clients are its sum; the distinct clients of whole days [d1, d2) are
//!   the rows there with prev before d1 (each client once, on its first
//!   day there): O(days x distinct prevs), not O(clients). The clients of
//!   a range's partial days come from their visits (those not already in
//!   its whole days). A day's rows are brought up to its visits in SQL when
//!   it is dirty (one of its hours was recomputed) and a view needs it: the
//!   clients gone and come, and the prev of each one's next day. Only the
//!   days inside a range must be clean for its count: a stale prev from an
//!   earlier day is before d1 either way.
//! - `figures_built` records the offset the hours are cut in: none (a
//!   database from before these tables, or after a rebuild) or another
//!   resets the network's figures, every hour of its visits marked.
//!
//! On PostgreSQL the writes take the network's advisory lock, as ingest
//! does; on SQLite they go through the one writer connection.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sqlx::Row;

use super::stored_visits::Sql;
use super::views::{scope_of, visits_of_rows, Columns};
use super::{Db, Param, Store, StoreError};
use crate::analytics::figures::{compose, hour_figures, hour_floor, hours_of, peak_in, started_in, HourFigures, Started, HOUR};
use crate::analytics::metrics::{counts_in, local_day, BucketMetrics, Bucket, Counts, Metrics, Range, Split, REPEAT_WINDOW_DAYS};
use crate::analytics::visits::{AddressClass, NetworkRules, Visit};

/// The tables a network's figures live in (a rebuild empties them).
pub const TABLES: &[&str] = &["hourly_figures", "daily_sums", "figure_dirty", "figure_dirty_days", "class_days", "class_day_gaps", "figures_built"];

const DAY: i64 = 86_400;
/// Hours recomputed from one read of their visits.
const HOURS_PER_READ: usize = 6;
/// (class, mac) pairs per statement, as literals (integers the store made).
const VALUES_CHUNK: usize = 2000;
/// A class_days prev for "never before": far before any day.
const NO_PREV: i64 = -(1 << 40);
/// Rows per dirty-marks upsert: 4 parameters each.
const MARK_CHUNK: usize = 1000;

/// A visit's class as stored in the figures, in SQL (`is_randomized`: the
/// locally administered bit, 2^41 of the 48-bit MAC).
const CLASS_SQL: &str = "CAST(CASE WHEN estimated_device THEN 2 WHEN (mac / 2199023255552) % 2 = 1 THEN 1 ELSE 0 END AS BIGINT)";

fn values_list(pairs: &[(i64, i64)]) -> String {
    pairs.iter().map(|(c, m)| format!("({c}, {m})")).collect::<Vec<_>>().join(", ")
}

fn class_code(class: AddressClass) -> i64 {
    match class {
        AddressClass::Universal => 0,
        AddressClass::Randomized => 1,
        AddressClass::EstimatedDevice => 2,
    }
}

fn class_of_code(code: i64) -> Option<AddressClass> {
    AddressClass::ALL.into_iter().find(|c| class_code(*c) == code)
}

/// `hour_floor` in SQL, exact for negative times too.
fn hour_floor_sql(column: &str, utc_offset: i64) -> String {
    format!("(({column} + {utc_offset}) - ((({column} + {utc_offset}) % {HOUR}) + {HOUR}) % {HOUR} - {utc_offset})")
}

/// Every local hour of the visits `source` (aliased v) gives, as the
/// recursive CTE `touched` (scope, hour, last).
fn touched_cte(source: &str, utc_offset: i64) -> String {
    format!(
        "touched(scope, hour, last) AS (SELECT v.scope, {}, v.end_time FROM {source} \
         UNION ALL SELECT scope, hour + {HOUR}, last FROM touched WHERE hour + {HOUR} <= last)",
        hour_floor_sql("v.start_time", utc_offset)
    )
}

/// The statement that takes a new generation for the marks a transaction
/// writes next (migration 0070 says why it is never given twice): SQLite's
/// counter row, PostgreSQL's sequence. The marks then write
/// `generation_sql`.
fn next_generation(numbered: bool) -> Sql {
    Sql::new(numbered, next_generation_text(numbered))
}

fn next_generation_text(numbered: bool) -> &'static str {
    if numbered {
        "SELECT nextval('figure_generation')"
    } else {
        "UPDATE figure_generation SET n = n + 1"
    }
}

/// The generation `next_generation` took, in SQL.
fn generation_sql(numbered: bool) -> &'static str {
    if numbered {
        "currval('figure_generation')"
    } else {
        "(SELECT n FROM figure_generation)"
    }
}

/// The statements ingest appends to a report's: marks every local hour of
/// the written and replaced visits `touched` (scope, start, end), and the
/// hours of the visits whose repeat flag the new per-client `days` (scope,
/// mac as its integer, day) may change.
pub fn mark_dirty(numbered: bool, network_id: i64, utc_offset: i64, touched: &[(String, i64, i64)], days: &[(String, i64, i64)]) -> Vec<Sql> {
    let mut hours: BTreeSet<(&str, i64)> = BTreeSet::new();
    for (scope, start, end) in touched {
        hours.extend(hours_of(*start, *end, utc_offset).map(|h| (scope.as_str(), h)));
    }
    let hours: Vec<(&str, i64)> = hours.into_iter().collect();
    let mut out = Vec::new();
    if hours.is_empty() && days.is_empty() {
        return out;
    }
    let generation = generation_sql(numbered);
    out.push(next_generation(numbered));
    for chunk in hours.chunks(MARK_CHUNK) {
        let mut q = Sql::new(numbered, "INSERT INTO figure_dirty (network_id, scope, hour, generation) VALUES ");
        for (i, (scope, hour)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(",");
            }
            q.push("(").bind(Param::Int(network_id)).push(",").bind(Param::Text(scope.to_string())).push(",").bind(Param::Int(*hour));
            q.push(&format!(",{generation})"));
        }
        q.push(&format!(" ON CONFLICT (network_id, scope, hour) DO UPDATE SET generation = {generation}"));
        out.push(q);
    }
    for chunk in days.chunks(MARK_CHUNK) {
        let mut q = Sql::new(numbered, "WITH RECURSIVE late(scope, mac, lo, hi) AS (VALUES ");
        for (i, (scope, mac, day)) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(",");
            }
            // Visits starting on days day+1 to day+30, local.
            q.tuple([
                Param::Text(scope.clone()),
                Param::Int(*mac),
                Param::Int((day + 1) * DAY - utc_offset),
                Param::Int((day + 1 + REPEAT_WINDOW_DAYS) * DAY - utc_offset),
            ]);
        }
        q.push(&format!("), touched(scope, hour, last) AS (SELECT v.scope, {}, v.end_time FROM late JOIN visits v ON v.network_id = ", hour_floor_sql("v.start_time", utc_offset)));
        q.bind(Param::Int(network_id));
        q.push(&format!(
            " AND v.scope = late.scope AND v.mac = late.mac AND v.start_time >= late.lo AND v.start_time < late.hi \
             UNION ALL SELECT scope, hour + {HOUR}, last FROM touched WHERE hour + {HOUR} <= last) \
             INSERT INTO figure_dirty (network_id, scope, hour, generation) SELECT "
        ));
        q.bind(Param::Int(network_id));
        q.push(&format!(", scope, hour, {generation} FROM (SELECT DISTINCT scope, hour FROM touched) t WHERE TRUE ON CONFLICT (network_id, scope, hour) DO UPDATE SET generation = {generation}"));
        out.push(q);
    }
    out
}

/// The started counts of a row of `hourly_figures`, or of a day's sums
/// of them (the same column names).
fn started_of_row(r: &impl RowLike) -> Result<Started, StoreError> {
    let n = |name: &str| r.int(name).map(|v| v.max(0) as u64);
    Ok(Started {
        visitors: n("s_visitors")?,
        passersby: n("s_passersby")?,
        connected: n("s_connected")?,
        dwell: [n("s_dwell0")?, n("s_dwell1")?, n("s_dwell2")?, n("s_dwell3")?],
        new_visitors: n("s_new_visitors")?,
        repeat_visitors: n("s_repeat")?,
    })
}

fn figures_of_row(r: &impl RowLike) -> Result<(i64, i64, HourFigures), StoreError> {
    let n = |name: &str| r.int(name).map(|v| v.max(0) as u64);
    let started = started_of_row(r)?;
    let own = Started {
        visitors: n("visitors")?,
        passersby: n("passersby")?,
        connected: n("connected")?,
        dwell: [n("dwell0")?, n("dwell1")?, n("dwell2")?, n("dwell3")?],
        new_visitors: n("new_visitors")?,
        repeat_visitors: n("repeat_visitors")?,
    };
    let overlap = compose(&own, n("peak")?, n("unique_clients")?);
    Ok((r.int("hour")?, r.int("class")?, HourFigures { overlap, started }))
}

/// The one accessor `figures_of_row` needs, over either driver's rows.
trait RowLike {
    fn int(&self, name: &str) -> Result<i64, StoreError>;
}

impl RowLike for sqlx::sqlite::SqliteRow {
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.try_get(name)
    }
}

impl RowLike for sqlx::postgres::PgRow {
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.try_get(name)
    }
}

const FIGURE_NAMES: &str = "unique_clients, visitors, passersby, connected, dwell0, dwell1, dwell2, dwell3, new_visitors, repeat_visitors, peak, \
                            s_visitors, s_passersby, s_connected, s_dwell0, s_dwell1, s_dwell2, s_dwell3, s_new_visitors, s_repeat";

/// The columns of `daily_sums` after its key.
const DAY_SUM_NAMES: &str = "s_visitors, s_passersby, s_connected, s_dwell0, s_dwell1, s_dwell2, s_dwell3, s_new_visitors, s_repeat, peak";

/// The two statements that write a local day's `daily_sums` again from its
/// stored hours: $1 network, $2 the day, $3 and $4 its first instant and
/// the next day's; of every scope, or of scope $5 (`one_scope`). The
/// DELETE names $3 and $4 only so that both take the same parameters
/// (PostgreSQL refuses a parameter a statement does not use).
fn day_sums_again(one_scope: bool) -> [String; 2] {
    let scope = if one_scope { " AND scope = $5" } else { "" };
    let sums: Vec<String> = DAY_SUM_NAMES.split(", ").map(|c| if c == "peak" { "MAX(peak)".to_string() } else { format!("SUM({c})") }).collect();
    [
        format!("DELETE FROM daily_sums WHERE network_id = $1 AND day = $2 AND $3 < $4{scope}"),
        format!(
            "INSERT INTO daily_sums (network_id, scope, day, class, {DAY_SUM_NAMES}) SELECT network_id, scope, CAST($2 AS BIGINT), class, {} \
             FROM hourly_figures WHERE network_id = $1 AND hour >= $3 AND hour < $4{scope} GROUP BY network_id, scope, class",
            sums.join(", ")
        ),
    ]
}

fn figure_values(f: &HourFigures) -> [i64; 20] {
    let (o, s) = (&f.overlap, &f.started);
    let i = |v: u64| v as i64;
    [
        i(o.unique_clients), i(o.visitors), i(o.passersby), i(o.connected), i(o.dwell[0]), i(o.dwell[1]), i(o.dwell[2]), i(o.dwell[3]),
        i(o.new_visitors), i(o.repeat_visitors), i(o.peak_occupancy),
        i(s.visitors), i(s.passersby), i(s.connected), i(s.dwell[0]), i(s.dwell[1]), i(s.dwell[2]), i(s.dwell[3]), i(s.new_visitors), i(s.repeat_visitors),
    ]
}

/// Runs `$body` in a write transaction `$tx` that holds the network's
/// lock: SQLite's one writer, or PostgreSQL's advisory lock that ingest
/// takes too.
macro_rules! locked_tx {
    ($store:expr, $network_id:expr, $tx:ident => $body:expr) => {
        on_pool!($store, writer, pool => {
            let mut $tx = pool.begin().await?;
            if matches!($store.db, Db::Postgres(_)) {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind($network_id).execute(&mut *$tx).await?;
            }
            let out = $body;
            $tx.commit().await?;
            out
        })
    };
}

/// Runs `$body` in a read-only transaction `$tx` on a reader: one
/// snapshot of the database for all its reads (SQLite's WAL readers see the
/// last commit before their first read, beside the writer; PostgreSQL's
/// repeatable read), holding no lock that ingest waits for.
macro_rules! snapshot_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        on_pool!($store, reader, pool => {
            let mut $tx = pool.begin().await?;
            if matches!($store.db, Db::Postgres(_)) {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *$tx).await?;
            }
            let out = $body;
            $tx.rollback().await?;
            out
        })
    };
}

/// Reads the marks of [lo, hi) and, if any hour of `run` is among them,
/// the visits `queries` give: each of those hours' figures, with the
/// generation its mark had (hour, generation, figures).
macro_rules! read_run {
    ($tx:ident, $network_id:expr, $scope:expr, $rules:expr, $lo:expr, $hi:expr, $run:expr, $queries:expr) => {{
        let marked: HashMap<i64, i64> = sqlx::query("SELECT hour, generation FROM figure_dirty WHERE network_id = $1 AND scope = $2 AND hour >= $3 AND hour < $4")
            .bind($network_id).bind($scope).bind($lo).bind($hi)
            .fetch_all(&mut *$tx).await?
            .iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_, StoreError>>()?;
        let run: Vec<(i64, i64)> = $run.iter().filter_map(|h| marked.get(h).map(|g| (*h, *g))).collect();
        let mut computed: Vec<(i64, i64, Split<HourFigures>)> = Vec::with_capacity(run.len());
        if !run.is_empty() {
            let mut found = Vec::new();
            for q in $queries {
                let rows = bound!(q).fetch_all(&mut *$tx).await?;
                found.extend(visits_of_rows!(&rows, $rules, Columns::Figures)?);
            }
            let (v, r): (Vec<Visit>, Vec<bool>) = found.into_iter().unzip();
            computed = run.iter().map(|(h, g)| (*h, *g, hour_figures(&v, &r, *h))).collect();
        }
        computed
    }};
}

/// Stores the hours `read_run!` computed whose marks still carry the
/// generation read, removing those marks, and marks their days (with a
/// new generation: `recompute_class_day`); answers the hours stored.
macro_rules! store_run {
    ($tx:ident, $numbered:expr, $network_id:expr, $scope:expr, $rules:expr, $computed:expr) => {{
        let computed: Vec<(i64, i64, Split<HourFigures>)> = $computed;
        let mut stored = Vec::with_capacity(computed.len());
        for (hour, generation, figures) in computed {
            let unchanged = sqlx::query("DELETE FROM figure_dirty WHERE network_id = $1 AND scope = $2 AND hour = $3 AND generation = $4")
                .bind($network_id).bind($scope).bind(hour).bind(generation).execute(&mut *$tx).await?
                .rows_affected() == 1;
            if !unchanged {
                continue;
            }
            sqlx::query("DELETE FROM hourly_figures WHERE network_id = $1 AND scope = $2 AND hour = $3")
                .bind($network_id).bind($scope).bind(hour).execute(&mut *$tx).await?;
            for class in AddressClass::ALL {
                let f = figures.of(class);
                if f.overlap == Counts::default() {
                    continue;
                }
                let placeholders: Vec<String> = (5..25).map(|k| format!("${k}")).collect();
                let sql = format!(
                    "INSERT INTO hourly_figures (network_id, scope, hour, class, {FIGURE_NAMES}) VALUES ($1, $2, $3, $4, {})",
                    placeholders.join(", ")
                );
                let mut q = sqlx::query(&sql).bind($network_id).bind($scope).bind(hour).bind(class_code(class));
                for value in figure_values(f) {
                    q = q.bind(value);
                }
                q.execute(&mut *$tx).await?;
            }
            stored.push((hour, figures));
        }
        let days: BTreeSet<i64> = stored.iter().map(|(h, _)| local_day(*h, $rules.utc_offset)).collect();
        for day in &days {
            let (lo, hi) = (day * DAY - $rules.utc_offset, (day + 1) * DAY - $rules.utc_offset);
            for sql in day_sums_again(true) {
                sqlx::query(&sql).bind($network_id).bind(*day).bind(lo).bind(hi).bind($scope).execute(&mut *$tx).await?;
            }
        }
        if !days.is_empty() {
            sqlx::query(next_generation_text($numbered)).execute(&mut *$tx).await?;
            let sql = format!(
                "INSERT INTO figure_dirty_days (network_id, scope, day, generation) VALUES ($1, $2, $3, {g}) ON CONFLICT (network_id, scope, day) DO UPDATE SET generation = {g}",
                g = generation_sql($numbered)
            );
            for day in days {
                sqlx::query(&sql).bind($network_id).bind($scope).bind(day).execute(&mut *$tx).await?;
            }
        }
        stored
    }};
}

/// A day's mark's generation (none: not marked), its `class_days` rows and
/// its clients as its visits give them, (class, mac) each.
macro_rules! read_class_day {
    ($tx:ident, $network_id:expr, $scope:expr, $day:expr, $lo:expr, $hi:expr, $present:expr) => {{
        let generation: Option<i64> = sqlx::query("SELECT generation FROM figure_dirty_days WHERE network_id = $1 AND scope = $2 AND day = $3")
            .bind($network_id).bind($scope).bind($day).fetch_optional(&mut *$tx).await?
            .map(|r| r.try_get(0)).transpose()?;
        let old: HashSet<(i64, i64)> = sqlx::query("SELECT class, mac FROM class_days WHERE network_id = $1 AND scope = $2 AND day = $3")
            .bind($network_id).bind($scope).bind($day).fetch_all(&mut *$tx).await?
            .iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_, StoreError>>()?;
        let new: HashSet<(i64, i64)> = sqlx::query($present)
            .bind($network_id).bind($scope).bind($lo).bind($hi).fetch_all(&mut *$tx).await?
            .iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_, StoreError>>()?;
        (generation, old, new)
    }};
}

/// Writes a day's `class_days` from `old` to `new` (`recompute_class_day`).
macro_rules! apply_class_day {
    ($tx:ident, $network_id:expr, $scope:expr, $day:expr, $old:expr, $new:expr) => {{
        let (old, new): (HashSet<(i64, i64)>, HashSet<(i64, i64)>) = ($old, $new);
        let prev_of = |day_sql: &str| {
            format!(
                "COALESCE((SELECT MAX(c.day) FROM class_days c WHERE c.network_id = $1 AND c.scope = $2 AND c.class = t.class AND c.mac = t.mac AND c.day < {day_sql}), {NO_PREV})"
            )
        };
        let gone: Vec<(i64, i64)> = old.difference(&new).copied().collect();
        let came: Vec<(i64, i64)> = new.difference(&old).copied().collect();
        for chunk in gone.chunks(VALUES_CHUNK) {
            sqlx::query(&format!(
                "DELETE FROM class_days WHERE network_id = $1 AND scope = $2 AND day = $3 AND (class, mac) IN (VALUES {})",
                values_list(chunk)
            ))
            .bind($network_id).bind($scope).bind($day).execute(&mut *$tx).await?;
        }
        for chunk in came.chunks(VALUES_CHUNK) {
            sqlx::query(&format!(
                "WITH t(class, mac) AS (VALUES {}) INSERT INTO class_days (network_id, scope, class, mac, day, prev) \
                 SELECT $1, $2, t.class, t.mac, $3, {} FROM t WHERE TRUE ON CONFLICT (network_id, scope, class, mac, day) DO NOTHING",
                values_list(chunk),
                prev_of("$3")
            ))
            .bind($network_id).bind($scope).bind($day).execute(&mut *$tx).await?;
        }
        let mut recount: BTreeSet<i64> = BTreeSet::from([$day]);
        let changed: Vec<(i64, i64)> = gone.into_iter().chain(came).collect();
        for chunk in changed.chunks(VALUES_CHUNK) {
            let next: Vec<(i64, i64, i64)> = sqlx::query(&format!(
                "WITH t(class, mac) AS (VALUES {}) SELECT CAST(t.class AS BIGINT), CAST(t.mac AS BIGINT), (SELECT MIN(c.day) FROM class_days c WHERE c.network_id = $1 \
                 AND c.scope = $2 AND c.class = t.class AND c.mac = t.mac AND c.day > $3) AS next FROM t",
                values_list(chunk)
            ))
            .bind($network_id).bind($scope).bind($day).fetch_all(&mut *$tx).await?
            .iter().filter_map(|r| match r.try_get::<Option<i64>, _>(2) {
                Ok(Some(n)) => Some(Ok((r.try_get(0).ok()?, r.try_get(1).ok()?, n))),
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            }).collect::<Result<_, StoreError>>()?;
            for (class, mac, next_day) in next {
                sqlx::query(&format!(
                    "UPDATE class_days SET prev = (SELECT {} FROM (SELECT $3 AS class, $4 AS mac) t) \
                     WHERE network_id = $1 AND scope = $2 AND class = $3 AND mac = $4 AND day = $5",
                    prev_of("$5")
                ))
                .bind($network_id).bind($scope).bind(class).bind(mac).bind(next_day).execute(&mut *$tx).await?;
                recount.insert(next_day);
            }
        }
        for d in recount {
            sqlx::query("DELETE FROM class_day_gaps WHERE network_id = $1 AND scope = $2 AND day = $3")
                .bind($network_id).bind($scope).bind(d).execute(&mut *$tx).await?;
            sqlx::query(
                "INSERT INTO class_day_gaps (network_id, scope, day, class, prev, n) SELECT $1, $2, $3, class, prev, COUNT(*) FROM class_days \
                 WHERE network_id = $1 AND scope = $2 AND day = $3 GROUP BY class, prev",
            )
            .bind($network_id).bind($scope).bind(d).execute(&mut *$tx).await?;
        }
    }};
}

/// Hours of one scope computed from a snapshot, each with the generation
/// its mark had (hour, generation, figures): `Store::snapshot_hours`.
#[doc(hidden)]
pub struct SnapshotHours {
    network_id: i64,
    scope: String,
    rules: NetworkRules,
    computed: Vec<(i64, i64, Split<HourFigures>)>,
}

impl SnapshotHours {
    pub fn hours(&self) -> Vec<i64> {
        self.computed.iter().map(|(h, _, _)| *h).collect()
    }
}

/// A day's `class_days` rows and clients read from a snapshot:
/// `Store::snapshot_class_day`.
#[doc(hidden)]
pub struct SnapshotDay {
    network_id: i64,
    scope: String,
    day: i64,
    generation: i64,
    old: HashSet<(i64, i64)>,
    new: HashSet<(i64, i64)>,
}

/// Runs of consecutive hours of `marks` (in hour order), up to
/// `HOURS_PER_READ` each: one read of visits each.
fn runs(marks: &[i64]) -> Vec<&[i64]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < marks.len() {
        let mut j = i + 1;
        while j < marks.len() && j - i < HOURS_PER_READ && marks[j] == marks[j - 1] + HOUR {
            j += 1;
        }
        out.push(&marks[i..j]);
        i = j;
    }
    out
}

/// A day's clients (class, mac) from the visits that meet [$3, $4).
fn present_sql() -> String {
    format!(
        "SELECT DISTINCT class, mac FROM (\
         SELECT {CLASS_SQL} AS class, mac FROM visits WHERE network_id = $1 AND scope = $2 AND start_time >= $3 AND start_time < $4 \
         UNION ALL SELECT {CLASS_SQL} AS class, mac FROM visits WHERE network_id = $1 AND scope = $2 AND end_time >= $3 AND start_time < $3) t"
    )
}

impl Store {
    /// The metrics of `range` from the stored figures (see the module doc);
    /// equal to `metrics()` over the stored visits.
    pub(super) async fn figures_metrics(&self, network_id: i64, node_mac: Option<&str>, rules: &NetworkRules, range: &Range, now: i64) -> Result<Metrics, StoreError> {
        let offset = rules.utc_offset;
        let scope = scope_of(node_mac);
        self.ensure_figures_built(network_id, offset).await?;
        let buckets = range.buckets();
        let span_lo = buckets.first().map_or(range.since, |b| b.0);
        let span_hi = buckets.last().map_or(range.until, |b| b.1);
        // The dirty hours first, then the stored ones: read the other way,
        // an hour's old figures could be read just before the refresher
        // stored its new ones and removed its mark.
        let (_, dirty_days) = self.refresh_hours(network_id, &scope, rules, span_lo, span_hi).await?;
        // By day over more than two days: the days between the first and
        // the last summed in SQL (a row a day and class, not 24), the hours
        // read only for the edge days (the total's partial days) and each
        // day's first hour (the visits reaching into the day).
        let (hours, days) = if range.bucket == Bucket::Day && span_hi - span_lo > 2 * DAY {
            let (inner_lo, inner_hi) = (span_lo + DAY, span_hi - DAY);
            let mut hours = self.read_hours(network_id, &scope, span_lo, inner_lo).await?;
            hours.extend(self.read_hours(network_id, &scope, inner_hi, span_hi).await?);
            hours.extend(self.read_first_hours(network_id, &scope, offset, inner_lo, inner_hi).await?);
            (hours, self.read_day_sums(network_id, &scope, offset, inner_lo, inner_hi).await?)
        } else {
            (self.read_hours(network_id, &scope, span_lo, span_hi).await?, BTreeMap::new())
        };
        let sums = Sums { hours: &hours, days: &days };
        let day_of = |t: i64| local_day(t, offset);
        // Whole local days inside the range, for the total's unique clients.
        let (wd_lo, wd_hi) = (day_of(range.since + DAY - 1), day_of(range.until));
        let mut needed: BTreeSet<i64> = (wd_lo..wd_hi).collect();
        if range.bucket == Bucket::Day {
            needed.extend(buckets.iter().map(|b| day_of(b.0)));
        }
        let unique = self.daily_unique(network_id, &scope, offset, &needed, &dirty_days).await?;

        let of_hour = |h: i64| sums.hours.get(&h);
        let mut out = Vec::with_capacity(buckets.len());
        for (start, end) in buckets {
            let counts = match range.bucket {
                Bucket::Hour => match of_hour(start) {
                    Some(f) => split_map(f, |f| f.overlap.clone()),
                    None => Split::default(),
                },
                Bucket::Day => {
                    let (mut started, peak) = sums.sum(start, end);
                    add_reaching(&mut started, &hours, start);
                    let day_unique = unique.get(&day_of(start)).cloned().unwrap_or_default();
                    split_compose(&started, &peak, &day_unique)
                }
            };
            out.push(BucketMetrics { start, end, counts });
        }
        let total = self.total(network_id, node_mac, rules, range, &sums, (wd_lo, wd_hi)).await?;
        let occupancy_now = self.occupancy_now(network_id, node_mac, rules, now).await?;
        Ok(Metrics { buckets: out, total, occupancy_now })
    }

    /// The range's total: whole hours from the figures, the partial hours
    /// at its edges from their visits.
    async fn total(&self, network_id: i64, node_mac: Option<&str>, rules: &NetworkRules, range: &Range, sums: &Sums<'_>, whole_days: (i64, i64)) -> Result<Split<Counts>, StoreError> {
        let hours = sums.hours;
        let offset = rules.utc_offset;
        let wh_lo = hour_floor(range.since + HOUR - 1, offset);
        let wh_hi = hour_floor(range.until, offset);
        if wh_lo >= wh_hi {
            // Less than an hour: its own visits, as the reference counts them.
            let found = self.stored_visits(network_id, node_mac, rules, range.since, range.until, super::views::Columns::Figures).await?;
            let (v, r): (Vec<Visit>, Vec<bool>) = found.into_iter().unzip();
            return Ok(counts_in(&v, &r, range.since, range.until));
        }
        let (mut started, mut peak) = sums.sum(wh_lo, wh_hi);
        let left = if range.since == wh_lo {
            // Begun before and reaching in: the first hour's own counts
            // less its started ones, no visit read.
            add_reaching(&mut started, hours, wh_lo);
            Vec::new()
        } else {
            self.stored_visits(network_id, node_mac, rules, range.since, wh_lo, super::views::Columns::Figures).await?
        };
        let (lv, lr): (Vec<Visit>, Vec<bool>) = left.into_iter().unzip();
        for (v, r) in lv.iter().zip(&lr) {
            started.get(v.class()).add_visit(v, *r);
        }
        let right = self.stored_visits(network_id, node_mac, rules, wh_hi, range.until, super::views::Columns::Figures).await?;
        let (rv, rr): (Vec<Visit>, Vec<bool>) = right.into_iter().unzip();
        let right_started = started_in(&rv, &rr, wh_hi, range.until);
        for class in AddressClass::ALL {
            started.get(class).add(right_started.of(class));
        }
        for (lo, hi, v, r) in [(range.since, wh_lo, &lv, &lr), (wh_hi, range.until, &rv, &rr)] {
            if lo < hi {
                let p = peak_in(v, r, lo, hi);
                for class in AddressClass::ALL {
                    let m = peak.get(class);
                    *m = (*m).max(*p.of(class));
                }
            }
        }
        let unique = self.range_unique(network_id, &scope_of(node_mac), offset, range, whole_days).await?;
        Ok(split_compose(&started, &peak, &unique))
    }

    /// Unique clients of [since, until) per class: those of its whole days
    /// from `class_day_gaps` (each client counted on its first day there),
    /// plus the clients of its partial days not in those whole days, from
    /// their visits.
    async fn range_unique(&self, network_id: i64, scope: &str, offset: i64, range: &Range, (wd_lo, wd_hi): (i64, i64)) -> Result<Split<u64>, StoreError> {
        let (wd_lo, wd_hi) = if wd_lo < wd_hi { (wd_lo, wd_hi) } else { (wd_lo, wd_lo) };
        let (day_lo, day_hi) = if wd_lo < wd_hi { (wd_lo * DAY - offset, wd_hi * DAY - offset) } else { (range.until, range.until) };
        let whole = "SELECT class, CAST(SUM(n) AS BIGINT) AS n FROM class_day_gaps WHERE network_id = $1 AND scope = $2 AND day >= $3 AND day < $4 AND prev < $3 GROUP BY class";
        let part = |lo: &str, hi: &str| {
            format!("SELECT {CLASS_SQL} AS class, mac FROM visits WHERE network_id = $1 AND scope = $2 AND start_time >= {lo} AND start_time < {hi}")
        };
        // Left: starts in [since, first whole day) and visits reaching
        // since; right: starts in [end of the whole days, until). A visit
        // starting in the whole days is in their class_days.
        // Visits reaching since are in the first whole day's clients when
        // it starts at since: not read then.
        let reaching = if wd_lo < wd_hi && range.since == day_lo {
            String::new()
        } else {
            format!("SELECT {CLASS_SQL} AS class, mac FROM visits WHERE network_id = $1 AND scope = $2 AND end_time >= $5 AND start_time < $5 UNION ALL ")
        };
        let partial = format!(
            "SELECT class, COUNT(*) AS n FROM (SELECT DISTINCT class, mac FROM ({} UNION ALL {reaching}{}) u) t \
             WHERE NOT EXISTS (SELECT 1 FROM class_days c WHERE c.network_id = $1 AND c.scope = $2 AND c.class = t.class AND c.mac = t.mac \
             AND c.day >= $3 AND c.day < $4) GROUP BY class",
            part("$5", "$7"),
            part("$8", "$6")
        );
        let rows: Vec<(i64, i64)> = on_pool!(self, pool => {
            let mut rows: Vec<(i64, i64)> = Vec::new();
            if wd_lo < wd_hi {
                for r in sqlx::query(whole).bind(network_id).bind(scope).bind(wd_lo).bind(wd_hi).fetch_all(pool).await? {
                    rows.push((r.try_get(0)?, r.try_get(1)?));
                }
            }
            for r in sqlx::query(&partial)
                .bind(network_id).bind(scope).bind(wd_lo).bind(wd_hi)
                .bind(range.since).bind(range.until).bind(day_lo).bind(day_hi)
                .fetch_all(pool).await?
            {
                rows.push((r.try_get(0)?, r.try_get(1)?));
            }
            rows
        });
        let mut out: Split<u64> = Split::default();
        for (code, n) in rows {
            if let Some(class) = class_of_code(code) {
                *out.get(class) += n.max(0) as u64;
            }
        }
        Ok(out)
    }

    async fn occupancy_now(&self, network_id: i64, node_mac: Option<&str>, rules: &NetworkRules, now: i64) -> Result<Split<u64>, StoreError> {
        let mut open = Sql::new(true, &format!("SELECT {}, FALSE AS repeat_seen FROM visits WHERE network_id = ", super::views::FIGURE_COLUMNS));
        open.bind(Param::Int(network_id)).push(" AND scope = ").bind(Param::Text(scope_of(node_mac)));
        open.push(" AND end_time > ").bind(Param::Int(now - rules.visits.session_timeout));
        open.push(" AND start_time <= ").bind(Param::Int(now));
        let mut out: Split<u64> = Split::default();
        for (v, _) in self.fetch_visits(&open, rules, super::views::Columns::Figures).await? {
            if v.visitor && v.start <= now && now - v.end < rules.visits.session_timeout {
                *out.get(v.class()) += 1;
            }
        }
        Ok(out)
    }

    async fn read_hours(&self, network_id: i64, scope: &str, lo: i64, hi: i64) -> Result<BTreeMap<i64, Split<HourFigures>>, StoreError> {
        self.read_hours_where(network_id, scope, lo, hi, "").await
    }

    /// The stored hours in [lo, hi) that begin a local day.
    async fn read_first_hours(&self, network_id: i64, scope: &str, offset: i64, lo: i64, hi: i64) -> Result<BTreeMap<i64, Split<HourFigures>>, StoreError> {
        self.read_hours_where(network_id, scope, lo, hi, &format!("AND ((hour + {offset}) % {DAY} + {DAY}) % {DAY} = 0")).await
    }

    /// The stored hours in [lo, hi), narrowed by `also` (SQL of our own,
    /// never a parameter's text).
    async fn read_hours_where(&self, network_id: i64, scope: &str, lo: i64, hi: i64, also: &str) -> Result<BTreeMap<i64, Split<HourFigures>>, StoreError> {
        let sql = format!(
            "SELECT hour, class, {FIGURE_NAMES} FROM hourly_figures WHERE network_id = $1 AND scope = $2 AND hour >= $3 AND hour < $4 {also}"
        );
        let rows: Vec<(i64, i64, HourFigures)> = on_pool!(self, pool => {
            sqlx::query(&sql).bind(network_id).bind(scope).bind(lo).bind(hi).fetch_all(pool).await?
                .iter().map(figures_of_row).collect::<Result<_, StoreError>>()?
        });
        let mut out: BTreeMap<i64, Split<HourFigures>> = BTreeMap::new();
        for (hour, code, f) in rows {
            if let Some(class) = class_of_code(code) {
                *out.entry(hour).or_default().get(class) = f;
            }
        }
        Ok(out)
    }

    /// Per local day in [lo, hi) (whole days): the sums of its hours'
    /// started counts and the greatest of their peaks, by class, keyed by
    /// the day's first instant.
    async fn read_day_sums(&self, network_id: i64, scope: &str, offset: i64, lo: i64, hi: i64) -> Result<BTreeMap<i64, DaySum>, StoreError> {
        let sql = format!("SELECT day, class, {DAY_SUM_NAMES} FROM daily_sums WHERE network_id = $1 AND scope = $2 AND day >= $3 AND day < $4");
        let (day_lo, day_hi) = (local_day(lo, offset), local_day(hi, offset));
        let rows: Vec<(i64, i64, Started, u64)> = on_pool!(self, pool => {
            sqlx::query(&sql).bind(network_id).bind(scope).bind(day_lo).bind(day_hi).fetch_all(pool).await?
                .iter().map(|r| {
                    let started = started_of_row(r)?;
                    Ok((r.int("day")?, r.int("class")?, started, r.int("peak")?.max(0) as u64))
                }).collect::<Result<_, StoreError>>()?
        });
        let mut out: BTreeMap<i64, DaySum> = BTreeMap::new();
        for (day, code, started, peak) in rows {
            if let Some(class) = class_of_code(code) {
                let entry = out.entry(day * DAY - offset).or_default();
                *entry.started.get(class) = started;
                *entry.peak.get(class) = peak;
            }
        }
        Ok(out)
    }

    /// Recomputes the dirty hours in [lo, hi) and stores them; answers the
    /// figures of those it recomputed (an hour done meanwhile by another
    /// view or the refresher is clean, its figures stored) and their days.
    async fn refresh_hours(&self, network_id: i64, scope: &str, rules: &NetworkRules, lo: i64, hi: i64) -> Result<(Vec<(i64, Split<HourFigures>)>, BTreeSet<i64>), StoreError> {
        let marks: Vec<i64> = on_pool!(self, pool => {
            sqlx::query("SELECT hour FROM figure_dirty WHERE network_id = $1 AND scope = $2 AND hour >= $3 AND hour < $4 ORDER BY hour")
                .bind(network_id).bind(scope).bind(lo).bind(hi)
                .fetch_all(pool).await?
                .iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?
        });
        self.refresh_marks(network_id, scope, rules, &marks).await
    }

    /// Recomputes the hours of `marks` (in hour order) still dirty from
    /// their visits and stores them (see `refresh_hours`), reading the
    /// marks and visits under the network's lock, as a view must (it
    /// answers with these figures): no report changes these visits
    /// meanwhile, and no other view or refresher (in this process or
    /// another) stores these hours at once.
    async fn refresh_marks(&self, network_id: i64, scope: &str, rules: &NetworkRules, marks: &[i64]) -> Result<(Vec<(i64, Split<HourFigures>)>, BTreeSet<i64>), StoreError> {
        let node_mac = (!scope.is_empty()).then_some(scope);
        let numbered = self.numbered();
        let mut fresh = Vec::with_capacity(marks.len());
        let mut days = BTreeSet::new();
        for run in runs(marks) {
            let (lo, hi) = (run[0], run[run.len() - 1] + HOUR);
            let queries = super::views::stored_visits_queries(network_id, node_mac, lo, hi, Columns::Figures);
            let stored: Vec<(i64, Split<HourFigures>)> = locked_tx!(self, network_id, tx => {
                let computed = read_run!(tx, network_id, scope, rules, lo, hi, run, &queries);
                store_run!(tx, numbered, network_id, scope, rules, computed)
            });
            days.extend(stored.iter().map(|(h, _)| local_day(*h, rules.utc_offset)));
            fresh.extend(stored);
        }
        Ok((fresh, days))
    }

    /// The refresher's first half: the figures of the dirty hours among
    /// `marks` (per network and scope, hours in hour order), computed from
    /// one snapshot outside the networks' locks (SQLite's reader
    /// connections, beside the writer), each with its mark's generation
    /// then, a run of consecutive hours at a time. One snapshot for all:
    /// a reader's page cache is dropped whenever a transaction begins after
    /// the writer committed, so a transaction per run read every page
    /// afresh. `store_snapshot_hours` stores them.
    #[doc(hidden)]
    pub async fn snapshot_hours(&self, marks: &[(i64, String, Vec<i64>)]) -> Result<Vec<SnapshotHours>, StoreError> {
        let out = snapshot_tx!(self, tx => {
            let mut out = Vec::new();
            for (network_id, scope, marks) in marks {
                let rules = self.rules_for(*network_id);
                let node_mac = (!scope.is_empty()).then_some(scope.as_str());
                for run in runs(marks) {
                    let (lo, hi) = (run[0], run[run.len() - 1] + HOUR);
                    let queries = super::views::stored_visits_queries(*network_id, node_mac, lo, hi, Columns::Figures);
                    let computed = read_run!(tx, *network_id, scope.as_str(), &rules, lo, hi, run, &queries);
                    if !computed.is_empty() {
                        out.push(SnapshotHours { network_id: *network_id, scope: scope.clone(), rules: rules.clone(), computed });
                    }
                }
            }
            out
        });
        Ok(out)
    }

    /// The refresher's second half: stores the hours `snapshot_hours`
    /// computed whose marks still carry the generation read, under the
    /// network's lock, and answers them. An hour a report (or a rebuild)
    /// marked since the snapshot stays dirty for the next step; ingest
    /// waits for these writes alone, not for the reads and the sums.
    #[doc(hidden)]
    pub async fn store_snapshot_hours(&self, read: SnapshotHours) -> Result<Vec<i64>, StoreError> {
        let numbered = self.numbered();
        let SnapshotHours { network_id, scope, rules, computed } = read;
        let stored = locked_tx!(self, network_id, tx => store_run!(tx, numbered, network_id, scope.as_str(), &rules, computed));
        Ok(stored.into_iter().map(|(h, _)| h).collect())
    }

    /// Each of `needed` days' unique clients per class; a dirty one (marked,
    /// or in `dirty`) has its `class_days` brought up to date first.
    async fn daily_unique(&self, network_id: i64, scope: &str, offset: i64, needed: &BTreeSet<i64>, dirty: &BTreeSet<i64>) -> Result<HashMap<i64, Split<u64>>, StoreError> {
        let (Some(&first), Some(&last)) = (needed.first(), needed.last()) else { return Ok(HashMap::new()) };
        let marked: Vec<i64> = on_pool!(self, pool => {
            sqlx::query("SELECT day FROM figure_dirty_days WHERE network_id = $1 AND scope = $2 AND day >= $3 AND day <= $4")
                .bind(network_id).bind(scope).bind(first).bind(last)
                .fetch_all(pool).await?
                .iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?
        });
        let redo: BTreeSet<i64> = marked.into_iter().chain(dirty.iter().copied()).filter(|d| needed.contains(d)).collect();
        // In day order: a day's prev is then already right when it is read.
        for day in redo {
            self.recompute_class_day(network_id, scope, offset, day).await?;
        }
        let rows: Vec<(i64, i64, i64)> = on_pool!(self, pool => {
            sqlx::query("SELECT day, class, CAST(SUM(n) AS BIGINT) FROM class_day_gaps WHERE network_id = $1 AND scope = $2 AND day >= $3 AND day <= $4 GROUP BY day, class")
                .bind(network_id).bind(scope).bind(first).bind(last)
                .fetch_all(pool).await?
                .iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect::<Result<_, StoreError>>()?
        });
        let mut out: HashMap<i64, Split<u64>> = HashMap::new();
        for (day, code, n) in rows {
            if let Some(class) = class_of_code(code) {
                *out.entry(day).or_default().get(class) = n.max(0) as u64;
            }
        }
        Ok(out)
    }

    /// Brings one day's `class_days` to its visits, reading the day's rows
    /// and visits under the network's lock (no report changes them
    /// meanwhile): the clients gone and come are deleted and inserted with
    /// their prev; each one's next day (if any) gets its prev again; the gap
    /// counts of the days whose rows changed are counted again.
    async fn recompute_class_day(&self, network_id: i64, scope: &str, offset: i64, day: i64) -> Result<(), StoreError> {
        let (lo, hi) = (day * DAY - offset, (day + 1) * DAY - offset);
        let present = present_sql();
        locked_tx!(self, network_id, tx => {
            sqlx::query("DELETE FROM figure_dirty_days WHERE network_id = $1 AND scope = $2 AND day = $3")
                .bind(network_id).bind(scope).bind(day).execute(&mut *tx).await?;
            let (_, old, new) = read_class_day!(tx, network_id, scope, day, lo, hi, &present);
            apply_class_day!(tx, network_id, scope, day, old, new);
        });
        Ok(())
    }

    /// The refresher's first half for a dirty day (none if it is not
    /// marked): its `class_days` rows and its clients as its visits give
    /// them, read from a snapshot outside the network's lock, with the
    /// generation of its mark then.
    #[doc(hidden)]
    pub async fn snapshot_class_day(&self, network_id: i64, scope: &str, day: i64) -> Result<Option<SnapshotDay>, StoreError> {
        let offset = self.rules_for(network_id).utc_offset;
        let (lo, hi) = (day * DAY - offset, (day + 1) * DAY - offset);
        let present = present_sql();
        let (generation, old, new) = snapshot_tx!(self, tx => read_class_day!(tx, network_id, scope, day, lo, hi, &present));
        Ok(generation.map(|generation| SnapshotDay { network_id, scope: scope.to_string(), day, generation, old, new }))
    }

    /// The refresher's second half for a day: writes the difference
    /// `snapshot_class_day` read, as `recompute_class_day` does, only if
    /// the day's mark still carries the generation read; answers whether
    /// it did. A day is marked again, with a new generation, whenever one
    /// of its hours is recomputed, and its rows change only here, in
    /// `recompute_class_day` and in a prune or rebuild (which mark again
    /// too): so the rows the difference is applied to are the rows it was
    /// taken from. Visits changed since the snapshot left an hour of the
    /// day dirty, and the day is marked again when that hour is done. The
    /// prevs and counts are taken in the writing transaction, from the rows
    /// as they are.
    #[doc(hidden)]
    pub async fn store_class_day(&self, read: SnapshotDay) -> Result<bool, StoreError> {
        let SnapshotDay { network_id, scope, day, generation, old, new } = read;
        let stored = locked_tx!(self, network_id, tx => {
            let unchanged = sqlx::query("DELETE FROM figure_dirty_days WHERE network_id = $1 AND scope = $2 AND day = $3 AND generation = $4")
                .bind(network_id).bind(scope.as_str()).bind(day).bind(generation).execute(&mut *tx).await?
                .rows_affected() == 1;
            if unchanged {
                apply_class_day!(tx, network_id, scope.as_str(), day, old, new);
            }
            unchanged
        });
        Ok(stored)
    }

    /// Resets a network's figures when they are not built in `offset`:
    /// every hour of its visits marked dirty.
    async fn ensure_figures_built(&self, network_id: i64, offset: i64) -> Result<(), StoreError> {
        let built: Option<i64> = on_pool!(self, pool => {
            sqlx::query("SELECT utc_offset FROM figures_built WHERE network_id = $1").bind(network_id).fetch_optional(pool).await?
                .map(|r| r.try_get(0)).transpose()?
        });
        if built == Some(offset) {
            return Ok(());
        }
        let numbered = self.numbered();
        let mark_all = format!(
            "WITH RECURSIVE {} INSERT INTO figure_dirty (network_id, scope, hour, generation) SELECT $1, scope, hour, {g} FROM (SELECT DISTINCT scope, hour FROM touched) t \
             WHERE TRUE ON CONFLICT (network_id, scope, hour) DO UPDATE SET generation = {g}",
            touched_cte("visits v WHERE v.network_id = $1", offset),
            g = generation_sql(numbered)
        );
        locked_tx!(self, network_id, tx => {
            for table in TABLES {
                sqlx::query(&format!("DELETE FROM {table} WHERE network_id = $1")).bind(network_id).execute(&mut *tx).await?;
            }
            sqlx::query(next_generation_text(numbered)).execute(&mut *tx).await?;
            sqlx::query(&mark_all).bind(network_id).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO figures_built (network_id, utc_offset) VALUES ($1, $2)").bind(network_id).bind(offset).execute(&mut *tx).await?;
        });
        Ok(())
    }

    /// After the visits that ended before `cutoff` are pruned: the figures
    /// of the hours before it go, and the hours of what is left there (the
    /// hour of the cutoff, the visits that began before it and go on) are
    /// marked to be recomputed from the visits kept.
    pub(super) async fn prune_figures(&self, cutoff: i64) -> Result<(), StoreError> {
        let built: Vec<(i64, i64)> = on_pool!(self, writer, pool => {
            sqlx::query("SELECT network_id, utc_offset FROM figures_built").fetch_all(pool).await?
                .iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_, StoreError>>()?
        });
        for (network_id, offset) in built {
            let (hour, day) = (hour_floor(cutoff, offset), local_day(cutoff, offset));
            let numbered = self.numbered();
            let g = generation_sql(numbered);
            let mark_kept = format!(
                "WITH RECURSIVE {} INSERT INTO figure_dirty (network_id, scope, hour, generation) SELECT $1, scope, hour, {g} FROM (SELECT DISTINCT scope, hour FROM touched) t \
                 WHERE TRUE ON CONFLICT (network_id, scope, hour) DO UPDATE SET generation = {g}",
                touched_cte("visits v WHERE v.network_id = $1 AND v.end_time >= $2 AND v.start_time < $2", offset)
            );
            locked_tx!(self, network_id, tx => {
                sqlx::query(next_generation_text(numbered)).execute(&mut *tx).await?;
                sqlx::query(&format!(
                    "INSERT INTO figure_dirty (network_id, scope, hour, generation) SELECT network_id, scope, hour, {g} FROM \
                     (SELECT DISTINCT network_id, scope, hour FROM hourly_figures WHERE network_id = $1 AND hour = $2) t \
                     WHERE TRUE ON CONFLICT (network_id, scope, hour) DO UPDATE SET generation = {g}",
                ))
                .bind(network_id).bind(hour).execute(&mut *tx).await?;
                for (table, column, bound) in [
                    ("hourly_figures", "hour", hour),
                    ("daily_sums", "day", day),
                    ("figure_dirty", "hour", hour),
                    ("figure_dirty_days", "day", day),
                    ("class_days", "day", day),
                    ("class_day_gaps", "day", day),
                ] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE network_id = $1 AND {column} < $2")).bind(network_id).bind(bound).execute(&mut *tx).await?;
                }
                // The cutoff's day lost its hours before the cutoff's.
                for sql in day_sums_again(false) {
                    sqlx::query(&sql).bind(network_id).bind(day).bind(day * DAY - offset).bind((day + 1) * DAY - offset).execute(&mut *tx).await?;
                }
                sqlx::query(&mark_kept).bind(network_id).bind(cutoff).execute(&mut *tx).await?;
                // The cutoff's day lost clients: recompute it when asked.
                sqlx::query(&format!("INSERT INTO figure_dirty_days (network_id, scope, day, generation) SELECT network_id, scope, day, {g} FROM \
                             (SELECT DISTINCT network_id, scope, CAST($2 AS BIGINT) AS day FROM class_day_gaps WHERE network_id = $1 AND day = $2) t \
                             WHERE TRUE ON CONFLICT (network_id, scope, day) DO UPDATE SET generation = {g}"))
                    .bind(network_id).bind(day).execute(&mut *tx).await?;
            });
        }
        Ok(())
    }
}

/// Dirty hours the refresher recomputes in one step, at most (in runs of
/// up to `HOURS_PER_READ`, one short transaction each).
pub const REFRESH_STEP_HOURS: usize = 72;

/// How long a dirty hour's mark stays unchanged before the refresher
/// takes it, if the hour is recent (`REFRESH_RECENT`). The hour a
/// network's access points are reporting in is marked again by nearly
/// every batch of reports (every few seconds in a fleet at Rate 30, every
/// Rate seconds for an access point's own), so recomputing it is undone
/// moments later and only takes the writer from ingest; a view recomputes
/// such an hour itself, one hour of its range.
pub const REFRESH_SETTLE: std::time::Duration = std::time::Duration::from_secs(60);

/// How long the mark of an hour before `REFRESH_RECENT` stays unchanged
/// before the refresher takes it: what a backfill or late reports leave
/// behind is seldom marked again, and waiting `REFRESH_SETTLE` for it left
/// a backfill's last minute to the first view (in bench-analytics, 6,251
/// hours after 30 days ingested at 300 reports/s, a first view of 70 s).
pub const REFRESH_SETTLE_PAST: std::time::Duration = std::time::Duration::from_secs(2);

/// Hours that start at least this long before now (the server's clock)
/// settle in `REFRESH_SETTLE_PAST`, the others in `REFRESH_SETTLE`.
pub const REFRESH_RECENT: i64 = 2 * HOUR;

/// Which marks a step of the refresher may take: those of a generation at
/// most `generation`, and those of an hour before `recent_from` of a
/// generation at most `past_generation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    pub generation: i64,
    pub past_generation: i64,
    pub recent_from: i64,
}

impl Settled {
    /// Every mark.
    pub const ALL: Settled = Settled { generation: i64::MAX, past_generation: i64::MAX, recent_from: i64::MIN };
}

/// The refresher's notes of the generation counter, one per step: a mark
/// whose generation is at most the value noted some time ago has not been
/// written since then.
#[derive(Debug, Default)]
pub struct Settling {
    noted: std::collections::VecDeque<(std::time::Instant, i64)>,
}

impl Settling {
    /// Notes the counter's value `generation` at `now`, keeping what
    /// `noted_before` needs for ages up to `REFRESH_SETTLE`.
    pub fn note(&mut self, now: std::time::Instant, generation: i64) {
        self.noted.push_back((now, generation));
        while self.noted.len() > 1 && now.saturating_duration_since(self.noted[1].0) >= REFRESH_SETTLE {
            self.noted.pop_front();
        }
    }

    /// The greatest generation noted at least `age` before `now`, if any.
    pub fn noted_before(&self, now: std::time::Instant, age: std::time::Duration) -> Option<i64> {
        self.noted.iter().rev().find(|(at, _)| now.saturating_duration_since(*at) >= age).map(|(_, generation)| *generation)
    }

    /// What a step at `now` may take, `unix_now` the server's clock then.
    pub fn settled(&self, now: std::time::Instant, unix_now: i64) -> Settled {
        Settled {
            generation: self.noted_before(now, REFRESH_SETTLE).unwrap_or(i64::MIN),
            past_generation: self.noted_before(now, REFRESH_SETTLE_PAST).unwrap_or(i64::MIN),
            recent_from: unix_now - REFRESH_RECENT,
        }
    }
}

/// Dirty days whose clients one step recomputes, at most (a transaction
/// each, O(the day's visits)).
const REFRESH_STEP_DAYS: i64 = 2;

/// What is left for the refresher: dirty hours and dirty days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    pub hours: i64,
    pub days: i64,
}

impl Store {
    /// The dirty hours and days of every network.
    pub async fn figures_backlog(&self) -> Result<Backlog, StoreError> {
        on_pool!(self, pool => {
            let hours: i64 = sqlx::query("SELECT COUNT(*) FROM figure_dirty").fetch_one(pool).await?.try_get(0)?;
            let days: i64 = sqlx::query("SELECT COUNT(*) FROM figure_dirty_days").fetch_one(pool).await?.try_get(0)?;
            Ok(Backlog { hours, days })
        })
    }

    /// One bounded step of the background refresher: up to `max_hours`
    /// dirty hours, those marked longest ago first (the least generation),
    /// of every scope; then the clients of up to `REFRESH_STEP_DAYS` dirty
    /// days that have no dirty hour, oldest first (a day is marked when one
    /// of its hours is recomputed, so doing it after its hours does it
    /// once). Answers how many it recomputed: 0 when nothing is dirty.
    ///
    /// The same marks as a view's, read from a snapshot and stored under
    /// the network's lock only if unchanged (`snapshot_hours`,
    /// `snapshot_class_day`): a report stored meanwhile leaves its hour
    /// dirty, and a view or another process doing the same hour at once
    /// only wastes work (the later one finds the mark gone or changed and
    /// stores nothing).
    pub async fn refresh_step(&self, max_hours: usize) -> Result<usize, StoreError> {
        self.refresh_step_settled(max_hours, Settled::ALL).await
    }

    /// `refresh_step`, of the marks `settled` allows (the others are left
    /// for a later step).
    pub async fn refresh_step_settled(&self, max_hours: usize, settled: Settled) -> Result<usize, StoreError> {
        let marks: Vec<(i64, String, i64)> = on_pool!(self, pool => {
            sqlx::query(
                "SELECT network_id, scope, hour FROM figure_dirty WHERE generation <= $1 OR (hour < $2 AND generation <= $3) \
                 ORDER BY generation LIMIT $4",
            )
            .bind(settled.generation).bind(settled.recent_from).bind(settled.past_generation).bind(max_hours.max(1) as i64)
            .fetch_all(pool).await?
                .iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect::<Result<_, StoreError>>()?
        });
        let done = marks.len();
        let mut by_scope: BTreeMap<(i64, String), Vec<i64>> = BTreeMap::new();
        for (network_id, scope, hour) in marks {
            by_scope.entry((network_id, scope)).or_default().push(hour);
        }
        let networks: BTreeSet<i64> = by_scope.keys().map(|(network_id, _)| *network_id).collect();
        for network_id in networks {
            self.ensure_figures_built(network_id, self.rules_for(network_id).utc_offset).await?;
        }
        if !by_scope.is_empty() {
            let marked: Vec<(i64, String, Vec<i64>)> = by_scope
                .into_iter()
                .map(|((network_id, scope), mut hours)| {
                    hours.sort_unstable();
                    (network_id, scope, hours)
                })
                .collect();
            for read in self.snapshot_hours(&marked).await? {
                self.store_snapshot_hours(read).await?;
            }
        }
        // The days none of whose hours is dirty (with a margin of 14 hours
        // either side, the widest UTC offset, so no network's offset is
        // needed here): a day with a dirty hour is marked again when that
        // hour is done. So during a backfill in order the days behind it are
        // done as it goes, not all at its end.
        let days: Vec<(i64, String, i64)> = on_pool!(self, pool => {
            sqlx::query(&format!(
                "SELECT d.network_id, d.scope, d.day FROM figure_dirty_days d WHERE NOT EXISTS (SELECT 1 FROM figure_dirty f \
                 WHERE f.network_id = d.network_id AND f.scope = d.scope AND f.hour >= d.day * {DAY} - {MARGIN} AND f.hour < (d.day + 1) * {DAY} + {MARGIN}) \
                 ORDER BY d.day, d.network_id, d.scope LIMIT $1",
                MARGIN = 14 * HOUR
            ))
            .bind(REFRESH_STEP_DAYS).fetch_all(pool).await?
            .iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))).collect::<Result<_, StoreError>>()?
        });
        for (network_id, scope, day) in &days {
            let rules = self.rules_for(*network_id);
            self.ensure_figures_built(*network_id, rules.utc_offset).await?;
            if let Some(read) = self.snapshot_class_day(*network_id, scope, *day).await? {
                self.store_class_day(read).await?;
            }
        }
        Ok(done + days.len())
    }

    /// Refreshes the figures that ingest left dirty, in the background, so
    /// that no request pays for a backfill: a step at a time, pausing after
    /// each as long as it took (at most half of one core, and the writer
    /// free between steps for ingest), and every second when nothing is
    /// dirty. It takes only marks left unchanged for `REFRESH_SETTLE`, or
    /// for `REFRESH_SETTLE_PAST` if their hour is older than
    /// `REFRESH_RECENT`: the generation counter's value is noted at every
    /// step, and a mark of a generation at most the value noted that long
    /// ago has not been written since. Ends when the store is closed.
    pub async fn refresh_figures_forever(self) {
        let mut settling = Settling::default();
        loop {
            let began = std::time::Instant::now();
            let step = async {
                settling.note(began, self.generation_now().await?);
                self.refresh_step_settled(REFRESH_STEP_HOURS, settling.settled(began, crate::clock::unix_now())).await
            };
            let pause = match step.await {
                Ok(0) => std::time::Duration::from_secs(1),
                Ok(_) => began.elapsed(),
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    tracing::error!("figures' refresher: {e}");
                    std::time::Duration::from_secs(5)
                }
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// The last generation given to a mark (PostgreSQL: by any session).
    pub async fn generation_now(&self) -> Result<i64, StoreError> {
        on_pool!(self, pool => {
            let sql = if matches!(self.db, Db::Postgres(_)) { "SELECT last_value FROM figure_generation" } else { "SELECT n FROM figure_generation" };
            sqlx::query(sql).fetch_one(pool).await?.try_get::<i64, _>(0)
        })
    }
}

fn split_map<T, U>(s: &Split<T>, f: impl Fn(&T) -> U) -> Split<U> {
    Split { universal: f(&s.universal), randomized: f(&s.randomized), estimated_devices: f(&s.estimated_devices) }
}

/// A whole local day's hours summed: Σ started, max peak, by class.
#[derive(Default)]
struct DaySum {
    started: Split<Started>,
    peak: Split<u64>,
}

/// What a view sums: stored hours, and whole days summed in SQL (each
/// either wholly inside a sum's range or wholly outside it, and its hours
/// then not in `hours` but for its first one).
struct Sums<'a> {
    hours: &'a BTreeMap<i64, Split<HourFigures>>,
    days: &'a BTreeMap<i64, DaySum>,
}

impl Sums<'_> {
    /// Σ started and max peak over the hours in [lo, hi).
    fn sum(&self, lo: i64, hi: i64) -> (Split<Started>, Split<u64>) {
        let mut started: Split<Started> = Split::default();
        let mut peak: Split<u64> = Split::default();
        let mut add = |class, s: &Started, p: u64| {
            started.get(class).add(s);
            let max = peak.get(class);
            *max = (*max).max(p);
        };
        // A day counts when it lies wholly in [lo, hi); its first hour
        // (read for the visits reaching into it) is then in the day's sum.
        let whole_day = |day: i64| day + DAY <= hi;
        for (_, d) in self.days.range(lo..hi).filter(|(&day, _)| whole_day(day)) {
            for class in AddressClass::ALL {
                add(class, d.started.of(class), *d.peak.of(class));
            }
        }
        for (&hour, f) in self.hours.range(lo..hi) {
            let in_a_day = self.days.range(lo..=hour).next_back().is_some_and(|(&day, _)| whole_day(day) && hour < day + DAY);
            if in_a_day {
                continue;
            }
            for class in AddressClass::ALL {
                add(class, &f.of(class).started, f.of(class).overlap.peak_occupancy);
            }
        }
        (started, peak)
    }
}

/// Adds the visits begun before `hour` that reach it: its own counts less
/// those of the visits that start in it.
fn add_reaching(started: &mut Split<Started>, hours: &BTreeMap<i64, Split<HourFigures>>, hour: i64) {
    let Some(f) = hours.get(&hour) else { return };
    for class in AddressClass::ALL {
        let (o, s) = (&f.of(class).overlap, &f.of(class).started);
        let d = |a: u64, b: u64| a.saturating_sub(b);
        started.get(class).add(&Started {
            visitors: d(o.visitors, s.visitors),
            passersby: d(o.passersby, s.passersby),
            connected: d(o.connected, s.connected),
            dwell: [d(o.dwell[0], s.dwell[0]), d(o.dwell[1], s.dwell[1]), d(o.dwell[2], s.dwell[2]), d(o.dwell[3], s.dwell[3])],
            new_visitors: d(o.new_visitors, s.new_visitors),
            repeat_visitors: d(o.repeat_visitors, s.repeat_visitors),
        });
    }
}

fn split_compose(started: &Split<Started>, peak: &Split<u64>, unique: &Split<u64>) -> Split<Counts> {
    let mut out: Split<Counts> = Split::default();
    for class in AddressClass::ALL {
        *out.get(class) = compose(started.of(class), *peak.of(class), *unique.of(class));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Settled, Settling, REFRESH_SETTLE, REFRESH_SETTLE_PAST};
    use std::time::{Duration, Instant};

    #[test]
    fn settling_answers_the_generations_noted_a_settle_time_ago() {
        let t0 = Instant::now();
        let mut settling = Settling::default();
        let second = Duration::from_secs(1);
        settling.note(t0, 5);
        assert_eq!(settling.noted_before(t0, REFRESH_SETTLE), None, "nothing noted long enough ago");
        assert_eq!(settling.noted_before(t0, Duration::ZERO), Some(5));
        let t1 = t0 + REFRESH_SETTLE - second;
        settling.note(t1, 9);
        assert_eq!(settling.noted_before(t1, REFRESH_SETTLE), None);
        assert_eq!(settling.noted_before(t1, REFRESH_SETTLE_PAST), Some(5), "noted 59 s before");
        let t2 = t0 + REFRESH_SETTLE;
        settling.note(t2, 12);
        assert_eq!(settling.noted_before(t2, REFRESH_SETTLE), Some(5), "the note of exactly the settle time ago");
        assert_eq!(settling.noted_before(t2, REFRESH_SETTLE_PAST), Some(5), "9 was noted 1 s before");
        // Notes at t1 (9) and t2 (12) are both older than the settle time
        // now; the newer of them is the answer, and 5 is dropped.
        let t3 = t0 + 2 * REFRESH_SETTLE + second;
        settling.note(t3, 20);
        assert_eq!(settling.noted_before(t3, REFRESH_SETTLE), Some(12));
        assert!(settling.noted.iter().all(|n| n.1 != 5), "old notes are dropped: {:?}", settling.noted);
        let settled = settling.settled(t3 + REFRESH_SETTLE_PAST, 1_000_000);
        assert_eq!(settled, Settled { generation: 12, past_generation: 20, recent_from: 1_000_000 - 2 * 3600 });
        assert_eq!(Settling::default().settled(t0, 0).generation, i64::MIN, "no note: no mark is settled");
    }
}
