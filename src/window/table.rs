//! One reporting window's statistics: a row per client, and counts of what
//! was captured and dropped.
//!
//! Pure: timestamps come in with each probe, nothing here reads a clock.
//!
//! The rows are a `MacMap`, whose hash is keyed per table: see `mac_map`
//! for why and how.

use crate::wire::frame::{DropReason, Probe};
use crate::wire::mac::MacAddr;
use crate::window::mac_map::MacMap;
pub use crate::window::mac_map::HashKey;
use crate::window::devices::bursts::Burst;
use crate::window::devices::{fingerprint, Bursts, Details};

/// A capture timestamp, as pcap gives it (UTC epoch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp {
    pub secs: i64,
    pub micros: u32,
}

impl Timestamp {
    pub fn new(secs: i64, micros: u32) -> Self {
        Timestamp { secs, micros }
    }
}

/// `Default` only fills the map's empty slots; no row starts from it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub count: u32,
    pub min_signal: i8,
    pub max_signal: i8,
    /// Kept exact so that the mean is rounded once, at report time.
    pub signal_sum: i64,
    pub last_seen_signal: i8,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// An estimated device of `--randomized-macs merge` (see `devices`),
    /// not one address.
    pub estimated_device: bool,
}

impl Row {
    pub(crate) fn new(signal: i8, at: Timestamp) -> Self {
        Row {
            count: 1,
            min_signal: signal,
            max_signal: signal,
            signal_sum: signal as i64,
            last_seen_signal: signal,
            first_seen: at,
            last_seen: at,
            estimated_device: false,
        }
    }

    /// Adds the frames of `later` to this row, as if this client had sent them.
    pub fn merge(&mut self, later: &Row) {
        self.count = self.count.saturating_add(later.count);
        self.min_signal = self.min_signal.min(later.min_signal);
        self.max_signal = self.max_signal.max(later.max_signal);
        self.signal_sum += later.signal_sum;
        if later.last_seen >= self.last_seen {
            self.last_seen = later.last_seen;
            self.last_seen_signal = later.last_seen_signal;
        }
        self.first_seen = self.first_seen.min(later.first_seen);
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, signal: i8, at: Timestamp) {
        self.count = self.count.saturating_add(1);
        self.min_signal = self.min_signal.min(signal);
        self.max_signal = self.max_signal.max(signal);
        self.signal_sum += signal as i64;
        // Capture files are not always in time order: "last" means the latest
        // timestamp, and among equal timestamps the frame that came later.
        if at >= self.last_seen {
            self.last_seen = at;
            self.last_seen_signal = signal;
        }
        if at < self.first_seen {
            self.first_seen = at;
        }
    }

    /// The mean signal rounded to the nearest integer, halves away from zero
    /// (-55.5 dBm reports as -56).
    pub fn avg_signal(&self) -> i32 {
        round_half_away_from_zero(self.signal_sum, self.count as i64)
    }
}

/// `sum / n` rounded to nearest, halves away from zero, in integers so that no
/// float rounding mode is involved. `n` must be positive.
pub fn round_half_away_from_zero(sum: i64, n: i64) -> i32 {
    let magnitude = (2 * sum.unsigned_abs() + n as u64) / (2 * n as u64);
    let magnitude = magnitude as i64;
    (if sum < 0 { -magnitude } else { magnitude }) as i32
}

/// What happened to the frames of one window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowStats {
    /// Every frame handed to the table, accepted or not.
    pub frames: u64,
    /// Frames that updated or created a row.
    pub accepted: u64,
    /// Indexed by `DropReason::index`.
    pub drops: [u64; DropReason::ALL.len()],
    /// Probe requests from new clients refused because the table was full.
    pub table_full: u64,
}

impl WindowStats {
    /// `bad_fcs=1 no_signal=3 table_full=0 ...`: every reason, zeros included,
    /// so that log lines line up and can be grepped.
    pub fn drops_summary(&self) -> String {
        let mut out = String::new();
        for reason in DropReason::ALL {
            out.push_str(reason.name());
            out.push('=');
            out.push_str(&self.drops[reason.index()].to_string());
            out.push(' ');
        }
        out.push_str("table_full=");
        out.push_str(&self.table_full.to_string());
        out
    }
}

/// The rows of one finished window, sorted by client MAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub rows: Vec<(MacAddr, Row)>,
    pub stats: WindowStats,
    /// With `--randomized-macs merge`: the window's frames from randomized
    /// addresses, which the reporter turns into estimated devices.
    pub bursts: Vec<Burst>,
}

/// Which probes count at all, by the operator's choice (`--randomized-macs`,
/// `--min-signal`); the default admits every probe `classify` accepted.
/// Applied in the table so that every capture source gets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admission {
    /// Drop clients whose address is locally administered (`randomized`).
    pub drop_randomized: bool,
    /// Count locally administered addresses as estimated devices
    /// (`--randomized-macs merge`, see `devices`).
    pub merge_randomized: bool,
    /// Drop probes weaker than this many dBm (`weak_signal`); `i8::MIN`
    /// admits every signal.
    pub min_signal: i8,
}

impl Default for Admission {
    fn default() -> Self {
        Admission { drop_randomized: false, merge_randomized: false, min_signal: i8::MIN }
    }
}

impl Admission {
    /// The bits of a client's first octet that take it off the common
    /// path: the locally administered bit when randomized addresses are
    /// dropped or merged, else none.
    fn first_octet_mask(&self) -> u8 {
        if self.drop_randomized || self.merge_randomized {
            0x02
        } else {
            0
        }
    }

    /// Why a probe that did not pass is dropped. The address is looked at
    /// first: a randomized client with a weak signal counts as `randomized`
    /// (with `drop`; with `merge` it is `weak_signal`, as a universal one).
    #[cold]
    fn reason(&self, probe: &Probe) -> DropReason {
        if self.drop_randomized && probe.client.0[0] & 0x02 != 0 {
            DropReason::Randomized
        } else {
            DropReason::WeakSignal
        }
    }
}

pub struct Table {
    rows: MacMap<Row>,
    max_clients: usize,
    stats: WindowStats,
    admission: Admission,
    /// `admission.first_octet_mask()`, kept for the per-frame check.
    admission_mask: u8,
    /// With `merge_randomized`: where randomized addresses' frames go.
    devices: Option<Bursts>,
}

impl Table {
    /// A table whose hash key is drawn at random (see `HashKey::random`).
    pub fn new(max_clients: usize) -> Self {
        Table::with_hash_key(max_clients, HashKey::random())
    }

    pub fn with_hash_key(max_clients: usize, key: HashKey) -> Self {
        Table {
            rows: MacMap::with_hash_key(key),
            max_clients,
            stats: WindowStats::default(),
            admission: Admission::default(),
            admission_mask: 0,
            devices: None,
        }
    }

    /// The same table, admitting only what `admission` lets through.
    pub fn admitting(mut self, admission: Admission) -> Self {
        self.admission = admission;
        self.admission_mask = admission.first_octet_mask();
        self.devices = admission.merge_randomized.then(|| Bursts::new(self.max_clients));
        self
    }

    /// Counts one classified frame: a probe updates its client's row, a drop
    /// its reason. For a source that has no frame to read (hostapd).
    #[inline(always)]
    pub fn record(&mut self, outcome: Result<Probe, DropReason>, at: Timestamp) {
        self.record_with(outcome, at, || Details::UNKNOWN)
    }

    /// `record` for a probe whose details (for `--randomized-macs merge`)
    /// came apart from a frame: hostapd's notification.
    pub fn record_notified(&mut self, outcome: Result<Probe, DropReason>, details: Details, at: Timestamp) {
        self.record_with(outcome, at, || details)
    }

    /// `record` for a captured frame, which `--randomized-macs merge` reads
    /// further when its source is randomized. Inlined into the capture
    /// loops, where it runs per frame.
    #[inline(always)]
    pub fn record_frame(&mut self, frame: &[u8], outcome: Result<Probe, DropReason>, at: Timestamp) {
        self.record_with(outcome, at, || fingerprint::of_frame(frame))
    }

    #[inline(always)]
    fn record_with(&mut self, outcome: Result<Probe, DropReason>, at: Timestamp, details: impl FnOnce() -> Details) {
        self.stats.frames += 1;
        let probe = match outcome {
            Ok(probe) => probe,
            Err(reason) => {
                self.stats.drops[reason.index()] += 1;
                return;
            }
        };
        // Two compares on the common path (measured: through a Result it
        // cost 22 instructions a frame, 2 % of the whole).
        if probe.client.0[0] & self.admission_mask != 0 || probe.signal_dbm < self.admission.min_signal {
            self.set_aside(probe, at, details);
            return;
        }
        match self.rows.get_mut(probe.client) {
            Some(row) => row.update(probe.signal_dbm, at),
            None => {
                if !self.insert(probe, at) {
                    return;
                }
            }
        }
        self.stats.accepted += 1;
    }

    /// A probe off the common path: dropped by its reason, or with `merge`
    /// a randomized one (strong enough) handed to the device estimate. The
    /// elements are parsed here only, so universal addresses never pay.
    #[cold]
    #[inline(never)]
    fn set_aside(&mut self, probe: Probe, at: Timestamp, details: impl FnOnce() -> Details) {
        let randomized = probe.client.0[0] & 0x02 != 0;
        if let (Some(devices), true, false) = (&mut self.devices, randomized, probe.signal_dbm < self.admission.min_signal) {
            if devices.observe(probe.client, probe.signal_dbm, details(), at) {
                self.stats.accepted += 1;
            } else {
                self.stats.table_full += 1;
            }
            return;
        }
        self.stats.drops[self.admission.reason(&probe).index()] += 1;
    }

    /// A new client's row, if there is room: out of line, as it is the rare
    /// case once a window's clients have been seen.
    #[inline(never)]
    fn insert(&mut self, probe: Probe, at: Timestamp) -> bool {
        if self.rows.len() >= self.max_clients {
            self.stats.table_full += 1;
            return false;
        }
        self.rows.insert(probe.client, Row::new(probe.signal_dbm, at));
        true
    }

    pub fn clients(&self) -> usize {
        self.rows.len()
    }

    /// The counts so far of the window in progress.
    pub fn stats(&self) -> &WindowStats {
        &self.stats
    }

    /// Ends the window: returns its rows and counts and starts an empty one.
    /// The map keeps its slots (see `MacMap::drain`).
    pub fn take_window(&mut self) -> Window {
        let mut rows = self.rows.drain();
        rows.sort_unstable_by_key(|(mac, _)| *mac);
        Window {
            rows,
            stats: std::mem::take(&mut self.stats),
            bursts: self.devices.as_mut().map(Bursts::take).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(s: &str) -> MacAddr {
        s.parse().unwrap()
    }

    fn probe(client: &str, signal_dbm: i8) -> Result<Probe, DropReason> {
        Ok(Probe { client: mac(client), signal_dbm })
    }

    #[test]
    fn rounding_halves_go_away_from_zero() {
        // Hand computed: -111/2 = -55.5 -> -56; -110/2 = -55; -167/3 = -55.67 -> -56;
        // -166/3 = -55.33 -> -55; 111/2 = 55.5 -> 56; 0/1 = 0.
        assert_eq!(round_half_away_from_zero(-111, 2), -56);
        assert_eq!(round_half_away_from_zero(-110, 2), -55);
        assert_eq!(round_half_away_from_zero(-167, 3), -56);
        assert_eq!(round_half_away_from_zero(-166, 3), -55);
        assert_eq!(round_half_away_from_zero(111, 2), 56);
        assert_eq!(round_half_away_from_zero(0, 1), 0);
        assert_eq!(round_half_away_from_zero(-1, 2), -1);
        assert_eq!(round_half_away_from_zero(-1, 3), 0);
    }

    #[test]
    fn one_client_row_by_hand() {
        // Signals -77, -36, -52 at t=100.2, 101.9, 101.1 (out of order).
        // min -77, max -36, mean -165/3 = -55 exactly, last by time = -36 at 101.9.
        let mut t = Table::new(10);
        t.record(probe("00:9a:cd:e3:15:49", -77), Timestamp::new(100, 200_000));
        t.record(probe("00:9a:cd:e3:15:49", -36), Timestamp::new(101, 900_000));
        t.record(probe("00:9a:cd:e3:15:49", -52), Timestamp::new(101, 100_000));
        let w = t.take_window();
        assert_eq!(w.rows.len(), 1);
        let row = w.rows[0].1;
        assert_eq!(row.count, 3);
        assert_eq!((row.min_signal, row.max_signal), (-77, -36));
        assert_eq!(row.avg_signal(), -55);
        assert_eq!(row.last_seen_signal, -36);
        assert_eq!((row.first_seen.secs, row.last_seen.secs), (100, 101));
        assert_eq!(w.stats.frames, 3);
        assert_eq!(w.stats.accepted, 3);
    }

    #[test]
    fn equal_timestamps_take_the_later_frame_as_last() {
        let mut t = Table::new(10);
        let at = Timestamp::new(5, 0);
        t.record(probe("02:00:00:00:00:01", -40), at);
        t.record(probe("02:00:00:00:00:01", -60), at);
        assert_eq!(t.take_window().rows[0].1.last_seen_signal, -60);
    }

    #[test]
    fn rows_come_out_sorted_and_the_next_window_starts_empty() {
        let mut t = Table::new(10);
        let at = Timestamp::new(1, 0);
        t.record(probe("b0:fa:eb:30:4c:9e", -70), at);
        t.record(probe("00:9a:cd:e3:15:49", -70), at);
        t.record(probe("5c:dc:96:66:24:e3", -70), at);
        t.record(Err(DropReason::NoSignal), at);
        let w = t.take_window();
        let macs: Vec<String> = w.rows.iter().map(|(m, _)| m.to_string()).collect();
        assert_eq!(macs, ["00:9a:cd:e3:15:49", "5c:dc:96:66:24:e3", "b0:fa:eb:30:4c:9e"]);
        assert_eq!(w.stats.frames, 4);
        assert_eq!(w.stats.drops[DropReason::NoSignal.index()], 1);
        let next = t.take_window();
        assert!(next.rows.is_empty());
        assert_eq!(next.stats, WindowStats::default());
    }

    #[test]
    fn admission_drops_randomized_addresses_and_weak_signals_by_name() {
        let at = Timestamp::new(1, 0);
        let feed = |t: &mut Table| {
            t.record(probe("02:00:00:00:00:01", -50), at); // locally administered
            t.record(probe("da:a1:19:00:00:02", -90), at); // locally administered (0xda has 0x02), weak too
            t.record(probe("00:9a:cd:e3:15:49", -81), at); // universal, below -80
            t.record(probe("00:9a:cd:e3:15:49", -80), at); // exactly the floor: kept
            t.record(probe("ac:86:74:82:9a:30", -30), at); // universal, strong
        };
        let mut off = Table::new(10);
        feed(&mut off);
        let w = off.take_window();
        assert_eq!((w.rows.len(), w.stats.accepted), (4, 5));
        assert!(w.stats.drops_summary().contains("no_signal=0 randomized=0 weak_signal=0 table_full=0"));

        let mut on = Table::new(10).admitting(Admission { drop_randomized: true, min_signal: -80, ..Admission::default() });
        feed(&mut on);
        let w = on.take_window();
        let macs: Vec<String> = w.rows.iter().map(|(m, _)| m.to_string()).collect();
        assert_eq!(macs, ["00:9a:cd:e3:15:49", "ac:86:74:82:9a:30"]);
        assert_eq!(w.rows[0].1.count, 1);
        assert_eq!((w.stats.frames, w.stats.accepted), (5, 2));
        assert_eq!(w.stats.drops[DropReason::Randomized.index()], 2);
        assert_eq!(w.stats.drops[DropReason::WeakSignal.index()], 1);
        assert!(w.stats.drops_summary().ends_with("no_signal=0 randomized=2 weak_signal=1 table_full=0"), "{}", w.stats.drops_summary());

        // A dropped probe takes no place in a full table.
        let mut small = Table::new(1).admitting(Admission { drop_randomized: true, ..Admission::default() });
        small.record(probe("02:00:00:00:00:01", -50), at);
        small.record(probe("00:00:00:00:00:01", -50), at);
        let w = small.take_window();
        assert_eq!((w.rows.len(), w.stats.table_full), (1, 0));
    }

    #[test]
    fn merge_sends_randomized_frames_to_the_estimate_and_leaves_universal_rows_alone() {
        let at = Timestamp::new(1, 0);
        let mut t = Table::new(10).admitting(Admission { merge_randomized: true, min_signal: -80, ..Admission::default() });
        t.record(probe("00:9a:cd:e3:15:49", -50), at); // universal: its own row
        t.record(probe("da:a1:19:00:00:02", -50), at); // randomized: the estimate
        t.record(probe("da:a1:19:00:00:03", -52), at); // randomized, same scan
        t.record(probe("da:a1:19:00:00:04", -90), at); // randomized but weak: weak_signal, not randomized
        let w = t.take_window();
        assert_eq!(w.rows.len(), 1);
        assert_eq!(w.rows[0].0, mac("00:9a:cd:e3:15:49"));
        assert!(!w.rows[0].1.estimated_device);
        assert_eq!(w.bursts.len(), 1);
        assert_eq!(w.bursts[0].row.count, 2);
        assert_eq!((w.stats.frames, w.stats.accepted), (4, 3));
        assert_eq!(w.stats.drops[DropReason::WeakSignal.index()], 1);
        assert_eq!(w.stats.drops[DropReason::Randomized.index()], 0);
        // A bound of one scan: the second class's frame is table_full.
        let mut small = Table::new(1).admitting(Admission { merge_randomized: true, ..Admission::default() });
        small.record(probe("da:a1:19:00:00:02", -50), at);
        small.record_notified(probe("da:a1:19:00:00:05", -50), crate::window::devices::Details { class: 7, seq: None, off_channel: false }, at);
        assert_eq!(small.take_window().stats.table_full, 1);
    }

    #[test]
    fn a_full_table_refuses_new_clients_but_updates_known_ones() {
        let mut t = Table::new(2);
        let at = Timestamp::new(1, 0);
        t.record(probe("02:00:00:00:00:01", -50), at);
        t.record(probe("02:00:00:00:00:02", -50), at);
        t.record(probe("02:00:00:00:00:03", -50), at);
        t.record(probe("02:00:00:00:00:03", -50), at);
        t.record(probe("02:00:00:00:00:01", -30), at);
        let w = t.take_window();
        assert_eq!(w.rows.len(), 2);
        assert_eq!(w.rows[0].1.count, 2);
        assert_eq!(w.rows[0].1.max_signal, -30);
        assert_eq!(w.stats.table_full, 2);
        assert_eq!(w.stats.accepted, 3);
        assert!(w.stats.drops_summary().ends_with("table_full=2"));
    }
}
