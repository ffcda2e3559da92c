//! The query API's per-key state (last nonce, last answered request) in the
//! database, so that every server process on it shares one. The rule that
//! changes it is `api::auth::KeyState::admit` (pure), applied by
//! `api::admission`: it reads a key's state here and writes the result back
//! with `swap_api_key_state`, only if the row is still what it read
//! (compare and swap on `last_nonce`, which every change of state raises).
//! No lock is held between the read and the write, and the same statements
//! serve SQLite and PostgreSQL.

use sqlx::Row;

use crate::store::{Db, Store, StoreError};

/// One key's row: its last nonce, and when it was last answered (Unix
/// milliseconds; None before any answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub last_nonce: u64,
    pub last_request_ms: Option<i64>,
}

/// `last_nonce` holds a u64's bits in a signed 64-bit column; only equality
/// is asked of the database.
fn nonce_to_column(nonce: u64) -> i64 {
    nonce as i64
}

fn nonce_from_column(value: i64) -> u64 {
    value as u64
}

impl Store {
    pub async fn api_key_state(&self, public: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let sql = "SELECT last_nonce, last_request_ms FROM api_key_state WHERE public_key = $1";
        // The writer's connection on SQLite: the state just written by this
        // process's previous request is what it must see.
        on_pool!(self, writer, pool => {
            let row = sqlx::query(sql).bind(public).fetch_optional(pool).await?;
            row.map(|r| {
                Ok(ApiKeyRow { last_nonce: nonce_from_column(r.try_get("last_nonce")?), last_request_ms: r.try_get("last_request_ms")? })
            })
            .transpose()
        })
    }

    /// Writes `new` if the key's row is still `old` (absent when None);
    /// whether it was written.
    pub async fn swap_api_key_state(&self, public: &str, old: Option<ApiKeyRow>, new: ApiKeyRow) -> Result<bool, StoreError> {
        let nonce = nonce_to_column(new.last_nonce);
        let written: u64 = match old {
            None => {
                let sql = "INSERT INTO api_key_state (public_key, last_nonce, last_request_ms) VALUES ($1, $2, $3) \
                           ON CONFLICT (public_key) DO NOTHING";
                on_pool!(self, writer, pool => sqlx::query(sql).bind(public).bind(nonce).bind(new.last_request_ms).execute(pool).await?.rows_affected())
            }
            Some(old) => {
                let sql = "UPDATE api_key_state SET last_nonce = $2, last_request_ms = $3 \
                           WHERE public_key = $1 AND last_nonce = $4";
                let old_nonce = nonce_to_column(old.last_nonce);
                on_pool!(self, writer, pool => {
                    sqlx::query(sql).bind(public).bind(nonce).bind(new.last_request_ms).bind(old_nonce).execute(pool).await?.rows_affected()
                })
            }
        };
        Ok(written == 1)
    }
    /// Deletes the state of every key not in `configured`: the table stays as
    /// large as the config's key list. A key added back later starts afresh,
    /// so its old signed URIs would work once more: give it a new secret.
    pub async fn forget_api_keys_except(&self, configured: &[&str]) -> Result<u64, StoreError> {
        let known: Vec<String> =
            on_pool!(self, writer, pool => sqlx::query_scalar("SELECT public_key FROM api_key_state").fetch_all(pool).await?);
        let mut deleted = 0;
        for key in known.iter().filter(|k| !configured.contains(&k.as_str())) {
            let sql = "DELETE FROM api_key_state WHERE public_key = $1";
            deleted += on_pool!(self, writer, pool => sqlx::query(sql).bind(key).execute(pool).await?.rows_affected());
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_round_trip_through_the_signed_column() {
        for n in [1, 154, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
            assert_eq!(nonce_from_column(nonce_to_column(n)), n);
        }
        assert_ne!(nonce_to_column(u64::MAX), nonce_to_column(u64::MAX - 1));
    }
}
