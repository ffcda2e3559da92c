//! The extractors of the query API: `SignedKey` (the `X-Key` named, its
//! `X-Sign` over the URI as sent, its nonce and rate admitted against the
//! key's state in the database) and `ApiRequest` (that key with the query's
//! parameters checked and its right to read the location asked for). A
//! handler that takes an `ApiRequest` runs only for a request that passed
//! all of it; a refusal is answered by `Error`'s envelope.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};

use crate::api::admission;
use crate::api::auth::{self, Refusal};
use crate::api::params::ApiQuery;
use crate::config::{ApiKey, Config};
use crate::error::Error;
use crate::store::Store;
use crate::clock::{unix_now, unix_now_ms};
use crate::AppState;

/// A request's key, once its signature, nonce and rate pass, and the query
/// pairs it came with (decoded, in their order).
pub struct SignedKey {
    pub key: ApiKey,
    pub pairs: Vec<(String, String)>,
}

impl FromRequestParts<AppState> for SignedKey {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<SignedKey, Error> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri).map_err(|e| Error::ApiUnreadableQuery(e.to_string()))?;
        let key = authenticate(&state.config, &state.store, &parts.uri, &parts.headers, &pairs).await?.clone();
        Ok(SignedKey { key, pairs })
    }
}

/// The key a request is signed with, once its X-Sign, nonce and rate pass.
/// The nonce and the rate are checked against the database, so that they
/// hold across every server process sharing it.
pub async fn authenticate<'a>(
    config: &'a Config,
    store: &Store,
    uri: &Uri,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Result<&'a ApiKey, Error> {
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
    admission::admit(store, &key.public, nonce, unix_now_ms()).await.map_err(Error::ApiDatabase)??;
    Ok(key)
}

/// A signed request's key and checked query, and the time it is answered at.
pub struct ApiRequest {
    pub key: ApiKey,
    pub query: ApiQuery,
    pub now: i64,
}

impl FromRequestParts<AppState> for ApiRequest {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<ApiRequest, Error> {
        let SignedKey { key, pairs } = SignedKey::from_request_parts(parts, state).await?;
        let now = unix_now();
        let query = ApiQuery::parse(&pairs, now).map_err(Error::ApiBadQuery)?;
        if let Some(id) = query.location_id {
            if !key.may_read(id) {
                return Err(Error::ApiForbidden(id));
            }
        }
        Ok(ApiRequest { key, query, now })
    }
}
