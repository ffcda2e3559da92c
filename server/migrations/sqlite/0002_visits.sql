-- Visits as ingest builds them, per network (scope '') and per access point
-- (scope = its node_mac, upper case). A visit is open while its access
-- points' reports may still extend it; open and closed visits are the same
-- rows. mac is the client's 48-bit address as an integer. The two triples
-- (start_time, start_last, first_node) and (end_time, end_first,
-- last_node) are what merging needs to stay equal to the batch visits()
-- (server/src/analytics/sessionize.rs says why).
CREATE TABLE visits (
    network_id  INTEGER NOT NULL,
    scope       TEXT    NOT NULL,
    mac         INTEGER NOT NULL,
    start_time  INTEGER NOT NULL,
    start_last  INTEGER NOT NULL,
    first_node  TEXT    NOT NULL,
    end_time    INTEGER NOT NULL,
    end_first   INTEGER NOT NULL,
    last_node   TEXT    NOT NULL,
    best_signal INTEGER NOT NULL,
    connected   BOOLEAN NOT NULL,
    -- The venue's local day of start_time, for new vs repeat.
    start_day   INTEGER NOT NULL,
    -- Also ingest's way to a client's visits that new rows may meet: no
    -- index on its end, which moves with every report.
    PRIMARY KEY (network_id, scope, mac, start_time)
) WITHOUT ROWID;
-- Views: the visits that start in a range, and those begun before it that reach into it.
CREATE INDEX visits_start ON visits (network_id, scope, start_time);
CREATE INDEX visits_end ON visits (network_id, scope, end_time);

-- Every local day on which a client was present (in any visit): new vs
-- repeat reads 30 of these per visitor, never 30 days of rows.
CREATE TABLE client_days (
    network_id INTEGER NOT NULL,
    scope      TEXT    NOT NULL,
    mac        INTEGER NOT NULL,
    day        INTEGER NOT NULL,
    PRIMARY KEY (network_id, scope, mac, day)
) WITHOUT ROWID;

-- The rules each network's stored visits were built with: other rules in
-- the config mean a rebuild from the raw rows.
CREATE TABLE analytics_rules (
    network_id INTEGER PRIMARY KEY,
    rules      TEXT    NOT NULL
);
