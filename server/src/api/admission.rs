//! A correctly signed request's nonce and rate, checked against the key's
//! state in the database (`store::api_state`) so that they hold across every
//! server process sharing it: the pure rule (`auth::KeyState::admit`) over
//! the stored row, written back by compare and swap, again if another
//! process changed the row in between.

use crate::api::auth::{KeyState, Refusal};
use crate::store::api_state::ApiKeyRow;
use crate::store::{Store, StoreError};

/// Attempts of one admission: each lost one means another process changed
/// this key's state in between (admitted or used up a nonce of the same key
/// at the same moment), so more than a few means a client hammering one key
/// from many places.
const ADMIT_ATTEMPTS: usize = 16;

/// Admits a correctly signed request of key `public` with `nonce` at
/// `now_ms` (Unix milliseconds): `Ok(Err(refusal))` when the rule says no,
/// `Err` when the database does not answer or the key's state kept changing.
pub async fn admit(store: &Store, public: &str, nonce: u64, now_ms: i64) -> Result<Result<(), Refusal>, StoreError> {
    for _ in 0..ADMIT_ATTEMPTS {
        let stored = store.api_key_state(public).await?;
        let mut state = KeyState { last_nonce: stored.map(|s| s.last_nonce), last_request_ms: stored.and_then(|s| s.last_request_ms) };
        let verdict = state.admit(nonce, now_ms);
        if state.last_nonce == stored.map(|s| s.last_nonce) {
            // Refused as stale: nothing changed, nothing to write.
            return Ok(verdict);
        }
        let new = ApiKeyRow { last_nonce: nonce, last_request_ms: state.last_request_ms };
        if store.swap_api_key_state(public, stored, new).await? {
            return Ok(verdict);
        }
    }
    Err(sqlx::Error::Protocol(format!("the query API key {public:?} changed state {ADMIT_ATTEMPTS} times while one request was admitted")))
}
