-- The figures' refresher takes the dirty hours whose marks are oldest (the
-- least generation), and only those unchanged for a while: an hour still
-- being reported is marked again by nearly every batch, so recomputing it
-- would be undone moments later.
CREATE INDEX figure_dirty_generation ON figure_dirty (generation);
