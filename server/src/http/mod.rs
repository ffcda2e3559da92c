//! The router, the connection loop and its limits. Handlers are thin: they
//! take the request apart, call a plain function, and answer.

pub mod csv;
pub mod dashboard;
pub mod ingest;
pub mod pages;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::trace::TraceLayer;

use crate::config::{Limits, NCOMPASS_PATH};
use crate::AppState;

pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .route("/", get(pages::rows_page))
        .route("/access-points", get(pages::access_points_page))
        .route("/export.csv", get(csv::export))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard.csv", get(dashboard::csv))
        .route("/webhooks.json", get(dashboard::webhooks_status))
        .route("/static/style.css", get(pages::style_css))
        .route("/README.md", get(pages::readme))
        .merge(crate::api::routes());
    let ingest_path = state.config.ingest_path.clone();
    app = app.route(&ingest_path, post(ingest::ingest));
    if ingest_path != NCOMPASS_PATH {
        app = app.route(NCOMPASS_PATH, post(ingest::ingest));
    }
    // Each request as a span and its answer as an event, at DEBUG
    // (RUST_LOG=info,tower_http=debug shows them).
    app.fallback(pages::not_found).layer(TraceLayer::new_for_http()).with_state(state)
}

/// Serves until `shutdown` completes, then lets requests in progress finish
/// (for at most `drain`).
///
/// Not axum::serve: it offers no header timeout nor connection bound. Each
/// connection holds a permit of `max_connections`; hyper closes one whose
/// next request's headers (an idle keep-alive included) do not arrive within
/// `header_timeout`, so idle clients give their permits back.
pub async fn serve(listener: TcpListener, app: Router, limits: &Limits, shutdown: impl Future<Output = ()>, drain: Duration) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true)
        .max_buf_size(64 * 1024);
    let service = TowerToHyperService::new(app);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors and the like: pause rather than spin.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = builder.serve_connection(TokioIo::new(stream), service.clone());
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // A client that goes away mid-request is no error of ours.
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(drain, graceful.shutdown()).await;
}
