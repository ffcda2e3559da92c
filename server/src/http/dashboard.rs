//! The dashboard page, its charts' CSV and the webhooks' counters: thin
//! handlers over `web::dashboard` (rendering, pure), the store's metrics and
//! `webhooks::delivery`.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::web::dashboard::{self, DashboardQuery, DashboardView, CHARTS, FIELDS};
use crate::error::Error;
use crate::store::UNKNOWN_NETWORK;
use crate::clock::unix_now;
use crate::AppState;

/// Every network (configured, or seen in a report) with its label, and
/// every access point by network.
async fn known(state: &AppState, now: i64) -> Result<(Vec<(u64, String)>, BTreeMap<u64, Vec<String>>), sqlx::Error> {
    let mut networks: BTreeMap<u64, String> =
        state.config.networks.values().map(|n| (n.id, format!("{} ({})", n.name, n.id))).collect();
    let mut aps: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for a in state.store.access_points(now).await? {
        if a.node_mac.is_empty() || a.network_id == UNKNOWN_NETWORK || a.last_report.is_none() {
            continue;
        }
        let Ok(id) = u64::try_from(a.network_id) else { continue };
        networks.entry(id).or_insert_with(|| id.to_string());
        aps.entry(id).or_default().push(a.node_mac);
    }
    Ok((networks.into_iter().collect(), aps))
}

pub async fn page(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Result<Response, Error> {
    let now = unix_now();
    let values: BTreeMap<&'static str, String> =
        FIELDS.iter().filter_map(|f| query.get(*f).map(|v| (*f, v.trim().to_string()))).collect();
    let (networks, aps) = known(&state, now).await.map_err(Error::DatabaseUnavailable)?;
    let parsed = DashboardQuery::parse(&query, networks.first().map(|n| n.0), |id| state.config.rules_for(id).utc_offset, now);
    let no_aps = Vec::new();
    let (q, error, status) = match parsed {
        Ok(q) => (Some(q), None, StatusCode::OK),
        Err(e) => (None, Some(e), StatusCode::BAD_REQUEST),
    };
    let chosen = q.as_ref().map(|q| q.network_id).or_else(|| networks.first().map(|n| n.0));
    let access_points = chosen.and_then(|id| aps.get(&id)).unwrap_or(&no_aps);
    let metrics = match &q {
        Some(q) => {
            let rules = state.config.rules_for(q.network_id);
            Some(state.store.metrics(q.network_id as i64, q.node_mac.as_deref(), &rules, &q.range, now).await.map_err(Error::DatabaseUnavailable)?)
        }
        None => None,
    };
    let view = DashboardView { values: &values, networks: &networks, access_points, query: q.as_ref(), error, metrics: metrics.as_ref() };
    Ok((status, Html(dashboard::page(&view))).into_response())
}

pub async fn csv(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Result<Response, Error> {
    let now = unix_now();
    let chart = match query.get("chart").map(String::as_str) {
        Some(c) if CHARTS.contains(&c) => c.to_string(),
        other => return Err(Error::BadQuery(format!("chart: {:?} is not one of {}", other.unwrap_or(""), CHARTS.join(", ")))),
    };
    let (networks, _) = known(&state, now).await.map_err(Error::DatabaseUnavailable)?;
    let q = DashboardQuery::parse(&query, networks.first().map(|n| n.0), |id| state.config.rules_for(id).utc_offset, now)
        .map_err(Error::BadQuery)?;
    let rules = state.config.rules_for(q.network_id);
    let m = state.store.metrics(q.network_id as i64, q.node_mac.as_deref(), &rules, &q.range, now).await.map_err(Error::DatabaseUnavailable)?;
    let tables = dashboard::tables(&m, q.range.utc_offset, q.range.bucket == crate::analytics::metrics::Bucket::Hour);
    let Some(table) = tables.iter().find(|t| t.id == chart) else {
        return Err(Error::BadQuery(format!("chart: {chart:?} is not drawn")));
    };
    let name = format!("{}-{}{}.csv", chart, q.network_id, q.node_mac.as_deref().map(|m| format!("-{}", m.replace(':', ""))).unwrap_or_default());
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))],
        dashboard::csv(table),
    )
        .into_response())
}

/// The webhooks' counters: delivered, failed attempts, dropped.
pub async fn webhooks_status(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], state.webhooks.status(&state.store).await.to_string()).into_response()
}
