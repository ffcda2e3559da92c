//! What the views read. `metrics` (dashboard, its CSV, `histograms`) reads
//! the stored hourly and daily figures (`figures`): O(buckets, plus the
//! visits at the range's edges and the clients of its days for the total's
//! unique clients). `visits` (`events`, `totals/*`) reads the stored visits
//! of its range. The stored visits' path (`metrics_from_visits`, O(visits in
//! the range)) and the raw rows' (`sightings`, `metrics_from_rows`) stay as
//! references and as the benchmark's baselines.

use std::collections::HashSet;

use sqlx::Row;

use super::stored_visits::{mac_to_int, Sql, VISIT_COLUMNS};
use super::{Db, Param, Store, StoreError};
use crate::analytics::metrics::{metrics, metrics_with, Metrics, Range, REPEAT_WINDOW_DAYS};
use crate::analytics::visits::{visits_marked, NetworkRules, Sighting, Visit};

/// The visits (with their repeat flags) of rows read by `stored_visits`'
/// queries, on either driver.
macro_rules! visits_of_rows {
    ($rows:expr, $rules:expr, $columns:expr) => {{
        let rules: &$crate::analytics::visits::NetworkRules = $rules;
        let rows = $rows;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows.iter() {
            let visit = match $columns {
                Columns::All => fold_of_row!(r)?.1.visit(&rules.visits),
                Columns::Figures => {
                    let (start, end, best_signal): (i64, i64, i32) = (r.try_get("start_time")?, r.try_get("end_time")?, r.try_get("best_signal")?);
                    let mac = $crate::store::stored_visits::int_to_mac(r.try_get("mac")?);
                    Visit {
                        randomized: $crate::analytics::visits::is_randomized(&mac),
                        estimated_device: r.try_get("estimated_device")?,
                        visitor: rules.visits.is_visitor(end - start, best_signal),
                        mac,
                        node_mac: String::new(),
                        last_node_mac: String::new(),
                        start,
                        end,
                        best_signal,
                        connected: r.try_get("connected")?,
                    }
                }
            };
            // Only visitors' visits are new or repeat.
            let repeat = visit.visitor && r.try_get::<bool, _>("repeat_seen")?;
            out.push((visit, repeat));
        }
        Ok::<Vec<(Visit, bool)>, StoreError>(out)
    }};
}
pub(super) use visits_of_rows;

/// Rows one analytics request may read: beyond, the request is refused
/// with a message rather than holding memory without bound.
pub const SIGHTINGS_MAX: usize = 2_000_000;

impl Store {
    /// Rows of `network_id` (of one access point when `node_mac` is given)
    /// seen at some time in [from, until), oldest first.
    pub async fn sightings(
        &self,
        network_id: i64,
        node_mac: Option<&str>,
        from: i64,
        until: i64,
    ) -> Result<Vec<Sighting>, StoreError> {
        Ok(self.marked_sightings(network_id, node_mac, from, until).await?.into_iter().map(|(s, _)| s).collect())
    }

    /// `sightings`, each with its row's `estimated_device` mark.
    pub async fn marked_sightings(
        &self,
        network_id: i64,
        node_mac: Option<&str>,
        from: i64,
        until: i64,
    ) -> Result<Vec<(Sighting, bool)>, StoreError> {
        let mut sql = String::from(
            "SELECT mac, node_mac, first_seen, last_seen, max_signal, associated, estimated_device FROM probe_rows \
             WHERE network_id = $1 AND last_seen >= $2 AND first_seen < $3",
        );
        if node_mac.is_some() {
            sql.push_str(" AND node_mac = $4");
        }
        sql.push_str(" ORDER BY first_seen, id LIMIT ");
        sql.push_str(&(SIGHTINGS_MAX + 1).to_string());
        // Raw rows hold the access point's MAC as an integer: text that is
        // no MAC names no access point's rows.
        let node = match node_mac {
            Some(text) => match mac_to_int(text) {
                Some(n) => Some(n),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        macro_rules! run {
            ($pool:expr) => {{
                let mut q = sqlx::query(&sql).bind(network_id).bind(from).bind(until);
                if let Some(n) = node {
                    q = q.bind(n);
                }
                q.fetch_all($pool).await?
                    .iter()
                    .map(|r| sighting_of_row!(r))
                    .collect::<Result<Vec<_>, StoreError>>()?
            }};
        }
        let rows = match &self.db {
            Db::Sqlite { reader, .. } => run!(reader),
            Db::Postgres(pool) => run!(pool),
        };
        if rows.len() > SIGHTINGS_MAX {
            return Err(sqlx::Error::Protocol(format!(
                "more than {SIGHTINGS_MAX} rows in this range: ask for a shorter one"
            )));
        }
        Ok(rows)
    }
}

impl Store {
    /// Today's path before stored visits, kept as the reference and the
    /// benchmark's baseline: the metrics rebuilt from raw rows, reading the
    /// 31 days before the range too, for new vs repeat.
    pub async fn metrics_from_rows(
        &self,
        network_id: i64,
        node_mac: Option<&str>,
        rules: &NetworkRules,
        range: &Range,
        now: i64,
    ) -> Result<Metrics, StoreError> {
        let history = range.since - (REPEAT_WINDOW_DAYS + 1) * 86_400 - rules.visits.session_timeout;
        let rows = self.marked_sightings(network_id, node_mac, history, range.until).await?;
        let v = visits_marked(&rows, &rules.visits);
        Ok(metrics(&v, range, &rules.visits, now))
    }

    /// The metrics of a network (or one of its access points) over `range`,
    /// from the stored visits. `rules` must be the ones the store builds
    /// this network's visits with (the config's, given to `use_rules`), and
    /// the range in the network's UTC offset.
    pub async fn metrics(
        &self,
        network_id: i64,
        node_mac: Option<&str>,
        rules: &NetworkRules,
        range: &Range,
        now: i64,
    ) -> Result<Metrics, StoreError> {
        self.check_rules(network_id, rules)?;
        if range.utc_offset != rules.utc_offset {
            return Err(sqlx::Error::Protocol(format!(
                "the range is in UTC{:+} s but network {network_id}'s days are in UTC{:+} s",
                range.utc_offset, rules.utc_offset
            )));
        }
        self.figures_metrics(network_id, node_mac, rules, range, now).await
    }

    /// The metrics straight from the stored visits of the range (O(visits
    /// in it)): what the figures replace, kept as a second reference and
    /// for the benchmark.
    pub async fn metrics_from_visits(
        &self,
        network_id: i64,
        node_mac: Option<&str>,
        rules: &NetworkRules,
        range: &Range,
        now: i64,
    ) -> Result<Metrics, StoreError> {
        self.check_rules(network_id, rules)?;
        let buckets = range.buckets();
        let from = buckets.first().map_or(range.since, |b| b.0).min(range.since);
        let until = buckets.last().map_or(range.until, |b| b.1).max(range.until);
        let mut found = self.stored_visits(network_id, node_mac, rules, from, until, Columns::Figures).await?;
        // Visitors still present now count in occupancy, wherever they began.
        let mut open = Sql::new(true, &format!("SELECT {FIGURE_COLUMNS}, FALSE AS repeat_seen FROM visits WHERE network_id = "));
        open.bind(Param::Int(network_id)).push(" AND scope = ").bind(Param::Text(scope_of(node_mac)));
        open.push(" AND end_time > ").bind(Param::Int(now - rules.visits.session_timeout));
        open.push(" AND start_time <= ").bind(Param::Int(now));
        let seen: HashSet<(String, i64)> = found.iter().map(|(v, _)| (v.mac.clone(), v.start)).collect();
        for (v, r) in self.fetch_visits(&open, rules, Columns::Figures).await? {
            if !seen.contains(&(v.mac.clone(), v.start)) {
                found.push((v, r));
            }
        }
        let (list, repeat): (Vec<Visit>, Vec<bool>) = found.into_iter().unzip();
        Ok(metrics_with(&list, &repeat, range, &rules.visits, now))
    }

    /// The stored visits of a network (or one access point) that meet
    /// [from, until), ordered by start then MAC, each judged as a whole.
    pub async fn visits(
        &self,
        network_id: i64,
        node_mac: Option<&str>,
        rules: &NetworkRules,
        from: i64,
        until: i64,
    ) -> Result<Vec<Visit>, StoreError> {
        self.check_rules(network_id, rules)?;
        let found = self.stored_visits(network_id, node_mac, rules, from, until, Columns::All).await?;
        let mut v: Vec<Visit> = found.into_iter().map(|(v, _)| v).collect();
        v.sort_by(|a, b| (a.start, &a.mac).cmp(&(b.start, &b.mac)));
        Ok(v)
    }

    fn check_rules(&self, network_id: i64, rules: &NetworkRules) -> Result<(), StoreError> {
        let built = self.rules_for(network_id);
        if built.visits != rules.visits || built.utc_offset != rules.utc_offset {
            return Err(sqlx::Error::Protocol(format!(
                "network {network_id}'s stored visits are built with other rules ({built:?}); \
                 restart with the config that has these, or run --rebuild-analytics"
            )));
        }
        Ok(())
    }

    /// Visits meeting [from, until) with their repeat flags: those that
    /// start in it (by start) and those begun before that reach into it (by
    /// end), so that neither index walk leaves the range's own visits.
    pub(super) async fn stored_visits(
        &self,
        network_id: i64,
        node_mac: Option<&str>,
        rules: &NetworkRules,
        from: i64,
        until: i64,
        columns: Columns,
    ) -> Result<Vec<(Visit, bool)>, StoreError> {
        let mut out = Vec::new();
        for q in stored_visits_queries(network_id, node_mac, from, until, columns) {
            out.extend(self.fetch_visits(&q, rules, columns).await?);
        }
        Ok(out)
    }

    pub(super) async fn fetch_visits(&self, q: &Sql, rules: &NetworkRules, columns: Columns) -> Result<Vec<(Visit, bool)>, StoreError> {
        on_pool!(self, pool => {
            let rows = bound!(q).fetch_all(pool).await?;
            visits_of_rows!(&rows, rules, columns)
        })
    }
}

/// `stored_visits`' two queries: the visits that start in [from, until),
/// and those begun before that reach into it.
pub(super) fn stored_visits_queries(network_id: i64, node_mac: Option<&str>, from: i64, until: i64, columns: Columns) -> [Sql; 2] {
    let scope = scope_of(node_mac);
    let names = match columns {
        Columns::All => VISIT_COLUMNS,
        Columns::Figures => FIGURE_COLUMNS,
    };
    let repeat = format!(
        "EXISTS (SELECT 1 FROM client_days d WHERE d.network_id = v.network_id AND d.scope = v.scope \
         AND d.mac = v.mac AND d.day >= v.start_day - {REPEAT_WINDOW_DAYS} AND d.day < v.start_day) AS repeat_seen"
    );
    let mut starting = Sql::new(true, &format!("SELECT {names}, {repeat} FROM visits v WHERE network_id = "));
    starting.bind(Param::Int(network_id)).push(" AND scope = ").bind(Param::Text(scope.clone()));
    starting.push(" AND start_time >= ").bind(Param::Int(from)).push(" AND start_time < ").bind(Param::Int(until));
    let mut reaching = Sql::new(true, &format!("SELECT {names}, {repeat} FROM visits v WHERE network_id = "));
    reaching.bind(Param::Int(network_id)).push(" AND scope = ").bind(Param::Text(scope));
    reaching.push(" AND end_time >= ").bind(Param::Int(from)).push(" AND start_time < ").bind(Param::Int(from));
    [starting, reaching]
}


/// What a view reads of each visit.
#[derive(Clone, Copy)]
pub(super) enum Columns {
    /// All of it: the events name the access points.
    All,
    /// What the figures need: no access point names to decode.
    Figures,
}

pub(super) const FIGURE_COLUMNS: &str = "mac, start_time, end_time, best_signal, connected, estimated_device";

/// The stored visits' scope: '' for the network, else the access point.
pub fn scope_of(node_mac: Option<&str>) -> String {
    node_mac.map(str::to_ascii_uppercase).unwrap_or_default()
}
