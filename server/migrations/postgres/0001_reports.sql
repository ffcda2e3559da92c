-- Every row of every stored report: the ten documented fields, typed, as sent.
CREATE TABLE probe_rows (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    network_id       BIGINT  NOT NULL,
    node_mac         TEXT    NOT NULL,
    mac              TEXT    NOT NULL,
    count            BIGINT  NOT NULL,
    min_signal       INTEGER NOT NULL,
    max_signal       INTEGER NOT NULL,
    avg_signal       INTEGER NOT NULL,
    last_seen_signal INTEGER NOT NULL,
    first_seen       BIGINT  NOT NULL,
    last_seen        BIGINT  NOT NULL,
    associated       BOOLEAN NOT NULL,
    received_at      BIGINT  NOT NULL
);
CREATE INDEX probe_rows_received_at ON probe_rows (received_at);
CREATE INDEX probe_rows_mac ON probe_rows (lower(mac));
CREATE INDEX probe_rows_node_mac ON probe_rows (lower(node_mac));

-- One line per authenticated report, duplicates included: signs of life.
CREATE TABLE reports (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    network_id  BIGINT  NOT NULL,
    node_mac    TEXT    NOT NULL,
    received_at BIGINT  NOT NULL,
    row_count   INTEGER NOT NULL,
    duplicate   BOOLEAN NOT NULL
);
CREATE INDEX reports_node ON reports (network_id, node_mac, received_at);
CREATE INDEX reports_received_at ON reports (received_at);

-- Signatures of the reports whose rows were stored: a retry adds none.
CREATE TABLE report_signatures (
    signature   TEXT    PRIMARY KEY,
    received_at BIGINT  NOT NULL
);
CREATE INDEX report_signatures_received_at ON report_signatures (received_at);

-- node_mac is upper case here; '' is the bucket of senders not identified.
CREATE TABLE access_points (
    network_id         BIGINT  NOT NULL,
    node_mac           TEXT    NOT NULL,
    first_report       BIGINT,
    last_report        BIGINT,
    reports            BIGINT  NOT NULL DEFAULT 0,
    signature_failures BIGINT  NOT NULL DEFAULT 0,
    last_failure       BIGINT,
    PRIMARY KEY (network_id, node_mac)
);
