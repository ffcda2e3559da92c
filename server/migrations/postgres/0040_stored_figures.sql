-- Stored hourly figures, kept exactly and lazily (server/src/store/figures.rs
-- says how): per network and access point (scope, as in visits), local hour
-- start (a Unix instant, in the network's fixed offset) and class (0
-- universal, 1 randomized, 2 estimated devices). The first columns are the
-- hour's own bucket, the s_ ones the visits that start in it. An hour
-- without a row and without a dirty mark has no visit.
CREATE TABLE hourly_figures (
    network_id      BIGINT NOT NULL,
    scope           TEXT    NOT NULL,
    hour            BIGINT NOT NULL,
    class           BIGINT NOT NULL,
    unique_clients  BIGINT NOT NULL,
    visitors        BIGINT NOT NULL,
    passersby       BIGINT NOT NULL,
    connected       BIGINT NOT NULL,
    dwell0          BIGINT NOT NULL,
    dwell1          BIGINT NOT NULL,
    dwell2          BIGINT NOT NULL,
    dwell3          BIGINT NOT NULL,
    new_visitors    BIGINT NOT NULL,
    repeat_visitors BIGINT NOT NULL,
    peak            BIGINT NOT NULL,
    s_visitors      BIGINT NOT NULL,
    s_passersby     BIGINT NOT NULL,
    s_connected     BIGINT NOT NULL,
    s_dwell0        BIGINT NOT NULL,
    s_dwell1        BIGINT NOT NULL,
    s_dwell2        BIGINT NOT NULL,
    s_dwell3        BIGINT NOT NULL,
    s_new_visitors  BIGINT NOT NULL,
    s_repeat        BIGINT NOT NULL,
    PRIMARY KEY (network_id, scope, hour, class)
);

-- Hours whose visits changed since their figures were stored: ingest marks
-- them (and bumps generation), a view recomputes them and removes the mark
-- only if generation is still the one it read.
CREATE TABLE figure_dirty (
    network_id BIGINT NOT NULL,
    scope      TEXT    NOT NULL,
    hour       BIGINT NOT NULL,
    generation BIGINT NOT NULL,
    PRIMARY KEY (network_id, scope, hour)
);

-- Local days whose class_days are to be recomputed: marked when one of
-- their hours is recomputed (a day is also dirty while one of its hours is).
CREATE TABLE figure_dirty_days (
    network_id BIGINT NOT NULL,
    scope      TEXT    NOT NULL,
    day        BIGINT NOT NULL,
    PRIMARY KEY (network_id, scope, day)
);

-- Every client present on a local day, by the class of its visits there
-- (a client may be in two, as the views count by a visit's class), with
-- the previous day the same client was present in that class (prev; far in
-- the past when none).
CREATE TABLE class_days (
    network_id BIGINT  NOT NULL,
    scope      TEXT    NOT NULL,
    class      BIGINT  NOT NULL,
    mac        BIGINT  NOT NULL,
    day        BIGINT  NOT NULL,
    prev       BIGINT  NOT NULL,
    PRIMARY KEY (network_id, scope, class, mac, day)
);
CREATE INDEX class_days_by_day ON class_days (network_id, scope, day);

-- class_days counted per (day, class, prev): a day's unique clients are
-- the sum over prev, and the distinct clients of days [d1, d2) are the
-- rows of those days whose prev is before d1 (each client's first day
-- there), so a range's unique clients read O(days x distinct prevs), not
-- its clients.
CREATE TABLE class_day_gaps (
    network_id BIGINT  NOT NULL,
    scope      TEXT    NOT NULL,
    day        BIGINT  NOT NULL,
    class      BIGINT  NOT NULL,
    prev       BIGINT  NOT NULL,
    n          BIGINT  NOT NULL,
    PRIMARY KEY (network_id, scope, day, class, prev)
);

-- The offset a network's figures are built in: none, or another, means
-- they are reset (every hour of its visits marked dirty) before a view.
CREATE TABLE figures_built (
    network_id BIGINT PRIMARY KEY,
    utc_offset BIGINT NOT NULL
);
