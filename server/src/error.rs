//! Every way a request is not answered as asked, and the answer each gets.
//!
//! Two shapes of answer, because two kinds of client read them: the pages,
//! the CSV exports and the report POSTs answer in plain text (one line, for
//! a person or the agent's log); the query API answers in its envelope,
//! `{"code":N,"msg":"...","result":[]}`, with the code README's "Query API"
//! lists. The message is the variant's `Display`; a database error is logged
//! in full and answered with a message that says what to do, never with the
//! driver's text (a report that cannot be stored is logged where it is
//! known whose it was).
//!
//! It imports no other module of the crate, so that every layer can answer
//! with it.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why a query API request was refused before it was answered (the
/// signature, the nonce, the rate: `api::auth`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("missing X-Key header (the API's public key)")]
    MissingKey,
    #[error("unknown X-Key")]
    UnknownKey,
    #[error("missing X-Sign header (hex HMAC-SHA512 of the request URI, keyed with the secret)")]
    MissingSign,
    #[error(
        "X-Sign does not match: it must be the hex HMAC-SHA512, keyed with the secret, of the request URI exactly as sent (path and query, e.g. /service/api/v1/events?location_id=1&nonce=2)"
    )]
    BadSign,
    #[error("missing nonce query parameter (a number larger than the last one, e.g. the Unix time)")]
    MissingNonce,
    #[error("nonce {0:?} is not a whole number from 1 to 18446744073709551615")]
    BadNonce(String),
    #[error("stale nonce {given}: it must be larger than this key's last nonce, {last}")]
    StaleNonce { given: u64, last: u64 },
    #[error("too many requests: one a second per key")]
    RateLimited,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A page's or an export's query that cannot be answered.
    #[error("{0}")]
    BadQuery(String),
    #[error("the database is not answering now; try again")]
    DatabaseUnavailable(#[source] sqlx::Error),
    #[error("not found: the pages are /, /access-points and /dashboard; reports are POSTed")]
    NoSuchPage,

    #[error("the body is larger than {0} bytes (a 10,000-client report is about 1.8 MB)")]
    ReportTooLarge(usize),
    #[error("more than one Signature header")]
    TwoSignatures,
    #[error("too many reports arriving at once; try again")]
    TooManyReports,
    #[error("the body did not arrive within {0} s")]
    ReportTimedOut(u64),
    #[error("cannot read the body: {0}")]
    UnreadableBody(String),
    /// No key for the report, no signature, or a signature that does not match.
    #[error("{0}")]
    SignatureRefused(String),
    /// A signed report that is not one.
    #[error("{0}")]
    BadReport(String),
    #[error("the database cannot store the report now; send it again")]
    CannotStore(#[source] sqlx::Error),

    #[error("the query string cannot be read: {0}")]
    ApiUnreadableQuery(String),
    #[error(transparent)]
    ApiRefused(#[from] Refusal),
    #[error("{0}")]
    ApiBadQuery(String),
    #[error("location_id {0}: this key may not read it")]
    ApiForbidden(u64),
    /// The endpoints there are, named.
    #[error("no such endpoint; they are {0}")]
    ApiNoSuchEndpoint(String),
    #[error("the database is not answering now; try again")]
    ApiDatabase(#[source] sqlx::Error),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadQuery(_) | Error::TwoSignatures | Error::UnreadableBody(_) | Error::BadReport(_) => StatusCode::BAD_REQUEST,
            Error::DatabaseUnavailable(_) | Error::TooManyReports | Error::CannotStore(_) | Error::ApiDatabase(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::NoSuchPage | Error::ApiNoSuchEndpoint(_) => StatusCode::NOT_FOUND,
            Error::ReportTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::ReportTimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            Error::SignatureRefused(_) => StatusCode::FORBIDDEN,
            Error::ApiUnreadableQuery(_) | Error::ApiBadQuery(_) => StatusCode::BAD_REQUEST,
            Error::ApiRefused(r) => match r {
                Refusal::MissingKey | Refusal::UnknownKey | Refusal::MissingSign | Refusal::BadSign | Refusal::StaleNonce { .. } => {
                    StatusCode::UNAUTHORIZED
                }
                Refusal::MissingNonce | Refusal::BadNonce(_) => StatusCode::BAD_REQUEST,
                Refusal::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            },
            Error::ApiForbidden(_) => StatusCode::FORBIDDEN,
        }
    }

    /// The query API's refusal code (README, "Query API"); None for the
    /// answers in plain text.
    pub fn api_code(&self) -> Option<u32> {
        Some(match self {
            Error::ApiUnreadableQuery(_) | Error::ApiBadQuery(_) => 1,
            Error::ApiRefused(r) => match r {
                Refusal::MissingKey | Refusal::UnknownKey | Refusal::MissingSign | Refusal::BadSign => 2,
                Refusal::MissingNonce | Refusal::BadNonce(_) => 1,
                Refusal::StaleNonce { .. } => 3,
                Refusal::RateLimited => 6,
            },
            Error::ApiForbidden(_) => 4,
            Error::ApiNoSuchEndpoint(_) => 5,
            Error::ApiDatabase(_) => 7,
            _ => return None,
        })
    }
}

/// The query API's envelope: keys in alphabetical order, as the API has
/// always written them.
#[derive(Serialize)]
pub struct Envelope<'a, T: Serialize> {
    pub code: u32,
    pub msg: &'a str,
    pub result: &'a [T],
}

pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_string(body) {
        Ok(text) => (status, [(header::CONTENT_TYPE, "application/json")], text).into_response(),
        // Only a map with non-string keys fails, and the API has none.
        Err(e) => {
            tracing::error!("api: cannot write an answer as JSON: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot write the answer as JSON\n").into_response()
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Error::DatabaseUnavailable(e) => tracing::error!("database: {e}"),
            Error::ApiDatabase(e) => tracing::error!("api: database: {e}"),
            _ => {}
        }
        let status = self.status();
        let msg = self.to_string();
        match self.api_code() {
            Some(code) => json_response(status, &Envelope::<()> { code, msg: &msg, result: &[] }),
            None => (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{msg}\n")).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(e: Error) -> (StatusCode, String, String) {
        let r = e.into_response();
        let status = r.status();
        let content_type = r.headers().get(header::CONTENT_TYPE).unwrap().to_str().unwrap().to_string();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, content_type, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn database_errors_say_what_to_do_not_what_the_driver_said() {
        let driver = || sqlx::Error::Protocol("connection reset by peer".into());
        let (status, kind, body) = answer(Error::DatabaseUnavailable(driver())).await;
        assert_eq!((status, kind.as_str(), body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", "the database is not answering now; try again\n"));
        let (status, kind, body) = answer(Error::ApiDatabase(driver())).await;
        assert_eq!(
            (status, kind.as_str(), body.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "application/json", r#"{"code":7,"msg":"the database is not answering now; try again","result":[]}"#)
        );
        let (status, _, body) = answer(Error::CannotStore(driver())).await;
        assert_eq!((status, body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "the database cannot store the report now; send it again\n"));
    }

    #[tokio::test]
    async fn refusals_in_the_envelope_with_their_codes() {
        let (status, _, body) = answer(Error::ApiRefused(Refusal::RateLimited)).await;
        assert_eq!((status, body.as_str()), (StatusCode::TOO_MANY_REQUESTS, r#"{"code":6,"msg":"too many requests: one a second per key","result":[]}"#));
        let (status, _, body) = answer(Error::ApiRefused(Refusal::BadNonce("x\"".into()))).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::BAD_REQUEST, r#"{"code":1,"msg":"nonce \"x\\\"\" is not a whole number from 1 to 18446744073709551615","result":[]}"#)
        );
        let (status, _, body) = answer(Error::ApiForbidden(221234)).await;
        assert_eq!((status, body.as_str()), (StatusCode::FORBIDDEN, r#"{"code":4,"msg":"location_id 221234: this key may not read it","result":[]}"#));
    }
}
