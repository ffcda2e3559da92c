//! GET /export.csv: the page's filters as query parameters, every matching
//! row (not one page), newest first, streamed in batches so that memory does
//! not grow with the table.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::Frame;
use tokio::sync::mpsc;

use crate::error::Error;
use crate::filter::RowFilter;
use crate::store::{Store, StoredRow};
use crate::AppState;

pub const HEADER: &str = "network_id,node_mac,mac,count,min_signal,max_signal,avg_signal,last_seen_signal,first_seen,last_seen,associated,received_at\n";
const BATCH: i64 = 2000;

/// One line; no field can hold a comma or a quote (MACs are checked, the
/// rest are numbers and booleans), so none is quoted.
pub fn csv_line(r: &StoredRow) -> String {
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{}\n",
        r.network_id,
        r.node_mac,
        r.mac,
        r.count,
        r.min_signal,
        r.max_signal,
        r.avg_signal,
        r.last_seen_signal,
        r.first_seen,
        r.last_seen,
        r.associated,
        r.received_at
    )
}

pub async fn export(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Result<Response, Error> {
    let filter = RowFilter::from_query(&query).map_err(|e| Error::BadQuery(e.to_string()))?;
    // The first batch before the status line, so that a database that does
    // not answer gets a 503 rather than a truncated 200.
    let first = state.store.rows_before(&filter, None, BATCH).await.map_err(Error::DatabaseUnavailable)?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(stream_rows(state.store.clone(), filter, first, tx));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"presence.csv\""),
        ],
        Body::new(ChannelBody(rx)),
    )
        .into_response())
}

async fn stream_rows(
    store: Store,
    filter: RowFilter,
    mut batch: Vec<StoredRow>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    if tx.send(Ok(Bytes::from_static(HEADER.as_bytes()))).await.is_err() {
        return;
    }
    loop {
        let Some(last_id) = batch.last().map(|r| r.id) else { return };
        let text: String = batch.iter().map(csv_line).collect();
        if tx.send(Ok(Bytes::from(text))).await.is_err() {
            return; // the client went away
        }
        if (batch.len() as i64) < BATCH {
            return;
        }
        batch = match store.rows_before(&filter, Some(last_id), BATCH).await {
            Ok(b) => b,
            Err(e) => {
                // Ends the response with an error: the client sees a broken
                // transfer, not a short file that looks complete.
                let _ = tx.send(Err(std::io::Error::other(format!("database: {e}")))).await;
                return;
            }
        };
    }
}

struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}
