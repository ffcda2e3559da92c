-- Stored hourly figures, kept exactly and lazily (server/src/store/figures.rs
-- says how): per network and access point (scope, as in visits), local hour
-- start (a Unix instant, in the network's fixed offset) and class (0
-- universal, 1 randomized, 2 estimated devices). The first columns are the
-- hour's own bucket, the s_ ones the visits that start in it. An hour
-- without a row and without a dirty mark has no visit.
CREATE TABLE hourly_figures (
    network_id      INTEGER NOT NULL,
    scope           TEXT    NOT NULL,
    hour            INTEGER NOT NULL,
    class           INTEGER NOT NULL,
    unique_clients  INTEGER NOT NULL,
    visitors        INTEGER NOT NULL,
    passersby       INTEGER NOT NULL,
    connected       INTEGER NOT NULL,
    dwell0          INTEGER NOT NULL,
    dwell1          INTEGER NOT NULL,
    dwell2          INTEGER NOT NULL,
    dwell3          INTEGER NOT NULL,
    new_visitors    INTEGER NOT NULL,
    repeat_visitors INTEGER NOT NULL,
    peak            INTEGER NOT NULL,
    s_visitors      INTEGER NOT NULL,
    s_passersby     INTEGER NOT NULL,
    s_connected     INTEGER NOT NULL,
    s_dwell0        INTEGER NOT NULL,
    s_dwell1        INTEGER NOT NULL,
    s_dwell2        INTEGER NOT NULL,
    s_dwell3        INTEGER NOT NULL,
    s_new_visitors  INTEGER NOT NULL,
    s_repeat        INTEGER NOT NULL,
    PRIMARY KEY (network_id, scope, hour, class)
) WITHOUT ROWID;

-- Hours whose visits changed since their figures were stored: ingest marks
-- them (and bumps generation), a view recomputes them and removes the mark
-- only if generation is still the one it read.
CREATE TABLE figure_dirty (
    network_id INTEGER NOT NULL,
    scope      TEXT    NOT NULL,
    hour       INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    PRIMARY KEY (network_id, scope, hour)
) WITHOUT ROWID;

-- Local days whose class_days are to be recomputed: marked when one of
-- their hours is recomputed (a day is also dirty while one of its hours is).
CREATE TABLE figure_dirty_days (
    network_id INTEGER NOT NULL,
    scope      TEXT    NOT NULL,
    day        INTEGER NOT NULL,
    PRIMARY KEY (network_id, scope, day)
) WITHOUT ROWID;

-- Every client present on a local day, by the class of its visits there
-- (a client may be in two, as the views count by a visit's class), with
-- the previous day the same client was present in that class (prev; far in
-- the past when none).
CREATE TABLE class_days (
    network_id INTEGER NOT NULL,
    scope      TEXT    NOT NULL,
    class      INTEGER NOT NULL,
    mac        INTEGER NOT NULL,
    day        INTEGER NOT NULL,
    prev       INTEGER NOT NULL,
    PRIMARY KEY (network_id, scope, class, mac, day)
) WITHOUT ROWID;
CREATE INDEX class_days_by_day ON class_days (network_id, scope, day);

-- class_days counted per (day, class, prev): a day's unique clients are
-- the sum over prev, and the distinct clients of days [d1, d2) are the
-- rows of those days whose prev is before d1 (each client's first day
-- there), so a range's unique clients read O(days x distinct prevs), not
-- its clients.
CREATE TABLE class_day_gaps (
    network_id INTEGER NOT NULL,
    scope      TEXT    NOT NULL,
    day        INTEGER NOT NULL,
    class      INTEGER NOT NULL,
    prev       INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (network_id, scope, day, class, prev)
) WITHOUT ROWID;

-- The offset a network's figures are built in: none, or another, means
-- they are reset (every hour of its visits marked dirty) before a view.
CREATE TABLE figures_built (
    network_id INTEGER PRIMARY KEY,
    utc_offset INTEGER NOT NULL
);
