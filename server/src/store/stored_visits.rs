//! Ingest's half of the stored analytics: the statements that merge a
//! report's rows into the stored visits (`analytics::sessionize` decides,
//! this writes), inside the report's own transaction, so that a report
//! answered 200 has its visits stored with it and one refused has neither.
//!
//! Per batch of reports (`PendingRows`, a network at a time): one SELECT of
//! the visits their clients may join (per network and per access point),
//! then the upserts of the visits that changed, the deletes of those merged
//! away (late rows bridging two visits) and the new per-client days. A
//! repeated row changes no visit and writes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::Row;

use super::{Db, Param, Store, StoreError};
use crate::analytics::metrics::local_day;
use crate::analytics::sessionize::{merge, new_days, Fold};
use crate::analytics::visits::{NetworkRules, Sighting};
use crate::analytics::hook_events::VisitChange;

/// Rows per visits upsert: 13 parameters each.
const UPSERT_CHUNK: usize = 400;
/// (scope, client) pairs per visits lookup: 4 parameters each.
const LOOKUP_CHUNK: usize = 1000;
/// Rows per client_days insert: 4 parameters each.
const DAYS_CHUNK: usize = 1000;

/// The columns a visit is read back with, in `fold_columns` order.
pub const VISIT_COLUMNS: &str =
    "scope, mac, start_time, start_last, first_node, end_time, end_first, last_node, best_signal, connected, estimated_device";

/// `aa:bb:cc:dd:ee:ff` (either case) as a 48-bit integer; None if it is not one.
pub fn mac_to_int(mac: &str) -> Option<i64> {
    let parts: Vec<&str> = mac.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut n: i64 = 0;
    for p in parts {
        if p.len() != 2 {
            return None;
        }
        n = n << 8 | i64::from(u8::from_str_radix(p, 16).ok()?);
    }
    Some(n)
}

/// The lower-case colon form of a 48-bit integer.
pub fn int_to_mac(n: i64) -> String {
    let b = n.to_be_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
}

/// A statement being built, with its parameters, for either database's
/// placeholders (`$N` on PostgreSQL, `?` on SQLite: see `anonymous_values`).
pub struct Sql {
    pub text: String,
    pub params: Vec<Param>,
    numbered: bool,
}

impl Sql {
    pub fn new(numbered: bool, text: &str) -> Sql {
        Sql { text: text.to_string(), params: Vec::new(), numbered }
    }

    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    pub fn bind(&mut self, p: Param) -> &mut Sql {
        self.params.push(p);
        if self.numbered {
            self.text.push('$');
            self.text.push_str(&self.params.len().to_string());
        } else {
            self.text.push('?');
        }
        self
    }

    /// `(p1, p2, ...)`
    pub fn tuple(&mut self, ps: impl IntoIterator<Item = Param>) -> &mut Sql {
        self.push("(");
        for (i, p) in ps.into_iter().enumerate() {
            if i > 0 {
                self.push(",");
            }
            self.bind(p);
        }
        self.push(")")
    }
}

/// Binds a `Sql`'s parameters to a sqlx query of either database.
macro_rules! bound {
    ($sql:expr) => {{
        let mut q = sqlx::query(&$sql.text);
        for p in &$sql.params {
            q = match p {
                $crate::store::Param::Int(v) => q.bind(*v),
                $crate::store::Param::Text(v) => q.bind(v.as_str()),
                $crate::store::Param::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// A stored visit read back from a row of `VISIT_COLUMNS`: (scope, fold).
macro_rules! fold_of_row {
    ($r:expr) => {{
        let r = $r;
        let scope: String = r.try_get("scope")?;
        let fold = $crate::analytics::sessionize::Fold {
            mac: $crate::store::stored_visits::int_to_mac(r.try_get("mac")?),
            start: r.try_get("start_time")?,
            start_last: r.try_get("start_last")?,
            first_node: r.try_get("first_node")?,
            end: r.try_get("end_time")?,
            end_first: r.try_get("end_first")?,
            last_node: r.try_get("last_node")?,
            best_signal: r.try_get("best_signal")?,
            connected: r.try_get("connected")?,
            estimated_device: r.try_get("estimated_device")?,
        };
        Ok::<(String, $crate::analytics::sessionize::Fold), sqlx::Error>((scope, fold))
    }};
}

/// The stored visits of a SQLite lookup (`Plan::lookup`): a JSON array of
/// arrays of `VISIT_COLUMNS`, booleans as 0 or 1, as (scope, fold).
pub fn folds_of_json(found: &str) -> Result<Vec<(String, Fold)>, sqlx::Error> {
    type Columns = (String, i64, i64, i64, String, i64, i64, String, i32, u8, u8);
    let rows: Vec<Columns> = serde_json::from_str(found).map_err(|e| sqlx::Error::Decode(format!("the visits looked up: {e}").into()))?;
    Ok(rows
        .into_iter()
        .map(|(scope, mac, start, start_last, first_node, end, end_first, last_node, best_signal, connected, estimated_device)| {
            let fold = Fold { mac: int_to_mac(mac), start, start_last, first_node, end, end_first, last_node, best_signal, connected: connected != 0, estimated_device: estimated_device != 0 };
            (scope, fold)
        })
        .collect())
}

/// A raw row's sighting and its `estimated_device` mark, from a row with
/// its mac, node_mac (both integers: a sighting's MACs are in one case
/// whatever the text sent), first_seen, last_seen, max_signal, associated
/// and estimated_device.
macro_rules! sighting_of_row {
    ($r:expr) => {{
        let r = $r;
        Ok::<_, sqlx::Error>((
            $crate::analytics::visits::Sighting::of_row(
                &$crate::store::stored_visits::int_to_mac(r.try_get("mac")?),
                &$crate::store::stored_visits::int_to_mac(r.try_get("node_mac")?),
                r.try_get("first_seen")?,
                r.try_get("last_seen")?,
                r.try_get("max_signal")?,
                r.try_get("associated")?,
            ),
            r.try_get::<bool, _>("estimated_device")?,
        ))
    }};
}

/// Merges `$sightings` (rows just stored, each with its estimate mark, of any access points of
/// `$network_id`) into the stored visits, in the transaction `$tx`; evaluates
/// to the network-wide visits it wrote (`Plan::network_changes`) when
/// `$tell` (webhooks tell them), else to none.
macro_rules! sessionize_in_tx {
    ($tx:ident, $numbered:expr, $network_id:expr, $sightings:expr, $rules:expr, $tell:expr) => {{
        let plan = $crate::store::stored_visits::Plan::new($sightings, $rules)?;
        let mut changes = Vec::new();
        let lookups = plan.lookup($numbered, $network_id);
        if !lookups.is_empty() {
            let mut stored = Vec::new();
            for lookup in lookups {
                if $numbered {
                    for r in &bound!(lookup).fetch_all(&mut *$tx).await? {
                        stored.push(fold_of_row!(r)?);
                    }
                } else {
                    let found: String = bound!(lookup).fetch_one(&mut *$tx).await?.try_get(0)?;
                    stored.extend($crate::store::stored_visits::folds_of_json(&found)?);
                }
            }
            if $tell {
                changes = plan.network_changes(&stored);
            }
            for statement in plan.statements(stored, $numbered, $network_id) {
                bound!(statement).execute(&mut *$tx).await?;
            }
        }
        changes
    }};
}

/// The rows of a batch of reports (those stored, not the retries), per
/// network, to merge into the stored visits once, before the batch
/// commits: a client heard in several of the batch's reports has its
/// visits read and written once, not once a report. The merge's result
/// does not depend on how the rows are grouped or ordered
/// (`analytics::sessionize`), so this equals merging report by report.
#[derive(Default)]
pub struct PendingRows(BTreeMap<i64, (NetworkRules, Vec<(Sighting, bool)>)>);

impl PendingRows {
    pub fn add(&mut self, network_id: i64, rules: &NetworkRules, sightings: &[(Sighting, bool)]) {
        self.0.entry(network_id).or_insert_with(|| (rules.clone(), Vec::new())).1.extend_from_slice(sightings);
    }

    pub fn into_networks(self) -> impl Iterator<Item = (i64, NetworkRules, Vec<(Sighting, bool)>)> {
        self.0.into_iter().map(|(network_id, (rules, sightings))| (network_id, rules, sightings))
    }
}

/// PostgreSQL's lookup: every scope by every MAC of the rows, between the
/// batch's least start and greatest end. The per-client seeks of the SQLite
/// lookup made PostgreSQL ten times slower (its planner did not take the
/// VALUES list as the outer loop: 24 reports/s on day 1 of bench-analytics
/// instead of 249), so it keeps this one, which reads a regular's whole
/// history of visits.
fn postgres_lookup(keys: &[(&String, i64, i64, i64)], network_id: i64) -> Sql {
    let scopes: BTreeSet<&String> = keys.iter().map(|k| k.0).collect();
    let macs: BTreeSet<i64> = keys.iter().map(|k| k.1).collect();
    let lo = keys.iter().map(|k| k.2).min().unwrap_or_default();
    let hi = keys.iter().map(|k| k.3).max().unwrap_or_default();
    let mut q = Sql::new(true, &format!("SELECT {VISIT_COLUMNS} FROM visits WHERE network_id = "));
    q.bind(Param::Int(network_id)).push(" AND scope IN ");
    q.tuple(scopes.into_iter().map(|s| Param::Text(s.clone())));
    q.push(" AND mac IN ");
    q.tuple(macs.into_iter().map(Param::Int));
    // Met: [start, end + timeout) meets [lo, hi + timeout) (lo and hi have
    // the timeout applied). The unary plus keeps the planner off the
    // end_time index (all the network's open visits) and on the key.
    q.push(" AND +end_time > ").bind(Param::Int(lo));
    q.push(" AND start_time < ").bind(Param::Int(hi));
    q
}

/// What one report's rows do, before the stored visits are read.
pub struct Plan {
    /// (mac, scope) to the rows as visits of one row. The MAC as its
    /// integer, first: comparing the 17 bytes of its text in these
    /// searches was a quarter of the merge's CPU (memcmp, perf), on the
    /// writer's path.
    groups: BTreeMap<(i64, String), Vec<Fold>>,
    rules: NetworkRules,
}

impl Plan {
    /// Refuses a MAC that is not one (the report crate checks them before).
    pub fn new(sightings: &[(Sighting, bool)], rules: &NetworkRules) -> Result<Plan, sqlx::Error> {
        let mut groups: BTreeMap<(i64, String), Vec<Fold>> = BTreeMap::new();
        for (s, estimated_device) in sightings {
            let Some(mac) = mac_to_int(&s.mac) else {
                return Err(sqlx::Error::Protocol(format!("{:?} is not a MAC address", s.mac)));
            };
            let f = Fold::of_row(s, *estimated_device);
            groups.entry((mac, f.last_node.clone())).or_default().push(f.clone());
            groups.entry((mac, String::new())).or_default().push(f);
        }
        Ok(Plan { groups, rules: rules.clone() })
    }

    /// The SELECTs of every stored visit these rows may meet (none without
    /// rows), `LOOKUP_CHUNK` clients a statement.
    ///
    /// On SQLite each (scope, client) is looked up by its own rows' span [lo, hi]: a
    /// visit meets them when it starts before hi + timeout and ends after
    /// lo - timeout. Bounding the start alone read every visit the client
    /// ever had (a regular's history grew each day, and ingest slowed with
    /// it); the end has no index in the key. But a client's stored visits
    /// are at least a timeout apart, each ending before the next starts, so
    /// of those that start before lo - timeout only the latest can reach
    /// past it: the visits starting in [lo - timeout, hi + timeout) and
    /// that one, two seeks of the key however long the history.
    pub fn lookup(&self, numbered: bool, network_id: i64) -> Vec<Sql> {
        let timeout = self.rules.visits.session_timeout;
        let keys: Vec<(&String, i64, i64, i64)> = self
            .groups
            .iter()
            .map(|((mac, scope), rows)| {
                let lo = rows.iter().map(|f| f.start).min().unwrap_or_default();
                let hi = rows.iter().map(|f| f.end).max().unwrap_or_default();
                (scope, *mac, lo.saturating_sub(timeout), hi.saturating_add(timeout))
            })
            .collect();
        if numbered {
            return if keys.is_empty() { Vec::new() } else { vec![postgres_lookup(&keys, network_id)] };
        }
        let columns: Vec<String> = VISIT_COLUMNS.split(", ").map(|c| format!("v.{c} AS {c}")).collect();
        let columns = columns.join(", ");
        let mut out = Vec::new();
        // The visits found come back as one JSON text (`folds_of_json`):
        // sqlx hands each row of a result from SQLite's thread to ours on
        // its own, its values copied one by one, which cost more of the
        // writer than finding them (perf: 14 % of ingest's wall time, at
        // 100 visits a report of 50 clients).
        for chunk in keys.chunks(LOOKUP_CHUNK) {
            let mut q = Sql::new(numbered, "WITH k(scope, mac, lo, hi) AS (VALUES ");
            for (i, (scope, mac, lo, hi)) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(",");
                }
                q.tuple([
                    Param::Text((*scope).clone()),
                    Param::Int(*mac),
                    Param::Int(*lo),
                    Param::Int(*hi),
                ]);
            }
            q.push(&format!(") SELECT json_group_array(json_array({VISIT_COLUMNS})) FROM (SELECT {columns} FROM k JOIN visits v ON v.network_id = "));
            q.bind(Param::Int(network_id));
            q.push(" AND v.scope = k.scope AND v.mac = k.mac AND v.start_time >= k.lo AND v.start_time < k.hi");
            q.push(&format!(" UNION ALL SELECT {columns} FROM k JOIN visits v ON v.network_id = "));
            q.bind(Param::Int(network_id));
            q.push(" AND v.scope = k.scope AND v.mac = k.mac AND v.start_time = (SELECT w.start_time FROM visits w WHERE w.network_id = ");
            q.bind(Param::Int(network_id));
            q.push(" AND w.scope = k.scope AND w.mac = k.mac AND w.start_time < k.lo ORDER BY w.start_time DESC LIMIT 1) WHERE v.end_time > k.lo)");
            out.push(q);
        }
        out
    }

    /// The network-wide visits that `statements` writes given the same
    /// stored visits, each with the stored ones it replaces (by the same
    /// `merge`): what webhooks tell.
    pub fn network_changes(&self, stored: &[(String, Fold)]) -> Vec<VisitChange> {
        let mut by_client: HashMap<i64, Vec<Fold>> = HashMap::new();
        for (_, f) in stored.iter().filter(|(scope, _)| scope.is_empty()) {
            by_client.entry(mac_to_int(&f.mac).unwrap_or_default()).or_default().push(f.clone());
        }
        let mut out = Vec::new();
        for ((mac, _), rows) in self.groups.iter().filter(|((_, scope), _)| scope.is_empty()) {
            let of_client = by_client.get(mac).map(Vec::as_slice).unwrap_or(&[]);
            let change = merge(of_client, rows, self.rules.visits.session_timeout);
            out.extend(change.write.into_iter().zip(change.replaced).map(|(visit, replaced)| VisitChange { visit, replaced }));
        }
        out
    }

    /// The writes, given the stored visits `lookup` found.
    pub fn statements(self, stored: Vec<(String, Fold)>, numbered: bool, network_id: i64) -> Vec<Sql> {
        let mut by_group: HashMap<(i64, String), Vec<Fold>> = HashMap::new();
        for (scope, f) in stored {
            by_group.entry((mac_to_int(&f.mac).unwrap_or_default(), scope)).or_default().push(f);
        }
        let offset = self.rules.utc_offset;
        // MACs as the integers of the groups' keys: parsing their text again
        // here was a tenth of this function (perf).
        let mut deletes: Vec<(String, i64, i64)> = Vec::new();
        let mut writes: Vec<(String, i64, Fold)> = Vec::new();
        let mut days: Vec<(String, i64, i64)> = Vec::new();
        let mut touched: Vec<(String, i64, i64)> = Vec::new();
        for (key, rows) in &self.groups {
            let (mac, scope) = (key.0, &key.1);
            let stored = by_group.get(key).map(Vec::as_slice).unwrap_or(&[]);
            let change = merge(stored, rows, self.rules.visits.session_timeout);
            deletes.extend(change.delete.iter().map(|start| (scope.clone(), mac, *start)));
            for (fold, replaced) in change.write.into_iter().zip(&change.replaced) {
                days.extend(new_days(fold.start, fold.end, replaced, offset).into_iter().map(|d| (scope.clone(), mac, d)));
                touched.extend(std::iter::once((fold.start, fold.end)).chain(replaced.iter().copied()).map(|(s, e)| (scope.clone(), s, e)));
                writes.push((scope.clone(), mac, fold));
            }
        }
        let mut out = Vec::new();
        for (scope, mac, start) in deletes {
            let mut q = Sql::new(numbered, "DELETE FROM visits WHERE network_id = ");
            q.bind(Param::Int(network_id)).push(" AND scope = ").bind(Param::Text(scope));
            q.push(" AND mac = ").bind(Param::Int(mac));
            q.push(" AND start_time = ").bind(Param::Int(start));
            out.push(q);
        }
        for chunk in writes.chunks(UPSERT_CHUNK) {
            let mut q = Sql::new(
                numbered,
                "INSERT INTO visits (network_id, scope, mac, start_time, start_last, first_node, end_time, end_first, \
                 last_node, best_signal, connected, start_day, estimated_device) VALUES ",
            );
            for (i, (scope, mac, f)) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(",");
                }
                q.tuple([
                    Param::Int(network_id),
                    Param::Text(scope.clone()),
                    Param::Int(*mac),
                    Param::Int(f.start),
                    Param::Int(f.start_last),
                    Param::Text(f.first_node.clone()),
                    Param::Int(f.end),
                    Param::Int(f.end_first),
                    Param::Text(f.last_node.clone()),
                    Param::Int(i64::from(f.best_signal)),
                    Param::Bool(f.connected),
                    Param::Int(local_day(f.start, offset)),
                    Param::Bool(f.estimated_device),
                ]);
            }
            q.push(
                " ON CONFLICT (network_id, scope, mac, start_time) DO UPDATE SET start_last = excluded.start_last, \
                 first_node = excluded.first_node, end_time = excluded.end_time, end_first = excluded.end_first, \
                 last_node = excluded.last_node, best_signal = excluded.best_signal, connected = excluded.connected, \
                 estimated_device = excluded.estimated_device",
            );
            out.push(q);
        }
        for chunk in days.chunks(DAYS_CHUNK) {
            let mut q = Sql::new(numbered, "INSERT INTO client_days (network_id, scope, mac, day) VALUES ");
            for (i, (scope, mac, day)) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(",");
                }
                q.tuple([Param::Int(network_id), Param::Text(scope.clone()), Param::Int(*mac), Param::Int(*day)]);
            }
            q.push(" ON CONFLICT (network_id, scope, mac, day) DO NOTHING");
            out.push(q);
        }
        out.extend(super::figures::mark_dirty(numbered, network_id, offset, &touched, &days));
        out
    }
}

/// Raw rows per transaction of a rebuild.
const REBUILD_CHUNK: i64 = 5000;

/// The text the stored rules are compared by.
fn fingerprint(rules: &NetworkRules) -> String {
    let v = &rules.visits;
    format!("session_timeout={} min_dwell={} min_signal={} utc_offset={}", v.session_timeout, v.min_dwell, v.min_signal, rules.utc_offset)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rebuilt {
    pub networks: u64,
    pub rows: u64,
}

impl Store {
    /// The rules a network's visits are built by: the config's, else the defaults.
    pub fn rules_for(&self, network_id: i64) -> NetworkRules {
        let rules = self.rules.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        rules.get(&network_id).cloned().unwrap_or_default()
    }

    /// Takes the config's rules per network; answers the networks whose
    /// stored visits were built with other rules (they need
    /// `rebuild_analytics` before their figures are right).
    pub async fn use_rules(&self, configured: impl IntoIterator<Item = (i64, NetworkRules)>) -> Result<Vec<i64>, StoreError> {
        {
            let mut rules = self.rules.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            rules.clear();
            rules.extend(configured);
        }
        // The writer's connection: what it reads is what it last wrote.
        let (stored, built) = on_pool!(self, writer, pool => {
            let stored: Vec<(i64, String)> = sqlx::query("SELECT network_id, rules FROM analytics_rules")
                .fetch_all(pool).await?
                .iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect::<Result<_, StoreError>>()?;
            let built: Vec<i64> = sqlx::query("SELECT DISTINCT network_id FROM visits")
                .fetch_all(pool).await?
                .iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?;
            (stored, built)
        });
        let default = fingerprint(&NetworkRules::default());
        let configured: Vec<i64> = self.rules.read().unwrap_or_else(|poisoned| poisoned.into_inner()).keys().copied().collect();
        for id in configured.into_iter().filter(|id| !built.contains(id) && !stored.iter().any(|(n, _)| n == id)) {
            // Nothing built yet: what will be built is by these rules.
            on_pool!(self, writer, pool => {
                sqlx::query("INSERT INTO analytics_rules (network_id, rules) VALUES ($1, $2) ON CONFLICT (network_id) DO NOTHING")
                    .bind(id)
                    .bind(fingerprint(&self.rules_for(id)))
                    .execute(pool)
                    .await?;
            });
        }
        let mut stale = Vec::new();
        for id in built {
            let was = stored.iter().find(|(n, _)| *n == id).map_or(default.as_str(), |(_, r)| r.as_str());
            if was != fingerprint(&self.rules_for(id)) {
                stale.push(id);
            }
        }
        Ok(stale)
    }

    /// Recomputes the stored visits and days of `networks` (every network
    /// with rows when None) from the raw rows, by the same merge as ingest,
    /// and records the rules they are built by. For a stopped server or
    /// before serving: reports ingested meanwhile would be merged twice,
    /// harmlessly (a repeated row changes nothing) but slowly.
    pub async fn rebuild_analytics(&self, networks: Option<&[i64]>) -> Result<Rebuilt, StoreError> {
        let numbered = matches!(self.db, Db::Postgres(_));
        let ids: Vec<i64> = match networks {
            Some(ids) => ids.to_vec(),
            None => on_pool!(self, pool => sqlx::query("SELECT DISTINCT network_id FROM probe_rows ORDER BY network_id")
                .fetch_all(pool).await?
                .iter().map(|r| r.try_get(0)).collect::<Result<_, _>>()?),
        };
        let mut done = Rebuilt::default();
        for network_id in ids {
            let rules = self.rules_for(network_id);
            on_pool!(self, writer, pool => {
                let mut tx = pool.begin().await?;
                for table in ["visits", "client_days", "analytics_rules"].iter().chain(super::figures::TABLES) {
                    sqlx::query(&format!("DELETE FROM {table} WHERE network_id = $1")).bind(network_id).execute(&mut *tx).await?;
                }
                sqlx::query("INSERT INTO analytics_rules (network_id, rules) VALUES ($1, $2)")
                    .bind(network_id).bind(fingerprint(&rules)).execute(&mut *tx).await?;
                tx.commit().await?;
                let mut after = i64::MIN;
                loop {
                    let rows = sqlx::query(
                        "SELECT id, node_mac, mac, first_seen, last_seen, max_signal, associated, estimated_device FROM probe_rows \
                         WHERE network_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                    )
                    .bind(network_id).bind(after).bind(REBUILD_CHUNK)
                    .fetch_all(pool).await?;
                    let Some(last) = rows.last() else { break };
                    after = last.try_get("id")?;
                    let mut sightings = Vec::with_capacity(rows.len());
                    for r in &rows {
                        sightings.push(sighting_of_row!(r)?);
                    }
                    let mut tx = pool.begin().await?;
                    if numbered {
                        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(network_id).execute(&mut *tx).await?;
                    }
                    sessionize_in_tx!(tx, numbered, network_id, &sightings, &rules, false);
                    tx.commit().await?;
                    done.rows += rows.len() as u64;
                }
            });
            done.networks += 1;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_of_a_lookups_json_by_hand() {
        // What SQLite's json_array gives for one visit: booleans as 0 / 1.
        let found = r#"[["AC:86:74:82:9A:30",664879174985,1475860695,1475860718,"AC:86:74:82:9A:30",1475860900,1475860880,"AC:86:74:82:9A:31",-36,1,0]]"#;
        let folds = folds_of_json(found).unwrap();
        assert_eq!(folds.len(), 1);
        let (scope, f) = &folds[0];
        assert_eq!(scope, "AC:86:74:82:9A:30");
        // The contract's example MAC, 0x009a_cde3_1549.
        assert_eq!(f.mac, "00:9a:cd:e3:15:49");
        assert_eq!((f.start, f.start_last, f.end, f.end_first), (1475860695, 1475860718, 1475860900, 1475860880));
        assert_eq!((f.first_node.as_str(), f.last_node.as_str(), f.best_signal), ("AC:86:74:82:9A:30", "AC:86:74:82:9A:31", -36));
        assert!(f.connected && !f.estimated_device);
        assert!(folds_of_json("[]").unwrap().is_empty(), "no visit found");
        let bad = folds_of_json(r#"[["",1,2]]"#).unwrap_err().to_string();
        assert!(bad.contains("the visits looked up"), "{bad}");
    }

    #[test]
    fn macs_as_integers_both_ways() {
        assert_eq!(mac_to_int("00:00:00:00:01:02"), Some(258));
        assert_eq!(mac_to_int("FF:ff:ff:ff:ff:ff"), Some((1 << 48) - 1));
        assert_eq!(int_to_mac(0xda_a1_19_00_00_01), "da:a1:19:00:00:01");
        for bad in ["", "00:00:00:00:00", "00:00:00:00:00:0g", "000:00:00:00:00:0", "00:00:00:00:00:00:00"] {
            assert_eq!(mac_to_int(bad), None, "{bad}");
        }
    }

    #[test]
    fn placeholders_follow_the_database() {
        let mut q = Sql::new(true, "x IN ");
        q.tuple([Param::Int(1), Param::Int(2)]).push(" AND y = ").bind(Param::Bool(true));
        assert_eq!(q.text, "x IN ($1,$2) AND y = $3");
        let mut q = Sql::new(false, "x IN ");
        q.tuple([Param::Int(1), Param::Int(2)]);
        assert_eq!(q.text, "x IN (?,?)");
    }
}
