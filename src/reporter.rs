//! The reporting thread: turns each finished window into a report, prints
//! and POSTs it, and logs one line about it.
//!
//! It runs apart from capture so that a slow server or a slow hostapd never
//! stalls the capture loop: the capture side hands over a window and goes on.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::http::{PostOutcome, Poster};
use crate::mac::MacAddr;
use crate::report::{FromWindow, Report};
use crate::table::Window;

/// Who is associated with this AP right now. Called once per report, just
/// before the report is built.
pub type AssociatedLookup = Box<dyn FnMut() -> BTreeSet<MacAddr> + Send>;

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
    pub poster: Option<Poster>,
    pub associated: Option<AssociatedLookup>,
}

pub struct Reporter {
    tx: Option<SyncSender<Batch>>,
    thread: Option<JoinHandle<()>>,
}

/// Windows waiting while one is being sent. Each POST is bounded by a
/// timeout below the rate, so in live capture the queue only fills when the
/// server is slow and hostapd slow too.
const QUEUE: usize = 2;

impl Reporter {
    pub fn spawn(mut settings: ReporterSettings) -> std::io::Result<Reporter> {
        let (tx, rx) = sync_channel::<Batch>(QUEUE);
        let thread = std::thread::Builder::new().name("reporter".into()).spawn(move || {
            for batch in rx {
                settings.deliver(batch);
            }
        })?;
        Ok(Reporter { tx: Some(tx), thread: Some(thread) })
    }

    /// Live capture: never waits. If the reporter is still busy with earlier
    /// windows, this one is dropped and said so.
    pub fn offer(&self, batch: Batch) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(b)) => log::warn!(
                "report dropped: the reporter is still busy with earlier reports (slow server or hostapd); {} clients, {} frames lost",
                b.window.rows.len(),
                b.window.stats.frames
            ),
            Err(TrySendError::Disconnected(_)) => log::error!("report dropped: the reporter thread has stopped"),
        }
    }

    /// Replay: waits for room, so that no window of a file is lost.
    pub fn submit(&self, batch: Batch) {
        if let Some(tx) = &self.tx {
            if tx.send(batch).is_err() {
                log::error!("report dropped: the reporter thread has stopped");
            }
        }
    }

    /// Delivers what is queued, then stops the thread.
    pub fn finish(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("the reporter thread failed");
            }
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl ReporterSettings {
    fn deliver(&mut self, batch: Batch) {
        let associated = match self.associated.as_mut() {
            Some(lookup) => lookup(),
            None => BTreeSet::new(),
        };
        let window = &batch.window;
        let report = Report::from_window(self.network_id, self.node_mac, window, |mac| associated.contains(mac));
        let body = report.to_body();
        if self.stdout {
            let mut out = std::io::stdout().lock();
            let written = out.write_all(&body).and_then(|_| out.write_all(b"\n")).and_then(|_| out.flush());
            if let Err(e) = written {
                log::warn!("cannot print the report on stdout: {e}");
            }
        }
        let stats = &window.stats;
        let mut summary = format!(
            "{} clients ({} associated), {} frames, {} accepted, drops: {}",
            window.rows.len(),
            report.probe_requests.iter().filter(|r| r.associated).count(),
            stats.frames,
            stats.accepted,
            stats.drops_summary()
        );
        if let Some(k) = batch.kernel_drops {
            summary.push_str(&format!(" kernel_dropped={k}"));
        }
        let Some(poster) = &self.poster else {
            log::info!("report: {summary}, {} bytes, printed", body.len());
            return;
        };
        let started = Instant::now();
        let outcome = poster.post(&body);
        let ms = started.elapsed().as_millis();
        match outcome {
            PostOutcome::Accepted(status) => {
                log::info!("report: {summary}, {} bytes, HTTP {status} in {ms} ms", body.len())
            }
            PostOutcome::Refused(status) => {
                log::warn!("report dropped: the server answered HTTP {status} after {ms} ms; {summary}")
            }
            PostOutcome::Failed(cause) => {
                log::warn!("report dropped: POST failed after {ms} ms: {cause}; {summary}")
            }
        }
    }
}
