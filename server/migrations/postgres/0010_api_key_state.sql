-- The query API's memory of each key, shared by every server process on this
-- database: the last nonce it used (a signed URI works once, on any process)
-- and when it was last answered (one request a second per key, across
-- processes). One row per key that ever sent a correctly signed request, so
-- the table is as large as the config's key list; rows of keys no longer in
-- the config file are deleted when a server starts.
CREATE TABLE api_key_state (
    public_key      TEXT    PRIMARY KEY,
    -- The u64 nonce's bits as a signed 64-bit integer: compared for equality
    -- only (the order is decided in Rust), so the cast loses nothing.
    last_nonce      BIGINT  NOT NULL,
    -- Unix milliseconds of the last answered request; NULL before any.
    last_request_ms BIGINT
);
