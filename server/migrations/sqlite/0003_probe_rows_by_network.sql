-- A network's rows by time: the rebuild and the raw-row reference read them so.
CREATE INDEX probe_rows_network_first_seen ON probe_rows (network_id, first_seen);
