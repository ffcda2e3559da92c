-- Generations that are never given twice. The figures' refresher reads the
-- dirty marks and the visits outside the network's lock (from a snapshot)
-- and then stores only the hours and days whose marks still carry the
-- generation it read: a mark written since (by a report, a rebuild, or a
-- view that recomputed it and a report that marked it again) has another
-- one. A per-mark counter could come back to the value read once its mark
-- was removed and written again; a sequence cannot, and needs no lock.
CREATE SEQUENCE figure_generation;
SELECT setval('figure_generation', COALESCE((SELECT MAX(generation) FROM figure_dirty), 0) + 1, false);

ALTER TABLE figure_dirty_days ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
