//! The server's one reader of the wall clock. Only the I/O layers call it;
//! they pass the time to the pure ones. A module of its own (not the crate
//! root, which holds `AppState` above every layer) so that a layer that
//! needs the time imports nothing above it.

/// Unix seconds now: read only by the I/O layers, passed to the pure ones.
pub fn unix_now() -> i64 {
    unix_now_ms().div_euclid(1000)
}

/// Unix milliseconds now, for what several processes compare (the query
/// API's rate).
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
