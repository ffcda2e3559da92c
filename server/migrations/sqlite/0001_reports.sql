-- Every row of every stored report: the ten documented fields, typed, as sent.
CREATE TABLE probe_rows (
    id               INTEGER PRIMARY KEY,
    network_id       INTEGER NOT NULL,
    node_mac         TEXT    NOT NULL,
    mac              TEXT    NOT NULL,
    count            INTEGER NOT NULL,
    min_signal       INTEGER NOT NULL,
    max_signal       INTEGER NOT NULL,
    avg_signal       INTEGER NOT NULL,
    last_seen_signal INTEGER NOT NULL,
    first_seen       INTEGER NOT NULL,
    last_seen        INTEGER NOT NULL,
    associated       BOOLEAN NOT NULL,
    received_at      INTEGER NOT NULL
);
CREATE INDEX probe_rows_received_at ON probe_rows (received_at);
CREATE INDEX probe_rows_mac ON probe_rows (lower(mac));
CREATE INDEX probe_rows_node_mac ON probe_rows (lower(node_mac));

-- One line per authenticated report, duplicates included: signs of life.
CREATE TABLE reports (
    id          INTEGER PRIMARY KEY,
    network_id  INTEGER NOT NULL,
    node_mac    TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    row_count   INTEGER NOT NULL,
    duplicate   BOOLEAN NOT NULL
);
CREATE INDEX reports_node ON reports (network_id, node_mac, received_at);
CREATE INDEX reports_received_at ON reports (received_at);

-- Signatures of the reports whose rows were stored: a retry adds none.
CREATE TABLE report_signatures (
    signature   TEXT    PRIMARY KEY,
    received_at INTEGER NOT NULL
);
CREATE INDEX report_signatures_received_at ON report_signatures (received_at);

-- node_mac is upper case here; '' is the bucket of senders not identified.
CREATE TABLE access_points (
    network_id         INTEGER NOT NULL,
    node_mac           TEXT    NOT NULL,
    first_report       INTEGER,
    last_report        INTEGER,
    reports            INTEGER NOT NULL DEFAULT 0,
    signature_failures INTEGER NOT NULL DEFAULT 0,
    last_failure       INTEGER,
    PRIMARY KEY (network_id, node_mac)
);
