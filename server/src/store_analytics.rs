//! The store's queries for analytics: a network's sightings in a time range,
//! on either database. Apart from store.rs so that ingest and analytics
//! change independently.

use sqlx::Row;

use crate::store::{Store, StoreError};
use crate::metrics::{metrics, Metrics, Range, REPEAT_WINDOW_DAYS};
use crate::visits::{visits, NetworkRules, Sighting, Visit};

/// Rows one analytics request may read: beyond, the request is refused
/// with a message rather than holding memory without bound.
pub const SIGHTINGS_MAX: usize = 2_000_000;
/// See `Store::visits`.
pub const VISIT_LOOKBACK: i64 = 86_400;

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
        let mut sql = String::from(
            "SELECT mac, node_mac, first_seen, last_seen, max_signal, associated FROM probe_rows \
             WHERE network_id = $1 AND last_seen >= $2 AND first_seen < $3",
        );
        if node_mac.is_some() {
            sql.push_str(" AND node_mac = $4");
        }
        sql.push_str(" ORDER BY first_seen, id LIMIT ");
        sql.push_str(&(SIGHTINGS_MAX + 1).to_string());
        let node = node_mac.map(str::to_ascii_uppercase);
        macro_rules! run {
            ($pool:expr) => {{
                let mut q = sqlx::query(&sql).bind(network_id).bind(from).bind(until);
                if let Some(n) = &node {
                    q = q.bind(n);
                }
                q.fetch_all($pool).await?
                    .iter()
                    .map(|r| {
                        let first: i64 = r.try_get("first_seen")?;
                        let last: i64 = r.try_get("last_seen")?;
                        Ok(Sighting {
                            mac: r.try_get::<String, _>("mac")?.to_ascii_lowercase(),
                            node_mac: r.try_get::<String, _>("node_mac")?.to_ascii_uppercase(),
                            first_seen: first.min(last),
                            last_seen: first.max(last),
                            max_signal: r.try_get("max_signal")?,
                            associated: r.try_get("associated")?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?
            }};
        }
        let rows = match self {
            Store::Sqlite { reader, .. } => run!(reader),
            Store::Postgres(pool) => run!(pool),
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
    /// The metrics of a network (or one of its access points) over `range`,
    /// reading the 31 days before it too, for new vs repeat.
    pub async fn metrics(
        &self,
        network_id: i64,
        node_mac: Option<&str>,
        rules: &NetworkRules,
        range: &Range,
        now: i64,
    ) -> Result<Metrics, StoreError> {
        let history = range.since - (REPEAT_WINDOW_DAYS + 1) * 86_400 - rules.visits.session_timeout;
        let rows = self.sightings(network_id, node_mac, history, range.until).await?;
        let v = visits(&rows, &rules.visits);
        Ok(metrics(&v, range, &rules.visits, now))
    }

    /// The visits of a network (or one access point) that meet [from, until).
    /// Rows of the day before `from` are read too, so that a visit begun
    /// before the range is judged (visitor, dwell) on more than its tail;
    /// one longer than that day is judged on its last day only.
    pub async fn visits(
        &self,
        network_id: i64,
        node_mac: Option<&str>,
        rules: &NetworkRules,
        from: i64,
        until: i64,
    ) -> Result<Vec<Visit>, StoreError> {
        let lookback = rules.visits.session_timeout.max(VISIT_LOOKBACK);
        let rows = self.sightings(network_id, node_mac, from - lookback, until).await?;
        Ok(visits(&rows, &rules.visits).into_iter().filter(|v| v.end >= from && v.start < until).collect())
    }
}
