//! Webhook delivery: the I/O around the outbox (`store::webhook_outbox`).
//!
//! Ingest writes the events of a report's visit changes to the outbox inside
//! the report's transaction; here a task gives each hooked network a clock
//! tick each second (leaves as the network's clock passes them, silent
//! access points), again in a transaction, and each endpoint has one worker
//! that claims its next event from the outbox, POSTs it, and only then (a
//! 2xx, or its retries run out: dropped and counted) moves the endpoint's
//! progress past it. One event at a time, in sequence order; a failed
//! attempt (no connection, a status other than 2xx, no answer within the
//! timeout) is retried after a backoff that doubles. So a failing or
//! hanging endpoint delays only itself, ingest never waits on a webhook, and
//! after a restart (or on another process on the same PostgreSQL) delivery
//! goes on from the progress row.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::analytics::object_id::pseudonym;
use crate::config::{Config, Webhook};
use crate::store::Store;
use crate::clock::unix_now;
use crate::analytics::visits::NetworkRules;
use crate::analytics::hook_events::{suborigin, HookEvent};

/// How often an idle endpoint's worker looks for a new event, and how long
/// it waits after the database failed it.
const POLL: Duration = Duration::from_millis(200);
const RETRY_DATABASE: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct EndpointStats {
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub dropped_after_retries: AtomicU64,
    /// No queue can fill any more (the outbox is in the database): stays 0,
    /// kept so that `/webhooks.json` keeps its documented fields.
    pub dropped_queue_full: AtomicU64,
}

pub struct Webhooks {
    endpoints: Vec<(u64, String, Arc<EndpointStats>)>,
}

impl Webhooks {
    pub fn disabled() -> Webhooks {
        Webhooks { endpoints: Vec::new() }
    }

    /// Starts the clock task and one worker per endpoint, if any network
    /// has a webhook; must run inside the tokio runtime.
    pub fn start(config: &Config, store: &Store) -> Webhooks {
        let configured: Vec<_> = config.networks.values().filter(|n| !n.webhooks.is_empty()).collect();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            if !configured.is_empty() {
                tracing::error!("webhooks: no runtime to run them on; they are off");
            }
            store.use_webhooks([]);
            return Webhooks::disabled();
        };
        store.use_webhooks(configured.iter().map(|n| n.id as i64));
        if configured.is_empty() {
            return Webhooks::disabled();
        }
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let mut endpoints = Vec::new();
        for n in &configured {
            for w in &n.webhooks {
                let stats = Arc::new(EndpointStats::default());
                let worker = Worker {
                    store: store.clone(),
                    client: client.clone(),
                    hook: w.clone(),
                    network_id: n.id as i64,
                    rules: n.analytics.clone(),
                    network_key: n.key.clone(),
                    stats: stats.clone(),
                };
                runtime.spawn(worker.run());
                endpoints.push((n.id, w.url.clone(), stats));
            }
        }
        runtime.spawn(tick(store.clone(), configured.iter().map(|n| n.id as i64).collect()));
        Webhooks { endpoints }
    }

    /// The counters, for `/webhooks.json`: this process's deliveries, and
    /// per network (from the database: every process's) the late visit
    /// changes not told.
    pub async fn status(&self, store: &Store) -> Value {
        let endpoints: Vec<Value> = self
            .endpoints
            .iter()
            .map(|(network_id, url, s)| {
                json!({
                    "network_id": network_id,
                    "url": url,
                    "delivered": s.delivered.load(Ordering::Relaxed),
                    "failed_attempts": s.failed_attempts.load(Ordering::Relaxed),
                    "dropped_after_retries": s.dropped_after_retries.load(Ordering::Relaxed),
                    "dropped_queue_full": s.dropped_queue_full.load(Ordering::Relaxed),
                })
            })
            .collect();
        let mut networks: Vec<u64> = self.endpoints.iter().map(|(n, _, _)| *n).collect();
        networks.dedup();
        let mut late = Vec::new();
        for n in networks {
            match store.webhook_late_counts(n as i64).await {
                Ok((beyond_horizon, after_leave)) => late.push(json!({
                    "network_id": n,
                    "late_beyond_horizon": beyond_horizon,
                    "late_after_leave": after_leave,
                })),
                Err(e) => tracing::error!("webhooks: the late counts of network {n}: {e}"),
            }
        }
        // Reports reach the outbox inside their own transaction: none is
        // left unseen any more; the field stays for its readers.
        json!({"endpoints": endpoints, "networks": late, "reports_not_seen_queue_full": 0})
    }
}

/// Each second, every hooked network hears the clock.
async fn tick(store: Store, networks: Vec<i64>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = unix_now();
        for &id in &networks {
            if let Err(e) = store.webhook_tick(id, now).await {
                tracing::error!("webhooks: the clock tick of network {id}: {e}");
            }
        }
    }
}

/// The JSON body of one event: an array of one, like Camlytics' webhooks,
/// with the time in UTC as they write it.
pub fn payload(e: &HookEvent, rules: &NetworkRules, network_key: &[u8]) -> String {
    let object_id = e.mac.as_deref().map(|m| if rules.raw_macs { m.to_string() } else { pseudonym(network_key, m) });
    let time = crate::time::format_utc_millis(e.time);
    json!([{
        "event_type": e.kind.name(),
        "sequence": e.sequence,
        "location_id": e.network_id,
        "channel_id": e.channel_id,
        "object_id": object_id,
        "origin": e.visitor.map(|v| if v { "Visitor" } else { "Passerby" }),
        "suborigin": e.class().map(suborigin),
        "dwell_seconds": e.dwell,
        "occupancy": e.occupancy,
        "event_time": time,
    }])
    .to_string()
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;


struct Worker {
    store: Store,
    client: HttpClient,
    hook: Webhook,
    network_id: i64,
    rules: NetworkRules,
    network_key: Vec<u8>,
    stats: Arc<EndpointStats>,
}

impl Worker {
    /// The endpoint's events one at a time, in order, from its progress on.
    async fn run(self) {
        while let Err(e) = self.store.register_webhook(self.network_id, &self.hook.url).await {
            tracing::error!("webhook {}: cannot record its progress: {e}", self.hook.url);
            tokio::time::sleep(RETRY_DATABASE).await;
        }
        loop {
            let claim = match self.store.claim_webhook_event(self.network_id, &self.hook.url).await {
                Ok(Some(c)) => c,
                Ok(None) => {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!("webhook {}: cannot read the outbox: {e}", self.hook.url);
                    tokio::time::sleep(RETRY_DATABASE).await;
                    continue;
                }
            };
            let body = payload(&claim.event, &self.rules, &self.network_key);
            self.send(&body).await;
            // Not advanced (the database failed, or the process dies
            // before this): the event goes again on the next claim, the
            // one way an endpoint can get an event twice.
            if let Err(e) = self.store.finish_webhook_event(claim).await {
                tracing::error!("webhook {}: cannot record an event as sent: {e}", self.hook.url);
                tokio::time::sleep(RETRY_DATABASE).await;
            }
        }
    }

    /// One event until a 2xx or the retries run out; counted either way.
    async fn send(&self, body: &str) {
        let hook = &self.hook;
        let signature = presenced_report::signature(&hook.key, body.as_bytes());
        let mut wait = hook.backoff;
        let mut last_error = String::new();
        for attempt in 0..=hook.retries {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(3600));
            }
            match tokio::time::timeout(hook.timeout, post(&self.client, &hook.url, &signature, body)).await {
                Ok(Ok(())) => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(Err(e)) => last_error = e,
                Err(_) => last_error = format!("no answer within {} ms", hook.timeout.as_millis()),
            }
            self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.dropped_after_retries.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            "webhook {}: an event dropped after {} attempts (last: {last_error})",
            hook.url,
            hook.retries + 1
        );
    }
}

/// One attempt: POSTed, answered 2xx, and the answer read (at most 64 KiB)
/// so that the connection can serve the next one.
async fn post(client: &HttpClient, url: &str, signature: &str, body: &str) -> Result<(), String> {
    let request = axum::http::Request::post(url)
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .header("Signature", signature)
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| format!("cannot send: {e}"))?;
    let status = response.status();
    let _ = http_body_util::BodyExt::collect(http_body_util::Limited::new(response.into_body(), 64 * 1024)).await;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}
