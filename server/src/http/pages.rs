//! The web pages: thin handlers over `web` (rendering) and `store`.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::error::Error;
use crate::filter::{Page, RowFilter};
use crate::web::{self, RowsView, FILTER_FIELDS};
use crate::clock::unix_now;
use crate::AppState;

pub async fn rows_page(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>) -> Response {
    let values: BTreeMap<&'static str, String> =
        FILTER_FIELDS.iter().filter_map(|f| query.get(*f).map(|v| (*f, v.trim().to_string()))).collect();
    let networks = &state.config.networks;
    let parsed = RowFilter::from_query(&query).and_then(|f| Ok((f, Page::from_query(&query)?)));
    let (filter, page) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let view = RowsView {
                values: &values,
                error: Some(e.to_string()),
                rows: &[],
                total: 0,
                page: 1,
                per_page: 1,
                more: false,
                networks,
            };
            return (StatusCode::BAD_REQUEST, Html(web::rows_page(&view))).into_response();
        }
    };
    let found = async {
        let (rows, more) = state.store.rows(&filter, page).await?;
        let total = state.store.count_rows(&filter).await?;
        Ok::<_, sqlx::Error>((rows, more, total))
    };
    match found.await.map_err(Error::DatabaseUnavailable) {
        Ok((rows, more, total)) => {
            let view = RowsView {
                values: &values,
                error: None,
                rows: &rows,
                total,
                page: page.number,
                per_page: page.size,
                more,
                networks,
            };
            Html(web::rows_page(&view)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

pub async fn access_points_page(State(state): State<AppState>) -> Result<Html<String>, Error> {
    let now = unix_now();
    let aps = state.store.access_points(now).await.map_err(Error::DatabaseUnavailable)?;
    Ok(Html(web::access_points_page(&aps, &state.config.networks, now)))
}

pub async fn style_css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], web::STYLE_CSS).into_response()
}

pub async fn not_found() -> Error {
    Error::NoSuchPage
}

/// The README the server was built with: the dashboard's notes point into it,
/// and a venue's server may have no way out to the repository.
pub async fn readme() -> Response {
    ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], include_str!("../../../README.md")).into_response()
}
