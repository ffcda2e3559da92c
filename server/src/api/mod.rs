//! The query API in Camlytics' shape (`/service/api/v1/...`), over visits:
//! one handler per endpoint, each taking an `ApiRequest` (`request`: the
//! signed key, admitted by `auth` and `admission`, and the query checked by
//! `params`) and answering a list of `Serialize` items; what the items hold
//! is worked out by plain functions (`locations`, `channels`, `type_totals`,
//! `trigger_totals`, `histogram`, `events::events`) over the store's reads.
//!
//! Every answer is the envelope `{"code":0,"msg":"success","result":[...]}`;
//! a refusal is `{"code":N,"msg":"<what is wrong>","result":[]}` with the
//! HTTP status (`crate::error`; README, "Query API", lists the codes).

pub mod admission;
pub mod auth;
pub mod events;
pub mod params;
pub mod request;

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;

use crate::config::{ApiKey, Config};
use crate::error::{json_response, Envelope, Error};
use crate::analytics::metrics::{Bucket, Counts, Range};
use crate::store::{AccessPointStatus, Store, UNKNOWN_NETWORK};
use crate::analytics::visits::AddressClass;
use crate::analytics::object_id::pseudonym;
use crate::AppState;
use events::{Event, EventType};
use params::{format_time, ApiQuery};
use request::ApiRequest;

pub const PREFIX: &str = "/service/api/v1";

/// The endpoints under PREFIX, as a refusal names them.
pub const ENDPOINT_NAMES: [&str; 6] = ["locations", "channels", "events", "totals/types", "totals/triggers", "histograms"];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{PREFIX}/locations"), get(locations_handler))
        .route(&format!("{PREFIX}/channels"), get(channels_handler))
        .route(&format!("{PREFIX}/events"), get(events_handler))
        .route(&format!("{PREFIX}/totals/types"), get(type_totals_handler))
        .route(&format!("{PREFIX}/totals/triggers"), get(trigger_totals_handler))
        .route(&format!("{PREFIX}/histograms"), get(histograms_handler))
        .route(&format!("{PREFIX}/{{*rest}}"), get(unknown_endpoint))
        .route(PREFIX, get(unknown_endpoint))
}

async fn unknown_endpoint() -> Error {
    Error::ApiNoSuchEndpoint(format!("{PREFIX}/ + {}", ENDPOINT_NAMES.join(", ")))
}

/// A success: the envelope around the page of `items` the query asks for
/// (`offset`, `limit`).
pub struct Success<T>(Vec<T>);

impl<T: Serialize> Success<T> {
    pub fn page(items: Vec<T>, q: &ApiQuery) -> Success<T> {
        Success(items.into_iter().skip(q.offset).take(q.limit).collect())
    }
}

impl<T: Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        json_response(StatusCode::OK, &Envelope { code: 0, msg: "success", result: &self.0 })
    }
}

type Answer<T> = Result<Success<T>, Error>;

async fn locations_handler(State(state): State<AppState>, r: ApiRequest) -> Answer<Location> {
    let scope = Scope::read(&state.config, &state.store, &r).await?;
    Ok(Success::page(scope.locations.iter().map(Location::of).collect(), &r.query))
}

async fn channels_handler(State(state): State<AppState>, r: ApiRequest) -> Answer<Channel> {
    let scope = Scope::read(&state.config, &state.store, &r).await?;
    Ok(Success::page(channels(&scope, &r.query), &r.query))
}

async fn events_handler(State(state): State<AppState>, r: ApiRequest) -> Answer<EventItem> {
    let scope = Scope::read(&state.config, &state.store, &r).await?;
    let all = all_events(&state.config, &state.store, &scope, &r.query, r.now).await?;
    Ok(Success::page(all.iter().map(EventItem::of).collect(), &r.query))
}

async fn type_totals_handler(State(state): State<AppState>, r: ApiRequest) -> Answer<TypeTotal> {
    let scope = Scope::read(&state.config, &state.store, &r).await?;
    let all = all_events(&state.config, &state.store, &scope, &r.query, r.now).await?;
    Ok(Success::page(type_totals(&all, &r.query), &r.query))
}

async fn trigger_totals_handler(State(state): State<AppState>, r: ApiRequest) -> Answer<TriggerTotal> {
    let scope = Scope::read(&state.config, &state.store, &r).await?;
    let all = all_events(&state.config, &state.store, &scope, &r.query, r.now).await?;
    Ok(Success::page(trigger_totals(&all), &r.query))
}

async fn histograms_handler(State(state): State<AppState>, r: ApiRequest) -> Answer<Histogram> {
    let scope = Scope::read(&state.config, &state.store, &r).await?;
    Ok(Success::page(histograms(&state.config, &state.store, &scope, &r.query, r.now).await?, &r.query))
}

/// A location: its id, name and UTC offset (seconds east).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationInfo {
    pub id: u64,
    pub name: String,
    pub utc_offset: i64,
}

/// What a request may see: the locations its key may read (the one asked
/// for, or all), and the access points that have reported.
pub struct Scope {
    pub locations: Vec<LocationInfo>,
    pub access_points: Vec<AccessPointStatus>,
}

impl Scope {
    async fn read(config: &Config, store: &Store, r: &ApiRequest) -> Result<Scope, Error> {
        let aps: Vec<AccessPointStatus> = store
            .access_points(r.now)
            .await
            .map_err(Error::ApiDatabase)?
            .into_iter()
            .filter(|a| !a.node_mac.is_empty() && a.network_id != UNKNOWN_NETWORK && a.last_report.is_some())
            .collect();
        let known: Vec<i64> = aps.iter().map(|a| a.network_id).collect();
        Ok(Scope { locations: locations(config, &known, &r.key, r.query.location_id), access_points: aps })
    }
}

/// Every location: configured or seen in a report (named by its id), that
/// `key` may read, the one `wanted` or all.
pub fn locations(config: &Config, known: &[i64], key: &ApiKey, wanted: Option<u64>) -> Vec<LocationInfo> {
    let mut all: BTreeMap<u64, (String, i64)> = BTreeMap::new();
    for n in config.networks.values() {
        all.insert(n.id, (n.name.clone(), n.analytics.utc_offset));
    }
    for id in known.iter().filter_map(|id| u64::try_from(*id).ok()) {
        all.entry(id).or_insert_with(|| (id.to_string(), 0));
    }
    all.into_iter()
        .filter(|(id, _)| key.may_read(*id) && wanted.is_none_or(|w| w == *id))
        .map(|(id, (name, utc_offset))| LocationInfo { id, name, utc_offset })
        .collect()
}

// The answers' items. Their fields are in alphabetical order, the order the
// API has always written its keys in.

#[derive(Debug, Serialize)]
pub struct Location {
    pub id: u64,
    pub name: String,
    pub timezone_offset: String,
    pub version: &'static str,
}

impl Location {
    fn of(l: &LocationInfo) -> Location {
        Location {
            id: l.id,
            name: l.name.clone(),
            timezone_offset: crate::analytics::visits::format_utc_offset(l.utc_offset),
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Channel {
    /// 1, or 0 for an access point gone silent.
    pub active: u8,
    pub id: String,
    pub location_id: i64,
    pub name: String,
}

/// The access points of the scope's locations, the one asked for or all.
pub fn channels(scope: &Scope, q: &ApiQuery) -> Vec<Channel> {
    scope
        .access_points
        .iter()
        .filter(|a| scope.locations.iter().any(|l| l.id as i64 == a.network_id))
        .filter(|a| q.channel_id.as_ref().is_none_or(|c| *c == a.node_mac))
        .map(|a| Channel { active: if a.silent { 0 } else { 1 }, id: a.node_mac.clone(), location_id: a.network_id, name: a.node_mac.clone() })
        .collect()
}

/// The events of every location in scope, in time order.
async fn all_events(config: &Config, store: &Store, scope: &Scope, q: &ApiQuery, now: i64) -> Result<Vec<Event>, Error> {
    let mut all: Vec<Event> = Vec::new();
    for l in &scope.locations {
        let rules = config.rules_for(l.id);
        let visits = store.visits(l.id as i64, q.channel_id.as_deref(), &rules, q.since, q.until).await.map_err(Error::ApiDatabase)?;
        let pseudonym_key = config.key_for(l.id).unwrap_or_default().to_vec();
        let object_id = |mac: &str| if rules.raw_macs { mac.to_string() } else { pseudonym(&pseudonym_key, mac) };
        all.extend(events::events(&visits, l.id, q.since, q.until, now, rules.visits.session_timeout, object_id));
    }
    all.sort_by(|a, b| (a.time, a.kind, a.location_id, &a.object_id).cmp(&(b.time, b.kind, b.location_id, &b.object_id)));
    Ok(all)
}

#[derive(Debug, Serialize)]
pub struct EventItem {
    pub channel_id: String,
    pub dwell_seconds: Option<i64>,
    /// UTC, as Camlytics gives event times.
    pub event_time: String,
    pub event_type: &'static str,
    pub id: u64,
    pub location_id: u64,
    pub object_id: String,
    pub origin: &'static str,
    pub record_id: u64,
    pub suborigin: &'static str,
    pub trigger_id: String,
}

impl EventItem {
    pub fn of(e: &Event) -> EventItem {
        EventItem {
            channel_id: e.channel_id.clone(),
            dwell_seconds: e.dwell,
            event_time: format_time(e.time, 0),
            event_type: e.kind.name(),
            id: e.id(),
            location_id: e.location_id,
            object_id: e.object_id.clone(),
            origin: if e.visitor { "Visitor" } else { "Passerby" },
            record_id: e.id(),
            suborigin: suborigin(e.class),
            trigger_id: e.channel_id.clone(),
        }
    }
}

/// A total's events by class: `count` is all of them, as Camlytics gives
/// it; this says how many are universal addresses, raw randomized
/// addresses and the agent's estimated devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BySuborigin {
    #[serde(rename = "EstimatedDevice")]
    pub estimated_device: usize,
    #[serde(rename = "Randomized")]
    pub randomized: usize,
    #[serde(rename = "Universal")]
    pub universal: usize,
}

impl BySuborigin {
    pub fn of(events: &[&Event]) -> BySuborigin {
        let n = |class| events.iter().filter(|e| e.class == class).count();
        BySuborigin {
            estimated_device: n(AddressClass::EstimatedDevice),
            randomized: n(AddressClass::Randomized),
            universal: n(AddressClass::Universal),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TypeTotal {
    pub by_suborigin: BySuborigin,
    pub channel_id: Option<String>,
    pub count: usize,
    pub location_id: Option<u64>,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// The joins and the leaves among `all`.
pub fn type_totals(all: &[Event], q: &ApiQuery) -> Vec<TypeTotal> {
    [EventType::RegionJoin, EventType::RegionLeave]
        .iter()
        .map(|t| {
            let of_type: Vec<&Event> = all.iter().filter(|e| e.kind == *t).collect();
            TypeTotal {
                by_suborigin: BySuborigin::of(&of_type),
                channel_id: q.channel_id.clone(),
                count: of_type.len(),
                location_id: q.location_id,
                kind: t.name(),
            }
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct TriggerTotal {
    pub by_suborigin: BySuborigin,
    pub channel_id: String,
    pub count: usize,
    pub location_id: u64,
    pub trigger_id: String,
    pub trigger_name: String,
}

/// The events among `all` by location and access point.
pub fn trigger_totals(all: &[Event]) -> Vec<TriggerTotal> {
    let mut by_trigger: BTreeMap<(u64, &str), Vec<&Event>> = BTreeMap::new();
    for e in all {
        by_trigger.entry((e.location_id, e.channel_id.as_str())).or_default().push(e);
    }
    by_trigger
        .into_iter()
        .map(|((location_id, ch), of_trigger)| TriggerTotal {
            by_suborigin: BySuborigin::of(&of_trigger),
            channel_id: ch.to_string(),
            count: of_trigger.len(),
            location_id,
            trigger_id: ch.to_string(),
            trigger_name: ch.to_string(),
        })
        .collect()
}

/// One class's figures of an hour: counting_data is visitors, passersby,
/// unique clients, connected, peak occupancy; lifetime_data the visitors by
/// dwell bin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassData {
    pub counting_data: [u64; 5],
    pub lifetime_data: [u64; 4],
}

impl ClassData {
    pub fn of(c: &Counts) -> ClassData {
        ClassData { counting_data: [c.visitors, c.passersby, c.unique_clients, c.connected, c.peak_occupancy], lifetime_data: c.dwell }
    }
}

/// An hour: the universal addresses' figures at the top level (Camlytics'
/// shape), the randomized addresses' and the estimated devices' beside them.
#[derive(Debug, Serialize)]
pub struct Histogram {
    pub channel_id: Option<String>,
    pub counting_data: [u64; 5],
    pub estimated_devices: ClassData,
    pub histogram_time: String,
    pub id: u64,
    pub lifetime_data: [u64; 4],
    pub location_id: u64,
    pub randomized: ClassData,
}

/// The hours of every location in scope, each in its location's time.
async fn histograms(config: &Config, store: &Store, scope: &Scope, q: &ApiQuery, now: i64) -> Result<Vec<Histogram>, Error> {
    let mut out = Vec::new();
    for l in &scope.locations {
        let rules = config.rules_for(l.id);
        let range = Range::new(q.since, q.until, Bucket::Hour, l.utc_offset).map_err(Error::ApiBadQuery)?;
        let m = store.metrics(l.id as i64, q.channel_id.as_deref(), &rules, &range, now).await.map_err(Error::ApiDatabase)?;
        out.extend(m.buckets.iter().map(|b| histogram(l, q.channel_id.as_deref(), b)));
    }
    Ok(out)
}

pub fn histogram(l: &LocationInfo, channel_id: Option<&str>, b: &crate::analytics::metrics::BucketMetrics) -> Histogram {
    let universal = ClassData::of(&b.counts.universal);
    let channel_id = channel_id.map(str::to_string);
    Histogram {
        id: events::short_id(&format!("{}|{:?}|{}", l.id, channel_id, b.start)),
        channel_id,
        counting_data: universal.counting_data,
        estimated_devices: ClassData::of(&b.counts.estimated_devices),
        histogram_time: format_time(b.start, l.utc_offset).replacen(".000", "", 1),
        lifetime_data: universal.lifetime_data,
        location_id: l.id,
        randomized: ClassData::of(&b.counts.randomized),
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

