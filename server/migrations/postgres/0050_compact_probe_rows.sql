-- Raw rows, compact: the client's and the access point's MAC as 48-bit
-- integers (the MAC's six bytes, as stored visits hold theirs), and the
-- text as sent only when it differs from the usual spelling (client MACs
-- in lower case, access points' in upper case, as presenced sends them),
-- so that every reader shows what was sent.
ALTER TABLE probe_rows ADD COLUMN mac_sent TEXT, ADD COLUMN node_mac_sent TEXT;
UPDATE probe_rows SET
    mac_sent = CASE WHEN mac = lower(mac) THEN NULL ELSE mac END,
    node_mac_sent = CASE WHEN node_mac = upper(node_mac) THEN NULL ELSE node_mac END
WHERE mac <> lower(mac) OR node_mac <> upper(node_mac);
DROP INDEX probe_rows_mac;
DROP INDEX probe_rows_node_mac;
-- The report crate accepted only colon MACs of six hex pairs: twelve hex
-- digits, read as the low 48 bits of a 64-bit string.
ALTER TABLE probe_rows
    ALTER COLUMN mac TYPE BIGINT USING ('x' || lpad(replace(mac, ':', ''), 16, '0'))::bit(64)::bigint,
    ALTER COLUMN node_mac TYPE BIGINT USING ('x' || lpad(replace(node_mac, ':', ''), 16, '0'))::bit(64)::bigint;
-- The MAC filters are ranges of these integers (a prefix is a range).
CREATE INDEX probe_rows_mac ON probe_rows (mac);
CREATE INDEX probe_rows_node_mac ON probe_rows (node_mac);
