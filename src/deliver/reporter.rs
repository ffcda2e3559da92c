//! The reporting thread: turns each finished window into a report, prints
//! and POSTs it, and logs one line about it.
//!
//! It runs apart from capture so that a slow server or a slow hostapd never
//! stalls the capture loop: the capture side hands over a window and goes on.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::deliver::http::{PostOutcome, Poster, ShutdownCutoff};
use crate::wire::mac::MacAddr;
use crate::window::privacy::Pseudonymizer;
use crate::deliver::report::WindowReport;
use crate::deliver::resender::{worth_retrying, Resender};
use crate::status::{Board, Delivery, ReportRecord};
use crate::window::table::Window;
use crate::window::devices::{clusters::clusters, Tracker};

/// Who is associated with this AP right now. Called once per report, just
/// before the report is built.
pub type AssociatedLookup = Box<dyn FnMut(Instant) -> BTreeSet<MacAddr> + Send>;

/// One finished window and what the capture side knows about it.
pub struct Batch {
    pub window: Window,
    /// Frames the kernel dropped during the window (live capture only).
    pub kernel_drops: Option<u64>,
}

pub struct ReporterSettings {
    pub network_id: u64,
    pub node_mac: MacAddr,
    pub stdout: bool,
    /// Shared with the resender, when there is a spool.
    pub poster: Option<Arc<Poster>>,
    pub associated: Option<AssociatedLookup>,
    /// Shared with the `poster`: the end of the shutdown budget, once set.
    pub cutoff: Arc<ShutdownCutoff>,
    /// Client MACs are replaced by these before anything is written out.
    pub pseudonyms: Option<Pseudonymizer>,
    /// `--spool-bytes`: keep failed reports up to this many bytes, to send
    /// them again. Only with a `poster`.
    pub spool_bytes: Option<usize>,
    /// `--randomized-macs merge`: turns each window's bursts into estimated
    /// devices; here, in window order, so that both live tables feed one.
    pub devices: Option<Tracker>,
    /// Each report's outcome goes here for `ubus call presenced status`.
    pub status: Arc<Board>,
}

pub struct Reporter {
    tx: Option<SyncSender<Batch>>,
    thread: Option<JoinHandle<()>>,
    /// Dropped by the thread when it ends: a wait on it can have a bound,
    /// where `JoinHandle::join` cannot.
    ended: Receiver<()>,
    /// Windows handed over and not yet delivered.
    pending: Arc<AtomicUsize>,
    cutoff: Arc<ShutdownCutoff>,
    shutdown_announced: std::sync::atomic::AtomicBool,
    resender: Option<Resender>,
}

/// Asked while the capture side waits for the reporter: the name of the
/// signal that asks presenced to stop, if one came.
pub type StopCheck<'a> = &'a dyn Fn() -> Option<String>;

/// After a stop signal, the window in progress and any POST in flight share
/// this much time; procd sends SIGKILL 5 s after SIGTERM (the init script's
/// `term_timeout`), so what is not done by then would be lost anyway.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(3);
/// Beyond the budget, for the reporter to write its last log lines.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(200);
/// How often a wait for the reporter looks at the stop flag.
const FINISH_POLL: Duration = Duration::from_millis(50);

/// Windows waiting while one is being sent. Each POST is bounded by a
/// timeout below the rate, so in live capture the queue only fills when the
/// server is slow and hostapd slow too.
const QUEUE: usize = 2;

impl Reporter {
    pub fn spawn(mut settings: ReporterSettings) -> std::io::Result<Reporter> {
        let (tx, rx) = sync_channel::<Batch>(QUEUE);
        let (ended_tx, ended) = channel::<()>();
        let pending = Arc::new(AtomicUsize::new(0));
        let cutoff = Arc::clone(&settings.cutoff);
        let resender = match (&settings.poster, settings.spool_bytes) {
            (Some(poster), Some(limit)) => Some(Resender::spawn(Arc::clone(poster), limit, ended_tx.clone())?),
            _ => None,
        };
        if let Some(r) = &resender {
            let r = r.clone();
            settings.status.attach_spool(move || r.fill());
        }
        let thread = {
            let pending = Arc::clone(&pending);
            let resender = resender.clone();
            std::thread::Builder::new().name("reporter".into()).spawn(move || {
                let _ended = ended_tx;
                for batch in rx {
                    settings.deliver(batch, resender.as_ref());
                    pending.fetch_sub(1, Ordering::Relaxed);
                }
                if let Some(r) = &resender {
                    r.close();
                }
            })?
        };
        Ok(Reporter {
            tx: Some(tx),
            thread: Some(thread),
            ended,
            pending,
            cutoff,
            shutdown_announced: std::sync::atomic::AtomicBool::new(false),
            resender,
        })
    }

    /// Live capture: never waits. If the reporter is still busy with earlier
    /// windows, this one is dropped and said so.
    pub fn offer(&self, batch: Batch) {
        let Some(tx) = &self.tx else { return };
        self.pending.fetch_add(1, Ordering::Relaxed);
        match tx.try_send(batch) {
            Ok(()) => return,
            Err(TrySendError::Full(b)) => log::warn!(
                "report dropped: the reporter is still busy with earlier reports (slow server or hostapd); {} clients, {} frames lost",
                b.window.rows.len(),
                b.window.stats.frames
            ),
            Err(TrySendError::Disconnected(_)) => log::error!("report dropped: the reporter thread has stopped"),
        }
        self.pending.fetch_sub(1, Ordering::Relaxed);
    }

    /// Replay: waits for room, so that no window of a file is lost. A stop
    /// signal during the wait starts the shutdown budget, which bounds the
    /// POST in flight, so the wait ends soon after.
    pub fn submit(&self, batch: Batch, stop: StopCheck) {
        let Some(tx) = &self.tx else { return };
        self.pending.fetch_add(1, Ordering::Relaxed);
        let mut batch = batch;
        loop {
            match tx.try_send(batch) {
                Ok(()) => return,
                Err(TrySendError::Full(b)) => {
                    batch = b;
                    if let Some(why) = stop() {
                        self.begin_shutdown(&why);
                    }
                    std::thread::sleep(FINISH_POLL);
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.pending.fetch_sub(1, Ordering::Relaxed);
                    log::error!("report dropped: the reporter thread has stopped");
                    return;
                }
            }
        }
    }

    /// A stop signal came: every POST and hostapd lookup from here on ends
    /// by the end of the shutdown budget. Logged once.
    pub fn begin_shutdown(&self, why: &str) {
        if self.shutdown_announced.swap(true, Ordering::Relaxed) {
            return;
        }
        self.cutoff.set(Instant::now() + SHUTDOWN_BUDGET);
        log::info!(
            "{why}: stopping; the window in progress is reported within {} s",
            SHUTDOWN_BUDGET.as_secs()
        );
    }

    /// Delivers what is queued, then stops the thread. Without a stop signal
    /// this waits as long as the queued reports take (each POST is bounded by
    /// its own timeout); once `stop` says a signal came, everything left
    /// shares the shutdown budget, and what is not sent by its end is
    /// abandoned with one warning.
    pub fn finish(mut self, stop: StopCheck) {
        self.tx.take();
        loop {
            if let Some(why) = stop() {
                self.begin_shutdown(&why);
            }
            let wait = match self.cutoff.get() {
                Some(c) => (c + SHUTDOWN_GRACE).saturating_duration_since(Instant::now()).min(FINISH_POLL),
                None => FINISH_POLL,
            };
            if wait.is_zero() {
                let left = self.pending.load(Ordering::Relaxed);
                let spooled = match &self.resender {
                    Some(r) => format!(", {} spooled report(s) lost", r.spooled()),
                    None => String::new(),
                };
                log::warn!(
                    "stopping: the shutdown budget ({} s) is spent; {left} report(s) not sent{spooled}",
                    SHUTDOWN_BUDGET.as_secs()
                );
                // The thread is left to the end of the process.
                self.thread.take();
                return;
            }
            match self.ended.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => continue,
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("the reporter thread failed");
            }
        }
    }
}

impl ReporterSettings {
    fn deliver(&mut self, mut batch: Batch, resender: Option<&Resender>) {
        let mut associated = match self.associated.as_mut() {
            Some(lookup) => lookup(self.cutoff.bound(Instant::now() + crate::hostapd::LOOKUP_BUDGET)),
            None => BTreeSet::new(),
        };
        if let Some(tracker) = self.devices.as_mut() {
            let estimated = tracker.rows(clusters(std::mem::take(&mut batch.window.bursts)));
            if !estimated.is_empty() {
                batch.window.rows.extend(estimated);
                batch.window.rows.sort_unstable_by_key(|(mac, _)| *mac);
            }
        }
        // Once per client and window, before anything is written out: from
        // here on only pseudonyms exist outside the table.
        if let Some(p) = &self.pseudonyms {
            let merged = p.apply(&mut batch.window, &mut associated);
            if merged > 0 {
                log::debug!("{merged} client(s) shared a pseudonym with another this window: their rows are merged");
            }
        }
        let window = &batch.window;
        let is_associated = |mac: &MacAddr| associated.contains(mac);
        let report = WindowReport::new(self.network_id, self.node_mac, window, &is_associated);
        if self.stdout {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let written = report.write_to(&mut out).and_then(|_| out.write_all(b"\n")).and_then(|_| out.flush());
            if let Err(e) = written {
                log::warn!("cannot print the report on stdout: {e}");
            }
        }
        let bytes = report.len();
        let stats = &window.stats;
        let estimated = window.rows.iter().filter(|(_, r)| r.estimated_device).count();
        let mut summary = format!(
            "{} clients ({} associated{}), {} frames, {} accepted, drops: {}",
            window.rows.len(),
            report.associated_count(),
            if self.devices.is_some() { format!(", {estimated} estimated devices") } else { String::new() },
            stats.frames,
            stats.accepted,
            stats.drops_summary()
        );
        if let Some(k) = batch.kernel_drops {
            summary.push_str(&format!(" kernel_dropped={k}"));
        }
        let record = |delivery: Delivery, started: Instant, spooled: bool| ReportRecord {
            time: wall_secs(),
            clients: window.rows.len(),
            frames: stats.frames,
            bytes,
            duration_ms: started.elapsed().as_millis() as u64,
            delivery,
            spooled,
        };
        let Some(poster) = &self.poster else {
            log::info!("report: {summary}, {bytes} bytes, printed");
            self.status.record_report(record(Delivery::Printed, Instant::now(), false));
            return;
        };
        let Some(resender) = resender else {
            let started = Instant::now();
            let outcome = poster.post(&report);
            let ms = started.elapsed().as_millis();
            self.status.record_report(record(delivery_of(&outcome), started, false));
            match outcome {
                PostOutcome::Accepted(status) => {
                    log::info!("report: {summary}, {bytes} bytes, HTTP {status} in {ms} ms")
                }
                PostOutcome::Refused(status) => {
                    log::warn!("report dropped: the server answered HTTP {status} after {ms} ms; {summary}")
                }
                PostOutcome::Failed(cause) => {
                    log::warn!("report dropped: POST failed after {ms} ms: {cause}; {summary}")
                }
            }
            return;
        };
        // With a spool the Signature is computed apart, so that a report the
        // server does not take is kept with the very header it was sent with;
        // its bytes are rendered into memory only then.
        let signature = match poster.sign(&report) {
            Ok(s) => s,
            Err(cause) => {
                log::warn!("report dropped: {cause}; {summary}");
                return;
            }
        };
        let started = Instant::now();
        let outcome = poster.post_signed(&report, &signature);
        let ms = started.elapsed().as_millis();
        let delivery = delivery_of(&outcome);
        let why = match outcome {
            PostOutcome::Accepted(status) => {
                log::info!("report: {summary}, {bytes} bytes, HTTP {status} in {ms} ms");
                self.status.record_report(record(delivery, started, false));
                resender.server_took(true);
                return;
            }
            PostOutcome::Refused(status) if !worth_retrying(status) => {
                // The server is there and refuses these bytes: they would be
                // refused again.
                log::warn!("report dropped: the server answered HTTP {status} after {ms} ms; {summary}");
                self.status.record_report(record(delivery, started, false));
                return;
            }
            PostOutcome::Refused(status) => format!("the server answered HTTP {status} after {ms} ms"),
            PostOutcome::Failed(cause) => format!("POST failed after {ms} ms: {cause}"),
        };
        resender.server_took(false);
        if self.cutoff.get().is_some_and(|c| Instant::now() >= c) {
            // presenced is exiting and the spool is in memory only.
            log::warn!("report dropped: {why}; {summary}");
            self.status.record_report(record(delivery, started, false));
            return;
        }
        if !resender.fits(bytes, &signature) {
            log::warn!("report dropped: {why}; {summary}; {bytes} bytes, more than the whole spool");
            self.status.record_report(record(delivery, started, false));
            return;
        }
        self.status.record_report(record(delivery, started, true));
        resender.keep(report.to_vec(), signature);
        log::warn!("report spooled: {why}; {summary}; {}", resender.status());
    }
}

fn delivery_of(outcome: &PostOutcome) -> Delivery {
    match outcome {
        PostOutcome::Accepted(s) => Delivery::Accepted(*s),
        PostOutcome::Refused(s) => Delivery::Refused(*s),
        PostOutcome::Failed(cause) => Delivery::Failed(cause.clone()),
    }
}

fn wall_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

