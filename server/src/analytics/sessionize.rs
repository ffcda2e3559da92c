//! The incremental sessionizer: stored visits and newly stored rows in, the
//! visits to write and to delete out. Pure: no I/O, no clock.
//!
//! Why it equals the batch `visits()` whatever the arrival order: a visit is
//! a connected component of its rows' intervals [first_seen, last_seen +
//! timeout), which does not depend on order, and every figure of a visit is
//! an associative, commutative fold of its rows:
//! - start, end, best signal and connected are min, max, max and or;
//! - the access point it joins is the node of its first row in `visits()`'s
//!   order (first_seen, last_seen, node_mac): the least such triple;
//! - the access point it leaves is the node of the row that last moved its
//!   end in that order: among the rows with last_seen = end, the greatest
//!   (first_seen, node_mac); so the greatest (last_seen, first_seen,
//!   node_mac).
//!
//! So a stored visit keeps those two triples, merging two visits is the
//! fold of their folds, and new rows merge with exactly the stored visits
//! whose extended interval they meet (stored visits are at least a timeout
//! apart, so no other can join).

use crate::analytics::visits::{is_randomized, Sighting, Visit, VisitRules};

/// One visit as the sessionizer folds it: a row is a visit of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    pub mac: String,
    /// Least (first_seen, last_seen, node_mac) of its rows: `start` and the
    /// row it starts with.
    pub start: i64,
    pub start_last: i64,
    pub first_node: String,
    /// Greatest (last_seen, first_seen, node_mac): `end` and the row that
    /// set it.
    pub end: i64,
    pub end_first: i64,
    pub last_node: String,
    pub best_signal: i32,
    pub connected: bool,
    /// Any of its rows marked `estimated_device`: an or, like `connected`.
    pub estimated_device: bool,
}

impl Fold {
    pub fn of_row(s: &Sighting, estimated_device: bool) -> Fold {
        let (first, last) = (s.first_seen.min(s.last_seen), s.first_seen.max(s.last_seen));
        Fold {
            mac: s.mac.to_ascii_lowercase(),
            start: first,
            start_last: last,
            first_node: s.node_mac.to_ascii_uppercase(),
            end: last,
            end_first: first,
            last_node: s.node_mac.to_ascii_uppercase(),
            best_signal: s.max_signal,
            connected: s.associated,
            estimated_device,
        }
    }

    pub fn absorb(&mut self, o: &Fold) {
        if (o.start, o.start_last, &o.first_node) < (self.start, self.start_last, &self.first_node) {
            self.start = o.start;
            self.start_last = o.start_last;
            self.first_node.clone_from(&o.first_node);
        }
        if (o.end, o.end_first, &o.last_node) > (self.end, self.end_first, &self.last_node) {
            self.end = o.end;
            self.end_first = o.end_first;
            self.last_node.clone_from(&o.last_node);
        }
        self.best_signal = self.best_signal.max(o.best_signal);
        self.connected |= o.connected;
        self.estimated_device |= o.estimated_device;
    }

    /// The visit as `visits()` gives it, judged by `rules`.
    pub fn visit(&self, rules: &VisitRules) -> Visit {
        Visit {
            mac: self.mac.clone(),
            node_mac: self.first_node.clone(),
            last_node_mac: self.last_node.clone(),
            start: self.start,
            end: self.end,
            best_signal: self.best_signal,
            connected: self.connected,
            randomized: is_randomized(&self.mac),
            estimated_device: self.estimated_device,
            visitor: rules.is_visitor(self.end - self.start, self.best_signal),
        }
    }
}

/// What new rows do to one client's stored visits (of one scope).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Change {
    /// Visits to write (new, grown, or merged from several).
    pub write: Vec<Fold>,
    /// Stored visits that a written one replaces, by their `start`: every
    /// one except a written visit's own start (overwritten in place).
    pub delete: Vec<i64>,
    /// For each written visit, the stored visits it replaces (their
    /// [start, end]), to know which days are new.
    pub replaced: Vec<Vec<(i64, i64)>>,
}

/// Merges `rows` (one client's) into `stored` (that client's visits that
/// may meet them: at least those whose [start, end + timeout) meets some row's
/// [first_seen, last_seen + timeout)). Visits not met stay as they are and
/// are not in the change; a visit met but not changed (a repeated row) is
/// not either.
pub fn merge(stored: &[Fold], rows: &[Fold], timeout: i64) -> Change {
    // (piece, index into stored when it is a stored visit)
    let mut pieces: Vec<(&Fold, Option<usize>)> =
        stored.iter().enumerate().map(|(i, f)| (f, Some(i))).chain(rows.iter().map(|f| (f, None))).collect();
    pieces.sort_by_key(|(f, _)| f.start);
    let mut change = Change::default();
    let mut i = 0;
    while i < pieces.len() {
        let mut merged = pieces[i].0.clone();
        let mut members = vec![pieces[i]];
        let mut j = i + 1;
        while j < pieces.len() && pieces[j].0.start < merged.end + timeout {
            merged.absorb(pieces[j].0);
            members.push(pieces[j]);
            j += 1;
        }
        i = j;
        let olds: Vec<&Fold> = members.iter().filter(|(_, s)| s.is_some()).map(|(f, _)| *f).collect();
        if members.iter().all(|(_, s)| s.is_some()) || (olds.len() == 1 && *olds[0] == merged) {
            continue;
        }
        change.delete.extend(olds.iter().map(|f| f.start).filter(|s| *s != merged.start));
        change.replaced.push(olds.iter().map(|f| (f.start, f.end)).collect());
        change.write.push(merged);
    }
    change
}

/// The local days of [start, end] not already in one of `covered` (each
/// [start, end] too): the per-client-per-day rows a written visit adds.
pub fn new_days(start: i64, end: i64, covered: &[(i64, i64)], utc_offset: i64) -> Vec<i64> {
    let day = |t| crate::analytics::metrics::local_day(t, utc_offset);
    (day(start)..=day(end))
        .filter(|d| !covered.iter().any(|(s, e)| (day(*s)..=day(*e)).contains(d)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::visits::visits_marked;

    fn s(mac: &str, node: &str, first: i64, last: i64, signal: i32, associated: bool) -> Sighting {
        Sighting { mac: mac.into(), node_mac: node.into(), first_seen: first, last_seen: last, max_signal: signal, associated }
    }

    /// Feeds rows one at a time, as reports arriving in this order would.
    fn incremental(rows: &[(Sighting, bool)], rules: &VisitRules) -> Vec<Visit> {
        let mut stored: Vec<Fold> = Vec::new();
        for (r, estimated) in rows {
            let c = merge(&stored, &[Fold::of_row(r, *estimated)], rules.session_timeout);
            stored.retain(|f| !c.delete.contains(&f.start) && !c.write.iter().any(|w| w.start == f.start));
            stored.extend(c.write);
        }
        let mut v: Vec<Visit> = stored.iter().map(|f| f.visit(rules)).collect();
        v.sort_by(|a, b| (a.start, &a.mac).cmp(&(b.start, &b.mac)));
        v
    }

    // Every order of these rows of one client at two access points: a row
    // that bridges two visits, ties on first_seen and on last_seen.
    #[test]
    fn every_arrival_order_gives_the_batch_visits() {
        let m = "00:00:00:00:00:01";
        let rows = [
            (s(m, "AP1", 0, 100, -70, false), false),
            (s(m, "AP2", 0, 100, -60, false), false),
            (s(m, "AP2", 50, 400, -80, true), false),
            (s(m, "AP1", 200, 400, -90, false), false),
            (s(m, "AP1", 1500, 1600, -50, false), false),
            // One estimate row makes its whole visit an estimated device's.
            (s(m, "AP2", 1000, 1100, -50, false), true),
            (s(m, "AP1", 3000, 3100, -50, false), false),
        ];
        let rules = VisitRules::default();
        let batch = visits_marked(&rows, &rules);
        assert_eq!(
            batch.iter().map(|v| (v.start, v.end, v.estimated_device)).collect::<Vec<_>>(),
            [(0, 1600, true), (3000, 3100, false)]
        );
        let mut order: Vec<usize> = (0..rows.len()).collect();
        // All 5040 permutations (Heap's algorithm).
        let mut c = vec![0; order.len()];
        let mut seen = 0;
        let mut check = |order: &[usize]| {
            let fed: Vec<(Sighting, bool)> = order.iter().map(|&i| rows[i].clone()).collect();
            assert_eq!(incremental(&fed, &rules), batch, "order {order:?}");
            seen += 1;
        };
        check(&order);
        let mut i = 0;
        while i < order.len() {
            if c[i] < i {
                if i % 2 == 0 {
                    order.swap(0, i);
                } else {
                    order.swap(c[i], i);
                }
                check(&order);
                c[i] += 1;
                i = 0;
            } else {
                c[i] = 0;
                i += 1;
            }
        }
        assert_eq!(seen, 5040);
    }

    #[test]
    fn a_repeated_row_changes_nothing() {
        let rules = VisitRules::default();
        let row = Fold::of_row(&s("00:00:00:00:00:02", "AP1", 0, 100, -50, false), false);
        let c = merge(std::slice::from_ref(&row), std::slice::from_ref(&row), rules.session_timeout);
        assert_eq!(c, Change::default());
    }

    #[test]
    fn a_bridge_deletes_the_later_visit() {
        let a = Fold::of_row(&s("00:00:00:00:00:03", "AP1", 0, 100, -50, false), false);
        let b = Fold::of_row(&s("00:00:00:00:00:03", "AP1", 1500, 1600, -50, false), false);
        let bridge = Fold::of_row(&s("00:00:00:00:00:03", "AP1", 800, 900, -50, false), false);
        let c = merge(&[a, b], &[bridge], 900);
        assert_eq!((c.write.len(), c.write[0].start, c.write[0].end), (1, 0, 1600));
        assert_eq!(c.delete, [1500]);
        assert_eq!(c.replaced, [vec![(0, 100), (1500, 1600)]]);
    }

    #[test]
    fn days_not_yet_covered() {
        const D: i64 = 86_400;
        assert_eq!(new_days(D - 10, 2 * D + 5, &[(D - 100, D - 50)], 0), [1, 2]);
        assert_eq!(new_days(D - 10, D + 5, &[], 3600), [1]);
        assert_eq!(new_days(10, 20, &[(0, 30)], 0), Vec::<i64>::new());
    }
}
