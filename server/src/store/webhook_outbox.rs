//! Webhooks' half of the store: each network's detector (`webhooks`, pure)
//! kept in the database, its events written to an outbox in the same
//! transaction as the report or clock tick that made them, and each
//! endpoint's progress through the outbox.
//!
//! Why this gives each event once, across restarts and processes: the
//! detector is read, fed and written back inside the report's own
//! transaction (on PostgreSQL under the network's advisory lock that ingest
//! already takes; on SQLite the one writer), so an event exists exactly when
//! the change that made it was committed, with the next sequence. A clock
//! tick does the same in a transaction of its own, and a second process's
//! tick then reads the state the first wrote and finds nothing left to say.
//! Each endpoint's progress row (the last sequence delivered or dropped) is
//! claimed for one event at a time: on PostgreSQL with `FOR UPDATE SKIP
//! LOCKED`, so one process sends and the other skips; advanced only after a
//! 2xx or after the retries ran out.

use sqlx::Row;

use super::{Db, Store, StoreError};
use crate::analytics::visits::VisitRules;
use crate::webhooks::{HookEvent, NetworkDetector};

/// The detector of `network_id` from its stored state (None: a new one).
pub fn detector(state: Option<&str>, network_id: i64, rules: VisitRules) -> Result<NetworkDetector, StoreError> {
    match state {
        None => Ok(NetworkDetector::new(network_id as u64, rules)),
        Some(s) => NetworkDetector::from_state(s, rules)
            .map_err(|e| sqlx::Error::Protocol(format!("the stored webhook state of network {network_id} does not parse: {e}"))),
    }
}

/// Reads `$network_id`'s detector in `$tx`, runs `$feed` on it (`$d`), and
/// writes its events to the outbox and its state back: always when
/// `$always` (a report changes the state even without an event), else only
/// when there are events (a tick changes nothing else).
macro_rules! detect_in_tx {
    ($tx:ident, $network_id:expr, $rules:expr, $now:expr, $always:expr, |$d:ident| $feed:expr) => {{
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM webhook_detectors WHERE network_id = $1")
            .bind($network_id)
            .fetch_optional(&mut *$tx)
            .await?;
        let mut $d = $crate::store::webhook_outbox::detector(state.as_deref(), $network_id, $rules)?;
        let events: Vec<$crate::webhooks::HookEvent> = $feed;
        if $always || !events.is_empty() {
            for e in &events {
                sqlx::query("INSERT INTO webhook_events (network_id, sequence, event, created_at) VALUES ($1, $2, $3, $4)")
                    .bind($network_id)
                    .bind(e.sequence as i64)
                    .bind(serde_json::to_string(e).unwrap_or_default())
                    .bind($now)
                    .execute(&mut *$tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO webhook_detectors (network_id, state) VALUES ($1, $2) \
                 ON CONFLICT (network_id) DO UPDATE SET state = excluded.state",
            )
            .bind($network_id)
            .bind($d.to_state())
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
    /// Networks whose reports feed a webhook detector (the config's, at start).
    pub fn use_webhooks(&self, networks: impl IntoIterator<Item = i64>) {
        let mut hooked = self.hooked.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        hooked.clear();
        hooked.extend(networks);
    }

    pub(super) fn is_hooked(&self, network_id: i64) -> bool {
        self.hooked.read().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(&network_id)
    }

    /// The clock at `now` for `network_id`'s detector: leaves, silences;
    /// answers how many events it wrote.
    pub async fn webhook_tick(&self, network_id: i64, now: i64) -> Result<usize, StoreError> {
        let rules = self.rules_for(network_id).visits;
        let numbered = matches!(self.db, Db::Postgres(_));
        on_pool!(self, writer, pool => {
            let mut tx = pool.begin().await?;
            if numbered {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(network_id).execute(&mut *tx).await?;
            }
            let n = detect_in_tx!(tx, network_id, rules, now, false, |d| d.on_tick(now));
            tx.commit().await?;
            Ok(n)
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
