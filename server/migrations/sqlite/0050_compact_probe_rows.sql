-- Raw rows, compact: the client's and the access point's MAC as 48-bit
-- integers (the MAC's six bytes, as stored visits hold theirs), and the
-- text as sent only when it differs from the usual spelling (client MACs
-- in lower case, access points' in upper case, as presenced sends them),
-- so that every reader shows what was sent. At a million rows this saves
-- the two 17-byte texts in the row and in each of their indexes.
CREATE TABLE probe_rows_compact (
    id               INTEGER PRIMARY KEY,
    network_id       INTEGER NOT NULL,
    node_mac         INTEGER NOT NULL,
    mac              INTEGER NOT NULL,
    count            INTEGER NOT NULL,
    min_signal       INTEGER NOT NULL,
    max_signal       INTEGER NOT NULL,
    avg_signal       INTEGER NOT NULL,
    last_seen_signal INTEGER NOT NULL,
    first_seen       INTEGER NOT NULL,
    last_seen        INTEGER NOT NULL,
    associated       BOOLEAN NOT NULL,
    received_at      INTEGER NOT NULL,
    estimated_device BOOLEAN NOT NULL DEFAULT FALSE,
    -- NULL when the text as sent is the lower-case form of mac.
    mac_sent         TEXT,
    -- NULL when the text as sent is the upper-case form of node_mac.
    node_mac_sent    TEXT
);
-- The report crate accepted only colon MACs of six hex pairs, so each
-- character is a hex digit where this reads one.
INSERT INTO probe_rows_compact
SELECT id, network_id,
    ((instr('0123456789abcdef', lower(substr(node_mac, 1, 1))) - 1) << 44) |
    ((instr('0123456789abcdef', lower(substr(node_mac, 2, 1))) - 1) << 40) |
    ((instr('0123456789abcdef', lower(substr(node_mac, 4, 1))) - 1) << 36) |
    ((instr('0123456789abcdef', lower(substr(node_mac, 5, 1))) - 1) << 32) |
    ((instr('0123456789abcdef', lower(substr(node_mac, 7, 1))) - 1) << 28) |
    ((instr('0123456789abcdef', lower(substr(node_mac, 8, 1))) - 1) << 24) |
    ((instr('0123456789abcdef', lower(substr(node_mac, 10, 1))) - 1) << 20) |
    ((instr('0123456789abcdef', lower(substr(node_mac, 11, 1))) - 1) << 16) |
    ((instr('0123456789abcdef', lower(substr(node_mac, 13, 1))) - 1) << 12) |
    ((instr('0123456789abcdef', lower(substr(node_mac, 14, 1))) - 1) << 8) |
    ((instr('0123456789abcdef', lower(substr(node_mac, 16, 1))) - 1) << 4) |
    ((instr('0123456789abcdef', lower(substr(node_mac, 17, 1))) - 1) << 0),
    ((instr('0123456789abcdef', lower(substr(mac, 1, 1))) - 1) << 44) |
    ((instr('0123456789abcdef', lower(substr(mac, 2, 1))) - 1) << 40) |
    ((instr('0123456789abcdef', lower(substr(mac, 4, 1))) - 1) << 36) |
    ((instr('0123456789abcdef', lower(substr(mac, 5, 1))) - 1) << 32) |
    ((instr('0123456789abcdef', lower(substr(mac, 7, 1))) - 1) << 28) |
    ((instr('0123456789abcdef', lower(substr(mac, 8, 1))) - 1) << 24) |
    ((instr('0123456789abcdef', lower(substr(mac, 10, 1))) - 1) << 20) |
    ((instr('0123456789abcdef', lower(substr(mac, 11, 1))) - 1) << 16) |
    ((instr('0123456789abcdef', lower(substr(mac, 13, 1))) - 1) << 12) |
    ((instr('0123456789abcdef', lower(substr(mac, 14, 1))) - 1) << 8) |
    ((instr('0123456789abcdef', lower(substr(mac, 16, 1))) - 1) << 4) |
    ((instr('0123456789abcdef', lower(substr(mac, 17, 1))) - 1) << 0),
    count, min_signal, max_signal, avg_signal, last_seen_signal, first_seen, last_seen, associated, received_at,
    estimated_device,
    CASE WHEN mac = lower(mac) THEN NULL ELSE mac END,
    CASE WHEN node_mac = upper(node_mac) THEN NULL ELSE node_mac END
FROM probe_rows;
DROP TABLE probe_rows;
ALTER TABLE probe_rows_compact RENAME TO probe_rows;
CREATE INDEX probe_rows_received_at ON probe_rows (received_at);
-- The MAC filters are ranges of these integers (a prefix is a range).
CREATE INDEX probe_rows_mac ON probe_rows (mac);
CREATE INDEX probe_rows_node_mac ON probe_rows (node_mac);
CREATE INDEX probe_rows_network_first_seen ON probe_rows (network_id, first_seen);
