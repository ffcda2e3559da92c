-- Generations that are never given twice. The figures' refresher reads the
-- dirty marks and the visits outside the writer (from a reader's snapshot)
-- and then stores only the hours and days whose marks still carry the
-- generation it read: a mark written since (by a report, a rebuild, or a
-- view that recomputed it and a report that marked it again) has another
-- one. A per-mark counter could come back to the value read once its mark
-- was removed and written again; this one, bumped by every transaction that
-- marks, cannot (SQLite has one writer at a time).
CREATE TABLE figure_generation (
    n INTEGER NOT NULL
);
INSERT INTO figure_generation (n) SELECT COALESCE(MAX(generation), 0) FROM figure_dirty;

ALTER TABLE figure_dirty_days ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
