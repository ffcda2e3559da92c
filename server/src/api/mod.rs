//! The query API in Camlytics' shape (`/service/api/v1/...`), over visits:
//! thin handlers over `auth` (signing, nonce, rate), `params` (the query),
//! `events` (visits as RegionJoin / RegionLeave) and the store.
//!
//! Every answer is the envelope `{"msg":"success","result":[...],"code":0}`;
//! a refusal is `{"msg":"<what is wrong>","result":[],"code":N}` with the
//! HTTP status (README, "Query API", lists the codes).

pub mod admission;
pub mod auth;
pub mod events;
pub mod params;

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use crate::config::{ApiKey, Config};
use crate::metrics::{Bucket, Range};
use crate::visits::AddressClass;
use crate::store::{Store, UNKNOWN_NETWORK};
use crate::{unix_now, unix_now_ms, AppState};
use auth::Refusal;
use events::{Event, EventType};
use params::{format_time, ApiQuery};

pub const PREFIX: &str = "/service/api/v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Locations,
    Channels,
    Events,
    TotalsTypes,
    TotalsTriggers,
    Histograms,
}

const ENDPOINTS: [(&str, Endpoint); 6] = [
    ("locations", Endpoint::Locations),
    ("channels", Endpoint::Channels),
    ("events", Endpoint::Events),
    ("totals/types", Endpoint::TotalsTypes),
    ("totals/triggers", Endpoint::TotalsTriggers),
    ("histograms", Endpoint::Histograms),
];

pub fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for (path, endpoint) in ENDPOINTS {
        r = r.route(
            &format!("{PREFIX}/{path}"),
            get(move |state: State<AppState>, uri: Uri, headers: HeaderMap| answer(endpoint, state, uri, headers)),
        );
    }
    r.route(&format!("{PREFIX}/{{*rest}}"), get(unknown_endpoint)).route(PREFIX, get(unknown_endpoint))
}

async fn unknown_endpoint() -> Response {
    let names: Vec<&str> = ENDPOINTS.iter().map(|(p, _)| *p).collect();
    failure(StatusCode::NOT_FOUND, 5, format!("no such endpoint; they are {PREFIX}/ + {}", names.join(", ")))
}

/// The envelope of a refusal.
fn failure(status: StatusCode, code: u32, msg: impl Into<String>) -> Response {
    let body = json!({"msg": msg.into(), "result": [], "code": code});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn success(result: Vec<Value>) -> Response {
    let body = json!({"msg": "success", "result": result, "code": 0});
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn refused(r: Refusal) -> Response {
    let (status, code) = match r {
        Refusal::MissingKey | Refusal::UnknownKey | Refusal::MissingSign | Refusal::BadSign => (StatusCode::UNAUTHORIZED, 2),
        Refusal::MissingNonce | Refusal::BadNonce(_) => (StatusCode::BAD_REQUEST, 1),
        Refusal::StaleNonce { .. } => (StatusCode::UNAUTHORIZED, 3),
        Refusal::RateLimited => (StatusCode::TOO_MANY_REQUESTS, 6),
    };
    failure(status, code, r.to_string())
}

/// Why a request is not answered: the API's rule, or the database that
/// keeps the keys' state.
enum NotAdmitted {
    Refused(Refusal),
    Database(sqlx::Error),
}

impl From<Refusal> for NotAdmitted {
    fn from(r: Refusal) -> NotAdmitted {
        NotAdmitted::Refused(r)
    }
}

/// The key a request is signed with, once its X-Sign, nonce and rate pass.
/// The nonce and the rate are checked against the database, so that they
/// hold across every server process sharing it.
async fn authenticate<'a>(
    config: &'a Config,
    store: &Store,
    uri: &Uri,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Result<&'a ApiKey, NotAdmitted> {
    // Header names are case-blind in HTTP: `X-Key` and the seed's `X-key`
    // are the same header.
    let public = headers.get("x-key").and_then(|v| v.to_str().ok()).map(str::trim).ok_or(Refusal::MissingKey)?;
    let key = config.api_keys.get(public).ok_or(Refusal::UnknownKey)?;
    let sign = headers.get("x-sign").and_then(|v| v.to_str().ok()).ok_or(Refusal::MissingSign)?;
    // What the client signed: the path and query as they came on the
    // request line, percent encoding and parameter order untouched.
    let signed = uri.path_and_query().map(|p| p.as_str()).unwrap_or_else(|| uri.path());
    if !auth::sign_matches(&key.secret, signed, sign) {
        return Err(Refusal::BadSign.into());
    }
    let nonce = auth::parse_nonce(pairs.iter().find(|(k, _)| k == "nonce").map(|(_, v)| v.as_str()))?;
    match admission::admit(store, &key.public, nonce, unix_now_ms()).await {
        Ok(Ok(())) => Ok(key),
        Ok(Err(refusal)) => Err(NotAdmitted::Refused(refusal)),
        Err(e) => Err(NotAdmitted::Database(e)),
    }
}

async fn answer(endpoint: Endpoint, State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let pairs = match Query::<Vec<(String, String)>>::try_from_uri(&uri) {
        Ok(Query(p)) => p,
        Err(e) => return failure(StatusCode::BAD_REQUEST, 1, format!("the query string cannot be read: {e}")),
    };
    let config = &state.config;
    let key = match authenticate(config, &state.store, &uri, &headers, &pairs).await {
        Ok(k) => k,
        Err(NotAdmitted::Refused(r)) => return refused(r),
        Err(NotAdmitted::Database(e)) => return database_failure(e),
    };
    let now = unix_now();
    let query = match ApiQuery::parse(&pairs, now) {
        Ok(q) => q,
        Err(e) => return failure(StatusCode::BAD_REQUEST, 1, e),
    };
    if let Some(id) = query.location_id {
        if !key.may_read(id) {
            return failure(StatusCode::FORBIDDEN, 4, format!("location_id {id}: this key may not read it"));
        }
    }
    match respond(endpoint, config, &state.store, key, &query, now).await {
        Ok(result) => success(result.into_iter().skip(query.offset).take(query.limit).collect()),
        Err(e) => database_failure(e),
    }
}

fn database_failure(e: sqlx::Error) -> Response {
    tracing::error!("api: database: {e}");
    failure(StatusCode::SERVICE_UNAVAILABLE, 7, "the database is not answering now; try again")
}

/// A location: (id, name, UTC offset).
fn locations(config: &Config, known: &[i64], key: &ApiKey, wanted: Option<u64>) -> Vec<(u64, String, i64)> {
    let mut all: BTreeMap<u64, (String, i64)> = BTreeMap::new();
    for n in config.networks.values() {
        all.insert(n.id, (n.name.clone(), n.analytics.utc_offset));
    }
    for id in known.iter().filter_map(|id| u64::try_from(*id).ok()) {
        all.entry(id).or_insert_with(|| (id.to_string(), 0));
    }
    all.into_iter()
        .filter(|(id, _)| key.may_read(*id) && wanted.is_none_or(|w| w == *id))
        .map(|(id, (name, offset))| (id, name, offset))
        .collect()
}

async fn respond(endpoint: Endpoint, config: &Config, store: &Store, key: &ApiKey, q: &ApiQuery, now: i64) -> Result<Vec<Value>, sqlx::Error> {
    let aps: Vec<_> = store
        .access_points(now)
        .await?
        .into_iter()
        .filter(|a| !a.node_mac.is_empty() && a.network_id != UNKNOWN_NETWORK && a.last_report.is_some())
        .collect();
    let known: Vec<i64> = aps.iter().map(|a| a.network_id).collect();
    let locs = locations(config, &known, key, q.location_id);
    match endpoint {
        Endpoint::Locations => Ok(locs
            .iter()
            .map(|(id, name, offset)| {
                json!({"id": id, "name": name, "timezone_offset": crate::visits::format_utc_offset(*offset), "version": env!("CARGO_PKG_VERSION")})
            })
            .collect()),
        Endpoint::Channels => Ok(aps
            .iter()
            .filter(|a| locs.iter().any(|(id, _, _)| *id as i64 == a.network_id))
            .filter(|a| q.channel_id.as_ref().is_none_or(|c| *c == a.node_mac))
            .map(|a| json!({"id": a.node_mac, "name": a.node_mac, "location_id": a.network_id, "active": if a.silent { 0 } else { 1 }}))
            .collect()),
        Endpoint::Events | Endpoint::TotalsTypes | Endpoint::TotalsTriggers => {
            let mut all: Vec<Event> = Vec::new();
            for (id, _, _) in &locs {
                let rules = config.rules_for(*id);
                let visits = store.visits(*id as i64, q.channel_id.as_deref(), &rules, q.since, q.until).await?;
                let pseudonym_key = config.key_for(*id).unwrap_or_default().to_vec();
                let object_id =
                    |mac: &str| if rules.raw_macs { mac.to_string() } else { auth::pseudonym(&pseudonym_key, mac) };
                all.extend(events::events(&visits, *id, q.since, q.until, now, rules.visits.session_timeout, object_id));
            }
            all.sort_by(|a, b| (a.time, a.kind, a.location_id, &a.object_id).cmp(&(b.time, b.kind, b.location_id, &b.object_id)));
            Ok(match endpoint {
                Endpoint::Events => all.iter().map(event_json).collect(),
                Endpoint::TotalsTypes => [EventType::RegionJoin, EventType::RegionLeave]
                    .iter()
                    .map(|t| {
                        let of_type: Vec<&Event> = all.iter().filter(|e| e.kind == *t).collect();
                        let mut total = json!({"type": t.name(), "count": of_type.len(), "channel_id": q.channel_id, "location_id": q.location_id});
                        total["by_suborigin"] = by_suborigin(&of_type);
                        total
                    })
                    .collect(),
                _ => {
                    let mut counts: BTreeMap<(u64, &str), Vec<&Event>> = BTreeMap::new();
                    for e in &all {
                        counts.entry((e.location_id, e.channel_id.as_str())).or_default().push(e);
                    }
                    counts
                        .into_iter()
                        .map(|((loc, ch), of_trigger)| {
                            json!({"trigger_id": ch, "trigger_name": ch, "channel_id": ch, "location_id": loc,
                                   "count": of_trigger.len(), "by_suborigin": by_suborigin(&of_trigger)})
                        })
                        .collect()
                }
            })
        }
        Endpoint::Histograms => {
            let mut out = Vec::new();
            for (id, _, offset) in &locs {
                let rules = config.rules_for(*id);
                let range = Range::new(q.since, q.until, Bucket::Hour, *offset).map_err(sqlx::Error::Protocol)?;
                let m = store.metrics(*id as i64, q.channel_id.as_deref(), &rules, &range, now).await?;
                for b in m.buckets {
                    let data = |c: &crate::metrics::Counts| {
                        (vec![c.visitors, c.passersby, c.unique_clients, c.connected, c.peak_occupancy], c.dwell.to_vec())
                    };
                    let (counting, lifetime) = data(&b.counts.universal);
                    let (r_counting, r_lifetime) = data(&b.counts.randomized);
                    let (e_counting, e_lifetime) = data(&b.counts.estimated_devices);
                    let time = format_time(b.start, *offset).replacen(".000", "", 1);
                    out.push(json!({
                        "id": events::short_id(&format!("{id}|{:?}|{}", q.channel_id, b.start)),
                        "location_id": id,
                        "channel_id": q.channel_id,
                        "histogram_time": time,
                        "counting_data": counting,
                        "lifetime_data": lifetime,
                        "randomized": {"counting_data": r_counting, "lifetime_data": r_lifetime},
                        "estimated_devices": {"counting_data": e_counting, "lifetime_data": e_lifetime},
                    }));
                }
            }
            Ok(out)
        }
    }
}

/// An event's `suborigin`: Camlytics' field, our three classes.
fn suborigin(class: AddressClass) -> &'static str {
    match class {
        AddressClass::Universal => "Universal",
        AddressClass::Randomized => "Randomized",
        AddressClass::EstimatedDevice => "EstimatedDevice",
    }
}

/// A total's events by class: `count` is all of them, as Camlytics gives
/// it; this says how many are universal addresses, raw randomized
/// addresses and the agent's estimated devices.
fn by_suborigin(events: &[&Event]) -> Value {
    let n = |class| events.iter().filter(|e| e.class == class).count();
    json!({
        "Universal": n(AddressClass::Universal),
        "Randomized": n(AddressClass::Randomized),
        "EstimatedDevice": n(AddressClass::EstimatedDevice),
    })
}

fn event_json(e: &Event) -> Value {
    json!({
        "id": e.id(),
        "record_id": e.id(),
        "event_type": e.kind.name(),
        "trigger_id": e.channel_id,
        "channel_id": e.channel_id,
        "location_id": e.location_id,
        "object_id": e.object_id,
        "origin": if e.visitor { "Visitor" } else { "Passerby" },
        "suborigin": suborigin(e.class),
        "dwell_seconds": e.dwell,
        // Camlytics gives event times in UTC.
        "event_time": format_time(e.time, 0),
    })
}
