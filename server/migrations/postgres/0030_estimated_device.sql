-- The agent's `estimated_device` mark (`--randomized-macs merge`): on the
-- raw row as sent, and on a visit when any of its rows carries it, so that
-- the views count estimated devices apart from raw random addresses and
-- from universal ones. Rows stored before it were never marked.
ALTER TABLE probe_rows ADD COLUMN estimated_device BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE visits ADD COLUMN estimated_device BOOLEAN NOT NULL DEFAULT FALSE;
