//! Webhook delivery: the I/O around `webhooks`' detectors.
//!
//! Ingest hands each stored report to one detector task through a bounded
//! queue without waiting (`report_stored`: when the queue is full the
//! report is not seen by the webhooks, and counted). The detector task owns
//! every network's state, feeds it reports and a clock tick each second, and
//! passes each event to every endpoint of its network, again through a
//! bounded queue per endpoint (full: the event is dropped and counted).
//! Each endpoint has one worker that POSTs its events one at a time, in
//! order; a failed attempt (no connection, a status other than 2xx, no
//! answer within the timeout) is retried after a backoff that doubles, up
//! to the configured retries, then the event is dropped and counted and the
//! next one goes. So a failing or hanging endpoint delays only itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use presenced_report::Report;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::api::auth::pseudonym;
use crate::config::{Config, Webhook};
use crate::unix_now;
use crate::visits::{NetworkRules, Sighting};
use crate::webhooks::{HookEvent, NetworkDetector};

/// Reports waiting for the detector.
pub const NOTICE_QUEUE: usize = 1024;
/// Events waiting for one endpoint.
pub const ENDPOINT_QUEUE: usize = 1000;

struct Notice {
    network_id: u64,
    node: String,
    rows: Vec<Sighting>,
    received_at: i64,
}

#[derive(Default)]
pub struct EndpointStats {
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub dropped_after_retries: AtomicU64,
    pub dropped_queue_full: AtomicU64,
}

struct Endpoint {
    network_id: u64,
    url: String,
    stats: Arc<EndpointStats>,
    /// Event bodies, in order.
    queue: mpsc::Sender<String>,
}

pub struct Webhooks {
    notices: Option<mpsc::Sender<Notice>>,
    networks: Vec<u64>,
    endpoints: Vec<(u64, String, Arc<EndpointStats>)>,
    notices_dropped: AtomicU64,
}

impl Webhooks {
    pub fn disabled() -> Webhooks {
        Webhooks { notices: None, networks: Vec::new(), endpoints: Vec::new(), notices_dropped: AtomicU64::new(0) }
    }

    /// Starts the detector and one worker per endpoint, if any network has
    /// a webhook; must run inside the tokio runtime.
    pub fn start(config: &Config) -> Webhooks {
        let configured: Vec<_> = config.networks.values().filter(|n| !n.webhooks.is_empty()).collect();
        if configured.is_empty() {
            return Webhooks::disabled();
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("webhooks: no runtime to run them on; they are off");
            return Webhooks::disabled();
        };
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let mut endpoints = Vec::new();
        let mut detectors = HashMap::new();
        let mut payloads = HashMap::new();
        for n in &configured {
            detectors.insert(n.id, NetworkDetector::new(n.id, n.analytics.visits));
            payloads.insert(n.id, (n.analytics.clone(), n.key.clone()));
            for w in &n.webhooks {
                let (queue, events) = mpsc::channel(ENDPOINT_QUEUE);
                let stats = Arc::new(EndpointStats::default());
                runtime.spawn(deliver(client.clone(), w.clone(), events, stats.clone()));
                endpoints.push(Endpoint { network_id: n.id, url: w.url.clone(), stats, queue });
            }
        }
        let (notices, rx) = mpsc::channel(NOTICE_QUEUE);
        let status = endpoints.iter().map(|e| (e.network_id, e.url.clone(), e.stats.clone())).collect();
        runtime.spawn(detect(rx, detectors, payloads, endpoints));
        Webhooks { notices: Some(notices), networks: configured.iter().map(|n| n.id).collect(), endpoints: status, notices_dropped: AtomicU64::new(0) }
    }

    /// A report was stored: tell the detector, never waiting.
    pub fn report_stored(&self, report: &Report, received_at: i64) {
        let Some(notices) = &self.notices else { return };
        if !self.networks.contains(&report.network_id) {
            return;
        }
        let rows = report
            .probe_requests
            .iter()
            .map(|p| Sighting {
                mac: p.mac.to_ascii_lowercase(),
                node_mac: report.node_mac.to_ascii_uppercase(),
                first_seen: p.first_seen,
                last_seen: p.last_seen,
                max_signal: p.max_signal,
                associated: p.associated,
            })
            .collect();
        let notice = Notice { network_id: report.network_id, node: report.node_mac.to_ascii_uppercase(), rows, received_at };
        if notices.try_send(notice).is_err() {
            self.notices_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters, for `/webhooks.json`.
    pub fn status(&self) -> Value {
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
        json!({"endpoints": endpoints, "reports_not_seen_queue_full": self.notices_dropped.load(Ordering::Relaxed)})
    }
}

async fn detect(
    mut notices: mpsc::Receiver<Notice>,
    mut detectors: HashMap<u64, NetworkDetector>,
    payloads: HashMap<u64, (NetworkRules, Vec<u8>)>,
    endpoints: Vec<Endpoint>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let events = tokio::select! {
            notice = notices.recv() => match notice {
                Some(n) => match detectors.get_mut(&n.network_id) {
                    Some(d) => d.on_report(&n.node, &n.rows, n.received_at),
                    None => Vec::new(),
                },
                None => return,
            },
            _ = tick.tick() => {
                let now = unix_now();
                detectors.values_mut().flat_map(|d| d.on_tick(now)).collect()
            }
        };
        for e in events {
            let Some((rules, key)) = payloads.get(&e.network_id) else { continue };
            let body = payload(&e, rules, key);
            for ep in endpoints.iter().filter(|ep| ep.network_id == e.network_id) {
                if ep.queue.try_send(body.clone()).is_err() {
                    ep.stats.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The JSON body of one event: an array of one, like Camlytics' webhooks,
/// with the time in UTC as they write it.
pub fn payload(e: &HookEvent, rules: &NetworkRules, network_key: &[u8]) -> String {
    let object_id = e.mac.as_deref().map(|m| if rules.raw_macs { m.to_string() } else { pseudonym(network_key, m) });
    let time = crate::time::format_utc(e.time) + ".000";
    json!([{
        "event_type": e.kind.name(),
        "sequence": e.sequence,
        "location_id": e.network_id,
        "channel_id": e.channel_id,
        "object_id": object_id,
        "origin": e.visitor.map(|v| if v { "Visitor" } else { "Passerby" }),
        "suborigin": e.randomized.map(|r| if r { "Randomized" } else { "Universal" }),
        "dwell_seconds": e.dwell,
        "occupancy": e.occupancy,
        "event_time": time,
    }])
    .to_string()
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// One endpoint's worker: its events one at a time, in order.
async fn deliver(client: HttpClient, hook: Webhook, mut bodies: mpsc::Receiver<String>, stats: Arc<EndpointStats>) {
    'events: while let Some(body) = bodies.recv().await {
        let signature = presenced_report::signature(&hook.key, body.as_bytes());
        let mut wait = hook.backoff;
        let mut last_error = String::new();
        for attempt in 0..=hook.retries {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(3600));
            }
            match tokio::time::timeout(hook.timeout, post(&client, &hook.url, &signature, &body)).await {
                Ok(Ok(())) => {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    continue 'events;
                }
                Ok(Err(e)) => last_error = e,
                Err(_) => last_error = format!("no answer within {} ms", hook.timeout.as_millis()),
            }
            stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
        }
        stats.dropped_after_retries.fetch_add(1, Ordering::Relaxed);
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
