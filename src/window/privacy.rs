//! Keyed pseudonyms for client MACs, applied to a finished window.
//!
//! A pseudonym is formatted as a MAC so that every receiver keeps working:
//! the first six bytes of HMAC-SHA256(K, the six address bytes), with the
//! locally administered bit (0x02 of the first byte) set and the group bit
//! (0x01) clear. K is the key of `--pseudonymize-key-file`, or, with
//! `--pseudonymize-rotate daily`, a key of the day derived from it:
//!
//! ```text
//! K = HMAC-SHA256(key, "YYYY-MM-DD")   (the 10 ASCII bytes of the UTC date)
//! ```
//!
//! so that a pseudonym lives one UTC day at most. The day of a window is the
//! UTC day of its latest frame (the largest `last_seen` of its rows): one day
//! for the whole window, even one that straddles midnight, and taken from the
//! capture's timestamps, so a replay gives the pseudonyms its live run gave.
//!
//! Pseudonyms are computed once per client and window, when the report is
//! built, never per frame: the raw MACs stay in the window's table (in
//! memory only) and are replaced before anything is written out.
//!
//! Two clients of one window may get the same pseudonym (46 free bits:
//! about one window in 350,000 at 10,000 clients). Their rows are merged into
//! one, as if one client had sent both sets of frames: a report has one row
//! per MAC, and a receiver that keys rows by MAC would otherwise keep one of
//! them and lose the other. Pure: no I/O, no clock.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::wire::mac::MacAddr;
use crate::window::table::{Row, Window};

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// One pseudonym per client for as long as the key stays.
    Never,
    /// The UTC date is mixed in: a new pseudonym every UTC day.
    Daily,
}

/// The pseudonym key and how it rotates. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Pseudonymizer {
    key: Vec<u8>,
    rotation: Rotation,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pseudonymizer").field("key", &"<set>").field("rotation", &self.rotation).finish()
    }
}

/// The keyed hash of one window, ready for its clients: the HMAC's key
/// schedule is done once, each client costs one clone and two SHA-256 blocks.
pub struct WindowPseudonyms(HmacSha256);

impl WindowPseudonyms {
    pub fn of(&self, mac: MacAddr) -> MacAddr {
        let mut h = self.0.clone();
        h.update(&mac.0);
        let digest = h.finalize().into_bytes();
        let mut out = [0u8; 6];
        out.copy_from_slice(&digest[..6]);
        out[0] = (out[0] | 0x02) & !0x01;
        MacAddr(out)
    }
}

fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: this cannot fail.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length")
}

impl Pseudonymizer {
    pub fn new(key: Vec<u8>, rotation: Rotation) -> Self {
        Pseudonymizer { key, rotation }
    }

    pub fn rotation(&self) -> Rotation {
        self.rotation
    }

    /// The hash for a window whose latest frame was at `latest_secs` (UTC
    /// epoch seconds); the time matters only with daily rotation.
    pub fn for_time(&self, latest_secs: i64) -> WindowPseudonyms {
        match self.rotation {
            Rotation::Never => WindowPseudonyms(keyed(&self.key)),
            Rotation::Daily => {
                let mut day = keyed(&self.key);
                day.update(utc_date(latest_secs).as_bytes());
                WindowPseudonyms(keyed(&day.finalize().into_bytes()))
            }
        }
    }

    /// Replaces every client MAC of `window` by its pseudonym, sorts the rows
    /// by pseudonym (the report is sorted by the MAC it prints: an order by
    /// raw MAC would tell something of the raw addresses) and merges rows
    /// whose pseudonyms collide. `associated` is given in raw MACs and comes
    /// back in pseudonyms. Returns how many rows were merged away.
    pub fn apply(&self, window: &mut Window, associated: &mut std::collections::BTreeSet<MacAddr>) -> usize {
        let Some(latest) = window.rows.iter().map(|(_, r)| r.last_seen.secs).max() else {
            // No rows: no MACs to replace; who is associated does not matter.
            associated.clear();
            return 0;
        };
        let hash = self.for_time(latest);
        *associated = associated.iter().map(|m| hash.of(*m)).collect();
        for (mac, _) in window.rows.iter_mut() {
            *mac = hash.of(*mac);
        }
        sort_and_merge(&mut window.rows)
    }
}

/// Sorts rows by MAC and merges the rows of equal MACs; returns how many
/// rows were merged away. Stable: colliding rows stay in raw-MAC order, so
/// the merge is the same on every run.
fn sort_and_merge(rows: &mut Vec<(MacAddr, Row)>) -> usize {
    rows.sort_by_key(|(mac, _)| *mac);
    let before = rows.len();
    rows.dedup_by(|later, kept| {
        if later.0 != kept.0 {
            return false;
        }
        kept.1.merge(&later.1);
        true
    });
    before - rows.len()
}

/// `text` with every MAC address in it (six hex pairs joined by `:` or
/// `-`) replaced by `<MAC>`: for log lines that quote what hostapd said
/// about a station (`STA-NEXT 00:11:..: hostapd answered FAIL`), which must
/// not carry a raw client MAC into the log while pseudonyms are on.
pub fn redact_macs(text: &str) -> String {
    const LEN: usize = 17;
    let bytes = text.as_bytes();
    let is_mac = |at: usize| {
        let Some(w) = bytes.get(at..at + LEN) else { return false };
        let sep = w[2];
        (sep == b':' || sep == b'-')
            && (0..6).all(|i| w[3 * i].is_ascii_hexdigit() && w[3 * i + 1].is_ascii_hexdigit())
            && (0..5).all(|i| w[3 * i + 2] == sep)
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if is_mac(i) {
            out.push_str("<MAC>");
            i += LEN;
            continue;
        }
        // Hex digits and separators are ASCII: pushing whole chars keeps
        // the rest of the text as it was.
        let c = text[i..].chars().next().unwrap_or_default();
        out.push(c);
        i += c.len_utf8().max(1);
    }
    out
}

/// "YYYY-MM-DD" of the UTC day holding `secs`; the proleptic Gregorian
/// calendar, the year zero-padded to four digits (and longer, or with a
/// minus sign, for timestamps a capture file may hold but no clock shows).
pub fn utc_date(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to a date.
/// Exact for the whole i64 range of days that seconds can give.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::frame::Probe;
    use crate::window::table::{Table, Timestamp};

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    /// Expected values from Python's hmac, not from this code:
    /// hmac.new(b"pseudonym key", bytes.fromhex("009acde31549"), sha256)
    /// begins 124809159c51 (0x12 already has 0x02 set and 0x01 clear). The
    /// daily one: d = hmac.new(b"pseudonym key", b"2016-10-07",
    /// sha256).digest(), then hmac.new(d, bytes.fromhex("009acde31549"),
    /// sha256) begins 9fd8b86e3f3e: 0x9f with the group bit cleared is 0x9e.
    /// (tests/privacy.rs computes them with python3 at run time.)
    #[test]
    fn pseudonyms_are_the_documented_hmac_prefix() {
        let p = Pseudonymizer::new(b"pseudonym key".to_vec(), Rotation::Never);
        assert_eq!(p.for_time(0).of(mac("00:9a:cd:e3:15:49")).to_string(), PY_STABLE);
        let daily = Pseudonymizer::new(b"pseudonym key".to_vec(), Rotation::Daily);
        assert_eq!(daily.for_time(1475860695).of(mac("00:9a:cd:e3:15:49")).to_string(), PY_DAILY_2016_10_07);
        // The same day to its last second, the next day another.
        assert_eq!(daily.for_time(1475884799).of(mac("00:9a:cd:e3:15:49")).to_string(), PY_DAILY_2016_10_07);
        assert_ne!(daily.for_time(1475884800).of(mac("00:9a:cd:e3:15:49")).to_string(), PY_DAILY_2016_10_07);
    }

    const PY_STABLE: &str = "12:48:09:15:9c:51";
    const PY_DAILY_2016_10_07: &str = "9e:d8:b8:6e:3f:3e";

    #[test]
    fn the_local_bit_is_set_and_the_group_bit_clear_for_every_client() {
        let p = Pseudonymizer::new(b"k".to_vec(), Rotation::Never).for_time(0);
        for i in 0..2000u32 {
            let b = i.to_be_bytes();
            let out = p.of(MacAddr([0, 0x11, b[0], b[1], b[2], b[3]]));
            assert_eq!(out.0[0] & 0x03, 0x02, "{out}");
        }
    }

    #[test]
    fn dates_match_hand_computed_ones() {
        // 1475860695 is 2016-10-07 17:18:15 UTC (the documented sample).
        assert_eq!(utc_date(1475860695), "2016-10-07");
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(-1), "1969-12-31");
        // 2000-02-29 (a leap day of a century divisible by 400): 11016 days.
        assert_eq!(utc_date(11016 * 86400), "2000-02-29");
        assert_eq!(utc_date(11017 * 86400 - 1), "2000-02-29");
        // 2100-03-01: 2100 is not a leap year; 47541 days.
        assert_eq!(utc_date(47541 * 86400), "2100-03-01");
        assert_eq!(utc_date(47540 * 86400), "2100-02-28");
        // The extremes of a capture file's timestamp do not panic.
        let _ = utc_date(i64::MAX);
        let _ = utc_date(i64::MIN);
    }

    fn probe(t: &mut Table, client: &str, dbm: i8, secs: i64) {
        t.record(Ok(Probe { client: mac(client), signal_dbm: dbm }), Timestamp::new(secs, 0));
    }

    #[test]
    fn rows_are_sorted_by_pseudonym_and_the_associated_set_follows() {
        let p = Pseudonymizer::new(b"pseudonym key".to_vec(), Rotation::Never);
        let mut t = Table::new(100);
        for (i, m) in ["00:9a:cd:e3:15:49", "5c:dc:96:66:24:e3", "98:01:a7:a7:1d:d3", "b0:fa:eb:30:4c:9e"].iter().enumerate() {
            probe(&mut t, m, -50 - i as i8, 100 + i as i64);
        }
        let mut w = t.take_window();
        let raw = w.clone();
        let mut assoc: std::collections::BTreeSet<MacAddr> = [mac("98:01:a7:a7:1d:d3")].into();
        assert_eq!(p.apply(&mut w, &mut assoc), 0);
        let hash = p.for_time(0);
        let mut expected: Vec<(MacAddr, Row)> = raw.rows.iter().map(|(m, r)| (hash.of(*m), *r)).collect();
        expected.sort_by_key(|(m, _)| *m);
        assert_eq!(w.rows, expected);
        assert!(w.rows.windows(2).all(|p| p[0].0 < p[1].0));
        assert_eq!(assoc, [hash.of(mac("98:01:a7:a7:1d:d3"))].into());
        assert!(w.rows.iter().all(|(m, _)| raw.rows.iter().all(|(r, _)| r != m)));
    }

    #[test]
    fn colliding_rows_are_merged_by_the_tables_rules() {
        // Two rows given the same "pseudonym" by hand, merged as one client's.
        let at = |s| Timestamp::new(s, 0);
        let a = Row { count: 2, min_signal: -70, max_signal: -40, signal_sum: -110, last_seen_signal: -40, first_seen: at(10), last_seen: at(20), estimated_device: false };
        let b = Row { count: 3, min_signal: -80, max_signal: -50, signal_sum: -190, last_seen_signal: -80, first_seen: at(5), last_seen: at(20), estimated_device: false };
        let (m, other) = (mac("02:00:00:00:00:07"), mac("02:00:00:00:00:01"));
        let mut rows = vec![(m, a), (other, a), (m, b)];
        assert_eq!(sort_and_merge(&mut rows), 1);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].0, rows[0].1), (other, a));
        let (merged_mac, kept) = rows[1];
        assert_eq!(merged_mac, m);
        // count 5, min -80, max -40, sum -300 (mean -60), first 5, last 20 with
        // the later row's signal (equal times: the later frame wins).
        assert_eq!(kept, Row { count: 5, min_signal: -80, max_signal: -40, signal_sum: -300, last_seen_signal: -80, first_seen: at(5), last_seen: at(20), estimated_device: false });
        assert_eq!(kept.avg_signal(), -60);
    }

    #[test]
    fn macs_in_log_text_are_redacted_whatever_their_spelling() {
        assert_eq!(
            redact_macs("hostapd /r/phy0-ap0: STA-NEXT 00:9a:CD:e3:15:49: hostapd answered FAIL"),
            "hostapd /r/phy0-ap0: STA-NEXT <MAC>: hostapd answered FAIL"
        );
        assert_eq!(redact_macs("came back to 00-9a-cd-e3-15-49, stopped; é 02:00:00:00:00:01"), "came back to <MAC>, stopped; é <MAC>");
        // Not MACs: mixed separators, five pairs, a path.
        for keep in ["00:9a-cd:e3:15:49", "00:9a:cd:e3:15", "/var/run/hostapd/phy0-ap0", "", "ü"] {
            assert_eq!(redact_macs(keep), keep);
        }
    }

    #[test]
    fn an_empty_window_stays_empty() {
        let p = Pseudonymizer::new(b"k".to_vec(), Rotation::Daily);
        let mut w = Table::new(1).take_window();
        let mut assoc: std::collections::BTreeSet<MacAddr> = [mac("02:00:00:00:00:01")].into();
        assert_eq!(p.apply(&mut w, &mut assoc), 0);
        assert!(w.rows.is_empty() && assoc.is_empty());
        assert_eq!(format!("{p:?}"), "Pseudonymizer { key: \"<set>\", rotation: Daily }");
    }
}
