//! POST of a report: limits, then `accept_report`, which checks the
//! Signature over the raw body before anything is parsed or stored.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use presenced_report::{is_colon_mac, verify_signature, Report};
use serde::Deserialize;

use crate::config::Config;
use crate::error::Error;
use crate::store::{FailureSource, Store};
use crate::clock::unix_now;
use crate::AppState;

/// A report stored, or one stored before: the answer to the sender (for
/// its log) when nothing was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Rows(u64),
    Duplicate,
}

impl std::fmt::Display for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stored::Rows(n) => write!(f, "stored {n} rows"),
            Stored::Duplicate => write!(f, "duplicate report (its Signature was stored before): no rows added, counted as a sign of life"),
        }
    }
}

impl IntoResponse for Stored {
    fn into_response(self) -> Response {
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{self}\n")).into_response()
    }
}

pub async fn ingest(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Stored, Error> {
    let limits = &state.config.limits;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_bytes as u64) {
        return Err(Error::ReportTooLarge(limits.body_bytes));
    }
    let signatures: Vec<&str> = headers.get_all("signature").iter().filter_map(|v| v.to_str().ok()).collect();
    if headers.get_all("signature").iter().count() > 1 {
        return Err(Error::TwoSignatures);
    }
    // Wait for a share of the body budget as long as a body may take.
    let permit = match tokio::time::timeout(limits.body_timeout, state.body_budget.acquire()).await {
        Ok(Ok(p)) => p,
        _ => return Err(Error::TooManyReports),
    };
    let limited = http_body_util::Limited::new(body, limits.body_bytes);
    let bytes = match tokio::time::timeout(limits.body_timeout, http_body_util::BodyExt::collect(limited)).await {
        Err(_) => return Err(Error::ReportTimedOut(limits.body_timeout.as_secs())),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Err(Error::ReportTooLarge(limits.body_bytes)),
        Ok(Err(e)) => return Err(Error::UnreadableBody(e.to_string())),
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let answer =
        accept_report(&state.config, &state.store, signatures.first().copied(), &bytes, unix_now()).await;
    drop(permit);
    answer
}

/// The part of a body read before its signature is checked: only which
/// network's key to check it with, and where to count a failure.
#[derive(Deserialize, Default)]
struct Sender {
    network_id: Option<u64>,
    node_mac: Option<String>,
}

/// Checks, parses and stores one report body received at `now`; a stored
/// report's visit changes are told to its network's webhooks in its own
/// transaction (`store::webhook_outbox`).
pub async fn accept_report(
    config: &Config,
    store: &Store,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<Stored, Error> {
    // With per-network keys the key depends on the network_id; reading it
    // stores nothing and trusts nothing else in the body.
    let sender: Option<Sender> = serde_json::from_slice(body).ok();
    let network_id = sender.as_ref().and_then(|s| s.network_id);
    let key = match network_id {
        Some(id) => config.key_for(id),
        None => config.default_key.as_deref(),
    };
    let refused = match (key, signature) {
        (None, _) => Some(match network_id {
            Some(id) => format!("no key for network_id {id}: it is not in the config file and there is no default key"),
            None => "no key for this body: it names no network_id and there is no default key".to_string(),
        }),
        (Some(_), None) => Some("missing Signature header (HMAC-SHA256 of the body, hex)".to_string()),
        (Some(key), Some(sig)) if !verify_signature(key, body, sig) => {
            Some("the Signature does not match the body for this network's key".to_string())
        }
        _ => None,
    };
    if let Some(reason) = refused {
        let source = FailureSource {
            network_id: network_id.and_then(|id| i64::try_from(id).ok()),
            node_mac: sender.and_then(|s| s.node_mac).filter(|m| is_colon_mac(m)),
            network_known: network_id.is_some_and(|id| config.networks.contains_key(&id)),
        };
        if let Err(e) = store.record_signature_failure(&source, now).await {
            tracing::error!("cannot count a signature failure: {e}");
        }
        return Err(Error::SignatureRefused(reason));
    }
    let report = Report::from_body(body).map_err(|e| Error::BadReport(e.to_string()))?;
    if i64::try_from(report.network_id).is_err() {
        return Err(Error::BadReport(format!("network_id {} is too large", report.network_id)));
    }
    // Checked above: a signature is present.
    let signature = signature.unwrap_or_default();
    match store.ingest(&report, signature, now).await {
        Ok(o) if o.duplicate => Ok(Stored::Duplicate),
        Ok(o) => Ok(Stored::Rows(o.rows_added)),
        Err(e) => {
            tracing::error!("cannot store a report from {}: {e}", report.node_mac);
            Err(Error::CannotStore(e))
        }
    }
}
