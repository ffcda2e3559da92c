//! Webhooks' half of the store: the events of the stored visits' changes
//! (`analytics::hook_events` decides) written to an outbox in the same
//! transaction as the report or clock tick that made them, each network's
//! small state (`webhook_networks`: sequence, clock, occupancy;
//! `webhook_channels`: per access point), and each endpoint's progress
//! through the outbox.
//!
//! Why this gives each event once, across restarts and processes: the
//! network's row is read and written inside the report's own transaction,
//! the one that writes its visits (on PostgreSQL under the network's
//! advisory lock that ingest already takes; on SQLite the one writer), so
//! an event exists exactly when the change that made it was committed, with
//! the next sequence. A clock tick does the same in a transaction of its
//! own, and a second process's tick then reads the clock the first wrote
//! and finds nothing left to say. Each endpoint's progress row (the last
//! sequence delivered or dropped) is claimed for one event at a time: on
//! PostgreSQL with `FOR UPDATE SKIP LOCKED`, so one process sends and the
//! other skips; advanced only after a 2xx or after the retries ran out.

use sqlx::Row;

use super::{Db, Store, StoreError};
use crate::analytics::hook_events::{HookEvent, VisitChange};

/// What moves a network's webhook state: a stored report (its access point,
/// the network-wide visits it wrote, the time its rows reach) or the clock.
pub enum Step<'a> {
    Report { node: &'a str, changes: &'a [VisitChange], stream: Option<i64> },
    Tick,
}

/// The network's row: (sequence, clock, lag, occupancy); a new one when none.
pub(super) type NetworkRow = (i64, Option<i64>, i64, i64);

/// In `$tx`: the events `$step` makes for `$network_id` (judged by
/// `$rules`, the server's clock `$now`), written to the outbox with the
/// next sequences, and the network's and access points' rows updated;
/// evaluates to how many events. A tick that tells nothing writes nothing.
macro_rules! hooks_in_tx {
    ($tx:ident, $network_id:expr, $rules:expr, $now:expr, $step:expr) => {{
        use $crate::analytics::hook_events as detect;
        use $crate::store::webhook_outbox::Step;
        let network_id: i64 = $network_id;
        let rules: &$crate::analytics::visits::VisitRules = $rules;
        let now: i64 = $now;
        let step: Step<'_> = $step;
        let row: Option<$crate::store::webhook_outbox::NetworkRow> =
            sqlx::query_as("SELECT sequence, clock, lag, occupancy FROM webhook_networks WHERE network_id = $1")
                .bind(network_id)
                .fetch_optional(&mut *$tx)
                .await?;
        let (sequence, clock, lag, occupancy) = row.unwrap_or((0, None, 0, 0));
        let nid = network_id as u64;
        let mut first: Vec<detect::HookEvent> = Vec::new();
        let mut events: Vec<detect::HookEvent> = Vec::new();
        let (mut beyond_horizon, mut after_leave) = (0i64, 0i64);
        let (before, after, new_lag, changed_visits) = match &step {
            Step::Report { node, changes, stream } => {
                let silent: Option<bool> = sqlx::query_scalar("SELECT silent FROM webhook_channels WHERE network_id = $1 AND node_mac = $2")
                    .bind(network_id)
                    .bind(*node)
                    .fetch_optional(&mut *$tx)
                    .await?;
                if silent == Some(true) {
                    first.push(detect::HookEvent::new(nid, detect::HookKind::ChannelReporting, now, Some(node.to_string())));
                }
                let times: Vec<i64> = sqlx::query_scalar(
                    "SELECT received_at FROM reports WHERE network_id = $1 AND node_mac = $2 ORDER BY received_at DESC LIMIT $3",
                )
                .bind(network_id)
                .bind(*node)
                .bind($crate::analytics::INTERVAL_SAMPLE as i64)
                .fetch_all(&mut *$tx)
                .await?;
                sqlx::query(
                    "INSERT INTO webhook_channels (network_id, node_mac, silent, report_interval) VALUES ($1, $2, FALSE, $3) \
                     ON CONFLICT (network_id, node_mac) DO UPDATE SET silent = FALSE, report_interval = excluded.report_interval",
                )
                .bind(network_id)
                .bind(*node)
                .bind($crate::analytics::infer_interval(&times))
                .execute(&mut *$tx)
                .await?;
                let before = clock.or(*stream);
                if let Some(c) = before {
                    let told = detect::judge(nid, changes, c, rules);
                    events.extend(told.events);
                    beyond_horizon = told.beyond_horizon as i64;
                    after_leave = told.after_leave as i64;
                }
                // Only a report at the head of the stream says how far the
                // stream is behind: a late one would hold the clock back.
                let new_lag = match (*stream, clock) {
                    (Some(s), Some(c)) if s < c => lag,
                    (Some(s), _) => (now - s).max(0),
                    (None, _) => lag,
                };
                (before, detect::clock_after_report(clock, *stream), new_lag, !changes.is_empty())
            }
            Step::Tick => (clock, detect::clock_at(clock, lag, now), lag, false),
        };
        let mut closed = false;
        if let (Some(b), Some(a)) = (before, after) {
            if let Some((from, to)) = detect::closing(b, a, rules) {
                let rows = sqlx::query(
                    "SELECT mac, start_time, end_time, last_node, best_signal, estimated_device FROM visits \
                     WHERE network_id = $1 AND scope = '' AND end_time > $2 AND end_time <= $3",
                )
                .bind(network_id)
                .bind(from)
                .bind(to)
                .fetch_all(&mut *$tx)
                .await?;
                for r in &rows {
                    let v = detect::ClosedVisit {
                        mac: $crate::store::stored_visits::int_to_mac(r.try_get("mac")?),
                        start: r.try_get("start_time")?,
                        end: r.try_get("end_time")?,
                        last_node: r.try_get("last_node")?,
                        best_signal: r.try_get("best_signal")?,
                        estimated_device: r.try_get("estimated_device")?,
                    };
                    events.push(detect::leave(nid, &v, rules));
                    closed = true;
                }
            }
        }
        detect::in_order(&mut events);
        let mut total = occupancy as u64;
        if let (Some(at), true) = (after, changed_visits || closed) {
            let open = sqlx::query(
                "SELECT last_node, COUNT(*) AS n FROM visits WHERE network_id = $1 AND scope = '' AND end_time > $2 \
                 AND end_time - start_time >= $3 AND best_signal >= $4 GROUP BY last_node",
            )
            .bind(network_id)
            .bind(at - rules.session_timeout)
            .bind(rules.min_dwell)
            .bind(rules.min_signal)
            .fetch_all(&mut *$tx)
            .await?;
            let mut now_by_node = std::collections::BTreeMap::new();
            for r in &open {
                now_by_node.insert(r.try_get::<String, _>("last_node")?, r.try_get::<i64, _>("n")? as u64);
            }
            let told = sqlx::query("SELECT node_mac, occupancy FROM webhook_channels WHERE network_id = $1 AND occupancy > 0")
                .bind(network_id)
                .fetch_all(&mut *$tx)
                .await?;
            let mut told_by_node = std::collections::BTreeMap::new();
            for r in &told {
                told_by_node.insert(r.try_get::<String, _>("node_mac")?, r.try_get::<i64, _>("occupancy")? as u64);
            }
            let changes = detect::occupancy_changes(nid, at, &told_by_node, &now_by_node, total);
            for e in &changes {
                match &e.channel_id {
                    Some(node) => {
                        sqlx::query(
                            "INSERT INTO webhook_channels (network_id, node_mac, occupancy) VALUES ($1, $2, $3) \
                             ON CONFLICT (network_id, node_mac) DO UPDATE SET occupancy = excluded.occupancy",
                        )
                        .bind(network_id)
                        .bind(node)
                        .bind(e.occupancy.unwrap_or(0) as i64)
                        .execute(&mut *$tx)
                        .await?;
                    }
                    None => total = e.occupancy.unwrap_or(0),
                }
            }
            events.extend(changes);
        }
        if let Step::Tick = step {
            let quiet = sqlx::query(
                "SELECT c.node_mac, a.last_report, c.report_interval FROM webhook_channels c \
                 JOIN access_points a ON a.network_id = c.network_id AND a.node_mac = c.node_mac \
                 WHERE c.network_id = $1 AND NOT c.silent AND c.report_interval IS NOT NULL AND a.last_report IS NOT NULL \
                 AND $2 - a.last_report > 3 * c.report_interval ORDER BY c.node_mac",
            )
            .bind(network_id)
            .bind(now)
            .fetch_all(&mut *$tx)
            .await?;
            for r in &quiet {
                let node: String = r.try_get("node_mac")?;
                if $crate::analytics::is_silent(now, r.try_get("last_report")?, r.try_get("report_interval")?) {
                    sqlx::query("UPDATE webhook_channels SET silent = TRUE WHERE network_id = $1 AND node_mac = $2")
                        .bind(network_id)
                        .bind(&node)
                        .execute(&mut *$tx)
                        .await?;
                    events.push(detect::HookEvent::new(nid, detect::HookKind::ChannelSilent, now, Some(node)));
                }
            }
        }
        first.append(&mut events);
        let events = first;
        let report = matches!(step, Step::Report { .. });
        if report || !events.is_empty() {
            for (k, e) in events.iter().enumerate() {
                let mut e = e.clone();
                e.sequence = sequence as u64 + k as u64 + 1;
                sqlx::query("INSERT INTO webhook_events (network_id, sequence, event, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(network_id)
                    .bind(e.sequence as i64)
                    .bind(serde_json::to_string(&e).unwrap_or_default())
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO webhook_networks (network_id, sequence, clock, lag, occupancy, late_beyond_horizon, late_after_leave) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (network_id) DO UPDATE SET sequence = excluded.sequence, \
                 clock = excluded.clock, lag = excluded.lag, occupancy = excluded.occupancy, \
                 late_beyond_horizon = webhook_networks.late_beyond_horizon + excluded.late_beyond_horizon, \
                 late_after_leave = webhook_networks.late_after_leave + excluded.late_after_leave",
            )
            .bind(network_id)
            .bind(sequence + events.len() as i64)
            .bind(after)
            .bind(new_lag)
            .bind(total as i64)
            .bind(beyond_horizon)
            .bind(after_leave)
            .execute(&mut *$tx)
            .await?;
        }
        events.len()
    }};
}

/// One endpoint's next event, claimed: on PostgreSQL the transaction that
/// holds its progress row locked until `finish` (or drop: released, the
/// event stays for the next claim).
pub struct Claim {
    pub sequence: i64,
    pub event: HookEvent,
    network_id: i64,
    url: String,
    locked: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
}

fn parse_event(text: &str) -> Result<HookEvent, StoreError> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::Protocol(format!("a stored webhook event does not parse: {e}")))
}

impl Store {
    /// Networks whose reports are told to webhooks (the config's, at start).
    pub fn use_webhooks(&self, networks: impl IntoIterator<Item = i64>) {
        let mut hooked = self.hooked.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        hooked.clear();
        hooked.extend(networks);
    }

    pub(super) fn is_hooked(&self, network_id: i64) -> bool {
        self.hooked.read().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(&network_id)
    }

    /// The server's clock at `now` for `network_id`: the leaves its clock
    /// now passes, silent access points; answers how many events it wrote.
    pub async fn webhook_tick(&self, network_id: i64, now: i64) -> Result<usize, StoreError> {
        let rules = self.rules_for(network_id).visits;
        let numbered = matches!(self.db, Db::Postgres(_));
        on_pool!(self, writer, pool => {
            let mut tx = pool.begin().await?;
            if numbered {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(network_id).execute(&mut *tx).await?;
            }
            let n = hooks_in_tx!(tx, network_id, &rules, now, Step::Tick);
            tx.commit().await?;
            Ok(n)
        })
    }

    /// The late visit changes of `network_id` that no webhook was told:
    /// (beyond the horizon, to a visit already told as left).
    pub async fn webhook_late_counts(&self, network_id: i64) -> Result<(i64, i64), StoreError> {
        on_pool!(self, pool => {
            let row: Option<(i64, i64)> =
                sqlx::query_as("SELECT late_beyond_horizon, late_after_leave FROM webhook_networks WHERE network_id = $1")
                    .bind(network_id)
                    .fetch_optional(pool)
                    .await?;
            Ok(row.unwrap_or((0, 0)))
        })
    }

    /// Makes the progress row of an endpoint: a new endpoint starts after
    /// the events already in the outbox (they were not meant for it).
    pub async fn register_webhook(&self, network_id: i64, url: &str) -> Result<(), StoreError> {
        on_pool!(self, writer, pool => {
            sqlx::query(
                "INSERT INTO webhook_progress (network_id, url, done) \
                 SELECT $1, $2, COALESCE(MAX(sequence), 0) FROM webhook_events WHERE network_id = $1 \
                 ON CONFLICT (network_id, url) DO NOTHING",
            )
            .bind(network_id)
            .bind(url)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The endpoint's next event after its progress, claimed; None when
    /// there is none or (PostgreSQL) another process holds the endpoint.
    pub async fn claim_webhook_event(&self, network_id: i64, url: &str) -> Result<Option<Claim>, StoreError> {
        const NEXT: &str = "SELECT sequence, event FROM webhook_events WHERE network_id = $1 AND sequence > $2 ORDER BY sequence LIMIT 1";
        match &self.db {
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let done: Option<i64> =
                    sqlx::query_scalar("SELECT done FROM webhook_progress WHERE network_id = $1 AND url = $2 FOR UPDATE SKIP LOCKED")
                        .bind(network_id)
                        .bind(url)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(done) = done else { return Ok(None) };
                let Some(row) = sqlx::query(NEXT).bind(network_id).bind(done).fetch_optional(&mut *tx).await? else {
                    return Ok(None);
                };
                let event = parse_event(&row.try_get::<String, _>("event")?)?;
                Ok(Some(Claim { sequence: row.try_get("sequence")?, event, network_id, url: url.to_string(), locked: Some(tx) }))
            }
            // One process: nothing to lock against, and no transaction held
            // open on the one writer connection while a POST waits.
            Db::Sqlite { writer: pool, .. } => {
                let done: Option<i64> = sqlx::query_scalar("SELECT done FROM webhook_progress WHERE network_id = $1 AND url = $2")
                    .bind(network_id)
                    .bind(url)
                    .fetch_optional(pool)
                    .await?;
                let Some(done) = done else { return Ok(None) };
                let Some(row) = sqlx::query(NEXT).bind(network_id).bind(done).fetch_optional(pool).await? else {
                    return Ok(None);
                };
                let event = parse_event(&row.try_get::<String, _>("event")?)?;
                Ok(Some(Claim { sequence: row.try_get("sequence")?, event, network_id, url: url.to_string(), locked: None }))
            }
        }
    }

    /// The claimed event is done with (delivered, or dropped after its
    /// retries): the endpoint's progress moves past it.
    pub async fn finish_webhook_event(&self, claim: Claim) -> Result<(), StoreError> {
        const ADVANCE: &str = "UPDATE webhook_progress SET done = $1 WHERE network_id = $2 AND url = $3";
        match (claim.locked, &self.db) {
            (Some(mut tx), _) => {
                sqlx::query(ADVANCE).bind(claim.sequence).bind(claim.network_id).bind(&claim.url).execute(&mut *tx).await?;
                tx.commit().await
            }
            (None, Db::Sqlite { writer, .. }) => {
                sqlx::query(ADVANCE).bind(claim.sequence).bind(claim.network_id).bind(&claim.url).execute(writer).await?;
                Ok(())
            }
            (None, Db::Postgres(pool)) => {
                sqlx::query(ADVANCE).bind(claim.sequence).bind(claim.network_id).bind(&claim.url).execute(pool).await?;
                Ok(())
            }
        }
    }

    /// Deletes the outbox's events written before `cutoff`.
    pub async fn prune_webhook_events(&self, cutoff: i64) -> Result<u64, StoreError> {
        on_pool!(self, writer, pool => Ok(sqlx::query("DELETE FROM webhook_events WHERE created_at < $1")
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected()))
    }
}
