//! The thread that sends spooled reports again (`--spool-bytes`).
//!
//! It runs beside the reporting thread, so a re-send never delays the
//! current window's report: that one goes out on its own thread as always,
//! and finding the server back is what starts the re-sends. They go oldest
//! first, one at a time; the first that fails stops them until the server
//! takes a current report again. Every POST is bounded by the poster's
//! timeout and, after a stop signal, by the shutdown budget's cut-off; what
//! is still spooled when presenced stops is lost (RAM only), with a warning.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::deliver::http::{PostOutcome, Poster};
use crate::deliver::spool::{Kept, Spool};

/// A wait for work looks at `closing` at least this often (a lost wake-up
/// cannot stall it for longer).
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Answers after which a report may be taken later: the server is there but
/// cannot take it now (408 Request Timeout, 429 Too Many Requests, 5xx).
/// Any other refusal (400, 403, 413, ...) would be given to the same bytes
/// again, so such a report is dropped as without a spool.
pub fn worth_retrying(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

struct State {
    spool: Spool,
    /// The last POST (current or re-sent) got a 2xx.
    server_takes: bool,
    /// The reporting thread has ended: send what the server takes, then stop.
    closing: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// A handle on the spool and its thread; clones share them.
#[derive(Clone)]
pub struct Resender {
    shared: Arc<Shared>,
}

impl Resender {
    /// `ended` is dropped when the thread ends (see `Reporter::finish`).
    pub fn spawn(poster: Arc<Poster>, limit: usize, ended: Sender<()>) -> std::io::Result<Resender> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State { spool: Spool::new(limit), server_takes: false, closing: false }),
            wake: Condvar::new(),
        });
        let for_thread = Arc::clone(&shared);
        std::thread::Builder::new().name("resender".into()).spawn(move || {
            let _ended = ended;
            run(&for_thread, &poster);
        })?;
        Ok(Resender { shared })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.shared)
    }

    /// Whether a report of `body_len` bytes can be kept at all (asked before
    /// it is rendered into memory).
    pub fn fits(&self, body_len: usize, signature: &str) -> bool {
        self.lock().spool.fits(body_len, signature.len())
    }

    /// Keeps a report the server did not take, with the Signature it was
    /// sent with. The overflow warning is logged here; the caller logs the
    /// report's own line with `status()`.
    pub fn keep(&self, body: Vec<u8>, signature: String) {
        let mut st = self.lock();
        let limit = st.spool.limit();
        match st.spool.keep(body, signature) {
            Kept::Yes { dropped: 0, .. } => {}
            Kept::Yes { dropped, dropped_bytes } => log::warn!(
                "spool full ({limit} bytes): the oldest {dropped} spooled report(s) ({dropped_bytes} bytes) dropped; {} dropped so far",
                st.spool.dropped_total()
            ),
            Kept::TooLarge => log::warn!("report not spooled: larger than the spool ({limit} bytes)"),
        }
    }

    /// How the server took the current window's report: a 2xx starts the
    /// re-sends.
    pub fn server_took(&self, took: bool) {
        self.lock().server_takes = took;
        if took {
            self.shared.wake.notify_all();
        }
    }

    /// The reporting thread is done: the resender sends what the server
    /// takes and ends.
    pub fn close(&self) {
        self.lock().closing = true;
        self.shared.wake.notify_all();
    }

    /// "2 report(s), 5310 bytes": for log lines.
    pub fn status(&self) -> String {
        let st = self.lock();
        format!("{} report(s), {} bytes in the spool", st.spool.len(), st.spool.bytes())
    }

    pub fn spooled(&self) -> usize {
        self.lock().spool.len()
    }

    /// For the status: reports held, their bytes and the limit.
    pub fn fill(&self) -> crate::status::SpoolFill {
        let st = self.lock();
        crate::status::SpoolFill { reports: st.spool.len(), bytes: st.spool.bytes(), limit: st.spool.limit() }
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic elsewhere must not take the spool with it.
    shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn run(shared: &Shared, poster: &Poster) {
    loop {
        let next = {
            let mut st = lock(shared);
            loop {
                if st.server_takes {
                    if let Some(r) = st.spool.oldest() {
                        break Some(r);
                    }
                }
                if st.closing {
                    break None;
                }
                st = shared.wake.wait_timeout(st, IDLE_POLL).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
            }
        };
        let Some(report) = next else { break };
        let started = Instant::now();
        let outcome = poster.post_signed(&report.body[..], &report.signature);
        let ms = started.elapsed().as_millis();
        let mut st = lock(shared);
        let bytes = report.body.len();
        match outcome {
            PostOutcome::Accepted(status) => {
                st.spool.remove(report.id);
                log::info!(
                    "spooled report sent: {bytes} bytes, HTTP {status} in {ms} ms; {} report(s), {} bytes left in the spool",
                    st.spool.len(),
                    st.spool.bytes()
                );
            }
            PostOutcome::Refused(status) if worth_retrying(status) => {
                st.server_takes = false;
                log::warn!("spooled report kept: the server answered HTTP {status} after {ms} ms; sent again once the server takes a report");
            }
            PostOutcome::Refused(status) => {
                st.spool.remove(report.id);
                log::warn!("spooled report dropped: the server answered HTTP {status} after {ms} ms ({bytes} bytes)");
            }
            PostOutcome::Failed(cause) => {
                st.server_takes = false;
                log::warn!("spooled report kept: POST failed after {ms} ms: {cause}; sent again once the server takes a report");
            }
        }
    }
    let st = lock(shared);
    if !st.spool.is_empty() {
        log::warn!(
            "stopping: {} spooled report(s) ({} bytes) not sent; the spool is in memory only",
            st.spool.len(),
            st.spool.bytes()
        );
    }
}
