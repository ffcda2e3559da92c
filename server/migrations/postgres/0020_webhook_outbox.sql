-- Webhooks' state in the database, so that a restart neither loses nor
-- repeats an event and every server process on this database sends each
-- event once.
--
-- The detector of each network with a webhook (open visits, occupancy, the
-- access points' report times, the last sequence given), as JSON: read and
-- written back in the transaction that stores a report (and in one per
-- clock tick that closes something), under the network's lock.
CREATE TABLE webhook_detectors (
    network_id  BIGINT PRIMARY KEY,
    state       TEXT    NOT NULL
);
-- The outbox: each event, written in the same transaction as the change
-- that made it, as the detector's event (JSON; the body is built when sent,
-- from the config's key and MAC rule).
CREATE TABLE webhook_events (
    network_id  BIGINT NOT NULL,
    sequence    BIGINT NOT NULL,
    event       TEXT    NOT NULL,
    -- Unix seconds it was written: events older than the retention go.
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (network_id, sequence)
);
CREATE INDEX webhook_events_by_created ON webhook_events (created_at);
-- Per endpoint (its URL, per network), the last sequence done with:
-- delivered (2xx) or dropped after its retries. Claimed row by row by the
-- process sending to the endpoint.
CREATE TABLE webhook_progress (
    network_id  BIGINT NOT NULL,
    url         TEXT    NOT NULL,
    done        BIGINT NOT NULL,
    PRIMARY KEY (network_id, url)
);
