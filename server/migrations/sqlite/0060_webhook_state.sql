-- Webhooks tell the stored visits' changes: what remains of their own
-- state is a small row per network and per access point, no longer a
-- detector's JSON read and written back with every report.
--
-- Per network with a webhook: the last sequence given, the network's clock
-- (the time its rows reach, as far as closures have been told: a visit
-- whose end is at most clock minus the session timeout has been told as
-- left), how far its latest rows were behind their arrival (to carry the
-- clock on between reports), the occupancy last told, and the late visit
-- changes not told (beyond the lateness horizon; to a visit already told
-- as left).
CREATE TABLE webhook_networks (
    network_id          INTEGER PRIMARY KEY,
    sequence            INTEGER NOT NULL DEFAULT 0,
    clock               INTEGER,
    lag                 INTEGER NOT NULL DEFAULT 0,
    occupancy           INTEGER NOT NULL DEFAULT 0,
    late_beyond_horizon INTEGER NOT NULL DEFAULT 0,
    late_after_leave    INTEGER NOT NULL DEFAULT 0
);
-- Per access point of such a network: the occupancy last told, whether it
-- was told silent, and its report interval (the median gap of its latest
-- reports, as the access points page infers it).
CREATE TABLE webhook_channels (
    network_id      INTEGER NOT NULL,
    node_mac        TEXT    NOT NULL,
    occupancy       INTEGER NOT NULL DEFAULT 0,
    silent          BOOLEAN NOT NULL DEFAULT FALSE,
    report_interval INTEGER,
    PRIMARY KEY (network_id, node_mac)
);
-- The sequences go on where the detectors left them; their open visits are
-- the stored visits now.
INSERT INTO webhook_networks (network_id, sequence)
    SELECT network_id, json_extract(state, '$.sequence') FROM webhook_detectors;
DROP TABLE webhook_detectors;
