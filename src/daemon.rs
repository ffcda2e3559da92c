//! The capture loop: frames in, windows out to the reporter.
//!
//! Live capture cuts windows on the monotonic clock every Rate seconds from
//! the start; a replay cuts them on the file's timestamps (see `window`).
//! Either way each frame goes through the same `frame::classify` and
//! `Table::record`, and nothing on that path allocates or logs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcap::{Active, Capture, Linktype, Offline};

use crate::wire::bpf::install_probe_request_filter;
use crate::config::{Config, Source};
use crate::wire::frame::Classifier;
use crate::deliver::http::{timeout_for_rate, Poster, ShutdownCutoff};
use crate::wire::mac::MacAddr;
use crate::deliver::reporter::{AssociatedLookup, Batch, Reporter, ReporterSettings};
use crate::status::Board;
use crate::window::table::{Table, Timestamp};
use crate::window::schedule::{describe_micros, Advance, LiveWindows, ReplayWindows, Slot};
use crate::window::devices::Tracker;

const RADIOTAP: Linktype = Linktype(127);
/// The longest the live loop sleeps in poll(2) before it looks at the stop
/// flag again.
const POLL_MS: u64 = 200;
/// Bytes kept of each frame: far more than radiotap plus the 24-byte header
/// that presenced reads, and small enough that the kernel ring holds
/// thousands of frames in `BUFFER_BYTES`.
const SNAPLEN: i32 = 512;
/// Kernel capture buffer: probe requests are small, and an access point has
/// little memory.
const BUFFER_BYTES: i32 = 1 << 20;
/// The kernel hands over a block of frames when it is full or this long
/// after its first frame (TPACKET_V3's block timeout, libpcap's read
/// timeout): one wakeup per block instead of one per frame.
const BLOCK_TIMEOUT_MS: i32 = 100;
/// How long a window stays open after its deadline for frames stamped
/// before it that were still in a block: the block timeout and a margin.
const WINDOW_GRACE: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub struct DaemonError(pub String);

impl std::fmt::Display for DaemonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DaemonError {}

fn err(msg: impl Into<String>) -> DaemonError {
    DaemonError(msg.into())
}

/// Set by the signal handlers to the number of the signal that asks
/// presenced to stop; 0 while it runs.
pub type StopSignal = AtomicUsize;

fn stop_requested(stop: &StopSignal) -> bool {
    stop.load(Ordering::Relaxed) != 0
}

/// The name of the signal that asked presenced to stop, if one did.
fn stop_reason(stop: &StopSignal) -> Option<String> {
    match stop.load(Ordering::Relaxed) as libc::c_int {
        0 => None,
        libc::SIGTERM => Some("SIGTERM".into()),
        libc::SIGINT => Some("SIGINT".into()),
        libc::SIGHUP => Some("SIGHUP".into()),
        other => Some(format!("signal {other}")),
    }
}

/// Runs until the file ends, the interface fails, or `stop` is set (by
/// SIGTERM, SIGINT or SIGHUP); the window in progress is reported before
/// returning, within the shutdown budget when a signal ended the run.
pub fn run(cfg: &Config, stop: &StopSignal, associated: Option<AssociatedLookup>) -> Result<(), DaemonError> {
    let board = Arc::new(Board::new(cfg.status_settings(), wall_clock().secs));
    if let Err(e) = crate::ubus::publisher::spawn(cfg.ubus_socket.clone(), Arc::clone(&board)) {
        log::warn!("cannot start the ubus status thread ({e}): no `ubus call presenced status`");
    }
    match &cfg.source {
        Source::Interface(iface) => {
            let cap = open_live(iface)?;
            let node_mac = match cfg.node_mac {
                Some(m) => m,
                None => interface_mac(iface)?,
            };
            let reporter = spawn_reporter(cfg, node_mac, associated, &board)?;
            log::info!(
                "capturing probe requests on {iface}, a report every {} s as node {}",
                cfg.rate_secs,
                node_mac.to_upper_string()
            );
            let result = live_loop(cap, cfg, stop, &reporter, &board);
            reporter.finish(&|| stop_reason(stop));
            result
        }
        Source::File(path) => {
            let cap = open_file(path)?;
            // validate() makes --node-mac mandatory with --read.
            let node_mac = cfg.node_mac.ok_or_else(|| err("--node-mac is required with --read"))?;
            let reporter = spawn_reporter(cfg, node_mac, associated, &board)?;
            let result = replay_loop(cap, path, cfg, stop, &reporter);
            reporter.finish(&|| stop_reason(stop));
            result
        }
        Source::Hostapd => {
            // validate() makes --node-mac mandatory with --source hostapd.
            let node_mac = cfg.node_mac.ok_or_else(|| err("--node-mac is required with --source hostapd"))?;
            let reporter = spawn_reporter(cfg, node_mac, associated, &board)?;
            log::info!(
                "reading probe requests from hostapd over ubus ({}), a report every {} s as node {}",
                cfg.ubus_socket.display(),
                cfg.rate_secs,
                node_mac.to_upper_string()
            );
            hostapd_loop(cfg, stop, &reporter, &board);
            reporter.finish(&|| stop_reason(stop));
            Ok(())
        }
    }
}

/// How long a window stays open after its deadline with `--source hostapd`:
/// notifications are stamped when they are read, so none arrives late; the
/// margin only keeps the live schedule's shape.
const HOSTAPD_WINDOW_GRACE: Duration = Duration::from_millis(50);

/// `--source hostapd`: the live schedule of `live_loop`, with probes from
/// hostapd's ubus notifications, each stamped with the wall clock when it
/// is read (hostapd sends no capture time). Never fails: without ubusd it
/// keeps trying (see `ubus::source`) and reports empty windows meanwhile, as
/// a monitor interface with no traffic would.
fn hostapd_loop(cfg: &Config, stop: &StopSignal, reporter: &Reporter, board: &Arc<Board>) {
    let rate = Duration::from_secs(cfg.rate_secs as u64);
    let mut current = new_table(cfg);
    let mut closing = new_table(cfg);
    let mut windows = LiveWindows::new(rate, HOSTAPD_WINDOW_GRACE, Instant::now());
    let mut source = crate::ubus::source::ProbeSource::new(cfg.ubus_socket.clone(), Instant::now())
        .reporting_to(Arc::clone(board));
    let mut window_start = wall_clock().secs;
    while !stop_requested(stop) {
        let until = Instant::now() + windows.until_next(Instant::now()).min(Duration::from_millis(POLL_MS));
        source.pump(until, &mut |outcome, details| {
            let at = wall_clock();
            match windows.slot(at) {
                Slot::Current => current.record_notified(outcome, details, at),
                Slot::Closing => closing.record_notified(outcome, details, at),
            }
        });
        let wall = wall_clock();
        let tick = windows.tick(Instant::now(), wall);
        if tick.report_closing {
            reporter.offer(Batch { window: closing.take_window(), kernel_drops: None });
        }
        if tick.close_current {
            std::mem::swap(&mut current, &mut closing);
            window_start = wall.secs;
        }
        board.try_publish_window(window_start, current.clients(), current.stats());
    }
    if let Some(why) = stop_reason(stop) {
        reporter.begin_shutdown(&why);
    }
    if windows.is_closing() {
        reporter.offer(Batch { window: closing.take_window(), kernel_drops: None });
    }
    reporter.offer(Batch { window: current.take_window(), kernel_drops: None });
}

fn spawn_reporter(
    cfg: &Config,
    node_mac: MacAddr,
    associated: Option<AssociatedLookup>,
    board: &Arc<Board>,
) -> Result<Reporter, DaemonError> {
    let cutoff = Arc::new(ShutdownCutoff::default());
    let poster = match (&cfg.url, &cfg.key) {
        (Some(url), Some(key)) => Some(Arc::new(
            Poster::new(url, key, timeout_for_rate(cfg.rate_secs), &cfg.ca_file, Arc::clone(&cutoff))
                .map_err(|e| err(e.0))?,
        )),
        _ => None,
    };
    Reporter::spawn(ReporterSettings {
        network_id: cfg.network_id,
        node_mac,
        stdout: cfg.stdout,
        poster,
        associated,
        cutoff,
        pseudonyms: cfg.pseudonyms.clone(),
        spool_bytes: cfg.spool_bytes,
        devices: cfg.admission.merge_randomized.then(|| Tracker::new(&run_key(), cfg.max_clients)),
        status: Arc::clone(board),
    })
    .map_err(|e| err(format!("cannot start the reporting thread: {e}")))
}

/// The key of this run's device pseudonyms: from the kernel's random
/// source, so that no two runs share pseudonyms and none can be recomputed.
fn run_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key));
    if read.is_err() {
        // std seeds each RandomState from the same source by other means.
        use std::hash::{BuildHasher, Hasher};
        for chunk in key.chunks_mut(8) {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u8(0);
            chunk.copy_from_slice(&h.finish().to_le_bytes());
        }
    }
    key
}

/// A window's table as configured: every capture source makes its tables
/// here, so that `--randomized-macs` and `--min-signal` apply to all.
fn new_table(cfg: &Config) -> Table {
    Table::new(cfg.max_clients).admitting(cfg.admission)
}

fn linktype_name(l: Linktype) -> String {
    l.get_name().unwrap_or_else(|_| "unknown".into())
}

fn open_live(iface: &str) -> Result<Capture<Active>, DaemonError> {
    let cap = Capture::from_device(iface)
        .and_then(|c| {
            // Not immediate mode: the kernel batches frames into blocks, so a
            // busy channel costs a wakeup per block, not per frame (immediate
            // mode took 17-31 % of a core at 100,000-200,000 frames/s, and
            // dropped frames). Frames go to windows by their timestamps.
            c.immediate_mode(false)
                .timeout(BLOCK_TIMEOUT_MS)
                .snaplen(SNAPLEN)
                .buffer_size(BUFFER_BYTES)
                .open()
        })
        // libpcap's read timeout does not fire on an idle interface (TPACKET_V3
        // waits for a frame), so the loop polls the descriptor itself.
        .and_then(|c| c.setnonblock())
        .map_err(|e| err(format!("cannot capture on {iface}: {e}")))?;
    let link = cap.get_datalink();
    if link != RADIOTAP {
        return Err(err(format!(
            "interface {iface} is not in monitor mode (link type {}): \
             put it in monitor mode (iw dev {iface} set type monitor) \
             or add a monitor interface (iw phy phy0 interface add mon0 type monitor) and capture on that",
            linktype_name(link)
        )));
    }
    // In the kernel: only probe requests reach user space, so a busy
    // channel's beacons and data cost no copies.
    install_probe_request_filter(&cap)
        .map_err(|e| err(format!("cannot install the probe request filter on {iface}: {e}")))?;
    Ok(cap)
}

fn open_file(path: &std::path::Path) -> Result<Capture<Offline>, DaemonError> {
    let cap = Capture::from_file(path).map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
    let link = cap.get_datalink();
    if link != RADIOTAP {
        return Err(err(format!(
            "{} has link type {} ({}), not IEEE802_11_RADIO (127): presenced reads 802.11 captures with radiotap headers, as taken on a monitor interface",
            path.display(),
            linktype_name(link),
            link.0
        )));
    }
    install_probe_request_filter(&cap)
        .map_err(|e| err(format!("cannot install the probe request filter: {e}")))?;
    Ok(cap)
}

/// The interface's own MAC, the default `node_mac`.
fn interface_mac(iface: &str) -> Result<MacAddr, DaemonError> {
    let path = format!("/sys/class/net/{iface}/address");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| err(format!("cannot read the MAC of {iface} ({path}: {e}): give --node-mac")))?;
    text.trim()
        .parse()
        .map_err(|e| err(format!("the MAC of {iface} ({path}): {e}: give --node-mac")))
}

#[inline(always)]
fn timestamp(ts: &pcap::PacketHeader) -> Timestamp {
    let secs = ts.ts.tv_sec as i64;
    let micros = ts.ts.tv_usec as i64;
    if (0..1_000_000).contains(&micros) {
        return Timestamp::new(secs, micros as u32);
    }
    // A capture file may hold any value here; keep the sub-second part in range.
    Timestamp::new(secs + micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000) as u32)
}

fn wall_clock() -> Timestamp {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timestamp::new(since.as_secs() as i64, since.subsec_micros())
}

/// Two tables: while one window takes its late frames (see `LiveWindows`),
/// the next one is already counting.
struct LiveTables {
    current: Table,
    closing: Table,
    classifier: Classifier,
}

impl LiveTables {
    fn record(&mut self, windows: &LiveWindows, packet: &pcap::Packet) {
        let at = timestamp(packet.header);
        let table = match windows.slot(at) {
            Slot::Current => &mut self.current,
            Slot::Closing => &mut self.closing,
        };
        table.record_frame(packet.data, self.classifier.classify(packet.data), at);
    }
}

fn live_loop(
    mut cap: Capture<Active>,
    cfg: &Config,
    stop: &StopSignal,
    reporter: &Reporter,
    board: &Board,
) -> Result<(), DaemonError> {
    let rate = Duration::from_secs(cfg.rate_secs as u64);
    let mut tables = LiveTables {
        current: new_table(cfg),
        closing: new_table(cfg),
        classifier: Classifier::default(),
    };
    let mut windows = LiveWindows::new(rate, WINDOW_GRACE, Instant::now());
    let mut kernel_dropped_before = 0u64;
    let mut failure = None;
    let mut window_start = wall_clock().secs;
    'capture: while !stop_requested(stop) {
        // Take every frame that is waiting. The clocks are read once per
        // batch and every 256 frames of a long one: never once per frame.
        let mut batch = 0u32;
        loop {
            match cap.next_packet() {
                Ok(packet) => {
                    tables.record(&windows, &packet);
                    batch += 1;
                    if batch % 256 == 0 && windows.until_next(Instant::now()).is_zero() {
                        break;
                    }
                }
                Err(pcap::Error::TimeoutExpired) => break,
                Err(e) => {
                    failure = Some(err(format!("capture failed: {e}")));
                    break 'capture;
                }
            }
        }
        let wall = wall_clock();
        let tick = windows.tick(Instant::now(), wall);
        if tick.report_closing {
            let kernel_drops = kernel_drops_since(&mut cap, &mut kernel_dropped_before);
            reporter.offer(Batch { window: tables.closing.take_window(), kernel_drops });
        }
        if tick.close_current {
            std::mem::swap(&mut tables.current, &mut tables.closing);
            window_start = wall.secs;
        }
        // Once per wakeup, never per frame; skipped if a status call is copying.
        board.try_publish_window(window_start, tables.current.clients(), tables.current.stats());
        let wait = windows.until_next(Instant::now()).min(Duration::from_millis(POLL_MS));
        wait_readable(&cap, wait);
    }
    if let Some(why) = stop_reason(stop) {
        reporter.begin_shutdown(&why);
        // Frames the kernel holds in a block not yet handed over belong to
        // these windows too: one block timeout (and a margin) fetches them.
        let until = Instant::now() + WINDOW_GRACE;
        loop {
            match cap.next_packet() {
                Ok(packet) => {
                    tables.record(&windows, &packet);
                    continue;
                }
                Err(pcap::Error::TimeoutExpired) => {}
                Err(_) => break,
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            wait_readable(&cap, left);
        }
    }
    // The partial windows: on stop, and also when capture failed, so nothing
    // already counted is lost.
    if windows.is_closing() {
        let kernel_drops = kernel_drops_since(&mut cap, &mut kernel_dropped_before);
        reporter.offer(Batch { window: tables.closing.take_window(), kernel_drops });
    }
    let kernel_drops = kernel_drops_since(&mut cap, &mut kernel_dropped_before);
    reporter.offer(Batch { window: tables.current.take_window(), kernel_drops });
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Sleeps until a frame is waiting or `wait` has passed. A signal or an
/// error condition ends the wait early; the next read reports any error.
fn wait_readable(cap: &Capture<Active>, wait: Duration) {
    use std::os::fd::AsRawFd;
    let mut fds = libc::pollfd { fd: cap.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let ms = wait.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one valid pollfd for the duration of the call.
    let ready = unsafe { libc::poll(&mut fds, 1, ms) };
    if ready > 0 && fds.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 && fds.revents & libc::POLLIN == 0 {
        // Not readable but not waiting either: without this pause the loop
        // would spin until the read reports what is wrong.
        std::thread::sleep(wait);
    }
}

fn kernel_drops_since(cap: &mut Capture<Active>, before: &mut u64) -> Option<u64> {
    let stats = cap.stats().ok()?;
    let total = stats.dropped as u64 + stats.if_dropped as u64;
    let delta = total.saturating_sub(*before);
    *before = total;
    Some(delta)
}

// Its own function, not in line in `run`: its registers then go to the
// per-frame loop alone, whatever the other capture sources add to `run`.
#[inline(never)]
fn replay_loop(
    mut cap: Capture<Offline>,
    path: &std::path::Path,
    cfg: &Config,
    stop: &StopSignal,
    reporter: &Reporter,
) -> Result<(), DaemonError> {
    let mut table = new_table(cfg);
    let mut classifier = Classifier::default();
    let mut windows = ReplayWindows::new(cfg.rate_secs);
    let mut frames = 0u64;
    let mut jumps = 0u64;
    let mut failure = None;
    while !stop_requested(stop) {
        let packet = match cap.next_packet() {
            Ok(p) => p,
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                failure = Some(err(format!(
                    "{} is damaged after {frames} frames ({e}); the reports up to there were sent",
                    path.display()
                )));
                break;
            }
        };
        frames += 1;
        let at = timestamp(packet.header);
        let at_micros = at.secs.saturating_mul(1_000_000).saturating_add(at.micros as i64);
        if !windows.in_current(at_micros) {
            close_windows(windows.advance(at_micros), &mut jumps, frames, path, &mut table, stop, reporter);
        }
        table.record_frame(packet.data, classifier.classify(packet.data), at);
    }
    if jumps > MAX_JUMP_WARNINGS {
        log::warn!("{}: the capture clock jumped {jumps} times in all", path.display());
    }
    if let Some(why) = stop_reason(stop) {
        reporter.begin_shutdown(&why);
    }
    reporter.submit(Batch { window: table.take_window(), kernel_drops: None }, &|| stop_reason(stop));
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The replay's rare step, out of line so that the per-frame loop keeps its
/// values in registers: a jump's warning, then the reports of the windows
/// that end before the frame (none for a frame a little out of order).
#[cold]
#[inline(never)]
fn close_windows(
    advance: Advance,
    jumps: &mut u64,
    frames: u64,
    path: &std::path::Path,
    table: &mut Table,
    stop: &StopSignal,
    reporter: &Reporter,
) {
    if let Some(jump) = advance.jump {
        *jumps += 1;
        let (how, direction) = (describe_micros(jump.by_micros), if jump.by_micros > 0 { "ahead" } else { "back" });
        if *jumps <= MAX_JUMP_WARNINGS {
            log::warn!(
                "{}: the capture clock jumps {direction} by {how} at frame {frames}; \
                 the window so far is reported and the next one starts at this frame",
                path.display()
            );
        } else {
            log::debug!("{}: the capture clock jumps {direction} by {how} at frame {frames}", path.display());
        }
    }
    for _ in 0..advance.windows_to_close {
        reporter.submit(Batch { window: table.take_window(), kernel_drops: None }, &|| stop_reason(stop));
    }
}

/// A file whose clock jumps back and forth (merged captures) gets this many
/// warnings, then a count at the end.
const MAX_JUMP_WARNINGS: u64 = 10;
