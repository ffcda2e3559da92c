//! presenced-server: signed Presence Reporting API reports in, stored rows and
//! a web page out.
//!
//! `config` checks the command line; `http` is the router and thin handlers
//! over plain functions (`http::ingest::accept_report`, the pages); `error`
//! is every refusal the HTTP side answers, with its status and body; `store`
//! is one interface over SQLite and PostgreSQL, the raw rows, the stored
//! analytics (visits, built at ingest) and the query API's per-key state; `analytics` (visits, metrics, the
//! incremental sessionizer), `filter`, `analytics::hook_events` and `time` are pure; `web`
//! renders the pages (maud templates, escaping by default; the dashboard's
//! charts and CSV tables in `web::dashboard`); `api` is the signed
//! query API; `webhooks::delivery` sends webhooks.
//!
//! Layers, each importing only those below it (`server/tests/layers.rs`
//! fails on an import that goes round): `clock` (the one wall-clock
//! reader), `error`, `time`, `analytics` and `filter` (pure) < `store` <
//! `config` < `web` < `webhooks` < this root (`AppState`) < `api` <
//! `http`.

pub mod analytics;
pub mod api;
pub mod clock;
pub mod config;
pub mod error;
pub mod filter;
pub mod http;
pub mod store;
pub mod time;
pub mod web;
pub mod webhooks;

pub use analytics::{metrics, visits};
pub use clock::{unix_now, unix_now_ms};

use std::sync::Arc;

use tokio::sync::Semaphore;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<config::Config>,
    pub store: store::Store,
    /// Permits to read a request body: bounds the memory that senders not
    /// yet authenticated can make the server hold (bodies_in_flight times
    /// body_bytes).
    pub body_budget: Arc<Semaphore>,
    pub webhooks: Arc<webhooks::delivery::Webhooks>,
}

impl AppState {
    pub fn new(config: config::Config, store: store::Store) -> AppState {
        let permits = config.limits.bodies_in_flight;
        let webhooks = Arc::new(webhooks::delivery::Webhooks::start(&config, &store));
        AppState {
            store,
            body_budget: Arc::new(Semaphore::new(permits)),
            webhooks,
            config: Arc::new(config),
        }
    }
}
